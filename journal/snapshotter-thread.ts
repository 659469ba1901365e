/**
 * The main-thread half of the snapshotter (journal/snapshotter-worker.ts): starts it beside a running design whose
 * sequence logs publish (a journaller runs), asks it for a snapshot on demand, and stops it; book-hash checkpoints
 * it takes (`hashEvery`) reach `onCheckpoint`.
 *
 * Contract: `startSnapshotter` resolves once the thread has its staging buffers (touched, so no copy page-faults);
 * `request()` makes every sequencer pause at its next command for a snapshot; `stop(final)` — call it only once no
 * command is being submitted and the journaller has finished — answers a pause in progress, with `final` writes a
 * last snapshot of every core, and resolves with every snapshot taken. Each snapshot also reaches `onSnapshot` as
 * it is written. `close()` (after a failure) releases any sequencer the thread had paused and terminates it.
 */
import { startThread } from '../engines/workers/start-thread.ts';
import { endThread } from '../engines/workers/end-thread.ts';
import type { FastCore } from '../engines/fast-core.ts';
import type { SequenceLog, SequenceLogRegion } from '../engines/sequence-log.ts';

/** Control words: stop, write final snapshots at stop, on-demand requests (a counter; waited on). */
export const CONTROL_STOP = 0;
export const CONTROL_FINAL = 1;
export const CONTROL_REQUESTS = 2;
const CONTROL_WORDS = 3;
/** Snapshots kept per journal directory (older ones are deleted). Two, so an unreadable newest one leaves a whole one. */
export const KEEP_SNAPSHOTS = 2;

/** One snapshot written, as the snapshotter measured it. */
export interface SnapshotTaken {
  /** Which sequence log (core) it is of. */
  readonly log: number;
  readonly sequence: number;
  readonly file: string;
  /** Written at stop, with the engines idle (no pause). */
  readonly final: boolean;
  readonly bytes: number;
  /** How long the sequencer slept, ns, as it measured (NaN when it never resumed; 0 for a final snapshot). */
  readonly pauseNs: number;
  /** The copy of the core inside that pause, ns. */
  readonly copyNs: number;
  /** Waiting for the journal to hold the commands, then encoding, writing and fsyncing, ms (off the engine). */
  readonly journalWaitMs: number;
  readonly writeMs: number;
}

/** A book hash taken at a multiple of the hash interval (for the standby's check, server/replicator.ts). */
export interface Checkpoint {
  readonly log: number;
  /** The hash covers exactly the records below this journal sequence. */
  readonly sequence: number;
  readonly hash: string;
}

export type SnapshotterMessage =
  | { readonly type: 'ready' }
  | { readonly type: 'snapshot'; readonly snapshot: SnapshotTaken }
  | { readonly type: 'checkpoint'; readonly checkpoint: Checkpoint }
  | { readonly type: 'done' };

export interface SnapshotterInputs {
  readonly logs: readonly SequenceLogRegion[];
  readonly cores: ReadonlyArray<{ readonly buffer: SharedArrayBuffer; readonly byteOffset: number }>;
  /** One journal directory per log: its snapshots go to DIR/snapshots/. */
  readonly dirs: readonly string[];
  /** The journal sequence of each log's position 0. */
  readonly firstSequences: readonly number[];
  readonly design: string;
  readonly symbols: readonly string[];
  /** Per log, the sessions its state already holds (recovered): [session, last client sequence]. */
  readonly initialSessions: ReadonlyArray<ReadonlyArray<readonly [number, number]>>;
  /** Uint32 / Float64 per record index: each command's sender (as the journaller reads them). */
  readonly sessions: SharedArrayBuffer;
  readonly clientSequences: SharedArrayBuffer;
  /** The journaller's per-log count of positions on disk (JournallerHandle.journaled). */
  readonly journaled: SharedArrayBuffer;
  /** A snapshot at every multiple of this journal sequence (0: only on demand and at stop). */
  readonly every: number;
  /**
   * A book hash (no snapshot file) at every multiple of this journal sequence (0: none): the same pause, the
   * hash taken from the copy off the engine. For a hot standby's check (server/replication-protocol.ts CHECKPOINT).
   */
  readonly hashEvery: number;
  readonly control: SharedArrayBuffer;
}

