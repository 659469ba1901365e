/**
 * Property tests over generated command streams, written against the `BookEngine` interface only, so every engine
 * runs them through a factory:
 *
 *   describeEngineProperties('reference', (rules) => new ReferenceEngine(rules));
 *
 * The streams use a few symbols, ids from a small pool (so duplicates, unknown ids and re-use after an order left
 * all happen) and a narrow price band (so orders cross), with every op and a sprinkling of malformed values.
 *
 * The main property replays each stream through the engine and, next to it, a `BookModel` that knows the rules but
 * builds its book only from the commands and the engine's own events: every fill must hit the oldest order of the
 * best opposite level, every remainder must rest or cancel as its tif says, every reject must be the one the
 * validation order gives and leave the hash unchanged, every order's quantity must balance, and after each command
 * the engine's full-depth L2 and book hash must equal the model's.
 *
 * With risk rules and the breaker on (the factory's `rules`), a second property checks what must hold whatever the
 * prices do: the breaker's events follow its state machine (limit from normal; halted from limit; resumed from
 * either) with `until` = engine time + the limit state, then + the pause; a halted symbol neither trades nor takes
 * an order; accepted orders respect the quantity and notional limits; the book is never crossed.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BookHasher } from '../../engines/book-hash.ts';
import { formatEvent } from '../../engines/types.ts';
import type { BookEngine, Command, L2Snapshot, MatchEvent, RejectReason, Side, TimeInForce } from '../../engines/types.ts';
import { parseRiskRules, type RiskRules } from '../../risk/rules.ts';

const SYMBOLS = ['A', 'B', 'b'] as const;
const MALFORMED_NUMBERS = [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53] as const;

/** Mostly valid values from `valid`, sometimes a malformed number. */
function mostly(valid: fc.Arbitrary<number>): fc.Arbitrary<number> {
  return fc.oneof({ weight: 30, arbitrary: valid }, { weight: 1, arbitrary: fc.constantFrom(...MALFORMED_NUMBERS) });
}

const symArb = fc.constantFrom(...SYMBOLS);
const idArb = mostly(fc.integer({ min: 1, max: 8 }));
const priceArb = mostly(fc.integer({ min: 95, max: 105 }));
const qtyArb = mostly(fc.integer({ min: 1, max: 12 }));
const sideArb = fc.constantFrom<Side>('buy', 'sell');
const ownerArb = fc.option(mostly(fc.integer({ min: 1, max: 3 })), { nil: undefined });

const limitArb: fc.Arbitrary<Command> = fc
  .record({
    sym: symArb,
    id: idArb,
    side: sideArb,
    tif: fc.constantFrom<TimeInForce | undefined>('gtc', 'gtc', 'ioc', 'fok', undefined),
    price: fc.option(priceArb, { nil: undefined, freq: 40 }),
    qty: qtyArb,
    owner: ownerArb,
  })
  .map(({ sym, id, side, tif, price, qty, owner }) => ({
    op: 'new' as const,
    sym,
    id,
    side,
    type: 'limit' as const,
    qty,
    ...(tif === undefined ? {} : { tif }),
    ...(price === undefined ? {} : { price }),
    ...(owner === undefined ? {} : { owner }),
  }));

const marketArb: fc.Arbitrary<Command> = fc
  .record({ sym: symArb, id: idArb, side: sideArb, qty: qtyArb, owner: ownerArb })
  .map(({ sym, id, side, qty, owner }) => ({ op: 'new' as const, sym, id, side, type: 'market' as const, qty, ...(owner === undefined ? {} : { owner }) }));

