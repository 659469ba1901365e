/**
 * The gate's statistics on synthetic samples (they test the statistics, not the machine): a known slowdown is
 * called a regression, samples from one distribution are not, small changes stay under the noise threshold, and the
 * verdict is a pure function of the samples.
 */
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { bootstrapChange, checkRoundSamples, interquartileMean, judge, median, quantileSorted, seededRandom, throughputRatio, type GateRule, type RoundSamples } from '../harness/gate-stats.ts';
import { baselineOf, CALIBRATION, checkBaseline, evaluateGate, machineDifferences, metricsFromRounds, poolMeasurements, type GateMeasurement } from '../harness/gate-baseline.ts';
import { parseSlowdown } from '../harness/slowdown-knob.ts';
import type { Environment } from '../harness/results-schema.ts';

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

/** n rounds of a design running at `ratio` x its reference, each figure with relative noise `sd`. */
function rounds(random: () => number, n: number, ratio: number, sd: number): RoundSamples {
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

  it('a machine uniformly slower during one run cancels out of the ratio', () => {
    const random = seededRandom(99);
    const baseline = rounds(random, 15, 0.8, 0.01);
    const slowMachine = rounds(random, 15, 0.8, 0.01);
    const current = { design: slowMachine.design.map((x) => x * 0.6), reference: slowMachine.reference.map((x) => x * 0.6) };
    const j = judge(current, baseline, RULE);
    expect(Math.abs(j.change)).toBeLessThan(0.02);
    expect(j.verdict).toBe('unchanged');
  });

  it('a machine whose speed swings from round to round cancels out too: each round is its own ratio', () => {
    const random = seededRandom(98);
    const baseline = rounds(random, 15, 0.8, 0.01);
    const swinging = rounds(random, 15, 0.8, 0.01);
    const speed = swinging.design.map((_, i) => (i % 3 === 0 ? 0.5 : i % 3 === 1 ? 1 : 1.4));
    const current = { design: swinging.design.map((x, i) => x * speed[i]!), reference: swinging.reference.map((x, i) => x * speed[i]!) };
    const j = judge(current, baseline, RULE);
    expect(Math.abs(j.change)).toBeLessThan(0.02);
    expect(j.high - j.low).toBeLessThan(0.05);
    expect(j.verdict).toBe('unchanged');
  });

  it('a 10 % slowdown under 3 % noise is a regression whose interval covers -10 %', () => {
    const random = seededRandom(1);
    const baseline = rounds(random, 15, 0.8, 0.03);
    const current = rounds(random, 15, 0.72, 0.03);
    const j = judge(current, baseline, RULE);
    expect(j.verdict).toBe('regression');
    expect(j.change).toBeLessThan(-0.05);
    expect(j.low).toBeLessThan(-0.1);
    expect(j.high).toBeGreaterThan(-0.1);
    expect(j.high).toBeLessThan(0);
  });

  it('a 10 % speed-up is an improvement, not a regression', () => {
    const random = seededRandom(2);
    const baseline = rounds(random, 15, 0.8, 0.03);
    const current = rounds(random, 15, 0.88, 0.03);
    expect(judge(current, baseline, RULE).verdict).toBe('improvement');
  });

  /** Regressions called in `trials` pairs of n-round runs: baseline at ratio `before`, current at `after`. */
  function regressions(seed: number, trials: number, n: number, before: number, after: number, sd: number): number {
    const random = seededRandom(seed);
    let count = 0;
    for (let trial = 0; trial < trials; trial++) {
      const baseline = rounds(random, n, before, sd);
      const current = rounds(random, n, after, sd);
      if (judge(current, baseline, { ...RULE, resamples: 500, seed: trial }).verdict === 'regression') count++;
    }
    return count;
  }

  it('samples of one distribution almost never fail (false alarm rate over 300 trials)', () => {
    expect(regressions(3, 300, 9, 0.8, 0.8, 0.05)).toBeLessThanOrEqual(3);
  });

  it('a 10 % slowdown under 3 % noise per figure is caught nearly every time (power over 100 trials of 15 rounds)', () => {
    expect(regressions(4, 100, 15, 0.8, 0.72, 0.03)).toBeGreaterThanOrEqual(95);
  });

  it('a consistent 2 % change stays under the 5 % noise threshold even when significant', () => {
    const random = seededRandom(5);
    const baseline = rounds(random, 15, 0.8, 0.002);
    const current = rounds(random, 15, 0.784, 0.002);
    const j = judge(current, baseline, RULE);
    expect(j.high).toBeLessThan(0);
    expect(j.verdict).toBe('unchanged');
  });

  it('a large change seen through heavy noise is not called without significance', () => {
    const reference = [1, 1, 1, 1, 1, 1];
    const baseline = { design: [0.5, 1.1, 0.6, 1.2, 0.55, 1.15], reference };
    const current = { design: [0.45, 1.0, 0.5, 1.1, 0.5, 1.05], reference };
    const j = judge(current, baseline, RULE);
    expect(j.change).toBeLessThan(-0.05);
    expect(j.high).toBeGreaterThan(0);
    expect(j.verdict).toBe('unchanged');
  });

  it('the verdict is a pure function of samples and seed', () => {
    const random = seededRandom(6);
    const baseline = rounds(random, 9, 1, 0.04);
    const current = rounds(random, 9, 0.95, 0.04);
    expect(bootstrapChange(current, baseline, RULE)).toEqual(bootstrapChange(current, baseline, RULE));
    expect(bootstrapChange(current, baseline, RULE)).not.toEqual(bootstrapChange(current, baseline, { ...RULE, seed: 54321 }));
  });

  it('refuses too few samples and bad options', () => {
    const two = { design: [1, 2], reference: [1, 1] };
    expect(() => bootstrapChange({ design: [1], reference: [1] }, two, RULE)).toThrow(/at least 2 rounds/);
    expect(() => bootstrapChange(two, two, { ...RULE, confidence: 1 })).toThrow(/confidence/);
    expect(() => bootstrapChange(two, two, { ...RULE, resamples: 10 })).toThrow(/resamples/);
  });
});

