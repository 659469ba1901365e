/**
 * `npm run gate [-- --update-baseline]`: the performance-regression gate CI runs after the tests.
 *
 * A short fixed benchmark set (GATE_SET: every design once, default parameters, one producer, closed loop, on a
 * fixed generated workload) is measured in interleaved rounds; each round also runs the frozen calibration kernel
 * (harness/gate-calibration.ts) and starts from a different design, so no design always runs first or last. The
 * rounds are spread over PROCESSES fresh Node processes run one after another (BASELINE_PROCESSES when recording
 * the baseline), ROUNDS_PER_PROCESS each: a process's JIT decisions and memory layout shift a design's speed by a
 * few per cent for as long as that process lives, which more rounds in one process never average away.
 * Each design is judged by its throughput ratio to its reference in the same round, summarised over the rounds
 * (interquartile mean): `inline` against the calibration kernel, every other design against `inline`. That ratio
 * is compared with the committed baseline's (results/baseline.json) by harness/gate-stats.ts: a design fails when
 * its ratio dropped by more than the threshold and the 99 % bootstrap interval of the drop excludes zero. Any
 * equivalence failure fails the gate too. A round during which other processes used more than FOREIGN_LIMIT of the
 * machine is thrown away and measured again (harness/gate-contention.ts); if the machine never quiets down the gate
 * says so instead of judging. Exit code 0 = pass, 1 = fail, 2 = usage, 3 = machine too busy, 4 = not the kind of
 * machine the baseline was measured on (another CPU, core count, Node or V8).
 *
 * `--update-baseline` measures and rewrites the baseline instead of comparing (refused while the test-only
 * slowdown knob is set, so a slowed run can never become the baseline).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { designByName, resolveParams } from '../engines/designs.ts';
import { formatHelp, parseArgs, runCli, UsageError, type CommandSpec } from './cli-args.ts';
import { captureEnvironment } from './environment.ts';
import { checkEquivalence } from './equivalence.ts';
import { baselineOf, CALIBRATION, checkBaseline, describeVerdict, evaluateGate, machineDifferences, poolMeasurements, type GateMeasurement, type ProcessRounds } from './gate-baseline.ts';
import { runCalibration } from './gate-calibration.ts';
import { ContentionProbe } from './gate-contention.ts';
import type { GateRule } from './gate-stats.ts';
import type { Environment } from './results-schema.ts';
import { preparePreset } from './prepared-workload.ts';
import { ReferenceTraceCache } from './reference-trace.ts';
import { runOnce } from './run.ts';
import { activeSlowdown } from './slowdown-knob.ts';
import { splitWorkload } from './split.ts';

/** The fixed benchmark set. Changing it invalidates the baseline (its key changes): update the baseline with it. */
const GATE_SET = {
  // 900 000 measured commands per design per round: at 150 000 a round's ratios scattered twice as widely.
  workload: { preset: 'balanced', seed: 1, count: 1_000_000 },
  // Long enough that every design's hot code is optimized before the measured part (20 000 left run-to-run noise twice as large).
  warmup: 100_000,
  designs: ['inline', 'mutex', 'channel', 'disruptor', 'sharded'],
} as const;

/** Rounds in each measuring process: one per design, so every design starts a round once in each process. */
const ROUNDS_PER_PROCESS = GATE_SET.designs.length;
/** Measuring processes per gate run (PROCESSES x ROUNDS_PER_PROCESS rounds, at least 9). */
const PROCESSES = 3;
/**
 * Processes when measuring the baseline: it is measured once and compared many times, so a larger sample there
 * narrows every later confidence interval (the change's variance is the sum of both sides') without lengthening the
 * CI job, and averages more processes' offsets.
 */
const BASELINE_PROCESSES = 3 * PROCESSES;
/** The calibration kernel runs this many times per round and counts its fastest: a cold or GC-hit run says nothing. */
const CALIBRATION_RUNS = 3;
/** A round in which other processes used more than this share of the machine's CPU is measured again. */
const FOREIGN_LIMIT = 0.1;
/** Attempts per needed round before the gate gives up on a machine that never goes quiet. */
const ATTEMPTS_PER_ROUND = 3;

