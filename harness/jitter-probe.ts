/**
 * The machine floor: a thread that does nothing but read the clock in a loop for the length of a run and records
 * every gap between two readings (like cyclictest or jHiccup, but spinning instead of sleeping, as the producers
 * do). A gap is time this thread did not run: a timer interrupt, another thread or process on its core, a page
 * fault, an SMI, a vCPU the hypervisor took away. No engine or harness can be faster than that on this machine.
 *
 * It reports (a) the raw gap distribution: an HDR histogram and counts by decade (under 1 µs, 1–10 µs, … ≥ 10 ms),
 * and (b) in open loop at R commands/s, the latency an infinitely fast engine would show: command k is due at
 * t_k = start + k/R, and its latency is the first clock reading ≥ t_k minus t_k (OpenLoopFloor), so a gap G makes
 * the commands due during it wait up to G: what coordinated-omission-corrected open-loop latency is with a zero-cost
 * engine. In closed loop a zero-cost engine's command costs one loop turn, so the gaps themselves are the floor.
 *
 * The clock is harness/clock.ts's nowNs() (performance.now() plus a per-thread offset): the cheapest read with
 * ns resolution in Node (~40–50 ns here, against ~60–110 ns for process.hrtime.bigint(), which also allocates a
 * BigInt per read), and the very clock the producers time commands with, so the floor is what they can see.
 *
 * The probe runs alone in its own slot of compare's interleaving, never beside a design: on 2 cores a spinning thread
 * would take a design's core. Recording must not widen the gaps it measures: it increments array slots and fills
 * the histogram when the probe ends (NsRecorder). The clock read itself allocates (harness/clock.ts): the probe's
 * young-generation collections are gaps it records, as the producers' own are gaps they suffer.
 */
import type { Histogram } from 'hdr-histogram-js';
import { startThread } from '../engines/workers/start-thread.ts';
import { endThread } from '../engines/workers/end-thread.ts';
import { encodeHistogram, LatencyRecorder, latencyHistogram, percentilesOf } from './histogram.ts';
import type { GapDecades, LatencyPercentiles, LoopMode } from './results-schema.ts';

/** Upper bounds of the decades: 1 µs, 10 µs, 100 µs, 1 ms, 10 ms; the last decade is open. */
const DECADE_BOUNDS_NS = [1e3, 1e4, 1e5, 1e6, 1e7] as const;

/**
 * Records ns values as the producers record latencies (harness/histogram.ts LatencyRecorder: slot counts added to
 * the HDR histogram at the end, so recording allocates nothing and does not widen the gaps it measures), and counts
 * them by decade.
 */
export class NsRecorder {
  readonly #latencies: LatencyRecorder;
  /** Counts by decade (index 0: under 1 µs … 5: ≥ 10 ms). */
  readonly #decades = new Float64Array(DECADE_BOUNDS_NS.length + 1);

  constructor(histogram: Histogram) {
    this.#latencies = new LatencyRecorder(histogram);
  }

  get histogram(): Histogram {
    return this.#latencies.histogram;
  }

  record(ns: number): void {
    const value = ns > 0 ? Math.round(ns) : 0;
    this.#latencies.record(value);
    let decade = 0;
    while (decade < DECADE_BOUNDS_NS.length && value >= DECADE_BOUNDS_NS[decade]!) decade++;
    this.#decades[decade]!++;
  }

  /** Adds the counts to the histogram (once, when recording is over) and returns the counts by decade. */
  finish(): GapDecades {
    this.#latencies.finish();
    const d = this.#decades;
    return { below1us: d[0]!, from1to10us: d[1]!, from10to100us: d[2]!, from100usTo1ms: d[3]!, from1to10ms: d[4]!, atLeast10ms: d[5]! };
  }

  /** Forgets everything recorded (after the warm-up). */
  reset(): void {
    this.#latencies.reset();
    this.#decades.fill(0);
  }
}

