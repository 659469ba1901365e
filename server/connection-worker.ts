/**
 * One producer thread of the engine server (started by server/serve.ts): it listens on the server's port (with
 * SO_REUSEPORT, so the kernel spreads connections over the producer threads) and serves each connection it accepts
 * through its own producer half of the design — so `mutex`, `disruptor` and `sharded` keep their meaning with
 * several connections.
 *
 * Per connection (wire format: server/protocol.ts): HELLO → the session is taken in the shared session table
 * (SESSION_BUSY if another connection holds it, SESSION_AHEAD if the client acknowledged more than the engine
 * applied), WELCOME with the last applied client sequence, the resend of (last acknowledged, last applied]
 * regenerated from the journal (server/resend.ts), then COMMANDs. Each command is copied into a slot of the
 * server's record arena (this thread owns slots [slotFrom, slotTo)), its sender written beside it for the
 * journaller, and submitted; its events and ACK go back in order. In `group` and `sync` modes a command's events and
 * ACK are held until the journaller marks it durable, so a client never sees an effect a crash could take back.
 *
 * Time (producer thread 0 only, when `clockEveryMs` > 0): every `clockEveryMs` of wall time it submits a `clock`
 * command (µs since the Unix epoch, never behind the previous one) through the design, in a slot of its own with
 * session 0 ("the server", which recovery never skips and no client owns; client sequences 1, 2, 3 …), so time is
 * sequenced and journaled like any command; its events (a reject, should the journal hold a later time than this
 * machine's clock) go nowhere.
 * While no command arrives it ticks only every `idleClockMs`, so an idle server does not spend its record arena
 * (`--capacity`) on clocks.
 *
 * A malformed frame gets an ERROR naming connection, frame, offset and field, and only that connection closes.
 * When a connection drops, its session stays taken until its commands have completed (and, where the mode says, are
 * durable): a reconnect then finds a settled last-applied sequence. On `stop` it closes its listener, stops reading
 * commands, finishes and acknowledges what it accepted, and reports.
 */
import { createServer, type Socket } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import { designByName } from '../engines/designs.ts';
import type { SharedWorkload } from '../engines/engine.ts';
import { perRecord, type RecordVisitor } from '../engines/record-visitor.ts';
import { EV_F64_SEQ, EVENT_BYTES, EVENT_F64S } from '../engines/event-record.ts';
import type { FastCoreCapacities } from '../engines/fast-core-layout.ts';
import { NO_SYMBOL, OP_CLOCK, OP_INVALID, RECORD_BYTES, writeRecord } from '../workloads/workload.ts';
import {
  ACK_FRAME_BYTES, encodeAck, encodeError, encodeEvent, encodeWelcome, ERR_ENGINE_FAILED, ERR_RESEND_UNAVAILABLE, ERR_SESSION_AHEAD,
  ERR_SESSION_BUSY, EVENT_FRAME_BYTES, FRAME_COMMAND, FRAME_HELLO, FRAME_NONE, frameBytes, FRAME_ERROR, FRAME_WELCOME, FrameReader, ProtocolError,
} from './protocol.ts';
import { replayEventFrames, resendFrames } from './resend.ts';
import { SessionTable, type SessionTableBuffers } from './session-table.ts';

export interface ConnectionWorkerTask {
  readonly design: string;
  readonly init: unknown;
  readonly workload: SharedWorkload;
  readonly port: number;
  readonly producer: number;
  readonly slotFrom: number;
  readonly slotTo: number;
  readonly sessions: SharedArrayBuffer;
  readonly clientSequences: SharedArrayBuffer;
  readonly durable: SharedArrayBuffer | null;
  readonly sessionTable: SessionTableBuffers;
  /** Per session, client sequences already applied past a gap after a crash (several sequencers; server/serve.ts). */
  readonly appliedAhead: Readonly<Record<number, readonly number[]>>;
  /** The journal directories (resend replays them); null without a journal. */
  readonly journalDirs: readonly string[] | null;
  readonly coreCapacities: FastCoreCapacities;
  readonly maxEventsPerCommand: number;
  /** Wall-time interval of the injected clock, ms; 0: this thread injects none. */
  readonly clockEveryMs: number;
  /** Its interval while no command arrives, ms. */
  readonly idleClockMs: number;
  /** No injected clock is behind this engine time (µs): the recovered engine's. */
  readonly clockFromUs: number;
}

