/**
 * Memory layout of the fast matching core (engines/fast-core.ts): one region of an ArrayBuffer or SharedArrayBuffer
 * that holds the whole book state, so that any thread that attaches typed-array views to the same region (under the
 * mutex design's lock) sees and runs the same books. Described once here; the core only reads these offsets.
 *
 *   byteOffset ──►┌──────────────────────────────────────────────────────────────┐
 *                 │ header, 128 B (i32 words HDR_*): magic, version, capacities,  │
 *                 │ order free-list head, live orders, level free-list head,      │
 *                 │ live levels; engine time f64 at byte 64 (HDR_F64_TIME)        │
 *                 ├──────────────────────────────────────────────────────────────┤
 *   order pool    │ orderId f64[N] │ orderQty f64[N] │ orderNext i32[N] │        │
 *   (N = maxOrders│ orderPrev i32[N] │ orderLevel i32[N] │ orderSym i32[N]       │
 *   slots)        │ free slots are chained through orderNext                      │
 *                 ├──────────────────────────────────────────────────────────────┤
 *   level pool    │ levelPrice f64[N] │ levelHead i32[N] │ levelTail i32[N] │     │
 *   (N slots: a   │ levelBetter i32[N] │ levelWorse i32[N] │ levelSide u8[N]     │
 *   level always  │ free slots are chained through levelWorse                     │
 *   holds ≥ 1 order)                                                             │
 *                 ├──────────────────────────────────────────────────────────────┤
 *   id hash       │ idTable i32[2H], H = hashSlots (power of two ≥ 2N): pairs     │
 *                 │ (order slot or -1, 32-bit hash of its key); linear probing,   │
 *                 │ backward-shift deletion                                       │
 *                 ├──────────────────────────────────────────────────────────────┤
 *   books         │ bookBase f64[S] │ bookBest i32[2S] │ bookWorst i32[2S] │      │
 *   (S = maxSymbols) bookLevels i32[S] │ bookOutside i32[S] │ bookRebaseAt i32[S] │
 *                 ├──────────────────────────────────────────────────────────────┤
 *   tick ladders  │ ladder i32[S × T]: level slot of price bookBase + t, or -1    │
 *   (T = ladderTicks) occupancy i32[S × T/32] │ summary i32[S × ⌈T/1024⌉]        │
 *                 ├──────────────────────────────────────────────────────────────┤
 *   risk (only    │ riskGlobal f64[RISK_GLOBAL_F64S]: defaults, owner limit,      │
 *   with rules;   │ breaker timing │ riskSymbol f64[S × RISK_SYMBOL_F64S]: each   │
 *   HDR_RISK = 1) │ symbol's limits (RS_* config) then its state (RS_* state,     │
 *                 │ reference sub-windows) │ orderOwner f64[N] (NaN: none)        │
 *                 │ ownerKey f64[H] │ ownerCount i32[H]: open orders per owner,    │
 *                 │ linear probing, backward-shift deletion at count 0           │
 *                 └──────────────────────────────────────────────────────────────┘
 *
 * Every region starts on a 64-byte boundary (its own cache lines). The header holds no contended counter: the core
 * is single-writer (one thread, or whichever thread holds the mutex design's lock, which lives in that design's own
 * layout), so the header words never need the 128-byte spacing contended counters get.
 *
 * Capacities are fixed at creation and stored in the header, so `attach` rebuilds identical views from the buffer
 * alone. `bytesFor` and `layoutFor` throw, with the numbers, when a capacity is out of range.
 */

/** What one core can hold; fixed at creation. */
export interface FastCoreCapacities {
  /** Resting orders alive at once, over all symbols. Also bounds price levels: a level exists only while it holds an order. */
  readonly maxOrders: number;
  /** Books: symbol indexes 0 … maxSymbols-1. */
  readonly maxSymbols: number;
  /** Width of each book's tick ladder (power of two): prices in [base, base + ladderTicks) index directly. */
  readonly ladderTicks: number;
  /** Risk rules and breaker, resolved to symbol indexes (risk/rules.ts); absent: no risk region, no checks. */
  readonly risk?: ResolvedRisk;
}

import type { ResolvedRisk } from '../risk/rules.ts';

export const CORE_MAGIC = 0x4d42_4643; // "MBFC"
/** Bumped whenever a region's meaning changes (2: the risk region's clock order and next deadline), so a snapshot of an older core is refused. */
export const CORE_VERSION = 2;

