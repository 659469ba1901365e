/**
 * The reference engine: the oracle every other design is checked against.
 *
 * It trades speed for being obviously correct. Per symbol: two sorted arrays of price-level objects (binary search to
 * find a level), a doubly linked FIFO list of order objects per level (O(1) append, O(1) removal from anywhere), and an
 * id -> order map. It allocates freely (an object per order, level and event) and is single-threaded and deterministic:
 * the events depend only on the command stream.
 *
 * Semantics (README "Commands and events", issue 2):
 * - Price-time priority; the taker trades at the maker's price; a command's fills come in match order, then at most
 *   one `rested` (GTC remainder) or `cancelled` (IOC/market remainder, reason `ioc`).
 * - FOK fills completely or not at all: `cancelled` reason `fok` with the full qty, book untouched.
 * - cancel -> `cancelled` user; reduce by q -> `reduced` (q < remaining, priority kept) or `cancelled` user.
 * - modify to (price, qty): same price and qty <= remaining keeps priority (`modified`); otherwise `modified`, then the
 *   order re-enters as a GTC limit with the same id, side and owner, and may trade at once.
 * - Rejects leave the book unchanged. Checks run in this order: invalid_command (op 'invalid', id not a positive safe
 *   integer, owner present and not a positive safe integer), invalid_qty, invalid_price, then duplicate_id /
 *   unknown_order. Quantities and prices must be positive safe integers (beyond 2^53 integers are not exact).
 *   An owner of NaN counts as absent, as in the binary record where NaN encodes "no owner".
 * - clock ts: the engine's time becomes ts (microseconds; starts at 0); a ts that is not a non-negative safe integer,
 *   or is behind the engine's time, is rejected `invalid_command` (sym "", id 0). No event otherwise, unless a
 *   breaker deadline expires at the new time (below).
 * - Risk rules and the breaker (risk/rules.ts; off unless the engine is given rules), README "Risk rules and the
 *   breaker":
 *   - After the checks above, a `new` or `modify` is rejected, in this order: `halted` (the symbol is paused),
 *     `risk_max_qty` (qty > maxQty), `risk_max_notional` (limit price × qty > maxNotional), `risk_price_band` (limit
 *     price outside ref ± floor(ref × collarBps / 10⁴), ref = the symbol's last trade price, else its configured
 *     referencePrice, else no collar), `risk_max_open_orders` (a new GTC limit order of an owner who already has
 *     maxOpenOrders resting orders; orders without an owner are not counted). Market orders have no price: only
 *     maxQty applies to them. Cancels and reduces are never risk-checked, and work while halted.
 *   - Breaker, per symbol with breakerBps: when an order that crosses the book enters matching, the reference is the
 *     mean (floor) of the symbol's trade prices in the sub-windows of the last windowUs (BREAKER_SUBWINDOWS of them,
 *     the current one included), or, with no such trade, that mean as of its last trade (its referencePrice before
 *     any). An order that crosses nothing trades nothing, so no band applies to it. The band is
 *     ref ± floor(ref × breakerBps / 10⁴). The taker trades only at prices inside the band; when it stops because
 *     the next maker lies beyond the band (but within the taker's own limit), its remainder is `cancelled` reason
 *     `band` (GTC included: it would rest crossed), and a symbol in the normal state enters its limit state:
 *     `limit` {side, price: the band edge, until: time + limitStateUs}. A FOK counts only liquidity inside the band
 *     (so it never stops at the band, and never starts a limit state).
 *   - Expiry comes with time: the clock that moves engine time to ≥ `until` announces it, symbols in code-unit order
 *     of their names (a symbol whose limit state and pause both end at that clock gets both events). A limit state
 *     ending with no opposite liquidity at or inside its edge (no ask ≤ edge after a buyer was stopped; no bid ≥
 *     edge after a seller) becomes a pause: `halted` {reason band, until: the limit state's until + pauseUs};
 *     otherwise, and when a pause ends, `resumed`. Time moves only by clocks, so no other command meets a deadline.
 */