export type ConnectionWorkerMessage =
  | { readonly type: 'listening' }
  | { readonly type: 'stopped'; readonly commands: number; readonly connections: number };

/** How long a resend waits for the journaller to write the commands it needs, ms. */
const RESEND_WAIT_MS = 2000;

const port = parentPort;
if (port === null) throw new Error('server/connection-worker.ts must run as a worker thread');
const task = workerData as ConnectionWorkerTask;
const producer = designByName(task.design).connect(task.init, task.workload);
const records = new Uint8Array(task.workload.records);
const senderSessions = new Uint32Array(task.sessions);
const senderSequences = new Float64Array(task.clientSequences);
const durable = task.durable === null ? null : new Uint8Array(task.durable);
const table = SessionTable.attach(task.sessionTable);
const symbolCount = task.workload.symbols.length;
/** The connection that submitted each of this thread's slots (null: an injected clock). */
const owners: (Connection | null)[] = new Array<Connection | null>(task.slotTo - task.slotFrom).fill(null);
let nextSlot = task.slotFrom;
let commandsServed = 0;
let connectionsServed = 0;
let stopping = false;
const connections = new Set<Connection>();
const sleeper = new Int32Array(new SharedArrayBuffer(4));

class Connection {
  readonly socket: Socket;
  readonly reader: FrameReader;
  readonly label: string;
  session = 0;
  sessionSlot = -1;
  /** Submitted and not yet released to the client (completed, and durable where the mode says). */
  outstanding = 0;
  /** A command copied into its slot that the design refused (ring full); submitted before anything else. */
  blockedSlot = -1;
  /** The client half-closed: serve what it sent, then close. */
  inputEnded = false;
  closed = false;
  /** Output: [0, ready) may be written to the socket; [ready, used) is held for durability. */
  out = new Uint8Array(64 * 1024);
  ready = 0;
  used = 0;
  /** Completed commands waiting for their durable flag: slot and the end of their frames in `out`. */
  readonly heldSlots: number[] = [];
  readonly heldEnds: number[] = [];
  /** Outstanding slots in submission order, from `submittedHead` (emptied whenever it drains). */
  readonly submitted: number[] = [];
  submittedHead = 0;
  /** Frames of commands that completed before an older one of this connection (sharded), and which those are. */
  readonly stash = new Map<number, Uint8Array[]>();
  readonly completedAhead = new Set<number>();
  /** Events of this session's commands applied before a crash past a gap: answered from the journal, not applied again. */
  appliedAhead: Map<number, Uint8Array> | null = null;

  constructor(socket: Socket) {
    this.socket = socket;
    this.label = `${socket.remoteAddress}:${socket.remotePort}`;
    this.reader = FrameReader.atServer(this.label, symbolCount);
  }

  room(bytes: number): void {
    if (this.used + bytes <= this.out.length) return;
    let size = this.out.length * 2;
    while (size < this.used + bytes) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.out.subarray(0, this.used));
    this.out = grown;
  }

  appendReady(bytes: Uint8Array): void {
    // Only while nothing is held (the WELCOME and the resend come before any command of this connection).
    this.room(bytes.length);
    this.out.set(bytes, this.used);
    this.used += bytes.length;
    this.ready = this.used;
  }

  fail(code: number, message: string): void {
    if (this.closed) return;
    const frame = new Uint8Array(frameBytes(FRAME_ERROR, message));
    encodeError(frame, 0, code, message);
    this.flush();
    this.socket.end(frame);
    this.closed = true;
  }

  flush(): void {
    if (this.ready === 0) return;
    if (!this.closed) this.socket.write(this.out.slice(0, this.ready));
    this.out.copyWithin(0, this.ready, this.used);
    for (let k = 0; k < this.heldEnds.length; k++) this.heldEnds[k]! -= this.ready;
    this.used -= this.ready;
    this.ready = 0;
  }
}

let cachedEventBuffer: ArrayBufferLike | null = null;
let cachedEventBytes: Uint8Array<ArrayBufferLike> = new Uint8Array(0);

/**
 * Frames go out in submission order, as the protocol promises (each command's events, then its ACK, commands in
 * client-sequence order). Every design but `sharded` completes a producer's commands in that order, so the events
 * of the oldest outstanding command are encoded straight into the connection's output; a command that completes
 * ahead of an older one (another shard was faster) has its frames stashed until the older ones are out.
 */
