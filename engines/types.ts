/**
 * The public contract of matchbench: commands in, events out.
 *
 * Users' scripts read and write these shapes as NDJSON (see README, "Command NDJSON" and "Event NDJSON"), so the
 * field names, their order in `formatEvent`, and the reject reasons are stable API.
 *
 * Numeric fields are plain numbers because a command may arrive malformed (a fractional or missing quantity, say)
 * and the engine, not the parser, is the one that rejects it with a reason. A missing number is `NaN`.
 */

export type Side = 'buy' | 'sell';
export type OrderType = 'limit' | 'market';
export type TimeInForce = 'gtc' | 'ioc' | 'fok';

export interface NewOrderCommand {
  readonly op: 'new';
  readonly sym: string;
  readonly id: number;
  readonly side: Side;
  readonly type: OrderType;
  /** Limit orders only; market orders are IOC at any price and carry no tif. */
  readonly tif?: TimeInForce;
  /** Integer ticks; limit orders only. */
  readonly price?: number;
  /** Integer lots. */
  readonly qty: number;
  readonly owner?: number;
}

export interface CancelCommand {
  readonly op: 'cancel';
  readonly sym: string;
  readonly id: number;
}

export interface ReduceCommand {
  readonly op: 'reduce';
  readonly sym: string;
  readonly id: number;
  readonly qty: number;
}

export interface ModifyCommand {
  readonly op: 'modify';
  readonly sym: string;
  readonly id: number;
  readonly price: number;
  readonly qty: number;
}

/**
 * A line that could not be read as any command. It still takes a sequence number, and the engine answers it with
 * `rejected`/`invalid_command`, so one bad line never shifts or loses the commands after it.
 * `sym` is "" and `id` is 0 when the input had no usable value for them.
 */
export interface InvalidCommand {
  readonly op: 'invalid';
  readonly sym: string;
  readonly id: number;
}

/**
 * Moves the engine's time forward to `ts`, microseconds since the Unix epoch (an integer, exact in an f64). Time is
 * an input like any command (sequenced and journaled), so every replay sees the same times; the engine never reads a
 * wall clock. A `ts` behind the engine's time (or not a non-negative safe integer) is rejected `invalid_command`,
 * with `sym` "" and `id` 0; an accepted clock emits no event unless something expires at the new time: a breaker's
 * limit state or pause ending is announced by the clock that reaches it (engines/reference.ts "Expiry").
 */
export interface ClockCommand {
  readonly op: 'clock';
  readonly ts: number;
}

export type Command = NewOrderCommand | CancelCommand | ReduceCommand | ModifyCommand | InvalidCommand | ClockCommand;
/** The commands that name an order book (every command but `clock`). */
export type OrderCommand = Exclude<Command, ClockCommand>;

/** `band`: the circuit breaker stopped a taker at its band (risk/rules.ts, README "Risk rules and the breaker"). */
export type CancelReason = 'user' | 'ioc' | 'fok' | 'band';
export type RejectReason =
  | 'duplicate_id' | 'unknown_order' | 'invalid_qty' | 'invalid_price' | 'invalid_command'
  | 'halted' | 'risk_max_qty' | 'risk_max_notional' | 'risk_price_band' | 'risk_max_open_orders';
export const REJECT_REASONS: readonly RejectReason[] = [
  'duplicate_id', 'unknown_order', 'invalid_qty', 'invalid_price', 'invalid_command',
  'halted', 'risk_max_qty', 'risk_max_notional', 'risk_price_band', 'risk_max_open_orders',
];

export interface RestedEvent {
  readonly seq: number;
  readonly ev: 'rested';
  readonly sym: string;
  readonly id: number;
  readonly side: Side;
  readonly price: number;
  readonly qty: number;
}

export interface FillEvent {
  readonly seq: number;
  readonly ev: 'fill';
  readonly sym: string;
  readonly taker: number;
  readonly maker: number;
  /** Always the maker's resting price. */
  readonly price: number;
  readonly qty: number;
  /** The taker's side. */
  readonly side: Side;
}

export interface CancelledEvent {
  readonly seq: number;
  readonly ev: 'cancelled';
  readonly sym: string;
  readonly id: number;
  /** The quantity that left the book or was never executed. */
  readonly qty: number;
  readonly reason: CancelReason;
}

export interface ReducedEvent {
  readonly seq: number;
  readonly ev: 'reduced';
  readonly sym: string;
  readonly id: number;
  /** The new remaining quantity. */
  readonly qty: number;
}

