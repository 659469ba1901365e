/**
 * Fixed-size binary event records: what the fast core writes into its preallocated output buffer and what every
 * cross-thread design carries back to the client, so no event becomes a JS object until something wants to read it.
 *
 *   byte  0      1       2      3      4..7        8..15      16..23         24..31     32..39     40..47
 *       +------+-------+------+------+-----------+----------+--------------+----------+----------+----------+
 *       | kind |reason | side |flags | sym (u32) | seq (f64)| id/taker(f64)|maker(f64)|price(f64)| qty (f64)|
 *       +------+-------+------+------+-----------+----------+--------------+----------+----------+----------+
 *
 * `sym` is the index into the workload's symbol table, or NO_SYMBOL for a clock's reject (sym ""). Unused fields are 0.
 * `seq` is the workload index of the command that emitted the event.
 * `flags`: bit 7 (EV_FLAG_ENDS_COMMAND) marks the last event of its command, which then needs no completion record
 * after it (engines/completion-record.ts); the other bits are 0 on every delivered record (a design may tag records
 * with them inside its own rings: sharded's clock parts, engines/sharded-layout.ts). Events compare, decode and
 * encode without it: it is delivery framing, not part of the event.
 * The breaker's `limit` and `halted` carry `until` in the maker slot (EV_F64_UNTIL); its events' id slot is 0.
 */
import type { CancelReason, MatchEvent, RejectReason, Side } from './types.ts';
import { NO_SYMBOL } from '../workloads/workload.ts';

export const EVENT_BYTES = 48;
export const EVENT_F64S = EVENT_BYTES / 8;
export const EV_OFF_KIND = 0;
export const EV_OFF_REASON = 1;
export const EV_OFF_SIDE = 2;
export const EV_OFF_FLAGS = 3;
/** In `flags`: this record is its command's last (engines/completion-record.ts). */
export const EV_FLAG_ENDS_COMMAND = 0x80;
export const EV_OFF_SYM = 4;
/** Float64 indexes inside an event record. */
export const EV_F64_SEQ = 1;
export const EV_F64_ID = 2;
export const EV_F64_MAKER = 3;
export const EV_F64_PRICE = 4;
export const EV_F64_QTY = 5;
/** `limit` / `halted`: the engine time (µs) the state lasts until, in the maker slot. */
export const EV_F64_UNTIL = EV_F64_MAKER;

export const EV_RESTED = 1;
export const EV_FILL = 2;
export const EV_CANCELLED = 3;
export const EV_REDUCED = 4;
export const EV_MODIFIED = 5;
export const EV_REJECTED = 6;
export const EV_LIMIT = 7;
export const EV_HALTED = 8;
export const EV_RESUMED = 9;

/** Reason codes: cancel reasons and reject reasons share one byte. */
export const REASON_NONE = 0;
export const REASON_USER = 1;
export const REASON_IOC = 2;
export const REASON_FOK = 3;
export const REASON_DUPLICATE_ID = 4;
export const REASON_UNKNOWN_ORDER = 5;
export const REASON_INVALID_QTY = 6;
export const REASON_INVALID_PRICE = 7;
export const REASON_INVALID_COMMAND = 8;
/** Cancel reason of a taker the breaker stopped, and the reason of a `halted`. */
export const REASON_BAND = 9;
export const REASON_HALTED = 10;
export const REASON_RISK_MAX_QTY = 11;
export const REASON_RISK_MAX_NOTIONAL = 12;
export const REASON_RISK_PRICE_BAND = 13;
export const REASON_RISK_MAX_OPEN_ORDERS = 14;

/** Same codes as workloads/workload.ts SIDE_BUY / SIDE_SELL. */
const EV_SIDE_BUY = 1;
const EV_SIDE_SELL = 2;

/** Reason names by code, and codes by name (both directions from one table). */
const REASON_NAMES: readonly (CancelReason | RejectReason | undefined)[] = [
  undefined, 'user', 'ioc', 'fok', 'duplicate_id', 'unknown_order', 'invalid_qty', 'invalid_price', 'invalid_command',
  'band', 'halted', 'risk_max_qty', 'risk_max_notional', 'risk_price_band', 'risk_max_open_orders',
];
const CANCEL_REASONS: ReadonlySet<string> = new Set<CancelReason>(['user', 'ioc', 'fok', 'band']);
export const REASON_CODE: Readonly<Record<CancelReason | RejectReason, number>> = Object.fromEntries(
  REASON_NAMES.flatMap((name, code) => (name === undefined ? [] : [[name, code]])),
) as Record<CancelReason | RejectReason, number>;

function sideName(code: number, where: number): Side {
  if (code === EV_SIDE_BUY) return 'buy';
  if (code === EV_SIDE_SELL) return 'sell';
  throw new Error(`event record ${where}: side code ${code}`);
}

/**
 * Writes one event record at record index `i` of a buffer viewed as bytes, u32 words and f64s.
 * The fast core has its own inlined writer; this one is for designs and tests.
 */
