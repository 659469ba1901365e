/**
 * The fast matching core: the same semantics as the reference engine (engines/types.ts, issue 2), over one
 * preallocated ArrayBuffer or SharedArrayBuffer region laid out by engines/fast-core-layout.ts. It reads 40-byte
 * command records (workloads/workload.ts) and writes 48-byte event records (engines/event-record.ts) into an output
 * region the caller chooses, and allocates nothing per command.
 *
 * All book state lives in the region, so several threads may attach views to one SharedArrayBuffer (`attach`) and
 * take turns running it under a lock; this object only holds views, the output cursor and a scratch for the
 * current command's numbers.
 *
 * Structures (struct-of-arrays, int32 slot indexes, -1 = none):
 * - order pool with a free list; each price level an intrusive doubly-linked FIFO of order slots;
 * - per book side, the live levels in a doubly-linked list sorted best → worst (bookBest / bookWorst), so matching
 *   walks levels by pointer and removing the best level is O(1);
 * - per book, a tick ladder of `ladderTicks` prices from `bookBase`: price → level in O(1), and a two-level
 *   occupancy bitmap that finds the neighbour of a new level in a few word scans (Math.clz32), however deep;
 *   one ladder serves both sides because in an uncrossed book a price holds bids or asks, never both;
 * - an open-addressing hash from (symbol, id) — ids are any safe integer, both 32-bit halves are hashed — to the
 *   order slot, with linear probing and backward-shift deletion (no tombstones to pile up in cancel-heavy flow).
 *   Each entry keeps its key's full 32-bit hash beside the slot, so probing past other keys and re-homing entries
 *   on deletion never touch the order pool (in the CPU profile of `balanced`, id lookup fell from 37 % to 23 %
 *   of the time with this).
 *
 * Why a ladder and not only a sorted structure: with the sorted list alone, placing a new level is a walk from the
 * touch, cheap near the touch but O(depth) in a deep book; the ladder makes lookup and placement independent of
 * depth for the band where nearly all flow happens, for 4 bytes per tick per symbol (hence `ladderTicks` is a
 * capacity). Measured (commands per CPU-second, 200 000 commands, ladderTicks 32 — nearly every price outside the
 * window, so effectively the sorted list alone — against 65 536): deep-book 0.18 M vs 3.55 M, balanced 7.4 M vs
 * 9.6 M, sweep 5.6 M vs 6.3 M. A price outside the window is still handled exactly: its level goes into the same
 * sorted list, found by walking from the nearer end (best or worst), which only crosses other out-of-window
 * levels; when those pile up the ladder re-centres on the touch (amortised, with hysteresis), and a book that
 * empties re-centres on its next order.
 *
 * Capacity limits never corrupt state: a command that would exceed one throws `CoreCapacityError` (naming the
 * limit and the numbers) before it changes anything, and the core stays usable.
 */
import {
  EV_CANCELLED, EV_F64_ID, EV_F64_MAKER, EV_F64_PRICE, EV_F64_QTY, EV_F64_SEQ, EV_F64_UNTIL, EV_FILL, EV_HALTED, EV_LIMIT,
  EV_MODIFIED, EV_REDUCED, EV_REJECTED, EV_RESTED, EV_RESUMED, EVENT_BYTES, EVENT_F64S,
  REASON_BAND, REASON_DUPLICATE_ID, REASON_FOK, REASON_INVALID_COMMAND, REASON_INVALID_PRICE, REASON_INVALID_QTY, REASON_IOC,
  REASON_NONE, REASON_UNKNOWN_ORDER, REASON_USER,
} from './event-record.ts';
import {
  BREAKER_HALTED, BREAKER_LIMIT, BREAKER_NORMAL, CORE_MAGIC, CORE_VERSION, HDR_HASH_SLOTS, HDR_LADDER_TICKS, HDR_LEVEL_FREE,
  HDR_LIVE_LEVELS, HDR_LIVE_ORDERS, HDR_F64_TIME, HDR_MAGIC, HDR_MAX_ORDERS, HDR_MAX_SYMBOLS, HDR_ORDER_FREE, HDR_RISK, HDR_VERSION,
  HEADER_BYTES, layoutFor, RISK_SYMBOL_F64S, RS_LIMIT_EDGE, RS_LIMIT_SIDE, RS_STATE, RS_UNTIL,
} from './fast-core-layout.ts';
import { CoreRisk } from './fast-core-risk.ts';
import { NO_LIMITS, type ResolvedRisk, type SymbolLimits } from '../risk/rules.ts';
import type { FastCoreCapacities, FastCoreLayout } from './fast-core-layout.ts';
import {
  F64_TS, OP_CANCEL, OP_CLOCK, OP_INVALID, OP_MODIFY, OP_NEW, OP_REDUCE, NO_SYMBOL, RECORD_BYTES, RECORD_F64S, SIDE_BUY, SIDE_SELL, TIF_FOK, TIF_IOC,
  TYPE_LIMIT, TYPE_MARKET,
} from '../workloads/workload.ts';

export type CoreLimit = 'orders' | 'symbols' | 'events';

/** A command needed more than a fixed capacity; thrown before the command changed anything. */
export class CoreCapacityError extends Error {
  readonly limit: CoreLimit;
  constructor(limit: CoreLimit, message: string) {
    super(message);
    this.name = 'CoreCapacityError';
    this.limit = limit;
  }
}

const NONE = -1;
/** Out-of-window levels a book tolerates before its ladder re-centres (then twice what re-centring left outside). */
const REBASE_MIN = 32;
const U32 = 4294967296;
const EVENT_WORDS = EVENT_BYTES / 4;

/**
 * Indexes into `cmd`, the per-view scratch that carries the current command's doubles (ids up to 2^53, prices,
 * quantities) between methods. Passing them as arguments would box each one in a heap number whenever V8 does not
 * inline the callee; bench/core.ts measured that as the only allocation left on the hot path.
 */
const CMD_SEQ = 0;
const CMD_ID = 1;
const CMD_PRICE = 2;
const CMD_QTY = 3;
const CMD_REMAINING = 4;
/** The new order's owner (NaN: none), for the risk region's open-order count. */
const CMD_OWNER = 5;
/** The taker's own limit while CMD_PRICE holds it tightened to the breaker's band. */
const CMD_LIMIT = 6;

/** A symbol's trading status under the breaker (`until`: the limit state's or pause's end, engine µs). */
export type TradingStatus = { readonly state: 'trading' } | { readonly state: 'limit' | 'halted'; readonly until: number };
const TRADING: TradingStatus = { state: 'trading' };

const VACANCY_ENTRY = 0;
const VACANCY_HASH = 1;

function isPositiveSafeInteger(x: number): boolean {
  return x > 0 && x <= Number.MAX_SAFE_INTEGER && Math.floor(x) === x;
}

/**
 * Hash of (symbol, id) for a safe-integer id. The symbol, the high 32 bits and the low 32 bits but the last three
 * go through a murmur3-style finaliser; the last three bits are kept as the low bits of the result. So ids that
 * differ only there (8 consecutive ids) share one 64-byte line of the table (8-byte entries; aligned when the
 * region is), and a new order's duplicate check lands on the line its predecessors just warmed, while any 8 ids
 * still spread like one key. Measured on 200 000-command presets against a full finaliser: deep-book 2.8 → 3.7 M commands per
 * CPU-second, balanced 8.9 → 9.5 M, cancel-heavy unchanged within noise.
 */
function idHash(sym: number, id: number): number {
  const lo = id >>> 0;
  const hi = (id / U32) | 0;
  let h = Math.imul((lo >>> 3) ^ Math.imul(sym, 0x9e3779b1), 0x85ebca6b) ^ Math.imul(hi, 0xc2b2ae35);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 12;
  return (h << 3) | (lo & 7);
}

