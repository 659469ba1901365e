/**
 * The replicator thread of a primary (started by server/replicator.ts): streams every command its design sequences
 * to the hot standby (server/standby.ts) over the replication protocol (server/replication-protocol.ts), as the
 * journaller streams them to disk, and in `sync` replication decides when a command may be acknowledged.
 *
 * Contract:
 * - Connects to the standby, says HELLO (epoch, the epoch's start, the setup's CRC, the hash interval), and from
 *   the standby's WELCOME sends each journal's records in sequence order from where the standby stands: records
 *   older than this process's first come from the journal on disk (catch-up), later ones straight from the
 *   sequence log and the record arena (live), as soon as sequenced (so the standby journals them while this node's
 *   journaller does). Reconnects after a drop, and after hearing nothing for `missedHeartbeats` intervals.
 * - `sync`: sets `durable[record] = 1` once the command is in this node's journal (the `journaled` counts, in its
 *   journal mode) and in the standby's (its ACKs). Until its first standby has caught up, a primary acknowledges on
 *   its own journal alone (standalone: a promoted standby whose old primary is dead must take commands); once a
 *   standby holds everything acknowledged, the standby is told so (HEARTBEAT IN_SYNC, which makes it eligible to
 *   promote itself) and from then on nothing is acknowledged without the standby, also while it is away. `async`:
 *   acknowledgements never wait; the lag is measured.
 * - Lag, sampled every heartbeat: commands sequenced and not acknowledged by the standby, and the age of the oldest
 *   of them (µs since it was sent); reported to the main thread once a second and summarised at stop.
 * - A standby with a higher epoch answers FENCED: this primary is stale, reported as `fenced`, never reconnects.
 * - Checkpoints (book hashes the snapshotter takes at multiples of the hash interval) go out as they arrive.
 * - On `stop` (the engine idle, the journaller finished) it sends what is left, waits up to STOP_DRAIN_MS for the
 *   standby's ACKs, says STOPPING (a clean stop: the standby stays a standby) and reports.
 */
import { connect, type Socket } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import { SequenceLog, SEQUENCE_COUNT_WORD, type SequenceLogRegion } from '../engines/sequence-log.ts';
import { SLEEPERS_WORD } from '../engines/shared/wait-strategy.ts';
import { JOURNAL_RECORD_BYTES, REC_OFF_CLIENT_SEQUENCE, REC_OFF_SESSION } from '../journal/format.ts';
import { readJournal } from '../journal/reader.ts';
import { RECORD_BYTES } from '../workloads/workload.ts';
import {
  encodeCheckpoint, encodeHeartbeat, encodeHello, encodeReplicationError, HEARTBEAT_IN_SYNC, HEARTBEAT_STOPPING, MAX_RECORDS_PER_FRAME,
  R_ACK, R_ERROR, R_HEARTBEAT, R_NONE, R_WELCOME, RECORDS_OFF_RECORDS, recordsFrameBytes, ReplicationError, ReplicationReader,
  replicationErrorName, RERR_DIVERGED, RERR_FENCED, sealRecords, setupCrc,
} from './replication-protocol.ts';
import type { ReplicationMode } from './replicator.ts';
import { peerSilence } from './peer-silence.ts';


export interface ReplicatorInputs {
  readonly logs: readonly SequenceLogRegion[];
  /** Journal sequence of each log's position 0. */
  readonly firstSequences: readonly number[];
  readonly records: SharedArrayBuffer;
  readonly sessions: SharedArrayBuffer;
  readonly clientSequences: SharedArrayBuffer;
  /** The journaller's per-log counts of positions in the journal (notified). */
  readonly journaled: SharedArrayBuffer;
  /** sync: Uint8 per record index, set here; async: null. */
  readonly durable: SharedArrayBuffer | null;
  readonly journalDirs: readonly string[];
  readonly host: string;
  readonly port: number;
  readonly mode: ReplicationMode;
  readonly heartbeatMs: number;
  readonly missedHeartbeats: number;
  readonly epoch: number;
  readonly epochStarts: readonly number[];
  readonly design: string;
  readonly symbols: readonly string[];
  readonly hashInterval: number;
}

