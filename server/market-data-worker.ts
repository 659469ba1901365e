/**
 * The market-data thread of `serve --http-port` (started by server/market-data.ts): builds the public feed off the
 * matching thread, from the sequenced input alone, as the journaller and the replicator read it.
 *
 * Contract:
 * - Follows every sequence log of the design (sharded: one per shard) from where this process started, reading
 *   each command from the record arena, and applies it to a fast core of its own (one per sequencer, seeded with a
 *   copy of the design's cores at start, so a recovered engine's books come along). The engine is deterministic, so
 *   this core holds the engine's books at the same positions; nothing here ever writes to the design's memory or
 *   waits on it, and a slow feed cannot slow matching: it only falls behind.
 * - For each command it posts the changed price levels (side, price, new total; 0 = gone), the trades, the events
 *   of orders that have an owner (for `orders:OWNER`) and the breaker's status changes (`limit`, `halted`,
 *   `resumed`; a clock may change several symbols'), per symbol, batched: the main thread's mirror applies them in
 *   order (server/market-data.ts). Owners are learnt from the `new` commands, kept while the order lives.
 * - Drains up to BATCH commands per log per turn while busy; while idle it sleeps on the sequence logs' count words
 *   (a sequencer wakes it when it appends, as it wakes the journaller), at most IDLE_WAIT_MS at a time.
 */
import { parentPort, workerData } from 'node:worker_threads';
import {
  EV_F64_ID, EV_F64_MAKER, EV_F64_PRICE, EV_F64_QTY, EV_FILL, EV_HALTED, EV_LIMIT, EV_OFF_KIND, EV_OFF_SIDE, EV_OFF_SYM, EV_RESTED, EV_RESUMED,
  EVENT_BYTES, EVENT_F64S,
} from '../engines/event-record.ts';
import { FastCore, type TradingStatus } from '../engines/fast-core.ts';
import { SEQUENCE_COUNT_WORD, SequenceLog, type SequenceLogRegion } from '../engines/sequence-log.ts';
import { SLEEPERS_WORD } from '../engines/shared/wait-strategy.ts';
import { decodeEventRecord } from '../engines/event-record.ts';
import { formatEvent } from '../engines/types.ts';
import { F64_ID, F64_OWNER, NO_SYMBOL, OFF_OP, OFF_SYM, OP_CANCEL, OP_MODIFY, OP_NEW, OP_REDUCE, RECORD_BYTES, RECORD_F64S, SIDE_BUY, SIDE_SELL } from '../workloads/workload.ts';

export interface MarketDataTask {
  readonly logs: readonly SequenceLogRegion[];
  readonly records: SharedArrayBuffer;
  /** A copy of each design core at start (same order as `logs`): this thread's own books. */
  readonly cores: readonly ArrayBuffer[];
  readonly maxEventsPerCommand: number;
  readonly symbols: readonly string[];
}

/** One command's effect on one symbol's public book. */
export interface BookUpdate {
  readonly sym: number;
  /** [side (SIDE_BUY / SIDE_SELL), price, total qty at that price now (0: level gone)]. */
  readonly levels: ReadonlyArray<readonly [number, number, number]>;
  /** [price, qty, taker side, taker id, maker id]. */
  readonly trades: ReadonlyArray<readonly [number, number, number, number, number]>;
  /** [owner, the event as an event NDJSON line], for each event of an order with an owner. */
  readonly ownerEvents: ReadonlyArray<readonly [number, string]>;
  /** The symbol's trading status after the command, when the command changed it. */
  readonly status?: TradingStatus;
}

export type MarketDataMessage = { readonly type: 'updates'; readonly updates: readonly BookUpdate[] };

const IDLE_WAIT_MS = 50;
const BATCH = 4096;

const task = workerData as MarketDataTask;
const logs = task.logs.map((region) => SequenceLog.attach(region));
const cores = task.cores.map((buffer) => FastCore.attach(buffer, 0));
const outputs = cores.map((core) => {
  const buffer = new ArrayBuffer(task.maxEventsPerCommand * EVENT_BYTES);
  core.setEventOutput(buffer, 0, task.maxEventsPerCommand);
  return { bytes: new Uint8Array(buffer), words: new Uint32Array(buffer), f64: new Float64Array(buffer) };
});
const recordBytes = new Uint8Array(task.records);
const recordWords = new Uint32Array(task.records);
const recordF64 = new Float64Array(task.records);
const applied = logs.map(() => 0);
/** Owner of each live order that has one, by "sym:id". */
const owners = new Map<string, number>();

/** Total resting quantity at `price` on `side` of book `sym` of `core` (0 when no level is there). */
function levelQty(core: FastCore, sym: number, side: number, price: number): number {
  for (let level = core.bestLevel(sym, side); level !== -1; level = core.worseLevel(level)) {
    const p = core.priceOf(level);
    if (p === price) {
      let total = 0;
      for (let o = core.headOrder(level); o !== -1; o = core.nextOrder(o)) total += core.qtyOf(o);
      return total;
    }
    if (side === SIDE_BUY ? p < price : p > price) return 0;
  }
  return 0;
}

