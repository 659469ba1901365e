/**
 * The LOBSTER importer's working copy of the book it is reconstructing (one symbol, order level).
 *
 * The importer decides which seeding, requeueing and trimming commands to add by looking at the exact FIFO queues the
 * replay will meet, so it keeps its own order-level book and applies to it every command it emits, with the matching
 * rules of the reference engine (price-time priority, the maker's price, reduce by q >= remaining removes the order).
 * Each order also carries what only the importer knows: the index of the message that names it next, whether it is a
 * placeholder for anonymous volume seen in the orderbook file, and its owner, so a requeued order re-enters unchanged.
 *
 * Trade-off: a second small book instead of reaching into the reference engine, whose public interface (rightly) shows
 * only L2 and a hash. It is never used to score anything: fidelity is measured by replaying through the reference
 * engine (workloads/fidelity.ts).
 */

/** LOBSTER's direction codes, used as the side: 1 = buy, -1 = sell. */
export type Direction = 1 | -1;

export class ModelOrder {
  readonly id: number;
  readonly dir: Direction;
  readonly price: number;
  size: number;
  /** Index of the next message that names this order, -1 when the message file never names it again. */
  nextRef: number;
  /** Anonymous volume the orderbook file showed and no message ever names (its id is synthetic). */
  readonly placeholder: boolean;
  /** The command's owner (NaN: none). */
  readonly owner: number;
  level: ModelLevel;
  prev: ModelOrder | null = null;
  next: ModelOrder | null = null;

  constructor(id: number, dir: Direction, price: number, size: number, nextRef: number, placeholder: boolean, owner: number, level: ModelLevel) {
    this.id = id;
    this.dir = dir;
    this.price = price;
    this.size = size;
    this.nextRef = nextRef;
    this.placeholder = placeholder;
    this.owner = owner;
    this.level = level;
  }
}

/** One price on one side: a FIFO doubly linked list of orders and their total. */
export class ModelLevel {
  readonly dir: Direction;
  readonly price: number;
  /** Ascending key order puts the best level last on both sides (bids by price, asks by negated price). */
  readonly key: number;
  head: ModelOrder | null = null;
  tail: ModelOrder | null = null;
  total = 0;

  constructor(dir: Direction, price: number) {
    this.dir = dir;
    this.price = price;
    this.key = priceKey(dir, price);
  }
}

/** Sort key of a price on a side: larger is better on both sides. */
export function priceKey(dir: Direction, price: number): number {
  return dir === 1 ? price : -price;
}

export class ReconstructionBook {
  private readonly bids: ModelLevel[] = [];
  private readonly asks: ModelLevel[] = [];
  private readonly orders = new Map<number, ModelOrder>();

  get(id: number): ModelOrder | undefined {
    return this.orders.get(id);
  }

  /** The levels of one side in ascending key order: the best level is the last element. */
  levels(dir: Direction): readonly ModelLevel[] {
    return dir === 1 ? this.bids : this.asks;
  }

  level(dir: Direction, price: number): ModelLevel | undefined {
    const levels = this.levels(dir);
    const key = priceKey(dir, price);
    const at = lowerBound(levels, key);
    const level = levels[at];
    return level !== undefined && level.key === key ? level : undefined;
  }

  /** A limit order: trades against the opposite side while its price crosses, then rests (gtc) or drops the rest (ioc). */
  submit(id: number, dir: Direction, price: number, size: number, rest: boolean, nextRef: number, placeholder: boolean, owner: number): void {
    const opposite = dir === 1 ? this.asks : this.bids;
    let remaining = size;
    while (remaining > 0) {
      const level = opposite[opposite.length - 1];
      if (level === undefined || (dir === 1 ? level.price > price : level.price < price)) break;
      const maker = level.head!;
      const traded = Math.min(remaining, maker.size);
      remaining -= traded;
      if (traded === maker.size) this.remove(maker);
      else {
        maker.size -= traded;
        level.total -= traded;
      }
    }
    if (remaining > 0 && rest) this.append(id, dir, price, remaining, nextRef, placeholder, owner);
  }

  cancel(order: ModelOrder): void {
    this.remove(order);
  }

  /** Reduce by `qty`: below the remaining size the order keeps its place, otherwise it leaves the book. */
  reduce(order: ModelOrder, qty: number): void {
    if (qty < order.size) {
      order.size -= qty;
      order.level.total -= qty;
    } else {
      this.remove(order);
    }
  }

  private append(id: number, dir: Direction, price: number, size: number, nextRef: number, placeholder: boolean, owner: number): void {
    const levels = dir === 1 ? this.bids : this.asks;
    const key = priceKey(dir, price);
    const at = lowerBound(levels, key);
    let level = levels[at];
    if (level === undefined || level.key !== key) {
      level = new ModelLevel(dir, price);
      levels.splice(at, 0, level);
    }
    const order = new ModelOrder(id, dir, price, size, nextRef, placeholder, owner, level);
    order.prev = level.tail;
    if (level.tail === null) level.head = order;
    else level.tail.next = order;
    level.tail = order;
    level.total += size;
    this.orders.set(id, order);
  }

  private remove(order: ModelOrder): void {
    const level = order.level;
    if (order.prev === null) level.head = order.next;
    else order.prev.next = order.next;
    if (order.next === null) level.tail = order.prev;
    else order.next.prev = order.prev;
    order.prev = null;
    order.next = null;
    level.total -= order.size;
    this.orders.delete(order.id);
    if (level.head === null) {
      const levels = level.dir === 1 ? this.bids : this.asks;
      levels.splice(lowerBound(levels, level.key), 1);
    }
  }
}

/** Index of the first level whose key is >= `key` (levels.length when none). */
function lowerBound(levels: readonly ModelLevel[], key: number): number {
  let lo = 0;
  let hi = levels.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (levels[mid]!.key < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