/** The machine stayed too busy to measure: neither a pass nor a regression. */
class BusyMachineError extends Error {
  override readonly name = 'BusyMachineError';
}

const GATE_RULE: GateRule = { threshold: 0.05, confidence: 0.99, resamples: 4000, seed: 0x5eed };
/**
 * Designs whose ratio moves more than GATE_RULE.threshold between runs of unchanged code get their own threshold
 * (the 99 % interval, computed within one run, cannot see a shift that lasts a whole run). Both run more threads
 * than this 2-core machine has cores' worth of idle time for, so any other runnable thread costs them time slices:
 * `disruptor` busy-spins its producer and consumer (its ratio to inline was seen −7 % and −12 % off the baseline on
 * unchanged code), and `sharded` runs a producer and two shard workers (seen −2 % to −8 % off the baseline in 8
 * runs of unchanged code, mean −4.6 %).
 */
const DESIGN_THRESHOLDS: Readonly<Record<string, number>> = { disruptor: 0.15, sharded: 0.12 };

/** Other processes kept the machine too busy to measure: neither a pass nor a regression. */
const BUSY_EXIT_CODE = 3;
/** The machine is not the kind the baseline was measured on: its ratios say nothing about the code. */
const OTHER_MACHINE_EXIT_CODE = 4;

const BASELINE_PATH = resolve(import.meta.dirname, '..', 'results', 'baseline.json');

/** Each design's reference: inline against the calibration kernel, the rest against inline. */
function references(): Record<string, string> {
  return Object.fromEntries(GATE_SET.designs.map((d) => [d, d === 'inline' ? CALIBRATION : 'inline']));
}

/** Runs the fixed set in this process: `rounds` rounds of calibration + every design, every run's equivalence checked. */
async function measureGate(rounds: number, log: (line: string) => void): Promise<ProcessRounds> {
  const prepared = preparePreset(GATE_SET.workload, 'gate');
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
  return { setKey, throughput, equivalenceFailures, discardedRounds };
}

/**
 * Measures `processes` x ROUNDS_PER_PROCESS rounds, each process a fresh `node harness/gate.ts --measure-rounds`
 * run one after another (never two at once: they would compete for the cores), and pools their rounds. Their
 * progress lines pass through; `environment` is this machine's. Throws BusyMachineError when one of them found the
 * machine too busy.
 */