export interface ReplicationSummary {
  readonly recordsSent: number;
  readonly connections: number;
  /** Lag samples (one per heartbeat while connected): commands and µs, p50/p99/max. */
  readonly lagCommands: { readonly p50: number; readonly p99: number; readonly max: number };
  readonly lagUs: { readonly p50: number; readonly p99: number; readonly max: number };
  /** The standby acknowledged everything at stop. */
  readonly drained: boolean;
}

export type ReplicatorMessage =
  | { readonly type: 'welcomed'; readonly standby: string; readonly next: readonly number[] }
  | { readonly type: 'in-sync'; readonly standby: string; readonly afterMs: number }
  | { readonly type: 'disconnected'; readonly standby: string; readonly reason: string }
  | { readonly type: 'fenced'; readonly message: string }
  | { readonly type: 'standby-error'; readonly message: string }
  | { readonly type: 'lag'; readonly commands: number; readonly us: number; readonly connected: boolean }
  | { readonly type: 'stopped'; readonly summary: ReplicationSummary };

export type ReplicatorRequest =
  | { readonly type: 'checkpoint'; readonly journal: number; readonly sequence: number; readonly hash: string }
  | { readonly type: 'stop' };

const STOP_DRAIN_MS = 5000;
const RECONNECT_MAX_MS = 1000;
const COMMAND_WORDS = RECORD_BYTES / 4;
const JOURNAL_WORDS = JOURNAL_RECORD_BYTES / 4;

const port = parentPort;
if (port === null) throw new Error('server/replicator-worker.ts must run as a worker thread');
const task = workerData as ReplicatorInputs;
const K = task.logs.length;
const logs = task.logs.map((region) => SequenceLog.attach(region));
const commandWords = new Uint32Array(task.records);
const sessionOf = new Uint32Array(task.sessions);
const clientSequenceOf = new Float64Array(task.clientSequences);
const journaled = new Int32Array(task.journaled);
const durable = task.durable === null ? null : new Uint8Array(task.durable);
const standbyLabel = `${task.host}:${task.port}`;

/** Per log: the next journal sequence to send, the standby's ACK, the next log position to release. */
const sent = new Array<number>(K).fill(0);
const acked = new Array<number>(K).fill(0);
const released = new Array<number>(K).fill(0);
/** Per log, batches sent and not acknowledged: their end sequence and when they went out. */
const inFlight: Array<Array<readonly [number, number]>> = Array.from({ length: K }, () => []);
let socket: Socket | null = null;
let reader: ReplicationReader | null = null;
let welcomed = false;
let inSync = false;
/** Until a standby first holds everything acknowledged (sync), this node acknowledges on its own journal. */
let standalone = true;
let fenced = false;
let stopping = false;
let connectedAt = 0;
let lastHeardMs = 0;
let connections = 0;
let recordsSent = 0;
let reconnectMs = task.heartbeatMs;
const lagCommandSamples: number[] = [];
const lagUsSamples: number[] = [];
let secondMaxCommands = 0;
let secondMaxUs = 0;
let wake: (() => void) | null = null;

function post(message: ReplicatorMessage): void {
  port!.postMessage(message);
}

function poke(): void {
  const w = wake;
  wake = null;
  w?.();
}

function sequenced(k: number): number {
  return task.firstSequences[k]! + logs[k]!.publishedLength();
}

function send(bytes: Uint8Array): void {
  if (socket !== null && !socket.destroyed) socket.write(bytes);
}

function drop(reason: string): void {
  if (socket === null) return;
  const was = socket;
  socket = null;
  reader = null;
  was.destroy();
  if (welcomed) post({ type: 'disconnected', standby: standbyLabel, reason });
  welcomed = false;
  inSync = false;
  for (const f of inFlight) f.length = 0;
  if (!stopping && !fenced) {
    setTimeout(open, reconnectMs);
    reconnectMs = Math.min(RECONNECT_MAX_MS, reconnectMs * 2);
  }
}

