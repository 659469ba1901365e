/**
 * Types for @mitata/counters 0.0.x, which ships none: the functions of its src/lib.mjs and the shape of its Linux
 * readings, which is what bench/core-micro.ts reads (macOS readings have other fields). Importing the package loads
 * its native addon; `init` opens the perf events, `before` / `after` bracket what is counted, and
 * `translate(batch, samples)` returns the totals divided by both, so each `avg` is per measured call.
 */
declare module '@mitata/counters' {
  export interface CounterRange {
    readonly min: number;
    readonly max: number;
    readonly avg: number;
  }

  export interface CounterReadings {
    readonly cycles: CounterRange;
    readonly instructions: CounterRange;
    /** Last-level cache references and misses, or null where the CPU does not count them. */
    readonly cache: (CounterRange & { readonly misses: CounterRange | null }) | null;
  }

  export function init(): void;
  export function deinit(): void;
  export function before(): void;
  export function after(): void;
  export function translate(batch?: number, samples?: number): CounterReadings;
}
