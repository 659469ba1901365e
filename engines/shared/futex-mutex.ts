/**
 * A futex-style mutex on one Int32 of a SharedArrayBuffer: Drepper's mutex from "Futexes Are Tricky" (the
 * three-state version), with a bounded spin before sleeping (layout: futex-mutex-layout.ts).
 *
 * Trade-off: an uncontended lock/unlock pair is two atomic instructions and no system call; under contention a
 * thread spins `spins` reads (cheap when critical sections are short, wasted on a 2-core machine when the holder
 * is descheduled), then sleeps in Atomics.wait and costs the unlocker an Atomics.notify system call. No fairness:
 * a spinning thread can take the lock ahead of a woken sleeper, which helps throughput and hurts tail latency.
 *
 *   lock:   compareExchange(0 → 1); else spin, retrying 0 → 1 whenever it reads 0; else exchange(→ 2) and
 *           Atomics.wait(state, 2) until an exchange returns 0. A thread that slept takes the lock as 2, so its
 *           unlock wakes the next sleeper.
 *   unlock: sub 1; if the state was 2, store 0 and notify one sleeper. No system call when nobody can be asleep.
 *
 * Plain lock() / unlock() calls, no callback or try/finally wrapper, so the hot path allocates nothing; a caller
 * whose critical section can throw must unlock on that path itself. Atomics.wait in lock() blocks the thread: Node
 * allows it on the main thread but stalls its event loop, so lock from workers and use tryLock() on a main thread.
 */
import { checkRegion } from './layout.ts';
import { FUTEX_MUTEX_BYTES, MUTEX_CONTENDED, MUTEX_LOCKED, MUTEX_STATE, MUTEX_UNLOCKED } from './futex-mutex-layout.ts';

export class FutexMutex {
  readonly spins: number;
  /** This thread's count of lock() calls that found the lock taken at the first attempt. */
  contended = 0;
  /** This thread's Atomics.wait calls (sleeps) in lock(). */
  sleeps = 0;
  /** This thread's Atomics.notify calls in unlock(). */
  wakes = 0;

  readonly #state: Int32Array;

  /** @param spins reads of the state before a contended lock() sleeps. */
  constructor(buffer: SharedArrayBuffer, byteOffset: number, spins = 100) {
    checkRegion('futex mutex', buffer, byteOffset, FUTEX_MUTEX_BYTES);
    if (!Number.isSafeInteger(spins) || spins < 0) throw new Error(`futex mutex: spin count ${spins} must be an integer >= 0`);
    this.spins = spins;
    this.#state = new Int32Array(buffer, byteOffset, 1);
  }

  tryLock(): boolean {
    return Atomics.compareExchange(this.#state, MUTEX_STATE, MUTEX_UNLOCKED, MUTEX_LOCKED) === MUTEX_UNLOCKED;
  }

  lock(): void {
    const state = this.#state;
    let seen = Atomics.compareExchange(state, MUTEX_STATE, MUTEX_UNLOCKED, MUTEX_LOCKED);
    if (seen === MUTEX_UNLOCKED) return;
    this.contended++;
    for (let i = 0; i < this.spins; i++) {
      seen = Atomics.load(state, MUTEX_STATE);
      if (seen === MUTEX_UNLOCKED) {
        seen = Atomics.compareExchange(state, MUTEX_STATE, MUTEX_UNLOCKED, MUTEX_LOCKED);
        if (seen === MUTEX_UNLOCKED) return;
      }
    }
    if (seen !== MUTEX_CONTENDED) seen = Atomics.exchange(state, MUTEX_STATE, MUTEX_CONTENDED);
    while (seen !== MUTEX_UNLOCKED) {
      this.sleeps++;
      Atomics.wait(state, MUTEX_STATE, MUTEX_CONTENDED);
      seen = Atomics.exchange(state, MUTEX_STATE, MUTEX_CONTENDED);
    }
  }

  unlock(): void {
    const state = this.#state;
    const was = Atomics.sub(state, MUTEX_STATE, 1);
    if (was === MUTEX_CONTENDED) {
      Atomics.store(state, MUTEX_STATE, MUTEX_UNLOCKED);
      this.wakes++;
      Atomics.notify(state, MUTEX_STATE, 1);
    } else if (was !== MUTEX_LOCKED) {
      // Undo the sub unless another thread has already seen the broken state; either way the caller has a bug.
      Atomics.compareExchange(state, MUTEX_STATE, was - 1, was);
      throw new Error(`futex mutex: unlock() of a mutex that was not locked (state ${was})`);
    }
  }

  /** The shared state word (MUTEX_UNLOCKED / MUTEX_LOCKED / MUTEX_CONTENDED), for tests and diagnostics. */
  state(): number {
    return Atomics.load(this.#state, MUTEX_STATE);
  }
}