import { BookHasher } from './book-hash.ts';
import type { BookEngine, Command, L2Snapshot, MatchEvent, OrderCommand, RejectReason, Side } from './types.ts';
import { BREAKER_SUBWINDOWS, compareNames, limitsFor, NO_LIMITS, type BreakerTiming, type RiskRules, type SymbolLimits } from '../risk/rules.ts';

interface RestingOrder {
  readonly id: number;
  readonly side: Side;
  readonly owner: number | undefined;
  remaining: number;
  readonly level: PriceLevel;
  prev: RestingOrder | null;
  next: RestingOrder | null;
}

/** One price on one side: its orders as a FIFO doubly linked list, and their total for L2. */
class PriceLevel {
  readonly side: Side;
  readonly price: number;
  /** Sort key: levels of both sides are kept ascending by key, so the best level is always the last element. */
  readonly key: number;
  head: RestingOrder | null = null;
  tail: RestingOrder | null = null;
  total = 0;

  constructor(side: Side, price: number) {
    this.side = side;
    this.price = price;
    this.key = levelKey(side, price);
  }

  append(order: RestingOrder): void {
    order.prev = this.tail;
    order.next = null;
    if (this.tail === null) this.head = order;
    else this.tail.next = order;
    this.tail = order;
    this.total += order.remaining;
  }

  unlink(order: RestingOrder): void {
    if (order.prev === null) this.head = order.next;
    else order.prev.next = order.next;
    if (order.next === null) this.tail = order.prev;
    else order.next.prev = order.prev;
    order.prev = null;
    order.next = null;
    this.total -= order.remaining;
  }
}

/** Bids rank by price, asks by negated price: ascending key order puts the best level last on both sides. */
function levelKey(side: Side, price: number): number {
  return side === 'buy' ? price : -price;
}

