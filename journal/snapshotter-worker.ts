/**
 * The snapshotter thread: takes a snapshot (journal/snapshot.ts) of every sequencer's core every N commands and on
 * demand, pausing the engine only for one copy of its core, and writes it from here, off every matching thread.
 * Started and stopped by journal/snapshotter-thread.ts.
 *
 * Contract:
 * - Pause points: for each sequence log it arms `pauseAt` at the next sequence that is a multiple of `every`
 *   (counted in journal sequence numbers, so they stay put across restarts), or at the next command on demand. The
 *   sequencer sleeps in its append at that count (engines/sequence-log.ts); this thread copies the core into a
 *   staging buffer it touched up front (no page faults during the copy), releases the sequencer, and only then
 *   encodes and writes, asynchronously (a log is armed again once its write ends). It sleeps in `Atomics.waitAsync` on every armed log's `paused` word and on the control
 *   word at once, so a pause is answered at once whichever sequencer reaches its point.
 * - The session table of a snapshot is the log's own: the sessions it started with (recovered), then the
 *   highest client sequence of every command the log holds up to the pause, read from the sender arrays by record
 *   index. So each of a sharded design's snapshots is exact for its shard.
 * - A snapshot never covers a command the journal lacks: before writing, it waits until the journaller's
 *   `journaled` count for that log reaches the pause (fsynced in group and sync modes), since recovery refuses a
 *   snapshot beyond its journal.
 * - Keeps the newest KEEP_SNAPSHOTS snapshots of each journal and deletes older ones (the journal keeps every
 *   segment: the resend of old events replays it from the start).
 * - Checkpoints: with `hashEvery`, the periodic pause points are also the multiples of `hashEvery`; at one, the
 *   book hash of the copy is computed here and reported (no file is written unless it is a snapshot point too).
 * - On the stop word it disarms every log, answers a pause already taken, and (when asked) writes a last
 *   snapshot of every core at its final count — the caller stops the engines and the journaller first — then
 *   reports. Every snapshot is also reported as it is written.
 */
