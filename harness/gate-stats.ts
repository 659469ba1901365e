/**
 * Statistics of the performance gate: is a design's throughput ratio now worse than the baseline's, beyond noise?
 *
 * The gate never compares raw commands/s across runs, because a shared machine can be 20 % slower this minute than
 * the last. Each repetition measures a design and a reference back to back, so the per-repetition ratio
 * design/reference cancels most of that drift; the gate then compares the median of those ratios with the baseline's
 * median. Whether a difference is noise is decided by a percentile bootstrap of the relative change of medians
 * (resampling repetitions, current and baseline independently), with a seeded PRNG so that the verdict is a pure
 * function of the samples: rerunning the statistics on the same numbers always gives the same answer.
 *
 * The decision needs both: the change is worse than the noise threshold (a difference too small to matter, or one
 * that a rebuilt machine shifts between runs, never fails), and the confidence interval excludes zero (a big change
 * seen in a handful of noisy samples does not fail either).
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
 * Per-repetition ratios design/reference. Repetition i of both lists must come from the same round of the
 * interleaved schedule, which is what makes the ratio robust to the machine's drift.
 */
export function pairedRatios(design: readonly number[], reference: readonly number[]): number[] {
  if (design.length !== reference.length) {
    throw new Error(`paired ratios: ${design.length} design repetitions but ${reference.length} reference repetitions`);
  }
  return design.map((value, i) => {
    const ref = reference[i]!;
    if (!(value > 0) || !(ref > 0)) throw new Error(`paired ratios: repetition ${i} has throughput ${value} against reference ${ref}; both must be > 0`);
    return value / ref;
  });
}

export interface ChangeInterval {
  /** median(current) / median(baseline) - 1; -0.10 means 10 % slower relative to the reference. */
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

/** Percentile-bootstrap interval of the relative change of medians between two independent samples. */
export function bootstrapChange(current: readonly number[], baseline: readonly number[], options: BootstrapOptions): ChangeInterval {
  if (current.length < 2 || baseline.length < 2) {
    throw new Error(`bootstrap needs at least 2 samples a side, got ${current.length} current and ${baseline.length} baseline`);
  }
  if (!(options.confidence > 0 && options.confidence < 1)) throw new Error(`bootstrap confidence ${options.confidence} is not in (0, 1)`);
  if (!Number.isInteger(options.resamples) || options.resamples < 100) throw new Error(`bootstrap resamples ${options.resamples}: use an integer >= 100`);
  const random = seededRandom(options.seed);
  const changes = new Float64Array(options.resamples);
  const a = new Float64Array(current.length);
  const b = new Float64Array(baseline.length);
  for (let r = 0; r < options.resamples; r++) {
    for (let i = 0; i < a.length; i++) a[i] = current[Math.floor(random() * current.length)]!;
    for (let i = 0; i < b.length; i++) b[i] = baseline[Math.floor(random() * baseline.length)]!;
    changes[r] = sortedMedian(a.sort()) / sortedMedian(b.sort()) - 1;
  }
  changes.sort();
  const tail = (1 - options.confidence) / 2;
  const sorted = Array.from(changes);
  return {
    change: median(current) / median(baseline) - 1,
    low: quantileSorted(sorted, tail),
    high: quantileSorted(sorted, 1 - tail),
  };
}

function sortedMedian(sorted: Float64Array): number {
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
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
export function judge(current: readonly number[], baseline: readonly number[], rule: GateRule): Judgement {
  const interval = bootstrapChange(current, baseline, rule);
  const verdict: Verdict =
    interval.change < -rule.threshold && interval.high < 0 ? 'regression'
    : interval.change > rule.threshold && interval.low > 0 ? 'improvement'
    : 'unchanged';
  return { ...interval, verdict };
}
