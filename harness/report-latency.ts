/**
 * Latency percentile curves from the encoded HDR histograms in a results file, the way HdrHistogram plots them:
 * x is 1/(1 - p) on a log axis, so 50 %, 90 %, 99 %, 99.9 % ... are evenly spaced and the tail gets as much room as
 * the median; y is the latency at that percentile.
 *
 * Points are taken at 1/(1 - p) = 2^(k/5) (five per halving of the remaining fraction, HdrHistogram's
 * "percentile ticks per half distance") up to the last percentile the sample can resolve (1/(1 - p) <= count),
 * then the maximum; the labelled percentiles (50, 90, 99, 99.9, ...) are added exactly, so a dot at "99%" is p99.
 */
import { decodeFromCompressedBase64 } from 'hdr-histogram-js';

export interface PercentilePoint {
  /** Percentile in [0, 100]. */
  readonly percentile: number;
  /** 1 / (1 - percentile/100): the log axis position. */
  readonly inverseTail: number;
  /** Latency at that percentile, microseconds. */
  readonly latencyUs: number;
  /** One of the axis's labelled percentiles (50 %, 90 %, 99 %, ...) or the maximum: drawn as a dot with its figure. */
  readonly labelled: boolean;
}

const TICKS_PER_HALF_DISTANCE = 5;

/** Decodes an HdrHistogram compressed base64 histogram (values in ns) into its percentile curve in µs. */
export function percentileCurve(encodedNs: string, where: string): PercentilePoint[] {
  let histogram;
  try {
    histogram = decodeFromCompressedBase64(encodedNs, 32, false);
  } catch (error) {
    throw new Error(`${where}: histogram does not decode as HdrHistogram compressed base64 (${(error as Error).message})`);
  }
  try {
    const count = histogram.totalCount;
    if (count === 0) return [];
    const point = (inverseTail: number, labelled: boolean): PercentilePoint => {
      const percentile = 100 * (1 - 1 / inverseTail);
      return { percentile, inverseTail, latencyUs: histogram.getValueAtPercentile(percentile) / 1000, labelled };
    };
    const points: PercentilePoint[] = percentileAxisValues(count).map((v) => point(v, true));
    for (let k = 0; 2 ** (k / TICKS_PER_HALF_DISTANCE) <= count; k++) points.push(point(2 ** (k / TICKS_PER_HALF_DISTANCE), false));
    points.sort((a, b) => a.inverseTail - b.inverseTail);
    points.push({ percentile: 100, inverseTail: Math.max(count, points.at(-1)?.inverseTail ?? 1), latencyUs: histogram.maxValue / 1000, labelled: true });
    return points;
  } finally {
    histogram.destroy();
  }
}

/** Axis positions (1/(1 - p)) of the labelled percentiles 50 %, 90 %, 99 %, ... up to `maxInverseTail`. */
export function percentileAxisValues(maxInverseTail: number): number[] {
  const values = [2];
  for (let v = 10; v <= maxInverseTail * 1.0001; v *= 10) values.push(v);
  return values;
}
