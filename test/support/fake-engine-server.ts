/**
 * A stand-in for `npm run serve` in the load client's tests: the reference engine (engines/reference.ts) behind
 * the wire protocol (server/protocol.ts) on 127.0.0.1, port 0.
 *
 * Contract, as the real server's: commands are applied in arrival order across all connections, one engine; each
 * session remembers its last applied client sequence and every applied command's EVENT and ACK frames, and a
 * HELLO gets WELCOME then the resend of (last acknowledged, last applied], or ERROR SESSION_BUSY (the session is
 * open elsewhere) / SESSION_AHEAD. A bad frame is answered with its ProtocolError as an ERROR frame. `applied`
 * lists every (session, client sequence) in the order applied, so a test can replay that interleaving.
 *
 * What a test can break on purpose, all seeded (`seed`): drop a connection once it has applied `dropAfter`
 * commands or, after each command, with `dropProbability`; a drop writes a random prefix of the output not yet
 * written (so the client may see some of a command's events, a cut frame, or nothing) and then ends the socket or
 * resets it. `busyAfterDrop` answers the next HELLO of a dropped session with SESSION_BUSY, as a server that has
 * not yet seen the old connection go would. `helloError` answers HELLOs with an ERROR; `welcomeSymbolCount` makes
 * the WELCOME name another symbol table; `holdOutputMs` holds a connection's output back so that the commands
 * received meanwhile (`maxHeldCommands`) show the client's window.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { encodeEventRecord, EVENT_BYTES } from '../../engines/event-record.ts';
import { ReferenceEngine } from '../../engines/reference.ts';
import type { MatchEvent } from '../../engines/types.ts';
import {
  ACK_FRAME_BYTES, encodeAck, encodeError, encodeEvent, encodeWelcome, ERR_SESSION_AHEAD, ERR_SESSION_BUSY,
  EVENT_FRAME_BYTES, FRAME_ERROR, FRAME_HELLO, FRAME_NONE, FRAME_WELCOME, frameBytes, FrameReader, ProtocolError,
} from '../../server/protocol.ts';
import { decodeRecord, RECORD_BYTES, RECORD_F64S, SIDE_BUY, SIDE_SELL } from '../../workloads/workload.ts';

export interface FakeEngineServerOptions {
  readonly symbols: readonly string[];
  /** The symbol count the WELCOME says (default: the table's). */
  readonly welcomeSymbolCount?: number;
  readonly design?: string;
  /** Answer the first `times` HELLOs (default: all) with this ERROR. */
  readonly helloError?: { readonly code: number; readonly message: string; readonly times?: number };
  readonly dropAfter?: number;
  readonly dropProbability?: number;
  /** At most this many drops in all. */
  readonly maxDrops?: number;
  readonly busyAfterDrop?: boolean;
  readonly holdOutputMs?: number;
  readonly seed?: number;
}

interface SessionState {
  lastApplied: number;
  /** EVENT and ACK frames of client sequence k at [k − 1]. */
  readonly frames: Uint8Array[];
  owner: Socket | null;
  /** HELLOs still to refuse with SESSION_BUSY. */
  busyRefusals: number;
}

