/**
 * The shared block the main thread and the producer threads of one run coordinate through.
 *
 *   byte 0        128       256              384 + 128 p
 *        +--------+---------+----------------+----------------------------------+
 *        | ready  | go      | start time f64 | producer p: commands completed    |
 *        +--------+---------+----------------+----------------------------------+
 *
 * - ready: producers that finished their warm-up (each adds 1 and notifies).
 * - go: 0 until the main thread has written the start time, then 1 (producers wait on it).
 * - start time: ns on the process clock (harness/clock.ts) when the measured part begins for everyone.
 * - progress: each producer's completed-command count (warm-up included), for progress bars and the stall watchdog;
 *   128 bytes apart because each is written by a different thread.
 */
import { CACHE_LINE_PAIR } from '../engines/shared/layout.ts';

export const CONTROL_READY = 0;
export const CONTROL_GO = CACHE_LINE_PAIR / 4;
/** Float64 index of the start time. */
export const CONTROL_START_F64 = (2 * CACHE_LINE_PAIR) / 8;
const PROGRESS_BYTE = 3 * CACHE_LINE_PAIR;

export function progressWord(producer: number): number {
  return (PROGRESS_BYTE + producer * CACHE_LINE_PAIR) / 4;
}

export function controlBytes(producers: number): number {
  return PROGRESS_BYTE + producers * CACHE_LINE_PAIR;
}

export interface ControlViews {
  readonly i32: Int32Array;
  readonly f64: Float64Array;
}

export function controlViews(buffer: SharedArrayBuffer): ControlViews {
  return { i32: new Int32Array(buffer), f64: new Float64Array(buffer) };
}
