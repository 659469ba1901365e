/**
 * The gate: its statistics on synthetic samples (they test the statistics, not the machine: a known slowdown is
 * called a regression, samples from one distribution are not, small changes stay under the noise threshold, the
 * verdict is a pure function of the samples); the pairing of the baseline's and the current code's rounds; the
 * baseline file; the checkout of the baseline commit (and the refusal to judge when a clone lacks it); the knob.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startThread } from '../engines/workers/start-thread.ts';
import { endThread } from '../engines/workers/end-thread.ts';
import { afterAll, describe, expect, it } from 'vitest';
import { bootstrapChange, checkRoundSamples, interquartileMean, judge, median, quantileSorted, seededRandom, throughputRatio, type GateRule, type RoundSamples } from '../harness/gate-stats.ts';
import { baselineOf, checkBaseline, evaluateGate, planPairs, SetMismatchError, type PairedMeasurement } from '../harness/gate-baseline.ts';
import { BaselineUnavailableError, checkOutBaseline, requireCommit } from '../harness/gate-worktree.ts';
import { parseSlowdown } from '../engines/slowdown-knob.ts';

const RULE: GateRule = { threshold: 0.05, confidence: 0.99, resamples: 2000, seed: 12345 };

/** n throughput-like samples around `center` with relative gaussian noise `sd` (Box-Muller on a seeded stream). */
function noisy(random: () => number, n: number, center: number, sd: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const u = 1 - random();
    const v = random();
    out.push(center * (1 + sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v)));
  }
  return out;
}

/** n round pairs of a design whose current code runs at `ratio` x the baseline's, each figure with relative noise `sd`. */
function pairs(random: () => number, n: number, ratio: number, sd: number): RoundSamples {
  return { design: noisy(random, n, ratio * 1e6, sd), reference: noisy(random, n, 1e6, sd) };
}