import { statSync, unlinkSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { bookHashOfCores } from '../engines/core-inspect.ts';
import { FastCore } from '../engines/fast-core.ts';
import { PAUSED_WORD, SequenceLog } from '../engines/sequence-log.ts';
import { copyCoreRegion, snapshotFiles, writeSnapshot } from './snapshot.ts';
import { CONTROL_FINAL, CONTROL_REQUESTS, CONTROL_STOP, KEEP_SNAPSHOTS, type SnapshotterInputs, type SnapshotterMessage, type SnapshotTaken } from './snapshotter-thread.ts';

/** Longest single wait, ms: bounds how long a missed pause point (a count armed too late) stays missed. */
const WAIT_MS = 200;
/** How often the journaled count is looked at while a copy waits for the journal, ms. */
const JOURNAL_POLL_MS = 1;
/** How long a released sequencer may take to report its pause, ms. */
const RESUME_WAIT_MS = 1000;

const port = parentPort;
if (port === null) throw new Error('journal/snapshotter-worker.ts must run as a worker thread');
const task = workerData as SnapshotterInputs;
const control = new Int32Array(task.control);
const journaled = new Int32Array(task.journaled);
const sessionOf = new Uint32Array(task.sessions);
const clientSequenceOf = new Float64Array(task.clientSequences);

interface LogState {
  readonly k: number;
  readonly log: SequenceLog;
  readonly core: FastCore;
  readonly staging: Uint8Array;
  readonly sessions: Map<number, number>;
  /** Log positions below this are folded into `sessions`. */
  folded: number;
  /** The count `pauseAt` is armed at (0: not armed). */
  armedAt: number;
  /** The armed pause answers a demand (a snapshot whatever the count). */
  demanded: boolean;
  /** The write of its staging buffer to a snapshot file, while one runs. */
  write: Promise<void> | null;
}

const states: LogState[] = task.logs.map((region, k) => {
  const core = FastCore.attach(task.cores[k]!.buffer, task.cores[k]!.byteOffset);
  const staging = new Uint8Array(core.layout.totalBytes);
  staging.fill(1);
  staging.fill(0);
  return { k, log: SequenceLog.attach(region), core, staging, sessions: new Map(task.initialSessions[k]!), folded: 0, armedAt: 0, demanded: false, write: null };
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function arm(s: LogState, count: number, demanded: boolean): void {
  s.armedAt = count;
  s.demanded = demanded;
  s.log.pauseAt(count);
}

/** The count of the next periodic pause point (snapshot or checkpoint) after the log's current count (0: none). */
function nextPeriodicCount(s: LogState): number {
  const sequence = task.firstSequences[s.k]! + s.log.publishedLength();
  const next = (every: number): number => (every === 0 ? Infinity : (Math.floor(sequence / every) + 1) * every);
  const at = Math.min(next(task.every), next(task.hashEvery));
  return at === Infinity ? 0 : at - task.firstSequences[s.k]!;
}

function isMultiple(sequence: number, every: number): boolean {
  return every > 0 && sequence % every === 0;
}

function foldSessions(s: LogState, upTo: number): void {
  for (let i = s.folded; i < upTo; i++) {
    const record = s.log.at(i);
    const session = sessionOf[record]!;
    if (session === 0) continue;
    const last = s.sessions.get(session);
    const clientSequence = clientSequenceOf[record]!;
    if (last === undefined || clientSequence > last) s.sessions.set(session, clientSequence);
  }
  s.folded = upTo;
}

/**
 * Copies the still core of `s` at `count` commands (the caller releases the sequencer right after), and folds the
 * log's senders up to `count` into its session table — after the release is fine: log positions and the senders of
 * sequenced commands never change.
 */
function copy(s: LogState, count: number): { readonly core: Uint8Array; readonly copyNs: number; sessions(): Map<number, number> } {
  const started = performance.now();
  const core = copyCoreRegion(s.core, s.staging);
  const copyNs = (performance.now() - started) * 1e6;
  return {
    core, copyNs,
    sessions: () => {
      foldSessions(s, count);
      return new Map(s.sessions);
    },
  };
}

async function write(s: LogState, count: number, taken: ReturnType<typeof copy>, pauseOf: () => Promise<number>, final: boolean): Promise<void> {
  const pauseNs = await pauseOf();
  const waitStarted = performance.now();
  while (Atomics.load(journaled, s.k) < count) await sleep(JOURNAL_POLL_MS);
  const started = performance.now();
  const sequence = task.firstSequences[s.k]! + count;
  const file = await writeSnapshot(task.dirs[s.k]!, { design: task.design, symbols: task.symbols, sequence, sessions: taken.sessions(), core: taken.core });
  const writeMs = performance.now() - started;
  for (const old of snapshotFiles(task.dirs[s.k]!).slice(KEEP_SNAPSHOTS)) unlinkSync(old);
  const snapshot: SnapshotTaken = {
    log: s.k, sequence, file, final, bytes: statSync(file).size, pauseNs, copyNs: taken.copyNs,
    journalWaitMs: started - waitStarted, writeMs,
  };
  port!.postMessage({ type: 'snapshot', snapshot } satisfies SnapshotterMessage);
}

/** One write per log at most: a log is not armed again before its write ends. */
function startWrite(s: LogState, run: Promise<void>): void {
  s.write = run.finally(() => {
    s.write = null;
  });
}

function writesInProgress(): Promise<void>[] {
  return states.flatMap((s) => (s.write === null ? [] : [s.write]));
}

/** Answers the pause `s` sleeps in: copy, release, then (off the engine's time) the journal wait and the write. */
function takePaused(s: LogState): void {
  const count = s.log.publishedLength();
  const before = s.log.pauses().count;
  const taken = copy(s, count);
  const demanded = s.demanded;
  s.armedAt = 0;
  s.demanded = false;
  s.log.release();
  const sequence = task.firstSequences[s.k]! + count;
  const writes = demanded || isMultiple(sequence, task.every);
  // A checkpoint-only pause arms the next point before hashing, so a burst of commands cannot run past it meanwhile.
  if (!writes) arm(s, nextPeriodicCount(s), false);
  if (isMultiple(sequence, task.hashEvery)) {
    const hash = bookHashOfCores([FastCore.attach(taken.core.buffer, taken.core.byteOffset)], task.symbols);
    port!.postMessage({ type: 'checkpoint', checkpoint: { log: s.k, sequence, hash } } satisfies SnapshotterMessage);
  }
  if (!writes) return;
  // The sequencer writes its pause's length once it runs again (NaN: it never did, its thread was stopped).
  const pauseOf = async (): Promise<number> => {
    for (let i = 0; s.log.pauses().count === before && i < RESUME_WAIT_MS; i++) await sleep(1);
    return s.log.pauses().count === before ? Number.NaN : s.log.pauses().lastNs;
  };
  startWrite(s, write(s, count, taken, pauseOf, false));
}

// Ready only once the first pause points are armed: serve listens on this message, and a first command that
// passed an unarmed point would go unpaused (a checkpoint missed, with a thread descheduled between the two).
for (const s of states) arm(s, nextPeriodicCount(s), false);
port.postMessage({ type: 'ready' } satisfies SnapshotterMessage);

// Atomics.waitAsync does not keep a thread's event loop alive; this timer does, until the loop below ends.
const keepAlive = setInterval(() => {}, 1 << 30);
let requestsSeen = Atomics.load(control, CONTROL_REQUESTS);
for (;;) {
  if (Atomics.load(control, CONTROL_STOP) !== 0) break;
  const requests = Atomics.load(control, CONTROL_REQUESTS);
  const demanded = requests !== requestsSeen;
  requestsSeen = requests;
  for (const s of states) {
    // A pause answered with no file to write (a checkpoint) is armed again at once, not a wait later.
    if (s.log.isPaused()) takePaused(s);
    // Its staging buffer is being written: armed again once the write ends (a demand made meanwhile is met by it).
    if (s.write !== null) continue;
    const published = s.log.publishedLength();
    if (demanded) arm(s, published + 1, true);
    // Not armed yet, or armed too late (the sequencer passed the count before it saw it).
    else if (s.armedAt === 0 || s.armedAt <= published) arm(s, nextPeriodicCount(s), false);
  }
  const control$ = Atomics.waitAsync(control, CONTROL_REQUESTS, requests, WAIT_MS);
  if (!control$.async) continue;
  const waits: Promise<unknown>[] = [control$.value, ...writesInProgress()];
  let pausedAlready = false;
  for (const s of states) {
    if (s.armedAt === 0) continue;
    const paused$ = Atomics.waitAsync(s.log.header, PAUSED_WORD, 0, WAIT_MS);
    if (!paused$.async) pausedAlready = true;
    else waits.push(paused$.value);
  }
  if (!pausedAlready) await Promise.race(waits);
}

for (const s of states) {
  s.log.pauseAt(0);
  s.armedAt = 0;
  if (s.log.isPaused()) takePaused(s);
}
await Promise.all(writesInProgress());
if (Atomics.load(control, CONTROL_FINAL) !== 0) {
  for (const s of states) {
    const count = s.log.publishedLength();
    await write(s, count, copy(s, count), async () => 0, true);
  }
}
clearInterval(keepAlive);
port.postMessage({ type: 'done' } satisfies SnapshotterMessage);
