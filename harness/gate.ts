/**
 * `npm run gate [-- --update-baseline --reason TEXT]`: the performance-regression gate CI runs after the tests.
 *
 * Relative benchmarking: results/baseline.json names a baseline commit (harness/gate-baseline.ts). A gate run checks
 * that commit out in a temporary worktree (harness/gate-worktree.ts) and measures the baseline's code and the
 * current tree's code on this machine: PAIRS pairs of fresh Node processes, one process of each tree
 * (`harness/gate.ts --serve-runs`, harness/gate-process.ts), each pair alive together and taking turns, one run at
 * a time (two at once would compete for the cores). A pair measures ROUNDS_PER_PAIR rounds of a short fixed set
 * (GATE_SET: every design once, default parameters, one producer, closed loop, a fixed generated workload), each
 * round starting from a different design; each design's run on one tree is followed at once by the same run on the
 * other, which side goes first alternating, so the two runs of a pair see the machine in the same state. Each design
 * is judged by its per-pair throughput ratio, current ÷ baseline (harness/gate-stats.ts): it fails when the ratio
 * dropped by more than its threshold and the 99 % bootstrap interval of the drop (resampling whole process pairs) excludes zero. Every run's answer
 * is checked event for event; any equivalence failure of the current code fails the gate too. Because both sides
 * run on the same machine, interleaved, any kind of machine can be judged: nothing measured elsewhere is compared.
 *
 * A pair of runs during which other processes used more than FOREIGN_LIMIT of the machine is thrown away and
 * measured again (harness/gate-contention.ts); if the machine never quiets down the gate says so instead of judging.
 * Exit code 0 = pass, 1 = fail, 2 = usage, 3 = machine too busy, 4 = cannot judge (the baseline commit is not in this
 * clone, its code predates the measuring protocol, or it measures another benchmark set).
 *
 * `--update-baseline` moves the baseline to a commit (HEAD unless --commit REV) with the reason given by --reason;
 * it measures nothing. It is refused while the test-only slowdown knob is set.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { designByName, resolveParams } from '../engines/designs.ts';
import { formatHelp, parseArgs, runCli, UsageError, type CommandSpec } from './cli-args.ts';
import { captureEnvironment } from './environment.ts';
import { baselineOf, checkBaseline, describeVerdict, evaluateGate, planPairs, SetMismatchError, type GateBaseline, type PairedMeasurement } from './gate-baseline.ts';
import { MeasuringProcess, ProtocolMismatchError, serveRuns } from './gate-process.ts';
import type { GateRule } from './gate-stats.ts';
import { BaselineUnavailableError, checkOutBaseline, repositoryRoot, requireCommit } from './gate-worktree.ts';
import { preparePreset } from './prepared-workload.ts';
import { activeSlowdown, SLOWDOWN_ENV } from '../engines/slowdown-knob.ts';

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

/** Rounds per pair of processes: one per design, so every design starts a round once in each pair. */
const ROUNDS_PER_PAIR = GATE_SET.designs.length;
/**
 * Pairs of measuring processes: PAIRS x ROUNDS_PER_PAIR run pairs per design, judged with a bootstrap that resamples
 * process pairs (harness/gate-stats.ts). 6 since runs reuse their event-log buffers (a run's set-up fell from
 * 1.0–1.5 s to 0.5–0.9 s): with 3 pairs of 5 rounds the two-thread designs' 99 % intervals were ±10 % wide, and
 * 3 pairs of 10 rounds left a process pair's own offset (±5–8 % for `sharded` and `channel`) to three draws.
 */
const PAIRS = 6;
/** A pair of runs during which other processes used more than this share of the machine's CPU is measured again. */
const FOREIGN_LIMIT = 0.1;
/** Attempts per needed pair of runs before the gate gives up on a machine that never goes quiet. */
const ATTEMPTS_PER_PAIR = 3;

/**
 * Pause before each run, for whatever the process that has just replied still does (its run's worker exiting).
 * Measured on the AMD EPYC VM: 20–30 ms of CPU in the first 50 ms after a reply until measuring processes collected
 * their garbage before replying (harness/gate-process.ts), about nothing since; a cheap guard (~15 s a gate run).
 */
const SETTLE_MS = 100;

function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
}

/** The machine stayed too busy to measure: neither a pass nor a regression. */
class BusyMachineError extends Error {
  override readonly name = 'BusyMachineError';
}

/**
 * One threshold for every design. 8 % until the measuring processes compiled deterministically
 * (MEASURING_NODE_FLAGS in harness/gate-process.ts): unchanged code then wandered from −6.5 % to +17 %, two figures
 * below −5 % with their whole 99 % interval below zero. Since, unchanged code stayed within −4.4 % in 6 proof runs
 * (30 verdicts, none failing even at 3 %), and in a quiet hour the intervals of inline, mutex and disruptor are
 * ±1–3 %; at noisier hours ±10 %, which the interval condition absorbs. The proof with its counts is in the README
 * ("How the gate was proven").
 */
const GATE_RULE: GateRule = { threshold: 0.05, confidence: 0.99, resamples: 4000, seed: 0x5eed };

