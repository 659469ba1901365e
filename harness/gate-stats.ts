/**
 * Statistics of the performance gate: is a design's throughput now worse than under the baseline's code, beyond noise?
 *
 * The gate never compares commands/s measured at different times on possibly different machines: a shared machine
 * can be 20 % slower this minute than the last, and another CPU kind favours one design over another. It measures
 * the baseline's code and the current code side by side on this machine, a run of one right after the same run of
 * the other (harness/gate.ts), and pairs those two runs.
 * A pair's ratio (current ÷ baseline) cancels the machine's speed at that moment; a run's figure is the interquartile
 * mean of the per-pair ratios (the mean of the middle half of the sorted ratios, which ignores outlying pairs as a
 * median does but averages half of them instead of taking one, so it varies less from run to run).
 * Whether the change is noise is decided by a percentile bootstrap over whole pairs, with a seeded PRNG so that the
 * verdict is a pure function of the samples. The pairs are not independent: those measured by one pair of processes
 * share that pair's offset (a process's memory layout shifts a design's speed for as long as it lives: the medians
 * of three process pairs of `sharded` on unchanged code were +3.0, −4.8 and −6.8 % in one gate run), so the bootstrap
 * resamples whole process pairs (a cluster bootstrap: each drawn pair of processes brings all its run pairs). An
 * interval from run pairs alone was narrower than the spread between processes, and unchanged code came out at
 * −5.6 % with its 99 % interval reaching only +0.2 %. (Resampling run pairs again inside each drawn process pair, a
 * two-stage bootstrap, counts the noise within a process pair twice: in a simulation of this machine's noise it
 * caught a 10 % slowdown 168 times in 200 where the cluster bootstrap caught it 196 times.)
 *
 * The decision needs both: the change is worse than the noise threshold (a difference too small to matter, or one
 * that a process's JIT and memory layout shift between runs, never fails), and the confidence interval excludes
 * zero (a big change seen in a handful of noisy samples does not fail either).
 */

/** A 32-bit seeded PRNG (mulberry32): uniform floats in [0, 1). Small, fast and good enough for resampling. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Median of a non-empty list (mean of the two middle values when the length is even). */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('median of an empty sample');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Quantile q in [0, 1] of an ascending-sorted, non-empty list, linear between order statistics (R type 7). */
export function quantileSorted(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) throw new Error('quantile of an empty sample');
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/**
 * One design's throughput under the current code and under its reference (the baseline's code), index i of both
 * measured in the same round pair.
 */
export interface RoundSamples {
  readonly design: readonly number[];
  readonly reference: readonly number[];
  /**
   * The group (process pair) each round pair was measured in; absent: every pair is its own group. The bootstrap
   * resamples whole groups.
   */
  readonly groups?: readonly number[];
}

/** Throws unless both lists have one positive figure per round. */
export function checkRoundSamples(samples: RoundSamples, what: string): void {
  if (samples.design.length !== samples.reference.length) {
    throw new Error(`${what}: ${samples.design.length} design rounds but ${samples.reference.length} reference rounds`);
  }
  samples.design.forEach((value, i) => {
    const ref = samples.reference[i]!;
    if (!(value > 0) || !(ref > 0)) throw new Error(`${what}: round ${i} has throughput ${value} against reference ${ref}; both must be > 0`);
  });
  if (samples.groups !== undefined && samples.groups.length !== samples.design.length) {
    throw new Error(`${what}: ${samples.design.length} rounds but ${samples.groups.length} group labels`);
  }
}

/** The round indexes of each group, in order of first appearance; one group per round when there are no labels. */
function roundsByGroup(samples: RoundSamples): number[][] {
  if (samples.groups === undefined) return samples.design.map((_, i) => [i]);
  const byLabel = new Map<number, number[]>();
  samples.groups.forEach((label, i) => {
    const rounds = byLabel.get(label);
    if (rounds === undefined) byLabel.set(label, [i]);
    else rounds.push(i);
  });
  return [...byLabel.values()];
}

