/**
 * Differential tests: the fast core must give exactly the reference engine's events (compared as canonical NDJSON
 * lines, event for event) and the same final book hash and depth, on generated command streams, on every synthetic
 * preset and on the LOBSTER workloads when their files are present.
 *
 * The fast engine runs twice per input: through `process(Command)` with a narrow 32-tick ladder (so most prices fall
 * outside the window and the fallback walks and re-centring run all the time), and straight off the workload's
 * records with the default ladder (the path the benchmarks and multithreaded designs take).
 *
 * Presets run at PRESET_COUNT commands each (their character shows well before their default size), in both op
 * mixes; the LOBSTER files in ../shared/data/lobster are imported with their orderbook files (reconciled, as the
 * harness does) and skipped, with a message, when absent.
 */
import fc from 'fast-check';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FastEngine } from '../engines/fast.ts';
import { ReferenceEngine } from '../engines/reference.ts';
import { formatEvent } from '../engines/types.ts';
import type { BookEngine, Command, MatchEvent, Side, TimeInForce } from '../engines/types.ts';
import { generateWorkload, PRESETS } from '../workloads/generator.ts';
import { importLobster } from '../workloads/lobster.ts';
import { workloadFromCommands } from '../workloads/workload.ts';
import type { Workload } from '../workloads/workload.ts';
import { parseRiskRules, type RiskRules } from '../risk/rules.ts';

interface Run {
  readonly events: string[];
  readonly hash: string;
  readonly depth: string;
}

function depthOf(engine: BookEngine, symbols: readonly string[]): string {
  return JSON.stringify(symbols.map((sym) => engine.l2(sym, 1_000_000)));
}

function runCommands(engine: BookEngine, workload: Workload): Run {
  const events: string[] = [];
  const emit = (event: MatchEvent): void => {
    events.push(formatEvent(event));
  };
  for (let i = 0; i < workload.count; i++) engine.process(workload.command(i), i, emit);
  return { events, hash: engine.bookHash(), depth: depthOf(engine, workload.symbols) };
}

function runRecords(engine: FastEngine, workload: Workload): Run {
  const events: string[] = [];
  const emit = (event: MatchEvent): void => {
    events.push(formatEvent(event));
  };
  for (let i = 0; i < workload.count; i++) engine.processRecord(workload.bytes, workload.f64, i, i, emit);
  return { events, hash: engine.bookHash(), depth: depthOf(engine, workload.symbols) };
}

/** Asserts two runs are identical, naming the first differing event (a whole-array diff of 10^5 lines is unreadable). */
function expectSameRun(actual: Run, expected: Run, what: string): void {
  const n = Math.min(actual.events.length, expected.events.length);
  let i = 0;
  while (i < n && actual.events[i] === expected.events[i]) i++;
  if (i < n || actual.events.length !== expected.events.length) {
    expect(actual.events[i], `${what}: first differing event, index ${i} (fast ${actual.events.length} events, reference ${expected.events.length})`).toBe(expected.events[i]);
  }
  expect(actual.hash, `${what}: book hash`).toBe(expected.hash);
  expect(actual.depth, `${what}: L2 of every symbol`).toBe(expected.depth);
}

function checkWorkload(workload: Workload, what: string, rules: RiskRules | null = null): number {
  const reference = runCommands(new ReferenceEngine(rules), workload);
  const narrow = new FastEngine({
    symbols: workload.symbols, risk: rules,
    capacities: { maxOrders: Math.max(16, workload.count), maxSymbols: Math.max(1, workload.symbols.length), ladderTicks: 32 },
  });
  expectSameRun(runCommands(narrow, workload), reference, `${what} (process, 32-tick ladder)`);
  expectSameRun(runRecords(FastEngine.forWorkload(workload, {}, rules), workload), reference, `${what} (records, default ladder)`);
  return reference.events.length;
}

// ── generated streams ───────────────────────────────────────────────────────────────────────────────────────────

const MALFORMED = [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, -Number.POSITIVE_INFINITY, 2 ** 53, 2 ** 60] as const;

function mostly(valid: fc.Arbitrary<number>): fc.Arbitrary<number> {
  return fc.oneof({ weight: 40, arbitrary: valid }, { weight: 1, arbitrary: fc.constantFrom(...MALFORMED) });
}

