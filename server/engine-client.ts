/**
 * A promise-per-command client of the engine's wire protocol (server/protocol.ts): one session over one TCP
 * connection to `serve`, what the HTTP gateway (server/http-gateway.ts) submits through, so that a command from
 * HTTP takes exactly the path a binary client's does (sequenced, journaled, replicated, acknowledged when durable).
 *
 * Contract:
 * - `submit(record)` sends one 40-byte command record as the session's next client sequence and resolves, at its
 *   ACK, with the command's event records (48 bytes each, their `seq` the client sequence). It returns null, and
 *   sends nothing, while `window` commands are unacknowledged: the caller answers "busy" (back-pressure).
 * - Exactly once across a dropped connection: the client reconnects (100 ms, doubled up to 2 s), says HELLO with
 *   its last acknowledged sequence, takes the server's resend of what it applied after that, and sends again only
 *   the commands after the WELCOME's last applied. A command's events are held until its ACK, and the held events
 *   of a connection that drops are discarded, because the server resends them.
 * - An ERROR the session cannot continue after (any code but SESSION_BUSY or SHUTTING_DOWN), or `close()`, fails
 *   every unacknowledged command's promise and every later submit, with a message naming the connection.
 *
 * Cost: one socket write per event-loop turn (corked), a copy of each event record; it is not on the engine's hot
 * path (the engine side is the same connection thread a binary client meets).
 */
import { connect, type Socket } from 'node:net';
import { EVENT_BYTES } from '../engines/event-record.ts';
import { RECORD_BYTES } from '../workloads/workload.ts';
import {
  COMMAND_FRAME_BYTES, encodeCommand, encodeHello, errorCodeName, FRAME_ACK, FRAME_ERROR, FRAME_EVENT, FRAME_NONE,
  FRAME_WELCOME, FrameReader, HELLO_FRAME_BYTES,
} from './protocol.ts';
import { BACKOFF_FIRST_MS, BACKOFF_MAX_MS, RETRYABLE_ERROR_CODES } from './load-connection.ts';

export interface EngineClientOptions {
  readonly host: string;
  readonly port: number;
  /** The session id (1 … 2^32 − 1), new or one whose last acknowledged sequence is 0. */
  readonly session: number;
  /** The engine's symbol count (the WELCOME must say the same). */
  readonly symbolCount: number;
  /** Most commands sent and not yet acknowledged. */
  readonly window: number;
}

export interface CommandOutcome {
  readonly clientSequence: number;
  /** `count` event records of EVENT_BYTES each, in the order the engine emitted them. */
  readonly events: Uint8Array;
  readonly count: number;
}

interface Pending {
  readonly record: Uint8Array;
  readonly events: Uint8Array[];
  readonly resolve: (outcome: CommandOutcome) => void;
  readonly reject: (error: Error) => void;
}

export type EngineClientState = 'connecting' | 'connected' | 'failed' | 'closed';

export class EngineClient {
  readonly #options: EngineClientOptions;
  /** Unacknowledged commands by client sequence, in sequence order (a Map keeps insertion order). */
  readonly #pending = new Map<number, Pending>();
  #nextSequence = 1;
  #lastAcknowledged = 0;
  #socket: Socket | null = null;
  #reader: FrameReader | null = null;
  #welcomed = false;
  #state: EngineClientState = 'connecting';
  #failure: Error | null = null;
  #backoffMs = BACKOFF_FIRST_MS;
  #retryTimer: NodeJS.Timeout | null = null;
  #connections = 0;
  #design = '';
  #firstWelcome: { resolve: () => void; reject: (e: Error) => void } | null = null;
  #corked = false;

  private constructor(options: EngineClientOptions) {
    this.#options = options;
  }

  /** Connects and resolves at the first WELCOME; rejects if the first connection fails. */
  static async open(options: EngineClientOptions): Promise<EngineClient> {
    const client = new EngineClient(options);
    await new Promise<void>((resolve, reject) => {
      client.#firstWelcome = { resolve, reject };
      client.#connect();
    });
    return client;
  }

  get state(): EngineClientState {
    return this.#state;
  }

  get inFlight(): number {
    return this.#pending.size;
  }

  get design(): string {
    return this.#design;
  }

  get session(): number {
    return this.#options.session;
  }

  /** Connections made so far (1 + reconnects). */
  get connections(): number {
    return this.#connections;
  }

  /** Why the client failed (state 'failed'). */
  get failure(): Error | null {
    return this.#failure;
  }

