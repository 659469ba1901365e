/**
 * `npm run bench:micro [-- --time MS]`: micro-benchmarks of the fast core's basic operations with tinybench, plus
 * whole presets. Benchmarks, not tests: nothing here asserts a time.
 *
 * A single operation takes tens of nanoseconds, below what one timer read resolves, so every task iteration runs a
 * batch of pre-encoded records straight through `FastCore.processRecord` and the figures are per operation
 * (iteration latency / batch size). The book a batch needs is built, and torn down, in tinybench's beforeEach /
 * afterEach hooks, which are outside the timed window; every iteration therefore starts from the same book.
 *
 * - add: a GTC bid rests on one of 32 levels near the touch (hash insert, level lookup, FIFO append);
 * - cancel: orders leave from random positions of those levels (hash lookup and delete, unlink, level cleanup);
 * - single fill: an IOC buy takes exactly one whole maker (match, fill, maker removal);
 * - walk N levels: a market buy sweeps N one-lot levels (N fills and N level removals);
 * - presets: a whole generated workload on a fresh core, per command.
 */
import { availableParallelism, cpus } from 'node:os';
import { Bench } from 'tinybench';
import { EVENT_BYTES } from '../engines/event-record.ts';
import { FastCore } from '../engines/fast-core.ts';
import { capacitiesForWorkload, FastEngine } from '../engines/fast.ts';
import type { Command } from '../engines/types.ts';
import { generateWorkload } from '../workloads/generator.ts';
import { Prng } from '../workloads/prng.ts';
import { workloadFromCommands } from '../workloads/workload.ts';
import type { Workload } from '../workloads/workload.ts';

const BATCH = 1024;
const TOUCH = 100_000;
const SYM = 'X';

function argTime(argv: readonly string[]): number {
  const at = argv.indexOf('--time');
  if (at === -1) return 1000;
  const ms = Number(argv[at + 1]);
  if (!Number.isInteger(ms) || ms <= 0) throw new Error(`bench:micro: --time needs a positive number of milliseconds, got ${argv[at + 1] ?? 'nothing'}`);
  return ms;
}

const buy = (id: number, price: number, qty: number, tif: 'gtc' | 'ioc' = 'gtc'): Command => ({ op: 'new', sym: SYM, id, side: 'buy', type: 'limit', tif, price, qty });
const sell = (id: number, price: number, qty: number): Command => ({ op: 'new', sym: SYM, id, side: 'sell', type: 'limit', tif: 'gtc', price, qty });
const cancel = (id: number): Command => ({ op: 'cancel', sym: SYM, id });
const marketBuy = (id: number, qty: number): Command => ({ op: 'new', sym: SYM, id, side: 'buy', type: 'market', qty });

/** A one-symbol core with room for everything the micro tasks build. */
function microCore(): FastCore {
  const core = FastCore.create({ maxOrders: 1 << 16, maxSymbols: 1, ladderTicks: 1 << 13 });
  core.setEventOutput(new ArrayBuffer((1 << 16) * EVENT_BYTES), 0, 1 << 16);
  return core;
}

function runAll(core: FastCore, w: Workload): void {
  for (let i = 0; i < w.count; i++) {
    core.outCursor = 0;
    core.processRecord(w.bytes, w.f64, i, i);
  }
}

/** Ids 1..n in a seeded random order (cancels hit every position in a level, not only the head). */
function shuffled(n: number, seed: number): number[] {
  const ids = Array.from({ length: n }, (_, i) => i + 1);
  const prng = new Prng(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = prng.nextU32() % (i + 1);
    [ids[i], ids[j]] = [ids[j]!, ids[i]!];
  }
  return ids;
}

interface MicroTask {
  readonly name: string;
  /** Operations per iteration. */
  readonly ops: number;
  readonly run: () => void;
  readonly before?: () => void;
  readonly after?: () => void;
}