function lowestBit(x: number): number {
  return 31 - Math.clz32(x & -x);
}

function highestBit(x: number): number {
  return 31 - Math.clz32(x);
}

export class FastCore {
  /**
   * V8 links the maps (hidden classes) of a class's instances by weak transitions: once every FastCore has been
   * collected, the next one gets new maps, and all optimised core code, which embeds the old ones, is discarded
   * ("embedded weak objects cleared" in --trace-deopt). A harness that builds a fresh core per run would start every
   * run in unoptimised code — measured: half the rate, and allocation. This one tiny core lives as long as the
   * process, so the maps do too.
   */
  private static readonly mapAnchor: FastCore = FastCore.create({ maxOrders: 1, maxSymbols: 1, ladderTicks: 32 });

  readonly buffer: ArrayBufferLike;
  readonly byteOffset: number;
  readonly layout: FastCoreLayout;
  readonly capacities: FastCoreCapacities;

  private readonly header: Int32Array;
  /** The same header as f64s, for the engine time (HDR_F64_TIME). */
  private readonly headerF64: Float64Array;
  private readonly orderId: Float64Array;
  private readonly orderQty: Float64Array;
  private readonly orderNext: Int32Array;
  private readonly orderPrev: Int32Array;
  private readonly orderLevel: Int32Array;
  private readonly orderSym: Int32Array;
  private readonly levelPrice: Float64Array;
  private readonly levelHead: Int32Array;
  private readonly levelTail: Int32Array;
  private readonly levelBetter: Int32Array;
  private readonly levelWorse: Int32Array;
  private readonly levelSide: Uint8Array;
  /** Pairs (order slot or -1, key hash): entry i at [2i], [2i + 1]. */
  private readonly idTable: Int32Array;
  private readonly hashMask: number;
  private readonly bookBase: Float64Array;
  private readonly bookBest: Int32Array;
  private readonly bookWorst: Int32Array;
  private readonly bookLevels: Int32Array;
  private readonly bookOutside: Int32Array;
  private readonly bookRebaseAt: Int32Array;
  private readonly ladder: Int32Array;
  private readonly occupancy: Int32Array;
  private readonly summary: Int32Array;
  private readonly maxOrders: number;
  private readonly maxSymbols: number;
  private readonly ticks: number;
  private readonly wordsPerBook: number;
  private readonly summaryWordsPerBook: number;
  /** Risk rules and breaker state (engines/fast-core-risk.ts); null when the core has no risk region. */
  private readonly risk: CoreRisk | null;

  /** The current command's doubles (CMD_*); per view, not book state, so it lives outside the shared region. */
  private readonly cmd = new Float64Array(7);
  /** Where the last missed `find` ended (VACANCY_*); -1 once a deletion may have moved entries. Per view, too. */
  private readonly vacancy = new Int32Array([NONE, 0]);
  private outWords: Int32Array = new Int32Array(0);
  private outF64: Float64Array = new Float64Array(0);
  private outCapacity = 0;
  /** Index of the next event record to write in the output region; the caller may read and reset it. */
  outCursor = 0;

  /** A new core with empty books, in `buffer` at `byteOffset` (or in a fresh ArrayBuffer). */
  static create(capacities: FastCoreCapacities, buffer?: ArrayBufferLike, byteOffset = 0): FastCore {
    const layout = layoutFor(capacities);
    const region = buffer ?? new ArrayBuffer(layout.totalBytes);
    const core = new FastCore(region, byteOffset, layout);
    core.initialize();
    return core;
  }

  /** Views over a core another `create` already initialised in `buffer` at `byteOffset` (same books, no reset). */
  static attach(buffer: ArrayBufferLike, byteOffset = 0): FastCore {
    if (byteOffset % 8 !== 0 || byteOffset < 0 || byteOffset + HEADER_BYTES > buffer.byteLength) {
      throw new RangeError(`fast core attach: byte offset ${byteOffset} is not an 8-aligned header position in a ${buffer.byteLength}-byte buffer`);
    }
    const header = new Int32Array(buffer, byteOffset, HEADER_BYTES / 4);
    if (header[HDR_MAGIC] !== CORE_MAGIC || header[HDR_VERSION] !== CORE_VERSION) {
      throw new Error(
        `fast core attach: no initialised core at byte offset ${byteOffset} (magic 0x${(header[HDR_MAGIC]! >>> 0).toString(16)}, version ${header[HDR_VERSION]}; ` +
          `expected 0x${CORE_MAGIC.toString(16)}, version ${CORE_VERSION})`,
      );
    }
    // With a risk region, the layout is sized by presence alone; the constructor reads the rules back from the region.
    const risk = header[HDR_RISK] === 1 ? { risk: { defaults: NO_LIMITS, bySymbol: [], nameOrder: [], maxOpenOrders: 0, breaker: null } } : {};
    const layout = layoutFor({ maxOrders: header[HDR_MAX_ORDERS]!, maxSymbols: header[HDR_MAX_SYMBOLS]!, ladderTicks: header[HDR_LADDER_TICKS]!, ...risk });
    if (layout.hashSlots !== header[HDR_HASH_SLOTS]) {
      throw new Error(`fast core attach: header hash slots ${header[HDR_HASH_SLOTS]} disagree with the layout's ${layout.hashSlots}`);
    }
    return new FastCore(buffer, byteOffset, layout, true);
  }

  private constructor(buffer: ArrayBufferLike, byteOffset: number, layout: FastCoreLayout, attached = false) {
    if (byteOffset % 8 !== 0 || byteOffset < 0 || byteOffset + layout.totalBytes > buffer.byteLength) {
      throw new RangeError(
        `fast core: needs ${layout.totalBytes} bytes at an 8-aligned offset; got offset ${byteOffset} in a ${buffer.byteLength}-byte buffer`,
      );
    }
    const c = layout.capacities;
    const n = c.maxOrders;
    const s = c.maxSymbols;
    const at = (offset: number): number => byteOffset + offset;
    this.buffer = buffer;
    this.byteOffset = byteOffset;
    this.layout = layout;
    this.risk = layout.riskGlobal >= 0 ? new CoreRisk(buffer, byteOffset, layout) : null;
    this.capacities = attached && this.risk !== null ? { ...c, risk: this.risk.rules() } : c;
    this.maxOrders = n;
    this.maxSymbols = s;
    this.ticks = c.ladderTicks;
    this.wordsPerBook = layout.wordsPerBook;
    this.summaryWordsPerBook = layout.summaryWordsPerBook;
    this.header = new Int32Array(buffer, at(layout.header), HEADER_BYTES / 4);
    this.headerF64 = new Float64Array(buffer, at(layout.header), HEADER_BYTES / 8);
    this.orderId = new Float64Array(buffer, at(layout.orderId), n);
    this.orderQty = new Float64Array(buffer, at(layout.orderQty), n);
    this.orderNext = new Int32Array(buffer, at(layout.orderNext), n);
    this.orderPrev = new Int32Array(buffer, at(layout.orderPrev), n);
    this.orderLevel = new Int32Array(buffer, at(layout.orderLevel), n);
    this.orderSym = new Int32Array(buffer, at(layout.orderSym), n);
    this.levelPrice = new Float64Array(buffer, at(layout.levelPrice), n);
    this.levelHead = new Int32Array(buffer, at(layout.levelHead), n);
    this.levelTail = new Int32Array(buffer, at(layout.levelTail), n);
    this.levelBetter = new Int32Array(buffer, at(layout.levelBetter), n);
    this.levelWorse = new Int32Array(buffer, at(layout.levelWorse), n);
    this.levelSide = new Uint8Array(buffer, at(layout.levelSide), n);
    this.idTable = new Int32Array(buffer, at(layout.idTable), 2 * layout.hashSlots);
    this.hashMask = layout.hashSlots - 1;
    this.bookBase = new Float64Array(buffer, at(layout.bookBase), s);
    this.bookBest = new Int32Array(buffer, at(layout.bookBest), 2 * s);
    this.bookWorst = new Int32Array(buffer, at(layout.bookWorst), 2 * s);
    this.bookLevels = new Int32Array(buffer, at(layout.bookLevels), s);
    this.bookOutside = new Int32Array(buffer, at(layout.bookOutside), s);
    this.bookRebaseAt = new Int32Array(buffer, at(layout.bookRebaseAt), s);
    this.ladder = new Int32Array(buffer, at(layout.ladder), s * this.ticks);
    this.occupancy = new Int32Array(buffer, at(layout.occupancy), s * this.wordsPerBook);
    this.summary = new Int32Array(buffer, at(layout.summary), s * this.summaryWordsPerBook);
  }