/** Mean of the middle half of a sorted list: the values left after dropping floor(n/4) from each end. */
function sortedInterquartileMean(sorted: ArrayLike<number>): number {
  const cut = Math.floor(sorted.length / 4);
  let sum = 0;
  for (let i = cut; i < sorted.length - cut; i++) sum += sorted[i]!;
  return sum / (sorted.length - 2 * cut);
}

/** Interquartile mean of a non-empty list. */
export function interquartileMean(values: readonly number[]): number {
  if (values.length === 0) throw new Error('interquartile mean of an empty sample');
  return sortedInterquartileMean([...values].sort((a, b) => a - b));
}

/** Interquartile mean of the per-round ratios design / reference: the figure the gate compares. */
export function throughputRatio(samples: RoundSamples): number {
  return interquartileMean(samples.design.map((value, i) => value / samples.reference[i]!));
}

export interface ChangeInterval {
  /** throughputRatio - 1; -0.10 means 10 % slower than the reference. */
  readonly change: number;
  /** Bootstrap percentile interval of `change` at the requested confidence. */
  readonly low: number;
  readonly high: number;
}

export interface BootstrapOptions {
  readonly resamples: number;
  /** Two-sided confidence, e.g. 0.99. */
  readonly confidence: number;
  readonly seed: number;
}

/**
 * Percentile-bootstrap interval of throughputRatio - 1: each resample draws as many groups as there are, with
 * replacement, each with all its round pairs (without groups: round pairs, each its own group).
 */
export function bootstrapChange(samples: RoundSamples, options: BootstrapOptions): ChangeInterval {
  checkRoundSamples(samples, 'samples');
  if (samples.design.length < 2) throw new Error(`bootstrap needs at least 2 round pairs, got ${samples.design.length}`);
  if (!(options.confidence > 0 && options.confidence < 1)) throw new Error(`bootstrap confidence ${options.confidence} is not in (0, 1)`);
  if (!Number.isInteger(options.resamples) || options.resamples < 100) throw new Error(`bootstrap resamples ${options.resamples}: use an integer >= 100`);
  const random = seededRandom(options.seed);
  const groups = roundsByGroup(samples);
  const pairRatio = samples.design.map((value, i) => value / samples.reference[i]!);
  const ratios: number[] = [];
  const changes = new Float64Array(options.resamples);
  for (let r = 0; r < options.resamples; r++) {
    ratios.length = 0;
    for (let g = 0; g < groups.length; g++) {
      for (const round of groups[Math.floor(random() * groups.length)]!) ratios.push(pairRatio[round]!);
    }
    changes[r] = sortedInterquartileMean(ratios.sort((a, b) => a - b)) - 1;
  }
  changes.sort();
  const tail = (1 - options.confidence) / 2;
  const sorted = Array.from(changes);
  return { change: throughputRatio(samples) - 1, low: quantileSorted(sorted, tail), high: quantileSorted(sorted, 1 - tail) };
}

export interface GateRule extends BootstrapOptions {
  /** A change smaller than this fraction (e.g. 0.05) is never called a regression or an improvement. */
  readonly threshold: number;
}

export type Verdict = 'regression' | 'improvement' | 'unchanged';

export interface Judgement extends ChangeInterval {
  readonly verdict: Verdict;
}

/**
 * Regression: the change is below -threshold AND the whole interval is below zero. Improvement: the mirror image
 * (reported so the baseline can be refreshed; it never fails the gate). Anything else is unchanged.
 */
export function judge(samples: RoundSamples, rule: GateRule): Judgement {
  const interval = bootstrapChange(samples, rule);
  const verdict: Verdict =
    interval.change < -rule.threshold && interval.high < 0 ? 'regression'
    : interval.change > rule.threshold && interval.low > 0 ? 'improvement'
    : 'unchanged';
  return { ...interval, verdict };
}
