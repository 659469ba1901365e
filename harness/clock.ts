/**
 * The one clock every harness timestamp comes from: nanoseconds on the process's monotonic clock, as a plain number.
 *
 * Why this clock: `process.hrtime.bigint()` reads the OS monotonic clock (libuv's uv_hrtime, CLOCK_MONOTONIC on
 * Linux), which is one clock for the whole process, so a time taken in one worker thread compares directly with a
 * time taken in another — the open-loop schedule's common start time needs that. But it returns a BigInt (a heap
 * allocation per read), which the measuring threads must not do per command. `performance.now()` reads the same
 * uv_hrtime without allocating, but relative to its own thread's `timeOrigin` (each worker has a different one), and
 * `performance.timeOrigin + performance.now()` mixes in the wall clock, which can step. So each thread measures
 * once, at load, the offset between its `performance.now()` and `process.hrtime.bigint()` (the smallest of several
 * samples, to keep the error to the gap between two back-to-back reads), and `nowNs()` returns
 * `performance.now()` shifted by it: monotonic, comparable across threads.
 *
 * Not quite allocation-free: Node's `performance.now()` boxes its result (its brand check goes through a wrapper
 * with rest arguments that V8 does not inline), ~16 B a read, and the global `performance` is a lazy getter that
 * allocates as much again, which is why the object is read once here. Code that reads the clock in a tight loop
 * keeps the reads few (harness/producer-loop.ts spins between them while it waits).
 *
 * Precision: performance.now() has sub-microsecond resolution in Node (no browser-style coarsening); values near
 * 1e15 ns keep a resolution well under 1 ns in a float64.
 */

const CALIBRATION_SAMPLES = 64;

function calibrateOffsetNs(): number {
  let best = Infinity;
  let offset = 0;
  for (let i = 0; i < CALIBRATION_SAMPLES; i++) {
    const before = performance.now();
    const hr = Number(process.hrtime.bigint());
    const after = performance.now();
    const gap = after - before;
    if (gap < best) {
      best = gap;
      offset = hr - ((before + after) / 2) * 1e6;
    }
  }
  return offset;
}

const OFFSET_NS = calibrateOffsetNs();
const PERFORMANCE = performance;

/** Nanoseconds on the process-wide monotonic clock (same epoch in every thread of this process). */
export function nowNs(): number {
  return PERFORMANCE.now() * 1e6 + OFFSET_NS;
}

/** A description of this clock for results files. */
export const CLOCK_DESCRIPTION =
  'process monotonic clock (uv_hrtime via process.hrtime.bigint), read as performance.now() plus a per-thread offset calibrated at thread start';