/** One generated command: every op, with occasional malformed ids, prices, quantities and owners. */
const commandArbitrary: fc.Arbitrary<Command> = fc.oneof(
  { weight: 12, arbitrary: limitArb },
  { weight: 2, arbitrary: marketArb },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('cancel' as const), sym: symArb, id: idArb }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('reduce' as const), sym: symArb, id: idArb, qty: qtyArb }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('modify' as const), sym: symArb, id: idArb, price: priceArb, qty: qtyArb }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('invalid' as const), sym: fc.constantFrom('', ...SYMBOLS), id: mostly(fc.integer({ min: 1, max: 8 })) }) },
  // Clocks around a few times, so some go back (rejected), some repeat the engine's time (accepted), some are malformed.
  { weight: 2, arbitrary: fc.record({ op: fc.constant('clock' as const), ts: mostly(fc.integer({ min: 0, max: 6 }).map((t) => 1_700_000_000_000_000 + t * 1000)) }) },
);

/** Rules for the risk property: every rule, tight enough to fire on this narrow band around 100. */
const PROPERTY_RULES = parseRiskRules({
  symbols: { '*': { maxQty: 10, maxNotional: 1000, collarPercent: 5, referencePrice: 100 }, b: { maxQty: 12 } },
  owners: { maxOpenOrders: 3 },
  breaker: { bandPercent: 2, windowSeconds: 1, limitStateSeconds: 1, pauseSeconds: 2 },
}, 'property rules');
const PROPERTY_LIMIT_US = 1_000_000;
const PROPERTY_PAUSE_US = 2_000_000;

/** Streams whose clocks step 0 … 1.5 s (now and then back), so limit states and pauses expire mid-stream. */
const riskStreamArbitrary: fc.Arbitrary<Command[]> = fc
  .array(fc.oneof({ weight: 6, arbitrary: commandArbitrary }, { weight: 1, arbitrary: fc.integer({ min: -1, max: 1500 }).map((ms) => ({ op: 'clock' as const, ts: ms })) }), { minLength: 1, maxLength: 300, size: 'max' })
  .map((commands) => {
    let now = 1_700_000_000_000_000;
    return commands.map((c): Command => {
      if (c.op !== 'clock' || !Number.isSafeInteger(c.ts) || c.ts > 1500) return c;
      now += c.ts * 1000;
      return { op: 'clock', ts: now };
    });
  });

/** Follows each symbol's breaker through the events and the engine time through the accepted clocks. */
class BreakerWatch {
  private time = 0;
  private readonly state = new Map<string, { phase: 'limit' | 'halted'; until: number }>();

  check(command: Command, seq: number, events: readonly MatchEvent[]): void {
    const at = `seq ${seq} (${JSON.stringify(command)}) → ${JSON.stringify(events)}`;
    const clock = command.op === 'clock';
    if (clock) {
      if (events.some((e) => e.ev === 'rejected')) {
        expect(events, `${at}: a rejected clock announces nothing`).toHaveLength(1);
        return;
      }
      this.time = command.ts;
      const order = events.map((e) => e.sym);
      expect(order, `${at}: expiries in symbol-name order`).toStrictEqual([...order].sort());
    }
    let accepted = true;
    for (const e of events) {
      const s = this.state.get(e.sym);
      if (e.ev === 'halted' || e.ev === 'resumed') expect(clock, `${at}: ${e.ev} on a command that is no clock`).toBe(true);
      switch (e.ev) {
        case 'limit':
          expect(s, `${at}: limit while already in ${s?.phase}`).toBeUndefined();
          expect(e.until, `${at}: limit until = time + limit state`).toBe(this.time + PROPERTY_LIMIT_US);
          this.state.set(e.sym, { phase: 'limit', until: e.until });
          break;
        case 'halted':
          expect(s?.phase, `${at}: halted not from a limit state`).toBe('limit');
          expect(this.time, `${at}: halted before the limit state ended`).toBeGreaterThanOrEqual(s!.until);
          expect(e.until, `${at}: halted until = limit until + pause`).toBe(s!.until + PROPERTY_PAUSE_US);
          this.state.set(e.sym, { phase: 'halted', until: e.until });
          break;
        case 'resumed':
          expect(s, `${at}: resumed while trading normally`).toBeDefined();
          expect(this.time, `${at}: resumed before its deadline`).toBeGreaterThanOrEqual(s!.until);
          this.state.delete(e.sym);
          break;
        case 'fill':
        case 'rested':
        case 'modified':
          expect(s?.phase, `${at}: ${e.ev} on a halted symbol`).not.toBe('halted');
          break;
        case 'rejected':
          accepted = false;
          break;
        default:
          break;
      }
    }
    if (command.op === 'new' && accepted) {
      expect(command.qty, `${at}: accepted above maxQty`).toBeLessThanOrEqual(command.sym === 'b' ? 12 : 10);
      if (command.type === 'limit') expect(command.price! * command.qty, `${at}: accepted above maxNotional`).toBeLessThanOrEqual(1000);
    }
    if ((command.op === 'new' || command.op === 'modify') && this.state.get(command.sym)?.phase === 'halted' && accepted && events.length > 0) {
      throw new Error(`${at}: a ${command.op} on a halted symbol was not rejected`);
    }
    // A clock announces every deadline it reaches: none is left behind engine time.
    if (clock) for (const [sym, st] of this.state) expect(st.until, `${at}: ${sym}'s ${st.phase} deadline passed unannounced`).toBeGreaterThan(this.time);
  }
}