  private initialize(): void {
    const h = this.header;
    // Re-initialising a region in place (a design's books emptied between runs) may overlap another thread's
    // `attach` of it, so the identity and capacity words (0..HDR_HASH_SLOTS) are rewritten, never cleared: an
    // attach sees either the old core's header or the new one's, which describe the same layout.
    h.fill(0, HDR_RISK + 1);
    h[HDR_RISK] = this.risk === null ? 0 : 1;
    h[HDR_MAX_ORDERS] = this.maxOrders;
    h[HDR_MAX_SYMBOLS] = this.maxSymbols;
    h[HDR_LADDER_TICKS] = this.ticks;
    h[HDR_HASH_SLOTS] = this.layout.hashSlots;
    // Every array is written here, not only the ones that need a value: the region may be reused, and touching it
    // now faults its pages in at creation instead of during the first commands.
    this.orderId.fill(0);
    this.orderQty.fill(0);
    this.orderPrev.fill(NONE);
    this.orderLevel.fill(NONE);
    this.orderSym.fill(0);
    this.levelPrice.fill(0);
    this.levelHead.fill(NONE);
    this.levelTail.fill(NONE);
    this.levelBetter.fill(NONE);
    this.levelSide.fill(0);
    const n = this.maxOrders;
    for (let i = 0; i < n; i++) {
      this.orderNext[i] = i + 1;
      this.levelWorse[i] = i + 1;
    }
    this.orderNext[n - 1] = NONE;
    this.levelWorse[n - 1] = NONE;
    h[HDR_ORDER_FREE] = 0;
    h[HDR_LEVEL_FREE] = 0;
    h[HDR_LIVE_ORDERS] = 0;
    h[HDR_LIVE_LEVELS] = 0;
    this.idTable.fill(NONE);
    this.bookBase.fill(0);
    this.bookBest.fill(NONE);
    this.bookWorst.fill(NONE);
    this.bookLevels.fill(0);
    this.bookOutside.fill(0);
    this.bookRebaseAt.fill(REBASE_MIN);
    this.ladder.fill(NONE);
    this.occupancy.fill(0);
    this.summary.fill(0);
    this.risk?.initialize(this.capacities.risk!);
    h[HDR_VERSION] = CORE_VERSION;
    h[HDR_MAGIC] = CORE_MAGIC;
  }

  // ── output ────────────────────────────────────────────────────────────────────────────────────────────────────

  /**
   * Events go to `capacityRecords` 48-byte records at `byteOffset` of `buffer` (8-aligned), from record 0 on.
   * The caller reads `outCursor` records back and may reset `outCursor` to reuse the region.
   */
  setEventOutput(buffer: ArrayBufferLike, byteOffset: number, capacityRecords: number): void {
    if (byteOffset % 8 !== 0 || !Number.isInteger(capacityRecords) || capacityRecords < 1 || byteOffset + capacityRecords * EVENT_BYTES > buffer.byteLength) {
      throw new RangeError(
        `fast core event output: ${capacityRecords} records at byte offset ${byteOffset} do not fit 8-aligned in a ${buffer.byteLength}-byte buffer`,
      );
    }
    this.outWords = new Int32Array(buffer, byteOffset, capacityRecords * EVENT_WORDS);
    this.outF64 = new Float64Array(buffer, byteOffset, capacityRecords * EVENT_F64S);
    this.outCapacity = capacityRecords;
    this.outCursor = 0;
  }

  get eventCapacity(): number {
    return this.outCapacity;
  }

  /**
   * Starts event record `outCursor`: kind, reason, side, symbol, the command's seq and id; maker, price and qty 0.
   * Returns the record's f64 index so the caller stores the doubles it needs itself (see CMD_* for why).
   */
  private event(kind: number, reason: number, side: number, sym: number): number {
    const i = this.outCursor++;
    const w = i * EVENT_WORDS;
    this.outWords[w] = kind | (reason << 8) | (side << 16);
    this.outWords[w + 1] = sym;
    const f = i * EVENT_F64S;
    const out = this.outF64;
    out[f + EV_F64_SEQ] = this.cmd[CMD_SEQ]!;
    out[f + EV_F64_ID] = this.cmd[CMD_ID]!;
    out[f + EV_F64_MAKER] = 0;
    out[f + EV_F64_PRICE] = 0;
    out[f + EV_F64_QTY] = 0;
    return f;
  }

  private reject(sym: number, reason: number): void {
    const f = this.event(EV_REJECTED, reason, 0, sym);
    if (!Number.isFinite(this.cmd[CMD_ID]!)) this.outF64[f + EV_F64_ID] = 0;
  }

  // ── commands ──────────────────────────────────────────────────────────────────────────────────────────────────

  /**
   * Processes record `index` of a record buffer (viewed as bytes and f64s) as sequence number `seq`; appends its
   * events at `outCursor` and returns how many it wrote.
   */
  processRecord(recordBytes: Uint8Array, recordF64: Float64Array, index: number, seq: number): number {
    const b = index * RECORD_BYTES;
    const f = index * RECORD_F64S;
    const op = recordBytes[b]!;
    if (op === OP_CLOCK) return this.clock(recordF64[f + F64_TS]!, seq);
    const sym = (recordBytes[b + 4]! | (recordBytes[b + 5]! << 8) | (recordBytes[b + 6]! << 16) | (recordBytes[b + 7]! << 24)) >>> 0;
    if (sym >= this.maxSymbols) return this.unknownSymbol(sym, op, recordF64[f + 1]!, index, seq);
    const start = this.outCursor;
    this.needEventRoom(seq);
    const cmd = this.cmd;
    cmd[CMD_SEQ] = seq;
    cmd[CMD_ID] = recordF64[f + 1]!;
    // The risk work sits in methods of its own: this one stays under V8's inlining limit (460 bytes of bytecode;
    // `--print-bytecode --print-bytecode-filter=processRecord` shows its length), as it was before risk existed.
    const risk = this.risk;
    if (op === OP_NEW) this.newOrder(sym, recordBytes[b + 1]!, recordBytes[b + 2]!, recordBytes[b + 3]!, recordF64, f);
    else if (op === OP_CANCEL) this.cancel(sym);
    else if (op === OP_REDUCE) this.reduce(sym, recordF64, f);
    else if (op === OP_MODIFY) this.modify(sym, recordF64, f);
    else this.reject(sym, REASON_INVALID_COMMAND);
    if (risk !== null) this.afterRisk(sym, risk, start);
    return this.outCursor - start;
  }

  /** After a command: its fills feed the collar's last price and the breaker's window. */
  private afterRisk(sym: number, risk: CoreRisk, start: number): void {
    // Fills come first among a command's events, so one that wrote a single non-fill event traded nothing.
    if (this.outCursor > start && (this.outCursor - start > 1 || (this.outWords[start * EVENT_WORDS]! & 0xff) === EV_FILL)) {
      this.recordTrades(sym, risk, start);
    }
  }