describe('gate statistics', () => {
  it('seeded random is reproducible, seed-dependent and uniform-looking', () => {
    const a = seededRandom(7);
    const b = seededRandom(7);
    const c = seededRandom(8);
    const xs = Array.from({ length: 10_000 }, () => a());
    expect(Array.from({ length: 10_000 }, () => b())).toEqual(xs);
    expect(Array.from({ length: 10 }, () => c())).not.toEqual(xs.slice(0, 10));
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.01);
  });

  it('median and quantiles', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(quantileSorted([10, 20, 30, 40, 50], 0)).toBe(10);
    expect(quantileSorted([10, 20, 30, 40, 50], 1)).toBe(50);
    expect(quantileSorted([10, 20, 30, 40, 50], 0.25)).toBe(20);
    expect(quantileSorted([10, 20], 0.5)).toBe(15);
    expect(() => median([])).toThrow(/empty/);
    // The middle half: floor(n/4) values dropped from each end.
    expect(interquartileMean([100, 1, 2, 3, 4, 5, 6, -50])).toBe(3.5);
    expect(interquartileMean([7, 1, 4])).toBe(4);
    expect(() => interquartileMean([])).toThrow(/empty/);
  });

  it('round samples must pair one positive figure per round', () => {
    // Per-round ratios 0.5, 3, 0.5, 0.3: their interquartile mean is the mean of the middle two, 0.5.
    expect(throughputRatio({ design: [2, 9, 4, 6], reference: [4, 3, 8, 20] })).toBe(0.5);
    expect(() => checkRoundSamples({ design: [1, 2], reference: [1] }, 'x')).toThrow(/x: 2 design rounds but 1 reference rounds/);
    expect(() => checkRoundSamples({ design: [1, 0], reference: [1, 1] }, 'x')).toThrow(/round 1/);
    expect(() => checkRoundSamples({ design: [1, NaN], reference: [1, 1] }, 'x')).toThrow(/round 1/);
  });

  it('a machine whose speed swings from pair to pair cancels out: each pair is its own ratio', () => {
    const random = seededRandom(98);
    const same = pairs(random, 15, 1, 0.01);
    const speed = same.design.map((_, i) => (i % 3 === 0 ? 0.5 : i % 3 === 1 ? 1 : 1.4));
    const swinging = { design: same.design.map((x, i) => x * speed[i]!), reference: same.reference.map((x, i) => x * speed[i]!) };
    const j = judge(swinging, RULE);
    expect(Math.abs(j.change)).toBeLessThan(0.02);
    expect(j.high - j.low).toBeLessThan(0.05);
    expect(j.verdict).toBe('unchanged');
  });

  it('a 10 % slowdown under 3 % noise is a regression whose interval covers -10 %', () => {
    const j = judge(pairs(seededRandom(1), 15, 0.9, 0.03), RULE);
    expect(j.verdict).toBe('regression');
    expect(j.change).toBeLessThan(-0.05);
    expect(j.low).toBeLessThan(-0.1);
    expect(j.high).toBeGreaterThan(-0.1);
    expect(j.high).toBeLessThan(0);
  });

  it('a 10 % speed-up is an improvement, not a regression', () => {
    expect(judge(pairs(seededRandom(2), 15, 1.1, 0.03), RULE).verdict).toBe('improvement');
  });

  /** Regressions called in `trials` runs of n round pairs with the current code at `ratio` x the baseline's. */
  function regressions(seed: number, trials: number, n: number, ratio: number, sd: number): number {
    const random = seededRandom(seed);
    let count = 0;
    for (let trial = 0; trial < trials; trial++) {
      if (judge(pairs(random, n, ratio, sd), { ...RULE, resamples: 500, seed: trial }).verdict === 'regression') count++;
    }
    return count;
  }

  it('samples of one distribution almost never fail (false alarm rate over 300 trials)', () => {
    expect(regressions(3, 300, 9, 1, 0.05)).toBeLessThanOrEqual(3);
  });

  it('a 10 % slowdown under 3 % noise per figure is caught nearly every time (power over 100 trials of 15 pairs)', () => {
    expect(regressions(4, 100, 15, 0.9, 0.03)).toBeGreaterThanOrEqual(95);
  });

  /**
   * G process pairs of R round pairs each: every pair of processes has its own offset of the ratio (gaussian,
   * relative sd `offsetSd`), every figure its own noise `sd`; the current code runs at `ratio` x the baseline's.
   */
  function clustered(random: () => number, groups: number, rounds: number, ratio: number, offsetSd: number, sd: number): RoundSamples {
    const design: number[] = [];
    const reference: number[] = [];
    const labels: number[] = [];
    for (let g = 0; g < groups; g++) {
      const offset = noisy(random, 1, 1, offsetSd)[0]!;
      design.push(...noisy(random, rounds, ratio * offset * 1e6, sd));
      reference.push(...noisy(random, rounds, 1e6, sd));
      for (let r = 0; r < rounds; r++) labels.push(g);
    }
    return { design, reference, groups: labels };
  }

  it('process-pair offsets are noise to a bootstrap over process pairs, not a change (200 trials of unchanged code)', () => {
    const random = seededRandom(21);
    let groupedWidth = 0;
    let flatWidth = 0;
    let alarms = 0;
    for (let trial = 0; trial < 200; trial++) {
      // 6 process pairs of 5 rounds, offsets of 5 % between pairs, 2 % noise per figure: unchanged code.
      const samples = clustered(random, 6, 5, 1, 0.05, 0.02);
      const rule = { ...RULE, resamples: 500, seed: trial };
      const j = judge(samples, rule);
      if (j.verdict === 'regression') alarms++;
      groupedWidth += j.high - j.low;
      const flat = judge({ design: samples.design, reference: samples.reference }, rule);
      flatWidth += flat.high - flat.low;
    }
    expect(alarms).toBeLessThanOrEqual(2);
    // Judged as 30 independent pairs, the same samples get intervals far narrower than the offsets they hold.
    expect(groupedWidth).toBeGreaterThan(1.5 * flatWidth);
  });

  it('with no offsets between process pairs, grouping keeps the power: a 10 % slowdown under 3 % noise (100 trials of 6 x 5)', () => {
    const random = seededRandom(22);
    let caught = 0;
    for (let trial = 0; trial < 100; trial++) {
      if (judge(clustered(random, 6, 5, 0.9, 0, 0.03), { ...RULE, resamples: 500, seed: trial }).verdict === 'regression') caught++;
    }
    expect(caught).toBeGreaterThanOrEqual(95);
  });

  it('group labels must match the rounds', () => {
    expect(() => judge({ design: [1, 1, 1], reference: [1, 1, 1], groups: [0, 1] }, RULE)).toThrow(/3 rounds but 2 group labels/);
  });

  it('a consistent 2 % change stays under the 5 % noise threshold even when significant', () => {
    const j = judge(pairs(seededRandom(5), 15, 0.98, 0.002), RULE);
    expect(j.high).toBeLessThan(0);
    expect(j.verdict).toBe('unchanged');
  });

  it('a large change seen through heavy noise is not called without significance', () => {
    // Per-pair ratios with an interquartile mean of 0.89 (-11 %), but scattered from 0.5 to 1.4.
    const j = judge({ design: [0.5, 1.4, 0.6, 1.3, 0.55, 1.2, 0.9, 0.85], reference: [1, 1, 1, 1, 1, 1, 1, 1] }, RULE);
    expect(j.change).toBeLessThan(-0.05);
    expect(j.high).toBeGreaterThan(0);
    expect(j.verdict).toBe('unchanged');
  });

  it('the verdict is a pure function of samples and seed', () => {
    const samples = pairs(seededRandom(6), 9, 0.95, 0.04);
    expect(bootstrapChange(samples, RULE)).toEqual(bootstrapChange(samples, RULE));
    expect(bootstrapChange(samples, RULE)).not.toEqual(bootstrapChange(samples, { ...RULE, seed: 54321 }));
  });

  it('refuses too few samples and bad options', () => {
    const two = { design: [1, 2], reference: [1, 1] };
    expect(() => bootstrapChange({ design: [1], reference: [1] }, RULE)).toThrow(/at least 2 round pairs/);
    expect(() => bootstrapChange(two, { ...RULE, confidence: 1 })).toThrow(/confidence/);
    expect(() => bootstrapChange(two, { ...RULE, resamples: 10 })).toThrow(/resamples/);
  });
});