const frames: RecordVisitor = {
  event(words, f64, record) {
    const slot = f64[record * EVENT_F64S + EV_F64_SEQ]!;
    const connection = owners[slot - task.slotFrom] ?? null;
    if (connection === null) return; // an injected clock's reject: nobody to tell
    if (words.buffer !== cachedEventBuffer) {
      cachedEventBuffer = words.buffer;
      cachedEventBytes = new Uint8Array(words.buffer);
    }
    const at = words.byteOffset + record * EVENT_BYTES;
    if (connection.submitted[connection.submittedHead] === slot) {
      connection.room(EVENT_FRAME_BYTES);
      connection.used = encodeEvent(connection.out, connection.used, senderSequences[slot]!, cachedEventBytes, at);
    } else {
      const frame = new Uint8Array(EVENT_FRAME_BYTES);
      encodeEvent(frame, 0, senderSequences[slot]!, cachedEventBytes, at);
      stashOf(connection, slot).push(frame);
    }
  },
  complete(slot) {
    const connection = owners[slot - task.slotFrom] ?? null;
    if (connection === null) return;
    commandsServed++;
    if (connection.submitted[connection.submittedHead] !== slot) {
      stashOf(connection, slot);
      connection.completedAhead.add(slot);
      return;
    }
    emitAck(connection, slot);
    // Commands that completed ahead of this one follow it now, in order.
    for (let next = connection.submitted[connection.submittedHead]; next !== undefined && connection.completedAhead.has(next); next = connection.submitted[connection.submittedHead]) {
      connection.completedAhead.delete(next);
      for (const frame of connection.stash.get(next)!) {
        connection.room(frame.length);
        connection.out.set(frame, connection.used);
        connection.used += frame.length;
      }
      connection.stash.delete(next);
      emitAck(connection, next);
    }
  },
};
const sink = perRecord(frames);

function stashOf(connection: Connection, slot: number): Uint8Array[] {
  let frames = connection.stash.get(slot);
  if (frames === undefined) {
    frames = [];
    connection.stash.set(slot, frames);
  }
  return frames;
}

/** The ACK of the oldest outstanding command: its frames are complete, out now or once durable. */
function emitAck(connection: Connection, slot: number): void {
  connection.room(ACK_FRAME_BYTES);
  connection.used = encodeAck(connection.out, connection.used, senderSequences[slot]!);
  connection.submittedHead++;
  if (connection.submittedHead === connection.submitted.length) {
    connection.submitted.length = 0;
    connection.submittedHead = 0;
  }
  if (durable === null) {
    connection.ready = connection.used;
    settle(connection, slot);
  } else {
    connection.heldSlots.push(slot);
    connection.heldEnds.push(connection.used);
  }
}

function settle(connection: Connection, slot: number): void {
  owners[slot - task.slotFrom] = null;
  connection.outstanding--;
  if (connection.outstanding === 0 && connection.closed && connection.sessionSlot >= 0) {
    table.release(connection.sessionSlot);
    connection.sessionSlot = -1;
  }
}

function releaseDurable(connection: Connection): void {
  let k = 0;
  while (k < connection.heldSlots.length && Atomics.load(durable!, connection.heldSlots[k]!) !== 0) k++;
  if (k === 0) return;
  connection.ready = connection.heldEnds[k - 1]!;
  const released = connection.heldSlots.splice(0, k);
  connection.heldEnds.splice(0, k);
  for (const slot of released) settle(connection, slot);
}

