/**
 * One connection of the load client (`npm run load`, server/load.ts): a session's state machine over the wire
 * protocol (server/protocol.ts), from the first connect to the last ACK, across reconnects.
 *
 *   idle ─connect()─► connecting ─TCP up, HELLO─► welcoming ─WELCOME─► connected ─last ACK─► done
 *                        ▲                                │ drop / retryable ERROR, with retry
 *                        └──────── waiting (backoff) ◄────┘            anything else ─► failed
 *
 * Contract:
 * - Session `session`, client sequence k ↔ `stream[k - 1]` (a workload index): the stream is this connection's
 *   share of the workload, in order. `ready` resolves true at the first WELCOME (false if the connection failed
 *   first); nothing is sent before `begin(t0)`, so every connection of a run starts on one start line.
 * - Each HELLO carries the last acknowledged client sequence. After a WELCOME with last applied L the server
 *   resends the EVENTs and ACKs of (last acknowledged, L]; once they are in, commands go out from L + 1, so a
 *   command the server has applied is never sent again. FrameReader checks the WELCOME (session, symbol count: the
 *   same workload) and that EVENTs and ACKs continue in client-sequence order.
 * - Closed loop (`intervalNs` null): at most `window` commands sent and not acknowledged, sent as ACKs free room.
 *   Open loop: command k is due at t0 + (k − first − 1 + phase) × intervalNs (first = the first WELCOME's last
 *   applied), sent once due and only within the same window. Latency runs from the send time (closed) or due time
 *   (open: coordinated omission corrected) of a command's first send to the receipt of its ACK, into `latencies`;
 *   a command resent after a reconnect keeps its first time, so the reconnect is in its latency. A command this
 *   process never sent (a session resumed with --session) is counted as resumed and has no latency.
 * - Exactly once: a command's EVENTs are held until its ACK and handed to `sink` with it (their `seq` set to the
 *   workload index); held events of a connection that drops are discarded, because the server resends them.
 * - A drop (close, socket error, ECONNREFUSED) or an ERROR frame with a code in RETRYABLE_ERROR_CODES reconnects
 *   when `retry` is set: after 100, 200, 400 … ms (doubled per round over the addresses, capped at 2 s, each × a
 *   random factor in [0.5, 1)), each attempt to the next of `addresses` in turn (failover), the backoff reset by a
 *   WELCOME. Anything else fails the
 *   connection: `done` resolves with a reason naming the connection, the session, the address and how far it got.
 *   `done` never rejects. `stop(reason)` fails a connection that has not finished (the run's timeout).
 *
 * Hot path: one clock read per socket chunk received (the receipt time of every ACK in it) and per batch sent (the
 * send time of its commands); one buffer and one socket write per batch of COMMANDs; EVENTs are copied into a held
 * buffer that grows geometrically; nothing else is allocated per command.
 */
import { connect, type Socket } from 'node:net';
import { EV_F64_SEQ, EVENT_BYTES, EVENT_F64S } from '../engines/event-record.ts';
import { nowNs } from '../harness/clock.ts';
import type { LatencyRecorder } from '../harness/histogram.ts';
import { RECORD_BYTES } from '../workloads/workload.ts';
import {
  COMMAND_FRAME_BYTES, encodeCommand, encodeHello, ERR_SESSION_BUSY, ERR_SHUTTING_DOWN, errorCodeName, FRAME_ACK,
  FRAME_EVENT, FRAME_NONE, FRAME_WELCOME, FrameReader, HELLO_FRAME_BYTES, ProtocolError,
} from './protocol.ts';

export interface ServerAddress {
  readonly host: string;
  readonly port: number;
}

/**
 * ERROR codes worth reconnecting after: SESSION_BUSY (the server has not yet noticed the old connection is gone)
 * and SHUTTING_DOWN (a restarted or standby server can take the session over). Every other code says the session
 * cannot continue as it is (its events are gone, the server lost acknowledged commands, the engine failed) or that
 * one side breaks the protocol; retrying would repeat it.
 */
