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
 *   or is behind the engine's time, is rejected `invalid_command` (sym "", id 0). No event otherwise: nothing in
 *   the engine expires yet.
 */
import { BookHasher } from './book-hash.ts';
import type { BookEngine, Command, L2Snapshot, MatchEvent, OrderCommand, RejectReason, Side } from './types.ts';

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

class SymbolBook {
  /** Ascending by price: best (highest) bid last. */
  readonly bids: PriceLevel[] = [];
  /** Descending by price: best (lowest) ask last. */
  readonly asks: PriceLevel[] = [];
  readonly orders = new Map<number, RestingOrder>();

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
  }

  /** Takes a live order out of the book, dropping its level if it was the last order there. */
  remove(order: RestingOrder): void {
    const level = order.level;
    level.unlink(order);
    this.orders.delete(order.id);
    if (level.head === null) {
      const levels = this.levels(level.side);
      levels.splice(lowerBound(levels, level.key), 1);
    }
  }
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

  process(command: Command, seq: number, emit: (event: MatchEvent) => void): void {
    if (command.op === 'clock') {
      if (Number.isSafeInteger(command.ts) && command.ts >= this.time) this.time = command.ts;
      else emit({ seq, ev: 'rejected', sym: '', id: 0, reason: 'invalid_command' });
      return;
    }
    const reason = this.rejection(command);
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

  private isLive(sym: string, id: number): boolean {
    return this.books.get(sym)?.orders.has(id) ?? false;
  }

  private bookFor(sym: string): SymbolBook {
    let book = this.books.get(sym);
    if (book === undefined) {
      book = new SymbolBook();
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
    if (tif === 'fok' && !hasLiquidity(opposite, side, limit, qty)) {
      emit({ seq, ev: 'cancelled', sym, id, qty, reason: 'fok' });
      return;
    }
    let remaining = qty;
    while (remaining > 0) {
      const level = opposite[opposite.length - 1];
      if (level === undefined || !crosses(side, limit, level.price)) break;
      const maker = level.head!;
      const traded = Math.min(remaining, maker.remaining);
      remaining -= traded;
      emit({ seq, ev: 'fill', sym, taker: id, maker: maker.id, price: level.price, qty: traded, side });
      if (traded === maker.remaining) {
        book.remove(maker);
      } else {
        maker.remaining -= traded;
        level.total -= traded;
      }
    }
    if (remaining === 0) return;
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
export function runReference(commands: Iterable<Command>): { events: MatchEvent[]; hash: string } {
  const engine = new ReferenceEngine();
  const events: MatchEvent[] = [];
  const emit = (event: MatchEvent): void => {
    events.push(event);
  };
  let seq = 0;
  for (const command of commands) engine.process(command, seq++, emit);
  return { events, hash: engine.bookHash() };
}