/** Index of the first level whose key is >= `key` (levels.length when none). */
function lowerBound(levels: readonly PriceLevel[], key: number): number {
  let lo = 0;
  let hi = levels.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (levels[mid]!.key < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** One sub-window of the breaker's reference: the trades of engine-time bucket `bucket` (time / sub-window µs). */
interface TradeBucket {
  bucket: number;
  sum: number;
  count: number;
}

type BreakerState = 'normal' | 'limit' | 'halted';

class SymbolBook {
  /** Ascending by price: best (highest) bid last. */
  readonly bids: PriceLevel[] = [];
  /** Descending by price: best (lowest) ask last. */
  readonly asks: PriceLevel[] = [];
  readonly orders = new Map<number, RestingOrder>();
  readonly limits: SymbolLimits;
  /** Resting orders per owner, shared by all books of the engine. */
  readonly openByOwner: Map<number, number>;
  /** Price of the symbol's last trade (0 before any): the collar's reference. */
  lastTrade = 0;
  /** The breaker's last reference price (0: none yet). */
  reference: number;
  readonly buckets: TradeBucket[] = Array.from({ length: BREAKER_SUBWINDOWS }, () => ({ bucket: -1, sum: 0, count: 0 }));
  state: BreakerState = 'normal';
  /** End of the limit state or pause (engine µs). */
  until = 0;
  /** The limit state's stopped side and band edge. */
  limitSide: Side = 'buy';
  limitEdge = 0;

  constructor(limits: SymbolLimits, openByOwner: Map<number, number>) {
    this.limits = limits;
    this.openByOwner = openByOwner;
    this.reference = limits.referencePrice;
  }

  levels(side: Side): PriceLevel[] {
    return side === 'buy' ? this.bids : this.asks;
  }

  /** Appends a new order at the back of its price level, creating the level if needed. */
  rest(id: number, side: Side, price: number, qty: number, owner: number | undefined): void {
    const levels = this.levels(side);
    const key = levelKey(side, price);
    const at = lowerBound(levels, key);
    let level = levels[at];
    if (level === undefined || level.key !== key) {
      level = new PriceLevel(side, price);
      levels.splice(at, 0, level);
    }
    const order: RestingOrder = { id, side, owner, remaining: qty, level, prev: null, next: null };
    level.append(order);
    this.orders.set(id, order);
    if (owner !== undefined) this.openByOwner.set(owner, (this.openByOwner.get(owner) ?? 0) + 1);
  }

  /** Takes a live order out of the book, dropping its level if it was the last order there. */
  remove(order: RestingOrder): void {
    const level = order.level;
    level.unlink(order);
    this.orders.delete(order.id);
    if (order.owner !== undefined) this.openByOwner.set(order.owner, this.openByOwner.get(order.owner)! - 1);
    if (level.head === null) {
      const levels = this.levels(level.side);
      levels.splice(lowerBound(levels, level.key), 1);
    }
  }

  /** The best opposite level a taker on `side` meets, if any. */
  bestOpposite(side: Side): PriceLevel | undefined {
    const opposite = this.levels(side === 'buy' ? 'sell' : 'buy');
    return opposite[opposite.length - 1];
  }
}

/** ref ± floor(ref × bps / 10⁴) as [low, high]. */
function bandAround(ref: number, bps: number): readonly [number, number] {
  const half = Math.floor((ref * bps) / 10_000);
  return [ref - half, ref + half];
}

function isPositiveSafeInteger(x: number | undefined): boolean {
  return x !== undefined && Number.isSafeInteger(x) && x > 0;
}

/** Does a resting level at `price` cross a taker on `takerSide` with limit `limit` (undefined: market, any price)? */
function crosses(takerSide: Side, limit: number | undefined, price: number): boolean {
  if (limit === undefined) return true;
  return takerSide === 'buy' ? price <= limit : price >= limit;
}

export class ReferenceEngine implements BookEngine {
  readonly name = 'reference';
  private readonly books = new Map<string, SymbolBook>();
  /** Engine time, µs since the Unix epoch: the last accepted clock's ts. */
  private time = 0;
  private readonly rules: RiskRules | null;
  private readonly breaker: BreakerTiming | null;
  private readonly openByOwner = new Map<number, number>();

  /** `rules`: the risk rules and breaker to apply (risk/rules.ts); none by default. */
  constructor(rules: RiskRules | null = null) {
    this.rules = rules;
    this.breaker = rules?.breaker ?? null;
  }

  process(command: Command, seq: number, emit: (event: MatchEvent) => void): void {
    if (command.op === 'clock') {
      if (!(Number.isSafeInteger(command.ts) && command.ts >= this.time)) {
        emit({ seq, ev: 'rejected', sym: '', id: 0, reason: 'invalid_command' });
        return;
      }
      this.time = command.ts;
      if (this.breaker !== null) this.expire(seq, emit);
      return;
    }
    const reason = this.rejection(command) ?? this.riskRejection(command);
    if (reason !== null) {
      emit({ seq, ev: 'rejected', sym: command.sym, id: Number.isFinite(command.id) ? command.id : 0, reason });
      return;
    }
    const { sym, id } = command;
    switch (command.op) {
      case 'new': {
        const limit = command.type === 'limit' ? command.price : undefined;
        const tif = command.type === 'market' ? 'ioc' : (command.tif ?? 'gtc');
        this.enter(sym, id, command.side, limit, tif, command.qty, ownerOf(command.owner), seq, emit);
        return;
      }
      case 'cancel': {
        const book = this.books.get(sym)!;
        const order = book.orders.get(id)!;
        book.remove(order);
        emit({ seq, ev: 'cancelled', sym, id, qty: order.remaining, reason: 'user' });
        return;
      }
      case 'reduce': {
        const book = this.books.get(sym)!;
        const order = book.orders.get(id)!;
        if (command.qty < order.remaining) {
          order.remaining -= command.qty;
          order.level.total -= command.qty;
          emit({ seq, ev: 'reduced', sym, id, qty: order.remaining });
        } else {
          book.remove(order);
          emit({ seq, ev: 'cancelled', sym, id, qty: order.remaining, reason: 'user' });
        }
        return;
      }
      case 'modify': {
        const book = this.books.get(sym)!;
        const order = book.orders.get(id)!;
        const { price, qty } = command;
        if (price === order.level.price && qty <= order.remaining) {
          order.level.total -= order.remaining - qty;
          order.remaining = qty;
          emit({ seq, ev: 'modified', sym, id, price, qty });
        } else {
          book.remove(order);
          emit({ seq, ev: 'modified', sym, id, price, qty });
          this.enter(sym, id, order.side, price, 'gtc', qty, order.owner, seq, emit);
        }
        return;
      }
      case 'invalid':
        throw new Error(`seq ${seq}: an invalid command passed validation`);
    }
  }

  bookHash(): string {
    const hasher = new BookHasher();
    const symbols = [...this.books.keys()].filter((sym) => this.books.get(sym)!.orders.size > 0).sort();
    for (const sym of symbols) {
      const book = this.books.get(sym)!;
      hasher.symbol(sym);
      for (const levels of [book.bids, book.asks]) {
        for (let i = levels.length - 1; i >= 0; i--) {
          const level = levels[i]!;
          hasher.level(level.side, level.price);
          for (let order = level.head; order !== null; order = order.next) hasher.order(order.id, order.remaining);
        }
      }
    }
    return hasher.digest();
  }

  l2(sym: string, depth: number): L2Snapshot {
    const book = this.books.get(sym);
    if (book === undefined) return { bids: [], asks: [] };
    return { bids: topLevels(book.bids, depth), asks: topLevels(book.asks, depth) };
  }

  /** Why `command` must be rejected, or null; the order of the checks is part of the contract. */
  private rejection(command: OrderCommand): RejectReason | null {
    if (command.op === 'invalid' || !isPositiveSafeInteger(command.id)) return 'invalid_command';
    switch (command.op) {
      case 'new':
        if (command.owner !== undefined && !Number.isNaN(command.owner) && !isPositiveSafeInteger(command.owner)) return 'invalid_command';
        if (!isPositiveSafeInteger(command.qty)) return 'invalid_qty';
        if (command.type === 'limit' && !isPositiveSafeInteger(command.price)) return 'invalid_price';
        return this.isLive(command.sym, command.id) ? 'duplicate_id' : null;
      case 'cancel':
        return this.isLive(command.sym, command.id) ? null : 'unknown_order';
      case 'reduce':
        if (!isPositiveSafeInteger(command.qty)) return 'invalid_qty';
        return this.isLive(command.sym, command.id) ? null : 'unknown_order';
      case 'modify':
        if (!isPositiveSafeInteger(command.qty)) return 'invalid_qty';
        if (!isPositiveSafeInteger(command.price)) return 'invalid_price';
        return this.isLive(command.sym, command.id) ? null : 'unknown_order';
    }
  }

  /** Why the risk rules or the breaker refuse a valid `new` or `modify`, or null (README order). */
  private riskRejection(command: OrderCommand): RejectReason | null {
    if (this.rules === null || (command.op !== 'new' && command.op !== 'modify')) return null;
    const book = this.books.get(command.sym);
    if (book?.state === 'halted') return 'halted';
    const limits = book?.limits ?? limitsFor(this.rules, command.sym);
    const price = command.op === 'modify' || command.type === 'limit' ? command.price : undefined;
    if (limits.maxQty !== 0 && command.qty > limits.maxQty) return 'risk_max_qty';
    if (price !== undefined) {
      if (limits.maxNotional !== 0 && price * command.qty > limits.maxNotional) return 'risk_max_notional';
      const ref = book?.lastTrade || limits.referencePrice;
      if (limits.collarBps !== 0 && ref !== 0) {
        const [low, high] = bandAround(ref, limits.collarBps);
        if (price < low || price > high) return 'risk_price_band';
      }
    }
    if (command.op === 'new' && this.rules.maxOpenOrders !== 0 && command.type === 'limit' && (command.tif ?? 'gtc') === 'gtc') {
      const owner = ownerOf(command.owner);
      if (owner !== undefined && (this.openByOwner.get(owner) ?? 0) >= this.rules.maxOpenOrders) return 'risk_max_open_orders';
    }
    return null;
  }

  /** At a clock: announces every breaker deadline engine time has reached, symbols in name order (module header). */
  private expire(seq: number, emit: (event: MatchEvent) => void): void {
    const due: string[] = [];
    for (const [sym, book] of this.books) if (book.state !== 'normal' && this.time >= book.until) due.push(sym);
    due.sort(compareNames);
    for (const sym of due) this.settle(sym, this.books.get(sym)!, seq, emit);
  }

  /** Announces the limit state or pause of `book` that engine time has reached. */
  private settle(sym: string, book: SymbolBook, seq: number, emit: (event: MatchEvent) => void): void {
    if (book.state === 'limit' && this.time >= book.until) {
      const best = book.bestOpposite(book.limitSide);
      const stillBeyond = best === undefined || (book.limitSide === 'buy' ? best.price > book.limitEdge : best.price < book.limitEdge);
      if (!stillBeyond) {
        book.state = 'normal';
        emit({ seq, ev: 'resumed', sym });
        return;
      }
      book.state = 'halted';
      book.until += this.breaker!.pauseUs;
      emit({ seq, ev: 'halted', sym, reason: 'band', until: book.until });
    }
    if (book.state === 'halted' && this.time >= book.until) {
      book.state = 'normal';
      emit({ seq, ev: 'resumed', sym });
    }
  }

  /** The breaker's band for a taker entering `book` now, or null (no breaker, or no reference yet). */
  private band(book: SymbolBook): readonly [number, number] | null {
    if (this.breaker === null || book.limits.breakerBps === 0) return null;
    const mean = this.windowMean(book);
    const ref = mean ?? book.reference;
    return ref === 0 ? null : bandAround(ref, book.limits.breakerBps);
  }

  /** Floor of the mean trade price of `book`'s window at the engine's time, or null when it holds no trade. */
  private windowMean(book: SymbolBook): number | null {
    const current = Math.floor(this.time / (this.breaker!.windowUs / BREAKER_SUBWINDOWS));
    let sum = 0;
    let count = 0;
    for (const b of book.buckets) {
      if (b.bucket > current - BREAKER_SUBWINDOWS && b.bucket <= current) {
        sum += b.sum;
        count += b.count;
      }
    }
    return count > 0 ? Math.floor(sum / count) : null;
  }

  /** A trade at `price`: the collar's last price and, with a breaker, the reference window's current sub-window. */
  private recordTrade(book: SymbolBook, price: number): void {
    book.lastTrade = price;
    if (this.breaker === null) return;
    const current = Math.floor(this.time / (this.breaker.windowUs / BREAKER_SUBWINDOWS));
    const b = book.buckets[current % BREAKER_SUBWINDOWS]!;
    if (b.bucket !== current) {
      b.bucket = current;
      b.sum = 0;
      b.count = 0;
    }
    b.sum += price;
    b.count++;
    // What the reference stays at once the window empties: the mean as of this trade.
    book.reference = this.windowMean(book)!;
  }

  private isLive(sym: string, id: number): boolean {
    return this.books.get(sym)?.orders.has(id) ?? false;
  }

  private bookFor(sym: string): SymbolBook {
    let book = this.books.get(sym);
    if (book === undefined) {
      book = new SymbolBook(this.rules === null ? NO_LIMITS : limitsFor(this.rules, sym), this.openByOwner);
      this.books.set(sym, book);
    }
    return book;
  }

  /**
   * An aggressive order entering the book (a new order, or a modified one re-entering): FOK check, matching, then the
   * remainder rests (gtc) or is cancelled (ioc; market orders arrive here as ioc with no limit).
   */
  private enter(sym: string, id: number, side: Side, limit: number | undefined, tif: 'gtc' | 'ioc' | 'fok', qty: number, owner: number | undefined, seq: number, emit: (event: MatchEvent) => void): void {
    const book = this.bookFor(sym);
    const opposite = book.levels(side === 'buy' ? 'sell' : 'buy');
    // Only a taker that meets the book can trade, so only it is held to the band.
    const best = opposite[opposite.length - 1];
    const band = best !== undefined && crosses(side, limit, best.price) ? this.band(book) : null;
    // The taker trades only inside the band: its limit, tightened to the band edge on its side.
    const bandLimit = band === null ? limit : side === 'buy' ? Math.min(limit ?? Infinity, band[1]) : Math.max(limit ?? -Infinity, band[0]);
    if (tif === 'fok' && !hasLiquidity(opposite, side, bandLimit, qty)) {
      emit({ seq, ev: 'cancelled', sym, id, qty, reason: 'fok' });
      return;
    }
    let remaining = qty;
    while (remaining > 0) {
      const level = opposite[opposite.length - 1];
      if (level === undefined || !crosses(side, bandLimit, level.price)) break;
      const maker = level.head!;
      const traded = Math.min(remaining, maker.remaining);
      remaining -= traded;
      emit({ seq, ev: 'fill', sym, taker: id, maker: maker.id, price: level.price, qty: traded, side });
      if (this.rules !== null) this.recordTrade(book, level.price);
      if (traded === maker.remaining) {
        book.remove(maker);
      } else {
        maker.remaining -= traded;
        level.total -= traded;
      }
    }
    if (remaining === 0) return;
    const next = opposite[opposite.length - 1];
    if (band !== null && next !== undefined && crosses(side, limit, next.price)) {
      // Stopped by the band, not by its own limit.
      emit({ seq, ev: 'cancelled', sym, id, qty: remaining, reason: 'band' });
      if (book.state === 'normal') {
        book.state = 'limit';
        book.until = this.time + this.breaker!.limitStateUs;
        book.limitSide = side;
        book.limitEdge = side === 'buy' ? band[1] : band[0];
        emit({ seq, ev: 'limit', sym, side, price: book.limitEdge, until: book.until });
      }
      return;
    }
    if (tif === 'gtc') {
      book.rest(id, side, limit!, remaining, owner);
      emit({ seq, ev: 'rested', sym, id, side, price: limit!, qty: remaining });
    } else {
      emit({ seq, ev: 'cancelled', sym, id, qty: remaining, reason: 'ioc' });
    }
  }
}

function ownerOf(owner: number | undefined): number | undefined {
  return owner === undefined || Number.isNaN(owner) ? undefined : owner;
}

/** Whether the levels that cross `limit` hold at least `qty` in total (the FOK test). */
function hasLiquidity(opposite: readonly PriceLevel[], takerSide: Side, limit: number | undefined, qty: number): boolean {
  let available = 0;
  for (let i = opposite.length - 1; i >= 0 && available < qty; i--) {
    const level = opposite[i]!;
    if (!crosses(takerSide, limit, level.price)) break;
    available += level.total;
  }
  return available >= qty;
}

function topLevels(levels: readonly PriceLevel[], depth: number): Array<readonly [number, number]> {
  const out: Array<readonly [number, number]> = [];
  for (let i = levels.length - 1; i >= 0 && out.length < depth; i--) {
    const level = levels[i]!;
    out.push([level.price, level.total]);
  }
  return out;
}

/** Replays `commands` through a fresh reference engine (seq = index): every event, in order, and the final book hash. */
export function runReference(commands: Iterable<Command>, rules: RiskRules | null = null): { events: MatchEvent[]; hash: string } {
  const engine = new ReferenceEngine(rules);
  const events: MatchEvent[] = [];
  const emit = (event: MatchEvent): void => {
    events.push(event);
  };
  let seq = 0;
  for (const command of commands) engine.process(command, seq++, emit);
  return { events, hash: engine.bookHash() };
}