/** A generated command stream, commands numbered by their index. */
const commandStreamArbitrary: fc.Arbitrary<Command[]> = fc.array(commandArbitrary, { minLength: 1, maxLength: 200, size: 'max' });

/** Runs `commands` through `engine` (seq = index) and returns the events of each command, as canonical plain objects. */
function runEach(engine: BookEngine, commands: readonly Command[], after?: (seq: number, events: MatchEvent[]) => void): MatchEvent[][] {
  return commands.map((command, seq) => {
    const events: MatchEvent[] = [];
    engine.process(command, seq, (event) => {
      events.push(JSON.parse(formatEvent(event)) as MatchEvent);
    });
    after?.(seq, events);
    return events;
  });
}

function isPositiveSafeInteger(x: number | undefined): x is number {
  return x !== undefined && Number.isSafeInteger(x) && x > 0;
}

function crosses(takerSide: Side, limit: number | undefined, price: number): boolean {
  return limit === undefined || (takerSide === 'buy' ? price <= limit : price >= limit);
}

const opposite = (side: Side): Side => (side === 'buy' ? 'sell' : 'buy');

/** A live order of the model, with its own quantity ledger: submitted = filled + remaining + cancelled + reduced. */
interface ModelOrder {
  readonly sym: string;
  readonly id: number;
  readonly side: Side;
  price: number;
  remaining: number;
  submitted: number;
  filled: number;
  cancelled: number;
  reduced: number;
}

interface ModelBook {
  /** price -> FIFO queue, per side. */
  readonly levels: Record<Side, Map<number, ModelOrder[]>>;
  readonly orders: Map<number, ModelOrder>;
}

/** Stream-wide quantity totals, for the overall identity submitted = 2 × traded + resting + cancelled + reduced. */
interface Totals {
  submitted: number;
  traded: number;
  cancelled: number;
  reduced: number;
}

/**
 * A book rebuilt from commands and the engine's events, which checks each command's events against the rules as it
 * applies them. It never decides an outcome for the engine; it checks that the outcome the engine reports is the
 * one the rules allow given the book the engine's earlier events describe.
 */
class BookModel {
  private readonly books = new Map<string, ModelBook>();
  readonly totals: Totals = { submitted: 0, traded: 0, cancelled: 0, reduced: 0 };
  time = 0;

