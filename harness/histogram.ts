/**
 * Latency histograms: HdrHistogram (hdr-histogram-js, WebAssembly build) with 3 significant digits over
 * nanoseconds. Each producer thread records into its own, encodes it (compressed base64) when done, and the main
 * thread decodes and merges them; results files carry the encodings so reports can redraw every percentile.
 */
import * as hdr from 'hdr-histogram-js';
import type { Histogram } from 'hdr-histogram-js';
import type { LatencyPercentiles } from './results-schema.ts';

let wasmReady = false;

/** A new histogram for latencies in ns (auto-resizing past the initial 60 s bound). */
export function latencyHistogram(): Histogram {
  if (!wasmReady) {
    hdr.initWebAssemblySync();
    wasmReady = true;
  }
  return hdr.build({ useWebAssembly: true, lowestDiscernibleValue: 1, highestTrackableValue: 60e9, numberOfSignificantValueDigits: 3 });
}

export function encodeHistogram(histogram: Histogram): string {
  return hdr.encodeIntoCompressedBase64(histogram);
}

export function percentilesOf(h: Histogram): LatencyPercentiles {
  const count = h.totalCount;
  const at = (p: number): number => (count === 0 ? 0 : h.getValueAtPercentile(p));
  return {
    count,
    meanNs: count === 0 ? 0 : Math.round(h.mean),
    p50Ns: at(50),
    p90Ns: at(90),
    p99Ns: at(99),
    p99_9Ns: at(99.9),
    p99_99Ns: at(99.99),
    maxNs: count === 0 ? 0 : h.maxValue,
  };
}

/** Decodes and adds up encoded histograms; returns the merged encoding and its percentiles. */
export function mergeEncoded(encoded: readonly string[]): { histogram: string; latency: LatencyPercentiles } {
  const merged = latencyHistogram();
  try {
    for (const e of encoded) {
      const h = hdr.decodeFromCompressedBase64(e, 32, true);
      try {
        merged.add(h);
      } finally {
        h.destroy();
      }
    }
    return { histogram: encodeHistogram(merged), latency: percentilesOf(merged) };
  } finally {
    merged.destroy();
  }
}
