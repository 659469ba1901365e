/**
 * `npm run bench:micro`: mitata micro-benchmarks of the hot paths — the fast core's basic operations and id hash
 * probe, the shared-memory ring hand-offs, the futex mutex — plus whole presets. Benchmarks, not tests: nothing here
 * asserts a time; instead every benchmark checks its own answer outside the timer and throws if it is wrong, so a
 * broken core or ring cannot report a fast figure.
 *
 * mitata times a function call by call (in batches of thousands when calls are short) and prints per-call
 * statistics: mean, min … max, p75, p99, a histogram, heap bytes per call, and, where @mitata/counters can read the
 * CPU's performance counters, cycles, instructions and cache misses per call. The first lines say whether the
 * counters are available here and, if not, why. A closing table divides each figure by the operations in one call.
 *
 * Calls in a batch run back to back with no hook between them, so every call leaves its state as it found it:
 * - fast core: one book, built up front, of 32 bid and 32 ask levels of 32 orders of 10 lots, 32 empty ticks
 *   between the sides; each benchmark is a cycle of calls of a few commands that undo themselves:
 *   - add + cancel: a bid joins the back of one of the 32 levels and is cancelled;
 *   - cancel + re-add: a random resting order leaves from anywhere in its level and rests again at the back;
 *   - single fill: a sell joins the back of the best ask level and an IOC buy takes that level's oldest maker whole
 *     (ids cycle through a pool, so the book is the same at the start of every cycle);
 *   - walk N levels: N one-lot asks rest on N new levels inside the spread and a market buy sweeps them;
 *   - cancel of an unknown id: decode, a hash probe that misses, a reject event — the floor of one command.
 *   Checks: the book after building hashes as the reference engine's does; after measuring, one more call emits
 *   exactly the events the reference engine emits for that call, and the book has its starting depth and order count.
 * - id hash probe: the core's id lookup (`orderSlot`, the `find` every command runs) for random live and absent ids
 *   in a full order pool, so the table is as loaded as the core lets it get (½). Checked: every hit id maps to a slot
 *   holding that id, every miss to none.
 * - rings: one command record through an SPSC ring and through an MPSC ring on one thread (claim, write, publish;
 *   read, release), so the ring is empty after each call. Checked: every message read is the one just sent.
 * - futex mutex: an uncontended lock and unlock around a counter. Checked: the lock was held inside, is free after,
 *   and never contended, slept or woke anyone.
 * - presets: a whole generated workload per call, each on a fresh core built outside the timer (mitata's computed
 *   parameter); GC runs before every sample, outside the timer, so one call's garbage is not another's pause.
 *   Checked: a fresh run's event count and book hash equal the reference engine's.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { isDeepStrictEqual } from 'node:util';
import type { CounterReadings } from '@mitata/counters';
import { bench, do_not_optimize, group, run } from 'mitata';
import type { B } from 'mitata';
import { bookHashOfCores, l2OfCores } from '../engines/core-inspect.ts';
import { decodeEventRecord, EVENT_BYTES } from '../engines/event-record.ts';
import { FastCore } from '../engines/fast-core.ts';
import type { FastCoreCapacities } from '../engines/fast-core-layout.ts';
import { capacitiesForWorkload } from '../engines/fast.ts';
import { ReferenceEngine, runReference } from '../engines/reference.ts';
import { FutexMutex } from '../engines/shared/futex-mutex.ts';
import { FUTEX_MUTEX_BYTES, MUTEX_LOCKED, MUTEX_UNLOCKED } from '../engines/shared/futex-mutex-layout.ts';
import { MpscRing } from '../engines/shared/mpsc-ring.ts';
import { mpscRingBytes } from '../engines/shared/mpsc-ring-layout.ts';
import { SpscRing } from '../engines/shared/spsc-ring.ts';
import { spscRingBytes } from '../engines/shared/spsc-ring-layout.ts';
import type { Command, L2Snapshot, MatchEvent } from '../engines/types.ts';
import { generateWorkload } from '../workloads/generator.ts';
import { Prng } from '../workloads/prng.ts';
import { F64_ID, RECORD_BYTES, RECORD_F64S, workloadFromCommands } from '../workloads/workload.ts';
import type { Workload } from '../workloads/workload.ts';

const SYM = 'X';
const TOUCH = 100_000;
const LEVELS_A_SIDE = 32;
const ORDERS_A_LEVEL = 32;
const LOT = 10;
const BOOK_ORDERS = 2 * LEVELS_A_SIDE * ORDERS_A_LEVEL;
/** Bids rest from TOUCH - 1 down, asks from ASK_FROM up; walks put their one-lot levels on the ticks between. */
const ASK_FROM = TOUCH + 32;
/** Calls in a cycle of the add, fill and unknown-cancel benchmarks, and draws in the cancel + re-add one. */
const CYCLE = 1024;
const RANDOM_DRAWS = 4096;
const WALK_LEVELS = [1, 4, 16];
/** The default core size (FastEngine's maxOrders), so the book's arrays and id table are as large as in use. */
const MICRO_CAPACITIES: FastCoreCapacities = { maxOrders: 1 << 16, maxSymbols: 1, ladderTicks: 1 << 13 };
const EVENTS_PER_CALL = 1024;
const RING_SLOTS = 1024;
const PRESETS = ['balanced', 'cancel-heavy', 'sweep'];
const PRESET_COMMANDS = 100_000;
const WARM_CALLS = 10_000;

