/**
 * `npm run gate [-- --update-baseline]`: the performance-regression gate CI runs after the tests.
 *
 * A short fixed benchmark set (GATE_SET: every design once, default parameters, one producer, closed loop, on a
 * fixed generated workload) is measured in ROUNDS interleaved rounds (BASELINE_ROUNDS when recording the
 * baseline); each round also runs the frozen calibration kernel (harness/gate-calibration.ts) and starts from a
 * different design, so no design always runs first or last. Each design is judged by the ratio of its throughput
 * over the rounds (interquartile mean) to its reference's: `inline` against the calibration kernel, every other design against
 * `inline`. That ratio is compared with the committed baseline's (results/baseline.json) by harness/gate-stats.ts:
 * a design fails when its ratio dropped by more than the threshold and the 99 % bootstrap interval of the drop
 * excludes zero. Any equivalence failure fails the gate too. A round during which other processes used more than
 * FOREIGN_LIMIT of the machine is thrown away and measured again (harness/gate-contention.ts); if the machine never
 * quiets down the gate says so instead of judging. Exit code 0 = pass, 1 = fail, 2 = usage, 3 = machine too busy.
 *
 * `--update-baseline` measures and rewrites the baseline instead of comparing (refused while the test-only
 * slowdown knob is set, so a slowed run can never become the baseline).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { resolve } from 'node:path';
import { designByName, resolveParams } from '../engines/designs.ts';
import { generateWorkload } from '../workloads/generator.ts';
import { formatHelp, parseArgs, runCli, type CommandSpec } from './cli-args.ts';
import { captureEnvironment } from './environment.ts';
import { checkEquivalence } from './equivalence.ts';
import { baselineOf, CALIBRATION, checkBaseline, describeVerdict, evaluateGate, metricsFromRounds, type GateMeasurement } from './gate-baseline.ts';
import { runCalibration } from './gate-calibration.ts';
import { ContentionProbe } from './gate-contention.ts';
import type { GateRule } from './gate-stats.ts';
import { prepareWorkload } from './prepared-workload.ts';
import { ReferenceTraceCache } from './reference-trace.ts';
import { runOnce } from './run.ts';
import { activeSlowdown } from './slowdown-knob.ts';
import { splitWorkload } from './split.ts';

/** The fixed benchmark set. Changing it invalidates the baseline (its key changes): update the baseline with it. */
export const GATE_SET = {
  workload: { preset: 'balanced', seed: 1, count: 250_000 },
  // Long enough that every design's hot code is optimized before the measured part (20 000 left run-to-run noise twice as large).
  warmup: 100_000,
  designs: ['inline', 'mutex', 'channel', 'disruptor', 'sharded'],
} as const;

/** Interleaved rounds per gate run (at least 9). */
export const ROUNDS = 25;
/**
 * Rounds when measuring the baseline: it is measured once and compared many times, so a larger sample there narrows
 * every later confidence interval (the change's variance is the sum of both sides') without lengthening the CI job.
 */
export const BASELINE_ROUNDS = 3 * ROUNDS;
/** The calibration kernel runs this many times per round and counts its fastest: a cold or GC-hit run says nothing. */
const CALIBRATION_RUNS = 3;
/** A round in which other processes used more than this share of the machine's CPU is measured again. */
export const FOREIGN_LIMIT = 0.1;
/** Attempts per needed round before the gate gives up on a machine that never goes quiet. */
const ATTEMPTS_PER_ROUND = 3;

/** The machine stayed too busy to measure: neither a pass nor a regression. */
export class BusyMachineError extends Error {
  override readonly name = 'BusyMachineError';
}

export const GATE_RULE: GateRule = { threshold: 0.05, confidence: 0.99, resamples: 4000, seed: 0x5eed };
/**
 * Designs whose ratio moves more than GATE_RULE.threshold between runs of unchanged code get their own threshold.
 * `disruptor` busy-spins its producer and consumer on a 2-core machine, so any other runnable thread costs it a
 * whole time slice: its ratio to inline was seen −7 % and −12 % off the baseline on unchanged code (the 99 %
 * interval, computed within one run, cannot see that), so only a drop beyond 15 % is called for it.
 */
