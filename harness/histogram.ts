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

/**
 * LatencyRecorder's slots: HdrHistogram's own bucketing at 3 significant digits from 1 ns (what latencyHistogram
 * builds): every value below 2048 has its own slot, then each power of two from 2^11 up is split into 1024 slots of
 * equal width. Values in one slot are one value to the histogram. Slots cover values below 2^31 ns (2.1 s).
 */
const EXACT_BELOW = 2048;
const SLOTS_PER_OCTAVE = 1024;
const SLOTTED_BELOW = 2 ** 31;
const SLOTS = EXACT_BELOW + (31 - 11) * SLOTS_PER_OCTAVE;

/**
 * How a timed loop records latencies: a value increments its slot in a plain 90 KB array (a larger one than the
 * slots cover goes to the histogram at once), and `finish` adds the counts to the histogram afterwards, each slot
 * as its lowest value with its count (the largest value as itself) — the same to the histogram as recording every
 * value, so the figures are identical. Why not `recordValue` per command: hdr-histogram-js goes through its
 * WebAssembly loader's wrappers, which box the argument and allocate per call (~40 ns and a few dozen bytes a
 * command: a young-generation collection inside the timed part every few hundred thousand commands). Why not one
 * slot per ns: closed-loop latencies spread over ~10^5 distinct values, and a slot array that size misses the cache
 * on most increments.
 */
export class LatencyRecorder {
  readonly histogram: Histogram;
  // Written now so its pages are mapped before anything is timed, not on a slot's first increment.
  readonly #counts = new Uint32Array(SLOTS).fill(0);
  /** The largest value recorded, kept exact: a slot stands for its lowest value, and the maximum is reported as is. */
  #max = 0;

  constructor(histogram: Histogram) {
    this.histogram = histogram;
  }

  /** Records `ns` (an integer ≥ 0). */
  record(ns: number): void {
    if (ns > this.#max) this.#max = ns;
    if (ns < SLOTTED_BELOW) this.#counts[slotOf(ns)]!++;
    else this.histogram.recordValue(ns);
  }

  /** Records `ns` (an integer ≥ 0) `count` times: what `count` calls of record(ns) would. */
  recordMany(ns: number, count: number): void {
    if (ns > this.#max) this.#max = ns;
    if (ns < SLOTTED_BELOW) this.#counts[slotOf(ns)]! += count;
    else this.histogram.recordValueWithCount(ns, count);
  }

  /** Forgets everything recorded (the warm-up's, recorded so the timed part runs code already optimised for it). */
  reset(): void {
    this.#counts.fill(0);
    this.#max = 0;
    this.histogram.reset();
  }

  /** Adds the counts to the histogram (once, when recording is over) and returns it. */
  finish(): Histogram {
    const counts = this.#counts;
    // The maximum goes in as itself (the histogram's max is its largest value recorded), the rest of its slot as the slot.
    const max = this.#max;
    const maxSlotted = max > 0 && max < SLOTTED_BELOW;
    if (maxSlotted) counts[slotOf(max)]!--;
    for (let slot = 0; slot < SLOTS; slot++) {
      const n = counts[slot]!;
      if (n > 0) this.histogram.recordValueWithCount(slotValue(slot), n);
    }
    if (maxSlotted) this.histogram.recordValue(max);
    counts.fill(0);
    this.#max = 0;
    return this.histogram;
  }
}

/** The LatencyRecorder slot of a value below SLOTTED_BELOW. */
function slotOf(ns: number): number {
  if (ns < EXACT_BELOW) return ns;
  // Octave k ≥ 1 holds [1024 · 2^k, 2048 · 2^k); its slots are ns >> k - 1024. 21 - clz32 = floor(log2 ns) - 10.
  const octave = 21 - Math.clz32(ns);
  return EXACT_BELOW + (octave - 1) * SLOTS_PER_OCTAVE + (ns >> octave) - SLOTS_PER_OCTAVE;
}

/** The lowest value of a LatencyRecorder slot. */
function slotValue(slot: number): number {
  if (slot < EXACT_BELOW) return slot;
  const k = slot - EXACT_BELOW;
  const octave = Math.floor(k / SLOTS_PER_OCTAVE) + 1;
  return ((k % SLOTS_PER_OCTAVE) + SLOTS_PER_OCTAVE) * 2 ** octave;
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