export const RETRYABLE_ERROR_CODES: ReadonlySet<number> = new Set([ERR_SESSION_BUSY, ERR_SHUTTING_DOWN]);
export const BACKOFF_FIRST_MS = 100;
export const BACKOFF_MAX_MS = 2000;
/**
 * Open loop: a due time nearer than this is waited for by turning the event loop (setImmediate), a later one by a
 * timer that fires this much early. Node's timers have 1 ms granularity and fire up to ~1 ms late, which would put
 * the client's own timer error into every latency.
 */
const TIMER_SLACK_NS = 1.5e6;
const EVENT_WORDS = EVENT_BYTES / 4;

/** Where acknowledged commands go, each with its events. */
export interface AckSink {
  /**
   * Command `clientSequence` of `connection` was acknowledged. Its events are records [0, eventCount) of `events`
   * (48-byte event records, `seq` = the workload index); the buffer is reused after the call returns. With
   * `keepEvents` off the count is right and the records are not kept.
   */
  acknowledged(connection: number, clientSequence: number, events: Uint32Array, eventCount: number): void;
}

export type ConnectionOutcome = { readonly ok: true } | { readonly ok: false; readonly reason: string };

export interface LoadConnectionOptions {
  /** 0-based number of the connection in the run (the `conn` of the acks file). */
  readonly connection: number;
  readonly session: number;
  readonly addresses: readonly ServerAddress[];
  /** The workload's records (40 bytes each) and its symbol count (the WELCOME must say the same). */
  readonly records: Uint8Array;
  readonly symbolCount: number;
  /** Workload indexes this connection sends, in order. */
  readonly stream: Int32Array;
  readonly window: number;
  /** Open loop: ns between this connection's due times; null: closed loop. */
  readonly intervalNs: number | null;
  /** Open loop: this connection's offset in the schedule, a fraction of an interval (c / C spreads C evenly). */
  readonly phase: number;
  readonly retry: boolean;
  /** Hand events to the sink (for --events); off, they are only counted. */
  readonly keepEvents: boolean;
  readonly sink: AckSink | null;
  readonly latencies: LatencyRecorder;
  /** Notes for the user: ERROR frames received, reconnects. */
  readonly log: (line: string) => void;
  /** Jitter source, [0, 1). */
  readonly random: () => number;
}

type State = 'idle' | 'connecting' | 'welcoming' | 'connected' | 'waiting' | 'done' | 'failed';

export class LoadConnection {
  readonly connection: number;
  readonly session: number;
  /** Commands in this connection's stream. */
  readonly total: number;
  readonly ready: Promise<boolean>;
  readonly done: Promise<ConnectionOutcome>;
  /** Events of acknowledged commands. */
  events = 0;
  /** Acknowledged commands this process never sent (the server had applied them before this run). */
  resumed = 0;
  /** Sessions resumed on a new connection after a drop (WELCOMEs after the first). */
  reconnects = 0;
  /** Clock of the first COMMAND sent (Infinity before) and of the last ACK received (0 before). */
  firstSendNs = Infinity;
  lastAckNs = 0;
  /** The design the server named in its WELCOME. */
  design = '';

  readonly #options: LoadConnectionOptions;
  readonly #resolveReady: (ready: boolean) => void;
  readonly #resolveDone: (outcome: ConnectionOutcome) => void;
  #state: State = 'idle';
  #socket: Socket | null = null;
  #reader: FrameReader | null = null;
  #socketError: Error | null = null;
  /** The ERROR frame received on the current connection, if any. */
  #serverError: { readonly code: number; readonly message: string } | null = null;
  #addressIndex = 0;
  /** Failed attempts since the last WELCOME: the backoff exponent. */
  #attempts = 0;
  #backoff: NodeJS.Timeout | null = null;
  /** The last acknowledged client sequence. */
  #acked = 0;
  /** The current connection's WELCOME: its last applied (−1 before it). */
  #lastApplied = -1;
  /** The first WELCOME's last applied: the open-loop schedule counts from the command after it. */
  #scheduleBase = 0;
  #nextToSend = 1;
  /** Highest client sequence ever sent by this process (its send time is kept across reconnects). */
  #sentThrough = 0;
  /** Send (closed) or due (open) time by client sequence; 0 = never sent by this process. */
  readonly #sendTime: Float64Array;
  #started = false;
  #t0 = 0;
  #timer: NodeJS.Timeout | null = null;
  #immediate: NodeJS.Immediate | null = null;
  /** Events of the command whose ACK is next, held until that ACK. */
  #held = new Uint32Array(64 * EVENT_WORDS);
  #heldF64 = new Float64Array(this.#held.buffer);
  #heldCount = 0;
  /** The last thing that went wrong, for a timeout's report. */
  #problem = '';