export const DESIGN_THRESHOLDS: Readonly<Record<string, number>> = { disruptor: 0.15 };

export const BASELINE_PATH = resolve(import.meta.dirname, '..', 'results', 'baseline.json');

/** Each design's reference: inline against the calibration kernel, the rest against inline. */
function references(): Record<string, string> {
  return Object.fromEntries(GATE_SET.designs.map((d) => [d, d === 'inline' ? CALIBRATION : 'inline']));
}

/** Runs the fixed set: `rounds` rounds of calibration + every design, with every run's equivalence checked. */
export async function measureGate(rounds: number, log: (line: string) => void): Promise<GateMeasurement> {
  const { preset, seed, count } = GATE_SET.workload;
  const prepared = prepareWorkload(generateWorkload({ preset, seed, count }), 'gate', preset, { kind: 'preset', preset, seed, count });
  const split = splitWorkload(prepared.shared.records, prepared.shared.count, 1, 'round-robin');
  const traces = new ReferenceTraceCache();
  const designs = GATE_SET.designs.map((name) => {
    const design = designByName(name);
    return { design, params: resolveParams(design, {}) };
  });
  const setKey = JSON.stringify({
    workload: prepared.identity.hash,
    warmup: GATE_SET.warmup,
    producers: 1,
    mode: 'closed',
    designs: designs.map((d) => ({ engine: d.design.name, params: d.params })),
  });
  const throughput: Record<string, number>[] = [];
  const equivalenceFailures: string[] = [];
  const probe = new ContentionProbe();
  let discardedRounds = 0;
  runCalibration(); // once untimed, so that round 1 does not measure the kernel's compilation
  for (let attempt = 0; throughput.length < rounds; attempt++) {
    if (attempt === rounds * ATTEMPTS_PER_ROUND) {
      throw new BusyMachineError(
        `other processes used more than ${FOREIGN_LIMIT * 100} % of the machine's CPU in ${discardedRounds} of ${attempt} rounds; ` +
          `only ${throughput.length} of the ${rounds} rounds needed were clean. Rerun on a quiet machine.`,
      );
    }
    const round = throughput.length;
    probe.start();
    const calibration = Math.max(...Array.from({ length: CALIBRATION_RUNS }, () => runCalibration().opsPerSecond));
    const figures: Record<string, number> = { [CALIBRATION]: calibration };
    for (let k = 0; k < designs.length; k++) {
      const { design, params } = designs[(round + k) % designs.length]!;
      const outcome = await runOnce({ design, params, workload: prepared, split, mode: 'closed', rate: null, warmup: GATE_SET.warmup });
      const verdict = checkEquivalence({ workload: prepared.workload, workloadKey: prepared.identity.hash, split, logs: outcome.logs, run: outcome.sequenced, traces });
      if (!verdict.ok) equivalenceFailures.push(`${design.name} round ${round + 1}: ${verdict.failure}`);
      figures[design.name] = outcome.throughput;
    }
    const figuresText = Object.entries(figures).map(([k, v]) => `${k} ${(v / 1e6).toFixed(2)}M/s`).join(', ');
    const foreign = probe.foreignShare();
    if (foreign !== undefined && foreign > FOREIGN_LIMIT) {
      discardedRounds++;
      log(`round ${round + 1}/${rounds} discarded: other processes used ${(foreign * 100).toFixed(0)} % of the CPU (${figuresText})`);
      continue;
    }
    throughput.push(figures);
    log(`round ${round + 1}/${rounds}: ${figuresText}${foreign === undefined ? '' : `; others used ${(foreign * 100).toFixed(0)} % of the CPU`}`);
  }
  return {
    setKey, environment: captureEnvironment(), rounds, throughput, metrics: metricsFromRounds(throughput, references()), equivalenceFailures, discardedRounds,
  };
}