  /** The reject the rules give for `command` in the current book, or null. */
  expectedRejection(command: Command): RejectReason | null {
    if (command.op === 'clock') return Number.isSafeInteger(command.ts) && command.ts >= this.time ? null : 'invalid_command';
    if (command.op === 'invalid' || !isPositiveSafeInteger(command.id)) return 'invalid_command';
    const live = this.live(command.sym, command.id) !== undefined;
    switch (command.op) {
      case 'new':
        if (command.owner !== undefined && !Number.isNaN(command.owner) && !isPositiveSafeInteger(command.owner)) return 'invalid_command';
        if (!isPositiveSafeInteger(command.qty)) return 'invalid_qty';
        if (command.type === 'limit' && !isPositiveSafeInteger(command.price)) return 'invalid_price';
        return live ? 'duplicate_id' : null;
      case 'cancel':
        return live ? null : 'unknown_order';
      case 'reduce':
        if (!isPositiveSafeInteger(command.qty)) return 'invalid_qty';
        return live ? null : 'unknown_order';
      case 'modify':
        if (!isPositiveSafeInteger(command.qty)) return 'invalid_qty';
        if (!isPositiveSafeInteger(command.price)) return 'invalid_price';
        return live ? null : 'unknown_order';
    }
  }

  /** Checks the events of an accepted command and applies them. */
  apply(command: Command, seq: number, events: readonly MatchEvent[]): void {
    const at = `seq ${seq} (${JSON.stringify(command)}) -> ${JSON.stringify(events)}`;
    switch (command.op) {
      case 'clock':
        expect(events, `${at}: a clock emits no event (nothing expires)`).toStrictEqual([]);
        this.time = command.ts;
        return;
      case 'new': {
        const order = this.newOrder(command.sym, command.id, command.side, command.qty);
        const limit = command.type === 'limit' ? command.price : undefined;
        const tif = command.type === 'market' ? 'ioc' : (command.tif ?? 'gtc');
        this.take(order, limit, tif, seq, events, 0, at);
        return;
      }
      case 'cancel': {
        const order = this.live(command.sym, command.id)!;
        expect(events, at).toStrictEqual([{ seq, ev: 'cancelled', sym: command.sym, id: command.id, qty: order.remaining, reason: 'user' }]);
        this.leave(order, 'cancelled', at);
        return;
      }
      case 'reduce': {
        const order = this.live(command.sym, command.id)!;
        if (command.qty < order.remaining) {
          expect(events, at).toStrictEqual([{ seq, ev: 'reduced', sym: command.sym, id: command.id, qty: order.remaining - command.qty }]);
          this.shrink(order, command.qty);
        } else {
          expect(events, at).toStrictEqual([{ seq, ev: 'cancelled', sym: command.sym, id: command.id, qty: order.remaining, reason: 'user' }]);
          this.leave(order, 'cancelled', at);
        }
        return;
      }
      case 'modify': {
        const order = this.live(command.sym, command.id)!;
        const { price, qty } = command;
        expect(events[0], at).toStrictEqual({ seq, ev: 'modified', sym: command.sym, id: command.id, price, qty });
        if (price === order.price && qty <= order.remaining) {
          expect(events.length, `${at}: a modify that keeps priority has exactly one event`).toBe(1);
          this.shrink(order, order.remaining - qty);
          return;
        }
        this.unqueue(order);
        const growth = qty - order.remaining;
        if (growth > 0) {
          order.submitted += growth;
          order.remaining = qty;
          this.totals.submitted += growth;
        } else {
          this.shrink(order, -growth);
        }
        this.take(order, price, 'gtc', seq, events, 1, at);
        return;
      }
      case 'invalid':
        throw new Error(`${at}: an invalid command was accepted`);
    }
  }

  /** Full-depth L2 of one symbol as the model sees it. */
  l2(sym: string): L2Snapshot {
    const book = this.books.get(sym);
    if (book === undefined) return { bids: [], asks: [] };
    const side = (s: Side): Array<readonly [number, number]> =>
      this.sortedPrices(book, s).map((price) => [price, book.levels[s].get(price)!.reduce((sum, o) => sum + o.remaining, 0)] as const);
    return { bids: side('buy'), asks: side('sell') };
  }