const ENVIRONMENT: Environment = {
  node: process.version, v8: process.versions.v8, cpuModel: 'test', cores: 2, totalMemoryBytes: 1, os: { platform: 'linux', release: '', arch: 'x64' }, gitSha: null, gitDirty: null,
};
const REFERENCES = { inline: CALIBRATION, disruptor: 'inline' };

/** Rounds of throughputs where the machine's speed drifts and disruptor runs at `disruptorShare` of inline. */
function measurement(seed: number, disruptorShare: number, failures: readonly string[] = []): GateMeasurement {
  const random = seededRandom(seed);
  const throughput = Array.from({ length: 11 }, () => {
    const machine = 0.6 + 0.8 * random();
    const inline = 2e6 * machine * (1 + 0.02 * (random() - 0.5));
    return { [CALIBRATION]: 5e6 * machine * (1 + 0.02 * (random() - 0.5)), inline, disruptor: inline * disruptorShare * (1 + 0.04 * (random() - 0.5)) };
  });
  return { setKey: 'set-a', environment: ENVIRONMENT, rounds: throughput.length, throughput, metrics: metricsFromRounds(throughput, REFERENCES), equivalenceFailures: failures, discardedRounds: 0 };
}

describe('gate decision', () => {
  const baseline = baselineOf(measurement(10, 0.7), '2026-01-01T00:00:00Z');

  it('passes an unchanged design even when the machine speed differs between runs', () => {
    const outcome = evaluateGate(measurement(11, 0.7), baseline, RULE);
    expect(outcome.failures).toEqual([]);
    expect(outcome.pass).toBe(true);
    expect(outcome.verdicts.map((v) => v.verdict)).toEqual(['unchanged', 'unchanged']);
  });

  it('fails a 10 % slower design, naming it and the size of the drop', () => {
    const outcome = evaluateGate(measurement(12, 0.63), baseline, RULE);
    expect(outcome.pass).toBe(false);
    expect(outcome.failures).toHaveLength(1);
    expect(outcome.failures[0]).toMatch(/^REGRESSION disruptor: throughput relative to inline \u2212(9|10|11)\.\d %/);
    expect(outcome.verdicts.find((v) => v.engine === 'inline')?.verdict).toBe('unchanged');
  });

  it('a design with its own noise threshold is judged by it', () => {
    expect(evaluateGate(measurement(12, 0.63), baseline, RULE, { disruptor: 0.15 }).pass).toBe(true);
    expect(evaluateGate(measurement(12, 0.5), baseline, RULE, { disruptor: 0.15 }).failures[0]).toMatch(/^REGRESSION disruptor/);
  });

  it('fails on any equivalence failure, and on a baseline of another set', () => {
    expect(evaluateGate(measurement(13, 0.7, ['disruptor/balanced: event 17 differs']), baseline, RULE).failures).toEqual(['equivalence failure: disruptor/balanced: event 17 differs']);
    const other = evaluateGate({ ...measurement(14, 0.7), setKey: 'set-b' }, baseline, RULE);
    expect(other.pass).toBe(false);
    expect(other.failures[0]).toMatch(/another benchmark set.*--update-baseline/);
  });

  it('pools the rounds of several processes, keeping which process saw an equivalence failure', () => {
    const parts = [measurement(20, 0.7), measurement(21, 0.7, ['disruptor round 2: event 5 differs']), measurement(22, 0.7)];
    const pooled = poolMeasurements(parts, REFERENCES, ENVIRONMENT);
    expect(pooled.rounds).toBe(33);
    expect(pooled.throughput).toEqual(parts.flatMap((p) => p.throughput));
    expect(pooled.metrics).toEqual(metricsFromRounds(pooled.throughput, REFERENCES));
    expect(pooled.equivalenceFailures).toEqual(['process 2: disruptor round 2: event 5 differs']);
    expect(() => poolMeasurements([parts[0]!, { ...parts[1]!, setKey: 'set-b' }], REFERENCES, ENVIRONMENT)).toThrow(/process 2 measured another set/);
    expect(() => poolMeasurements([], REFERENCES, ENVIRONMENT)).toThrow(/no measurements/);
  });

  it('round-trips the baseline through JSON and rejects a malformed one', () => {
    expect(checkBaseline(JSON.parse(JSON.stringify(baseline)), 'b.json')).toEqual(baseline);
    expect(() => checkBaseline({ ...baseline, version: 99 }, 'b.json')).toThrow(/b.json: field "version" is 99/);
    expect(() => checkBaseline({ ...baseline, metrics: [{ engine: 'x', reference: 'y', design: [1, 0], referenceThroughput: [1, 1] }] }, 'b.json')).toThrow(/b.json: metrics\[0\] \(x\): round 1/);
    expect(() => checkBaseline({ ...baseline, metrics: [{ engine: 'x', reference: 'y', ratios: [1] }] }, 'b.json')).toThrow(/metrics\[0\] needs/);
  });
});