function hello(connection: Connection): void {
  const reader = connection.reader;
  const slot = table.slotOf(reader.session);
  if (!table.acquire(slot)) {
    connection.fail(ERR_SESSION_BUSY, `connection ${connection.label}: session ${reader.session} is open on another connection (or its last commands are still completing); retry`);
    return;
  }
  connection.session = reader.session;
  connection.sessionSlot = slot;
  const lastApplied = table.lastApplied(slot);
  if (reader.lastAcknowledged > lastApplied) {
    connection.fail(ERR_SESSION_AHEAD, `connection ${connection.label}: session ${reader.session} acknowledged client sequence ${reader.lastAcknowledged}, but the engine holds only up to ${lastApplied}: acknowledged commands were lost`);
    return;
  }
  reader.acceptSession(lastApplied);
  const ahead = task.appliedAhead[reader.session]?.filter((c) => c > lastApplied) ?? [];
  if (ahead.length > 0 && task.journalDirs !== null) {
    const wanted = new Set(ahead);
    connection.appliedAhead = replayEventFrames(task.journalDirs, task.coreCapacities, task.maxEventsPerCommand, reader.session, (c) => wanted.has(c));
  }
  const welcome = new Uint8Array(frameBytes(FRAME_WELCOME, task.design));
  encodeWelcome(welcome, 0, reader.session, symbolCount, lastApplied, task.design);
  connection.appendReady(welcome);
  if (reader.lastAcknowledged === lastApplied) return;
  if (task.journalDirs === null) {
    connection.fail(ERR_RESEND_UNAVAILABLE, `connection ${connection.label}: session ${reader.session} needs the events of client sequences ${reader.lastAcknowledged + 1}…${lastApplied} again, and this server keeps no journal to regenerate them from (--journal none)`);
    return;
  }
  const deadline = Date.now() + RESEND_WAIT_MS;
  for (;;) {
    const frames = resendFrames(task.journalDirs, task.coreCapacities, task.maxEventsPerCommand, reader.session, reader.lastAcknowledged, lastApplied);
    if (frames !== null) {
      connection.appendReady(frames);
      return;
    }
    if (Date.now() > deadline) {
      connection.fail(ERR_RESEND_UNAVAILABLE, `connection ${connection.label}: the journal does not hold every command of session ${reader.session} in ${reader.lastAcknowledged + 1}…${lastApplied}`);
      return;
    }
    Atomics.wait(sleeper, 0, 0, 10);
  }
}

/** Submits the connection's blocked command, then reads frames until the design refuses one or none are left. */
function readFrames(connection: Connection): void {
  if (connection.closed) return;
  if (connection.blockedSlot >= 0) {
    if (!producer.trySubmit(connection.blockedSlot)) return;
    accepted(connection, connection.blockedSlot);
    connection.blockedSlot = -1;
    connection.socket.resume();
  }
  const reader = connection.reader;
  try {
    while (!stopping) {
      const type = reader.next();
      if (type === FRAME_NONE) break;
      if (type === FRAME_HELLO) {
        hello(connection);
        if (connection.closed) return;
      } else if (type === FRAME_COMMAND) {
        if (nextSlot === task.slotTo) {
          connection.fail(ERR_ENGINE_FAILED, `connection ${connection.label}: this server process has taken the ${task.slotTo - task.slotFrom} commands its producer thread ${task.producer} can hold (--capacity); restart it (it recovers) to continue`);
          return;
        }
        const slot = nextSlot++;
        const answered = connection.appliedAhead?.get(reader.clientSequence);
        if (answered !== undefined) {
          answerFromJournal(connection, slot, reader.clientSequence, answered);
          continue;
        }
        records.set(reader.bytes.subarray(reader.recordOffset, reader.recordOffset + RECORD_BYTES), slot * RECORD_BYTES);
        // Time is the server's (its clock injector): a client's clock would move every symbol's breaker. It becomes an
        // invalid command, journaled and answered `rejected` invalid_command like any other bad command.
        if (records[slot * RECORD_BYTES] === OP_CLOCK) writeRecord(records, arenaView, arenaF64, slot, OP_INVALID, NO_SYMBOL, NaN, 0, 0, 0, NaN, NaN, NaN);
        senderSessions[slot] = connection.session;
        senderSequences[slot] = reader.clientSequence;
        if (!producer.trySubmit(slot)) {
          connection.blockedSlot = slot;
          connection.socket.pause();
          return;
        }
        accepted(connection, slot);
      }
    }
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    connection.fail(error.code, error.message);
  }
}

/**
 * A command the engine applied before a crash, past a gap in its session: it takes a slot only to keep the
 * connection's frames in order, is never submitted, and its events come from the journal (so it is durable already).
 */
function answerFromJournal(connection: Connection, slot: number, clientSequence: number, events: Uint8Array): void {
  connection.appliedAhead!.delete(clientSequence);
  senderSessions[slot] = connection.session;
  senderSequences[slot] = clientSequence;
  accepted(connection, slot);
  if (durable !== null) Atomics.store(durable, slot, 1);
  if (connection.submitted[connection.submittedHead] === slot) {
    connection.room(events.length);
    connection.out.set(events, connection.used);
    connection.used += events.length;
    frames.complete(slot);
  } else {
    if (events.length > 0) stashOf(connection, slot).push(events);
    frames.complete(slot);
  }
}