/** Other processes kept the machine too busy to measure: neither a pass nor a regression. */
const BUSY_EXIT_CODE = 3;
/** The gate cannot judge: no baseline code to measure, or it measures another set. */
const CANNOT_JUDGE_EXIT_CODE = 4;

const BASELINE_PATH = resolve(import.meta.dirname, '..', 'results', 'baseline.json');

/** This tree's set, prepared: what `--serve-runs` measures. */
function preparedSet() {
  const workload = preparePreset(GATE_SET.workload, 'gate');
  const designs = GATE_SET.designs.map((name) => {
    const design = designByName(name);
    return { design, params: resolveParams(design, {}) };
  });
  const setKey = JSON.stringify({
    workload: workload.identity.hash,
    warmup: GATE_SET.warmup,
    producers: 1,
    mode: 'closed',
    designs: designs.map((d) => ({ engine: d.design.name, params: d.params })),
  });
  return { setKey, workload, warmup: GATE_SET.warmup, designs };
}

type Side = 'baseline' | 'current';

/** A measuring process of `tree`'s own code with that tree's Node; the slowdown knob reaches only the current tree. */
function startProcess(side: Side, tree: string, pair: number): MeasuringProcess {
  const treeNode = join(tree, 'node_modules', '.bin', 'node');
  const env = { ...process.env };
  if (side === 'baseline') delete env[SLOWDOWN_ENV]; // the baseline's code reads the same variable
  return new MeasuringProcess(`${side} process ${pair}`, existsSync(treeNode) ? treeNode : process.execPath, tree, env);
}

/**
 * PAIRS pairs of processes, one of each tree, each pair taking turns run by run; returns every design's paired
 * figures. A signal stops the processes of the pair being measured.
 */
