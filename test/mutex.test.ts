/**
 * Futex mutex tests: single-thread semantics, mutual exclusion under two contending workers (a plain counter ends at
 * exactly 2N and no thread ever finds another inside), and forced orderings built from Atomics flags and the lock's
 * own state word, never from sleeps: a holder, a waiter that must reach the contended state, a release that must
 * wake it, and a chain of two waiters.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { FutexMutex } from '../engines/shared/futex-mutex.ts';
import { FUTEX_MUTEX_BYTES, MUTEX_CONTENDED, MUTEX_LOCKED, MUTEX_UNLOCKED } from '../engines/shared/futex-mutex-layout.ts';
import { RegionAllocator } from '../engines/shared/layout.ts';
import type { MutexBlockerData, MutexBlockerResult } from './workers/mutex-blocker.ts';
import type { MutexCounterData, MutexCounterResult } from './workers/mutex-counter.ts';
import { startWorker, terminateWorkers, throwIfFailed, yieldToEventLoop, type RunningWorker } from './workers/rings-threads.ts';

const TIMEOUT_MS = 180_000;

afterEach(terminateWorkers);

/** A mutex and a line of plain Int32 words (indexes into the whole buffer) in one SharedArrayBuffer. */
function mutexRegion(): { buffer: SharedArrayBuffer; lockOffset: number; word: (k: number) => number } {
  const regions = new RegionAllocator();
  const lockOffset = regions.reserve('lock', FUTEX_MUTEX_BYTES);
  const wordsOffset = regions.reserve('test words', 128);
  return { buffer: regions.createBuffer(), lockOffset, word: (k) => wordsOffset / 4 + k };
}

/** Polls on the test thread until `done()` holds, yielding so worker failures surface. */
async function until(done: () => boolean, workers: readonly RunningWorker<unknown>[]): Promise<void> {
  while (!done()) {
    await yieldToEventLoop();
    await throwIfFailed(workers);
  }
}

describe('futex mutex, one thread', () => {
  test('tryLock, lock and unlock move the state word 0 → 1 → 0', () => {
    const { buffer, lockOffset } = mutexRegion();
    const mutex = new FutexMutex(buffer, lockOffset);
    expect(mutex.tryLock()).toBe(true);
    expect(mutex.state()).toBe(MUTEX_LOCKED);
    expect(mutex.tryLock()).toBe(false);
    mutex.unlock();
    expect(mutex.state()).toBe(MUTEX_UNLOCKED);
    mutex.lock();
    mutex.unlock();
    expect([mutex.state(), mutex.contended, mutex.sleeps, mutex.wakes]).toEqual([MUTEX_UNLOCKED, 0, 0, 0]);
  });

  test('unlocking an unlocked mutex throws and leaves it usable', () => {
    const { buffer, lockOffset } = mutexRegion();
    const mutex = new FutexMutex(buffer, lockOffset);
    expect(() => mutex.unlock()).toThrow('unlock() of a mutex that was not locked (state 0)');
    expect(mutex.state()).toBe(MUTEX_UNLOCKED);
    expect(mutex.tryLock()).toBe(true);
  });

  test('region and spin count are checked', () => {
    const buffer = new SharedArrayBuffer(256);
    expect(() => new FutexMutex(buffer, 4)).toThrow('byte offset 4 must be a non-negative multiple of 128');
    expect(() => new FutexMutex(buffer, 256)).toThrow('needs 128 bytes at offset 256');
    expect(() => new FutexMutex(buffer, 0, -1)).toThrow('spin count -1');
  });
});

describe.each([
  { spins: 100, iterations: 200_000 },
  // No spinning: every contended lock() goes straight to the exchange-to-2 and Atomics.wait path.
  { spins: 0, iterations: 200_000 },
])('futex mutex, 2 contending workers, spins $spins', ({ spins, iterations }) => {
  test(`a plain counter incremented ${iterations} times by each worker under the lock ends at twice that`, async () => {
    const { buffer, lockOffset, word } = mutexRegion();
    const workers = [1, 2].map((workerId) => startWorker<MutexCounterResult>('./mutex-counter.ts', {
      buffer, lockOffset, barrierIndex: word(0), counterIndex: word(1), ownerIndex: word(2),
      threads: 2, workerId, iterations, spins,
    } satisfies MutexCounterData));
    const results = await Promise.all(workers.map((w) => w.result));
    const words = new Int32Array(buffer);
    expect(results.map((r) => r.overlaps)).toEqual([0, 0]);
    expect(words[word(1)]).toBe(2 * iterations);
    expect(new FutexMutex(buffer, lockOffset).state()).toBe(MUTEX_UNLOCKED);
    // Drepper's protocol: every sleep is preceded by setting the state to 2, so every sleeper's wake-up comes from
    // an unlock that saw 2 (or from a spurious return); a thread never sleeps without someone owing it a notify.
    const sleeps = results.reduce((n, r) => n + r.sleeps, 0);
    const wakes = results.reduce((n, r) => n + r.wakes, 0);
    if (sleeps > 0) expect(wakes).toBeGreaterThan(0);
  }, TIMEOUT_MS);
});

describe('futex mutex, forced orderings', () => {
  test('a waiter blocks (state 2), the holder releases with one notify, the waiter acquires after the release', async () => {
    const { buffer, lockOffset, word } = mutexRegion();
    const words = new Int32Array(buffer);
    const holder = new FutexMutex(buffer, lockOffset);
    expect(holder.tryLock()).toBe(true);
    const waiter = startWorker<MutexBlockerResult>('./mutex-blocker.ts',
      { buffer, lockOffset, announceIndex: word(0), markerIndex: word(1), spins: 10 } satisfies MutexBlockerData);
    // The waiter's lock() sets the state to 2 just before it sleeps; until then the holder keeps the lock.
    await until(() => holder.state() === MUTEX_CONTENDED, [waiter]);
    words[word(1)] = 41;
    holder.unlock();
    expect(holder.wakes).toBe(1);
    const seen = await waiter.result;
    expect(seen.markerSeen).toBe(41);
    expect(seen.stateAfterAcquire).toBe(MUTEX_CONTENDED);
    expect(seen.sleeps).toBeGreaterThanOrEqual(1);
    expect(words[word(1)]).toBe(42);
    expect(holder.state()).toBe(MUTEX_UNLOCKED);
  });

  test('two waiters queued behind a holder both acquire, one after the other', async () => {
    const { buffer, lockOffset, word } = mutexRegion();
    const words = new Int32Array(buffer);
    const holder = new FutexMutex(buffer, lockOffset);
    expect(holder.tryLock()).toBe(true);
    const waiters = [0, 1].map((k) => startWorker<MutexBlockerResult>('./mutex-blocker.ts',
      { buffer, lockOffset, announceIndex: word(k), markerIndex: word(2), spins: 10 } satisfies MutexBlockerData));
    await until(() => Atomics.load(words, word(0)) === 1 && Atomics.load(words, word(1)) === 1
      && holder.state() === MUTEX_CONTENDED, waiters);
    words[word(2)] = 10;
    holder.unlock();
    const seen = await Promise.all(waiters.map((w) => w.result));
    expect(seen.map((s) => s.markerSeen).sort()).toEqual([10, 11]);
    expect(words[word(2)]).toBe(12);
    expect(holder.state()).toBe(MUTEX_UNLOCKED);
  });
});
