/**
 * The engine contract: one scenario per rule of the command/event semantics (README, issue 2), written against the
 * `BookEngine` interface only, so the reference engine, the fast core and every multithreaded design run the same
 * suite through a factory:
 *
 *   describeEngineContract('reference', (rules) => new ReferenceEngine(rules));
 *
 * The factory gets the risk rules a scenario needs (null: none), so the risk and breaker scenarios run on every
 * engine and design too.
 * Every scenario asserts the exact event list of each command. Events are read back through `formatEvent` (the
 * canonical NDJSON), so an engine may hand `emit` a reused or non-plain event object and still be compared by value.
 */
import { describe, expect, it } from 'vitest';
import { BookHasher } from '../../engines/book-hash.ts';
import { formatEvent } from '../../engines/types.ts';
import type { BookEngine, CancelReason, Command, L2Snapshot, MatchEvent, RejectReason, Side, TimeInForce } from '../../engines/types.ts';
import { parseRiskRules, type RiskRules } from '../../risk/rules.ts';

const S = 'AAPL';

/** Feeds commands to one engine with seq 0, 1, 2, ... and returns each command's events as plain objects. */
class Driver {
  readonly engine: BookEngine;
  private seq = 0;

  constructor(engine: BookEngine) {
    this.engine = engine;
  }

  run(command: Command): MatchEvent[] {
    const events: MatchEvent[] = [];
    this.engine.process(command, this.seq++, (event) => {
      events.push(JSON.parse(formatEvent(event)) as MatchEvent);
    });
    return events;
  }

  runAll(commands: readonly Command[]): MatchEvent[] {
    return commands.flatMap((command) => this.run(command));
  }

  l2(sym = S, depth = 100): L2Snapshot {
    const { bids, asks } = this.engine.l2(sym, depth);
    return { bids: bids.map(([p, q]) => [p, q] as const), asks: asks.map(([p, q]) => [p, q] as const) };
  }

  hash(): string {
    return this.engine.bookHash();
  }
}

function limit(side: Side, id: number, price: number, qty: number, tif: TimeInForce = 'gtc', sym = S): Command {
  return { op: 'new', sym, id, side, type: 'limit', tif, price, qty };
}
const buy = (id: number, price: number, qty: number, tif: TimeInForce = 'gtc', sym = S): Command => limit('buy', id, price, qty, tif, sym);
const sell = (id: number, price: number, qty: number, tif: TimeInForce = 'gtc', sym = S): Command => limit('sell', id, price, qty, tif, sym);
const market = (side: Side, id: number, qty: number, sym = S): Command => ({ op: 'new', sym, id, side, type: 'market', qty });
const cancel = (id: number, sym = S): Command => ({ op: 'cancel', sym, id });
const reduce = (id: number, qty: number, sym = S): Command => ({ op: 'reduce', sym, id, qty });
const modify = (id: number, price: number, qty: number, sym = S): Command => ({ op: 'modify', sym, id, price, qty });

const rested = (seq: number, id: number, side: Side, price: number, qty: number, sym = S): MatchEvent => ({ seq, ev: 'rested', sym, id, side, price, qty });
const fill = (seq: number, taker: number, maker: number, price: number, qty: number, side: Side, sym = S): MatchEvent => ({ seq, ev: 'fill', sym, taker, maker, price, qty, side });
const cancelled = (seq: number, id: number, qty: number, reason: CancelReason, sym = S): MatchEvent => ({ seq, ev: 'cancelled', sym, id, qty, reason });
const reduced = (seq: number, id: number, qty: number, sym = S): MatchEvent => ({ seq, ev: 'reduced', sym, id, qty });
const modified = (seq: number, id: number, price: number, qty: number, sym = S): MatchEvent => ({ seq, ev: 'modified', sym, id, price, qty });
const rejected = (seq: number, id: number, reason: RejectReason, sym = S): MatchEvent => ({ seq, ev: 'rejected', sym, id, reason });

const EMPTY: L2Snapshot = { bids: [], asks: [] };

/** A factory for a fresh engine (empty books) applying `rules` (null: no risk rules, no breaker). */
export type EngineFactory = (rules: RiskRules | null) => BookEngine;