export function writeEventRecord(
  bytes: Uint8Array, words: Uint32Array, f64: Float64Array, i: number,
  kind: number, reason: number, side: number, sym: number, seq: number, id: number, maker: number, price: number, qty: number,
): void {
  const b = i * EVENT_BYTES;
  bytes[b + EV_OFF_KIND] = kind;
  bytes[b + EV_OFF_REASON] = reason;
  bytes[b + EV_OFF_SIDE] = side;
  bytes[b + EV_OFF_FLAGS] = 0;
  words[(b + EV_OFF_SYM) >> 2] = sym;
  const f = i * EVENT_F64S;
  f64[f + EV_F64_SEQ] = seq;
  f64[f + EV_F64_ID] = id;
  f64[f + EV_F64_MAKER] = maker;
  f64[f + EV_F64_PRICE] = price;
  f64[f + EV_F64_QTY] = qty;
}

/** Writes event object `e` as record `i` (the inverse of decodeEventRecord), its symbol given as index `sym`. */
export function encodeEventRecord(bytes: Uint8Array, words: Uint32Array, f64: Float64Array, i: number, e: MatchEvent, sym: number): void {
  let id = 0;
  let maker = 0;
  let price = 0;
  let qty = 0;
  let side = 0;
  let reason = REASON_NONE;
  let kind: number;
  switch (e.ev) {
    case 'rested':
      kind = EV_RESTED; id = e.id; side = sideCode(e.side); price = e.price; qty = e.qty;
      break;
    case 'fill':
      kind = EV_FILL; id = e.taker; maker = e.maker; side = sideCode(e.side); price = e.price; qty = e.qty;
      break;
    case 'cancelled':
      kind = EV_CANCELLED; id = e.id; qty = e.qty; reason = REASON_CODE[e.reason];
      break;
    case 'reduced':
      kind = EV_REDUCED; id = e.id; qty = e.qty;
      break;
    case 'modified':
      kind = EV_MODIFIED; id = e.id; price = e.price; qty = e.qty;
      break;
    case 'rejected':
      kind = EV_REJECTED; id = e.id; reason = REASON_CODE[e.reason];
      break;
    case 'limit':
      kind = EV_LIMIT; side = sideCode(e.side); price = e.price; maker = e.until;
      break;
    case 'halted':
      kind = EV_HALTED; reason = REASON_BAND; maker = e.until;
      break;
    case 'resumed':
      kind = EV_RESUMED;
      break;
  }
  writeEventRecord(bytes, words, f64, i, kind, reason, side, sym, e.seq, id, maker, price, qty);
}

function sideCode(side: Side): number {
  return side === 'buy' ? EV_SIDE_BUY : EV_SIDE_SELL;
}

/** Turns the event record at index `i` into the same object the reference engine emits. */
export function decodeEventRecord(bytes: Uint8Array, words: Uint32Array, f64: Float64Array, i: number, symbols: readonly string[]): MatchEvent {
  const b = i * EVENT_BYTES;
  const f = i * EVENT_F64S;
  const kind = bytes[b + EV_OFF_KIND]!;
  const reasonCode = bytes[b + EV_OFF_REASON]!;
  const symIndex = words[(b + EV_OFF_SYM) >> 2]!;
  const sym = symIndex === NO_SYMBOL ? '' : symbols[symIndex];
  if (sym === undefined) throw new Error(`event record ${i}: symbol index ${symIndex} outside a table of ${symbols.length}`);
  const seq = f64[f + EV_F64_SEQ]!;
  const id = f64[f + EV_F64_ID]!;
  const price = f64[f + EV_F64_PRICE]!;
  const qty = f64[f + EV_F64_QTY]!;
  switch (kind) {
    case EV_RESTED:
      return { seq, ev: 'rested', sym, id, side: sideName(bytes[b + EV_OFF_SIDE]!, i), price, qty };
    case EV_FILL:
      return { seq, ev: 'fill', sym, taker: id, maker: f64[f + EV_F64_MAKER]!, price, qty, side: sideName(bytes[b + EV_OFF_SIDE]!, i) };
    case EV_CANCELLED: {
      const reason = REASON_NAMES[reasonCode];
      if (reason === undefined || !CANCEL_REASONS.has(reason)) throw new Error(`event record ${i}: cancel reason code ${reasonCode}`);
      return { seq, ev: 'cancelled', sym, id, qty, reason: reason as CancelReason };
    }
    case EV_REDUCED:
      return { seq, ev: 'reduced', sym, id, qty };
    case EV_MODIFIED:
      return { seq, ev: 'modified', sym, id, price, qty };
    case EV_REJECTED: {
      const reason = REASON_NAMES[reasonCode];
      if (reason === undefined || CANCEL_REASONS.has(reason)) throw new Error(`event record ${i}: reject reason code ${reasonCode}`);
      return { seq, ev: 'rejected', sym, id, reason: reason as RejectReason };
    }
    case EV_LIMIT:
      return { seq, ev: 'limit', sym, side: sideName(bytes[b + EV_OFF_SIDE]!, i), price, until: f64[f + EV_F64_UNTIL]! };
    case EV_HALTED:
      if (reasonCode !== REASON_BAND) throw new Error(`event record ${i}: halt reason code ${reasonCode}`);
      return { seq, ev: 'halted', sym, reason: 'band', until: f64[f + EV_F64_UNTIL]! };
    case EV_RESUMED:
      return { seq, ev: 'resumed', sym };
    default:
      throw new Error(`event record ${i}: unknown event kind ${kind}`);
  }
}
