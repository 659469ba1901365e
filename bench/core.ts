/**
 * `npm run bench:core [-- --json] [--presets a,b] [--engines a,b] [--count N] [--repeat R] [--warmup W] [--seed S]`
 *
 * The book engines alone, single-threaded, in one process: the reference engine, the fast core and
 * nodejs-order-book, each replaying the same peer-compatible workloads (generator `ops: 'peer'`: limit GTC/IOC/FOK,
 * market, cancel). Repetitions are interleaved (every engine on every workload in each round, the engine order
 * rotating per round) so drift in the machine's speed hits all engines alike; each run starts from an empty book
 * built before the timer starts, right after a full collection. (No pause before the timer: measured, a 50 or
 * 200 ms sleep there cut the next run's rate, CPU-time rate included, by 15 and 45 %: the core cools down.)
 * Reported: commands/s (median and min–max of the timed rounds) and the ratio of each engine's median to
 * nodejs-order-book's on the same workload. Beside the wall-clock rate, commands per second of this thread's CPU
 * time (process.threadCpuUsage): on a shared machine the wall clock also counts the time other processes held the
 * core, the CPU-time rate does not (their cache and hyper-thread interference still shows in both).
 *
 * Allocation: after the timed rounds, each engine replays each workload once more; the first half warms it up and
 * the second half (the steady state) runs under v8.GCProfiler, so the bytes allocated per command are exact even
 * when collections happen: used-heap growth over the section plus what each GC in it reclaimed, less what the
 * measurement allocates around an empty section. (A fresh process would also count V8's tier-up: rarely taken
 * branches run in its interpreter and mid tier, which box doubles, until they are hot; the timed rounds before the
 * allocation pass leave the fast core fully optimised.)
 *
 * How each engine is driven (translation happens before the timer):
 * - reference: `process(command)` on pre-materialised Command objects, events to a counting callback;
 * - fast: `FastCore.processRecord` straight off the workload's record buffer, events into a preallocated output
 *   region the loop rewinds per command (an inline consumer), events counted;
 * - nodejs-order-book: bench/peer-nodejs-order-book.ts.
 * The fast core's event count is checked against the reference's on every workload, so a broken core cannot post a
 * fast time.
 *
 * Run with `--expose-gc` (the npm script does) so each run starts after a full collection. `--engines fast` alone
 * is the profiling set-up: `npx node --expose-gc --cpu-prof bench/core.ts --engines fast --presets balanced`.
 */
import { availableParallelism, cpus, loadavg, platform, release } from 'node:os';
import v8 from 'node:v8';
import { EVENT_BYTES } from '../engines/event-record.ts';
import { capacitiesForWorkload, FastEngine } from '../engines/fast.ts';
import type { FastEngineCapacities } from '../engines/fast.ts';
import type { FastCore } from '../engines/fast-core.ts';
import { ReferenceEngine } from '../engines/reference.ts';
import type { Command, MatchEvent } from '../engines/types.ts';
import { generateWorkload } from '../workloads/generator.ts';
import { median } from '../harness/gate-stats.ts';
import type { Workload } from '../workloads/workload.ts';
import { peerBooks, peerScript, runPeer } from './peer-nodejs-order-book.ts';
import type { PeerScript } from './peer-nodejs-order-book.ts';

const ENGINES = ['reference', 'fast', 'nodejs-order-book'] as const;
type EngineName = (typeof ENGINES)[number];
const PEER: EngineName = 'nodejs-order-book';

interface Options {
  readonly json: boolean;
  readonly presets: readonly string[];
  readonly engines: readonly EngineName[];
  readonly count: number;
  readonly repeat: number;
  readonly warmup: number;
  readonly seed: number;
}