export interface ModifiedEvent {
  readonly seq: number;
  readonly ev: 'modified';
  readonly sym: string;
  readonly id: number;
  readonly price: number;
  readonly qty: number;
}

export interface RejectedEvent {
  readonly seq: number;
  readonly ev: 'rejected';
  readonly sym: string;
  /** The command's id when it was a finite number, else 0. */
  readonly id: number;
  readonly reason: RejectReason;
}

/**
 * The breaker stopped a taker at a band edge: the symbol is in its limit state until `until` (engine µs). `side` is
 * the stopped taker's; `price` the band edge it met (the upper edge for a buyer, the lower for a seller).
 */
export interface LimitEvent {
  readonly seq: number;
  readonly ev: 'limit';
  readonly sym: string;
  readonly side: Side;
  readonly price: number;
  readonly until: number;
}

/** A trading pause: new orders and modifies are rejected `halted` until `until` (engine µs). */
export interface HaltedEvent {
  readonly seq: number;
  readonly ev: 'halted';
  readonly sym: string;
  readonly reason: 'band';
  readonly until: number;
}

/** The symbol trades normally again (its limit state resolved, or its pause ended). */
export interface ResumedEvent {
  readonly seq: number;
  readonly ev: 'resumed';
  readonly sym: string;
}

export type MatchEvent =
  | RestedEvent | FillEvent | CancelledEvent | ReducedEvent | ModifiedEvent | RejectedEvent | LimitEvent | HaltedEvent | ResumedEvent;
export type EventKind = MatchEvent['ev'];
export const EVENT_KINDS: readonly EventKind[] = ['rested', 'fill', 'cancelled', 'reduced', 'modified', 'rejected', 'limit', 'halted', 'resumed'];

/** Aggregated depth for one symbol, best level first on each side. Each level is [price, total qty]. */
export interface L2Snapshot {
  readonly bids: ReadonlyArray<readonly [number, number]>;
  readonly asks: ReadonlyArray<readonly [number, number]>;
}

/** Canonical NDJSON line for an event (no newline). Key order follows the README and never changes. */
export function formatEvent(e: MatchEvent): string {
  switch (e.ev) {
    case 'rested':
      return `{"seq":${e.seq},"ev":"rested","sym":${JSON.stringify(e.sym)},"id":${e.id},"side":"${e.side}","price":${e.price},"qty":${e.qty}}`;
    case 'fill':
      return `{"seq":${e.seq},"ev":"fill","sym":${JSON.stringify(e.sym)},"taker":${e.taker},"maker":${e.maker},"price":${e.price},"qty":${e.qty},"side":"${e.side}"}`;
    case 'cancelled':
      return `{"seq":${e.seq},"ev":"cancelled","sym":${JSON.stringify(e.sym)},"id":${e.id},"qty":${e.qty},"reason":"${e.reason}"}`;
    case 'reduced':
      return `{"seq":${e.seq},"ev":"reduced","sym":${JSON.stringify(e.sym)},"id":${e.id},"qty":${e.qty}}`;
    case 'modified':
      return `{"seq":${e.seq},"ev":"modified","sym":${JSON.stringify(e.sym)},"id":${e.id},"price":${e.price},"qty":${e.qty}}`;
    case 'rejected':
      return `{"seq":${e.seq},"ev":"rejected","sym":${JSON.stringify(e.sym)},"id":${e.id},"reason":"${e.reason}"}`;
    case 'limit':
      return `{"seq":${e.seq},"ev":"limit","sym":${JSON.stringify(e.sym)},"side":"${e.side}","price":${e.price},"until":${e.until}}`;
    case 'halted':
      return `{"seq":${e.seq},"ev":"halted","sym":${JSON.stringify(e.sym)},"reason":"${e.reason}","until":${e.until}}`;
    case 'resumed':
      return `{"seq":${e.seq},"ev":"resumed","sym":${JSON.stringify(e.sym)}}`;
  }
}

/**
 * A single-threaded matching engine that processes one sequenced command at a time: the reference engine and the
 * fast core both implement it, and it is what the differential tests and `npm run replay` drive.
 */
export interface BookEngine {
  readonly name: string;
  /** Processes `command` as sequence number `seq`; hands each resulting event to `emit`, in order. */
  process(command: Command, seq: number, emit: (event: MatchEvent) => void): void;
  /** Canonical hash of the whole book state (see engines/book-hash.ts); equal states give equal hashes. */
  bookHash(): string;
  /** Aggregated depth of one symbol, at most `depth` levels a side. */
  l2(sym: string, depth: number): L2Snapshot;
}