function open(): void {
  if (stopping || fenced || socket !== null) return;
  const s = connect({ host: task.host, port: task.port });
  socket = s;
  lastHeardMs = performance.now();
  reader = ReplicationReader.atPrimary(`${standbyLabel} (to the standby)`, K);
  s.setNoDelay(true);
  s.on('connect', () => {
    connections++;
    lastHeardMs = performance.now();
    send(encodeHello({ journals: K, hashInterval: task.hashInterval, epoch: task.epoch, heartbeatMs: task.heartbeatMs, setupCrc: setupCrc(task.design, task.symbols), starts: task.epochStarts }));
  });
  s.on('data', (chunk: Buffer) => {
    if (socket !== s) return;
    lastHeardMs = performance.now();
    try {
      reader!.push(chunk);
      for (let type = reader!.next(); type !== R_NONE; type = socket === s ? reader!.next() : R_NONE) onFrame(type);
    } catch (error) {
      if (!(error instanceof ReplicationError)) throw error;
      send(encodeReplicationError(error.code, error.message));
      drop(error.message);
    }
    poke();
  });
  s.on('drain', poke);
  s.on('error', (error) => drop(error.message));
  s.on('close', () => drop('the connection closed'));
}

function onFrame(type: number): void {
  const r = reader!;
  if (type === R_ERROR) {
    const message = `the standby ${standbyLabel} answered ${replicationErrorName(r.errorCode())}: ${r.errorMessage()}`;
    if (r.errorCode() === RERR_FENCED) {
      fenced = true;
      post({ type: 'fenced', message });
    } else {
      post({ type: 'standby-error', message });
    }
    drop(message);
    return;
  }
  if (type === R_WELCOME) {
    const next = r.nextSequences();
    for (let k = 0; k < K; k++) {
      if (next[k]! > sequenced(k)) {
        const message = `the standby holds journal ${k} up to sequence ${next[k]}, and this primary has sequenced only up to ${sequenced(k)}: it holds records this primary never had`;
        send(encodeReplicationError(RERR_DIVERGED, message));
        post({ type: 'standby-error', message: `standby ${standbyLabel} diverged: ${message}` });
        drop(message);
        return;
      }
    }
    for (let k = 0; k < K; k++) {
      sent[k] = next[k]!;
      acked[k] = next[k]!;
      r.expect(k, next[k]!);
    }
    welcomed = true;
    connectedAt = performance.now();
    post({ type: 'welcomed', standby: standbyLabel, next });
    catchUpFromDisk();
    return;
  }
  if (type === R_ACK) {
    const k = r.journal();
    acked[k] = r.ackNext();
    const f = inFlight[k]!;
    while (f.length > 0 && f[0]![0] <= acked[k]!) f.shift();
    return;
  }
  if (type === R_HEARTBEAT) return;
}

/** Records older than this process's first are not in its arena: they are read from the journal on disk. */
function catchUpFromDisk(): void {
  for (let k = 0; k < K; k++) {
    const until = task.firstSequences[k]!;
    if (sent[k]! >= until) continue;
    let frame = new Uint8Array(recordsFrameBytes(MAX_RECORDS_PER_FRAME));
    let count = 0;
    let first = sent[k]!;
    const flush = (): void => {
      if (count === 0) return;
      sealRecords(frame, 0, k, first, count);
      send(frame.subarray(0, recordsFrameBytes(count)));
      recordsSent += count;
      first += count;
      count = 0;
      frame = new Uint8Array(recordsFrameBytes(MAX_RECORDS_PER_FRAME));
    };
    let heartbeatAt = performance.now();
    readJournal(task.journalDirs[k]!, (f) => {
      // The read blocks this thread, and the frames before `first` send nothing: a long journal would leave the
      // standby hearing nothing past its timeout. A heartbeat between frames keeps it from taking this node for dead.
      if (performance.now() - heartbeatAt > task.heartbeatMs / 2) {
        heartbeat();
        heartbeatAt = performance.now();
      }
      for (let j = 0; j < f.count; j++) {
        const sequence = f.firstSequence + j;
        if (sequence < first + count || sequence >= until) continue;
        frame.set(f.records.subarray(j * JOURNAL_RECORD_BYTES, (j + 1) * JOURNAL_RECORD_BYTES), RECORDS_OFF_RECORDS + count * JOURNAL_RECORD_BYTES);
        count++;
        if (count === MAX_RECORDS_PER_FRAME) flush();
      }
    });
    flush();
    if (first < until) throw new Error(`replicator: the journal in ${task.journalDirs[k]} holds journal ${k} only up to sequence ${first}, and this process started at ${until}`);
    sent[k] = until;
    inFlight[k]!.push([until, performance.now()]);
  }
}

