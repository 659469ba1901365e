/**
 * Test-only knob that makes one design slower by a known fraction, so the performance gate can prove that it
 * catches a regression of that size (scripts/prove-gate.sh).
 *
 *   MATCHBENCH_INJECT_SLOWDOWN=disruptor:0.10   adds busy waiting worth 10 % of the time each of the disruptor's
 *                                               threads spends on its commands
 *   MATCHBENCH_INJECT_SLOWDOWN=mutex:0.10,sharded:0.07   several designs, each by its own fraction (the gate
 *                                               judges every design on its own runs, so one proof run tests them all)
 *
 * The variable is read once, when this module loads; unset (the normal case) every design gets `noSlowdown`, a
 * function that does nothing and that V8 inlines away. When set, the named design's per-command hook counts
 * commands and, every WINDOW commands, reads the clock and busy-waits for `fraction` × the time that window took,
 * so the added cost is proportional to the design's own speed whatever machine it runs on; a wait that overruns
 * (the thread was preempted across its end) is deducted from the next, so the total stays exact. (Wall time, because
 * that is what throughput is measured in; the thread's CPU time would be purer, but Linux updates it per
 * scheduler tick, about 1 ms, too coarse for windows of a few hundred microseconds.) A window longer than
 * IDLE_WINDOW_MS is taken for a pause between runs, not work, and adds nothing; shorter stretches (a preemption,
 * producers meeting at the start line) count like work, as they count in the throughput the slowdown must move.
 */

export const SLOWDOWN_ENV = 'MATCHBENCH_INJECT_SLOWDOWN';
const WINDOW = 1024;
const IDLE_WINDOW_MS = 50;

export interface SlowdownSetting {
  readonly design: string;
  readonly fraction: number;
}

/** Parses the knob's value, a comma-separated list of DESIGN:FRACTION; undefined or empty means off (an empty list). */
export function parseSlowdown(value: string | undefined): readonly SlowdownSetting[] {
  if (value === undefined || value === '') return [];
  const settings = value.split(',').map((item, i) => {
    const match = /^([a-z][a-z0-9_-]*):([0-9]*\.?[0-9]+)$/.exec(item);
    const fraction = match === null ? NaN : Number(match[2]);
    if (match === null || !(fraction > 0 && fraction <= 10)) {
      throw new Error(`${SLOWDOWN_ENV}="${value}", item ${i + 1} "${item}": expected DESIGN:FRACTION with 0 < FRACTION <= 10, e.g. disruptor:0.10`);
    }
    return { design: match[1]!, fraction };
  });
  const repeated = settings.find((s, i) => settings.findIndex((t) => t.design === s.design) !== i);
  if (repeated !== undefined) throw new Error(`${SLOWDOWN_ENV}="${value}": design ${repeated.design} is named twice`);
  return settings;
}

const settings = parseSlowdown(process.env[SLOWDOWN_ENV]);

function noSlowdown(): void {}

function proportionalSlowdown(fraction: number): () => void {
  let count = 0;
  let windowStart = -1;
  /** Busy waiting due, ms; negative after a wait overran (the thread was preempted past its end). */
  let owed = 0;
  return () => {
    if (++count < WINDOW) return;
    count = 0;
    const now = performance.now();
    const elapsed = now - windowStart;
    if (windowStart < 0 || elapsed > IDLE_WINDOW_MS) {
      windowStart = now;
      return;
    }
    owed += elapsed * fraction;
    const until = now + owed;
    let t = now;
    while (t < until) t = performance.now();
    owed -= t - now;
    windowStart = t;
  };
}

/**
 * The per-command hook for `design`: a design calls it once per command on every thread that does its per-command
 * work (for a design with an engine thread: there, and in its producer half after a command is handed over; for
 * `mutex`, inside the critical section). Each call returns a hook with its own window, so each thread is slowed by
 * the fraction of its own time, and the throughput falls by that fraction whichever thread bounds it: in the gate's
 * one-producer closed loop the producer bounds `disruptor` and `sharded`, and a hook in their engine threads alone
 * moved their throughput by 0–4.5 % for a 7–10 % setting. A no-op unless MATCHBENCH_INJECT_SLOWDOWN names this design.
 */
export function slowdownHook(design: string): () => void {
  const setting = settings.find((s) => s.design === design);
  return setting !== undefined ? proportionalSlowdown(setting.fraction) : noSlowdown;
}

/** The active settings (empty when the knob is off), recorded in results so a slowed run can never pass for a normal one. */
export function activeSlowdown(): readonly SlowdownSetting[] {
  return settings;
}