/** A set key as the measuring processes announce it. */
function setKey(designs: readonly string[], workload = 'w1', params: Record<string, unknown> = {}): string {
  return JSON.stringify({ workload, warmup: 100, producers: 1, mode: 'closed', designs: designs.map((engine) => ({ engine, params: params[engine] ?? {} })) });
}

/**
 * 15 run pairs: the machine's speed drifts from pair to pair (the same drift on both runs of a pair, which ran back
 * to back), disruptor's current code runs at `disruptorShare` of the baseline's.
 */
function paired(seed: number, disruptorShare: number, failures: { current?: string[]; baseline?: string[] } = {}): PairedMeasurement {
  const random = seededRandom(seed);
  const inline: RoundSamples = { design: [], reference: [] };
  const disruptor: RoundSamples = { design: [], reference: [] };
  for (let i = 0; i < 15; i++) {
    const machine = 0.6 + 0.8 * random();
    (inline.reference as number[]).push(2e6 * machine * (1 + 0.02 * (random() - 0.5)));
    (inline.design as number[]).push(2e6 * machine * (1 + 0.02 * (random() - 0.5)));
    (disruptor.reference as number[]).push(1.4e6 * machine * (1 + 0.04 * (random() - 0.5)));
    (disruptor.design as number[]).push(1.4e6 * machine * disruptorShare * (1 + 0.04 * (random() - 0.5)));
  }
  return {
    designs: [{ engine: 'inline', samples: inline }, { engine: 'disruptor', samples: disruptor }],
    notes: [],
    equivalenceFailures: failures.current ?? [],
    baselineEquivalenceFailures: failures.baseline ?? [],
    discardedPairs: 0,
  };
}