export interface SnapshotterStart extends Omit<SnapshotterInputs, 'logs' | 'cores' | 'control'> {
  readonly logs: readonly SequenceLog[];
  readonly cores: readonly FastCore[];
}

export interface SnapshotterHandle {
  request(): void;
  stop(final: boolean): Promise<SnapshotTaken[]>;
  close(): Promise<void>;
}

export async function startSnapshotter(
  start: SnapshotterStart, onSnapshot: (snapshot: SnapshotTaken) => void, onError: (error: Error) => void, onCheckpoint: (checkpoint: Checkpoint) => void = () => {},
): Promise<SnapshotterHandle> {
  const control = new Int32Array(new SharedArrayBuffer(4 * CONTROL_WORDS));
  const cores = start.cores.map((core) => {
    if (!(core.buffer instanceof SharedArrayBuffer)) throw new Error('snapshotter: a core that is not in shared memory cannot be copied by another thread');
    return { buffer: core.buffer, byteOffset: core.byteOffset };
  });
  const inputs: SnapshotterInputs = { ...start, logs: start.logs.map((log) => log.region), cores, control: control.buffer as SharedArrayBuffer };
  const worker = startThread(new URL('./snapshotter-worker.ts', import.meta.url), { workerData: inputs });
  const taken: SnapshotTaken[] = [];
  let ready: (() => void) | undefined;
  let done: (() => void) | undefined;
  let failed: ((error: Error) => void) | undefined;
  const finished = new Promise<void>((resolve, reject) => { done = resolve; failed = reject; });
  finished.catch(() => {});
  const started = new Promise<void>((resolve, reject) => {
    ready = resolve;
    finished.catch(reject);
  });
  /** The thread reported its end, failed (already told), or is being terminated by `close`: an exit is no news. */
  let expectedExit = false;
  // A sequencer must never sleep at a pause point nobody will answer: a snapshotter that dies releases them all.
  const releaseAll = (): void => {
    for (const log of start.logs) log.release();
  };
  worker.on('message', (message: SnapshotterMessage) => {
    if (message.type === 'ready') ready!();
    else if (message.type === 'snapshot') {
      taken.push(message.snapshot);
      onSnapshot(message.snapshot);
    } else if (message.type === 'checkpoint') {
      onCheckpoint(message.checkpoint);
    } else {
      expectedExit = true;
      done!();
    }
  });
  worker.once('error', (error) => {
    expectedExit = true;
    releaseAll();
    const wrapped = new Error(`snapshotter (${start.dirs.join(', ')}): ${error.stack ?? error.message}`);
    failed!(wrapped);
    onError(wrapped);
  });
  worker.once('exit', (code) => {
    if (expectedExit) return;
    releaseAll();
    const error = new Error(`snapshotter (${start.dirs.join(', ')}) exited (code ${code}) before reporting`);
    failed!(error);
    onError(error);
  });
  try {
    await started;
  } catch (error) {
    await worker.terminate();
    throw error;
  }
  return {
    request: () => {
      Atomics.add(control, CONTROL_REQUESTS, 1);
      Atomics.notify(control, CONTROL_REQUESTS);
    },
    stop: async (final) => {
      Atomics.store(control, CONTROL_FINAL, final ? 1 : 0);
      Atomics.store(control, CONTROL_STOP, 1);
      Atomics.notify(control, CONTROL_REQUESTS);
      await finished;
      return taken;
    },
    close: async () => {
      expectedExit = true;
      releaseAll();
      await endThread(worker);
    },
  };
}