  constructor(options: LoadConnectionOptions) {
    if (options.addresses.length === 0) throw new Error('LoadConnection: no server address');
    this.#options = options;
    this.connection = options.connection;
    this.session = options.session;
    this.total = options.stream.length;
    // Written now so its pages are mapped before anything is timed.
    this.#sendTime = new Float64Array(this.total + 1).fill(0);
    let resolveReady!: (ready: boolean) => void;
    let resolveDone!: (outcome: ConnectionOutcome) => void;
    this.ready = new Promise((resolve) => { resolveReady = resolve; });
    this.done = new Promise((resolve) => { resolveDone = resolve; });
    this.#resolveReady = resolveReady;
    this.#resolveDone = resolveDone;
  }

  /** Acknowledged commands so far. */
  get acknowledged(): number {
    return this.#acked;
  }

  /** Opens the first connection. */
  connect(): void {
    if (this.#state !== 'idle') throw new Error(`${this.#label()}: connect() twice`);
    this.#open();
  }

  /** Starts sending: the run's common start line (open loop: the schedule's t0). */
  begin(t0Ns: number): void {
    this.#started = true;
    this.#t0 = t0Ns;
    if (this.#state === 'connected') this.#pump(nowNs());
  }

  /** Fails the connection with `reason` unless it has finished; returns whether it did. */
  stop(reason: string): boolean {
    if (this.#state === 'done' || this.#state === 'failed') return false;
    this.#fail(`${reason}; it was ${this.#describeState()}`);
    return true;
  }

  #label(): string {
    const address = this.#options.addresses[this.#addressIndex]!;
    return `connection ${this.connection} (session ${this.session}, ${address.host}:${address.port})`;
  }

  #describeState(): string {
    switch (this.#state) {
      case 'connecting': return 'connecting';
      case 'welcoming': return 'waiting for the WELCOME';
      case 'connected': return this.#acked < this.#lastApplied ? 'receiving the resend' : `waiting for ACKs (${this.#nextToSend - 1 - this.#acked} outstanding)`;
      case 'waiting': return `waiting to reconnect after: ${this.#problem}`;
      default: return this.#state;
    }
  }

  #open(): void {
    const address = this.#options.addresses[this.#addressIndex]!;
    this.#state = 'connecting';
    this.#socketError = null;
    this.#serverError = null;
    const socket = connect({ host: address.host, port: address.port });
    this.#socket = socket;
    // Commands go out in batches already; Nagle would hold a small batch back until the previous segment's TCP ACK.
    socket.setNoDelay(true);
    socket.on('connect', () => {
      if (socket !== this.#socket) return;
      const hello = Buffer.allocUnsafe(HELLO_FRAME_BYTES);
      encodeHello(hello, 0, this.session, this.#acked);
      this.#reader = FrameReader.atClient(`${address.host}:${address.port}`, { session: this.session, lastAcknowledged: this.#acked, symbolCount: this.#options.symbolCount });
      this.#state = 'welcoming';
      socket.write(hello);
    });
    socket.on('data', (chunk: Buffer) => {
      if (socket === this.#socket) this.#receive(chunk);
    });
    socket.on('error', (error) => {
      if (socket === this.#socket) this.#socketError = error;
    });
    socket.on('close', () => {
      if (socket === this.#socket) this.#closed();
    });
  }

  #receive(chunk: Buffer): void {
    const now = nowNs();
    const reader = this.#reader;
    if (reader === null) return;
    try {
      reader.push(chunk);
      for (let type = reader.next(); type !== FRAME_NONE; type = reader.next()) {
        if (type === FRAME_EVENT) this.#hold(reader);
        else if (type === FRAME_ACK) this.#acknowledge(reader.clientSequence, now);
        else if (type === FRAME_WELCOME) {
          if (!this.#welcome(reader)) return;
        } else {
          // ERROR: the last frame; the server closes the connection, and so do we.
          this.#serverError = { code: reader.errorCode, message: reader.errorMessage };
          this.#options.log(`${this.#label()}: server ERROR ${errorCodeName(reader.errorCode)}: ${reader.errorMessage}`);
          this.#socket?.destroy();
          return;
        }
      }
    } catch (error) {
      // The server broke the protocol or serves another workload (FrameReader's checks): retrying would meet the
      // same server.
      if (!(error instanceof ProtocolError)) this.#fail((error as Error).message);
      else this.#fail(`${error.field === 'symbol count' ? "the server's symbol table is not this workload's" : 'protocol error'}: ${error.message}`);
      return;
    }
    if (this.#acked === this.total) this.#finish();
    else this.#pump(now);
  }

  /** The WELCOME: returns false when the session cannot be this connection's. */
  #welcome(reader: FrameReader): boolean {
    const lastApplied = reader.lastApplied;
    if (lastApplied > this.total) {
      this.#fail(`the server has applied ${lastApplied} commands of session ${this.session}, but this connection's share of the workload has ${this.total}: a different workload, or a --session already used`);
      return false;
    }
    if (this.#lastApplied < 0) this.#scheduleBase = lastApplied;
    else this.reconnects++;
    this.#lastApplied = lastApplied;
    this.#nextToSend = lastApplied + 1;
    this.#attempts = 0;
    this.#problem = '';
    this.design = reader.design;
    this.#state = 'connected';
    this.#resolveReady(true);
    return true;
  }

  #hold(reader: FrameReader): void {
    const n = this.#heldCount++;
    if (!this.#options.keepEvents) return;
    if ((n + 1) * EVENT_WORDS > this.#held.length) {
      const grown = new Uint32Array(this.#held.length * 2);
      grown.set(this.#held);
      this.#held = grown;
      this.#heldF64 = new Float64Array(grown.buffer);
    }
    const words = reader.words;
    const from = reader.recordOffset >> 2;
    const to = n * EVENT_WORDS;
    for (let w = 0; w < EVENT_WORDS; w++) this.#held[to + w] = words[from + w]!;
    // The server's seq is the client sequence; the output's is the workload index.
    this.#heldF64[n * EVENT_F64S + EV_F64_SEQ] = this.#options.stream[reader.clientSequence - 1]!;
  }

  #acknowledge(clientSequence: number, now: number): void {
    this.#acked = clientSequence;
    const sent = this.#sendTime[clientSequence]!;
    if (sent > 0) {
      const latency = now - sent;
      this.#options.latencies.record(latency > 0 ? Math.round(latency) : 0);
    } else {
      this.resumed++;
    }
    this.lastAckNs = now;
    this.events += this.#heldCount;
    this.#options.sink?.acknowledged(this.connection, clientSequence, this.#held, this.#heldCount);
    this.#heldCount = 0;
  }

  /** Sends what the window (and in open loop the schedule) allows, as one batch; arms the open-loop wake-up. */
  #pump(now: number): void {
    if (this.#state !== 'connected' || !this.#started || this.#acked < this.#lastApplied) return;
    const { window, intervalNs, phase, stream, records } = this.#options;
    let to = Math.min(this.total, this.#acked + window);
    if (intervalNs !== null) to = Math.min(to, this.#scheduleBase + 1 + Math.floor((now - this.#t0) / intervalNs - phase));
    const from = this.#nextToSend;
    if (to >= from) {
      const batch = Buffer.allocUnsafe((to - from + 1) * COMMAND_FRAME_BYTES);
      let at = 0;
      for (let k = from; k <= to; k++) {
        at = encodeCommand(batch, at, k, records, stream[k - 1]! * RECORD_BYTES);
        if (k > this.#sentThrough) this.#sendTime[k] = intervalNs === null ? now : this.#dueNs(k);
      }
      if (to > this.#sentThrough) this.#sentThrough = to;
      if (this.firstSendNs === Infinity) this.firstSendNs = now;
      this.#nextToSend = to + 1;
      this.#socket!.write(batch);
    }
    // Open loop with room in the window: wake up when the next command is due (a full window waits for ACKs).
    if (intervalNs !== null && this.#nextToSend <= this.total && this.#nextToSend <= this.#acked + window) this.#wakeAt(this.#dueNs(this.#nextToSend), now);
  }

  #dueNs(clientSequence: number): number {
    return this.#t0 + (clientSequence - this.#scheduleBase - 1 + this.#options.phase) * this.#options.intervalNs!;
  }

  #wakeAt(dueNs: number, now: number): void {
    if (this.#timer !== null || this.#immediate !== null) return;
    const wait = dueNs - now;
    if (wait > TIMER_SLACK_NS) this.#timer = setTimeout(this.#onTimer, Math.floor((wait - TIMER_SLACK_NS) / 1e6));
    else this.#immediate = setImmediate(this.#onImmediate);
  }

  // Bound once, so arming a wake-up allocates no closure.
  readonly #onTimer = (): void => {
    this.#timer = null;
    this.#pump(nowNs());
  };

  readonly #onImmediate = (): void => {
    this.#immediate = null;
    this.#pump(nowNs());
  };

  #clearWake(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    if (this.#immediate !== null) clearImmediate(this.#immediate);
    this.#timer = null;
    this.#immediate = null;
  }

  /** The socket closed before the last ACK: reconnect or fail. */
  #closed(): void {
    if (this.#state === 'done' || this.#state === 'failed') return;
    const serverError = this.#serverError;
    const socketError = this.#socketError as NodeJS.ErrnoException | null;
    const what = serverError !== null ? `the server sent ERROR ${errorCodeName(serverError.code)}: ${serverError.message}`
      : socketError !== null ? `${socketError.code ?? 'socket error'}: ${socketError.message}`
      : this.#state === 'welcoming' ? 'the server closed the connection before its WELCOME'
      : 'the server closed the connection';
    this.#socket = null;
    this.#reader = null;
    this.#heldCount = 0;
    this.#clearWake();
    const retryable = serverError === null || RETRYABLE_ERROR_CODES.has(serverError.code);
    if (!this.#options.retry || !retryable) {
      this.#fail(`${what}${retryable ? ' (run with --retry to reconnect and resume the session)' : ''}`);
      return;
    }
    this.#problem = what;
    // The backoff doubles per round over the addresses, so a failover tries the other node as soon as the first.
    const round = Math.floor(this.#attempts / this.#options.addresses.length);
    const delay = Math.min(BACKOFF_FIRST_MS * 2 ** round, BACKOFF_MAX_MS) * (0.5 + 0.5 * this.#options.random());
    this.#attempts++;
    const failed = this.#label();
    this.#addressIndex = (this.#addressIndex + 1) % this.#options.addresses.length;
    const next = this.#options.addresses[this.#addressIndex]!;
    this.#options.log(`${failed}: ${what}; reconnecting to ${next.host}:${next.port} in ${Math.round(delay)} ms (attempt ${this.#attempts}, ${this.#acked} of ${this.total} acknowledged)`);
    this.#state = 'waiting';
    this.#backoff = setTimeout(() => {
      this.#backoff = null;
      this.#open();
    }, delay);
  }

  #finish(): void {
    this.#state = 'done';
    this.#clearWake();
    this.#socket?.end();
    this.#resolveReady(true);
    this.#resolveDone({ ok: true });
  }

  #fail(reason: string): void {
    const label = this.#label();
    this.#state = 'failed';
    this.#clearWake();
    if (this.#backoff !== null) clearTimeout(this.#backoff);
    this.#backoff = null;
    this.#socket?.destroy();
    this.#socket = null;
    this.#resolveReady(false);
    this.#resolveDone({ ok: false, reason: `${label}: ${reason}; ${this.#acked} of ${this.total} commands acknowledged` });
  }
}
