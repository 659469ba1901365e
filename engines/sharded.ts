/**
 * `sharded`: K engine workers, each owning the books of a fixed set of symbols (symbol index mod K), each fed by
 * its own single-producer rings (one per producer) and answering through one output ring per producer.
 * K is a parameter.
 *
 * Trade-off: the only design whose matching scales with threads — shards share nothing, and SPSC rings need no
 * read-modify-write at all — but only across symbols: one hot symbol still runs on one thread, a one-symbol
 * workload (LOBSTER) uses one shard, and there is no single sequence any more (K independent ones, so no
 * cross-symbol ordering). It also needs K + P threads: on 2 cores, more threads than cores unless they sleep, which
 * is why its default wait strategy is spin-then-wait.
 *
 * A producer routes each command to its symbol's shard and bumps that shard's doorbell so an idle shard can wait on
 * one word for all its rings. Its poll reads the K output rings; when it stops inside a command's events (a full
 * ring split them), it finishes that ring's command first, so one command's events are never interleaved with
 * another's. Layout: engines/sharded-layout.ts. Shard loop: engines/workers/shard-worker.ts.
 *
 * A clock names no book, and every shard's breakers need time: the producer writes it into every shard's ring
 * (so each shard's sequence holds it, in the producer's order), and every shard answers it with the expiries of its
 * own symbols (engines/reference.ts "Expiry") and a completion. The producer holds those parts back until the last
 * one is in, then delivers their events in symbol-name order (each part is in that order already), as one core
 * would have emitted them, and one completion. Clocks complete in the order they were submitted: each ring returns
 * its parts in that order. When a ring is full mid-broadcast, trySubmit returns false and the retry of the same
 * command continues with the shards not yet written. Any other command naming no book (an invalid one) goes to
 * shard 0 alone.
 */
import type { EngineDesign, EngineOptions, EngineSession, EventSink, Producer, SharedWorkload } from './engine.ts';
import { endsCommand, flagEndsCommand, isEvent, writeCompletionRecord } from './completion-record.ts';
import { EV_F64_SEQ, EV_OFF_SYM, EVENT_BYTES, EVENT_F64S } from './event-record.ts';
import { FastCore } from './fast-core.ts';
import { SequenceLog } from './sequence-log.ts';
import { SpscRing } from './shared/spsc-ring.ts';
import { WAIT_STRATEGY_NAMES, waitStrategyByName, type WaitStrategy } from './shared/wait-strategy.ts';
import { allocateSharded, CLOCK_PART, CLOCK_PART_SHIFT, SHARD_CONTROL_BYTES, SHARD_DOORBELL, SHARD_STOP, shardOf, type ShardedLayout } from './sharded-layout.ts';
import { EngineWorkers } from './workers/engine-workers.ts';
import type { ShardWorkerData } from './workers/shard-worker.ts';
import { NO_SYMBOL, OFF_OP, OFF_SYM, OP_CLOCK, RECORD_BYTES, RECORD_F64S } from '../workloads/workload.ts';
import { slowdownHook } from './slowdown-knob.ts';
import { compareNames } from '../risk/rules.ts';

interface ShardedInit {
  readonly layout: ShardedLayout;
  readonly producer: number;
  readonly wait: string;
}

function start({ workload, producers, params, capacities }: EngineOptions): EngineSession {
  const shards = params['shards'] as number;
  const layout = allocateSharded(producers, shards, workload.count, params['ring'] as number, params['output'] as number, capacities);
  const cores = layout.shards.map((s) => FastCore.create(capacities, layout.buffer, s.coreAt));
  const logs = layout.shards.map((s) => new SequenceLog(layout.buffer, s.sequenceAt, s.sequenceCapacity));
  const wait = params['wait'] as string;
  const workers = new EngineWorkers('sharded');
  for (let k = 0; k < shards; k++) {
    const data: ShardWorkerData = { layout, shard: k, wait, batch: params['batch'] as number, maxEventsPerCommand: capacities.maxEventsPerCommand };
    workers.spawn(`shard ${k}`, new URL('./workers/shard-worker.ts', import.meta.url), data);
  }
  return {
    producerInit: (p) => ({ init: { layout, producer: p, wait } satisfies ShardedInit, transfer: [] }),
    sequences: () => logs.map((log) => log.snapshot()),
    sequenceLogs: () => logs,
    cores: () => cores,
    onError: (listener) => workers.onError(listener),
    inputRings: () => layout.shards.flatMap((s, k) => s.inputAt.map((at, p) => {
      const ring = new SpscRing(layout.buffer, at, layout.inputSlots, RECORD_BYTES, waitStrategyByName(wait));
      return { name: `shard ${k} producer ${p}`, slots: layout.inputSlots, used: () => ring.occupancy() };
    })),
    close: () =>
      workers.stop(() => {
        for (const shard of layout.shards) {
          const control = new Int32Array(layout.buffer, shard.controlAt, SHARD_CONTROL_BYTES / 4);
          Atomics.store(control, SHARD_STOP, 1);
          Atomics.add(control, SHARD_DOORBELL, 1);
          Atomics.notify(control, SHARD_DOORBELL);
        }
      }),
  };
}