function basicTasks(): MicroTask[] {
  const tasks: MicroTask[] = [];
  const levelOf = (i: number): number => TOUCH - (i % 32);
  {
    const core = microCore();
    const adds = workloadFromCommands(Array.from({ length: BATCH }, (_, i) => buy(i + 1, levelOf(i), 10)));
    const cancels = workloadFromCommands(Array.from({ length: BATCH }, (_, i) => cancel(i + 1)));
    tasks.push({ name: 'add (GTC bid rests on one of 32 levels)', ops: BATCH, run: () => runAll(core, adds), after: () => runAll(core, cancels) });
  }
  {
    const core = microCore();
    const adds = workloadFromCommands(Array.from({ length: BATCH }, (_, i) => buy(i + 1, levelOf(i), 10)));
    const cancels = workloadFromCommands(shuffled(BATCH, 7).map((id) => cancel(id)));
    tasks.push({ name: 'cancel (random position in one of 32 levels)', ops: BATCH, before: () => runAll(core, adds), run: () => runAll(core, cancels) });
  }
  {
    const core = microCore();
    const makers = workloadFromCommands(Array.from({ length: BATCH }, (_, i) => sell(i + 1, TOUCH + (i % 8), 10)));
    const takers = workloadFromCommands(Array.from({ length: BATCH }, (_, i) => buy(BATCH + i + 1, TOUCH + 8, 10, 'ioc')));
    tasks.push({ name: 'single fill (IOC takes one whole maker)', ops: BATCH, before: () => runAll(core, makers), run: () => runAll(core, takers) });
  }
  for (const depth of [1, 10, 100]) {
    const sweeps = Math.max(1, Math.floor(4096 / depth));
    const core = microCore();
    const makers = workloadFromCommands(Array.from({ length: sweeps * depth }, (_, i) => sell(i + 1, TOUCH + i, 1)));
    const takers = workloadFromCommands(Array.from({ length: sweeps }, (_, i) => marketBuy(sweeps * depth + i + 1, depth)));
    tasks.push({ name: `walk ${depth} level${depth === 1 ? '' : 's'} (market order, one-lot levels)`, ops: sweeps, before: () => runAll(core, makers), run: () => runAll(core, takers) });
  }
  return tasks;
}

function presetTasks(): MicroTask[] {
  return ['balanced', 'cancel-heavy', 'sweep'].map((preset) => {
    const workload = generateWorkload({ preset, seed: 1, count: 100_000 });
    const capacities = capacitiesForWorkload(workload);
    let core = new FastEngine({ symbols: workload.symbols, capacities }).core;
    const output = new ArrayBuffer(capacities.maxEventsPerCommand * EVENT_BYTES);
    return {
      name: `preset ${preset} (${workload.count} commands, fresh core)`,
      ops: workload.count,
      before: () => {
        core = new FastEngine({ symbols: workload.symbols, capacities }).core;
        core.setEventOutput(output, 0, capacities.maxEventsPerCommand);
      },
      run: () => runAll(core, workload),
    };
  });
}

async function main(): Promise<void> {
  const time = argTime(process.argv.slice(2));
  process.stdout.write(`bench:micro — node ${process.version}, V8 ${process.versions.v8}, ${cpus()[0]?.model ?? 'unknown CPU'}, availableParallelism ${availableParallelism()}\n`);
  process.stdout.write(`fast core, tinybench ${time} ms per task; per-operation figures are iteration times divided by the operations per iteration\n\n`);
  const bench = new Bench({ time, warmupTime: Math.min(500, time) });
  const tasks = [...basicTasks(), ...presetTasks()];
  for (const t of tasks) {
    bench.add(t.name, t.run, {
      ...(t.before === undefined ? {} : { beforeEach: t.before }),
      ...(t.after === undefined ? {} : { afterEach: t.after }),
    });
  }
  await bench.run();
  process.stdout.write('| task | ops/iteration | ns/op (median) | ns/op (mean ± rme) | ops/s (median) | iterations |\n|---|---:|---:|---:|---:|---:|\n');
  for (const t of tasks) {
    const result = bench.getTask(t.name)?.result;
    if (result === undefined || (result.state !== 'completed' && result.state !== 'aborted-with-statistics')) {
      throw new Error(`bench:micro: task '${t.name}' did not complete (${result?.state ?? 'missing'}${result?.state === 'errored' ? `: ${result.error.message}` : ''})`);
    }
    const { latency } = result;
    const medianNs = (latency.p50 * 1e6) / t.ops;
    const meanNs = (latency.mean * 1e6) / t.ops;
    process.stdout.write(
      `| ${t.name} | ${t.ops} | ${medianNs.toFixed(1)} | ${meanNs.toFixed(1)} ± ${latency.rme.toFixed(1)} % | ${(1e9 / medianNs / 1e6).toFixed(2)} M | ${latency.samplesCount} |\n`,
    );
  }
}

await main();
