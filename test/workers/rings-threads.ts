/**
 * Thread plumbing for the ring and mutex tests: start a `.ts` worker (Node 24 strips the types itself, vitest is not
 * involved in the worker), await its one result message, and let a polling main thread yield to its event loop so
 * a worker's 'error' event is seen instead of the main thread spinning forever.
 */
import type { Worker } from 'node:worker_threads';
import { startThread } from '../../engines/workers/start-thread.ts';
import { endThread } from '../../engines/workers/end-thread.ts';

export interface RunningWorker<T> {
  readonly worker: Worker;
  /** The worker's first message; rejects on an uncaught error or an exit before any message. */
  readonly result: Promise<T>;
  /** Set once `result` settles. */
  readonly settled: () => boolean;
}

const running = new Set<Worker>();

export function startWorker<T>(file: string, workerData: unknown): RunningWorker<T> {
  const worker = startThread(new URL(file, import.meta.url), { workerData });
  running.add(worker);
  worker.once('exit', () => running.delete(worker));
  let done = false;
  const result = new Promise<T>((resolve, reject) => {
    worker.once('message', (message: T) => resolve(message));
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`worker ${file} exited with code ${code} before reporting`)));
  });
  result.then(() => { done = true; }, () => { done = true; });
  return { worker, result, settled: () => done };
}

/** Lets timers, worker messages and worker errors through on a main thread that polls shared memory. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Rejects as soon as any worker fails, so a polling loop can race it against its own progress. */
export async function throwIfFailed(workers: readonly RunningWorker<unknown>[]): Promise<void> {
  for (const w of workers) if (w.settled()) await w.result;
}

/** Stops every worker still running (after a failed or timed-out test), so a spinning worker cannot slow the next. */
export async function terminateWorkers(): Promise<void> {
  await Promise.all([...running].map(endThread));
}