/** Shape of one stream: how many symbols, which price band, which id range. */
interface StreamShape {
  readonly symbols: number;
  readonly priceLow: number;
  readonly priceSpan: number;
  readonly idBase: number;
  readonly idPool: number;
}

const shapeArb: fc.Arbitrary<StreamShape> = fc.record({
  symbols: fc.constantFrom(1, 2, 5, 40),
  priceLow: fc.constantFrom(1, 95, 10_000, 2 ** 40),
  priceSpan: fc.constantFrom(4, 12, 200, 5_000, 1_000_000),
  // Ids near 2^53 exercise both 32-bit halves of the hash key; small pools force duplicates and re-use.
  idBase: fc.constantFrom(0, 4_294_967_000, Number.MAX_SAFE_INTEGER - 1_000_000),
  idPool: fc.constantFrom(8, 64, 1_000_000),
});

function commandArb(shape: StreamShape): fc.Arbitrary<Command> {
  const sym = fc.integer({ min: 0, max: shape.symbols - 1 }).map((i) => (i % 3 === 1 ? `s${i}` : `S${i}`));
  const id = mostly(fc.integer({ min: 1, max: shape.idPool }).map((i) => shape.idBase + i));
  const price = mostly(fc.integer({ min: shape.priceLow, max: shape.priceLow + shape.priceSpan }));
  const qty = mostly(fc.integer({ min: 1, max: 40 }));
  const side = fc.constantFrom<Side>('buy', 'sell');
  const owner = fc.option(mostly(fc.integer({ min: 1, max: 4 })), { nil: undefined, freq: 3 });
  const limit = fc
    .record({ sym, id, side, tif: fc.constantFrom<TimeInForce>('gtc', 'gtc', 'gtc', 'ioc', 'fok'), price, qty, owner })
    .map(({ owner: o, ...rest }): Command => ({ op: 'new', type: 'limit', ...rest, ...(o === undefined ? {} : { owner: o }) }));
  const market = fc
    .record({ sym, id, side, qty: fc.integer({ min: 1, max: 120 }), owner })
    .map(({ owner: o, ...rest }): Command => ({ op: 'new', type: 'market', ...rest, ...(o === undefined ? {} : { owner: o }) }));
  return fc.oneof(
    { weight: 40, arbitrary: limit },
    { weight: 4, arbitrary: market },
    { weight: 20, arbitrary: fc.record({ sym, id }).map((c): Command => ({ op: 'cancel', ...c })) },
    { weight: 8, arbitrary: fc.record({ sym, id, qty }).map((c): Command => ({ op: 'reduce', ...c })) },
    { weight: 10, arbitrary: fc.record({ sym, id, price, qty }).map((c): Command => ({ op: 'modify', ...c })) },
    { weight: 1, arbitrary: fc.record({ sym, id }).map((c): Command => ({ op: 'invalid', ...c })) },
  );
}

const streamArb = shapeArb.chain((shape) => fc.array(commandArb(shape), { minLength: 1, maxLength: 400, size: 'max' }));

describe('differential: fast core vs reference engine', () => {
  it('generated streams (many symbols, narrow and wide price bands, ids up to 2^53, every op, malformed values)', () => {
    fc.assert(
      fc.property(streamArb, (commands) => {
        checkWorkload(workloadFromCommands(commands), 'generated stream');
      }),
      { numRuns: 300 },
    );
  });
});

/**
 * Rule sets for the risk differential: every rule, tight enough to fire often on these streams (collar and breaker
 * bands of a few percent, small limits), with named-symbol overrides, and a breaker whose seconds pass within a stream.
 */
