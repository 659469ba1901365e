/**
 * A hot standby (server/standby.ts) on a thread of its own, for `compare --replication` (harness/run.ts): the
 * primary's replicator talks to it over loopback as it would to a standby process, so a run measures the protocol,
 * the standby's journal and its fsyncs, on the same machine (said in the report).
 *
 * Contract: posts `listening` with its replication port; on `stop` it fsyncs and closes its journals and posts
 * `stopped` with every line it logged. It never promotes in a run (the primary stops cleanly, and the caller gives
 * it a generous `missedHeartbeats`); if it did, `stopped` says so.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { JournalMode } from '../journal/journal-mode.ts';
import { followAsStandby } from './standby.ts';

export interface StandbyWorkerTask {
  readonly dir: string;
  readonly design: string;
  readonly symbols: readonly string[];
  readonly maxOrders: number;
  readonly mode: JournalMode;
  readonly missedHeartbeats: number;
}

export type StandbyWorkerMessage =
  | { readonly type: 'listening'; readonly port: number }
  | { readonly type: 'stopped'; readonly lines: readonly string[]; readonly promoted: boolean };

const port = parentPort;
if (port === null) throw new Error('server/standby-worker.ts must run as a worker thread');
const task = workerData as StandbyWorkerTask;
const lines: string[] = [];
let promoted = false;
const follower = followAsStandby({
  dir: task.dir, design: task.design, symbols: task.symbols, maxOrders: task.maxOrders, mode: task.mode, port: 0, missedHeartbeats: task.missedHeartbeats,
  snapshotEvery: 0, snapshotAtStop: false, log: (line) => lines.push(line), onListening: (p) => port.postMessage({ type: 'listening', port: p } satisfies StandbyWorkerMessage),
  onError: (error) => {
    throw error;
  },
});
void follower.promoted.then((promotion) => {
  promoted = true;
  promotion.listener.close();
});
port.on('message', (message: { readonly type: 'stop' }) => {
  if (message.type !== 'stop') return;
  void follower.stop().then(() => {
    port.postMessage({ type: 'stopped', lines, promoted } satisfies StandbyWorkerMessage);
    port.close();
  });
});
