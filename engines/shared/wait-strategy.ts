/**
 * How a thread waits for a shared Int32 to change, and how the thread that changed it wakes the waiter — the two
 * methods of the LMAX Disruptor's WaitStrategy, over SharedArrayBuffer words.
 *
 * A waitable word is a pair of Int32s: the value at `index` and a sleeper count at `index + SLEEPERS_WORD`, in the same
 * cache line (every descriptor reserves both). A waiter that is about to sleep raises the sleeper count; the thread
 * that changed the value calls `signal`, which only makes the `Atomics.notify` system call when the count is non-zero,
 * so a producer whose consumer keeps up never leaves user space.
 *
 * Trade-offs:
 * - `BusySpinWait`: lowest wake-up latency (no system call on either side) but the waiting thread burns a whole core.
 *   On a 2-core machine a spinning consumer competes with the producer it waits for, so it can be slower overall.
 * - `SpinThenWait`: spins a bounded number of iterations (cheap when the wait is short), then sleeps in
 *   `Atomics.wait` with a timeout. Frees the core when idle; a wake-up costs a futex system call on each side
 *   (tens of microseconds in the tail).
 * Measured on the shared 2-core test machine (load average ~10, so every thread competes for a core), one producer
 * worker → one consumer worker through a 1024-slot MPSC ring, one slot per claim, 2 M messages: busy-spin ~100 000
 * messages/s, spin-then-wait ~4 000 000/s — a woken sleeper is scheduled at once, a spinner waits for its time slice.
 *
 * Every wait is bounded (a spin count, or a sleep timeout), so a caller looping on `waitFor` sees shutdown flags.
 * Node allows `Atomics.wait` on the main thread (browsers do not), but it blocks the event loop: no messages, timers
 * or worker 'error' events are delivered while it sleeps. Blocking calls belong in worker threads; a main thread should
 * use the non-blocking calls of each structure and yield to its event loop.
 */

/** Offset, in Int32s, of a waitable word's sleeper count from its value. */
export const SLEEPERS_WORD = 1;
/** Int32s a waitable word occupies: the value and its sleeper count. */
export const WAITABLE_WORDS = 2;

export const WAIT_STRATEGY_NAMES = ['busy-spin', 'spin-then-wait'] as const;
export type WaitStrategyName = (typeof WAIT_STRATEGY_NAMES)[number];

export interface WaitStrategy {
  readonly name: WaitStrategyName;
  /**
   * Waits until `view[index]` differs from `expected`, or until this strategy's bound elapses.
   * Returns the value last read: equal to `expected` means the bound elapsed (the caller checks for shutdown and
   * calls again).
   */
  waitFor(view: Int32Array, index: number, expected: number): number;
  /** Wakes threads waiting on `view[index]`; call after changing it (with Atomics.store or another atomic write). */
  signal(view: Int32Array, index: number): void;
}

/** Spins on the word; `signal` is a no-op because nobody sleeps. */
export class BusySpinWait implements WaitStrategy {
  readonly name = 'busy-spin';
  readonly spinsPerWait: number;

  /** @param spinsPerWait reads of the word before `waitFor` gives up and returns (its bound). */
  constructor(spinsPerWait = 1 << 16) {
    checkCount('BusySpinWait spinsPerWait', spinsPerWait, 1);
    this.spinsPerWait = spinsPerWait;
  }

  waitFor(view: Int32Array, index: number, expected: number): number {
    for (let i = 0; i < this.spinsPerWait; i++) {
      const value = Atomics.load(view, index);
      if (value !== expected) return value;
    }
    return expected;
  }

  signal(_view: Int32Array, _index: number): void {}
}

/** Spins, then sleeps in `Atomics.wait` with a timeout; `signal` notifies only when the sleeper count says so. */
export class SpinThenWait implements WaitStrategy {
  readonly name = 'spin-then-wait';
  readonly spins: number;
  readonly sleepTimeoutMs: number;

  /**
   * @param spins reads of the word before sleeping.
   * @param sleepTimeoutMs longest single sleep, the bound after which `waitFor` returns even without a signal.
   */
  constructor(spins = 1024, sleepTimeoutMs = 20) {
    checkCount('SpinThenWait spins', spins, 0);
    if (!(sleepTimeoutMs > 0) || !Number.isFinite(sleepTimeoutMs)) {
      throw new Error(`SpinThenWait sleepTimeoutMs: ${sleepTimeoutMs} must be a positive finite number of milliseconds`);
    }
    this.spins = spins;
    this.sleepTimeoutMs = sleepTimeoutMs;
  }

  waitFor(view: Int32Array, index: number, expected: number): number {
    for (let i = 0; i < this.spins; i++) {
      const value = Atomics.load(view, index);
      if (value !== expected) return value;
    }
    // Raise the sleeper count before the value check inside Atomics.wait: a signaller that stored the new value
    // and then read a zero count did so before this add, so Atomics.wait sees the new value and returns at once.
    Atomics.add(view, index + SLEEPERS_WORD, 1);
    Atomics.wait(view, index, expected, this.sleepTimeoutMs);
    Atomics.sub(view, index + SLEEPERS_WORD, 1);
    return Atomics.load(view, index);
  }

  signal(view: Int32Array, index: number): void {
    if (Atomics.load(view, index + SLEEPERS_WORD) !== 0) Atomics.notify(view, index);
  }
}

/** The strategy a `--param wait=NAME` names, with its default bounds. */
export function waitStrategyByName(name: string): WaitStrategy {
  switch (name) {
    case 'busy-spin':
      return new BusySpinWait();
    case 'spin-then-wait':
      return new SpinThenWait();
    default:
      throw new Error(`unknown wait strategy ${JSON.stringify(name)}; expected one of ${WAIT_STRATEGY_NAMES.join(', ')}`);
  }
}

function checkCount(what: string, n: number, min: number): void {
  if (!Number.isSafeInteger(n) || n < min) throw new Error(`${what}: ${n} must be an integer >= ${min}`);
}