  // ── risk and breaker (semantics: engines/reference.ts; state: engines/fast-core-risk.ts) ──────────────────────

  /**
   * At a clock that reached the earliest deadline: announces every limit state and pause engine time has reached,
   * symbols in name order (engines/reference.ts "Expiry"), and finds the next deadline. Returns the events written.
   */
  private expire(risk: CoreRisk, seq: number): number {
    const s = risk.symbol;
    const time = this.headerF64[HDR_F64_TIME]!;
    let due = 0;
    for (let sym = 0; sym < this.maxSymbols; sym++) {
      const r = sym * RISK_SYMBOL_F64S;
      if (s[r + RS_STATE] !== BREAKER_NORMAL && time >= s[r + RS_UNTIL]!) due++;
    }
    if (this.outCapacity - this.outCursor < 2 * due) {
      throw new CoreCapacityError('events', `fast core: clock at seq ${seq} needs ${2 * due} event records for the breaker but the output region has ${this.outCapacity - this.outCursor} free; nothing changed`);
    }
    const start = this.outCursor;
    this.cmd[CMD_SEQ] = seq;
    let next = Infinity;
    for (let rank = 0; rank < this.maxSymbols; rank++) {
      const sym = risk.symbolAtRank(rank);
      const r = sym * RISK_SYMBOL_F64S;
      if (s[r + RS_STATE] === BREAKER_NORMAL) continue;
      if (time >= s[r + RS_UNTIL]!) this.settle(sym, risk, time);
      if (s[r + RS_STATE] !== BREAKER_NORMAL && s[r + RS_UNTIL]! < next) next = s[r + RS_UNTIL]!;
    }
    risk.nextDeadline = next;
    return this.outCursor - start;
  }

  /** Announces the limit state or pause of `sym` that engine time `time` has reached (up to 2 records). */
  private settle(sym: number, risk: CoreRisk, time: number): void {
    const s = risk.symbol;
    const r = sym * RISK_SYMBOL_F64S;
    if (s[r + RS_STATE] === BREAKER_LIMIT && time >= s[r + RS_UNTIL]!) {
      const side = s[r + RS_LIMIT_SIDE]!;
      const edge = s[r + RS_LIMIT_EDGE]!;
      const best = this.bookBest[2 * sym + (side === SIDE_BUY ? 1 : 0)]!;
      const stillBeyond = best === NONE || (side === SIDE_BUY ? this.levelPrice[best]! > edge : this.levelPrice[best]! < edge);
      if (!stillBeyond) {
        s[r + RS_STATE] = BREAKER_NORMAL;
        this.breakerEvent(EV_RESUMED, REASON_NONE, 0, sym);
        return;
      }
      s[r + RS_STATE] = BREAKER_HALTED;
      s[r + RS_UNTIL] = s[r + RS_UNTIL]! + risk.pauseUs;
      this.outF64[this.breakerEvent(EV_HALTED, REASON_BAND, 0, sym) + EV_F64_UNTIL] = s[r + RS_UNTIL]!;
    }
    if (s[r + RS_STATE] === BREAKER_HALTED && time >= s[r + RS_UNTIL]!) {
      s[r + RS_STATE] = BREAKER_NORMAL;
      this.breakerEvent(EV_RESUMED, REASON_NONE, 0, sym);
    }
  }

  /** Rejects the command when a risk rule refuses it (README order); else notes its owner for the open-order count. */
  private riskRejects(sym: number, price: number, qty: number, restingOwner: number, owner: number): boolean {
    const reason = this.risk!.rejection(sym, price, qty, restingOwner);
    if (reason !== 0) {
      this.reject(sym, reason);
      return true;
    }
    this.cmd[CMD_OWNER] = owner;
    return false;
  }

  /** A breaker event: like `event`, with id 0 (it is the symbol's, not the command's order's). */
  private breakerEvent(kind: number, reason: number, side: number, sym: number): number {
    const f = this.event(kind, reason, side, sym);
    this.outF64[f + EV_F64_ID] = 0;
    return f;
  }

  /** Feeds the fills the command wrote (records start … outCursor - 1) to the collar's last price and the breaker. */
  private recordTrades(sym: number, risk: CoreRisk, start: number): void {
    const time = this.headerF64[HDR_F64_TIME]!;
    for (let i = start; i < this.outCursor; i++) {
      if ((this.outWords[i * EVENT_WORDS]! & 0xff) === EV_FILL) risk.recordTrade(sym, this.outF64[i * EVENT_F64S + EV_F64_PRICE]!, time);
    }
  }

  /** Tightens the taker's limit (CMD_PRICE) to the band when `sym` has one; its own limit stays in CMD_LIMIT. */
  private applyBand(sym: number, side: number): boolean {
    const risk = this.risk;
    if (risk === null || !risk.band(sym, this.headerF64[HDR_F64_TIME]!)) return false;
    const cmd = this.cmd;
    const limit = cmd[CMD_PRICE]!;
    cmd[CMD_LIMIT] = limit;
    cmd[CMD_PRICE] = side === SIDE_BUY ? Math.min(limit, risk.edges[1]!) : Math.max(limit, risk.edges[0]!);
    return true;
  }

  /**
   * After matching inside the band with quantity left: whether the band stopped the taker (the next maker is within
   * its own limit). If so, cancels the remainder (`band`) and, from the normal state, starts the limit state;
   * otherwise restores the taker's own limit for resting.
   */
  private stoppedAtBand(sym: number, side: number): boolean {
    const cmd = this.cmd;
    const best = this.bookBest[2 * sym + (side === SIDE_BUY ? 1 : 0)]!;
    const limit = cmd[CMD_LIMIT]!;
    cmd[CMD_PRICE] = limit;
    if (best === NONE) return false;
    const p = this.levelPrice[best]!;
    if (side === SIDE_BUY ? p > limit : p < limit) return false;
    this.outF64[this.event(EV_CANCELLED, REASON_BAND, 0, sym) + EV_F64_QTY] = cmd[CMD_REMAINING]!;
    const risk = this.risk!;
    const s = risk.symbol;
    const r = sym * RISK_SYMBOL_F64S;
    if (s[r + RS_STATE] === BREAKER_NORMAL) {
      const edge = side === SIDE_BUY ? risk.edges[1]! : risk.edges[0]!;
      s[r + RS_STATE] = BREAKER_LIMIT;
      s[r + RS_UNTIL] = this.headerF64[HDR_F64_TIME]! + risk.limitStateUs;
      if (s[r + RS_UNTIL]! < risk.nextDeadline) risk.nextDeadline = s[r + RS_UNTIL]!;
      s[r + RS_LIMIT_SIDE] = side;
      s[r + RS_LIMIT_EDGE] = edge;
      const e = this.breakerEvent(EV_LIMIT, REASON_NONE, side, sym);
      this.outF64[e + EV_F64_PRICE] = edge;
      this.outF64[e + EV_F64_UNTIL] = s[r + RS_UNTIL]!;
    }
    return true;
  }

  /**
   * Sets the limits of symbol index `sym` (a symbol learned after creation) and the symbols' name order with it
   * (risk/rules.ts `nameOrder` of the table that now holds it); a core without rules ignores it.
   */
  setSymbolLimits(sym: number, limits: SymbolLimits, nameOrder: readonly number[]): void {
    this.risk?.setLimits(sym, limits);
    this.risk?.orderByName(nameOrder);
  }

  /** Replaces the rules of a core that has a risk region, keeping its state (a restart under changed rules). */
  configureRisk(rules: ResolvedRisk): void {
    if (this.risk === null) throw new Error('fast core: configureRisk on a core created without risk rules (it has no risk region)');
    this.risk.configure(rules);
  }