/** mulberry32: a small seeded PRNG, [0, 1). */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class FakeEngineServer {
  readonly port: number;
  /** Every applied command, in the order applied. */
  readonly applied: { readonly session: number; readonly clientSequence: number }[] = [];
  connections = 0;
  drops = 0;
  maxHeldCommands = 0;

  readonly #server: Server;
  readonly #options: FakeEngineServerOptions;
  readonly #random: () => number;
  readonly #engine = new ReferenceEngine();
  readonly #sessions = new Map<number, SessionState>();
  readonly #sockets = new Set<Socket>();
  readonly #symbolIndex = new Map<string, number>();
  #helloErrorsLeft: number;
  // Scratch for one command: its record (decodeRecord reads at a multiple of 40 bytes) and its event records.
  readonly #record = new Float64Array(RECORD_F64S);
  readonly #recordBytes = new Uint8Array(this.#record.buffer);
  #eventBuffer = new ArrayBuffer(64 * EVENT_BYTES);

  private constructor(server: Server, port: number, options: FakeEngineServerOptions) {
    this.#server = server;
    this.port = port;
    this.#options = options;
    this.#random = seededRandom(options.seed ?? 1);
    this.#helloErrorsLeft = options.helloError === undefined ? 0 : options.helloError.times ?? Infinity;
    options.symbols.forEach((symbol, i) => this.#symbolIndex.set(symbol, i));
  }

  static async start(options: FakeEngineServerOptions): Promise<FakeEngineServer> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('fake engine server: no port');
    const fake = new FakeEngineServer(server, address.port, options);
    server.on('connection', (socket) => fake.#accept(socket));
    return fake;
  }

  /** Last applied client sequence of `session` (0 if unknown). */
  lastApplied(session: number): number {
    return this.#sessions.get(session)?.lastApplied ?? 0;
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(socket: Socket): void {
    this.connections++;
    this.#sockets.add(socket);
    socket.setNoDelay(true);
    const reader = FrameReader.atServer(`${socket.remoteAddress}:${socket.remotePort}`, this.#options.symbols.length);
    let session: SessionState | null = null;
    let appliedHere = 0;
    let finished = false;
    let output: Uint8Array[] = [];
    let heldCommands = 0;
    let holdTimer: NodeJS.Timeout | null = null;
    const flush = (): void => {
      holdTimer = null;
      if (finished || output.length === 0) return;
      socket.write(Buffer.concat(output));
      output = [];
      heldCommands = 0;
    };
    const finishWithError = (code: number, message: string): void => {
      const frame = new Uint8Array(frameBytes(FRAME_ERROR, message));
      encodeError(frame, 0, code, message);
      output.push(frame);
      flush();
      finished = true;
      socket.end();
    };
    const drop = (): void => {
      const pending = Buffer.concat(output);
      const cut = pending.subarray(0, Math.floor(this.#random() * (pending.length + 1)));
      finished = true;
      this.drops++;
      if (session !== null) {
        session.owner = null;
        if (this.#options.busyAfterDrop === true) session.busyRefusals = 1;
      }
      if (this.#random() < 0.5) socket.end(cut);
      else socket.write(cut, () => socket.resetAndDestroy());
    };
    const dropsLeft = (): boolean => this.drops < (this.#options.maxDrops ?? Infinity);

    socket.on('data', (chunk: Buffer) => {
      if (finished) return;
      try {
        reader.push(chunk);
        for (let type = reader.next(); type !== FRAME_NONE; type = reader.next()) {
          if (type === FRAME_HELLO) {
            const id = reader.session;
            const helloError = this.#options.helloError;
            if (helloError !== undefined && this.#helloErrorsLeft > 0) {
              this.#helloErrorsLeft--;
              finishWithError(helloError.code, helloError.message);
              return;
            }
            let state = this.#sessions.get(id);
            if (state === undefined) {
              state = { lastApplied: 0, frames: [], owner: null, busyRefusals: 0 };
              this.#sessions.set(id, state);
            }
            if (state.owner !== null || state.busyRefusals > 0) {
              if (state.busyRefusals > 0) state.busyRefusals--;
              finishWithError(ERR_SESSION_BUSY, `session ${id} is open on another connection`);
              return;
            }
            if (reader.lastAcknowledged > state.lastApplied) {
              finishWithError(ERR_SESSION_AHEAD, `session ${id}: last acknowledged ${reader.lastAcknowledged}, last applied ${state.lastApplied}`);
              return;
            }
            reader.acceptSession(state.lastApplied);
            state.owner = socket;
            session = state;
            const design = this.#options.design ?? 'fake-reference';
            const welcome = new Uint8Array(frameBytes(FRAME_WELCOME, design));
            encodeWelcome(welcome, 0, id, this.#options.welcomeSymbolCount ?? this.#options.symbols.length, state.lastApplied, design);
            output.push(welcome, ...state.frames.slice(reader.lastAcknowledged, state.lastApplied));
          } else {
            output.push(this.#apply(session!, reader));
            this.applied.push({ session: reader.session, clientSequence: reader.clientSequence });
            appliedHere++;
            heldCommands++;
            if (heldCommands > this.maxHeldCommands) this.maxHeldCommands = heldCommands;
            const dropHere = appliedHere === this.#options.dropAfter || this.#random() < (this.#options.dropProbability ?? 0);
            if (dropHere && dropsLeft()) {
              drop();
              return;
            }
          }
        }
      } catch (error) {
        if (!(error instanceof ProtocolError)) throw error;
        finishWithError(error.code, error.message);
        return;
      }
      const hold = this.#options.holdOutputMs;
      if (hold === undefined) flush();
      else if (holdTimer === null) holdTimer = setTimeout(flush, hold);
    });
    socket.on('error', () => { /* a reset by the client or by a drop: the close below is what counts */ });
    socket.on('close', () => {
      this.#sockets.delete(socket);
      finished = true;
      if (holdTimer !== null) clearTimeout(holdTimer);
      if (session !== null && session.owner === socket) session.owner = null;
    });
  }

  /** Applies the reader's COMMAND to the engine; returns its EVENT and ACK frames (also kept for resends). */
  #apply(session: SessionState, reader: FrameReader): Uint8Array {
    const clientSequence = reader.clientSequence;
    this.#recordBytes.set(reader.bytes.subarray(reader.recordOffset, reader.recordOffset + RECORD_BYTES));
    const command = decodeRecord(this.#recordBytes, this.#record, 0, this.#options.symbols);
    let n = 0;
    this.#engine.process(command, clientSequence, (event) => {
      if ((n + 1) * EVENT_BYTES > this.#eventBuffer.byteLength) {
        const grown = new ArrayBuffer(this.#eventBuffer.byteLength * 2);
        new Uint8Array(grown).set(new Uint8Array(this.#eventBuffer));
        this.#eventBuffer = grown;
      }
      this.#writeEvent(event, n++);
    });
    const events = new Uint8Array(this.#eventBuffer);
    const frames = new Uint8Array(n * EVENT_FRAME_BYTES + ACK_FRAME_BYTES);
    let at = 0;
    for (let e = 0; e < n; e++) at = encodeEvent(frames, at, clientSequence, events, e * EVENT_BYTES);
    encodeAck(frames, at, clientSequence);
    session.frames[clientSequence - 1] = frames;
    session.lastApplied = clientSequence;
    return frames;
  }

  #writeEvent(e: MatchEvent, i: number): void {
    const buffer = this.#eventBuffer;
    encodeEventRecord(new Uint8Array(buffer), new Uint32Array(buffer), new Float64Array(buffer), i, e, this.#symbolIndex.get(e.sym)!);
  }
}
