/** The canonical book hash: its documented text, its canonical-order checks, and empty symbols/levels adding nothing. */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BOOK_HASH_HEADER, BookHasher } from '../engines/book-hash.ts';

const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

describe('BookHasher', () => {
  it('hashes the documented canonical text', () => {
    expect(new BookHasher().digest()).toBe(sha256('matchbench-book-v1\n'));
    const h = new BookHasher();
    h.symbol('AAPL');
    h.level('buy', 1500025);
    h.order(17, 100);
    h.order(3, 1);
    h.level('sell', 1500030);
    h.order(18, 50);
    h.symbol('Ünï "q"');
    h.level('sell', 7);
    h.order(9_007_199_254_740_991, 2);
    expect(h.digest()).toBe(sha256(`${BOOK_HASH_HEADER}S"AAPL"\nB1500025\nO17 100\nO3 1\nA1500030\nO18 50\nS"Ünï \\"q\\""\nA7\nO9007199254740991 2\n`));
  });

  it('empty symbols and empty levels contribute nothing', () => {
    const withEmpties = new BookHasher();
    withEmpties.symbol('A');
    withEmpties.level('buy', 10);
    withEmpties.level('sell', 12);
    withEmpties.symbol('B');
    withEmpties.level('buy', 5);
    withEmpties.level('buy', 4);
    withEmpties.order(1, 1);
    withEmpties.level('sell', 6);
    withEmpties.symbol('C');
    const plain = new BookHasher();
    plain.symbol('B');
    plain.level('buy', 4);
    plain.order(1, 1);
    expect(withEmpties.digest()).toBe(plain.digest());
  });

  it('a large book hashes the same as its text in one piece (chunked feeding is invisible)', () => {
    const h = new BookHasher();
    let text = BOOK_HASH_HEADER + 'S"X"\nB100\n';
    h.symbol('X');
    h.level('buy', 100);
    for (let id = 1; id <= 20_000; id++) {
      h.order(id, id % 7 + 1);
      text += `O${id} ${id % 7 + 1}\n`;
    }
    expect(h.digest()).toBe(sha256(text));
  });

  it('throws, naming what and where, when fed out of canonical order', () => {
    const symbolsOutOfOrder = new BookHasher();
    symbolsOutOfOrder.symbol('b');
    expect(() => symbolsOutOfOrder.symbol('B')).toThrow(/symbol "B" fed after "b"/);
    const repeated = new BookHasher();
    repeated.symbol('A');
    expect(() => repeated.symbol('A')).toThrow(/symbol "A" fed after "A"/);
    const bidAfterAsk = new BookHasher();
    bidAfterAsk.symbol('A');
    bidAfterAsk.level('sell', 10);
    expect(() => bidAfterAsk.level('buy', 9)).toThrow(/bid level 9 of "A" fed after its ask levels/);
    const bidsAscending = new BookHasher();
    bidsAscending.symbol('A');
    bidsAscending.level('buy', 10);
    expect(() => bidsAscending.level('buy', 11)).toThrow(/buy level 11 of "A" fed after buy level 10/);
    const asksDescending = new BookHasher();
    asksDescending.symbol('A');
    asksDescending.level('sell', 10);
    expect(() => asksDescending.level('sell', 9)).toThrow(/sell level 9 of "A" fed after sell level 10/);
    expect(() => new BookHasher().level('buy', 1)).toThrow(/before any symbol/);
    const noLevel = new BookHasher();
    noLevel.symbol('A');
    expect(() => noLevel.order(1, 1)).toThrow(/order 1 fed before any level/);
  });

  it('throws on a live order without a positive integer quantity', () => {
    for (const qty of [0, -1, 1.5, Number.NaN]) {
      const h = new BookHasher();
      h.symbol('A');
      h.level('sell', 10);
      expect(() => h.order(4, qty)).toThrow(/order 4 at sell 10 of "A" has qty/);
    }
  });
});