const gtc = (id: number, side: 'buy' | 'sell', price: number, qty: number): Command => ({ op: 'new', sym: SYM, id, side, type: 'limit', tif: 'gtc', price, qty });
const ioc = (id: number, side: 'buy' | 'sell', price: number, qty: number): Command => ({ op: 'new', sym: SYM, id, side, type: 'limit', tif: 'ioc', price, qty });
const market = (id: number, side: 'buy' | 'sell', qty: number): Command => ({ op: 'new', sym: SYM, id, side, type: 'market', qty });
const cancel = (id: number): Command => ({ op: 'cancel', sym: SYM, id });

/** The command that rests order `id` (1 … BOOK_ORDERS) of the standard book: level by level, FIFO in id order. */
function bookOrder(id: number): Command {
  const bids = BOOK_ORDERS / 2;
  if (id <= bids) return gtc(id, 'buy', TOUCH - 1 - Math.floor((id - 1) / ORDERS_A_LEVEL), LOT);
  return gtc(id, 'sell', ASK_FROM + Math.floor((id - bids - 1) / ORDERS_A_LEVEL), LOT);
}

const standardBook = (): Command[] => Array.from({ length: BOOK_ORDERS }, (_, i) => bookOrder(i + 1));

function depthOf(core: FastCore): L2Snapshot {
  return l2OfCores([core], 0, core.capacities.maxOrders);
}

/**
 * One fast-core benchmark: a one-symbol book built up front and a cycle of calls of `commandsPerCall` commands each,
 * encoded once. `call` runs the next call of the cycle (what mitata times); `verify` runs outside the timer.
 * The reference engine replays the book and one cycle to give each call's expected events, which is right for every
 * later cycle too because each cycle starts from the same book, or (cancel + re-add) its events do not depend on
 * the order of the orders within a level.
 */
class CoreCycle {
  readonly #name: string;
  readonly #core: FastCore;
  readonly #program: Workload;
  readonly #commandsPerCall: number;
  readonly #calls: number;
  readonly #expected: MatchEvent[][];
  readonly #startDepth: L2Snapshot;
  readonly #startOrders: number;
  readonly #eventBytes: Uint8Array;
  readonly #eventWords: Uint32Array;
  readonly #eventF64: Float64Array;
  #next = 0;

  constructor(name: string, book: readonly Command[], calls: readonly (readonly Command[])[]) {
    const commandsPerCall = calls[0]?.length ?? 0;
    if (commandsPerCall === 0 || calls.some((c) => c.length !== commandsPerCall)) {
      throw new Error(`bench:micro: ${name}: every call needs the same number of commands, at least one`);
    }
    this.#name = name;
    this.#commandsPerCall = commandsPerCall;
    this.#calls = calls.length;
    this.#program = workloadFromCommands(calls.flat());
    const events = new ArrayBuffer(EVENTS_PER_CALL * EVENT_BYTES);
    this.#eventBytes = new Uint8Array(events);
    this.#eventWords = new Uint32Array(events);
    this.#eventF64 = new Float64Array(events);
    this.#core = FastCore.create(MICRO_CAPACITIES);
    this.#core.setEventOutput(events, 0, EVENTS_PER_CALL);
    const setup = workloadFromCommands(book);
    for (let i = 0; i < setup.count; i++) {
      this.#core.outCursor = 0;
      this.#core.processRecord(setup.bytes, setup.f64, i, i);
    }

    const reference = new ReferenceEngine();
    book.forEach((command, seq) => reference.process(command, seq, () => {}));
    const bookHash = bookHashOfCores([this.#core], [SYM]);
    if (bookHash !== reference.bookHash()) throw new Error(`bench:micro: ${name}: the fast core built a different book than the reference engine`);
    this.#expected = calls.map((commands) => {
      const out: MatchEvent[] = [];
      commands.forEach((command, seq) => reference.process(command, seq, (event) => out.push(event)));
      return out;
    });
    this.#startDepth = depthOf(this.#core);
    this.#startOrders = this.#core.liveOrders;
  }