const rulesArb: fc.Arbitrary<RiskRules> = fc
  .record({
    maxQty: fc.option(fc.integer({ min: 5, max: 60 }), { nil: undefined }),
    maxNotional: fc.option(fc.integer({ min: 100, max: 2 ** 45 }), { nil: undefined }),
    collarPercent: fc.option(fc.constantFrom(0.5, 2, 5, 25), { nil: undefined }),
    referencePrice: fc.option(fc.constantFrom(1, 100, 10_000, 2 ** 39), { nil: undefined }),
    breakerPercent: fc.constantFrom(0.5, 1, 3, 10),
    override: fc.option(fc.record({ maxQty: fc.integer({ min: 1, max: 30 }), breakerPercent: fc.constantFrom(2, 20) }), { nil: undefined }),
    maxOpenOrders: fc.option(fc.integer({ min: 1, max: 6 }), { nil: undefined }),
    windowSeconds: fc.constantFrom(1, 10, 300),
    limitStateSeconds: fc.constantFrom(1, 15),
    pauseSeconds: fc.constantFrom(1, 30, 300),
    breaker: fc.boolean(),
  })
  .map((r) => {
    const star: Record<string, number> = {};
    if (r.maxQty !== undefined) star['maxQty'] = r.maxQty;
    if (r.maxNotional !== undefined) star['maxNotional'] = r.maxNotional;
    if (r.collarPercent !== undefined) star['collarPercent'] = r.collarPercent;
    if (r.referencePrice !== undefined) star['referencePrice'] = r.referencePrice;
    const symbols: Record<string, unknown> = { '*': star };
    if (r.override !== undefined) symbols['S0'] = r.breaker ? r.override : { maxQty: r.override.maxQty };
    return parseRiskRules({
      symbols,
      ...(r.maxOpenOrders === undefined ? {} : { owners: { maxOpenOrders: r.maxOpenOrders } }),
      ...(r.breaker ? { breaker: { bandPercent: r.breakerPercent, windowSeconds: r.windowSeconds, limitStateSeconds: r.limitStateSeconds, pauseSeconds: r.pauseSeconds } } : {}),
    }, 'generated rules');
  });

/** Streams with clocks that step 0 … 40 s (so limit states and pauses expire mid-stream), now and then backwards. */
const riskStreamArb = shapeArb.chain((shape) => {
  const clock = fc.integer({ min: -1, max: 40_000 }).map((ms): Command => ({ op: 'clock', ts: ms }));
  return fc.array(fc.oneof({ weight: 8, arbitrary: commandArb(shape) }, { weight: 1, arbitrary: clock }), { minLength: 1, maxLength: 400, size: 'max' }).map((commands) => {
    // Clock steps accumulate into absolute times (a step of -1 ms goes back: rejected).
    let now = 1_700_000_000_000_000;
    return commands.map((c) => {
      if (c.op !== 'clock') return c;
      now += c.ts * 1000;
      return { op: 'clock', ts: now } as Command;
    });
  });
});

describe('differential: fast core vs reference engine, with risk rules and the breaker', () => {
  it('generated rules and streams with clocks: every reject, band stop, limit state, pause and resume event for event', () => {
    fc.assert(
      fc.property(rulesArb, riskStreamArb, (rules, commands) => {
        checkWorkload(workloadFromCommands(commands), `generated stream under ${JSON.stringify(rules)}`, rules);
      }),
      { numRuns: 300 },
    );
  });
});

const PRESET_COUNT = 20_000;

describe('differential: synthetic presets', () => {
  for (const preset of PRESETS) {
    for (const ops of ['all', 'peer'] as const) {
      it(`${preset.name} (${ops} ops, ${PRESET_COUNT} commands)`, () => {
        const workload = generateWorkload({ preset: preset.name, seed: 7, count: PRESET_COUNT, ops });
        expect(checkWorkload(workload, `${preset.name}/${ops}`)).toBeGreaterThan(PRESET_COUNT / 2);
      }, 60_000);
    }
  }
});

const LOBSTER_DIR = join(import.meta.dirname, '..', '..', 'shared', 'data', 'lobster');
const LOBSTER_FILES = [
  'GOOG_2012-06-21_34200000_57600000_message_10.csv.gz',
  'AMZN_2012-06-21_34200000_57600000_message_5.csv.gz',
  'GOOG_2012-06-21_34200000_57600000_message_1.csv.gz',
  'AMZN_2012-06-21_34200000_57600000_message_1.csv.gz',
];

describe('differential: LOBSTER workloads', () => {
  for (const file of LOBSTER_FILES) {
    const messages = join(LOBSTER_DIR, file);
    const orderbook = messages.replace('_message_', '_orderbook_');
    const present = existsSync(messages) && existsSync(orderbook);
    if (!present) console.warn(`differential: skipping ${file}: not found in ${LOBSTER_DIR} (the LOBSTER data is not committed; see shared/data/lobster/SOURCE.md)`);
    it.skipIf(!present)(file, async () => {
      const { workload } = await importLobster(messages, { orderbookPath: orderbook });
      expect(checkWorkload(workload, file)).toBeGreaterThan(workload.count / 2);
    }, 120_000);
  }
});