function measureInProcesses(processes: number, environment: Environment, log: (line: string) => void): GateMeasurement {
  const dir = mkdtempSync(join(tmpdir(), 'matchbench-gate-'));
  try {
    const parts: ProcessRounds[] = [];
    for (let p = 1; p <= processes; p++) {
      log(`process ${p}/${processes}:`);
      const out = join(dir, `process-${p}.json`);
      const child = spawnSync(process.execPath, [import.meta.filename, '--measure-rounds', String(ROUNDS_PER_PROCESS), '--out', out], { stdio: 'inherit' });
      if (child.status === BUSY_EXIT_CODE) throw new BusyMachineError(`measuring process ${p} of ${processes} found the machine too busy (see above)`);
      if (child.status !== 0) throw new Error(`measuring process ${p} of ${processes} failed (${child.error?.message ?? `exit ${child.status ?? child.signal}`})`);
      parts.push(JSON.parse(readFileSync(out, 'utf8')) as ProcessRounds);
    }
    return poolMeasurements(parts, references(), environment);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const SPEC: CommandSpec = {
  command: 'npm run gate --',
  summary: 'Measure the fixed benchmark set and compare each design with results/baseline.json; exit 1 on a regression or an equivalence failure.',
  details:
    `${PROCESSES} fresh processes (${BASELINE_PROCESSES} for the baseline) each measure ${ROUNDS_PER_PROCESS} interleaved rounds of the calibration kernel and ` +
    `${GATE_SET.designs.join(', ')} (closed loop, one producer, ${GATE_SET.workload.preset} preset, ${GATE_SET.workload.count} commands). ` +
    `A design regresses when its per-round throughput ratio (inline: to the calibration kernel; others: to inline) fell by more than ` +
    `${GATE_RULE.threshold * 100} % (${Object.entries(DESIGN_THRESHOLDS).map(([d, t]) => `${d}: ${t * 100} %`).join(', ')}) and the ` +
    `${GATE_RULE.confidence * 100} % bootstrap interval of the change is entirely below zero.`,
  options: {
    'update-baseline': { type: 'boolean', description: 'measure and rewrite results/baseline.json instead of comparing' },
    'measure-rounds': { type: 'string', value: 'N', description: 'measure N rounds in this process only and write them to --out (what each of the processes above runs)' },
    out: { type: 'string', value: 'FILE', description: 'with --measure-rounds: where the measurement goes (JSON)' },
  },
};

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2), SPEC);
  if (args.help) {
    process.stdout.write(formatHelp(SPEC));
    return;
  }
  const measureRounds = args.integer('measure-rounds', 1);
  if (measureRounds !== undefined) {
    const out = args.string('out');
    if (out === undefined) throw new UsageError(SPEC.command, '--measure-rounds needs --out FILE');
    await measureOneProcess(measureRounds, out);
    return;
  }
  const slowdown = activeSlowdown();
  const update = args.boolean('update-baseline');
  if (update && slowdown !== undefined) throw new Error(`refusing to write a baseline while MATCHBENCH_INJECT_SLOWDOWN slows ${slowdown.design} by ${slowdown.fraction * 100} %`);
  if (slowdown !== undefined) console.log(`test knob: ${slowdown.design} slowed by ${slowdown.fraction * 100} % (MATCHBENCH_INJECT_SLOWDOWN)`);
  const baseline = update ? undefined : readBaseline();
  const environment = captureEnvironment();
  if (baseline !== undefined) {
    const then = baseline.environment;
    console.log(`baseline: ${baseline.rounds} rounds measured ${baseline.createdAt} at commit ${then.gitSha?.slice(0, 10) ?? 'unknown'} (${then.cpuModel}, ${then.cores} cores, Node ${then.node})`);
    // Ratios cancel a machine that is uniformly faster or slower, not another CPU or runtime, which can favour one
    // design over another: judging against such a baseline would blame the code for the machine.
    const differences = machineDifferences(then, environment);
    if (differences.length > 0) {
      console.log(`gate: CANNOT JUDGE: this is not the kind of machine the baseline was measured on (${differences.join('; ')}). Record a baseline here with \`npm run gate -- --update-baseline\` and commit it.`);
      process.exitCode = OTHER_MACHINE_EXIT_CODE;
      return;
    }
  }
  const started = Date.now();
  // A busy machine widens every interval (the gate then calls fewer changes); say so next to the verdict.
  console.log(`load average before: ${loadavg()[0]!.toFixed(2)} on ${availableParallelism()} cores`);
  let measurement: GateMeasurement;
  try {
    measurement = measureInProcesses(update ? BASELINE_PROCESSES : PROCESSES, environment, (line) => console.log(line));
  } catch (error) {
    if (!(error instanceof BusyMachineError)) throw error;
    console.log(`gate: INCONCLUSIVE: ${error.message}`);
    process.exitCode = BUSY_EXIT_CODE;
    return;
  }
  if (measurement.discardedRounds > 0) console.log(`${measurement.discardedRounds} rounds discarded and measured again (other processes were busy)`);
  const seconds = ((Date.now() - started) / 1000).toFixed(0);
  console.log(`load average after: ${loadavg()[0]!.toFixed(2)}`);
  if (update) {
    if (measurement.equivalenceFailures.length > 0) throw new Error(`not writing a baseline: equivalence failed\n${measurement.equivalenceFailures.join('\n')}`);
    writeFileSync(BASELINE_PATH, `${JSON.stringify(baselineOf(measurement, new Date().toISOString()), null, 1)}\n`);
    console.log(`baseline written: ${BASELINE_PATH} (${measurement.rounds} rounds, ${seconds} s)`);
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

/** One measuring process: its rounds go to `out`; exit code BUSY_EXIT_CODE when the machine stayed too busy. */
async function measureOneProcess(rounds: number, out: string): Promise<void> {
  try {
    writeFileSync(out, JSON.stringify(await measureGate(rounds, (line) => console.log(line))));
  } catch (error) {
    if (!(error instanceof BusyMachineError)) throw error;
    console.log(error.message);
    process.exitCode = BUSY_EXIT_CODE;
  }
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