describe('gate pairing and decision', () => {
  it('passes unchanged code although the machine speed drifts, and fails a 10 % slower design, naming it', () => {
    const same = evaluateGate(paired(20, 1), RULE);
    expect(same.failures).toEqual([]);
    expect(same.verdicts.map((v) => v.verdict)).toEqual(['unchanged', 'unchanged']);
    const slower = evaluateGate(paired(21, 0.9), RULE);
    expect(slower.pass).toBe(false);
    expect(slower.failures).toHaveLength(1);
    expect(slower.failures[0]).toMatch(/^REGRESSION disruptor: throughput relative to the baseline's code \u2212(9|10|11)\.\d % .*threshold 5 %; 15 run pairs/);
    expect(slower.verdicts.find((v) => v.engine === 'inline')?.verdict).toBe('unchanged');
  });

  it("fails on the current code's equivalence failures, not on the baseline's", () => {
    expect(evaluateGate(paired(22, 1, { current: ['pair 2 round 1 disruptor: event 5 differs'] }), RULE).failures).toEqual(['equivalence failure: pair 2 round 1 disruptor: event 5 differs']);
    expect(evaluateGate(paired(22, 1, { baseline: ['pair 1 round 1 inline: event 1 differs'] }), RULE).pass).toBe(true);
  });

  it('pairs only the designs both trees have, and says which were not judged or changed parameters', () => {
    const plan = planPairs(setKey(['inline', 'disruptor', 'calibration-free']), setKey(['inline', 'disruptor', 'noop'], 'w1', { disruptor: { batch: 64 } }));
    expect(plan.designs).toEqual(['inline', 'disruptor']);
    expect(plan.notes).toEqual([
      'disruptor: its default parameters changed ({} in the baseline, {"batch":64} now); judged as the design runs by default',
      "noop: not judged, the baseline's code has no such design",
      "calibration-free: in the baseline's set, no longer in the current one",
    ]);
  });

  it('refuses to pair another workload or mode (cannot judge), and names a malformed set key', () => {
    expect(() => planPairs(setKey(['inline']), setKey(['inline'], 'w2'))).toThrow(SetMismatchError);
    expect(() => planPairs(setKey(['inline']), setKey(['inline'], 'w2'))).toThrow(/another benchmark set \(workload "w1", now "w2"\).*--update-baseline/);
    expect(() => planPairs('not json', setKey(['inline']))).toThrow(/baseline: set key is not JSON/);
    expect(() => planPairs(setKey(['inline']), '{"workload":"w1"}')).toThrow(/current: set key needs workload, warmup, producers, mode and designs/);
  });

  it('round-trips the baseline file and rejects a malformed one, naming the field', () => {
    const file = baselineOf('ed2af7d779d2c2881022bd0e7a128c5e32a54f34', 'why', '2026-12-01T00:00:00Z');
    expect(checkBaseline(JSON.parse(JSON.stringify(file)), 'b.json')).toEqual(file);
    expect(() => checkBaseline({ ...file, version: 1 }, 'b.json')).toThrow(/b.json: field "version" is 1, this code reads version 2/);
    expect(() => checkBaseline({ ...file, commit: 'ed2af7d' }, 'b.json')).toThrow(/b.json: field "commit" is "ed2af7d"/);
    expect(() => checkBaseline({ ...file, reason: ' ' }, 'b.json')).toThrow(/b.json: field "reason"/);
    expect(() => checkBaseline([], 'b.json')).toThrow(/b.json: not a JSON object/);
    expect(() => baselineOf('HEAD', 'why', '')).toThrow(/40-digit/);
    expect(() => baselineOf('ed2af7d779d2c2881022bd0e7a128c5e32a54f34', '', '')).toThrow(/--reason/);
  });
});

describe('the baseline commit as a tree', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'matchbench-gate-test-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));
  const git = (cwd: string, ...args: string[]): string =>
    execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.invalid', '-c', 'protocol.file.allow=always', ...args], { cwd, encoding: 'utf8' }).trim();

  /** A repository with two commits; the first holds a file the second changes. */
  function twoCommitRepo(name: string): { dir: string; first: string; second: string } {
    const dir = join(scratch, name);
    mkdirSync(dir);
    git(dir, 'init', '-q');
    writeFileSync(join(dir, 'package-lock.json'), '{}\n');
    writeFileSync(join(dir, 'code.txt'), 'v1\n');
    git(dir, 'add', '.');
    git(dir, 'commit', '-qm', 'first');
    const first = git(dir, 'rev-parse', 'HEAD');
    writeFileSync(join(dir, 'code.txt'), 'v2\n');
    git(dir, 'commit', '-qam', 'second');
    return { dir, first, second: git(dir, 'rev-parse', 'HEAD') };
  }

  it("checks the commit out beside the current tree, links the current dependencies, and removes it", () => {
    const repo = twoCommitRepo('full');
    mkdirSync(join(repo.dir, 'node_modules'));
    const tree = checkOutBaseline(repo.dir, repo.first, () => {});
    try {
      expect(tree.dependencies).toBe('linked');
      expect(execFileSync('cat', [join(tree.dir, 'code.txt')], { encoding: 'utf8' })).toBe('v1\n');
      expect(existsSync(join(tree.dir, 'node_modules'))).toBe(true);
      expect(git(repo.dir, 'worktree', 'list')).toContain(tree.dir);
    } finally {
      tree.remove();
      tree.remove();
    }
    expect(existsSync(tree.dir)).toBe(false);
    expect(git(repo.dir, 'worktree', 'list')).not.toContain(tree.dir);
  });

  it('says a shallow clone lacks the commit, and fetches nothing', () => {
    const repo = twoCommitRepo('origin');
    const shallow = join(scratch, 'shallow');
    git(scratch, 'clone', '-q', '--depth', '1', `file://${repo.dir}`, shallow);
    expect(() => requireCommit(shallow, repo.first)).toThrow(BaselineUnavailableError);
    expect(() => requireCommit(shallow, repo.first)).toThrow(new RegExp(`baseline commit ${repo.first} .*not in this clone \\(it is a shallow clone.*fetches nothing`));
    expect(() => requireCommit(shallow, repo.second)).not.toThrow();
    expect(() => requireCommit(repo.dir, 'f'.repeat(40))).toThrow(/another repository/);
  });

  /** The project's code (as in this work tree) in a new repository of one commit, node_modules linked. */
  function projectRepo(name: string, baselineCommit: string): string {
    const root = resolve(import.meta.dirname, '..');
    const clone = join(scratch, name);
    mkdirSync(clone);
    for (const dir of ['engines', 'harness', 'journal', 'risk', 'server', 'workloads']) cpSync(join(root, dir), join(clone, dir), { recursive: true });
    for (const file of ['package.json', 'package-lock.json']) cpSync(join(root, file), join(clone, file));
    mkdirSync(join(clone, 'results'));
    writeFileSync(join(clone, 'results', 'baseline.json'), JSON.stringify(baselineOf(baselineCommit, 'test', '2026-12-01T00:00:00Z')));
    symlinkSync(join(root, 'node_modules'), join(clone, 'node_modules'), 'dir');
    git(clone, 'init', '-q');
    git(clone, 'add', 'engines', 'harness', 'journal', 'risk', 'server', 'workloads', 'package.json', 'package-lock.json', 'results');
    git(clone, 'commit', '-qm', 'the project');
    return clone;
  }

  function gate(tree: string): { status: number | null; stdout: string; stderr: string } {
    return spawnSync(process.execPath, [join(tree, 'harness', 'gate.ts')], { cwd: tree, encoding: 'utf8' });
  }

  it('npm run gate on a clone without the baseline commit says it cannot judge and exits 4', () => {
    const run = gate(projectRepo('project', '0'.repeat(40)));
    expect(run.stderr).toBe('');
    expect(run.stdout).toMatch(/gate: CANNOT JUDGE: the baseline commit 0{40} \(results\/baseline.json\) is not in this clone/);
    expect(run.status).toBe(4);
  });

  it('a baseline whose code predates the measuring protocol cannot be judged either (exit 4), and leaves no worktree', () => {
    // Commit 1: a gate that refuses --serve-runs, as a CLI does an unknown option. Commit 2: the project, baselined on it.
    const tree = projectRepo('older', '0'.repeat(40));
    cpSync(join(tree, 'harness', 'gate.ts'), join(scratch, 'gate.ts.keep'));
    writeFileSync(join(tree, 'harness', 'gate.ts'), "process.stderr.write('error: unknown option --serve-runs\\n'); process.exitCode = 2;\n");
    git(tree, 'commit', '-qam', 'an older gate');
    const older = git(tree, 'rev-parse', 'HEAD');
    cpSync(join(scratch, 'gate.ts.keep'), join(tree, 'harness', 'gate.ts'));
    writeFileSync(join(tree, 'results', 'baseline.json'), JSON.stringify(baselineOf(older, 'test', '2026-12-01T00:00:00Z')));
    git(tree, 'commit', '-qam', 'the current gate');
    const run = gate(tree);
    expect(run.stdout).toMatch(/gate: CANNOT JUDGE: baseline process 1: its code has no `harness\/gate.ts --serve-runs`/);
    expect(run.stderr).toContain('unknown option --serve-runs');
    expect(run.status).toBe(4);
    expect(git(tree, 'worktree', 'list').split('\n')).toHaveLength(1);
  });
});