  call(): void {
    const core = this.#core;
    const program = this.#program;
    const slot = this.#next;
    this.#next = slot + 1 === this.#calls ? 0 : slot + 1;
    const first = slot * this.#commandsPerCall;
    core.outCursor = 0;
    // Sequence numbers count from 0 within a call, as the reference replay that made the expected events did.
    for (let c = 0; c < this.#commandsPerCall; c++) core.processRecord(program.bytes, program.f64, first + c, c);
  }

  /** One more call, whose events must be the reference engine's; then the book must have its starting shape. */
  verify(): void {
    const slot = this.#next;
    this.call();
    const core = this.#core;
    const events: MatchEvent[] = [];
    for (let i = 0; i < core.outCursor; i++) events.push(decodeEventRecord(this.#eventBytes, this.#eventWords, this.#eventF64, i, [SYM]));
    if (!isDeepStrictEqual(events, this.#expected[slot])) {
      throw new Error(`bench:micro: ${this.#name}: call ${slot} of the cycle emitted ${JSON.stringify(events)}, the reference engine ${JSON.stringify(this.#expected[slot])}`);
    }
    if (core.liveOrders !== this.#startOrders || !isDeepStrictEqual(depthOf(core), this.#startDepth)) {
      throw new Error(`bench:micro: ${this.#name}: the book no longer has its starting depth and ${this.#startOrders} orders (${core.liveOrders} now)`);
    }
  }
}

/** What one call of a benchmark performs, for the per-operation table; `args` are the run's mitata arguments. */
interface PerCall {
  readonly unit: string;
  readonly count: (args: Readonly<Record<string, unknown>>) => number;
}

/** Benchmark name (mitata's alias, before argument substitution) → what one call performs. */
const perCall = new Map<string, PerCall>();

/** `bench`, recording what one call performs; a generator of a benchmark with `.args` reads them from `state`. */
function micro(
  name: string, unit: string, count: number | PerCall['count'],
  gen: (state: { get(name: string): unknown }) => Generator<() => void, void, undefined>,
): B {
  perCall.set(name, { unit, count: typeof count === 'number' ? () => count : count });
  return bench(name, gen);
}

/**
 * mitata's computed parameter (its README, "computed parameters"): `make` runs outside the timer and its result is
 * handed to `measured`. mitata makes parameters ahead of the calls — a whole batch ahead when calls are short — so
 * each must be independent state (a fresh core), never a reset of shared state. Its .d.ts types only the
 * plain-function yield, hence the cast.
 */
function computed<T>(make: () => T, measured: (made: T) => void): () => void {
  return { 0: make, bench: measured } as unknown as () => void;
}

/**
 * Runs `call` WARM_CALLS times before mitata sees it. mitata times the first call alone to choose between batching
 * calls and timing each on its own; a first call still running unoptimized code (over 0.5 ms) would have it time
 * every call of a nanosecond operation singly, timer and heap-reading overhead included.
 */
function warmed(call: () => void): () => void {
  for (let i = 0; i < WARM_CALLS; i++) call();
  return call;
}

function coreBenchmarks(): void {
  const book = standardBook();
  const bids = BOOK_ORDERS / 2;

  micro('add + cancel (joins a level, cancelled)', 'command', 2, function* () {
    const cycle = new CoreCycle('add + cancel', book, Array.from({ length: CYCLE }, (_, j) => {
      const id = 100_001 + j;
      return [gtc(id, 'buy', TOUCH - 1 - (j % LEVELS_A_SIDE), LOT), cancel(id)];
    }));
    yield warmed(() => cycle.call());
    cycle.verify();
  });

  micro('cancel + re-add (random resting order)', 'command', 2, function* () {
    const prng = new Prng(7);
    const cycle = new CoreCycle('cancel + re-add', book, Array.from({ length: RANDOM_DRAWS }, () => {
      const id = 1 + (prng.nextU32() % BOOK_ORDERS);
      return [cancel(id), bookOrder(id)];
    }));
    yield warmed(() => cycle.call());
    cycle.verify();
  });

  micro('single fill (IOC takes the oldest maker)', 'command', 2, function* () {
    // Makers cycle through a pool whose last ORDERS_A_LEVEL ids are the best ask level's own, oldest first: the
    // maker a call fills is the one added ORDERS_A_LEVEL calls before, and each cycle ends with the level as built.
    const bestAsks = Array.from({ length: ORDERS_A_LEVEL }, (_, i) => bids + 1 + i);
    const pool = [...Array.from({ length: CYCLE - ORDERS_A_LEVEL }, (_, j) => 200_001 + j), ...bestAsks];
    const cycle = new CoreCycle('single fill', book, pool.map((maker) => [gtc(maker, 'sell', ASK_FROM, LOT), ioc(300_000, 'buy', ASK_FROM, LOT)]));
    yield warmed(() => cycle.call());
    cycle.verify();
  });

  micro('walk $levels level(s) (one-lot asks, market buy)', 'level', (args) => Number(args['levels']), function* (state) {
    const levels = Number(state.get('levels'));
    const makers = Array.from({ length: levels }, (_, i) => gtc(400_001 + i, 'sell', TOUCH + i, 1));
    const cycle = new CoreCycle(`walk ${levels} levels`, book, [[...makers, market(500_000, 'buy', levels)]]);
    yield warmed(() => cycle.call());
    cycle.verify();
  }).args('levels', WALK_LEVELS);

  micro('cancel unknown id (probe miss, reject)', 'command', 1, function* () {
    const cycle = new CoreCycle('cancel unknown id', book, Array.from({ length: CYCLE }, (_, j) => [cancel(900_001 + j)]));
    yield warmed(() => cycle.call());
    cycle.verify();
  });
}

/** A core whose order pool is full of bids (64 to a level), so its id table holds as many entries as it ever does. */
function fullCore(): FastCore {
  const core = FastCore.create(MICRO_CAPACITIES);
  core.setEventOutput(new ArrayBuffer(EVENTS_PER_CALL * EVENT_BYTES), 0, EVENTS_PER_CALL);
  const orders = MICRO_CAPACITIES.maxOrders;
  const fill = workloadFromCommands(Array.from({ length: orders }, (_, i) => gtc(i + 1, 'buy', TOUCH - 1 - Math.floor(i / 64), LOT)));
  for (let i = 0; i < fill.count; i++) {
    core.outCursor = 0;
    core.processRecord(fill.bytes, fill.f64, i, i);
  }
  if (core.liveOrders !== orders) throw new Error(`bench:micro: id probe: ${core.liveOrders} of ${orders} bids rested`);
  return core;
}

function probeBenchmarks(): void {
  const probe = (name: string, live: boolean): void => {
    micro(name, 'probe', 1, function* () {
      const core = fullCore();
      const prng = new Prng(live ? 11 : 13);
      const orders = MICRO_CAPACITIES.maxOrders;
      const ids = Array.from({ length: RANDOM_DRAWS }, () => (live ? 1 + (prng.nextU32() % orders) : orders + 1 + (prng.nextU32() % 1_000_000)));
      for (const id of ids) {
        const slot = core.orderSlot(0, id);
        if (live ? slot === -1 || core.idOf(slot) !== id : slot !== -1) throw new Error(`bench:micro: ${name}: id ${id} probed to slot ${slot}`);
      }
      const mask = RANDOM_DRAWS - 1;
      let next = 0;
      yield warmed(() => {
        do_not_optimize(core.orderSlot(0, ids[next]!));
        next = (next + 1) & mask;
      });
    });
  };
  probe('id probe hit (full order pool)', true);
  probe('id probe miss (full order pool)', false);
}

function primitiveBenchmarks(): void {
  // A message is one command record; its id field carries a running number the consumer's read is checked against.
  const record = new Float64Array(RECORD_F64S);

  micro('SPSC ring hand-off (one thread)', 'message', 1, function* () {
    const ring = new SpscRing(new SharedArrayBuffer(spscRingBytes(RING_SLOTS, RECORD_BYTES)), 0, RING_SLOTS, RECORD_BYTES);
    let sent = 0;
    let drift = 0;
    yield warmed(() => {
      const f = ring.tryClaim() >> 3;
      ring.f64.set(record, f);
      ring.f64[f + F64_ID] = ++sent;
      ring.publish();
      ring.available();
      drift += ring.f64[(ring.slotOffset(0) >> 3) + F64_ID]! - sent;
      ring.release(1);
    });
    if (sent === 0 || drift !== 0 || ring.available() !== 0) throw new Error(`bench:micro: SPSC ring: ${sent} messages, reads off by ${drift} in total, ${ring.available()} left`);
  });

  micro('MPSC ring hand-off (one thread)', 'message', 1, function* () {
    const ring = new MpscRing(new SharedArrayBuffer(mpscRingBytes(RING_SLOTS, RECORD_BYTES)), 0, RING_SLOTS, RECORD_BYTES);
    let sent = 0;
    let drift = 0;
    yield warmed(() => {
      const seq = ring.tryClaim(1);
      const f = ring.slotOffsetOf(seq) >> 3;
      ring.f64.set(record, f);
      ring.f64[f + F64_ID] = ++sent;
      ring.publish(seq, 1);
      ring.availableBatch(1);
      drift += ring.f64[(ring.slotOffset(0) >> 3) + F64_ID]! - sent;
      ring.release(1);
    });
    if (sent === 0 || drift !== 0 || ring.availableBatch(1) !== 0) throw new Error(`bench:micro: MPSC ring: ${sent} messages, reads off by ${drift} in total, ${ring.availableBatch(1)} left`);
  });

  micro('futex mutex lock + unlock (uncontended)', 'lock + unlock', 1, function* () {
    const mutex = new FutexMutex(new SharedArrayBuffer(FUTEX_MUTEX_BYTES), 0);
    let held = 0;
    yield warmed(() => {
      mutex.lock();
      held++;
      mutex.unlock();
    });
    mutex.lock();
    const stateInside = mutex.state();
    mutex.unlock();
    if (held === 0 || stateInside !== MUTEX_LOCKED || mutex.state() !== MUTEX_UNLOCKED || mutex.contended + mutex.sleeps + mutex.wakes !== 0) {
      throw new Error(`bench:micro: futex mutex: state ${stateInside} inside, ${mutex.state()} after; ${mutex.contended} contended, ${mutex.sleeps} sleeps, ${mutex.wakes} wakes`);
    }
  });
}

/** Runs every command of `w` on `core`, rewinding the event output per command; returns the events written. */
function runAll(core: FastCore, w: Workload): number {
  let events = 0;
  for (let i = 0; i < w.count; i++) {
    core.outCursor = 0;
    events += core.processRecord(w.bytes, w.f64, i, i);
  }
  return events;
}

function presetBenchmarks(): void {
  for (const preset of PRESETS) {
    micro(`preset ${preset} (${PRESET_COMMANDS} commands, fresh core)`, 'command', PRESET_COMMANDS, function* () {
      const workload = generateWorkload({ preset, seed: 1, count: PRESET_COMMANDS });
      const capacities = capacitiesForWorkload(workload);
      const output = new ArrayBuffer(capacities.maxEventsPerCommand * EVENT_BYTES);
      const freshCore = (): FastCore => {
        const core = FastCore.create(capacities);
        core.setEventOutput(output, 0, capacities.maxEventsPerCommand);
        return core;
      };
      yield computed(freshCore, (core) => runAll(core, workload));
      const core = freshCore();
      const events = runAll(core, workload);
      const reference = runReference(workload.commands());
      if (events !== reference.events.length || bookHashOfCores([core], workload.symbols) !== reference.hash) {
        throw new Error(`bench:micro: preset ${preset}: the fast core emitted ${events} events (reference ${reference.events.length}) or ended on another book`);
      }
    }).gc('inner');
  }
}

type CounterSupport = { readonly available: true } | { readonly available: false; readonly reason: string };

/** Reads a short busy loop through @mitata/counters, the way mitata will: whether that works here, and if not, why. */
async function probeCounters(): Promise<CounterSupport> {
  const why = (error: unknown): CounterSupport => {
    const facts = [`@mitata/counters: ${error instanceof Error ? error.message : String(error)}`];
    const paranoid = '/proc/sys/kernel/perf_event_paranoid';
    if (existsSync(paranoid)) facts.push(`perf_event_paranoid ${readFileSync(paranoid, 'utf8').trim()} (needs 2 or lower)`);
    const sources = '/sys/bus/event_source/devices';
    if (existsSync(sources)) facts.push(`perf event sources: ${readdirSync(sources).join(', ')} (a hardware PMU such as 'cpu' missing means a VM whose hypervisor hides it)`);
    return { available: false, reason: facts.join('; ') };
  };
  let counters: typeof import('@mitata/counters');
  try {
    counters = await import('@mitata/counters');
    counters.init();
  } catch (error) {
    return why(error);
  }
  try {
    counters.before();
    let x = 0;
    for (let i = 0; i < 100_000; i++) x += i;
    do_not_optimize(x);
    counters.after();
    const readings = counters.translate(1, 1);
    return readings.instructions.avg > 0 ? { available: true } : why(new Error('a busy loop counted 0 instructions'));
  } catch (error) {
    return why(error);
  } finally {
    counters.deinit();
  }
}

const ns = (v: number): string => (v < 10 ? v.toFixed(2) : v.toFixed(1));
const amount = (v: number): string => (v < 100 ? v.toFixed(1) : Math.round(v).toString());

async function main(): Promise<void> {
  const counters = await probeCounters();
  process.stdout.write(`bench:micro — node ${process.version}, V8 ${process.versions.v8}, ${cpus()[0]?.model ?? 'unknown CPU'}, availableParallelism ${availableParallelism()}\n`);
  process.stdout.write(counters.available
    ? 'hardware counters: available (@mitata/counters over Linux perf events): cycles, instructions and cache misses per call below, per operation in the table\n'
    : `hardware counters: not available here, timings only — ${counters.reason}\n`);
  process.stdout.write('\n');

  group('fast core: 32 levels a side, 32 orders of 10 a level; every call leaves the book as it found it', coreBenchmarks);
  group('fast core id hash (orderSlot, the lookup every command makes)', probeBenchmarks);
  group('shared-memory primitives, one thread, uncontended', primitiveBenchmarks);
  group('whole presets, one per call, each on a fresh core', presetBenchmarks);
  const { benchmarks } = await run({
    throw: true,
    // mitata colours whenever NO_COLOR is unset; only a terminal that wants them should get escape codes.
    colors: process.stdout.isTTY === true && process.stdout.hasColors(),
    // mitata opens the counters itself and, where that fails, reads zeros: drop those rather than print NaN ipc.
    observe: (trial) => {
      if (!counters.available) for (const r of trial.runs) if (r.stats !== undefined) delete r.stats.counters;
      return trial;
    },
  });

  process.stdout.write('\nper operation (a call\'s figures divided by the operations it performs)\n');
  process.stdout.write(`| benchmark | per call | ns/op avg | p50 | p75 | p99 |${counters.available ? ' instructions/op | cache misses/op |' : ''}\n`);
  process.stdout.write(`|---|---|---:|---:|---:|---:|${counters.available ? '---:|---:|' : ''}\n`);
  for (const trial of benchmarks) {
    const what = perCall.get(trial.alias);
    if (what === undefined) throw new Error(`bench:micro: no operation count for '${trial.alias}'`);
    for (const r of trial.runs) {
      if (r.stats === undefined) throw new Error(`bench:micro: '${r.name}' has no statistics`);
      const ops = what.count(r.args);
      const s = r.stats;
      let line = `| ${r.name} | ${ops} ${what.unit}${ops === 1 ? '' : 's'} | ${ns(s.avg / ops)} | ${ns(s.p50 / ops)} | ${ns(s.p75 / ops)} | ${ns(s.p99 / ops)} |`;
      if (counters.available) {
        // mitata's stats type the readings as `object`; they are @mitata/counters' translate() result.
        const readings = s.counters as CounterReadings | undefined;
        const misses = readings?.cache?.misses;
        line += ` ${readings === undefined ? '–' : amount(readings.instructions.avg / ops)} | ${misses == null ? '–' : amount(misses.avg / ops)} |`;
      }
      process.stdout.write(`${line}\n`);
    }
  }
}

await main();