/** Sends what the sequencers added since the last call; returns whether it sent anything. */
function sendLive(): boolean {
  if (!welcomed || socket === null || socket.writableNeedDrain) return false;
  let any = false;
  for (let k = 0; k < K; k++) {
    const log = logs[k]!;
    const base = task.firstSequences[k]!;
    let position = sent[k]! - base;
    const published = log.publishedLength();
    while (position < published) {
      const count = Math.min(MAX_RECORDS_PER_FRAME, published - position);
      const frame = new Uint8Array(recordsFrameBytes(count));
      const words = new Uint32Array(frame.buffer, RECORDS_OFF_RECORDS);
      const f64 = new Float64Array(frame.buffer, RECORDS_OFF_RECORDS);
      for (let i = 0; i < count; i++) {
        const record = log.at(position + i);
        const at = i * JOURNAL_WORDS;
        const from = record * COMMAND_WORDS;
        for (let w = 0; w < COMMAND_WORDS; w++) words[at + w] = commandWords[from + w]!;
        words[at + (REC_OFF_SESSION >> 2)] = sessionOf[record]!;
        f64[(at >> 1) + (REC_OFF_CLIENT_SEQUENCE >> 3)] = clientSequenceOf[record]!;
      }
      sealRecords(frame, 0, k, base + position, count);
      send(frame);
      position += count;
      recordsSent += count;
      inFlight[k]!.push([base + position, performance.now()]);
      any = true;
    }
    sent[k] = base + position;
  }
  return any;
}

/** sync: sets the durable flags of what both journals hold (see the header for the standalone rule). */
function release(): void {
  if (durable === null) return;
  for (let k = 0; k < K; k++) {
    const log = logs[k]!;
    const base = task.firstSequences[k]!;
    const local = Atomics.load(journaled, k);
    const limit = standalone ? local : Math.min(local, acked[k]! - base);
    for (let i = released[k]!; i < limit; i++) Atomics.store(durable, log.at(i), 1);
    if (limit > released[k]!) released[k] = limit;
  }
}

function checkInSync(): void {
  if (!welcomed || inSync) return;
  for (let k = 0; k < K; k++) {
    // sync: everything acknowledged so far is on the standby; async: the standby caught up with the sequencer once.
    const needed = durable !== null ? task.firstSequences[k]! + released[k]! : sequenced(k);
    if (acked[k]! < Math.max(needed, task.firstSequences[k]!)) return;
  }
  inSync = true;
  standalone = false;
  reconnectMs = task.heartbeatMs;
  post({ type: 'in-sync', standby: standbyLabel, afterMs: performance.now() - connectedAt });
  heartbeat();
}

function heartbeat(): void {
  if (!welcomed) return;
  send(encodeHeartbeat((inSync ? HEARTBEAT_IN_SYNC : 0) | (stopping ? HEARTBEAT_STOPPING : 0), Array.from({ length: K }, (_, k) => sequenced(k))));
}

