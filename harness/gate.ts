/**
 * `npm run gate [-- --update-baseline --reason TEXT]`: the performance-regression gate CI runs after the tests.
 *
 * Relative benchmarking: results/baseline.json names a baseline commit (harness/gate-baseline.ts). A gate run checks
 * that commit out in a temporary worktree (harness/gate-worktree.ts) and measures the baseline's code and the
 * current tree's code on this machine, in fresh Node processes that alternate A B B A A B ... (PAIRS of each, one at
 * a time: two at once would compete for the cores). Each process runs its own tree's `harness/gate.ts
 * --measure-rounds`: ROUNDS_PER_PROCESS rounds of a short fixed benchmark set (GATE_SET: every design once, default
 * parameters, one producer, closed loop, a fixed generated workload), each round starting from a different design,
 * every run's equivalence checked. Round j of the k-th baseline process is paired with round j of the k-th current
 * process, and each design is judged by its per-pair throughput ratio, current ÷ baseline (harness/gate-stats.ts):
 * it fails when the ratio dropped by more than its threshold and the 99 % bootstrap interval of the drop excludes
 * zero. Any equivalence failure of the current code fails the gate too. Because both sides run on the same machine,
 * interleaved, any kind of machine can be judged: nothing measured elsewhere is compared.
 *
 * A round during which other processes used more than FOREIGN_LIMIT of the machine is thrown away and measured again
 * (harness/gate-contention.ts); if the machine never quiets down the gate says so instead of judging.
 * Exit code 0 = pass, 1 = fail, 2 = usage, 3 = machine too busy, 4 = cannot judge (the baseline commit is not in this
 * clone, or the baseline's code measures another benchmark set).
 *
 * `--update-baseline` moves the baseline to a commit (HEAD unless --commit REV) with the reason given by --reason;
 * it measures nothing. It is refused while the test-only slowdown knob is set.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { designByName, resolveParams } from '../engines/designs.ts';
import { formatHelp, parseArgs, runCli, UsageError, type CommandSpec } from './cli-args.ts';
import { captureEnvironment } from './environment.ts';
import { checkEquivalence } from './equivalence.ts';
import { baselineOf, checkBaseline, describeVerdict, evaluateGate, pairMeasurements, SetMismatchError, type GateBaseline, type ProcessRounds } from './gate-baseline.ts';
import { ContentionProbe } from './gate-contention.ts';
import type { GateRule } from './gate-stats.ts';
import { BaselineUnavailableError, checkOutBaseline, repositoryRoot, requireCommit } from './gate-worktree.ts';
import { preparePreset } from './prepared-workload.ts';
import { ReferenceTraceCache } from './reference-trace.ts';
import { runOnce } from './run.ts';
import { activeSlowdown, SLOWDOWN_ENV } from './slowdown-knob.ts';
import { splitWorkload } from './split.ts';

/**
 * The fixed benchmark set. Its workload, warm-up, producer count and mode must match the baseline's code for the
 * two to be compared (see SetKey in harness/gate-baseline.ts); a design added here is judged once the baseline has it.
 */
const GATE_SET = {
  // 900 000 measured commands per design per round: at 150 000 a round's ratios scattered twice as widely.
  workload: { preset: 'balanced', seed: 1, count: 1_000_000 },
  // Long enough that every design's hot code is optimized before the measured part (20 000 left run-to-run noise twice as large).
  warmup: 100_000,
  designs: ['inline', 'mutex', 'channel', 'disruptor', 'sharded'],
} as const;

/** Rounds in each measuring process: one per design, so every design starts a round once in each process. */
const ROUNDS_PER_PROCESS = GATE_SET.designs.length;
/** Measuring processes per tree: PAIRS x ROUNDS_PER_PROCESS round pairs per design. */
const PAIRS = 3;
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
 * (the 99 % interval, computed within one run, cannot see a shift that lasts a whole process).
 */
const DESIGN_THRESHOLDS: Readonly<Record<string, number>> = {};

/** Other processes kept the machine too busy to measure: neither a pass nor a regression. */
const BUSY_EXIT_CODE = 3;
/** The gate cannot judge: no baseline code to measure, or it measures another set. */
const CANNOT_JUDGE_EXIT_CODE = 4;

const BASELINE_PATH = resolve(import.meta.dirname, '..', 'results', 'baseline.json');