async function measureBothTrees(trees: Record<Side, string>): Promise<PairedMeasurement> {
  const live = new Set<MeasuringProcess>();
  const stop = (): void => {
    for (const p of live) p.kill();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  try {
    const samples = new Map<string, { design: number[]; reference: number[]; groups: number[] }>();
    const equivalenceFailures: Record<Side, string[]> = { baseline: [], current: [] };
    let notes: readonly string[] = [];
    let discardedPairs = 0;
    for (let k = 1; k <= PAIRS; k++) {
      const processes: Record<Side, MeasuringProcess> = { baseline: startProcess('baseline', trees.baseline, k), current: startProcess('current', trees.current, k) };
      for (const p of Object.values(processes)) live.add(p);
      try {
        const [baselineKey, currentKey] = await Promise.all([processes.baseline.ready(), processes.current.ready()]);
        const plan = planPairs(baselineKey, currentKey);
        notes = plan.notes;
        console.log(`process pair ${k}/${PAIRS}:`);
        // A process's first run of a design is slower (up to a third, for channel): its first large allocations
        // and its main thread's own first pass. Not the code under test, so each process runs every design once unscored.
        for (const design of plan.designs) {
          for (const side of ['baseline', 'current'] as const) {
            await settle();
            const failure = (await processes[side].run(design)).equivalenceFailure;
            if (failure !== null) equivalenceFailures[side].push(`pair ${k} warm-up ${design}: ${failure}`);
          }
        }
        for (let round = 0; round < ROUNDS_PER_PAIR; round++) {
          const figures: string[] = [];
          for (let i = 0; i < plan.designs.length; i++) {
            const design = plan.designs[(round + i) % plan.designs.length]!;
            // Which side goes first alternates from one pair of this design's runs to the next (15 and 15 of 30).
            const pairsSoFar = samples.get(design)?.design.length ?? 0;
            const order: Side[] = pairsSoFar % 2 === 0 ? ['baseline', 'current'] : ['current', 'baseline'];
            for (let attempt = 1; ; attempt++) {
              const replies = { baseline: undefined, current: undefined } as Record<Side, Awaited<ReturnType<MeasuringProcess['run']>> | undefined>;
              for (const side of order) {
                await settle();
                replies[side] = await processes[side].run(design);
              }
              const base = replies.baseline!;
              const now = replies.current!;
              for (const side of order) {
                const failure = replies[side]!.equivalenceFailure;
                if (failure !== null) equivalenceFailures[side].push(`pair ${k} round ${round + 1} ${design}: ${failure}`);
              }
              const foreign = Math.max(base.foreign ?? 0, now.foreign ?? 0);
              if (foreign <= FOREIGN_LIMIT) {
                const entry = samples.get(design) ?? { design: [], reference: [], groups: [] };
                entry.design.push(now.throughput);
                entry.reference.push(base.throughput);
                entry.groups.push(k);
                samples.set(design, entry);
                figures.push(`${design} ${(base.throughput / 1e6).toFixed(2)}/${(now.throughput / 1e6).toFixed(2)}`);
                break;
              }
              discardedPairs++;
              if (attempt === ATTEMPTS_PER_PAIR) {
                throw new BusyMachineError(`other processes used ${(foreign * 100).toFixed(0)} % of the machine's CPU during ${ATTEMPTS_PER_PAIR} attempts in a row at one pair of ${design} runs (limit ${FOREIGN_LIMIT * 100} %). Rerun on a quiet machine.`);
              }
            }
          }
          console.log(`  round ${round + 1}/${ROUNDS_PER_PAIR} (M/s, baseline/current): ${figures.join(', ')}`);
        }
        await Promise.all([processes.baseline.finish(), processes.current.finish()]);
      } finally {
        for (const p of Object.values(processes)) {
          p.kill();
          live.delete(p);
        }
      }
    }
    return {
      designs: [...samples].map(([engine, s]) => ({ engine, samples: s })),
      notes,
      equivalenceFailures: equivalenceFailures.current,
      baselineEquivalenceFailures: equivalenceFailures.baseline,
      discardedPairs,
    };
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

const SPEC: CommandSpec = {
  command: 'npm run gate --',
  summary: 'Measure the baseline commit\'s code and the current code side by side on this machine; exit 1 on a regression or an equivalence failure.',
  details:
    `Checks out the commit results/baseline.json names in a temporary git worktree, then runs ${PAIRS} pairs of fresh processes (one per tree), ` +
    `each pair taking turns run by run over ${ROUNDS_PER_PAIR} rounds of ${GATE_SET.designs.join(', ')} (closed loop, one producer, ${GATE_SET.workload.preset} preset, ` +
    `${GATE_SET.workload.count} commands). A design regresses when its per-pair throughput ratio, current ÷ baseline, fell by more than ` +
    `${GATE_RULE.threshold * 100} % and the ` +
    `${GATE_RULE.confidence * 100} % bootstrap interval of the change (resampling whole process pairs) is entirely below zero. ` +
    `Exit codes: 0 pass, 1 fail, 2 usage, 3 machine too busy, 4 cannot judge (baseline commit not in this clone, its code predates the measuring protocol, or another benchmark set).`,
  options: {
    'update-baseline': { type: 'boolean', description: 'move results/baseline.json to a commit (measures nothing); needs --reason' },
    reason: { type: 'string', value: 'TEXT', description: 'with --update-baseline: why the baseline moves (recorded in the file)' },
    commit: { type: 'string', value: 'REV', description: 'with --update-baseline: the commit to compare with from now on (default HEAD)' },
    'serve-runs': { type: 'boolean', description: "serve run requests on stdin for this tree's code (what each measuring process runs; harness/gate-process.ts)" },
  },
};

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2), SPEC);
  if (args.help) {
    process.stdout.write(formatHelp(SPEC));
    return;
  }
  if (args.boolean('serve-runs')) {
    await serveRuns(preparedSet());
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
  if (slowdown.length > 0) console.log(`test knob: ${slowdown.map((s) => `${s.design} slowed by ${Math.round(s.fraction * 1000) / 10} %`).join(', ')} in the current code (${SLOWDOWN_ENV})`);
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
  let paired;
  try {
    console.log(`baseline code checked out at ${tree.dir} (dependencies ${tree.dependencies})`);
    paired = await measureBothTrees({ baseline: tree.dir, current: repo });
  } catch (error) {
    if (error instanceof BusyMachineError) {
      console.log(`gate: INCONCLUSIVE: ${error.message}`);
      process.exitCode = BUSY_EXIT_CODE;
      return;
    }
    if (error instanceof SetMismatchError || error instanceof ProtocolMismatchError) {
      console.log(`gate: CANNOT JUDGE: ${error.message}`);
      process.exitCode = CANNOT_JUDGE_EXIT_CODE;
      return;
    }
    throw error;
  } finally {
    tree.remove();
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(0);
  console.log(`load average after: ${loadavg()[0]!.toFixed(2)}`);
  if (paired.discardedPairs > 0) console.log(`${paired.discardedPairs} pairs of runs discarded and measured again (other processes were busy)`);
  for (const note of paired.notes) console.log(`note: ${note}`);
  for (const failure of paired.baselineEquivalenceFailures) console.log(`note: the baseline's code failed an equivalence check (not held against the change): ${failure}`);
  const outcome = evaluateGate(paired, GATE_RULE);
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
  if (activeSlowdown().length > 0) throw new Error(`refusing to move the baseline while ${SLOWDOWN_ENV} is set`);
  if (reason === undefined) throw new UsageError(SPEC.command, '--update-baseline needs --reason TEXT (why the baseline moves)');
  const resolved = spawnSync('git', ['-C', repo, 'rev-parse', '--verify', '--quiet', `${rev}^{commit}`], { encoding: 'utf8' });
  if (resolved.status !== 0) throw new UsageError(SPEC.command, `--commit ${rev}: not a commit of this repository`);
  const commit = resolved.stdout.trim();
  requireCommit(repo, commit);
  const baseline = baselineOf(commit, reason, new Date().toISOString());
  writeFileSync(BASELINE_PATH, `${JSON.stringify(baseline, null, 1)}\n`);
  console.log(`baseline moved to ${commit} (${reason}): ${BASELINE_PATH}; commit it`);
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
