/**
 * Mutex stress worker: after a start barrier, takes the lock `iterations` times and, inside, increments a plain
 * (non-atomic) counter and checks that no other thread is inside (an owner word it sets and clears).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { FutexMutex } from '../../engines/shared/futex-mutex.ts';

export interface MutexCounterData {
  buffer: SharedArrayBuffer;
  lockOffset: number;
  /** Int32 indexes in the buffer: the start barrier (atomic), the plain counter, the plain owner word. */
  barrierIndex: number;
  counterIndex: number;
  ownerIndex: number;
  threads: number;
  workerId: number;
  iterations: number;
  spins: number;
}

export interface MutexCounterResult {
  /** Times this worker found another worker's id in the owner word while it held the lock. */
  overlaps: number;
  contended: number;
  sleeps: number;
  wakes: number;
}

const data = workerData as MutexCounterData;
const words = new Int32Array(data.buffer);
const mutex = new FutexMutex(data.buffer, data.lockOffset, data.spins);
Atomics.add(words, data.barrierIndex, 1);
while (Atomics.load(words, data.barrierIndex) < data.threads);
let overlaps = 0;
for (let i = 0; i < data.iterations; i++) {
  mutex.lock();
  if (words[data.ownerIndex] !== 0) overlaps++;
  words[data.ownerIndex] = data.workerId;
  words[data.counterIndex] = words[data.counterIndex]! + 1;
  if (words[data.ownerIndex] !== data.workerId) overlaps++;
  words[data.ownerIndex] = 0;
  mutex.unlock();
}
parentPort!.postMessage({ overlaps, contended: mutex.contended, sleeps: mutex.sleeps, wakes: mutex.wakes } satisfies MutexCounterResult);
