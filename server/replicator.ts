/**
 * The main-thread half of the replicator (server/replicator-worker.ts): starts it beside a primary's journaller,
 * relays the snapshotter's checkpoints to it, turns its reports into serve's log lines, and stops it.
 *
 * Contract: `startReplicator` returns at once (the thread connects in the background and keeps reconnecting);
 * `firstContact` resolves with 'welcomed' when a standby first answered, or 'fenced' when it answered with a higher
 * epoch (the caller must then never take a command). `durable` is the flag array the producers wait on in `sync`
 * replication (null in `async`). `stop()` — once no command is submitted and the journaller finished — resolves with
 * the summary; `close()` terminates the thread after a failure. Every report reaches `onReport` as a log line; a
 * FENCED answer also reaches `onFenced`.
 */
import { startThread } from '../engines/workers/start-thread.ts';
import type { SequenceLog } from '../engines/sequence-log.ts';
import type { ReplicationSummary, ReplicatorInputs, ReplicatorMessage, ReplicatorRequest } from './replicator-worker.ts';

export type ReplicationMode = 'sync' | 'async';
export const REPLICATION_MODES: readonly ReplicationMode[] = ['sync', 'async'];

export function parseReplicationMode(text: string, where: string): ReplicationMode {
  if ((REPLICATION_MODES as readonly string[]).includes(text)) return text as ReplicationMode;
  throw new Error(`${where}: '${text}' is not a replication mode; expected one of ${REPLICATION_MODES.join(', ')}`);
}

export interface ReplicatorStart extends Omit<ReplicatorInputs, 'logs' | 'durable'> {
  readonly logs: readonly SequenceLog[];
  /** Record indexes there are (the durable flags' length). */
  readonly recordCount: number;
}

export interface ReplicatorHandle {
  readonly mode: ReplicationMode;
  readonly durable: SharedArrayBuffer | null;
  readonly firstContact: Promise<'welcomed' | 'fenced'>;
  checkpoint(journal: number, sequence: number, hash: string): void;
  stop(): Promise<ReplicationSummary>;
  close(): Promise<void>;
}

/** The line serve logs when its standby first holds everything acknowledged (the failover test waits for it). */
export const IN_SYNC_PREFIX = 'serve: replication: standby ';
export const IN_SYNC_SUFFIX = ' in sync';

export function startReplicator(start: ReplicatorStart, onReport: (line: string) => void, onFenced: (message: string) => void, onError: (error: Error) => void): ReplicatorHandle {
  const { recordCount, logs, ...rest } = start;
  const durable = start.mode === 'sync' ? new SharedArrayBuffer(recordCount) : null;
  const inputs: ReplicatorInputs = { ...rest, logs: logs.map((log) => log.region), durable };
  const worker = startThread(new URL('./replicator-worker.ts', import.meta.url), { workerData: inputs });
  let contact: ((outcome: 'welcomed' | 'fenced') => void) | undefined;
  const firstContact = new Promise<'welcomed' | 'fenced'>((resolve) => { contact = resolve; });
  let stopped: ((summary: ReplicationSummary) => void) | undefined;
  let failed: ((error: Error) => void) | undefined;
  const finished = new Promise<ReplicationSummary>((resolve, reject) => { stopped = resolve; failed = reject; });
  finished.catch(() => {});
  let exited = false;
  let lastLagLine = '';
  worker.on('message', (message: ReplicatorMessage) => {
    switch (message.type) {
      case 'welcomed':
        onReport(`serve: replication (${start.mode}): standby ${message.standby} answered, holding journal sequence ${message.next.join(', ')}`);
        contact!('welcomed');
        break;
      case 'in-sync':
        onReport(`${IN_SYNC_PREFIX}${message.standby}${IN_SYNC_SUFFIX} after ${message.afterMs.toFixed(0)} ms (${start.mode}: ${start.mode === 'sync' ? 'from now on no command is acknowledged before it holds it' : 'it follows with a lag'})`);
        break;
      case 'disconnected':
        onReport(`serve: replication: standby ${message.standby} lost: ${message.reason}${start.mode === 'sync' ? ' (sync: acknowledgements wait for it)' : ''}`);
        break;
      case 'fenced':
        contact!('fenced');
        onFenced(message.message);
        break;
      case 'standby-error':
        onReport(`serve: replication: ${message.message}`);
        break;
      case 'lag': {
        // One line a second while there is a lag to report, so an idle server's log stays quiet.
        const line = message.connected ? `serve: replication lag (${start.mode}): max ${message.commands} commands, ${(message.us / 1000).toFixed(2)} ms over the last second` : '';
        if (message.connected && (message.commands > 0 || line !== lastLagLine)) onReport(line);
        lastLagLine = line;
        break;
      }
      case 'stopped':
        stopped!(message.summary);
        break;
    }
  });
  worker.once('error', (error) => {
    const wrapped = new Error(`replicator (to ${start.host}:${start.port}): ${error.stack ?? error.message}`);
    failed!(wrapped);
    onError(wrapped);
  });
  worker.once('exit', (code) => {
    exited = true;
    failed!(new Error(`replicator exited (code ${code}) before reporting`));
  });
  const post = (request: ReplicatorRequest): void => worker.postMessage(request);
  return {
    mode: start.mode,
    durable,
    firstContact,
    checkpoint: (journal, sequence, hash) => post({ type: 'checkpoint', journal, sequence, hash }),
    stop: async () => {
      post({ type: 'stop' });
      return finished;
    },
    close: async () => {
      if (!exited) await worker.terminate();
    },
  };
}
