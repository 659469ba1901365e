/**
 * The canonical book-state hash: one SHA-256 over one canonical text, so two engines with unrelated data structures
 * agree on a hash exactly when their books hold the same orders in the same priority order.
 *
 * An engine walks its own structures and feeds a `BookHasher` in the canonical order:
 *
 *   for each symbol that has at least one live order, in ascending UTF-16 code-unit order (JS `<`, Array#sort):
 *     hasher.symbol(sym)
 *     for each bid level, best first (highest price first):   hasher.level('buy', price)
 *       for each order at that level, oldest priority first:   hasher.order(id, remainingQty)
 *     for each ask level, best first (lowest price first):    hasher.level('sell', price)
 *       for each order at that level, oldest priority first:   hasher.order(id, remainingQty)
 *   hasher.digest()
 *
 * Symbols and levels that turn out empty contribute nothing (their line is written only when their first order
 * arrives), so an engine that keeps empty levels or symbol slots around may feed them and still hash the same.
 * Feeding out of order throws: a wrong walk is an engine bug and must not hash to something plausible.
 *
 * The canonical text is UTF-8, one line per item, each ending in "\n", numbers in plain decimal:
 *
 *   matchbench-book-v1        (always first: an empty book hashes this line alone)
 *   S"AAPL"                   symbol, as JSON.stringify(sym)
 *   B1500025                  bid level (buy side) at that price
 *   O17 100                   order: id, space, remaining qty
 *   A1500030                  ask level (sell side) at that price
 *   O18 50
 *
 * The digest is lower-case hex SHA-256 of that text. Only state that decides future events is hashed: owner, original
 * quantity and arrival sequence are not (no self-trade prevention exists, so an owner changes no outcome).
 */
import { createHash, type Hash } from 'node:crypto';
import type { Side } from './types.ts';

export const BOOK_HASH_HEADER = 'matchbench-book-v1\n';

/** Pending text is handed to the hash in chunks of about this many UTF-16 units, so a deep book never builds one huge string. */
const FLUSH_CHARS = 1 << 16;

export class BookHasher {
  private readonly hash: Hash = createHash('sha256');
  private pending = BOOK_HASH_HEADER;
  private currentSymbol: string | undefined = undefined;
  private symbolWritten = false;
  private currentSide: Side | undefined = undefined;
  private currentPrice = 0;
  private levelWritten = false;

  /** Starts a symbol; symbols must come in strictly ascending code-unit order. */
  symbol(sym: string): void {
    if (this.currentSymbol !== undefined && !(this.currentSymbol < sym)) {
      throw new Error(`BookHasher: symbol ${JSON.stringify(sym)} fed after ${JSON.stringify(this.currentSymbol)}; symbols must be fed once each, in ascending code-unit order`);
    }
    this.currentSymbol = sym;
    this.symbolWritten = false;
    this.currentSide = undefined;
    this.levelWritten = false;
  }

  /** Starts a price level of the current symbol: all bids best first (descending), then all asks best first (ascending). */
  level(side: Side, price: number): void {
    const sym = this.currentSymbol;
    if (sym === undefined) throw new Error(`BookHasher: level ${side} ${price} fed before any symbol`);
    if (this.currentSide === 'sell' && side === 'buy') {
      throw new Error(`BookHasher: bid level ${price} of ${JSON.stringify(sym)} fed after its ask levels; bids come first`);
    }
    if (this.currentSide === side && (side === 'buy' ? !(price < this.currentPrice) : !(price > this.currentPrice))) {
      throw new Error(`BookHasher: ${side} level ${price} of ${JSON.stringify(sym)} fed after ${side} level ${this.currentPrice}; levels must be fed best first, each once`);
    }
    this.currentSide = side;
    this.currentPrice = price;
    this.levelWritten = false;
  }

  /** One live order of the current level, in FIFO (priority) order. */
  order(id: number, qty: number): void {
    const side = this.currentSide;
    if (side === undefined) throw new Error(`BookHasher: order ${id} fed before any level`);
    if (!(Number.isSafeInteger(qty) && qty > 0)) {
      throw new Error(`BookHasher: order ${id} at ${side} ${this.currentPrice} of ${JSON.stringify(this.currentSymbol)} has qty ${qty}; a live order always has a positive integer quantity`);
    }
    if (!this.symbolWritten) {
      this.pending += `S${JSON.stringify(this.currentSymbol)}\n`;
      this.symbolWritten = true;
    }
    if (!this.levelWritten) {
      this.pending += `${side === 'buy' ? 'B' : 'A'}${this.currentPrice}\n`;
      this.levelWritten = true;
    }
    this.pending += `O${id} ${qty}\n`;
    if (this.pending.length >= FLUSH_CHARS) this.flush();
  }

  /** Lower-case hex SHA-256 of the canonical text; the hasher cannot be fed afterwards. */
  digest(): string {
    this.flush();
    return this.hash.digest('hex');
  }

  private flush(): void {
    this.hash.update(this.pending, 'utf8');
    this.pending = '';
  }
}