/** i32 word indexes in the header. */
export const HDR_MAGIC = 0;
export const HDR_VERSION = 1;
export const HDR_MAX_ORDERS = 2;
export const HDR_MAX_SYMBOLS = 3;
export const HDR_LADDER_TICKS = 4;
export const HDR_HASH_SLOTS = 5;
/** 1 when the core has a risk region (a version-1 core left this word 0: no risk, same layout as before). */
export const HDR_RISK = 6;
export const HDR_ORDER_FREE = 8;
export const HDR_LIVE_ORDERS = 9;
export const HDR_LEVEL_FREE = 10;
export const HDR_LIVE_LEVELS = 11;
/**
 * f64 index in the header of the engine's time (µs, the last accepted clock): bytes 64..71, words 16..17, which a
 * version-1 core left zero, so an older region or snapshot reads as time 0 and the version stays 1.
 */
export const HDR_F64_TIME = 8;
export const HEADER_BYTES = 128;

/** Limits that keep every index an int32 and every region addressable. */
export const MAX_ORDERS_LIMIT = 1 << 26;
const MAX_SYMBOLS_LIMIT = 1 << 20;
export const MIN_LADDER_TICKS = 32;
export const MAX_LADDER_TICKS = 1 << 16;
/** Largest region one core may span (bytes). */
const MAX_CORE_BYTES = 2 ** 32;

const REGION_ALIGN = 64;

/**
 * f64 indexes of riskGlobal: the "*" limits (for symbols a core learns after creation, and to read the rules
 * back on attach), the owner limit, and the breaker's timing (RG_BREAKER_ON 0: no breaker section).
 */
export const RG_DEFAULTS = 0; // RS_MAX_QTY … RS_BREAKER_BPS of "*", 5 f64s
export const RG_MAX_OPEN_ORDERS = 5;
export const RG_BREAKER_ON = 6;
export const RG_WINDOW_US = 7;
export const RG_LIMIT_STATE_US = 8;
export const RG_PAUSE_US = 9;
/** The earliest `until` of a symbol in its limit state or pause (Infinity: none): a clock before it expires nothing. */
export const RG_NEXT_DEADLINE = 10;
export const RISK_GLOBAL_F64S = 16;

/** f64 indexes inside one symbol's riskSymbol record: limits (0 = no rule), then state. */
export const RS_MAX_QTY = 0;
export const RS_MAX_NOTIONAL = 1;
export const RS_COLLAR_BPS = 2;
export const RS_REFERENCE_PRICE = 3;
export const RS_BREAKER_BPS = 4;
/** Price of the last trade (0: none yet). */
export const RS_LAST_TRADE = 5;
/** The breaker's last reference price (0: none yet). */
export const RS_REFERENCE = 6;
/** BREAKER_NORMAL / BREAKER_LIMIT / BREAKER_HALTED. */
export const RS_STATE = 7;
export const RS_UNTIL = 8;
export const RS_LIMIT_SIDE = 9;
export const RS_LIMIT_EDGE = 10;
/** BREAKER_SUBWINDOWS triples (sub-window number or -1, sum of prices, count of trades). */
export const RS_BUCKETS = 11;
/** Not this symbol's: the symbol index of name rank `sym` (code-unit order), the order a clock announces expiries in. */
export const RS_BY_NAME = RS_BUCKETS + 3 * 10;
export const RISK_SYMBOL_F64S = 48;
export const BREAKER_NORMAL = 0;
export const BREAKER_LIMIT = 1;
export const BREAKER_HALTED = 2;

/** Byte offsets (relative to the region start) of every array, plus derived sizes. */
export interface FastCoreLayout {
  readonly capacities: FastCoreCapacities;
  readonly hashSlots: number;
  readonly wordsPerBook: number;
  readonly summaryWordsPerBook: number;
  readonly header: number;
  readonly orderId: number;
  readonly orderQty: number;
  readonly orderNext: number;
  readonly orderPrev: number;
  readonly orderLevel: number;
  readonly orderSym: number;
  readonly levelPrice: number;
  readonly levelHead: number;
  readonly levelTail: number;
  readonly levelBetter: number;
  readonly levelWorse: number;
  readonly levelSide: number;
  readonly idTable: number;
  readonly bookBase: number;
  readonly bookBest: number;
  readonly bookWorst: number;
  readonly bookLevels: number;
  readonly bookOutside: number;
  readonly bookRebaseAt: number;
  readonly ladder: number;
  readonly occupancy: number;
  readonly summary: number;
  /** Risk region offsets; -1 when the core has none. */
  readonly riskGlobal: number;
  readonly riskSymbol: number;
  readonly orderOwner: number;
  readonly ownerKey: number;
  readonly ownerCount: number;
  readonly totalBytes: number;
}