  /** Throws unless the event output has room for at least the first event of the command at `seq`. */
  private needEventRoom(seq: number): void {
    if (this.outCursor < this.outCapacity) return;
    throw new CoreCapacityError(
      'events',
      this.outCapacity === 0
        ? `fast core: no event output region before seq ${seq} (call setEventOutput first)`
        : `fast core: event output full (${this.outCapacity} records) before seq ${seq}`,
    );
  }

  /** A record whose symbol index is past maxSymbols: an invalid command naming no symbol, or a capacity error. */
  private unknownSymbol(sym: number, op: number, id: number, index: number, seq: number): number {
    if (sym === NO_SYMBOL && op === OP_INVALID) return this.rejectUnnamed(id, seq);
    throw new CoreCapacityError('symbols', `fast core: record ${index} (seq ${seq}) has symbol index ${sym}, outside maxSymbols = ${this.maxSymbols}`);
  }

  /** A command naming no symbol (a bad clock; a client's clock, refused): rejected `invalid_command`, sym "". */
  private rejectUnnamed(id: number, seq: number): number {
    this.needEventRoom(seq);
    this.cmd[CMD_SEQ] = seq;
    this.cmd[CMD_ID] = id;
    this.reject(NO_SYMBOL, REASON_INVALID_COMMAND);
    return 1;
  }

  /** A clock: the engine's time becomes `ts`, or (not a safe integer, or behind) a reject naming no symbol. */
  private clock(ts: number, seq: number): number {
    const time = this.headerF64;
    if (Number.isSafeInteger(ts) && ts >= time[HDR_F64_TIME]!) {
      time[HDR_F64_TIME] = ts;
      const risk = this.risk;
      return risk !== null && ts >= risk.nextDeadline ? this.expire(risk, seq) : 0;
    }
    return this.rejectUnnamed(0, seq);
  }

  private newOrder(sym: number, side: number, type: number, tif: number, recordF64: Float64Array, f: number): void {
    const cmd = this.cmd;
    const price = recordF64[f + 2]!;
    const qty = recordF64[f + 3]!;
    const owner = recordF64[f + 4]!;
    if (
      !isPositiveSafeInteger(cmd[CMD_ID]!) || (owner === owner && !isPositiveSafeInteger(owner)) ||
      (side !== SIDE_BUY && side !== SIDE_SELL) || (type !== TYPE_LIMIT && type !== TYPE_MARKET)
    ) {
      this.reject(sym, REASON_INVALID_COMMAND);
      return;
    }
    if (!isPositiveSafeInteger(qty)) {
      this.reject(sym, REASON_INVALID_QTY);
      return;
    }
    const market = type === TYPE_MARKET;
    if (!market && !isPositiveSafeInteger(price)) {
      this.reject(sym, REASON_INVALID_PRICE);
      return;
    }
    if (this.find(sym) !== NONE) {
      this.reject(sym, REASON_DUPLICATE_ID);
      return;
    }
    const rest = !market && tif !== TIF_IOC && tif !== TIF_FOK;
    if (this.risk !== null && this.riskRejects(sym, market ? NaN : price, qty, rest ? owner : NaN, owner)) return;
    cmd[CMD_PRICE] = market ? (side === SIDE_BUY ? Infinity : -Infinity) : price;
    cmd[CMD_QTY] = qty;
    // Only a taker that meets the book can trade, so only it is held to the band.
    const banded = this.risk !== null && this.crosses(sym, side) && this.applyBand(sym, side);
    if (!market && tif === TIF_FOK && !this.canFill(sym, side)) {
      this.outF64[this.event(EV_CANCELLED, REASON_FOK, 0, sym) + EV_F64_QTY] = qty;
      return;
    }
    this.ensureRoom(sym, side, 0);
    if (rest && this.header[HDR_ORDER_FREE] === NONE && !this.crosses(sym, side)) {
      throw new CoreCapacityError(
        'orders',
        `fast core: order pool full (maxOrders = ${this.maxOrders}): cannot rest order ${cmd[CMD_ID]} of symbol index ${sym} at seq ${cmd[CMD_SEQ]}; the book is unchanged`,
      );
    }
    this.match(sym, side);
    const remaining = cmd[CMD_REMAINING]!;
    if (remaining > 0) {
      if (banded && this.stoppedAtBand(sym, side)) return;
      if (rest) this.rest(this.allocOrder(sym), sym, side);
      else this.outF64[this.event(EV_CANCELLED, REASON_IOC, 0, sym) + EV_F64_QTY] = remaining;
    }
  }

  private cancel(sym: number): void {
    if (!isPositiveSafeInteger(this.cmd[CMD_ID]!)) {
      this.reject(sym, REASON_INVALID_COMMAND);
      return;
    }
    const o = this.find(sym);
    if (o === NONE) {
      this.reject(sym, REASON_UNKNOWN_ORDER);
      return;
    }
    const qty = this.orderQty[o]!;
    this.removeOrder(o, sym);
    this.outF64[this.event(EV_CANCELLED, REASON_USER, 0, sym) + EV_F64_QTY] = qty;
  }

  private reduce(sym: number, recordF64: Float64Array, f: number): void {
    const qty = recordF64[f + 3]!;
    if (!isPositiveSafeInteger(this.cmd[CMD_ID]!)) {
      this.reject(sym, REASON_INVALID_COMMAND);
      return;
    }
    if (!isPositiveSafeInteger(qty)) {
      this.reject(sym, REASON_INVALID_QTY);
      return;
    }
    const o = this.find(sym);
    if (o === NONE) {
      this.reject(sym, REASON_UNKNOWN_ORDER);
      return;
    }
    const had = this.orderQty[o]!;
    if (qty < had) {
      this.orderQty[o] = had - qty;
      this.outF64[this.event(EV_REDUCED, REASON_NONE, 0, sym) + EV_F64_QTY] = had - qty;
    } else {
      this.removeOrder(o, sym);
      this.outF64[this.event(EV_CANCELLED, REASON_USER, 0, sym) + EV_F64_QTY] = had;
    }
  }

  private modify(sym: number, recordF64: Float64Array, f: number): void {
    const cmd = this.cmd;
    const price = recordF64[f + 2]!;
    const qty = recordF64[f + 3]!;
    if (!isPositiveSafeInteger(cmd[CMD_ID]!)) {
      this.reject(sym, REASON_INVALID_COMMAND);
      return;
    }
    if (!isPositiveSafeInteger(qty)) {
      this.reject(sym, REASON_INVALID_QTY);
      return;
    }
    if (!isPositiveSafeInteger(price)) {
      this.reject(sym, REASON_INVALID_PRICE);
      return;
    }
    const o = this.find(sym);
    if (o === NONE) {
      this.reject(sym, REASON_UNKNOWN_ORDER);
      return;
    }
    if (this.risk !== null && this.riskRejects(sym, price, qty, NaN, NaN)) return;
    const level = this.orderLevel[o]!;
    if (this.levelPrice[level] === price && qty <= this.orderQty[o]!) {
      this.orderQty[o] = qty;
      const e = this.event(EV_MODIFIED, REASON_NONE, 0, sym);
      this.outF64[e + EV_F64_PRICE] = price;
      this.outF64[e + EV_F64_QTY] = qty;
      return;
    }
    // Loses priority: leaves its level, then re-enters as a GTC limit in the same slot (the id stays hashed to it).
    const side = this.levelSide[level]!;
    cmd[CMD_PRICE] = price;
    cmd[CMD_QTY] = qty;
    this.ensureRoom(sym, side, 1);
    const e = this.event(EV_MODIFIED, REASON_NONE, 0, sym);
    this.outF64[e + EV_F64_PRICE] = price;
    this.outF64[e + EV_F64_QTY] = qty;
    this.unlinkOrder(o, level, sym);
    const banded = this.risk !== null && this.crosses(sym, side) && this.applyBand(sym, side);
    this.match(sym, side);
    if (cmd[CMD_REMAINING]! > 0 && !(banded && this.stoppedAtBand(sym, side))) {
      this.rest(o, sym, side);
    } else {
      this.hashRemove(o);
      this.freeOrder(o);
    }
  }

