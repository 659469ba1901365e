/**
 * The main-thread half of a standby on a thread (server/standby-worker.ts): starts it, resolves once its
 * replication port listens, stops it. For `compare --replication` (harness/run.ts), where a process pair would
 * put the standby outside the run's measurement of CPU and memory; `serve --standby` runs it on its main thread.
 */
import { startThread } from '../engines/workers/start-thread.ts';
import { endThread } from '../engines/workers/end-thread.ts';
import type { StandbyWorkerMessage, StandbyWorkerTask } from './standby-worker.ts';

export interface StandbyThread {
  readonly port: number;
  /** Stops it (journals fsynced and closed); resolves with what it logged and whether it ever promoted itself. */
  stop(): Promise<{ readonly lines: readonly string[]; readonly promoted: boolean }>;
  close(): Promise<void>;
}

export async function startStandbyThread(task: StandbyWorkerTask, onError: (error: Error) => void): Promise<StandbyThread> {
  const worker = startThread(new URL('./standby-worker.ts', import.meta.url), { workerData: task });
  let stopped: ((result: { lines: readonly string[]; promoted: boolean }) => void) | undefined;
  const done = new Promise<{ lines: readonly string[]; promoted: boolean }>((resolve) => { stopped = resolve; });
  const port = await new Promise<number>((resolve, reject) => {
    worker.on('message', (message: StandbyWorkerMessage) => {
      if (message.type === 'listening') resolve(message.port);
      else stopped!({ lines: message.lines, promoted: message.promoted });
    });
    worker.once('error', (error) => {
      const wrapped = new Error(`standby thread (${task.dir}): ${error.stack ?? error.message}`);
      reject(wrapped);
      onError(wrapped);
    });
  });
  return {
    port,
    stop: async () => {
      worker.postMessage({ type: 'stop' });
      return done;
    },
    close: async () => {
      await endThread(worker);
    },
  };
}