/** Throws, naming the capacity and its allowed range, when one is unusable. */
function checkCapacities(c: FastCoreCapacities): void {
  if (!Number.isInteger(c.maxOrders) || c.maxOrders < 1 || c.maxOrders > MAX_ORDERS_LIMIT) {
    throw new RangeError(`fast core capacity maxOrders = ${c.maxOrders}: must be an integer in 1 … ${MAX_ORDERS_LIMIT}`);
  }
  if (!Number.isInteger(c.maxSymbols) || c.maxSymbols < 1 || c.maxSymbols > MAX_SYMBOLS_LIMIT) {
    throw new RangeError(`fast core capacity maxSymbols = ${c.maxSymbols}: must be an integer in 1 … ${MAX_SYMBOLS_LIMIT}`);
  }
  const t = c.ladderTicks;
  if (!Number.isInteger(t) || t < MIN_LADDER_TICKS || t > MAX_LADDER_TICKS || (t & (t - 1)) !== 0) {
    throw new RangeError(`fast core capacity ladderTicks = ${t}: must be a power of two in ${MIN_LADDER_TICKS} … ${MAX_LADDER_TICKS}`);
  }
}

/** Smallest power of two ≥ 2 × maxOrders (load factor ≤ ½ keeps linear-probing chains short). */
function hashSlotsFor(maxOrders: number): number {
  let h = 16;
  while (h < 2 * maxOrders) h *= 2;
  return h;
}

export function layoutFor(c: FastCoreCapacities): FastCoreLayout {
  checkCapacities(c);
  const n = c.maxOrders;
  const s = c.maxSymbols;
  const t = c.ladderTicks;
  const hashSlots = hashSlotsFor(n);
  const wordsPerBook = t / 32;
  const summaryWordsPerBook = Math.ceil(wordsPerBook / 32);
  let at = 0;
  const region = (bytes: number): number => {
    const start = at;
    at = Math.ceil((at + bytes) / REGION_ALIGN) * REGION_ALIGN;
    return start;
  };
  const risk = c.risk !== undefined;
  const layout: FastCoreLayout = {
    capacities: { maxOrders: n, maxSymbols: s, ladderTicks: t, ...(risk ? { risk: c.risk } : {}) },
    hashSlots,
    wordsPerBook,
    summaryWordsPerBook,
    header: region(HEADER_BYTES),
    orderId: region(8 * n),
    orderQty: region(8 * n),
    orderNext: region(4 * n),
    orderPrev: region(4 * n),
    orderLevel: region(4 * n),
    orderSym: region(4 * n),
    levelPrice: region(8 * n),
    levelHead: region(4 * n),
    levelTail: region(4 * n),
    levelBetter: region(4 * n),
    levelWorse: region(4 * n),
    levelSide: region(n),
    idTable: region(8 * hashSlots),
    bookBase: region(8 * s),
    bookBest: region(4 * 2 * s),
    bookWorst: region(4 * 2 * s),
    bookLevels: region(4 * s),
    bookOutside: region(4 * s),
    bookRebaseAt: region(4 * s),
    ladder: region(4 * s * t),
    occupancy: region(4 * s * wordsPerBook),
    summary: region(4 * s * summaryWordsPerBook),
    riskGlobal: risk ? region(8 * RISK_GLOBAL_F64S) : -1,
    riskSymbol: risk ? region(8 * s * RISK_SYMBOL_F64S) : -1,
    orderOwner: risk ? region(8 * n) : -1,
    ownerKey: risk ? region(8 * hashSlots) : -1,
    ownerCount: risk ? region(4 * hashSlots) : -1,
    totalBytes: 0,
  };
  const totalBytes = at;
  if (totalBytes > MAX_CORE_BYTES) {
    throw new RangeError(
      `fast core capacities maxOrders = ${n}, maxSymbols = ${s}, ladderTicks = ${t} need ${totalBytes} bytes, more than the ${MAX_CORE_BYTES}-byte limit ` +
        '(lower ladderTicks or maxSymbols first: the ladders take maxSymbols × ladderTicks × 4 bytes)',
    );
  }
  return { ...layout, totalBytes };
}

/** Bytes a core with these capacities occupies (the size of buffer to hand to `FastCore.create`). */
export function bytesFor(c: FastCoreCapacities): number {
  return layoutFor(c).totalBytes;
}