  // ── matching (the taker's id, limit and quantity are in `cmd`) ───────────────────────────────────────────────

  /** Whether the taker meets the best opposite level. */
  private crosses(sym: number, side: number): boolean {
    const best = this.bookBest[2 * sym + (side === SIDE_BUY ? 1 : 0)]!;
    if (best === NONE) return false;
    const p = this.levelPrice[best]!;
    const limit = this.cmd[CMD_PRICE]!;
    return side === SIDE_BUY ? p <= limit : p >= limit;
  }

  /** FOK pre-check: the opposite side holds at least the taker's quantity at prices it accepts. */
  private canFill(sym: number, side: number): boolean {
    const buy = side === SIDE_BUY;
    const limit = this.cmd[CMD_PRICE]!;
    const qty = this.cmd[CMD_QTY]!;
    let level = this.bookBest[2 * sym + (buy ? 1 : 0)]!;
    let available = 0;
    while (level !== NONE) {
      const p = this.levelPrice[level]!;
      if (buy ? p > limit : p < limit) return false;
      for (let o = this.levelHead[level]!; o !== NONE; o = this.orderNext[o]!) {
        available += this.orderQty[o]!;
        if (available >= qty) return true;
      }
      level = this.levelWorse[level]!;
    }
    return false;
  }

  /**
   * Throws before anything changes when the output region cannot take every event the taker may write: one per
   * maker it will touch, one rested/cancelled, plus `extra` (modify's `modified`).
   */
  private ensureRoom(sym: number, side: number, extraEvents: number): void {
    // With a breaker, a stopped taker writes `cancelled` and `limit` where others write one `rested`/`cancelled`.
    const extra = this.risk === null ? extraEvents : extraEvents + 1;
    const free = this.outCapacity - this.outCursor;
    if (this.header[HDR_LIVE_ORDERS]! + 1 + extra <= free) return;
    const buy = side === SIDE_BUY;
    const limit = this.cmd[CMD_PRICE]!;
    const qty = this.cmd[CMD_QTY]!;
    let need = 1 + extra;
    let level = this.bookBest[2 * sym + (buy ? 1 : 0)]!;
    let covered = 0;
    scan: while (level !== NONE) {
      const p = this.levelPrice[level]!;
      if (buy ? p > limit : p < limit) break;
      for (let o = this.levelHead[level]!; o !== NONE; o = this.orderNext[o]!) {
        need++;
        covered += this.orderQty[o]!;
        if (covered >= qty) break scan;
      }
      level = this.levelWorse[level]!;
    }
    if (need > free) {
      throw new CoreCapacityError(
        'events',
        `fast core: seq ${this.cmd[CMD_SEQ]} needs up to ${need} event records but the output region has ${free} of ${this.outCapacity} free; the book is unchanged`,
      );
    }
  }

  /** Trades the taker against the opposite side, best first, FIFO within a level; leaves the unfilled rest in cmd. */
  private match(sym: number, side: number): void {
    const cmd = this.cmd;
    const buy = side === SIDE_BUY;
    const opposite = 2 * sym + (buy ? 1 : 0);
    const limit = cmd[CMD_PRICE]!;
    const levelPrice = this.levelPrice;
    const levelHead = this.levelHead;
    const orderQty = this.orderQty;
    const orderNext = this.orderNext;
    const orderId = this.orderId;
    let remaining = cmd[CMD_QTY]!;
    let level = this.bookBest[opposite]!;
    while (level !== NONE) {
      const price = levelPrice[level]!;
      if (buy ? price > limit : price < limit) break;
      let o = levelHead[level]!;
      while (o !== NONE) {
        const makerQty = orderQty[o]!;
        const e = this.event(EV_FILL, REASON_NONE, side, sym);
        const out = this.outF64;
        out[e + EV_F64_MAKER] = orderId[o]!;
        out[e + EV_F64_PRICE] = price;
        if (makerQty > remaining) {
          orderQty[o] = makerQty - remaining;
          out[e + EV_F64_QTY] = remaining;
          remaining = 0;
          break;
        }
        out[e + EV_F64_QTY] = makerQty;
        remaining -= makerQty;
        const next = orderNext[o]!;
        this.hashRemove(o);
        this.freeOrder(o);
        o = next;
        if (remaining === 0) break;
      }
      if (o !== NONE) {
        levelHead[level] = o;
        this.orderPrev[o] = NONE;
        break;
      }
      const worse = this.levelWorse[level]!;
      levelHead[level] = NONE;
      this.removeLevel(level, sym, opposite);
      level = worse;
      if (remaining === 0) break;
    }
    cmd[CMD_REMAINING] = remaining;
  }

  // ── orders and levels ─────────────────────────────────────────────────────────────────────────────────────────

  /** Takes a free order slot for the command's id and hashes it. The caller checked that one is free. */
  private allocOrder(sym: number): number {
    const o = this.header[HDR_ORDER_FREE]!;
    this.header[HDR_ORDER_FREE] = this.orderNext[o]!;
    this.header[HDR_LIVE_ORDERS] = this.header[HDR_LIVE_ORDERS]! + 1;
    this.orderId[o] = this.cmd[CMD_ID]!;
    this.orderSym[o] = sym;
    this.hashInsert(o);
    if (this.risk !== null) this.risk.ownerRests(o, this.cmd[CMD_OWNER]!);
    return o;
  }

  private freeOrder(o: number): void {
    if (this.risk !== null) this.risk.ownerLeaves(o);
    this.orderNext[o] = this.header[HDR_ORDER_FREE]!;
    this.header[HDR_ORDER_FREE] = o;
    this.header[HDR_LIVE_ORDERS] = this.header[HDR_LIVE_ORDERS]! - 1;
  }

  /** Appends order slot `o` with the unfilled quantity to the tail of the level at the command's price; `rested`. */
  private rest(o: number, sym: number, side: number): void {
    const qty = this.cmd[CMD_REMAINING]!;
    this.orderQty[o] = qty;
    const level = this.levelFor(sym, side);
    const tail = this.levelTail[level]!;
    this.orderPrev[o] = tail;
    this.orderNext[o] = NONE;
    if (tail === NONE) this.levelHead[level] = o;
    else this.orderNext[tail] = o;
    this.levelTail[level] = o;
    this.orderLevel[o] = level;
    const e = this.event(EV_RESTED, REASON_NONE, side, sym);
    this.outF64[e + EV_F64_PRICE] = this.levelPrice[level]!;
    this.outF64[e + EV_F64_QTY] = qty;
  }

  /** Takes order slot `o` out of its level's FIFO, removing the level when it empties. */
  private unlinkOrder(o: number, level: number, sym: number): void {
    const prev = this.orderPrev[o]!;
    const next = this.orderNext[o]!;
    if (prev === NONE) this.levelHead[level] = next;
    else this.orderNext[prev] = next;
    if (next === NONE) this.levelTail[level] = prev;
    else this.orderPrev[next] = prev;
    if (this.levelHead[level] === NONE) this.removeLevel(level, sym, 2 * sym + this.levelSide[level]! - 1);
  }

  private removeOrder(o: number, sym: number): void {
    this.unlinkOrder(o, this.orderLevel[o]!, sym);
    this.hashRemove(o);
    this.freeOrder(o);
  }