  /** The canonical hash of the model's book, by the BookHasher walk. */
  hash(): string {
    const hasher = new BookHasher();
    for (const sym of [...this.books.keys()].sort()) {
      const book = this.books.get(sym)!;
      if (book.orders.size === 0) continue;
      hasher.symbol(sym);
      for (const side of ['buy', 'sell'] as const) {
        for (const price of this.sortedPrices(book, side)) {
          hasher.level(side, price);
          for (const order of book.levels[side].get(price)!) hasher.order(order.id, order.remaining);
        }
      }
    }
    return hasher.digest();
  }

  /** Total quantity resting in the model's book. */
  resting(): number {
    let sum = 0;
    for (const book of this.books.values()) for (const order of book.orders.values()) sum += order.remaining;
    return sum;
  }

  private live(sym: string, id: number): ModelOrder | undefined {
    return this.books.get(sym)?.orders.get(id);
  }

  private book(sym: string): ModelBook {
    let book = this.books.get(sym);
    if (book === undefined) {
      book = { levels: { buy: new Map(), sell: new Map() }, orders: new Map() };
      this.books.set(sym, book);
    }
    return book;
  }

  /** Prices of one side, best first. */
  private sortedPrices(book: ModelBook, side: Side): number[] {
    return [...book.levels[side].keys()].sort((x, y) => (side === 'buy' ? y - x : x - y));
  }

  private newOrder(sym: string, id: number, side: Side, qty: number): ModelOrder {
    this.totals.submitted += qty;
    return { sym, id, side, price: 0, remaining: qty, submitted: qty, filled: 0, cancelled: 0, reduced: 0 };
  }

  private shrink(order: ModelOrder, by: number): void {
    order.remaining -= by;
    order.reduced += by;
    this.totals.reduced += by;
  }

  /**
   * Checks the fills and the final rested/cancelled of an aggressive order (a new one, or a modified one re-entering),
   * starting at events[first], and applies them.
   */
  private take(taker: ModelOrder, limit: number | undefined, tif: TimeInForce, seq: number, events: readonly MatchEvent[], first: number, at: string): void {
    const book = this.book(taker.sym);
    const makers = book.levels[opposite(taker.side)];
    const crossingLiquidity = (): number => {
      let sum = 0;
      for (const [price, queue] of makers) if (crosses(taker.side, limit, price)) for (const o of queue) sum += o.remaining;
      return sum;
    };
    const bestMakerPrice = (): number | undefined => this.sortedPrices(book, opposite(taker.side))[0];
    if (tif === 'fok' && crossingLiquidity() < taker.remaining) {
      expect(events.slice(first), `${at}: FOK without enough liquidity`).toStrictEqual([{ seq, ev: 'cancelled', sym: taker.sym, id: taker.id, qty: taker.remaining, reason: 'fok' }]);
      this.leave(taker, 'cancelled', at);
      return;
    }
    let i = first;
    for (let event = events[i]; event?.ev === 'fill'; event = events[++i]) {
      const best = bestMakerPrice();
      expect(best, `${at}: fill with no opposite liquidity`).toBeDefined();
      expect(event.price, `${at}: fill ${i - first} is not at the best opposite price`).toBe(best);
      expect(crosses(taker.side, limit, event.price), `${at}: fill ${i - first} at ${event.price} is beyond the limit ${limit}`).toBe(true);
      const maker = makers.get(event.price)![0]!;
      expect({ maker: event.maker, taker: event.taker, side: event.side, sym: event.sym }, `${at}: fill ${i - first} must hit the oldest order at ${event.price} (FIFO)`).toStrictEqual({
        maker: maker.id,
        taker: taker.id,
        side: taker.side,
        sym: taker.sym,
      });
      expect(isPositiveSafeInteger(event.qty) && event.qty === Math.min(taker.remaining, maker.remaining), `${at}: fill ${i - first} qty must be min(taker ${taker.remaining}, maker ${maker.remaining})`).toBe(true);
      maker.remaining -= event.qty;
      maker.filled += event.qty;
      taker.remaining -= event.qty;
      taker.filled += event.qty;
      this.totals.traded += event.qty;
      if (maker.remaining === 0) this.leave(maker, 'filled', at);
      if (taker.remaining === 0) break;
    }
    const rest = events.slice(taker.remaining === 0 ? i + 1 : i);
    if (taker.remaining === 0) {
      expect(rest, `${at}: nothing may follow the fill that completes the taker`).toStrictEqual([]);
      this.leave(taker, 'filled', at);
      return;
    }
    const best = bestMakerPrice();
    expect(best === undefined || !crosses(taker.side, limit, best), `${at}: the taker stopped with crossing liquidity left at ${best}`).toBe(true);
    if (tif === 'gtc') {
      expect(rest, at).toStrictEqual([{ seq, ev: 'rested', sym: taker.sym, id: taker.id, side: taker.side, price: limit, qty: taker.remaining }]);
      taker.price = limit!;
      const queue = book.levels[taker.side].get(taker.price) ?? [];
      queue.push(taker);
      book.levels[taker.side].set(taker.price, queue);
      book.orders.set(taker.id, taker);
    } else {
      expect(tif, `${at}: a FOK that had the liquidity must fill completely`).toBe('ioc');
      expect(rest, at).toStrictEqual([{ seq, ev: 'cancelled', sym: taker.sym, id: taker.id, qty: taker.remaining, reason: 'ioc' }]);
      this.leave(taker, 'cancelled', at);
    }
  }