class ShardedProducer implements Producer {
  readonly #strategy: WaitStrategy;
  readonly #controls: Int32Array[];
  readonly #inputs: SpscRing[];
  readonly #tags: Int32Array[];
  readonly #outputs: SpscRing[];
  readonly #records: Uint32Array;
  readonly #recordBytes: Uint8Array;
  readonly #recordF64: Float64Array;
  readonly #symbols: readonly string[];
  readonly #shards: number;
  /** The output ring whose current command is only partly delivered, or -1. */
  #midCommand = -1;
  /** Clocks with parts still out, oldest first: record index and parts in (they complete in this order). */
  #pendingClocks = new Float64Array(2 * 16);
  #pendingHead = 0;
  #pendingCount = 0;
  /** The held events of pending clocks, copied out of the output rings (EV_F64_SEQ says whose). */
  #held = new Uint8Array(64 * EVENT_BYTES);
  #heldCount = 0;
  /** A merged clock's completion record, when it has no event to flag: no ring holds it (each shard's part ended its own). */
  readonly #clockCompletion = new Uint8Array(EVENT_BYTES);
  readonly #clockCompletionWords = new Uint32Array(this.#clockCompletion.buffer);
  readonly #clockCompletionF64 = new Float64Array(this.#clockCompletion.buffer);
  /** Whether the records #readRun delivered last ended a command (so a poll that stops there is between commands). */
  #runEndedCommand = true;
  /** A clock being broadcast: its record index (-1: none) and the next shard to write it to (downwards). */
  #broadcastIndex = -1;
  #broadcastNext = 0;
  /** The test knob's hook for the producer's share of the design's work (each shard's thread has its own). */
  readonly #slowdown = slowdownHook('sharded');

  constructor(init: ShardedInit, workload: SharedWorkload) {
    const { layout, producer } = init;
    this.#strategy = waitStrategyByName(init.wait);
    this.#controls = layout.shards.map((s) => new Int32Array(layout.buffer, s.controlAt, SHARD_CONTROL_BYTES / 4));
    this.#inputs = layout.shards.map((s) => new SpscRing(layout.buffer, s.inputAt[producer]!, layout.inputSlots, RECORD_BYTES, this.#strategy));
    this.#tags = layout.shards.map((s) => new Int32Array(layout.buffer, s.tagsAt[producer]!, layout.inputSlots));
    this.#outputs = layout.shards.map((s) => new SpscRing(layout.buffer, s.outputAt[producer]!, layout.outputSlots, EVENT_BYTES, this.#strategy));
    this.#records = new Uint32Array(workload.records);
    this.#recordBytes = new Uint8Array(workload.records);
    this.#recordF64 = new Float64Array(workload.records);
    this.#symbols = workload.symbols;
    this.#shards = layout.shards.length;
  }