  /** The level of `side` at the command's price, created and linked into its side's sorted list if absent. */
  private levelFor(sym: number, side: number): number {
    const t = this.ticks;
    const price = this.cmd[CMD_PRICE]!;
    if (this.bookLevels[sym] === 0) {
      this.bookBase[sym] = Math.max(1, price - t / 2);
      this.bookOutside[sym] = 0;
      this.bookRebaseAt[sym] = REBASE_MIN;
    }
    const sideIndex = 2 * sym + side - 1;
    const offset = price - this.bookBase[sym]!;
    if (offset >= 0 && offset < t) {
      const slot = sym * t + offset;
      // An uncrossed book has no opposite level at a price a remainder rests at, so a hit is ours.
      const existing = this.ladder[slot]!;
      if (existing !== NONE) return existing;
      const level = this.newLevel(sym, side);
      this.ladder[slot] = level;
      this.setBit(sym, offset);
      const neighbour = side === SIDE_BUY ? this.nextSetAbove(sym, offset) : this.nextSetBelow(sym, offset);
      const better = neighbour === NONE ? NONE : this.ladder[sym * t + neighbour]!;
      if (better !== NONE && this.levelSide[better] === side) this.linkBetween(sideIndex, better, this.levelWorse[better]!, level);
      else this.linkFromBest(sideIndex, side, level);
      return level;
    }
    const betterSideOfWindow = side === SIDE_BUY ? offset >= t : offset < 0;
    const level = betterSideOfWindow ? this.outsideFromBest(sideIndex, side) : this.outsideFromWorst(sideIndex, side);
    if (this.bookOutside[sym]! > this.bookRebaseAt[sym]!) this.rebase(sym);
    return level;
  }

  /** A fresh level at the command's price. */
  private newLevel(sym: number, side: number): number {
    const level = this.header[HDR_LEVEL_FREE]!;
    this.header[HDR_LEVEL_FREE] = this.levelWorse[level]!;
    this.header[HDR_LIVE_LEVELS] = this.header[HDR_LIVE_LEVELS]! + 1;
    this.bookLevels[sym] = this.bookLevels[sym]! + 1;
    this.levelPrice[level] = this.cmd[CMD_PRICE]!;
    this.levelSide[level] = side;
    this.levelHead[level] = NONE;
    this.levelTail[level] = NONE;
    return level;
  }

  private linkBetween(sideIndex: number, better: number, worse: number, level: number): void {
    this.levelBetter[level] = better;
    this.levelWorse[level] = worse;
    if (better === NONE) this.bookBest[sideIndex] = level;
    else this.levelWorse[better] = level;
    if (worse === NONE) this.bookWorst[sideIndex] = level;
    else this.levelBetter[worse] = level;
  }

  /** Links a new level below every strictly better level, walking from the best (only out-of-window ones remain). */
  private linkFromBest(sideIndex: number, side: number, level: number): void {
    const buy = side === SIDE_BUY;
    const price = this.levelPrice[level]!;
    let better = NONE;
    let cursor = this.bookBest[sideIndex]!;
    while (cursor !== NONE && (buy ? this.levelPrice[cursor]! > price : this.levelPrice[cursor]! < price)) {
      better = cursor;
      cursor = this.levelWorse[cursor]!;
    }
    this.linkBetween(sideIndex, better, cursor, level);
  }

  /** Out-of-window price beyond the window's better edge: the existing level or a new one, found from the best. */
  private outsideFromBest(sideIndex: number, side: number): number {
    const buy = side === SIDE_BUY;
    const price = this.cmd[CMD_PRICE]!;
    let better = NONE;
    let cursor = this.bookBest[sideIndex]!;
    while (cursor !== NONE && (buy ? this.levelPrice[cursor]! > price : this.levelPrice[cursor]! < price)) {
      better = cursor;
      cursor = this.levelWorse[cursor]!;
    }
    if (cursor !== NONE && this.levelPrice[cursor] === price) return cursor;
    const sym = sideIndex >> 1;
    const level = this.newLevel(sym, side);
    this.bookOutside[sym] = this.bookOutside[sym]! + 1;
    this.linkBetween(sideIndex, better, cursor, level);
    return level;
  }

  /** Out-of-window price beyond the window's worse edge: found by walking from the worst level. */
  private outsideFromWorst(sideIndex: number, side: number): number {
    const buy = side === SIDE_BUY;
    const price = this.cmd[CMD_PRICE]!;
    let worse = NONE;
    let cursor = this.bookWorst[sideIndex]!;
    while (cursor !== NONE && (buy ? this.levelPrice[cursor]! < price : this.levelPrice[cursor]! > price)) {
      worse = cursor;
      cursor = this.levelBetter[cursor]!;
    }
    if (cursor !== NONE && this.levelPrice[cursor] === price) return cursor;
    const sym = sideIndex >> 1;
    const level = this.newLevel(sym, side);
    this.bookOutside[sym] = this.bookOutside[sym]! + 1;
    this.linkBetween(sideIndex, cursor, worse, level);
    return level;
  }

  /** Unlinks an empty level from its side's list and its ladder slot, and frees it. */
  private removeLevel(level: number, sym: number, sideIndex: number): void {
    const better = this.levelBetter[level]!;
    const worse = this.levelWorse[level]!;
    if (better === NONE) this.bookBest[sideIndex] = worse;
    else this.levelWorse[better] = worse;
    if (worse === NONE) this.bookWorst[sideIndex] = better;
    else this.levelBetter[worse] = better;
    const offset = this.levelPrice[level]! - this.bookBase[sym]!;
    if (offset >= 0 && offset < this.ticks) {
      this.ladder[sym * this.ticks + offset] = NONE;
      this.clearBit(sym, offset);
    } else {
      this.bookOutside[sym] = this.bookOutside[sym]! - 1;
    }
    this.bookLevels[sym] = this.bookLevels[sym]! - 1;
    this.levelWorse[level] = this.header[HDR_LEVEL_FREE]!;
    this.header[HDR_LEVEL_FREE] = level;
    this.header[HDR_LIVE_LEVELS] = this.header[HDR_LIVE_LEVELS]! - 1;
  }

  /**
   * Re-centres a book's ladder on its touch and re-indexes its levels. O(levels), and the next re-centring waits
   * until twice as many levels as are left outside have piled up, so a genuinely wide book does not thrash.
   */
  private rebase(sym: number): void {
    const t = this.ticks;
    const bestBid = this.bookBest[2 * sym]!;
    const bestAsk = this.bookBest[2 * sym + 1]!;
    const centre = bestBid !== NONE && bestAsk !== NONE
      ? Math.floor((this.levelPrice[bestBid]! + this.levelPrice[bestAsk]!) / 2)
      : this.levelPrice[bestBid !== NONE ? bestBid : bestAsk]!;
    const base = Math.max(1, centre - t / 2);
    this.ladder.fill(NONE, sym * t, sym * t + t);
    this.occupancy.fill(0, sym * this.wordsPerBook, (sym + 1) * this.wordsPerBook);
    this.summary.fill(0, sym * this.summaryWordsPerBook, (sym + 1) * this.summaryWordsPerBook);
    this.bookBase[sym] = base;
    let outside = 0;
    for (let sideIndex = 2 * sym; sideIndex <= 2 * sym + 1; sideIndex++) {
      for (let level = this.bookBest[sideIndex]!; level !== NONE; level = this.levelWorse[level]!) {
        const offset = this.levelPrice[level]! - base;
        if (offset >= 0 && offset < t) {
          this.ladder[sym * t + offset] = level;
          this.setBit(sym, offset);
        } else {
          outside++;
        }
      }
    }
    this.bookOutside[sym] = outside;
    this.bookRebaseAt[sym] = Math.max(REBASE_MIN, 2 * outside);
  }

