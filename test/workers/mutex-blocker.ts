/**
 * Forced-ordering worker: announces that it is about to lock, blocks in lock() while the test thread holds the
 * mutex, then reports what it saw once it acquired: the state word, the plain marker the holder wrote before
 * unlocking, and whether it slept.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { FutexMutex } from '../../engines/shared/futex-mutex.ts';

export interface MutexBlockerData {
  buffer: SharedArrayBuffer;
  lockOffset: number;
  /** Int32 indexes: this worker's "about to lock" flag (atomic) and the marker (plain, written under the lock). */
  announceIndex: number;
  markerIndex: number;
  spins: number;
}

export interface MutexBlockerResult {
  stateAfterAcquire: number;
  markerSeen: number;
  sleeps: number;
  wakes: number;
}

const data = workerData as MutexBlockerData;
const words = new Int32Array(data.buffer);
const mutex = new FutexMutex(data.buffer, data.lockOffset, data.spins);
Atomics.store(words, data.announceIndex, 1);
mutex.lock();
const stateAfterAcquire = mutex.state();
const markerSeen = words[data.markerIndex]!;
words[data.markerIndex] = markerSeen + 1;
mutex.unlock();
parentPort!.postMessage({ stateAfterAcquire, markerSeen, sleeps: mutex.sleeps, wakes: mutex.wakes } satisfies MutexBlockerResult);