  /** Takes an order out of its queue (if it rests) and the id map, leaving its ledger as it is. */
  private unqueue(order: ModelOrder): void {
    const book = this.book(order.sym);
    if (book.orders.get(order.id) !== order) return;
    const levels = book.levels[order.side];
    const queue = levels.get(order.price)!;
    queue.splice(queue.indexOf(order), 1);
    if (queue.length === 0) levels.delete(order.price);
    book.orders.delete(order.id);
  }

  /** An order leaves for good: cancelled with its remaining qty, or filled; its ledger must balance. */
  private leave(order: ModelOrder, how: 'cancelled' | 'filled', at: string): void {
    this.unqueue(order);
    if (how === 'cancelled') {
      order.cancelled += order.remaining;
      this.totals.cancelled += order.remaining;
      order.remaining = 0;
    }
    expect(
      { submitted: order.submitted, accounted: order.filled + order.cancelled + order.reduced, remaining: order.remaining },
      `${at}: order ${order.id} in ${order.sym} left the book, so submitted = filled + cancelled + reduced`,
    ).toStrictEqual({ submitted: order.submitted, accounted: order.submitted, remaining: 0 });
  }
}

function fullL2(engine: BookEngine, sym: string): L2Snapshot {
  const { bids, asks } = engine.l2(sym, Number.MAX_SAFE_INTEGER);
  return { bids: bids.map(([p, q]) => [p, q] as const), asks: asks.map(([p, q]) => [p, q] as const) };
}

export interface EnginePropertiesOptions {
  /** Generated streams per property (default 200; the determinism property runs half as many, two engines each). */
  readonly numRuns?: number;
}

/**
 * `create` is called once per generated stream (twice for determinism); an engine that is costly to create (worker
 * threads, large preallocated buffers) can lower `numRuns` to keep the file within seconds.
 */