  trySubmit(recordIndex: number): boolean {
    const from = (recordIndex * RECORD_BYTES) >> 2;
    const sym = this.#records[from + (OFF_SYM >> 2)]!;
    if (sym === NO_SYMBOL && this.#recordBytes[recordIndex * RECORD_BYTES + OFF_OP] === OP_CLOCK) return this.#broadcast(recordIndex);
    if (!this.#write(sym === NO_SYMBOL ? 0 : shardOf(sym, this.#shards), recordIndex)) return false;
    this.#slowdown();
    return true;
  }

  /**
   * Writes the clock at `recordIndex` to every shard not yet written; true once all have it. The clock completes
   * only with every shard's part, so its completion cannot reach the producer before trySubmit has said true (the
   * harness takes the send time then).
   */
  #broadcast(recordIndex: number): boolean {
    if (this.#broadcastIndex !== recordIndex) {
      if (this.#broadcastIndex !== -1) throw new Error(`sharded: command ${recordIndex} submitted while clock ${this.#broadcastIndex} is only partly broadcast`);
      this.#broadcastIndex = recordIndex;
      this.#broadcastNext = this.#shards - 1;
    }
    while (this.#broadcastNext >= 0) {
      if (!this.#write(this.#broadcastNext, recordIndex)) return false;
      this.#broadcastNext--;
    }
    this.#broadcastIndex = -1;
    this.#slowdown();
    return true;
  }

  /** Copies record `recordIndex` into shard k's input ring and rings its doorbell; false when the ring is full. */
  #write(k: number, recordIndex: number): boolean {
    const from = (recordIndex * RECORD_BYTES) >> 2;
    const input = this.#inputs[k]!;
    const offset = input.tryClaim();
    if (offset < 0) return false;
    const slot = offset / RECORD_BYTES;
    // Two words, then four f64s: the first 8 bytes are codes and a symbol index, not a number to copy as one.
    const to = offset >> 2;
    input.words[to] = this.#records[from]!;
    input.words[to + 1] = this.#records[from + 1]!;
    const t = slot * RECORD_F64S;
    const f = recordIndex * RECORD_F64S;
    input.f64[t + 1] = this.#recordF64[f + 1]!;
    input.f64[t + 2] = this.#recordF64[f + 2]!;
    input.f64[t + 3] = this.#recordF64[f + 3]!;
    input.f64[t + 4] = this.#recordF64[f + 4]!;
    this.#tags[k]![slot] = recordIndex;
    input.publish();
    const control = this.#controls[k]!;
    Atomics.add(control, SHARD_DOORBELL, 1);
    this.#strategy.signal(control, SHARD_DOORBELL);
    return true;
  }

  poll(sink: EventSink): number {
    let completions = 0;
    if (this.#midCommand >= 0) {
      completions += this.#read(this.#midCommand, sink);
      if (this.#midCommand >= 0) return completions;
    }
    for (let k = 0; k < this.#shards && this.#midCommand < 0; k++) completions += this.#read(k, sink);
    return completions;
  }

  flush(): void {}

  close(): void {}

  /** Delivers what output ring k holds (holding clocks' parts back); notes whether it stopped inside a command. */
  #read(k: number, sink: EventSink): number {
    const output = this.#outputs[k]!;
    const n = output.available();
    if (n === 0) return 0;
    // The readable slots run from the first to the ring's end, then on from slot 0.
    const first = output.slotOffset(0) / EVENT_BYTES;
    const run = Math.min(n, output.slotCount - first);
    this.#runEndedCommand = true;
    let completions = this.#readRun(output, first, first + run, sink);
    if (run < n) completions += this.#readRun(output, 0, n - run, sink);
    output.release(n);
    this.#midCommand = this.#runEndedCommand ? -1 : k;
    return completions;
  }

  /** Delivers ring records [from, to) in runs between the clocks' parts, which are held (or complete a clock). */
  #readRun(output: SpscRing, from: number, to: number, sink: EventSink): number {
    const { bytes, words, f64 } = output;
    let completions = 0;
    let runFrom = from;
    for (let r = from; r < to; r++) {
      const head = words[(r * EVENT_BYTES) >> 2]!;
      if (((head >>> CLOCK_PART_SHIFT) & CLOCK_PART) !== 0) {
        // A shard's part of a clock (engines/sharded-layout.ts): held until every shard's is in. Its last record is
        // an event flagged as the part's end (held, then the part is done) or a completion record (only done).
        if (runFrom < r) completions += sink.records(bytes, words, f64, runFrom, r);
        runFrom = r + 1;
        if (isEvent(words, r)) this.#hold(bytes, r);
        if (endsCommand(words, r)) completions += this.#clockPartDone(f64[r * EVENT_F64S + EV_F64_SEQ]!, sink);
      } else {
        this.#runEndedCommand = endsCommand(words, r);
      }
    }
    if (runFrom < to) completions += sink.records(bytes, words, f64, runFrom, to);
    return completions;
  }

  /** Keeps event record `r` of a clock's part (bytes of an output ring) until the clock's last part is in. */
  #hold(bytes: Uint8Array, r: number): void {
    if ((this.#heldCount + 1) * EVENT_BYTES > this.#held.length) {
      // Rare (only breaker expiries are held): grow, keeping what is held.
      const grown = new Uint8Array(this.#held.length * 2);
      grown.set(this.#held);
      this.#held = grown;
    }
    const at = this.#heldCount++ * EVENT_BYTES;
    this.#held.set(bytes.subarray(r * EVENT_BYTES, (r + 1) * EVENT_BYTES), at);
    this.#held[at + (CLOCK_PART_SHIFT >> 3)] = 0;
  }

  /** One shard's part of clock `seq` is in; once all are, delivers its held events in name order and its completion. */
  #clockPartDone(seq: number, sink: EventSink): number {
    let at = -1;
    for (let i = 0; i < this.#pendingCount && at < 0; i++) {
      const slot = (this.#pendingHead + i) % (this.#pendingClocks.length / 2);
      if (this.#pendingClocks[2 * slot] === seq) at = slot;
    }
    if (at < 0) {
      if (this.#shards === 1) return this.#deliverClock(seq, sink);
      at = this.#pendClock(seq);
    }
    const parts = ++this.#pendingClocks[2 * at + 1]!;
    if (parts < this.#shards) return 0;
    if (at !== this.#pendingHead) throw new Error(`sharded: clock ${seq} completed before the older clock ${this.#pendingClocks[2 * this.#pendingHead]}`);
    this.#pendingHead = (this.#pendingHead + 1) % (this.#pendingClocks.length / 2);
    this.#pendingCount--;
    return this.#deliverClock(seq, sink);
  }

  /** A clock whose first part came in: queued last (it is the newest). */
  #pendClock(seq: number): number {
    const capacity = this.#pendingClocks.length / 2;
    if (this.#pendingCount === capacity) {
      const grown = new Float64Array(4 * capacity);
      for (let i = 0; i < this.#pendingCount; i++) {
        const from = (this.#pendingHead + i) % capacity;
        grown[2 * i] = this.#pendingClocks[2 * from]!;
        grown[2 * i + 1] = this.#pendingClocks[2 * from + 1]!;
      }
      this.#pendingClocks = grown;
      this.#pendingHead = 0;
    }
    const slot = (this.#pendingHead + this.#pendingCount++) % (this.#pendingClocks.length / 2);
    this.#pendingClocks[2 * slot] = seq;
    this.#pendingClocks[2 * slot + 1] = 0;
    return slot;
  }

  /**
   * Delivers clock `seq`'s held events, stably sorted by symbol name, the last flagged as the clock's end, or a
   * completion record when it has none; drops them from the hold. Returns the completions delivered (1).
   */
  #deliverClock(seq: number, sink: EventSink): number {
    // Most clocks expire nothing: then nothing is held, and nothing is allocated here.
    const ended = this.#heldCount > 0 ? this.#deliverHeld(seq, sink) : 0;
    if (ended > 0) return ended;
    writeCompletionRecord(this.#clockCompletionWords, this.#clockCompletionF64, 0, seq);
    return sink.records(this.#clockCompletion, this.#clockCompletionWords, this.#clockCompletionF64, 0, 1);
  }

  /** Delivers clock `seq`'s held events, the last flagged; returns the completions delivered (0 when it had none). */
  #deliverHeld(seq: number, sink: EventSink): number {
    const held = this.#held;
    const words = new Uint32Array(held.buffer, 0, held.length >> 2);
    const f64 = new Float64Array(held.buffer, 0, held.length >> 3);
    const mine: number[] = [];
    let kept = 0;
    let completions = 0;
    for (let i = 0; i < this.#heldCount; i++) {
      if (f64[i * EVENT_F64S + EV_F64_SEQ] === seq) mine.push(i);
    }
    if (mine.length > 0) {
      const name = (i: number): string => this.#symbols[words[(i * EVENT_BYTES + EV_OFF_SYM) >> 2]!] ?? '';
      // Array#sort is stable, and `mine` is in arrival order: one shard's events for one symbol keep theirs.
      mine.sort((a, b) => compareNames(name(a), name(b)));
      // A clock that is behind is every shard's reject: delivered once, as one core rejects it.
      let rejected = false;
      const delivered = mine.filter((i) => {
        if (words[(i * EVENT_BYTES + EV_OFF_SYM) >> 2] !== NO_SYMBOL) return true;
        if (rejected) return false;
        return (rejected = true);
      });
      flagEndsCommand(words, delivered[delivered.length - 1]!);
      for (const i of delivered) completions += sink.records(held, words, f64, i, i + 1);
      for (let i = 0; i < this.#heldCount; i++) {
        if (f64[i * EVENT_F64S + EV_F64_SEQ] === seq) continue;
        if (kept !== i) held.copyWithin(kept * EVENT_BYTES, i * EVENT_BYTES, (i + 1) * EVENT_BYTES);
        kept++;
      }
      this.#heldCount = kept;
    }
    return completions;
  }
}

export const shardedDesign: EngineDesign = {
  name: 'sharded',
  tradeOff: 'K engine workers owning disjoint symbols, fed by SPSC rings: scales across symbols, not within one; K+P threads',
  params: [
    { name: 'shards', doc: 'engine workers K (symbol index mod K picks the shard)', default: 2, min: 1, max: 64 },
    { name: 'ring', doc: 'slots of each producer→shard input ring (40-byte commands)', default: 4096, min: 2, max: 1 << 20, powerOfTwo: true },
    { name: 'output', doc: 'slots of each shard→producer output ring (48-byte event records)', default: 16_384, min: 2, max: 1 << 22, powerOfTwo: true },
    { name: 'batch', doc: 'most commands a shard takes from one ring before looking at the next', default: 256, min: 1, max: 1 << 20 },
    { name: 'wait', doc: 'how an idle shard (and a shard whose output ring is full) waits', default: 'spin-then-wait', choices: WAIT_STRATEGY_NAMES },
  ],
  maxProducers: () => 16,
  connect: (init, workload) => new ShardedProducer(init as ShardedInit, workload),
  start,
};
