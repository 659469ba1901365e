/**
 * Ending a worker thread whose work is over: wait for it to end by itself, and terminate it only if it has not within
 * a grace period (a wedged or still-running thread on an error path).
 *
 * Why not simply `terminate()`: a thread that has posted its last message is already tearing down, and terminating
 * it then races Node's own teardown of its isolate while the process starts the next threads (nodejs/node#56312, a
 * segfault with workers terminated while others start); a thread that ends by itself takes the path Node exercises
 * every day. (The test processes CI saw die as "Worker exited unexpectedly" died of another V8 abort, caught in a core
 * dump later: see start-thread.ts.)
 * For threads that end once they have reported (the producers, the core-alone run, the probe, the journal's threads,
 * a design's engine workers). A thread that keeps listening after it reports (a server's connection workers, the
 * replicator) never ends by itself: those are terminated directly.
 */
import type { Worker } from 'node:worker_threads';

const END_GRACE_MS = 2000;

export async function endThread(worker: Worker): Promise<void> {
  // -1 once the thread has gone (Node sets it before 'exit' is emitted): nothing to wait for.
  if (worker.threadId === -1) return;
  let timer: NodeJS.Timeout | undefined;
  const ended = await Promise.race([
    new Promise<true>((resolve) => worker.once('exit', () => resolve(true))),
    new Promise<false>((resolve) => { timer = setTimeout(() => resolve(false), END_GRACE_MS); }),
  ]);
  clearTimeout(timer);
  if (!ended) await worker.terminate();
}