/** Runs the fixed set in this process: `rounds` rounds of every design, every run's equivalence checked. */
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
  for (let attempt = 0; throughput.length < rounds; attempt++) {
    if (attempt === rounds * ATTEMPTS_PER_ROUND) {
      throw new BusyMachineError(
        `other processes used more than ${FOREIGN_LIMIT * 100} % of the machine's CPU in ${discardedRounds} of ${attempt} rounds; ` +
          `only ${throughput.length} of the ${rounds} rounds needed were clean. Rerun on a quiet machine.`,
      );
    }
    const round = throughput.length;
    probe.start();
    const figures: Record<string, number> = {};
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

type Side = 'baseline' | 'current';

/**
 * One measuring process of `tree`'s own code, with that tree's Node; its output lines pass through, prefixed with
 * the side. The slowdown knob reaches only the current tree (the baseline's code reads the same variable).
 * `track` learns the child while it runs, so that a signal can stop it.
 */
function measureProcess(side: Side, tree: string, out: string, track: (child: ReturnType<typeof spawn> | undefined) => void): Promise<ProcessRounds> {
  const treeNode = join(tree, 'node_modules', '.bin', 'node');
  const env = { ...process.env };
  if (side === 'baseline') delete env[SLOWDOWN_ENV];
  return new Promise((resolvePromise, reject) => {
    const child = spawn(existsSync(treeNode) ? treeNode : process.execPath, [join(tree, 'harness', 'gate.ts'), '--measure-rounds', String(ROUNDS_PER_PROCESS), '--out', out], {
      cwd: tree, env, stdio: ['ignore', 'pipe', 'inherit'],
    });
    track(child);
    let pending = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      const lines = (pending + chunk).split('\n');
      pending = lines.pop()!;
      for (const line of lines) console.log(`  ${side.padEnd(8)} ${line}`);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      track(undefined);
      if (pending !== '') console.log(`  ${side.padEnd(8)} ${pending}`);
      if (code === BUSY_EXIT_CODE) reject(new BusyMachineError(`a ${side} measuring process found the machine too busy (see above)`));
      else if (code !== 0) reject(new Error(`a ${side} measuring process failed (${signal ?? `exit ${code}`})`));
      else resolvePromise(JSON.parse(readFileSync(out, 'utf8')) as ProcessRounds);
    });
  });
}

/**
 * Measures PAIRS processes of each tree, alternating A B B A A B ... so that a drift of the machine's speed during
 * the run falls on both sides alike.
 */