const SPEC: CommandSpec = {
  command: 'npm run gate --',
  summary: 'Measure the fixed benchmark set and compare each design with results/baseline.json; exit 1 on a regression or an equivalence failure.',
  details:
    `Each of ${ROUNDS} interleaved rounds (${BASELINE_ROUNDS} for the baseline) measures the calibration kernel and ${GATE_SET.designs.join(', ')} (closed loop, one producer, ` +
    `${GATE_SET.workload.preset} preset, ${GATE_SET.workload.count} commands). A design regresses when its throughput ratio ` +
    `(inline: to the calibration kernel; others: to inline) fell by more than ${GATE_RULE.threshold * 100} % and the ` +
    `${GATE_RULE.confidence * 100} % bootstrap interval of the change is entirely below zero.`,
  options: {
    'update-baseline': { type: 'boolean', description: 'measure and rewrite results/baseline.json instead of comparing' },
  },
};

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2), SPEC);
  if (args.help) {
    process.stdout.write(formatHelp(SPEC));
    return;
  }
  const slowdown = activeSlowdown();
  const update = args.boolean('update-baseline');
  if (update && slowdown !== undefined) throw new Error(`refusing to write a baseline while MATCHBENCH_INJECT_SLOWDOWN slows ${slowdown.design} by ${slowdown.fraction * 100} %`);
  if (slowdown !== undefined) console.log(`test knob: ${slowdown.design} slowed by ${slowdown.fraction * 100} % (MATCHBENCH_INJECT_SLOWDOWN)`);
  const baseline = update ? undefined : readBaseline();
  const started = Date.now();
  // A busy machine widens every interval (the gate then calls fewer changes); say so next to the verdict.
  console.log(`load average before: ${loadavg()[0]!.toFixed(2)} on ${availableParallelism()} cores`);
  let measurement: GateMeasurement;
  try {
    measurement = await measureGate(update ? BASELINE_ROUNDS : ROUNDS, (line) => console.log(line));
  } catch (error) {
    if (!(error instanceof BusyMachineError)) throw error;
    console.log(`gate: INCONCLUSIVE: ${error.message}`);
    process.exitCode = 3;
    return;
  }
  if (measurement.discardedRounds > 0) console.log(`${measurement.discardedRounds} rounds discarded and measured again (other processes were busy)`);
  const seconds = ((Date.now() - started) / 1000).toFixed(0);
  console.log(`load average after: ${loadavg()[0]!.toFixed(2)}`);
  if (update) {
    if (measurement.equivalenceFailures.length > 0) throw new Error(`not writing a baseline: equivalence failed\n${measurement.equivalenceFailures.join('\n')}`);
    writeFileSync(BASELINE_PATH, `${JSON.stringify(baselineOf(measurement, new Date().toISOString()), null, 1)}\n`);
    console.log(`baseline written: ${BASELINE_PATH} (${seconds} s)`);
    return;
  }
  const outcome = evaluateGate(measurement, baseline!, GATE_RULE, DESIGN_THRESHOLDS);
  for (const v of outcome.verdicts) console.log(`${v.verdict.padEnd(11)} ${describeVerdict(v, GATE_RULE)}`);
  if (outcome.pass) {
    console.log(`gate: PASS (${outcome.verdicts.length} designs within noise of the baseline, ${seconds} s)`);
    return;
  }
  for (const failure of outcome.failures) console.log(failure);
  console.log(`gate: FAIL (${outcome.failures.length} problem${outcome.failures.length > 1 ? 's' : ''}, ${seconds} s)`);
  process.exitCode = 1;
}

function readBaseline() {
  let text: string;
  try {
    text = readFileSync(BASELINE_PATH, 'utf8');
  } catch {
    throw new Error(`${BASELINE_PATH} is missing: create it with \`npm run gate -- --update-baseline\` and commit it`);
  }
  return checkBaseline(JSON.parse(text), BASELINE_PATH);
}

if (import.meta.main) runCli(main);
