import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { endThread } from '../engines/workers/end-thread.ts';

/** The exit code a thread ended with: 0 when it ended by itself, 1 when it was terminated. */
function exitCodeOf(worker: Worker): Promise<number> {
  return new Promise((resolve) => worker.once('exit', resolve));
}

describe('endThread', () => {
  it('lets a thread that has reported end by itself (not terminated)', async () => {
    const worker = new Worker(`require('node:worker_threads').parentPort.postMessage('done')`, { eval: true });
    const code = exitCodeOf(worker);
    await new Promise((resolve) => worker.once('message', resolve));
    await endThread(worker);
    expect(await code).toBe(0);
  });

  it('returns at once for a thread that has already gone', async () => {
    const worker = new Worker(`0`, { eval: true });
    await exitCodeOf(worker);
    await endThread(worker);
    expect(worker.threadId).toBe(-1);
  });

  it('terminates a thread that keeps running past the grace period', async () => {
    const worker = new Worker(`setInterval(() => {}, 1000)`, { eval: true });
    const code = exitCodeOf(worker);
    await endThread(worker);
    expect(await code).toBe(1);
  });
});