  /** Sends the 40-byte command record at `offset` of `record`; null while the window is full. */
  submit(record: Uint8Array, offset = 0): Promise<CommandOutcome> | null {
    if (this.#failure !== null) return Promise.reject(this.#failure);
    if (this.#pending.size >= this.#options.window) return null;
    const sequence = this.#nextSequence++;
    const copy = record.slice(offset, offset + RECORD_BYTES);
    const promise = new Promise<CommandOutcome>((resolve, reject) => {
      this.#pending.set(sequence, { record: copy, events: [], resolve, reject });
    });
    if (this.#welcomed) this.#send(sequence, copy);
    return promise;
  }

  /** Fails what is unacknowledged and closes the connection. */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#fail(new Error(`engine session ${this.#options.session}: closed`), 'closed');
  }

  #label(): string {
    return `engine session ${this.#options.session} to ${this.#options.host}:${this.#options.port} (connection ${this.#connections})`;
  }

  #connect(): void {
    this.#retryTimer = null;
    this.#connections++;
    this.#welcomed = false;
    this.#state = 'connecting';
    const { host, port, session, symbolCount } = this.#options;
    const reader = FrameReader.atClient(this.#label(), { session, lastAcknowledged: this.#lastAcknowledged, symbolCount });
    const socket = connect({ host, port, noDelay: true });
    this.#socket = socket;
    this.#reader = reader;
    socket.on('connect', () => {
      const hello = new Uint8Array(HELLO_FRAME_BYTES);
      encodeHello(hello, 0, session, this.#lastAcknowledged);
      socket.write(hello);
    });
    socket.on('data', (chunk: Buffer) => {
      if (this.#socket !== socket) return;
      try {
        reader.push(chunk);
        for (let type = reader.next(); type !== FRAME_NONE; type = reader.next()) this.#frame(reader, type);
      } catch (error) {
        this.#fail(error as Error, 'failed');
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      if (this.#socket !== socket) return;
      this.#socket = null;
      // Held events of unacknowledged commands are discarded: the server resends them after the next WELCOME.
      for (const pending of this.#pending.values()) pending.events.length = 0;
      if (this.#firstWelcome !== null) {
        const first = this.#firstWelcome;
        this.#firstWelcome = null;
        this.#fail(new Error(`${this.#label()}: the connection closed before the WELCOME`), 'failed');
        first.reject(this.#failure!);
        return;
      }
      if (this.#state === 'failed' || this.#state === 'closed') return;
      this.#state = 'connecting';
      const delay = this.#backoffMs * (0.5 + Math.random() / 2);
      this.#backoffMs = Math.min(BACKOFF_MAX_MS, this.#backoffMs * 2);
      this.#retryTimer = setTimeout(() => this.#connect(), delay);
    });
  }

  #frame(reader: FrameReader, type: number): void {
    if (type === FRAME_WELCOME) {
      this.#welcomed = true;
      this.#state = 'connected';
      this.#design = reader.design;
      this.#backoffMs = BACKOFF_FIRST_MS;
      // The server resends (last acknowledged, last applied]; everything after that goes out again.
      for (const [sequence, pending] of this.#pending) if (sequence > reader.lastApplied) this.#send(sequence, pending.record);
      const first = this.#firstWelcome;
      this.#firstWelcome = null;
      first?.resolve();
    } else if (type === FRAME_EVENT) {
      const pending = this.#pending.get(reader.clientSequence);
      if (pending === undefined) throw new Error(`${this.#label()}: EVENT for client sequence ${reader.clientSequence}, which is not in flight`);
      pending.events.push(reader.bytes.slice(reader.recordOffset, reader.recordOffset + EVENT_BYTES));
    } else if (type === FRAME_ACK) {
      const sequence = reader.clientSequence;
      const pending = this.#pending.get(sequence);
      if (pending === undefined) throw new Error(`${this.#label()}: ACK for client sequence ${sequence}, which is not in flight`);
      this.#pending.delete(sequence);
      this.#lastAcknowledged = sequence;
      const events = new Uint8Array(pending.events.length * EVENT_BYTES);
      pending.events.forEach((event, i) => events.set(event, i * EVENT_BYTES));
      pending.resolve({ clientSequence: sequence, events, count: pending.events.length });
    } else if (type === FRAME_ERROR) {
      const message = `${this.#label()}: the server sent ERROR ${errorCodeName(reader.errorCode)}: ${reader.errorMessage}`;
      // A retryable error is followed by the server's close, and the close reconnects.
      if (!RETRYABLE_ERROR_CODES.has(reader.errorCode)) this.#fail(new Error(message), 'failed');
    }
  }

  #send(sequence: number, record: Uint8Array): void {
    const socket = this.#socket;
    if (socket === null) return;
    const frame = new Uint8Array(COMMAND_FRAME_BYTES);
    encodeCommand(frame, 0, sequence, record, 0);
    if (!this.#corked) {
      // Every command of this event-loop turn goes out in one write.
      this.#corked = true;
      socket.cork();
      process.nextTick(() => {
        this.#corked = false;
        socket.uncork();
      });
    }
    socket.write(frame);
  }

  #fail(error: Error, state: 'failed' | 'closed'): void {
    if (this.#state === 'failed' || this.#state === 'closed') return;
    this.#state = state;
    this.#failure = error;
    if (this.#retryTimer !== null) clearTimeout(this.#retryTimer);
    this.#socket?.destroy();
    this.#socket = null;
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
  }
}