function parseArgs(argv: readonly string[]): Options {
  let json = false;
  let presets = ['balanced', 'cancel-heavy', 'sweep', 'many-symbols', 'deep-book'];
  let engines: EngineName[] = [...ENGINES];
  let count = 200_000;
  let repeat = 7;
  let warmup = 2;
  let seed = 1;
  const number = (flag: string, value: string | undefined): number => {
    const n = Number(value);
    if (value === undefined || !Number.isSafeInteger(n) || n < 0) throw new Error(`bench:core: ${flag} needs a non-negative integer, got ${value ?? 'nothing'}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--json') json = true;
    else if (arg === '--presets') presets = (argv[++i] ?? '').split(',').filter((p) => p !== '');
    else if (arg === '--engines') {
      engines = (argv[++i] ?? '').split(',').map((name) => {
        const engine = ENGINES.find((e) => e === name);
        if (engine === undefined) throw new Error(`bench:core: unknown engine '${name}' (known: ${ENGINES.join(', ')})`);
        return engine;
      });
    } else if (arg === '--count') count = number(arg, argv[++i]);
    else if (arg === '--repeat') repeat = Math.max(1, number(arg, argv[++i]));
    else if (arg === '--warmup') warmup = number(arg, argv[++i]);
    else if (arg === '--seed') seed = number(arg, argv[++i]);
    else if (arg === '--help') {
      process.stdout.write('usage: npm run bench:core -- [--json] [--presets a,b,...] [--engines reference,fast,nodejs-order-book] [--count N] [--repeat R] [--warmup W] [--seed S]\n');
      process.exit(0);
    } else throw new Error(`bench:core: unknown argument ${arg} (try --help)`);
  }
  if (presets.length === 0) throw new Error('bench:core: --presets needs at least one preset name');
  if (engines.length === 0) throw new Error('bench:core: --engines needs at least one engine name');
  return { json, presets, engines, count, repeat, warmup, seed };
}

/** One workload, prepared for every engine before any timing. */
interface Prepared {
  readonly name: string;
  readonly workload: Workload;
  readonly commands: readonly Command[];
  readonly peer: PeerScript;
  /** Fitted once per workload (capacitiesForWorkload does a dry run). */
  readonly fastCapacities: FastEngineCapacities;
}

/** A run of commands [from, to) on a fresh engine; returns a count of events (or done orders) so nothing is dead code. */
interface EngineRun {
  run(from: number, to: number): number;
}

/* The timed loops take their engine as a parameter, so their optimised code is not specialised to one instance. */
function runReferenceEngine(engine: ReferenceEngine, commands: readonly Command[], emit: (event: MatchEvent) => void, from: number, to: number): void {
  for (let i = from; i < to; i++) engine.process(commands[i]!, i, emit);
}

function runFastCore(core: FastCore, bytes: Uint8Array, f64: Float64Array, from: number, to: number): number {
  let events = 0;
  for (let i = from; i < to; i++) {
    core.outCursor = 0;
    events += core.processRecord(bytes, f64, i, i);
  }
  return events;
}

function freshRun(engine: EngineName, p: Prepared): EngineRun {
  switch (engine) {
    case 'reference': {
      const ref = new ReferenceEngine();
      let events = 0;
      const emit = (_event: MatchEvent): void => {
        events++;
      };
      return {
        run(from, to) {
          events = 0;
          runReferenceEngine(ref, p.commands, emit, from, to);
          return events;
        },
      };
    }
    case 'fast': {
      const capacities = p.fastCapacities;
      const core: FastCore = new FastEngine({ symbols: p.workload.symbols, capacities }).core;
      const outputRecords = capacities.maxEventsPerCommand;
      core.setEventOutput(new ArrayBuffer(outputRecords * EVENT_BYTES), 0, outputRecords);
      return { run: (from, to) => runFastCore(core, p.workload.bytes, p.workload.f64, from, to) };
    }
    case 'nodejs-order-book': {
      const books = peerBooks(p.peer);
      return { run: (from, to) => runPeer(p.peer, books, from, to) };
    }
  }
}

const gc = (globalThis as { gc?: () => void }).gc ?? ((): void => {});

/**
 * The last run of each engine stays reachable until the next one exists. V8 drops a class's hidden classes (maps)
 * once no instance is left, and with them every optimised function that embeds them; without this, each engine
 * would lose its optimised code whenever the others' runs collect garbage, and start each run cold.
 */
const lastRun = new Map<EngineName, EngineRun>();

function timeRun(engine: EngineName, p: Prepared): { cmdsPerSec: number; cmdsPerCpuSec: number; result: number } {
  const run = freshRun(engine, p);
  lastRun.set(engine, run);
  gc();
  const cpuStart = process.threadCpuUsage();
  const start = process.hrtime.bigint();
  const result = run.run(0, p.workload.count);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const cpu = process.threadCpuUsage(cpuStart);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  return { cmdsPerSec: p.workload.count / seconds, cmdsPerCpuSec: p.workload.count / cpuSeconds, result };
}

/** Heap bytes allocated while `section` runs: used-heap growth plus what each GC during it reclaimed. */
function allocatedDuring(section: () => void): { bytes: number; gcs: number } {
  gc();
  const profiler = new v8.GCProfiler();
  const usedBefore = v8.getHeapStatistics().used_heap_size;
  profiler.start();
  section();
  const usedAfter = v8.getHeapStatistics().used_heap_size;
  const stats = profiler.stop()?.statistics ?? [];
  let reclaimed = 0;
  for (const s of stats) reclaimed += s.beforeGC.heapStatistics.usedHeapSize - s.afterGC.heapStatistics.usedHeapSize;
  return { bytes: usedAfter - usedBefore + reclaimed, gcs: stats.length };
}

/**
 * Bytes allocated per command over the second half of a run (the first half warms the engine and its book), less
 * what the measurement itself allocates (the same measurement around an empty section).
 */
function allocationPerCommand(engine: EngineName, p: Prepared): { bytesPerCmd: number; gcs: number } {
  const run = freshRun(engine, p);
  lastRun.set(engine, run);
  const half = p.workload.count >> 1;
  run.run(0, half);
  const overhead = allocatedDuring(() => {});
  const measured = allocatedDuring(() => {
    run.run(half, p.workload.count);
  });
  return { bytesPerCmd: Math.max(0, measured.bytes - overhead.bytes) / (p.workload.count - half), gcs: measured.gcs };
}

interface Row {
  readonly engine: EngineName;
  readonly workload: string;
  readonly cmdsPerSec: number;
  readonly minCmdsPerSec: number;
  readonly maxCmdsPerSec: number;
  readonly cmdsPerCpuSec: number;
  ratioToPeer: number;
  cpuRatioToPeer: number;
  readonly bytesPerCmd: number;
  readonly gcsInSteadyHalf: number;
}

function formatRatio(x: number): string {
  return Number.isNaN(x) ? '—' : x.toFixed(2);
}

function formatRate(x: number): string {
  return x >= 1e6 ? `${(x / 1e6).toFixed(2)} M` : `${(x / 1e3).toFixed(0)} k`;
}

function main(): void {
  const options = parseArgs(process.argv.slice(2));
  const log = (line: string): void => {
    (options.json ? process.stderr : process.stdout).write(`${line}\n`);
  };
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  log(`bench:core — node ${process.version}, V8 ${process.versions.v8}, ${platform()} ${release()}, ${cpu}, availableParallelism ${availableParallelism()}`);
  log(`workloads: ${options.presets.join(', ')} (ops 'peer', ${options.count} commands each, seed ${options.seed}); ${options.warmup} warm-up + ${options.repeat} timed rounds, interleaved`);
  if ((globalThis as { gc?: unknown }).gc === undefined) log('note: run with --expose-gc (npm run bench:core does) for a full collection before each run');

  const prepared: Prepared[] = options.presets.map((preset) => {
    const workload = generateWorkload({ preset, seed: options.seed, count: options.count, ops: 'peer' });
    const commands = Array.from({ length: workload.count }, (_, i) => workload.command(i));
    return { name: preset, workload, commands, peer: peerScript(workload), fastCapacities: capacitiesForWorkload(workload) };
  });

  const rates = new Map<string, number[]>();
  const cpuRates = new Map<string, number[]>();
  const key = (engine: EngineName, workload: string): string => `${engine}\u0000${workload}`;
  for (let round = 0; round < options.warmup + options.repeat; round++) {
    const timed = round >= options.warmup;
    for (const p of prepared) {
      const eventCounts = new Map<EngineName, number>();
      for (let k = 0; k < options.engines.length; k++) {
        const engine = options.engines[(k + round) % options.engines.length]!;
        const { cmdsPerSec, cmdsPerCpuSec, result } = timeRun(engine, p);
        eventCounts.set(engine, result);
        if (timed) {
          rates.set(key(engine, p.name), [...(rates.get(key(engine, p.name)) ?? []), cmdsPerSec]);
          cpuRates.set(key(engine, p.name), [...(cpuRates.get(key(engine, p.name)) ?? []), cmdsPerCpuSec]);
        }
      }
      if (eventCounts.has('fast') && eventCounts.has('reference') && eventCounts.get('fast') !== eventCounts.get('reference')) {
        throw new Error(`bench:core: on ${p.name} the fast core wrote ${eventCounts.get('fast')} events and the reference ${eventCounts.get('reference')}`);
      }
    }
    log(`  round ${round + 1}/${options.warmup + options.repeat}${timed ? '' : ' (warm-up)'} done`);
  }

  const rows: Row[] = [];
  for (const p of prepared) {
    for (const engine of options.engines) {
      const list = rates.get(key(engine, p.name))!;
      const alloc = allocationPerCommand(engine, p);
      rows.push({
        engine, workload: p.name, cmdsPerSec: median(list), minCmdsPerSec: Math.min(...list), maxCmdsPerSec: Math.max(...list),
        cmdsPerCpuSec: median(cpuRates.get(key(engine, p.name))!), ratioToPeer: NaN, cpuRatioToPeer: NaN,
        bytesPerCmd: alloc.bytesPerCmd, gcsInSteadyHalf: alloc.gcs,
      });
    }
    const peer = rows.find((r) => r.workload === p.name && r.engine === PEER);
    for (const r of rows) {
      if (r.workload !== p.name || peer === undefined) continue;
      r.ratioToPeer = r.cmdsPerSec / peer.cmdsPerSec;
      r.cpuRatioToPeer = r.cmdsPerCpuSec / peer.cmdsPerCpuSec;
    }
  }

  log('');
  log('| workload | engine | commands/s (median) | min – max | × nodejs-order-book | commands/CPU-s (median) | × peer (CPU) | bytes/cmd (steady) | GCs (steady half) |');
  log('|---|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    log(
      `| ${r.workload} | ${r.engine} | ${formatRate(r.cmdsPerSec)} | ${formatRate(r.minCmdsPerSec)} – ${formatRate(r.maxCmdsPerSec)} | ${formatRatio(r.ratioToPeer)} | ` +
        `${formatRate(r.cmdsPerCpuSec)} | ${formatRatio(r.cpuRatioToPeer)} | ${r.bytesPerCmd.toFixed(1)} | ${r.gcsInSteadyHalf} |`,
    );
  }
  const load = loadavg()[0]!;
  log(`\n1-minute load average at the end: ${load.toFixed(2)} on ${availableParallelism()} CPUs${load > availableParallelism() ? ' (a shared, busy machine: prefer the CPU-time columns)' : ''}`);
  if (options.json) {
    const out = rows.map((r) => ({
      engine: r.engine, workload: r.workload, cmdsPerSec: Math.round(r.cmdsPerSec), ratioToPeer: Number(r.ratioToPeer.toFixed(3)),
      minCmdsPerSec: Math.round(r.minCmdsPerSec), maxCmdsPerSec: Math.round(r.maxCmdsPerSec),
      cmdsPerCpuSec: Math.round(r.cmdsPerCpuSec), cpuRatioToPeer: Number(r.cpuRatioToPeer.toFixed(3)),
      bytesPerCmd: Number(r.bytesPerCmd.toFixed(2)), gcsInSteadyHalf: r.gcsInSteadyHalf,
    }));
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  }
}

main();