describe('slowdown knob', () => {
  it('parses DESIGN:FRACTION and rejects anything else', () => {
    expect(parseSlowdown(undefined)).toEqual([]);
    expect(parseSlowdown('')).toEqual([]);
    expect(parseSlowdown('disruptor:0.10')).toEqual([{ design: 'disruptor', fraction: 0.1 }]);
    expect(parseSlowdown('mutex:0.1,sharded:0.07')).toEqual([{ design: 'mutex', fraction: 0.1 }, { design: 'sharded', fraction: 0.07 }]);
    for (const bad of ['disruptor', 'disruptor:', ':0.1', 'disruptor:0', 'disruptor:-1', 'disruptor:abc', 'disruptor:11', 'mutex:0.1,', 'mutex:0.1,mutex:0.2']) {
      expect(() => parseSlowdown(bad)).toThrow(/MATCHBENCH_INJECT_SLOWDOWN/);
    }
  });

  it('slows only the named design, by the fraction asked of the time its loop takes', async () => {
    // A worker reads the variable at load, as the designs' threads do. It times, inside one loop, the time spent in
    // the hook against the rest, so preemption by other processes lands on both sides alike.
    const source = `
      const { slowdownHook } = await import(${JSON.stringify(new URL('../engines/slowdown-knob.ts', import.meta.url).href)});
      const { parentPort } = await import('node:worker_threads');
      const measure = (hook) => {
        let x = 1, inHook = 0;
        const start = performance.now();
        for (let i = 0; i < 64 * 1024; i++) {
          for (let j = 0; j < 1000; j++) x = (x * 1103515245 + 12345) | 0;
          const t = performance.now();
          hook();
          inHook += performance.now() - t;
        }
        return { inHook, rest: performance.now() - start - inHook, x };
      };
      parentPort.postMessage({ slowed: measure(slowdownHook('disruptor')), otherIsNoop: slowdownHook('mutex') === slowdownHook('sharded') });`;
    const worker = startThread(source, { eval: true, env: { ...process.env, MATCHBENCH_INJECT_SLOWDOWN: 'disruptor:0.5' } });
    type Split = { inHook: number; rest: number };
    const times = await new Promise<{ slowed: Split; otherIsNoop: boolean }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    await endThread(worker);
    // Each iteration's work (about a microsecond) dwarfs the cost of calling and timing the hook. 0.5 on a quiet
    // machine; a little lower when preemption stretches a window to look like a pause (that window adds nothing).
    expect(times.slowed.inHook / times.slowed.rest).toBeGreaterThan(0.2);
    expect(times.slowed.inHook / times.slowed.rest).toBeLessThan(1);
    // Other designs get the one shared no-op (checked by identity: timing a no-op measures only the clock).
    expect(times.otherIsNoop).toBe(true);
  });
});