function accepted(connection: Connection, slot: number): void {
  commandsSinceClock++;
  owners[slot - task.slotFrom] = connection;
  connection.submitted.push(slot);
  connection.outstanding++;
  table.setLastApplied(connection.sessionSlot, senderSequences[slot]!);
}

const arenaView = new DataView(task.workload.records);
const arenaF64 = new Float64Array(task.workload.records);
let commandsSinceClock = 0;
let clocksInjected = 0;
let lastClockTs = task.clockFromUs;
let lastClockAt = 0;

/** Submits a clock at this wall time (see the header): skipped while idle, when the arena is full or the design busy. */
function injectClock(): void {
  const nowMs = performance.timeOrigin + performance.now();
  if (stopping || nextSlot === task.slotTo || (commandsSinceClock === 0 && nowMs - lastClockAt < task.idleClockMs)) return;
  const ts = Math.max(lastClockTs, Math.floor(nowMs * 1000));
  const slot = nextSlot;
  writeRecord(records, arenaView, arenaF64, slot, OP_CLOCK, NO_SYMBOL, NaN, 0, 0, 0, ts, NaN, NaN);
  senderSessions[slot] = 0;
  senderSequences[slot] = clocksInjected + 1; // the journal wants a client sequence ≥ 1; session 0 is never deduplicated
  owners[slot - task.slotFrom] = null;
  // A full input leaves the slot free for the next tick: time is not worth back-pressure.
  if (!producer.trySubmit(slot)) return;
  nextSlot++;
  clocksInjected++;
  lastClockTs = ts;
  lastClockAt = nowMs;
  commandsSinceClock = 0;
  schedulePump();
}
const clockTimer = task.clockEveryMs > 0 ? setInterval(injectClock, task.clockEveryMs) : null;

let pumpScheduled = false;
function schedulePump(): void {
  if (pumpScheduled) return;
  pumpScheduled = true;
  setImmediate(pump);
}

/** One turn: push out held-back submits, deliver what the design completed, release what became durable, write. */
function pump(): void {
  pumpScheduled = false;
  let busy = false;
  for (const connection of connections) readFrames(connection);
  producer.flush();
  producer.poll(sink);
  for (const connection of connections) {
    if (durable !== null) releaseDurable(connection);
    connection.flush();
    if (connection.outstanding > 0 || connection.blockedSlot >= 0) busy = true;
    if (connection.inputEnded && !connection.closed && connection.outstanding === 0 && connection.blockedSlot < 0 && connection.reader.buffered === 0) {
      connection.socket.end();
      connection.closed = true;
    }
    if (connection.closed && connection.outstanding === 0) {
      if (connection.sessionSlot >= 0) table.release(connection.sessionSlot);
      connection.sessionSlot = -1;
      connections.delete(connection);
    }
  }
  if (busy) schedulePump();
  else if (stopping) finishStop();
}

const listener = createServer({ allowHalfOpen: true }, (socket) => {
  if (stopping) {
    socket.destroy();
    return;
  }
  socket.setNoDelay(true);
  const connection = new Connection(socket);
  connections.add(connection);
  connectionsServed++;
  socket.on('data', (chunk: Buffer) => {
    if (connection.closed) return;
    try {
      connection.reader.push(chunk);
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      connection.fail(error.code, error.message);
      return;
    }
    readFrames(connection);
    schedulePump();
  });
  socket.on('end', () => {
    connection.inputEnded = true;
    try {
      if (!connection.closed) connection.reader.end();
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      connection.fail(error.code, error.message);
    }
    schedulePump();
  });
  socket.on('error', () => {
    connection.closed = true;
    schedulePump();
  });
  socket.on('close', () => {
    connection.closed = true;
    schedulePump();
  });
});
listener.listen({ host: '127.0.0.1', port: task.port, reusePort: true }, () => port.postMessage({ type: 'listening' } satisfies ConnectionWorkerMessage));

let stopReported = false;
function finishStop(): void {
  if (stopReported) return;
  for (const connection of connections) if (connection.outstanding > 0) return;
  stopReported = true;
  for (const connection of connections) connection.socket.end();
  producer.close();
  port!.postMessage({ type: 'stopped', commands: commandsServed, connections: connectionsServed } satisfies ConnectionWorkerMessage);
}

port.on('message', (message: { readonly type: 'stop' }) => {
  if (message.type !== 'stop') return;
  stopping = true;
  if (clockTimer !== null) clearInterval(clockTimer);
  listener.close();
  for (const connection of connections) connection.socket.pause();
  schedulePump();
});
