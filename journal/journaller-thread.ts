/**
 * The main-thread half of the journaller: turns publishing on in every sequence log of a started design, starts
 * the journaller thread (journal/journaller-worker.ts) on them, and stops it. The caller owns the inputs the
 * journaller reads (command records and senders by record index); this file makes the `durable` flags a producer
 * waits on in `group` and `sync` modes.
 *
 * Contract: `startJournaller` resolves once the journal's first segments exist (so a bad directory fails before
 * any command is sent); `stop()` resolves with the journaller's figures once everything sequenced so far is written
 * and the segments are closed; `close()` terminates the thread if it still runs (after a failure), and is safe to
 * call twice. Call `stop()` only once no command is being submitted any more.
 */
import { startThread } from '../engines/workers/start-thread.ts';
import { endThread } from '../engines/workers/end-thread.ts';
import type { SequenceLog } from '../engines/sequence-log.ts';
import { acknowledgesDurable, type JournalSettings } from './journal-mode.ts';
import type { JournallerInputs, JournallerStats } from './journaller.ts';

export const CONTROL_STOP = 0;

export type JournallerMessage = { readonly type: 'ready' } | { readonly type: 'done'; readonly stats: JournallerStats };

/** The journaller's inputs as the main thread has them: the logs themselves, and the buffers this file makes left out. */
export interface JournallerStart extends Omit<JournallerInputs, 'logs' | 'durable' | 'journaled'> {
  readonly logs: readonly SequenceLog[];
  /** How many record indexes there are (the durable flags' length). */
  readonly recordCount: number;
  /**
   * Whether the journaller sets the durable flags (default: when the mode acknowledges on disk). False when
   * something else decides when a command is durable from the `journaled` counts: the replicator in `sync`
   * replication (server/replicator.ts) waits for the standby too.
   */
  readonly setsDurable?: boolean;
}

export interface JournallerHandle {
  /** Uint8 per record index, 1 once on disk; null when acknowledgements do not wait for the disk. */
  readonly durable: SharedArrayBuffer | null;
  /** Int32 per log: the positions the journal holds (JournallerInputs.journaled). */
  readonly journaled: SharedArrayBuffer;
  stop(): Promise<JournallerStats>;
  close(): Promise<void>;
}

export async function startJournaller(start: JournallerStart, onError: (error: Error) => void): Promise<JournallerHandle> {
  const durable = (start.setsDurable ?? acknowledgesDurable(start.settings.mode)) ? new SharedArrayBuffer(start.recordCount) : null;
  const journaled = new SharedArrayBuffer(4 * start.logs.length);
  const control = new SharedArrayBuffer(4);
  for (const log of start.logs) log.publishForJournal();
  const inputs: JournallerInputs & { readonly control: SharedArrayBuffer } = {
    logs: start.logs.map((log) => log.region), dirs: start.dirs, firstSequences: start.firstSequences, design: start.design,
    symbols: start.symbols, records: start.records, sessions: start.sessions, clientSequences: start.clientSequences,
    durable, journaled, settings: start.settings, control,
  };
  const worker = startThread(new URL('./journaller-worker.ts', import.meta.url), { workerData: inputs });
  let done: ((stats: JournallerStats) => void) | undefined;
  let failed: ((error: Error) => void) | undefined;
  const finished = new Promise<JournallerStats>((resolve, reject) => { done = resolve; failed = reject; });
  finished.catch(() => {});
  let ready: (() => void) | undefined;
  const started = new Promise<void>((resolve, reject) => {
    ready = resolve;
    finished.catch(reject);
  });
  worker.on('message', (message: JournallerMessage) => {
    if (message.type === 'ready') ready!();
    else done!(message.stats);
  });
  worker.once('error', (error) => {
    const wrapped = new Error(`journaller (${start.settings.mode}, ${start.dirs.join(', ')}): ${error.stack ?? error.message}`);
    failed!(wrapped);
    onError(wrapped);
  });
  worker.once('exit', (code) => {
    failed!(new Error(`journaller exited (code ${code}) before reporting`));
  });
  try {
    await started;
  } catch (error) {
    await worker.terminate();
    throw error;
  }
  const stopWord = new Int32Array(control);
  return {
    durable,
    journaled,
    stop: async () => {
      Atomics.store(stopWord, CONTROL_STOP, 1);
      Atomics.notify(stopWord, CONTROL_STOP);
      return finished;
    },
    close: async () => {
      await endThread(worker);
    },
  };
}