/**
 * The open-loop latency of an infinitely fast engine at `ratePerSecond`: fed every clock reading in order, it
 * records, for each of `commands` commands due at startNs + k × 1e9/rate, the first reading ≥ its due time minus
 * that due time.
 */
export class OpenLoopFloor {
  readonly #startNs: number;
  readonly #intervalNs: number;
  readonly #commands: number;
  readonly #recorder: NsRecorder;
  #next = 0;

  constructor(startNs: number, ratePerSecond: number, commands: number, recorder: NsRecorder) {
    if (!(ratePerSecond > 0 && Number.isFinite(ratePerSecond))) throw new Error(`open-loop floor: rate ${ratePerSecond} is not a positive number of commands/s`);
    if (!Number.isSafeInteger(commands) || commands < 1) throw new Error(`open-loop floor: ${commands} commands; need a positive integer`);
    this.#startNs = startNs;
    this.#intervalNs = 1e9 / ratePerSecond;
    this.#commands = commands;
    this.#recorder = recorder;
  }

  /** Takes the next clock reading; false once every command's due time has been seen. */
  observe(nowNs: number): boolean {
    for (;;) {
      // Due times from the start, not accumulated, as the producers schedule them (no drift from rounding).
      const due = this.#startNs + this.#next * this.#intervalNs;
      if (due > nowNs) return true;
      this.#recorder.record(nowNs - due);
      if (++this.#next === this.#commands) return false;
    }
  }
}

/** The floor latencies of `commands` commands at `ratePerSecond` over a recorded sequence of clock readings. */
export function openLoopFloorOf(readingsNs: ArrayLike<number>, startNs: number, ratePerSecond: number, commands: number): { histogram: Histogram; complete: boolean } {
  const recorder = new NsRecorder(latencyHistogram());
  const floor = new OpenLoopFloor(startNs, ratePerSecond, commands, recorder);
  let complete = false;
  for (let i = 0; i < readingsNs.length && !complete; i++) complete = !floor.observe(readingsNs[i]!);
  recorder.finish();
  return { histogram: recorder.histogram, complete };
}

/** What one probe slot runs: open loop at a rate for as many commands as the designs' runs measure, or closed for a time. */
export type ProbeTask =
  | { readonly mode: 'open'; readonly ratePerSecond: number; readonly commands: number }
  | { readonly mode: 'closed'; readonly durationNs: number };

export interface ProbeOutcome {
  readonly mode: LoopMode;
  /** From the probe's start to its last reading, ns. */
  readonly durationNs: number;
  readonly readings: number;
  readonly gapsByDecade: GapDecades;
  /** Every gap between two clock readings. */
  readonly gapHistogram: string;
  readonly gaps: LatencyPercentiles;
  /** Open loop: the zero-cost engine's latency at the task's rate; null in closed loop. */
  readonly floorHistogram: string | null;
  readonly floor: LatencyPercentiles | null;
}

/** Runs the probe in a thread of its own and resolves with what it measured. */
export async function runJitterProbe(task: ProbeTask): Promise<ProbeOutcome> {
  const worker = startThread(new URL('./jitter-probe-worker.ts', import.meta.url), { workerData: task });
  try {
    return await new Promise<ProbeOutcome>((resolve, reject) => {
      worker.once('message', (outcome: ProbeOutcome) => resolve(outcome));
      worker.once('error', (error) => reject(new Error(`jitter probe: ${error.stack ?? error.message}`)));
      worker.once('exit', (code) => reject(new Error(`jitter probe exited (code ${code}) before reporting`)));
    });
  } finally {
    await endThread(worker);
  }
}

/** Encodes and summarises a recorder's histogram (after `finish`). */
export function encodeRecorded(recorder: NsRecorder): { histogram: string; latency: LatencyPercentiles } {
  return { histogram: encodeHistogram(recorder.histogram), latency: percentilesOf(recorder.histogram) };
}