describe('baseline machine', () => {
  it('names only what moves ratios between designs: CPU, cores, Node, V8', () => {
    const here = ENVIRONMENT;
    expect(machineDifferences(here, { ...here, gitSha: 'b', gitDirty: true, totalMemoryBytes: 2, os: { ...here.os, release: '7' } })).toEqual([]);
    expect(machineDifferences(here, { ...here, cpuModel: 'EPYC', cores: 4 })).toEqual(['CPU "test" in the baseline, "EPYC" here', 'cores 2 in the baseline, 4 here']);
  });
});

describe('slowdown knob', () => {
  it('parses DESIGN:FRACTION and rejects anything else', () => {
    expect(parseSlowdown(undefined)).toBeUndefined();
    expect(parseSlowdown('')).toBeUndefined();
    expect(parseSlowdown('disruptor:0.10')).toEqual({ design: 'disruptor', fraction: 0.1 });
    for (const bad of ['disruptor', 'disruptor:', ':0.1', 'disruptor:0', 'disruptor:-1', 'disruptor:abc', 'disruptor:11']) {
      expect(() => parseSlowdown(bad)).toThrow(/MATCHBENCH_INJECT_SLOWDOWN/);
    }
  });

  it('slows only the named design, by the fraction asked of the time its loop takes', async () => {
    // A worker reads the variable at load, as the designs' threads do. It times, inside one loop, the time spent in
    // the hook against the rest, so preemption by other processes lands on both sides alike.
    const source = `
      const { slowdownHook } = await import(${JSON.stringify(new URL('../harness/slowdown-knob.ts', import.meta.url).href)});
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
    const worker = new Worker(source, { eval: true, env: { ...process.env, MATCHBENCH_INJECT_SLOWDOWN: 'disruptor:0.5' } });
    type Split = { inHook: number; rest: number };
    const times = await new Promise<{ slowed: Split; otherIsNoop: boolean }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    await worker.terminate();
    // Each iteration's work (about a microsecond) dwarfs the cost of calling and timing the hook. 0.5 on a quiet
    // machine; a little lower when preemption stretches a window to look like a pause (that window adds nothing).
    expect(times.slowed.inHook / times.slowed.rest).toBeGreaterThan(0.2);
    expect(times.slowed.inHook / times.slowed.rest).toBeLessThan(1);
    // Other designs get the one shared no-op (checked by identity: timing a no-op measures only the clock).
    expect(times.otherIsNoop).toBe(true);
  });
});