  // ── occupancy bitmap (one bit per ladder tick, one summary bit per 32-tick word) ──────────────────────────────

  private setBit(sym: number, offset: number): void {
    const w = offset >>> 5;
    this.occupancy[sym * this.wordsPerBook + w]! |= 1 << (offset & 31);
    this.summary[sym * this.summaryWordsPerBook + (w >>> 5)]! |= 1 << (w & 31);
  }

  private clearBit(sym: number, offset: number): void {
    const w = offset >>> 5;
    const at = sym * this.wordsPerBook + w;
    const word = this.occupancy[at]! & ~(1 << (offset & 31));
    this.occupancy[at] = word;
    if (word === 0) this.summary[sym * this.summaryWordsPerBook + (w >>> 5)]! &= ~(1 << (w & 31));
  }

  /** Lowest occupied tick above `offset`, or -1. */
  private nextSetAbove(sym: number, offset: number): number {
    const from = offset + 1;
    if (from >= this.ticks) return NONE;
    const words = sym * this.wordsPerBook;
    let w = from >>> 5;
    const word = this.occupancy[words + w]! & (-1 << (from & 31));
    if (word !== 0) return (w << 5) + lowestBit(word);
    w++;
    if (w >= this.wordsPerBook) return NONE;
    const sums = sym * this.summaryWordsPerBook;
    let s = w >>> 5;
    let sum = this.summary[sums + s]! & (-1 << (w & 31));
    while (sum === 0) {
      s++;
      if (s >= this.summaryWordsPerBook) return NONE;
      sum = this.summary[sums + s]!;
    }
    w = (s << 5) + lowestBit(sum);
    return (w << 5) + lowestBit(this.occupancy[words + w]!);
  }

  /** Highest occupied tick below `offset`, or -1. */
  private nextSetBelow(sym: number, offset: number): number {
    if (offset === 0) return NONE;
    const from = offset - 1;
    const words = sym * this.wordsPerBook;
    let w = from >>> 5;
    const word = this.occupancy[words + w]! & (-1 >>> (31 - (from & 31)));
    if (word !== 0) return (w << 5) + highestBit(word);
    if (w === 0) return NONE;
    w--;
    const sums = sym * this.summaryWordsPerBook;
    let s = w >>> 5;
    let sum = this.summary[sums + s]! & (-1 >>> (31 - (w & 31)));
    while (sum === 0) {
      if (s === 0) return NONE;
      s--;
      sum = this.summary[sums + s]!;
    }
    w = (s << 5) + highestBit(sum);
    return (w << 5) + highestBit(this.occupancy[words + w]!);
  }

  // ── id hash ───────────────────────────────────────────────────────────────────────────────────────────────────

  /**
   * The slot of the live order with the command's id in book `sym`, or -1. A miss leaves the empty entry it ended
   * on in `vacancy`, so resting the same id right after needs no second probe (unless a deletion moved entries).
   */
  private find(sym: number): number {
    const table = this.idTable;
    const mask = this.hashMask;
    const id = this.cmd[CMD_ID]!;
    const h = idHash(sym, id);
    let i = h & mask;
    for (;;) {
      const o = table[2 * i]!;
      if (o === NONE) {
        this.vacancy[VACANCY_ENTRY] = i;
        this.vacancy[VACANCY_HASH] = h;
        return NONE;
      }
      if (table[2 * i + 1] === h && this.orderId[o] === id && this.orderSym[o] === sym) return o;
      i = (i + 1) & mask;
    }
  }

  /** Hashes order slot `o`, whose (symbol, id) `find` just missed, at the vacancy it found or by probing again. */
  private hashInsert(o: number): void {
    const table = this.idTable;
    let i = this.vacancy[VACANCY_ENTRY]!;
    let h = this.vacancy[VACANCY_HASH]!;
    if (i === NONE) {
      const mask = this.hashMask;
      h = idHash(this.orderSym[o]!, this.orderId[o]!);
      i = h & mask;
      while (table[2 * i] !== NONE) i = (i + 1) & mask;
    }
    table[2 * i] = o;
    table[2 * i + 1] = h;
  }

  /** Deletes order slot `o` and shifts back the entries after it that may move (no tombstones). */
  private hashRemove(o: number): void {
    const table = this.idTable;
    const mask = this.hashMask;
    this.vacancy[VACANCY_ENTRY] = NONE;
    let hole = idHash(this.orderSym[o]!, this.orderId[o]!) & mask;
    while (table[2 * hole] !== o) hole = (hole + 1) & mask;
    let j = hole;
    for (;;) {
      j = (j + 1) & mask;
      const entry = table[2 * j]!;
      if (entry === NONE) break;
      const hash = table[2 * j + 1]!;
      const home = hash & mask;
      // The entry may fill the hole unless its home lies cyclically in (hole, j].
      if (j > hole ? home <= hole || home > j : home <= hole && home > j) {
        table[2 * hole] = entry;
        table[2 * hole + 1] = hash;
        hole = j;
      }
    }
    table[2 * hole] = NONE;
  }

  // ── reading the books (cold paths: hashes, snapshots, tests) ─────────────────────────────────────────────────

  /**
   * Symbol `sym`'s trading status under the breaker: 'limit' or 'halted' with the state's end (engine µs), else
   * 'trading' (also for a core without rules).
   */
  tradingStatus(sym: number): TradingStatus {
    const risk = this.risk;
    if (risk === null) return TRADING;
    const r = sym * RISK_SYMBOL_F64S;
    const state = risk.symbol[r + RS_STATE]!;
    if (state === BREAKER_NORMAL) return TRADING;
    return { state: state === BREAKER_LIMIT ? 'limit' : 'halted', until: risk.symbol[r + RS_UNTIL]! };
  }

  /** Engine time, µs: the last accepted clock's ts. */
  get time(): number {
    return this.headerF64[HDR_F64_TIME]!;
  }

  get liveOrders(): number {
    return this.header[HDR_LIVE_ORDERS]!;
  }

  get liveLevels(): number {
    return this.header[HDR_LIVE_LEVELS]!;
  }

  /** Live levels in book `sym` (both sides). */
  levelCount(sym: number): number {
    return this.bookLevels[sym]!;
  }

  /** The level order slot `o` rests in. */
  levelOfOrder(o: number): number {
    return this.orderLevel[o]!;
  }

  /** SIDE_BUY or SIDE_SELL of a live level. */
  sideOfLevel(level: number): number {
    return this.levelSide[level]!;
  }

  /** Best level of a side (SIDE_BUY / SIDE_SELL) of book `sym`, or -1. */
  bestLevel(sym: number, side: number): number {
    return this.bookBest[2 * sym + side - 1]!;
  }

  /** The next worse level on the same side, or -1. */
  worseLevel(level: number): number {
    return this.levelWorse[level]!;
  }

  priceOf(level: number): number {
    return this.levelPrice[level]!;
  }

  /** Oldest order of a level, or -1. */
  headOrder(level: number): number {
    return this.levelHead[level]!;
  }

  /** The next order in FIFO order, or -1. */
  nextOrder(order: number): number {
    return this.orderNext[order]!;
  }

  idOf(order: number): number {
    return this.orderId[order]!;
  }

  qtyOf(order: number): number {
    return this.orderQty[order]!;
  }

  /** Slot of live order `id` in book `sym`, or -1. */
  orderSlot(sym: number, id: number): number {
    if (!isPositiveSafeInteger(id)) return NONE;
    this.cmd[CMD_ID] = id;
    return this.find(sym);
  }

  /** How many ladder-window levels book `sym` keeps outside its window right now (for tests and the bench). */
  outsideLevels(sym: number): number {
    return this.bookOutside[sym]!;
  }
}