export function describeEngineContract(name: string, createWith: EngineFactory): void {
  const create = (): BookEngine => createWith(null);
  const start = (): Driver => new Driver(create());
  const startWith = (json: unknown): Driver => new Driver(createWith(parseRiskRules(json, 'scenario rules')));

  describe(`engine contract: ${name}`, () => {
    describe('resting and sequence numbers', () => {
      it('a limit that crosses nothing rests; tif defaults to gtc', () => {
        const d = start();
        expect(d.run(sell(1, 101, 10))).toStrictEqual([rested(0, 1, 'sell', 101, 10)]);
        expect(d.run({ op: 'new', sym: S, id: 2, side: 'buy', type: 'limit', price: 100, qty: 5 })).toStrictEqual([rested(1, 2, 'buy', 100, 5)]);
        expect(d.l2()).toStrictEqual({ bids: [[100, 5]], asks: [[101, 10]] });
      });

      it('seq is the 0-based index of the command, rejected commands included', () => {
        const d = start();
        expect(d.run(cancel(9))).toStrictEqual([rejected(0, 9, 'unknown_order')]);
        expect(d.run(sell(1, 100, 5))).toStrictEqual([rested(1, 1, 'sell', 100, 5)]);
        expect(d.run({ op: 'invalid', sym: '', id: 0 })).toStrictEqual([rejected(2, 0, 'invalid_command', '')]);
        expect(d.run(buy(2, 100, 2))).toStrictEqual([fill(3, 2, 1, 100, 2, 'buy')]);
        expect(d.run(buy(3, 100, 5))).toStrictEqual([fill(4, 3, 1, 100, 3, 'buy'), rested(4, 3, 'buy', 100, 2)]);
      });

      it('the engine passes the seq it is given through to every event', () => {
        const engine = create();
        const events: string[] = [];
        const emit = (event: MatchEvent): void => {
          events.push(formatEvent(event));
        };
        engine.process(sell(1, 100, 5), 41, emit);
        engine.process(buy(2, 100, 7), 1000, emit);
        expect(events).toStrictEqual([rested(41, 1, 'sell', 100, 5), fill(1000, 2, 1, 100, 5, 'buy'), rested(1000, 2, 'buy', 100, 2)].map(formatEvent));
      });
    });

    describe('matching', () => {
      it('partial fill of the maker: the taker fills completely, the maker keeps its rest and its place', () => {
        const d = start();
        d.runAll([sell(1, 100, 10), sell(2, 100, 10)]);
        expect(d.run(buy(3, 100, 4))).toStrictEqual([fill(2, 3, 1, 100, 4, 'buy')]);
        expect(d.l2()).toStrictEqual({ bids: [], asks: [[100, 16]] });
        expect(d.run(buy(4, 100, 8))).toStrictEqual([fill(3, 4, 1, 100, 6, 'buy'), fill(3, 4, 2, 100, 2, 'buy')]);
        expect(d.l2()).toStrictEqual({ bids: [], asks: [[100, 8]] });
      });

      it('partial fill of the taker: its remainder rests at its own limit', () => {
        const d = start();
        d.run(sell(1, 100, 3));
        expect(d.run(buy(2, 101, 10))).toStrictEqual([fill(1, 2, 1, 100, 3, 'buy'), rested(1, 2, 'buy', 101, 7)]);
        expect(d.l2()).toStrictEqual({ bids: [[101, 7]], asks: [] });
      });

      it('the taker trades at the maker price, and a fill carries the taker side', () => {
        const d = start();
        d.run(sell(1, 100, 5));
        expect(d.run(buy(2, 105, 5))).toStrictEqual([fill(1, 2, 1, 100, 5, 'buy')]);
        d.run(buy(3, 105, 5));
        expect(d.run(sell(4, 100, 5))).toStrictEqual([fill(3, 4, 3, 105, 5, 'sell')]);
        expect(d.l2()).toStrictEqual(EMPTY);
      });

      it('a buy walks the asks best (lowest) first, stops at its limit, then rests', () => {
        const d = start();
        d.runAll([sell(1, 102, 5), sell(2, 100, 5), sell(3, 101, 5), sell(4, 103, 5)]);
        expect(d.run(buy(5, 102, 17))).toStrictEqual([
          fill(4, 5, 2, 100, 5, 'buy'),
          fill(4, 5, 3, 101, 5, 'buy'),
          fill(4, 5, 1, 102, 5, 'buy'),
          rested(4, 5, 'buy', 102, 2),
        ]);
        expect(d.l2()).toStrictEqual({ bids: [[102, 2]], asks: [[103, 5]] });
      });

      it('a sell walks the bids best (highest) first, stops at its limit, then rests', () => {
        const d = start();
        d.runAll([buy(1, 98, 5), buy(2, 99, 5), buy(3, 97, 5)]);
        expect(d.run(sell(4, 98, 12))).toStrictEqual([fill(3, 4, 2, 99, 5, 'sell'), fill(3, 4, 1, 98, 5, 'sell'), rested(3, 4, 'sell', 98, 2)]);
        expect(d.l2()).toStrictEqual({ bids: [[97, 5]], asks: [[98, 2]] });
      });

      it('FIFO within a level: makers at one price fill in arrival order', () => {
        const d = start();
        d.runAll([sell(1, 100, 3), sell(2, 100, 3), sell(3, 100, 3)]);
        expect(d.run(buy(4, 100, 7))).toStrictEqual([fill(3, 4, 1, 100, 3, 'buy'), fill(3, 4, 2, 100, 3, 'buy'), fill(3, 4, 3, 100, 1, 'buy')]);
        expect(d.l2()).toStrictEqual({ bids: [], asks: [[100, 2]] });
      });

      it('price before time: a later order at a better price fills first', () => {
        const d = start();
        d.runAll([sell(1, 101, 5), sell(2, 100, 5)]);
        expect(d.run(buy(3, 101, 6))).toStrictEqual([fill(2, 3, 2, 100, 5, 'buy'), fill(2, 3, 1, 101, 1, 'buy')]);
      });

      it('no self-trade prevention: orders of one owner match each other', () => {
        const d = start();
        d.run({ op: 'new', sym: S, id: 1, side: 'sell', type: 'limit', tif: 'gtc', price: 100, qty: 5, owner: 3 });
        expect(d.run({ op: 'new', sym: S, id: 2, side: 'buy', type: 'limit', tif: 'gtc', price: 100, qty: 5, owner: 3 })).toStrictEqual([fill(1, 2, 1, 100, 5, 'buy')]);
      });
    });

    describe('IOC, FOK and market orders', () => {
      it('IOC fills what it can; the remainder is cancelled (reason ioc) and never rests', () => {
        const d = start();
        d.run(sell(1, 100, 5));
        expect(d.run(buy(2, 100, 8, 'ioc'))).toStrictEqual([fill(1, 2, 1, 100, 5, 'buy'), cancelled(1, 2, 3, 'ioc')]);
        expect(d.l2()).toStrictEqual(EMPTY);
      });

      it('IOC that crosses nothing: one cancelled with the full qty, book unchanged', () => {
        const d = start();
        d.run(sell(1, 101, 5));
        const before = d.hash();
        expect(d.run(buy(2, 100, 4, 'ioc'))).toStrictEqual([cancelled(1, 2, 4, 'ioc')]);
        expect(d.hash()).toBe(before);
      });

      it('IOC filled completely: fills only, no cancelled', () => {
        const d = start();
        d.run(buy(1, 100, 5));
        expect(d.run(sell(2, 99, 5, 'ioc'))).toStrictEqual([fill(1, 2, 1, 100, 5, 'sell')]);
        expect(d.l2()).toStrictEqual(EMPTY);
      });

      it('FOK that can fill counts liquidity over several levels up to its limit, and fills completely', () => {
        const d = start();
        d.runAll([sell(1, 100, 3), sell(2, 101, 3), sell(3, 102, 10)]);
        expect(d.run(buy(4, 101, 6, 'fok'))).toStrictEqual([fill(3, 4, 1, 100, 3, 'buy'), fill(3, 4, 2, 101, 3, 'buy')]);
        expect(d.l2()).toStrictEqual({ bids: [], asks: [[102, 10]] });
      });

      it('FOK that cannot fill: one cancelled (reason fok, full qty), no fills, book unchanged; liquidity beyond its limit does not count', () => {
        const d = start();
        d.runAll([sell(1, 100, 3), sell(2, 101, 3), sell(3, 102, 10)]);
        const hash = d.hash();
        const l2 = d.l2();
        expect(d.run(buy(4, 101, 7, 'fok'))).toStrictEqual([cancelled(3, 4, 7, 'fok')]);
        expect(d.hash()).toBe(hash);
        expect(d.l2()).toStrictEqual(l2);
        expect(d.run(buy(5, 100, 5))).toStrictEqual([fill(4, 5, 1, 100, 3, 'buy'), rested(4, 5, 'buy', 100, 2)]);
      });

      it('FOK for exactly the available quantity fills; a sell FOK against no bids is cancelled', () => {
        const d = start();
        d.runAll([buy(1, 100, 3), buy(2, 100, 4)]);
        expect(d.run(sell(3, 100, 7, 'fok'))).toStrictEqual([fill(2, 3, 1, 100, 3, 'sell'), fill(2, 3, 2, 100, 4, 'sell')]);
        expect(d.run(sell(4, 1, 1, 'fok'))).toStrictEqual([cancelled(3, 4, 1, 'fok')]);
        expect(d.l2()).toStrictEqual(EMPTY);
      });

      it('market order with no liquidity: cancelled (reason ioc) with the full qty, nothing rests', () => {
        const d = start();
        d.run(buy(1, 100, 5));
        expect(d.run(market('buy', 2, 10))).toStrictEqual([cancelled(1, 2, 10, 'ioc')]);
        expect(d.l2()).toStrictEqual({ bids: [[100, 5]], asks: [] });
        const hash = d.hash();
        expect(d.run(market('sell', 3, 4, 'EMPTY'))).toStrictEqual([cancelled(2, 3, 4, 'ioc', 'EMPTY')]);
        expect(d.l2('EMPTY')).toStrictEqual(EMPTY);
        expect(d.hash()).toBe(hash);
      });

      it('market sweep: takes every level at any price, best first, then cancels the rest', () => {
        const d = start();
        d.runAll([sell(1, 105, 5), sell(2, 100, 5), sell(3, 1_000_000, 5)]);
        expect(d.run(market('buy', 4, 20))).toStrictEqual([
          fill(3, 4, 2, 100, 5, 'buy'),
          fill(3, 4, 1, 105, 5, 'buy'),
          fill(3, 4, 3, 1_000_000, 5, 'buy'),
          cancelled(3, 4, 5, 'ioc'),
        ]);
        d.runAll([buy(5, 90, 2), buy(6, 95, 3)]);
        expect(d.run(market('sell', 7, 4))).toStrictEqual([fill(6, 7, 6, 95, 3, 'sell'), fill(6, 7, 5, 90, 1, 'sell')]);
        expect(d.l2()).toStrictEqual({ bids: [[90, 1]], asks: [] });
      });
    });

    describe('cancel', () => {
      it('cancel removes a live order: cancelled (reason user) with its qty', () => {
        const d = start();
        const fresh = d.hash();
        d.run(sell(1, 100, 10));
        expect(d.run(cancel(1))).toStrictEqual([cancelled(1, 1, 10, 'user')]);
        expect(d.l2()).toStrictEqual(EMPTY);
        expect(d.hash()).toBe(fresh);
      });

      it('cancel after a partial fill reports the remaining qty', () => {
        const d = start();
        d.runAll([sell(1, 100, 10), buy(2, 100, 4)]);
        expect(d.run(cancel(1))).toStrictEqual([cancelled(2, 1, 6, 'user')]);
      });

      it('a second cancel has no second effect: unknown_order', () => {
        const d = start();
        d.runAll([sell(1, 100, 10), cancel(1)]);
        expect(d.run(cancel(1))).toStrictEqual([rejected(2, 1, 'unknown_order')]);
      });

      it('cancel of an id that never lived, or whose order filled, is unknown_order', () => {
        const d = start();
        expect(d.run(cancel(5))).toStrictEqual([rejected(0, 5, 'unknown_order')]);
        d.runAll([sell(1, 100, 5), buy(2, 100, 5)]);
        expect(d.run(cancel(1))).toStrictEqual([rejected(3, 1, 'unknown_order')]);
        expect(d.run(cancel(2))).toStrictEqual([rejected(4, 2, 'unknown_order')]);
      });
    });

    describe('reduce', () => {
      it('reduce below the remaining qty: reduced with the new remaining, time priority kept', () => {
        const d = start();
        d.runAll([sell(1, 100, 10), sell(2, 100, 10)]);
        expect(d.run(reduce(1, 4))).toStrictEqual([reduced(2, 1, 6)]);
        expect(d.l2()).toStrictEqual({ bids: [], asks: [[100, 16]] });
        expect(d.run(buy(3, 100, 7))).toStrictEqual([fill(3, 3, 1, 100, 6, 'buy'), fill(3, 3, 2, 100, 1, 'buy')]);
      });

      it('reduce after a partial fill works on the remaining qty', () => {
        const d = start();
        d.runAll([sell(1, 100, 10), buy(2, 100, 3)]);
        expect(d.run(reduce(1, 5))).toStrictEqual([reduced(2, 1, 2)]);
        expect(d.l2()).toStrictEqual({ bids: [], asks: [[100, 2]] });
      });

      it('reduce by exactly the remaining qty: the order leaves, cancelled (reason user) with the qty it had', () => {
        const d = start();
        d.runAll([sell(1, 100, 10), buy(2, 100, 3)]);
        expect(d.run(reduce(1, 7))).toStrictEqual([cancelled(2, 1, 7, 'user')]);
        expect(d.l2()).toStrictEqual(EMPTY);
        expect(d.run(cancel(1))).toStrictEqual([rejected(3, 1, 'unknown_order')]);
      });

      it('reduce by more than the remaining qty: cancelled with the qty it had, not the qty asked', () => {
        const d = start();
        d.run(buy(1, 100, 10));
        expect(d.run(reduce(1, 50))).toStrictEqual([cancelled(1, 1, 10, 'user')]);
        expect(d.l2()).toStrictEqual(EMPTY);
      });

      it('reduce of an id that is not live is unknown_order', () => {
        const d = start();
        expect(d.run(reduce(1, 5))).toStrictEqual([rejected(0, 1, 'unknown_order')]);
      });
    });

    describe('modify', () => {
      it('same price, smaller qty: modified, time priority kept', () => {
        const d = start();
        d.runAll([sell(1, 100, 10), sell(2, 100, 10)]);
        expect(d.run(modify(1, 100, 4))).toStrictEqual([modified(2, 1, 100, 4)]);
        expect(d.l2()).toStrictEqual({ bids: [], asks: [[100, 14]] });
        expect(d.run(buy(3, 100, 6))).toStrictEqual([fill(3, 3, 1, 100, 4, 'buy'), fill(3, 3, 2, 100, 2, 'buy')]);
      });

      it('same price, same qty: modified, and nothing else changes', () => {
        const d = start();
        d.runAll([sell(1, 100, 10), sell(2, 100, 10)]);
        const hash = d.hash();
        expect(d.run(modify(1, 100, 10))).toStrictEqual([modified(2, 1, 100, 10)]);
        expect(d.hash()).toBe(hash);
        expect(d.run(buy(3, 100, 5))).toStrictEqual([fill(3, 3, 1, 100, 5, 'buy')]);
      });

      it('same price, larger qty: modified, re-enters and loses time priority', () => {
        const d = start();
        d.runAll([sell(1, 100, 10), sell(2, 100, 10)]);
        expect(d.run(modify(1, 100, 15))).toStrictEqual([modified(2, 1, 100, 15), rested(2, 1, 'sell', 100, 15)]);
        expect(d.l2()).toStrictEqual({ bids: [], asks: [[100, 25]] });
        expect(d.run(buy(3, 100, 12))).toStrictEqual([fill(3, 3, 2, 100, 10, 'buy'), fill(3, 3, 1, 100, 2, 'buy')]);
      });

      it('new price: modified, re-enters at the back of the new level (even with a smaller qty)', () => {
        const d = start();
        d.runAll([sell(1, 100, 5), sell(2, 100, 5), sell(3, 101, 5)]);
        expect(d.run(modify(1, 101, 4))).toStrictEqual([modified(3, 1, 101, 4), rested(3, 1, 'sell', 101, 4)]);
        expect(d.l2()).toStrictEqual({ bids: [], asks: [[100, 5], [101, 9]] });
        expect(d.run(buy(4, 101, 12))).toStrictEqual([fill(4, 4, 2, 100, 5, 'buy'), fill(4, 4, 3, 101, 5, 'buy'), fill(4, 4, 1, 101, 2, 'buy')]);
      });

      it('moving back to the old price does not restore the old priority', () => {
        const d = start();
        d.runAll([sell(1, 100, 5), sell(2, 100, 5), modify(1, 102, 5)]);
        expect(d.run(modify(1, 100, 5))).toStrictEqual([modified(3, 1, 100, 5), rested(3, 1, 'sell', 100, 5)]);
        expect(d.run(buy(4, 100, 5))).toStrictEqual([fill(4, 4, 2, 100, 5, 'buy')]);
      });

      it('a new price that crosses trades at once: modified, fills (the order is the taker), then rested', () => {
        const d = start();
        d.runAll([buy(1, 99, 5), buy(2, 98, 5), buy(3, 97, 5), sell(4, 105, 13)]);
        expect(d.run(modify(4, 98, 13))).toStrictEqual([
          modified(4, 4, 98, 13),
          fill(4, 4, 1, 99, 5, 'sell'),
          fill(4, 4, 2, 98, 5, 'sell'),
          rested(4, 4, 'sell', 98, 3),
        ]);
        expect(d.l2()).toStrictEqual({ bids: [[97, 5]], asks: [[98, 3]] });
      });

      it('a crossing modify that fills completely leaves nothing resting', () => {
        const d = start();
        d.runAll([buy(1, 99, 5), sell(2, 105, 3)]);
        expect(d.run(modify(2, 99, 3))).toStrictEqual([modified(2, 2, 99, 3), fill(2, 2, 1, 99, 3, 'sell')]);
        expect(d.l2()).toStrictEqual({ bids: [[99, 2]], asks: [] });
        expect(d.run(cancel(2))).toStrictEqual([rejected(3, 2, 'unknown_order')]);
      });

      it('modify compares the new qty with the remaining qty, not the original', () => {
        const d = start();
        d.runAll([sell(1, 100, 10), sell(2, 100, 10), buy(3, 100, 4)]);
        expect(d.run(modify(1, 100, 6))).toStrictEqual([modified(3, 1, 100, 6)]);
        expect(d.run(modify(1, 100, 8))).toStrictEqual([modified(4, 1, 100, 8), rested(4, 1, 'sell', 100, 8)]);
        expect(d.run(buy(5, 100, 11))).toStrictEqual([fill(5, 5, 2, 100, 10, 'buy'), fill(5, 5, 1, 100, 1, 'buy')]);
        expect(d.l2()).toStrictEqual({ bids: [], asks: [[100, 7]] });
      });

      it('a modified bid stays a bid', () => {
        const d = start();
        d.run(buy(1, 100, 5));
        expect(d.run(modify(1, 101, 5))).toStrictEqual([modified(1, 1, 101, 5), rested(1, 1, 'buy', 101, 5)]);
        expect(d.l2()).toStrictEqual({ bids: [[101, 5]], asks: [] });
      });

      it('modify of an id that is not live is unknown_order; a bad qty or price is rejected and changes nothing', () => {
        const d = start();
        expect(d.run(modify(7, 100, 5))).toStrictEqual([rejected(0, 7, 'unknown_order')]);
        d.run(sell(1, 100, 5));
        const hash = d.hash();
        expect(d.run(modify(1, 100, 0))).toStrictEqual([rejected(2, 1, 'invalid_qty')]);
        expect(d.run(modify(1, 100, 2.5))).toStrictEqual([rejected(3, 1, 'invalid_qty')]);
        expect(d.run(modify(1, Number.NaN, 5))).toStrictEqual([rejected(4, 1, 'invalid_price')]);
        expect(d.run(modify(1, 100.5, 5))).toStrictEqual([rejected(5, 1, 'invalid_price')]);
        expect(d.run(modify(1, -100, 5))).toStrictEqual([rejected(6, 1, 'invalid_price')]);
        expect(d.hash()).toBe(hash);
        expect(d.l2()).toStrictEqual({ bids: [], asks: [[100, 5]] });
      });
    });

    describe('rejects', () => {
      it("op 'invalid' is invalid_command, with the command id when finite (else 0) and its sym", () => {
        const d = start();
        expect(d.run({ op: 'invalid', sym: S, id: 12 })).toStrictEqual([rejected(0, 12, 'invalid_command')]);
        expect(d.run({ op: 'invalid', sym: '', id: Number.NaN })).toStrictEqual([rejected(1, 0, 'invalid_command', '')]);
        expect(d.run({ op: 'invalid', sym: 'X', id: Number.POSITIVE_INFINITY })).toStrictEqual([rejected(2, 0, 'invalid_command', 'X')]);
      });

      it('an id that is not a positive safe integer is invalid_command, for every op', () => {
        const d = start();
        const badIds = [0, -3, 1.5, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 2 ** 53];
        const expected: MatchEvent[] = [];
        const commands: Command[] = [];
        for (const id of badIds) {
          const reported = Number.isFinite(id) ? id : 0;
          for (const command of [buy(id, 100, 5), market('sell', id, 5), cancel(id), reduce(id, 1), modify(id, 100, 5)]) {
            expected.push(rejected(commands.length, reported, 'invalid_command'));
            commands.push(command);
          }
        }
        expect(d.runAll(commands)).toStrictEqual(expected);
        expect(d.l2()).toStrictEqual(EMPTY);
      });

      it('an owner that is present and not a positive safe integer is invalid_command; NaN means no owner', () => {
        const d = start();
        const withOwner = (id: number, owner: number): Command => ({ op: 'new', sym: S, id, side: 'buy', type: 'limit', tif: 'gtc', price: 100, qty: 5, owner });
        expect(d.run(withOwner(1, 0))).toStrictEqual([rejected(0, 1, 'invalid_command')]);
        expect(d.run(withOwner(1, -1))).toStrictEqual([rejected(1, 1, 'invalid_command')]);
        expect(d.run(withOwner(1, 2.5))).toStrictEqual([rejected(2, 1, 'invalid_command')]);
        expect(d.run(withOwner(1, Number.POSITIVE_INFINITY))).toStrictEqual([rejected(3, 1, 'invalid_command')]);
        expect(d.run({ op: 'new', sym: S, id: 1, side: 'sell', type: 'market', qty: 5, owner: -2 })).toStrictEqual([rejected(4, 1, 'invalid_command')]);
        expect(d.run(withOwner(1, 7))).toStrictEqual([rested(5, 1, 'buy', 100, 5)]);
        expect(d.run(withOwner(2, Number.NaN))).toStrictEqual([rested(6, 2, 'buy', 100, 5)]);
      });

      it('a qty that is NaN, fractional, zero, negative or infinite is invalid_qty (new, market, reduce, modify)', () => {
        const d = start();
        d.run(sell(1, 100, 10));
        const hash = d.hash();
        let seq = 1;
        for (const qty of [Number.NaN, 1.5, 0, -5, Number.POSITIVE_INFINITY, 2 ** 53]) {
          expect(d.run(buy(2, 100, qty))).toStrictEqual([rejected(seq++, 2, 'invalid_qty')]);
          expect(d.run(market('buy', 2, qty))).toStrictEqual([rejected(seq++, 2, 'invalid_qty')]);
          expect(d.run(reduce(1, qty))).toStrictEqual([rejected(seq++, 1, 'invalid_qty')]);
          expect(d.run(modify(1, 100, qty))).toStrictEqual([rejected(seq++, 1, 'invalid_qty')]);
        }
        expect(d.hash()).toBe(hash);
      });

      it('a limit price that is missing, NaN, fractional, zero or negative is invalid_price (any tif)', () => {
        const d = start();
        expect(d.run({ op: 'new', sym: S, id: 1, side: 'buy', type: 'limit', tif: 'gtc', qty: 5 })).toStrictEqual([rejected(0, 1, 'invalid_price')]);
        let seq = 1;
        for (const price of [Number.NaN, 100.5, 0, -100, Number.POSITIVE_INFINITY]) {
          for (const tif of ['gtc', 'ioc', 'fok'] as const) {
            expect(d.run(sell(1, price, 5, tif))).toStrictEqual([rejected(seq++, 1, 'invalid_price')]);
          }
        }
        expect(d.l2()).toStrictEqual(EMPTY);
      });

      it('checks run in order: invalid_command, then invalid_qty, then invalid_price, then the book state', () => {
        const d = start();
        d.run(sell(1, 100, 5));
        const hash = d.hash();
        expect(d.run(buy(0, 0, 0))).toStrictEqual([rejected(1, 0, 'invalid_command')]);
        expect(d.run({ op: 'new', sym: S, id: 2, side: 'buy', type: 'limit', tif: 'gtc', price: 0, qty: 0, owner: -1 })).toStrictEqual([rejected(2, 2, 'invalid_command')]);
        expect(d.run(buy(2, 0, 0))).toStrictEqual([rejected(3, 2, 'invalid_qty')]);
        expect(d.run(buy(1, 0, 5))).toStrictEqual([rejected(4, 1, 'invalid_price')]);
        expect(d.run(buy(1, 100, -1))).toStrictEqual([rejected(5, 1, 'invalid_qty')]);
        expect(d.run(cancel(-1))).toStrictEqual([rejected(6, -1, 'invalid_command')]);
        expect(d.run(reduce(9, 0))).toStrictEqual([rejected(7, 9, 'invalid_qty')]);
        expect(d.run(modify(9, 100, 0))).toStrictEqual([rejected(8, 9, 'invalid_qty')]);
        expect(d.run(modify(9, 0, 5))).toStrictEqual([rejected(9, 9, 'invalid_price')]);
        expect(d.run(modify(1.5, 0, 0))).toStrictEqual([rejected(10, 1.5, 'invalid_command')]);
        expect(d.hash()).toBe(hash);
      });

      it('a new order with an id live in that book is duplicate_id, whatever its type, and the live order is untouched', () => {
        const d = start();
        d.runAll([sell(1, 100, 10), buy(2, 100, 3)]);
        const hash = d.hash();
        expect(d.run(buy(1, 100, 5))).toStrictEqual([rejected(2, 1, 'duplicate_id')]);
        expect(d.run(sell(1, 101, 5))).toStrictEqual([rejected(3, 1, 'duplicate_id')]);
        expect(d.run(buy(1, 100, 5, 'ioc'))).toStrictEqual([rejected(4, 1, 'duplicate_id')]);
        expect(d.run(buy(1, 100, 5, 'fok'))).toStrictEqual([rejected(5, 1, 'duplicate_id')]);
        expect(d.run(market('buy', 1, 5))).toStrictEqual([rejected(6, 1, 'duplicate_id')]);
        expect(d.hash()).toBe(hash);
        expect(d.l2()).toStrictEqual({ bids: [], asks: [[100, 7]] });
      });

      it('an id may be reused once its order has left the book (cancelled, reduced away, filled, IOC or FOK)', () => {
        const d = start();
        d.runAll([sell(1, 100, 5), cancel(1)]);
        expect(d.run(sell(1, 101, 5))).toStrictEqual([rested(2, 1, 'sell', 101, 5)]);
        expect(d.run(reduce(1, 5))).toStrictEqual([cancelled(3, 1, 5, 'user')]);
        expect(d.run(sell(1, 101, 5))).toStrictEqual([rested(4, 1, 'sell', 101, 5)]);
        expect(d.run(buy(2, 101, 5))).toStrictEqual([fill(5, 2, 1, 101, 5, 'buy')]);
        expect(d.run(buy(1, 99, 3))).toStrictEqual([rested(6, 1, 'buy', 99, 3)]);
        expect(d.run(buy(2, 98, 3))).toStrictEqual([rested(7, 2, 'buy', 98, 3)]);
        expect(d.run(sell(3, 200, 5, 'ioc'))).toStrictEqual([cancelled(8, 3, 5, 'ioc')]);
        expect(d.run(sell(3, 200, 5))).toStrictEqual([rested(9, 3, 'sell', 200, 5)]);
        expect(d.run(buy(4, 200, 50, 'fok'))).toStrictEqual([cancelled(10, 4, 50, 'fok')]);
        expect(d.run(buy(4, 90, 5))).toStrictEqual([rested(11, 4, 'buy', 90, 5)]);
      });
    });

    describe('risk rules', () => {
      const owned = (command: Command, owner: number): Command => ({ ...command, owner }) as Command;

      it('max qty: a new order or modify above it is rejected risk_max_qty; reduces and cancels are never checked', () => {
        const d = startWith({ symbols: { '*': { maxQty: 100 } } });
        expect(d.run(buy(1, 100, 101))).toStrictEqual([rejected(0, 1, 'risk_max_qty')]);
        expect(d.run(buy(1, 100, 100))).toStrictEqual([rested(1, 1, 'buy', 100, 100)]);
        expect(d.run(market('sell', 2, 101))).toStrictEqual([rejected(2, 2, 'risk_max_qty')]);
        expect(d.run(modify(1, 100, 101))).toStrictEqual([rejected(3, 1, 'risk_max_qty')]);
        expect(d.run(reduce(1, 40))).toStrictEqual([reduced(4, 1, 60)]);
        expect(d.run(cancel(1))).toStrictEqual([cancelled(5, 1, 60, 'user')]);
      });

      it('max notional: price × qty above it is rejected risk_max_notional; a market order has no price to check', () => {
        const d = startWith({ symbols: { '*': { maxNotional: 10_000 } } });
        expect(d.run(sell(1, 100, 101))).toStrictEqual([rejected(0, 1, 'risk_max_notional')]);
        expect(d.run(sell(1, 100, 100))).toStrictEqual([rested(1, 1, 'sell', 100, 100)]);
        expect(d.run(modify(1, 101, 100))).toStrictEqual([rejected(2, 1, 'risk_max_notional')]);
        expect(d.run(market('buy', 2, 150))).toStrictEqual([fill(3, 2, 1, 100, 100, 'buy'), cancelled(3, 2, 50, 'ioc')]);
      });

      it('price collar: the edges ref ± floor(ref × percent) are inside; the reference is the last trade, else the configured price', () => {
        const d = startWith({ symbols: { '*': { collarPercent: 10, referencePrice: 1000 } } });
        expect(d.run(buy(1, 899, 1))).toStrictEqual([rejected(0, 1, 'risk_price_band')]);
        expect(d.run(buy(1, 900, 1))).toStrictEqual([rested(1, 1, 'buy', 900, 1)]);
        expect(d.run(sell(2, 1101, 1))).toStrictEqual([rejected(2, 2, 'risk_price_band')]);
        expect(d.run(sell(2, 1100, 1))).toStrictEqual([rested(3, 2, 'sell', 1100, 1)]);
        // A trade at 1050 moves the reference: half-width floor(105.0) = 105.
        d.runAll([sell(3, 1050, 1), buy(4, 1050, 1)]);
        expect(d.run(buy(5, 944, 1))).toStrictEqual([rejected(6, 5, 'risk_price_band')]);
        expect(d.run(buy(5, 945, 1))).toStrictEqual([rested(7, 5, 'buy', 945, 1)]);
        expect(d.run(modify(2, 1156, 1))).toStrictEqual([rejected(8, 2, 'risk_price_band')]);
        expect(d.run(modify(2, 1155, 1))).toStrictEqual([modified(9, 2, 1155, 1), rested(9, 2, 'sell', 1155, 1)]);
        // Market orders carry no price: the collar does not apply to them.
        expect(d.run(market('buy', 6, 1))).toStrictEqual([fill(10, 6, 2, 1155, 1, 'buy')]);
      });

      it('a collar without a reference price waits for the first trade', () => {
        const d = startWith({ symbols: { '*': { collarPercent: 1 } } });
        expect(d.run(sell(1, 5000, 1))).toStrictEqual([rested(0, 1, 'sell', 5000, 1)]);
        expect(d.run(buy(2, 5000, 1))).toStrictEqual([fill(1, 2, 1, 5000, 1, 'buy')]);
        expect(d.run(sell(3, 5051, 1))).toStrictEqual([rejected(2, 3, 'risk_price_band')]);
        expect(d.run(sell(3, 5050, 1))).toStrictEqual([rested(3, 3, 'sell', 5050, 1)]);
      });

      it('a named symbol overrides "*" field by field', () => {
        const d = startWith({ symbols: { '*': { maxQty: 10, maxNotional: 1000 }, BBB: { maxQty: 20 } } });
        expect(d.run(buy(1, 10, 11))).toStrictEqual([rejected(0, 1, 'risk_max_qty')]);
        expect(d.run(buy(1, 10, 20, 'gtc', 'BBB'))).toStrictEqual([rested(1, 1, 'buy', 10, 20, 'BBB')]);
        expect(d.run(buy(2, 10, 21, 'gtc', 'BBB'))).toStrictEqual([rejected(2, 2, 'risk_max_qty', 'BBB')]);
        expect(d.run(buy(2, 60, 20, 'gtc', 'BBB'))).toStrictEqual([rejected(3, 2, 'risk_max_notional', 'BBB')]);
      });

      it('checks run after the command checks and in the README order', () => {
        const d = startWith({ symbols: { '*': { maxQty: 10, maxNotional: 100, collarPercent: 1, referencePrice: 50 } } });
        d.run(sell(1, 50, 1));
        expect(d.run(sell(1, 50, 1000))).toStrictEqual([rejected(1, 1, 'duplicate_id')]);
        expect(d.run(buy(2, 50, 0))).toStrictEqual([rejected(2, 2, 'invalid_qty')]);
        expect(d.run(modify(9, 10_000, 1000))).toStrictEqual([rejected(3, 9, 'unknown_order')]);
        expect(d.run(buy(3, 10_000, 11))).toStrictEqual([rejected(4, 3, 'risk_max_qty')]);
        expect(d.run(buy(3, 10_000, 10))).toStrictEqual([rejected(5, 3, 'risk_max_notional')]);
        expect(d.run(buy(3, 49, 1))).toStrictEqual([rejected(6, 3, 'risk_price_band')]);
      });

      it('max open orders per owner: resting orders count, IOC and unowned orders do not; leaving frees a place', () => {
        const d = startWith({ owners: { maxOpenOrders: 2 } });
        expect(d.runAll([owned(buy(1, 90, 1), 7), owned(buy(2, 91, 1), 7)])).toStrictEqual([rested(0, 1, 'buy', 90, 1), rested(1, 2, 'buy', 91, 1)]);
        expect(d.run(owned(buy(3, 92, 1), 7))).toStrictEqual([rejected(2, 3, 'risk_max_open_orders')]);
        expect(d.run(owned(buy(3, 92, 1), 8))).toStrictEqual([rested(3, 3, 'buy', 92, 1)]);
        expect(d.run(buy(4, 93, 1))).toStrictEqual([rested(4, 4, 'buy', 93, 1)]);
        expect(d.run(owned(sell(5, 200, 1, 'ioc'), 7))).toStrictEqual([cancelled(5, 5, 1, 'ioc')]);
        // A reprice keeps the order (and its count); a cancel frees a place; so does a fill that takes the order.
        expect(d.run(modify(1, 89, 1))).toStrictEqual([modified(6, 1, 89, 1), rested(6, 1, 'buy', 89, 1)]);
        expect(d.run(owned(buy(6, 94, 1), 7))).toStrictEqual([rejected(7, 6, 'risk_max_open_orders')]);
        expect(d.run(cancel(2))).toStrictEqual([cancelled(8, 2, 1, 'user')]);
        expect(d.run(owned(buy(6, 94, 1), 7))).toStrictEqual([rested(9, 6, 'buy', 94, 1)]);
        expect(d.run(sell(7, 94, 1))).toStrictEqual([fill(10, 7, 6, 94, 1, 'sell')]);
        expect(d.run(owned(buy(8, 80, 1), 7))).toStrictEqual([rested(11, 8, 'buy', 80, 1)]);
        expect(d.run(owned(buy(9, 80, 1), 7))).toStrictEqual([rejected(12, 9, 'risk_max_open_orders')]);
        // A partial fill leaves the order resting: still counted.
        d.runAll([owned(sell(10, 300, 5), 9), owned(sell(11, 301, 5), 9), buy(12, 300, 2)]);
        expect(d.run(owned(sell(13, 302, 5), 9))).toStrictEqual([rejected(16, 13, 'risk_max_open_orders')]);
      });
    });

    describe('circuit breaker', () => {
      const T = 1_764_700_000_000_000;
      const SEC = 1_000_000;
      const clock = (ts: number): Command => ({ op: 'clock', ts });
      const BREAKER = { breaker: { bandPercent: 5, windowSeconds: 10, limitStateSeconds: 15, pauseSeconds: 300 } };
      const limitEv = (seq: number, side: Side, price: number, until: number, sym = S): MatchEvent => ({ seq, ev: 'limit', sym, side, price, until });
      const halted = (seq: number, until: number, sym = S): MatchEvent => ({ seq, ev: 'halted', sym, reason: 'band', until });
      const resumed = (seq: number, sym = S): MatchEvent => ({ seq, ev: 'resumed', sym });

      /** A trade at 1000 (reference 1000, band 950 … 1050), then asks 1040 × 5 and 1060 × 5: commands 0 … 4. */
      const primed = (rules: unknown = BREAKER): Driver => {
        const d = startWith(rules);
        d.runAll([clock(T), sell(1, 1000, 5), buy(2, 1000, 5), sell(3, 1040, 5), sell(4, 1060, 5)]);
        return d;
      };

      it('a taker stops at the band: its rest is cancelled (band) and the symbol enters its limit state', () => {
        const d = primed();
        expect(d.run(buy(5, 1100, 10))).toStrictEqual([
          fill(5, 5, 3, 1040, 5, 'buy'), cancelled(5, 5, 5, 'band'), limitEv(5, 'buy', 1050, T + 15 * SEC),
        ]);
        expect(d.l2()).toStrictEqual({ bids: [], asks: [[1060, 5]] });
        // In the limit state orders inside the band trade and rest as usual; another stop starts nothing new.
        // The trade at 1040 moved the reference to 1020: band 969 … 1071.
        expect(d.run(buy(6, 1040, 1))).toStrictEqual([rested(6, 6, 'buy', 1040, 1)]);
        expect(d.run(sell(7, 1090, 5))).toStrictEqual([rested(7, 7, 'sell', 1090, 5)]);
        expect(d.run(market('buy', 8, 20))).toStrictEqual([fill(8, 8, 4, 1060, 5, 'buy'), cancelled(8, 8, 15, 'band')]);
      });

      it('a limit state that ends with no liquidity inside the band becomes a pause: halted, cancels and reduces work, then resumed', () => {
        const d = primed();
        d.runAll([buy(5, 1100, 10), buy(6, 1040, 1)]);
        // The clock that reaches the deadline announces it; one before it says nothing.
        expect(d.run(clock(T + 15 * SEC - 1))).toStrictEqual([]);
        const until = T + 315 * SEC;
        expect(d.run(clock(T + 15 * SEC))).toStrictEqual([halted(8, until)]);
        expect(d.run(cancel(6))).toStrictEqual([cancelled(9, 6, 1, 'user')]);
        expect(d.run(buy(7, 1000, 1))).toStrictEqual([rejected(10, 7, 'halted')]);
        expect(d.run(market('sell', 7, 1))).toStrictEqual([rejected(11, 7, 'halted')]);
        expect(d.run(modify(4, 1050, 5))).toStrictEqual([rejected(12, 4, 'halted')]);
        expect(d.run(reduce(4, 1))).toStrictEqual([reduced(13, 4, 4)]);
        // Other symbols trade on.
        expect(d.runAll([sell(1, 10, 1, 'gtc', 'BBB'), buy(2, 10, 1, 'gtc', 'BBB')])).toStrictEqual([
          rested(14, 1, 'sell', 10, 1, 'BBB'), fill(15, 2, 1, 10, 1, 'buy', 'BBB'),
        ]);
        expect(d.run(clock(until - 1))).toStrictEqual([]);
        expect(d.run(buy(7, 1000, 1))).toStrictEqual([rejected(17, 7, 'halted')]);
        expect(d.run(clock(until))).toStrictEqual([resumed(18)]);
        expect(d.run(buy(7, 1060, 4))).toStrictEqual([fill(19, 7, 4, 1060, 4, 'buy')]);
      });

      it('a limit state resolves when liquidity returns inside the band: resumed, no pause', () => {
        const d = primed();
        d.run(buy(5, 1100, 10));
        expect(d.run(sell(6, 1045, 2))).toStrictEqual([rested(6, 6, 'sell', 1045, 2)]);
        expect(d.run(clock(T + 20 * SEC))).toStrictEqual([resumed(7)]);
        expect(d.run(buy(7, 900, 1))).toStrictEqual([rested(8, 7, 'buy', 900, 1)]);
      });

      it('one clock announces every symbol\'s expiry, symbols in name order; a jump past a limit state and its pause gives both', () => {
        const d = startWith(BREAKER);
        // BBB first, then AAA (S), each stopped at its band: two limit states ending at T + 15 s.
        d.runAll([clock(T), sell(1, 1000, 5, 'gtc', 'BBB'), buy(2, 1000, 5, 'gtc', 'BBB'), sell(3, 1060, 5, 'gtc', 'BBB')]);
        d.runAll([sell(1, 1000, 5), buy(2, 1000, 5), sell(3, 1060, 5)]);
        expect(d.run(buy(4, 1100, 1, 'gtc', 'BBB'))).toStrictEqual([cancelled(7, 4, 1, 'band', 'BBB'), limitEv(7, 'buy', 1050, T + 15 * SEC, 'BBB')]);
        expect(d.run(buy(4, 1100, 1))).toStrictEqual([cancelled(8, 4, 1, 'band'), limitEv(8, 'buy', 1050, T + 15 * SEC)]);
        // 20 minutes on: both limit states ended (no ask back inside 1050) and so did their 5-minute pauses.
        expect(d.run(clock(T + 1200 * SEC))).toStrictEqual([
          halted(9, T + 315 * SEC, S), resumed(9, S), halted(9, T + 315 * SEC, 'BBB'), resumed(9, 'BBB'),
        ]);
        expect(d.run(clock(T + 1201 * SEC))).toStrictEqual([]);
      });

      it('a seller is stopped at the lower edge the same way', () => {
        const d = startWith(BREAKER);
        d.runAll([clock(T), sell(1, 1000, 5), buy(2, 1000, 5), buy(3, 960, 5), buy(4, 940, 5)]);
        expect(d.run(sell(5, 900, 8))).toStrictEqual([
          fill(5, 5, 3, 960, 5, 'sell'), cancelled(5, 5, 3, 'band'), limitEv(5, 'sell', 950, T + 15 * SEC),
        ]);
      });

      it('a FOK counts only the liquidity inside the band, and never starts a limit state', () => {
        const d = primed();
        expect(d.run(buy(5, 1100, 10, 'fok'))).toStrictEqual([cancelled(5, 5, 10, 'fok')]);
        // Had the FOK started a limit state, this stop would announce none.
        expect(d.run(buy(6, 1100, 10))).toStrictEqual([fill(6, 6, 3, 1040, 5, 'buy'), cancelled(6, 6, 5, 'band'), limitEv(6, 'buy', 1050, T + 15 * SEC)]);
      });

      it('a modify that re-enters is stopped at the band like a new order', () => {
        const d = primed();
        d.run(buy(5, 900, 10));
        expect(d.run(modify(5, 1100, 10))).toStrictEqual([
          modified(6, 5, 1100, 10), fill(6, 5, 3, 1040, 5, 'buy'), cancelled(6, 5, 5, 'band'), limitEv(6, 'buy', 1050, T + 15 * SEC),
        ]);
        expect(d.run(cancel(5))).toStrictEqual([rejected(7, 5, 'unknown_order')]);
      });

      it('the reference is the mean (floor) of the trades in the window; older trades leave it', () => {
        const d = startWith(BREAKER);
        d.runAll([clock(T), sell(1, 1000, 1), buy(2, 1000, 1), sell(3, 1041, 1), buy(4, 1041, 1), sell(5, 1072, 1)]);
        // mean(1000, 1041) = 1020 (floor of 1020.5): band 969 … 1071, edges included. A FOK shows the band without
        // starting a limit state.
        expect(d.run(buy(6, 1072, 1, 'fok'))).toStrictEqual([cancelled(6, 6, 1, 'fok')]);
        expect(d.run(sell(7, 1071, 1))).toStrictEqual([rested(7, 7, 'sell', 1071, 1)]);
        expect(d.run(buy(8, 1071, 1, 'fok'))).toStrictEqual([fill(8, 8, 7, 1071, 1, 'buy')]);
        // 9 s on, all three trades are in the window: mean 1037, band 986 … 1088.
        d.run(clock(T + 9 * SEC));
        expect(d.run(buy(9, 1072, 1, 'fok'))).toStrictEqual([fill(10, 9, 5, 1072, 1, 'buy')]);
        // 15 s on, the trades at T have left the 10 s window; only 1072 (at T + 9 s) is in it: band 1019 … 1125.
        d.runAll([clock(T + 15 * SEC), sell(10, 1126, 1), sell(11, 1125, 1)]);
        expect(d.run(buy(12, 1126, 2, 'fok'))).toStrictEqual([cancelled(14, 12, 2, 'fok')]);
        expect(d.run(buy(13, 1126, 1, 'fok'))).toStrictEqual([fill(15, 13, 11, 1125, 1, 'buy')]);
      });

      it('without a reference (no trade yet, no referencePrice) there is no band; a referencePrice gives one', () => {
        const free = startWith(BREAKER);
        free.runAll([clock(T), sell(1, 1000, 1), sell(2, 2000, 1)]);
        expect(free.run(buy(3, 3000, 2))).toStrictEqual([fill(3, 3, 1, 1000, 1, 'buy'), fill(3, 3, 2, 2000, 1, 'buy')]);
        const anchored = startWith({ ...BREAKER, symbols: { '*': { referencePrice: 1000 } } });
        anchored.runAll([clock(T), sell(1, 1000, 1), sell(2, 2000, 1)]);
        expect(anchored.run(buy(3, 3000, 2))).toStrictEqual([fill(3, 3, 1, 1000, 1, 'buy'), cancelled(3, 3, 1, 'band'), limitEv(3, 'buy', 1050, T + 15 * SEC)]);
      });

      it('a symbol\'s breakerPercent overrides the band', () => {
        const d = primed({ ...BREAKER, symbols: { [S]: { breakerPercent: 10 } } });
        expect(d.run(buy(5, 1100, 10))).toStrictEqual([fill(5, 5, 3, 1040, 5, 'buy'), fill(5, 5, 4, 1060, 5, 'buy')]);
      });
    });

    describe('clock', () => {
      const T = 1_764_700_000_000_000; // µs since the Unix epoch, exact in an f64
      const clock = (ts: number): Command => ({ op: 'clock', ts });
      const clockRejected = (seq: number): MatchEvent => ({ seq, ev: 'rejected', sym: '', id: 0, reason: 'invalid_command' });

      it('moves time forward with no event; the same time again is not behind', () => {
        const d = start();
        expect(d.run(clock(T))).toStrictEqual([]);
        expect(d.run(clock(T))).toStrictEqual([]);
        expect(d.run(clock(T + 1))).toStrictEqual([]);
        expect(d.run(clock(T + 1_000_000))).toStrictEqual([]);
      });

      it('a ts behind the engine time, or not a non-negative safe integer, is rejected invalid_command (sym "", id 0)', () => {
        const d = start();
        d.run(clock(T));
        expect(d.run(clock(T - 1))).toStrictEqual([clockRejected(1)]);
        expect(d.run(clock(T + 0.5))).toStrictEqual([clockRejected(2)]);
        expect(d.run(clock(NaN))).toStrictEqual([clockRejected(3)]);
        expect(d.run(clock(2 ** 53))).toStrictEqual([clockRejected(4)]);
        // A rejected clock leaves the time where it was: T itself is still accepted.
        expect(d.run(clock(T))).toStrictEqual([]);
        const fresh = start();
        expect(fresh.run(clock(-1))).toStrictEqual([clockRejected(0)]);
        expect(fresh.run(clock(0))).toStrictEqual([]);
      });

      it('leaves books and priorities alone: orders around clocks match as without them', () => {
        const d = start();
        d.runAll([sell(1, 100, 5), clock(T), sell(2, 100, 5)]);
        const hash = d.hash();
        expect(d.run(clock(T + 10))).toStrictEqual([]);
        expect(d.hash()).toBe(hash);
        expect(d.run(buy(3, 100, 7))).toStrictEqual([fill(4, 3, 1, 100, 5, 'buy'), fill(4, 3, 2, 100, 2, 'buy')]);
      });
    });

    describe('symbols', () => {
      it('interleaved symbols: books are independent and one id may live in two symbols', () => {
        const d = start();
        expect(d.run(sell(1, 100, 5, 'gtc', 'AAA'))).toStrictEqual([rested(0, 1, 'sell', 100, 5, 'AAA')]);
        expect(d.run(sell(1, 100, 5, 'gtc', 'BBB'))).toStrictEqual([rested(1, 1, 'sell', 100, 5, 'BBB')]);
        expect(d.run(buy(2, 100, 3, 'gtc', 'AAA'))).toStrictEqual([fill(2, 2, 1, 100, 3, 'buy', 'AAA')]);
        expect(d.run(buy(7, 99, 4, 'gtc', 'CCC'))).toStrictEqual([rested(3, 7, 'buy', 99, 4, 'CCC')]);
        expect(d.run(cancel(1, 'BBB'))).toStrictEqual([cancelled(4, 1, 5, 'user', 'BBB')]);
        expect(d.run(cancel(7, 'AAA'))).toStrictEqual([rejected(5, 7, 'unknown_order', 'AAA')]);
        expect(d.l2('AAA')).toStrictEqual({ bids: [], asks: [[100, 2]] });
        expect(d.l2('BBB')).toStrictEqual(EMPTY);
        expect(d.l2('CCC')).toStrictEqual({ bids: [[99, 4]], asks: [] });
        expect(d.run(sell(7, 99, 10, 'ioc', 'AAA'))).toStrictEqual([cancelled(6, 7, 10, 'ioc', 'AAA')]);
      });
    });

    describe('l2 snapshot', () => {
      it('aggregates qty per level, best level first on each side, at most depth levels', () => {
        const d = start();
        d.runAll([buy(1, 98, 1), buy(2, 99, 2), buy(3, 99, 3), buy(4, 97, 4), sell(5, 101, 5), sell(6, 102, 6), sell(7, 101, 7), sell(8, 103, 8)]);
        expect(d.l2(S, 10)).toStrictEqual({ bids: [[99, 5], [98, 1], [97, 4]], asks: [[101, 12], [102, 6], [103, 8]] });
        expect(d.l2(S, 2)).toStrictEqual({ bids: [[99, 5], [98, 1]], asks: [[101, 12], [102, 6]] });
        expect(d.l2(S, 0)).toStrictEqual(EMPTY);
        expect(d.l2('NONE', 5)).toStrictEqual(EMPTY);
        d.runAll([reduce(2, 1), sell(9, 99, 2), cancel(8), modify(6, 101, 1)]);
        expect(d.l2(S, 10)).toStrictEqual({ bids: [[99, 2], [98, 1], [97, 4]], asks: [[101, 13]] });
      });
    });

    describe('book hash', () => {
      it('is 64 lower-case hex digits, stable across calls, and an emptied book hashes like a fresh one', () => {
        const fresh = start().hash();
        expect(fresh).toMatch(/^[0-9a-f]{64}$/);
        const d = start();
        d.runAll([sell(1, 100, 5), buy(2, 99, 5, 'gtc', 'BBB')]);
        expect(d.hash()).toBe(d.hash());
        expect(d.hash()).not.toBe(fresh);
        d.runAll([buy(3, 100, 5), cancel(2, 'BBB')]);
        expect(d.hash()).toBe(fresh);
      });

      it('equal states reached by different histories hash equal', () => {
        const a = start();
        a.runAll([sell(1, 100, 10), sell(2, 100, 3), buy(3, 99, 5), sell(4, 101, 4), sell(1, 50, 1, 'gtc', 'BBB')]);
        const b = start();
        b.runAll([
          buy(3, 99, 5),
          sell(4, 101, 9),
          sell(1, 100, 12),
          buy(7, 100, 2),
          sell(2, 100, 3),
          reduce(4, 5),
          sell(9, 55, 1, 'gtc', 'CCC'),
          sell(1, 50, 2, 'gtc', 'BBB'),
          modify(1, 50, 1, 'BBB'),
          cancel(9, 'CCC'),
          market('buy', 8, 1, 'CCC'),
        ]);
        expect(b.l2()).toStrictEqual(a.l2());
        expect(b.hash()).toBe(a.hash());
      });

      it('a different FIFO order at one level hashes differently, though the L2 view is equal', () => {
        const a = start();
        a.runAll([sell(1, 100, 5), sell(2, 100, 5)]);
        const b = start();
        b.runAll([sell(2, 100, 5), sell(1, 100, 5)]);
        expect(b.l2()).toStrictEqual(a.l2());
        expect(b.hash()).not.toBe(a.hash());
      });

      it('any difference in id, qty, price, side or symbol changes the hash', () => {
        const hashOf = (commands: Command[]): string => {
          const d = start();
          d.runAll(commands);
          return d.hash();
        };
        const hashes = [
          hashOf([sell(1, 100, 5)]),
          hashOf([sell(2, 100, 5)]),
          hashOf([sell(1, 100, 6)]),
          hashOf([sell(1, 101, 5)]),
          hashOf([buy(1, 100, 5)]),
          hashOf([sell(1, 100, 5, 'gtc', 'BBB')]),
          hashOf([sell(1, 100, 5), sell(2, 101, 5)]),
        ];
        expect(new Set(hashes).size).toBe(hashes.length);
      });

      it('equals the canonical BookHasher walk of the same state', () => {
        const d = start();
        d.runAll([
          sell(5, 103, 1, 'gtc', 'a'),
          buy(1, 99, 4, 'gtc', 'Zed'),
          buy(2, 101, 3, 'gtc', 'Zed'),
          buy(3, 99, 2, 'gtc', 'Zed'),
          sell(4, 105, 6, 'gtc', 'Zed'),
          sell(6, 104, 7, 'gtc', 'Zed'),
          buy(7, 99, 1, 'gtc', 'Zed'),
          cancel(3, 'Zed'),
          sell(1, 7, 9, 'gtc', 'B.1'),
          buy(2, 6, 9, 'gtc', 'B.1'),
          cancel(2, 'B.1'),
          sell(9, 1, 1, 'gtc', 'Empty'),
          cancel(9, 'Empty'),
        ]);
        const h = new BookHasher();
        h.symbol('B.1');
        h.level('sell', 7);
        h.order(1, 9);
        h.symbol('Zed');
        h.level('buy', 101);
        h.order(2, 3);
        h.level('buy', 99);
        h.order(1, 4);
        h.order(7, 1);
        h.level('sell', 104);
        h.order(6, 7);
        h.level('sell', 105);
        h.order(4, 6);
        h.symbol('a');
        h.level('sell', 103);
        h.order(5, 1);
        expect(d.hash()).toBe(h.digest());
      });

      it('does not change on a rejected command', () => {
        const d = start();
        d.runAll([sell(1, 100, 5), buy(2, 90, 5)]);
        const hash = d.hash();
        d.runAll([sell(1, 100, 5), cancel(3), reduce(3, 1), modify(3, 100, 1), buy(4, 100, 0), { op: 'invalid', sym: S, id: 1 }]);
        expect(d.hash()).toBe(hash);
      });
    });
  });
}