export function describeEngineProperties(name: string, createWith: (rules: RiskRules | null) => BookEngine, options: EnginePropertiesOptions = {}): void {
  const numRuns = options.numRuns ?? 200;
  const create = (): BookEngine => createWith(null);
  describe(`engine properties: ${name}`, () => {
    it('with risk rules and the breaker: breaker events follow its state machine and timing, a halted symbol is still, accepted orders within limits', () => {
      fc.assert(
        fc.property(riskStreamArbitrary, (commands) => {
          const engine = createWith(PROPERTY_RULES);
          const breaker = new BreakerWatch();
          runEach(engine, commands, (seq, events) => {
            breaker.check(commands[seq]!, seq, events);
            for (const sym of SYMBOLS) {
              const { bids, asks } = engine.l2(sym, 1);
              if (bids[0] !== undefined && asks[0] !== undefined) expect(bids[0][0], `seq ${seq}: ${sym} crossed`).toBeLessThan(asks[0][0]);
            }
          });
        }),
        { numRuns },
      );
    });

    it('the book is never crossed after any command', () => {
      fc.assert(
        fc.property(commandStreamArbitrary, (commands) => {
          const engine = create();
          runEach(engine, commands, (seq) => {
            for (const sym of SYMBOLS) {
              const { bids, asks } = engine.l2(sym, 1);
              const bid = bids[0]?.[0];
              const ask = asks[0]?.[0];
              if (bid !== undefined && ask !== undefined) expect(bid, `after seq ${seq}, ${sym}: best bid ${bid} must be below best ask ${ask}`).toBeLessThan(ask);
            }
          });
        }),
        { numRuns },
      );
    });

    it('events agree with a book model: reject rules, price-time priority (FIFO per level), tif outcomes, quantity conserved per order and overall, L2 and hash', () => {
      fc.assert(
        fc.property(commandStreamArbitrary, (commands) => {
          const engine = create();
          const model = new BookModel();
          let hashBefore = engine.bookHash();
          commands.forEach((command, seq) => {
            const reason = model.expectedRejection(command);
            const events: MatchEvent[] = [];
            engine.process(command, seq, (event) => {
              events.push(JSON.parse(formatEvent(event)) as MatchEvent);
            });
            const at = `seq ${seq} (${JSON.stringify(command)})`;
            if (reason !== null) {
              const rejected = command.op === 'clock' ? { sym: '', id: 0 } : { sym: command.sym, id: Number.isFinite(command.id) ? command.id : 0 };
              expect(events, at).toStrictEqual([{ seq, ev: 'rejected', ...rejected, reason }]);
            } else {
              model.apply(command, seq, events);
            }
            for (const sym of SYMBOLS) expect(fullL2(engine, sym), `${at}: L2 of ${sym}`).toStrictEqual(model.l2(sym));
            const hash = engine.bookHash();
            if (reason !== null) expect(hash, `${at}: a rejected command must leave the book unchanged`).toBe(hashBefore);
            expect(hash, `${at}: book hash`).toBe(model.hash());
            hashBefore = hash;
          });
          const restingInEngine = SYMBOLS.reduce((sum, sym) => {
            const { bids, asks } = fullL2(engine, sym);
            return sum + [...bids, ...asks].reduce((s, [, q]) => s + q, 0);
          }, 0);
          const { submitted, traded, cancelled, reduced } = model.totals;
          expect({ submitted, accounted: 2 * traded + restingInEngine + cancelled + reduced }, 'overall: submitted = 2 × traded + resting + cancelled + reduced').toStrictEqual({
            submitted,
            accounted: submitted,
          });
        }),
        { numRuns },
      );
    });

    it('the same input gives the same events and the same hash', () => {
      fc.assert(
        fc.property(commandStreamArbitrary, (commands) => {
          const first = create();
          const second = create();
          const a = runEach(first, commands).flat().map(formatEvent);
          const b = runEach(second, commands).flat().map(formatEvent);
          expect(b).toStrictEqual(a);
          expect(second.bookHash()).toBe(first.bookHash());
        }),
        { numRuns: Math.max(1, Math.floor(numRuns / 2)) },
      );
    });
  });
}