async function measureBothTrees(baselineTree: string, currentTree: string): Promise<{ baseline: ProcessRounds[]; current: ProcessRounds[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'matchbench-gate-'));
  let running: ReturnType<typeof spawn> | undefined;
  const stop = (signal: NodeJS.Signals): void => {
    running?.kill(signal);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  try {
    const measured: Record<Side, ProcessRounds[]> = { baseline: [], current: [] };
    for (let k = 1; k <= PAIRS; k++) {
      const order: Side[] = k % 2 === 1 ? ['baseline', 'current'] : ['current', 'baseline'];
      for (const side of order) {
        const index = measured.baseline.length + measured.current.length + 1;
        console.log(`process ${index}/${2 * PAIRS} (${side} code):`);
        const started = Date.now();
        const tree = side === 'baseline' ? baselineTree : currentTree;
        measured[side].push(await measureProcess(side, tree, join(dir, `${side}-${k}.json`), (child) => (running = child)));
        console.log(`process ${index}/${2 * PAIRS} (${side} code) done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
      }
    }
    return measured;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    rmSync(dir, { recursive: true, force: true });
  }
}

const SPEC: CommandSpec = {
  command: 'npm run gate --',
  summary: 'Measure the baseline commit\'s code and the current code side by side on this machine; exit 1 on a regression or an equivalence failure.',
  details:
    `Checks out the commit results/baseline.json names in a temporary git worktree, then runs ${PAIRS} fresh processes of each tree, alternating, ` +
    `each measuring ${ROUNDS_PER_PROCESS} interleaved rounds of ${GATE_SET.designs.join(', ')} (closed loop, one producer, ${GATE_SET.workload.preset} preset, ` +
    `${GATE_SET.workload.count} commands). A design regresses when its per-round throughput ratio, current ÷ baseline, fell by more than ` +
    `${GATE_RULE.threshold * 100} %${Object.entries(DESIGN_THRESHOLDS).map(([d, t]) => `, ${d}: ${t * 100} %`).join('')} and the ` +
    `${GATE_RULE.confidence * 100} % bootstrap interval of the change is entirely below zero. ` +
    `Exit codes: 0 pass, 1 fail, 2 usage, 3 machine too busy, 4 cannot judge (baseline commit not in this clone, or another benchmark set).`,
  options: {
    'update-baseline': { type: 'boolean', description: 'move results/baseline.json to a commit (measures nothing); needs --reason' },
    reason: { type: 'string', value: 'TEXT', description: 'with --update-baseline: why the baseline moves (recorded in the file)' },
    commit: { type: 'string', value: 'REV', description: 'with --update-baseline: the commit to compare with from now on (default HEAD)' },
    'measure-rounds': { type: 'string', value: 'N', description: 'measure N rounds of this tree in this process only and write them to --out (what each measuring process runs)' },
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
  const repo = repositoryRoot(import.meta.dirname);
  if (args.boolean('update-baseline')) {
    updateBaseline(repo, args.string('commit') ?? 'HEAD', args.string('reason'));
    return;
  }
  for (const flag of ['reason', 'commit'] as const) {
    if (args.string(flag) !== undefined) throw new UsageError(SPEC.command, `--${flag} goes with --update-baseline`);
  }
  if (slowdown !== undefined) console.log(`test knob: ${slowdown.design} slowed by ${slowdown.fraction * 100} % in the current code (${SLOWDOWN_ENV})`);
  const baseline = readBaseline();
  const environment = captureEnvironment();
  const head = environment.gitSha === null ? 'unknown commit' : `${environment.gitSha.slice(0, 10)}${environment.gitDirty === true ? ' with uncommitted changes' : ''}`;
  console.log(`gate: relative mode: the baseline's code (commit ${baseline.commit.slice(0, 10)}, set ${baseline.updatedAt}: ${baseline.reason}) against the current tree (${head})`);
  console.log(`machine: ${environment.cpuModel}, ${environment.cores} cores, Node ${environment.node}; load average before: ${loadavg()[0]!.toFixed(2)} on ${availableParallelism()} cores`);
  const started = Date.now();
  let tree;
  try {
    tree = checkOutBaseline(repo, baseline.commit, (line) => console.log(line));
  } catch (error) {
    if (!(error instanceof BaselineUnavailableError)) throw error;
    console.log(`gate: CANNOT JUDGE: ${error.message}`);
    process.exitCode = CANNOT_JUDGE_EXIT_CODE;
    return;
  }
  let measured;
  try {
    console.log(`baseline code checked out at ${tree.dir} (dependencies ${tree.dependencies})`);
    measured = await measureBothTrees(tree.dir, repo);
  } catch (error) {
    if (!(error instanceof BusyMachineError)) throw error;
    console.log(`gate: INCONCLUSIVE: ${error.message}`);
    process.exitCode = BUSY_EXIT_CODE;
    return;
  } finally {
    tree.remove();
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(0);
  console.log(`load average after: ${loadavg()[0]!.toFixed(2)}`);
  let paired;
  try {
    paired = pairMeasurements(measured.baseline, measured.current);
  } catch (error) {
    if (!(error instanceof SetMismatchError)) throw error;
    console.log(`gate: CANNOT JUDGE: ${error.message}`);
    process.exitCode = CANNOT_JUDGE_EXIT_CODE;
    return;
  }
  if (paired.discardedRounds > 0) console.log(`${paired.discardedRounds} rounds discarded and measured again (other processes were busy)`);
  for (const note of paired.notes) console.log(`note: ${note}`);
  for (const failure of paired.baselineEquivalenceFailures) console.log(`note: the baseline's code failed an equivalence check (not held against the change): ${failure}`);
  const outcome = evaluateGate(paired, GATE_RULE, DESIGN_THRESHOLDS);
  for (const v of outcome.verdicts) console.log(`${v.verdict.padEnd(11)} ${describeVerdict(v, GATE_RULE)}`);
  if (outcome.pass) {
    console.log(`gate: PASS (${outcome.verdicts.length} designs within noise of the baseline's code, ${seconds} s)`);
    return;
  }
  for (const failure of outcome.failures) console.log(failure);
  console.log(`gate: FAIL (${outcome.failures.length} problem${outcome.failures.length > 1 ? 's' : ''}, ${seconds} s)`);
  process.exitCode = 1;
}

/** Writes results/baseline.json naming `rev` (resolved to a commit of this repository) with `reason`. */
function updateBaseline(repo: string, rev: string, reason: string | undefined): void {
  if (activeSlowdown() !== undefined) throw new Error(`refusing to move the baseline while ${SLOWDOWN_ENV} is set`);
  if (reason === undefined) throw new UsageError(SPEC.command, '--update-baseline needs --reason TEXT (why the baseline moves)');
  const resolved = spawnSync('git', ['-C', repo, 'rev-parse', '--verify', '--quiet', `${rev}^{commit}`], { encoding: 'utf8' });
  if (resolved.status !== 0) throw new UsageError(SPEC.command, `--commit ${rev}: not a commit of this repository`);
  const commit = resolved.stdout.trim();
  requireCommit(repo, commit);
  const baseline = baselineOf(commit, reason, new Date().toISOString());
  writeFileSync(BASELINE_PATH, `${JSON.stringify(baseline, null, 1)}\n`);
  console.log(`baseline moved to ${commit} (${reason}): ${BASELINE_PATH}; commit it`);
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

function readBaseline(): GateBaseline {
  let text: string;
  try {
    text = readFileSync(BASELINE_PATH, 'utf8');
  } catch {
    throw new Error(`${BASELINE_PATH} is missing: create it with \`npm run gate -- --update-baseline --reason TEXT\` and commit it`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`${BASELINE_PATH}: not JSON (${(error as Error).message})`);
  }
  return checkBaseline(value, BASELINE_PATH);
}

if (import.meta.main) runCli(main);