/** Applies record `index` to core k; returns its update (null: no public change); other symbols' status changes go to `others`. */
function apply(k: number, index: number, others: BookUpdate[]): BookUpdate | null {
  const core = cores[k]!;
  const out = outputs[k]!;
  const op = recordBytes[index * RECORD_BYTES + OFF_OP]!;
  const sym = recordWords[(index * RECORD_BYTES + OFF_SYM) >> 2]!;
  const touched = new Map<string, readonly [number, number]>();
  const touch = (side: number, price: number): void => {
    touched.set(`${side}:${price}`, [side, price]);
  };
  const id = recordF64[index * RECORD_F64S + F64_ID]!;
  const named = sym !== NO_SYMBOL && sym < core.capacities.maxSymbols;
  const newOwner = op === OP_NEW ? recordF64[index * RECORD_F64S + F64_OWNER]! : NaN;
  // A cancel, reduce or modify changes the level its order rests at (a modify's re-entry rests with `rested`):
  // find it before the order may leave.
  if (named && (op === OP_CANCEL || op === OP_REDUCE || op === OP_MODIFY)) {
    const o = core.orderSlot(sym, id);
    if (o !== -1) {
      const level = core.levelOfOrder(o);
      touch(core.sideOfLevel(level), core.priceOf(level));
    }
  }
  // A new order's owner, unless the id is live already (then the command is a duplicate, and the live one keeps its).
  const commandOwner = newOwner === newOwner && !(named && core.orderSlot(sym, id) !== -1) ? newOwner : owners.get(`${sym}:${id}`);
  core.outCursor = 0;
  const n = core.processRecord(recordBytes, recordF64, index, index);
  let statusChanged = false;
  /** Symbols whose status a clock's expiries changed (only a clock's events name symbols other than the command's). */
  let otherStatus: Set<number> | null = null;
  const trades: Array<readonly [number, number, number, number, number]> = [];
  const ownerEvents: Array<readonly [number, string]> = [];
  const involved = new Set<number>();
  for (let i = 0; i < n; i++) {
    const b = i * EVENT_BYTES;
    const f = i * EVENT_F64S;
    const kind = out.bytes[b + EV_OFF_KIND]!;
    if (kind === EV_LIMIT || kind === EV_HALTED || kind === EV_RESUMED) {
      const eventSym = out.words[(b + EV_OFF_SYM) >> 2]!;
      if (eventSym === sym) statusChanged = true;
      else (otherStatus ??= new Set()).add(eventSym);
    }
    if (kind === EV_RESTED) touch(out.bytes[b + EV_OFF_SIDE]!, out.f64[f + EV_F64_PRICE]!);
    else if (kind === EV_FILL) {
      const takerSide = out.bytes[b + EV_OFF_SIDE]!;
      touch(takerSide === SIDE_BUY ? SIDE_SELL : SIDE_BUY, out.f64[f + EV_F64_PRICE]!);
      trades.push([out.f64[f + EV_F64_PRICE]!, out.f64[f + EV_F64_QTY]!, takerSide, out.f64[f + EV_F64_ID]!, out.f64[f + EV_F64_MAKER]!]);
    }
    const eventId = out.f64[f + EV_F64_ID]!;
    const maker = kind === EV_FILL ? out.f64[f + EV_F64_MAKER]! : 0;
    const mine = eventId === id ? commandOwner : owners.get(`${sym}:${eventId}`);
    const theirs = maker === 0 ? undefined : owners.get(`${sym}:${maker}`);
    if (mine !== undefined || theirs !== undefined) {
      const line = formatEvent(decodeEventRecord(out.bytes, out.words, out.f64, i, task.symbols));
      if (mine !== undefined) ownerEvents.push([mine, line]);
      if (theirs !== undefined && theirs !== mine) ownerEvents.push([theirs, line]);
    }
    if (eventId !== 0) involved.add(eventId);
    if (maker !== 0) involved.add(maker);
  }
  if (otherStatus !== null) for (const other of otherStatus) others.push({ sym: other, levels: [], trades: [], ownerEvents: [], status: core.tradingStatus(other) });
  if (named) {
    if (commandOwner !== undefined && core.orderSlot(sym, id) !== -1) owners.set(`${sym}:${id}`, commandOwner);
    for (const gone of involved) if (core.orderSlot(sym, gone) === -1) owners.delete(`${sym}:${gone}`);
  }
  if (touched.size === 0 && trades.length === 0 && ownerEvents.length === 0 && !statusChanged) return null;
  const levels = [...touched.values()].map(([side, price]) => [side, price, levelQty(core, sym, side, price)] as const);
  return statusChanged ? { sym, levels, trades, ownerEvents, status: core.tradingStatus(sym) } : { sym, levels, trades, ownerEvents };
}

function drain(): number {
  const updates: BookUpdate[] = [];
  let done = 0;
  for (let k = 0; k < logs.length; k++) {
    const log = logs[k]!;
    const until = Math.min(log.publishedLength(), applied[k]! + BATCH);
    for (let position = applied[k]!; position < until; position++) {
      const update = apply(k, log.at(position), updates);
      if (update !== null) updates.push(update);
    }
    done += until - applied[k]!;
    applied[k] = until;
  }
  if (updates.length > 0) parentPort!.postMessage({ type: 'updates', updates } satisfies MarketDataMessage);
  return done;
}

/** Sleeps until any log holds a position past what was applied, or IDLE_WAIT_MS pass. */
async function idle(): Promise<void> {
  const waits = logs.map((log, k) => {
    const header = log.header;
    Atomics.add(header, SEQUENCE_COUNT_WORD + SLEEPERS_WORD, 1);
    // Waits only while the count is still what was applied: an append since the drain returns at once.
    const wait = Atomics.waitAsync(header, SEQUENCE_COUNT_WORD, applied[k]!, IDLE_WAIT_MS);
    return wait.async ? wait.value : Promise.resolve();
  });
  await Promise.race(waits);
  for (const log of logs) Atomics.sub(log.header, SEQUENCE_COUNT_WORD + SLEEPERS_WORD, 1);
}

async function loop(): Promise<void> {
  for (;;) {
    if (drain() > 0) await new Promise((resolve) => setImmediate(resolve));
    else await idle();
  }
}

parentPort!.on('message', (message: { type: string }) => {
  if (message.type === 'stop') {
    drain();
    process.exit(0);
  }
});
void loop();