function lagNow(): { commands: number; us: number } {
  let commands = 0;
  let oldest = Infinity;
  for (let k = 0; k < K; k++) {
    commands += Math.max(0, sequenced(k) - acked[k]!);
    const f = inFlight[k]!;
    if (f.length > 0) oldest = Math.min(oldest, f[0]![1]);
  }
  return { commands, us: oldest === Infinity || commands === 0 ? 0 : (performance.now() - oldest) * 1000 };
}

const silence = peerSilence(
  () => socket !== null && performance.now() - lastHeardMs > task.missedHeartbeats * task.heartbeatMs,
  () => drop(`heard nothing from the standby for ${task.missedHeartbeats} heartbeat intervals of ${task.heartbeatMs} ms`),
);
const heartbeatTimer = setInterval(() => {
  silence.check();
  heartbeat();
  if (welcomed) {
    const lag = lagNow();
    lagCommandSamples.push(lag.commands);
    lagUsSamples.push(lag.us);
    secondMaxCommands = Math.max(secondMaxCommands, lag.commands);
    secondMaxUs = Math.max(secondMaxUs, lag.us);
  }
}, task.heartbeatMs);
const lagTimer = setInterval(() => {
  post({ type: 'lag', commands: secondMaxCommands, us: secondMaxUs, connected: welcomed });
  secondMaxCommands = 0;
  secondMaxUs = 0;
}, 1000);

port.on('message', (request: ReplicatorRequest) => {
  if (request.type === 'checkpoint') {
    if (welcomed) send(encodeCheckpoint(request.journal, request.sequence, request.hash));
  } else {
    stopping = true;
    poke();
  }
});

function percentiles(values: number[]): { p50: number; p99: number; max: number } {
  if (values.length === 0) return { p50: 0, p99: 0, max: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { p50: at(0.5), p99: at(0.99), max: sorted.at(-1)! };
}

/** Sleeps until a sequencer appends, the journal advances, a socket event pokes, or a heartbeat interval passes. */
async function idle(): Promise<void> {
  const waits: Promise<unknown>[] = [new Promise<void>((resolve) => { wake = resolve; })];
  for (let k = 0; k < K; k++) {
    const header = logs[k]!.header;
    Atomics.add(header, SEQUENCE_COUNT_WORD + SLEEPERS_WORD, 1);
    const count = Atomics.waitAsync(header, SEQUENCE_COUNT_WORD, Atomics.load(header, SEQUENCE_COUNT_WORD), task.heartbeatMs);
    if (count.async) waits.push(count.value);
    else waits.push(Promise.resolve());
    if (durable !== null) {
      const j = Atomics.waitAsync(journaled, k, Atomics.load(journaled, k), task.heartbeatMs);
      waits.push(j.async ? j.value : Promise.resolve());
    }
  }
  await Promise.race(waits);
  for (let k = 0; k < K; k++) Atomics.sub(logs[k]!.header, SEQUENCE_COUNT_WORD + SLEEPERS_WORD, 1);
  wake = null;
}

open();
for (;;) {
  const progressed = sendLive();
  release();
  checkInSync();
  if (stopping) break;
  if (progressed) await new Promise((resolve) => setImmediate(resolve));
  else await idle();
}
// Stop: send the rest, wait for the standby's ACKs (bounded), say STOPPING.
const drainUntil = performance.now() + STOP_DRAIN_MS;
let drained = false;
while (performance.now() < drainUntil) {
  sendLive();
  release();
  if (welcomed && Array.from({ length: K }, (_, k) => acked[k]! >= sequenced(k)).every(Boolean)) {
    drained = true;
    break;
  }
  // No standby to drain to (it is away, and a stopping primary does not reconnect).
  if (socket === null) break;
  await new Promise((resolve) => setTimeout(resolve, 1));
}
heartbeat();
clearInterval(heartbeatTimer);
clearInterval(lagTimer);
const last = socket as Socket | null;
if (last !== null) {
  socket = null;
  await new Promise<void>((resolve) => last.end(resolve));
  last.destroy();
}
post({ type: 'stopped', summary: { recordsSent, connections, lagCommands: percentiles(lagCommandSamples), lagUs: percentiles(lagUsSamples), drained } });
