/**
 * The engine server's wire protocol ("MBWP"): what `npm run serve` (an engine design behind a TCP socket) and
 * `npm run load` (its client) say to each other. Described once, here; the README ("Wire protocol") has the same text.
 *
 * A connection carries length-prefixed frames, version 1, all integers little-endian. Every frame is a multiple of
 * 8 bytes, so in a stream decoded from an 8-aligned buffer every frame, and every f64 in it, is 8-aligned:
 *
 *   offset  size  field
 *   0       4     payload length L: u32, a multiple of 8, at most MAX_PAYLOAD_BYTES (1024), exactly the size the
 *                 type has (fixed types) or the size its text implies (WELCOME, ERROR)
 *   4       1     type: u8 (below)
 *   5       3     reserved: zero
 *   8       L     payload
 *
 *   type  name     way     L        payload (offsets from the frame's start)
 *   1     HELLO    c → s   16       8 version u16 = 1 · 10 reserved u16 = 0 · 12 session id u32 ≥ 1 (the client's
 *                                   choice) · 16 last acknowledged client sequence f64 (0 = none)
 *   2     COMMAND  c → s   48       8 client sequence f64 · 16 command record (40 bytes, workloads/workload.ts)
 *   3     WELCOME  s → c   24–1024  8 session id u32 · 12 symbol count u32 · 16 last applied client sequence f64 ·
 *                                   24 design name length D u16 · 26 D bytes of UTF-8 · zero bytes to a multiple of 8
 *   4     EVENT    s → c   48       8 event record (48 bytes, engines/event-record.ts); its `seq` field holds the
 *                                   client sequence of the command that caused it
 *   5     ACK      s → c   8        8 client sequence f64: that command is complete (all its EVENTs came before) and,
 *                                   in the journal modes that promise it, durable
 *   6     ERROR    s → c   8–1008   8 code u16 (ERROR_CODES) · 10 message length M u16 · 12 M bytes of UTF-8 · zero
 *                                   bytes to a multiple of 8; then the server closes the connection
 *
 * Session contract. A session is the client's: its id and its client sequences, consecutive integers from 1 (each
 * COMMAND's is the previous one's + 1). The server remembers, per session, the last client sequence it applied, and
 * applies each one exactly once. A connection starts with one HELLO; the client sends nothing else until the
 * WELCOME. The server then resends the EVENTs and ACK of every command after the client's last acknowledged one up
 * to its last applied one, and the client continues from last applied + 1:
 *
 *   client                                             server (session 7 applied up to 42)
 *     │ HELLO {version 1, session 7, last acknowledged 40}  │
 *     │────────────────────────────────────────────────────►│
 *     │ WELCOME {session 7, last applied 42, "disruptor"}   │
 *     │◄────────────────────────────────────────────────────│
 *     │ EVENT … ACK 41, EVENT … ACK 42        (the resend)  │
 *     │◄────────────────────────────────────────────────────│
 *     │ COMMAND 43, COMMAND 44, …                           │
 *     │────────────────────────────────────────────────────►│
 *     │ EVENT … ACK 43, EVENT … ACK 44, …                   │
 *     │◄────────────────────────────────────────────────────│
 *
 * A session's ACKs come in client-sequence order, each command's EVENTs before its ACK. Where the server cannot keep
 * that promise it sends ERROR instead of WELCOME: SESSION_AHEAD (last acknowledged > last applied: it lost
 * acknowledged commands), RESEND_UNAVAILABLE (it no longer holds the events to resend), SESSION_BUSY.
 *
 * Errors. A frame breaking any rule (length, type, direction, order, version, a field's range, the consecutive
 * sequence rule, a command record breaking the canonical rules of workloads/binary.ts `recordProblem`) is a
 * ProtocolError naming the connection, the frame number, the frame's byte offset in the stream and the field; the
 * server sends it as an ERROR frame and closes. The client closes on any error.
 *
 * Version rule: a change to any frame's layout or meaning, or a new frame type, bumps PROTOCOL_VERSION; the server
 * speaks one version and answers any other with ERROR BAD_VERSION. The frame header, HELLO's version field and the
 * ERROR frame never change, so that answer reaches a client of any version (a HELLO's version is checked before its
 * length). New error codes need no bump: a client treats a code it does not know as a failure.
 */
import { EV_F64_SEQ, EV_OFF_FLAGS, EV_OFF_KIND, EV_RESTED, EV_RESUMED, EVENT_BYTES } from '../engines/event-record.ts';
import { recordProblem } from '../workloads/binary.ts';
import { RECORD_BYTES } from '../workloads/workload.ts';

export const PROTOCOL_VERSION = 1;

/** Frame header. */
export const HEADER_BYTES = 8;
export const OFF_LENGTH = 0;
export const OFF_TYPE = 4;
export const OFF_RESERVED = 5;
/** Bounded so a reader never buffers more than this for one frame, whatever length a peer claims. */
export const MAX_PAYLOAD_BYTES = 1024;
export const MAX_FRAME_BYTES = HEADER_BYTES + MAX_PAYLOAD_BYTES;
/** The longest design name or error message, in UTF-8 bytes (either frame then fits MAX_PAYLOAD_BYTES). */
export const MAX_TEXT_BYTES = 1000;

/** Frame types; FRAME_NONE is FrameReader.next()'s "no complete frame buffered". */
export const FRAME_NONE = 0;
export const FRAME_HELLO = 1;
export const FRAME_COMMAND = 2;
export const FRAME_WELCOME = 3;
export const FRAME_EVENT = 4;
export const FRAME_ACK = 5;
export const FRAME_ERROR = 6;
export const FRAME_NAMES = ['none', 'HELLO', 'COMMAND', 'WELCOME', 'EVENT', 'ACK', 'ERROR'] as const;
const SENT_BY_CLIENT = [false, true, true, false, false, false, false] as const;

/** Field offsets, from the start of the frame. */
export const HELLO_OFF_VERSION = 8;
export const HELLO_OFF_RESERVED = 10;
export const HELLO_OFF_SESSION = 12;
export const HELLO_OFF_LAST_ACKNOWLEDGED = 16;
export const COMMAND_OFF_CLIENT_SEQUENCE = 8;
export const COMMAND_OFF_RECORD = 16;
export const WELCOME_OFF_SESSION = 8;
export const WELCOME_OFF_SYMBOL_COUNT = 12;
export const WELCOME_OFF_LAST_APPLIED = 16;
export const WELCOME_OFF_DESIGN_LENGTH = 24;
export const WELCOME_OFF_DESIGN = 26;
export const EVENT_OFF_RECORD = 8;
export const ACK_OFF_CLIENT_SEQUENCE = 8;
export const ERROR_OFF_CODE = 8;
export const ERROR_OFF_MESSAGE_LENGTH = 10;
export const ERROR_OFF_MESSAGE = 12;

/** Whole-frame sizes of the fixed-size types. */
export const HELLO_FRAME_BYTES = 24;
export const COMMAND_FRAME_BYTES = COMMAND_OFF_RECORD + RECORD_BYTES;
export const EVENT_FRAME_BYTES = EVENT_OFF_RECORD + EVENT_BYTES;
export const ACK_FRAME_BYTES = 16;

/** ERROR frame codes: 1–15 are what a FrameReader finds, 16 and up are the server's decisions. */
export const ERR_BAD_LENGTH = 1;
export const ERR_BAD_TYPE = 2;
export const ERR_OUT_OF_ORDER = 3;
export const ERR_BAD_VERSION = 4;
export const ERR_BAD_FIELD = 5;
export const ERR_BAD_SEQUENCE = 6;
export const ERR_BAD_RECORD = 7;
export const ERR_SESSION_BUSY = 16;
export const ERR_SESSION_AHEAD = 17;
export const ERR_RESEND_UNAVAILABLE = 18;
export const ERR_SHUTTING_DOWN = 19;
export const ERR_ENGINE_FAILED = 20;
export const ERROR_CODES: readonly { readonly code: number; readonly name: string; readonly meaning: string }[] = [
  { code: ERR_BAD_LENGTH, name: 'BAD_LENGTH', meaning: 'a length not a multiple of 8, above the maximum or not the size of its type; or the stream ended inside a frame' },
  { code: ERR_BAD_TYPE, name: 'BAD_TYPE', meaning: 'an unknown frame type, or one that travels the other way' },
  { code: ERR_OUT_OF_ORDER, name: 'OUT_OF_ORDER', meaning: 'HELLO not first or sent twice, a frame before WELCOME, a frame after ERROR' },
  { code: ERR_BAD_VERSION, name: 'BAD_VERSION', meaning: "HELLO's protocol version is not the server's" },
  { code: ERR_BAD_FIELD, name: 'BAD_FIELD', meaning: 'a field out of range: reserved or padding bytes not 0, session 0, a sequence not an integer, text not UTF-8' },
  { code: ERR_BAD_SEQUENCE, name: 'BAD_SEQUENCE', meaning: 'a client sequence that is not the previous + 1 (the first: last applied + 1)' },
  { code: ERR_BAD_RECORD, name: 'BAD_RECORD', meaning: 'a command record breaking the canonical rules, or an unknown event kind' },
  { code: ERR_SESSION_BUSY, name: 'SESSION_BUSY', meaning: 'the session is open on another connection' },
  { code: ERR_SESSION_AHEAD, name: 'SESSION_AHEAD', meaning: "HELLO's last acknowledged is beyond the server's last applied: the server lost acknowledged commands" },
  { code: ERR_RESEND_UNAVAILABLE, name: 'RESEND_UNAVAILABLE', meaning: 'the server no longer holds the events it would have to resend' },
  { code: ERR_SHUTTING_DOWN, name: 'SHUTTING_DOWN', meaning: 'the server is stopping' },
  { code: ERR_ENGINE_FAILED, name: 'ENGINE_FAILED', meaning: 'the engine failed; the message says how' },
];

export function errorCodeName(code: number): string {
  return ERROR_CODES.find((entry) => entry.code === code)?.name ?? `code ${code}`;
}

/** A frame that breaks the protocol; `code` is what the server puts in its ERROR frame. */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  readonly connection: string;
  /** 1-based number of the frame on its connection. */
  readonly frame: number;
  /** Byte offset of the frame in the connection's stream. */
  readonly offset: number;
  /** The field at fault; a record's fields are `record.qty`, `event.kind`. */
  readonly field: string;
  readonly code: number;

  constructor(connection: string, frame: number, offset: number, subject: string, field: string, code: number, problem: string) {
    const dot = field.indexOf('.');
    super(`connection ${connection}, frame ${frame} at byte ${offset}: ${subject} field "${field.slice(dot + 1)}": ${problem}`);
    this.connection = connection;
    this.frame = frame;
    this.offset = offset;
    this.field = field;
    this.code = code;
  }
}

const padded = (n: number): number => Math.ceil(n / 8) * 8;

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
/** Text is encoded here first, so that its size is known before the frame is written (and capped at the maximum). */
const textStage = new Uint8Array(MAX_TEXT_BYTES);

/** Stages `text` as UTF-8 and returns its byte length; an error message is cut at a character boundary. */
function stageText(text: string, truncate: boolean): number {
  const { read, written } = textEncoder.encodeInto(text, textStage);
  if (read < text.length && !truncate) throw new RangeError(`design name ${JSON.stringify(text)} is longer than ${MAX_TEXT_BYTES} bytes of UTF-8`);
  return written;
}

/** Size in bytes of a frame of `type`; WELCOME and ERROR take their text (the design name, the message). */
export function frameBytes(type: number, text = ''): number {
  switch (type) {
    case FRAME_HELLO: return HELLO_FRAME_BYTES;
    case FRAME_COMMAND: return COMMAND_FRAME_BYTES;
    case FRAME_EVENT: return EVENT_FRAME_BYTES;
    case FRAME_ACK: return ACK_FRAME_BYTES;
    case FRAME_WELCOME: return padded(WELCOME_OFF_DESIGN + stageText(text, false));
    case FRAME_ERROR: return padded(ERROR_OFF_MESSAGE + stageText(text, true));
    default: throw new RangeError(`frameBytes: unknown frame type ${type}`);
  }
}

// Encoders write through a DataView of the target; the server encodes many frames into one batch buffer, so caching
// the view of the last target keeps encoding free of allocation.
let lastTarget: Uint8Array | undefined;
let lastView: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));

/** Checks that a frame of `size` bytes fits at `offset`, writes its header, and returns the target's view. */
function startFrame(target: Uint8Array, offset: number, size: number, type: number): DataView {
  if (!(Number.isInteger(offset) && offset >= 0 && offset + size <= target.length)) {
    throw new RangeError(`encode ${FRAME_NAMES[type]}: ${size} bytes at offset ${offset} do not fit a buffer of ${target.length}`);
  }
  if (target !== lastTarget) {
    lastView = new DataView(target.buffer, target.byteOffset, target.byteLength);
    lastTarget = target;
  }
  // One u32 store writes the type and zeroes the three reserved bytes.
  lastView.setUint32(offset + OFF_LENGTH, size - HEADER_BYTES, true);
  lastView.setUint32(offset + OFF_TYPE, type, true);
  return lastView;
}

function checkSequence(value: number, min: number, what: string): void {
  if (!(Number.isSafeInteger(value) && value >= min)) throw new RangeError(`${what} must be an integer ≥ ${min}, got ${value}`);
}

function checkSession(session: number): void {
  if (!(Number.isInteger(session) && session >= 1 && session <= 0xffff_ffff)) throw new RangeError(`session id must be an integer in 1..2^32-1, got ${session}`);
}

function copyBytes(from: Uint8Array, fromOffset: number, to: Uint8Array, toOffset: number, n: number): void {
  if (fromOffset < 0 || fromOffset + n > from.length) throw new RangeError(`record at offset ${fromOffset} runs past a buffer of ${from.length} bytes`);
  for (let i = 0; i < n; i++) to[toOffset + i] = from[fromOffset + i]!;
}

/** Writes the text staged by stageText at `at`, then zero bytes to the frame's end. */
function writeStagedText(target: Uint8Array, at: number, n: number, frameEnd: number): void {
  copyBytes(textStage, 0, target, at, n);
  target.fill(0, at + n, frameEnd);
}

/** Each encoder writes one frame at `offset` of `target` and returns the offset just past it. */
export function encodeHello(target: Uint8Array, offset: number, session: number, lastAcknowledged: number): number {
  checkSession(session);
  checkSequence(lastAcknowledged, 0, 'last acknowledged client sequence');
  const view = startFrame(target, offset, HELLO_FRAME_BYTES, FRAME_HELLO);
  view.setUint16(offset + HELLO_OFF_VERSION, PROTOCOL_VERSION, true);
  view.setUint16(offset + HELLO_OFF_RESERVED, 0, true);
  view.setUint32(offset + HELLO_OFF_SESSION, session, true);
  view.setFloat64(offset + HELLO_OFF_LAST_ACKNOWLEDGED, lastAcknowledged, true);
  return offset + HELLO_FRAME_BYTES;
}

/** COMMAND with the 40-byte record at `recordOffset` of `records` (copied as is: the server checks it). */
export function encodeCommand(target: Uint8Array, offset: number, clientSequence: number, records: Uint8Array, recordOffset: number): number {
  checkSequence(clientSequence, 1, 'client sequence');
  startFrame(target, offset, COMMAND_FRAME_BYTES, FRAME_COMMAND).setFloat64(offset + COMMAND_OFF_CLIENT_SEQUENCE, clientSequence, true);
  copyBytes(records, recordOffset, target, offset + COMMAND_OFF_RECORD, RECORD_BYTES);
  return offset + COMMAND_FRAME_BYTES;
}

export function encodeWelcome(target: Uint8Array, offset: number, session: number, symbolCount: number, lastApplied: number, design: string): number {
  checkSession(session);
  checkSequence(lastApplied, 0, 'last applied client sequence');
  const n = stageText(design, false);
  const size = padded(WELCOME_OFF_DESIGN + n);
  const view = startFrame(target, offset, size, FRAME_WELCOME);
  view.setUint32(offset + WELCOME_OFF_SESSION, session, true);
  view.setUint32(offset + WELCOME_OFF_SYMBOL_COUNT, symbolCount, true);
  view.setFloat64(offset + WELCOME_OFF_LAST_APPLIED, lastApplied, true);
  view.setUint16(offset + WELCOME_OFF_DESIGN_LENGTH, n, true);
  writeStagedText(target, offset + WELCOME_OFF_DESIGN, n, offset + size);
  return offset + size;
}

/** EVENT with the 48-byte event record at `eventOffset` of `events`, its `seq` replaced by `clientSequence`. */
export function encodeEvent(target: Uint8Array, offset: number, clientSequence: number, events: Uint8Array, eventOffset: number): number {
  checkSequence(clientSequence, 1, 'client sequence');
  const view = startFrame(target, offset, EVENT_FRAME_BYTES, FRAME_EVENT);
  copyBytes(events, eventOffset, target, offset + EVENT_OFF_RECORD, EVENT_BYTES);
  // The ACK frame ends a command on the wire: the record's flags (delivery framing inside the process) go out as 0.
  target[offset + EVENT_OFF_RECORD + EV_OFF_FLAGS] = 0;
  view.setFloat64(offset + EVENT_OFF_RECORD + EV_F64_SEQ * 8, clientSequence, true);
  return offset + EVENT_FRAME_BYTES;
}

export function encodeAck(target: Uint8Array, offset: number, clientSequence: number): number {
  checkSequence(clientSequence, 1, 'client sequence');
  startFrame(target, offset, ACK_FRAME_BYTES, FRAME_ACK).setFloat64(offset + ACK_OFF_CLIENT_SEQUENCE, clientSequence, true);
  return offset + ACK_FRAME_BYTES;
}

/** ERROR with `code` and `message`, the message cut to MAX_TEXT_BYTES (an error report must not fail). */
export function encodeError(target: Uint8Array, offset: number, code: number, message: string): number {
  if (!(Number.isInteger(code) && code >= 0 && code <= 0xffff)) throw new RangeError(`error code must be a u16, got ${code}`);
  const n = stageText(message, true);
  const size = padded(ERROR_OFF_MESSAGE + n);
  const view = startFrame(target, offset, size, FRAME_ERROR);
  view.setUint16(offset + ERROR_OFF_CODE, code, true);
  view.setUint16(offset + ERROR_OFF_MESSAGE_LENGTH, n, true);
  writeStagedText(target, offset + ERROR_OFF_MESSAGE, n, offset + size);
  return offset + size;
}

/** Smallest payload of each type: the fixed size, or the variable frames' fixed part. */
const MIN_PAYLOAD = [0, 8, COMMAND_FRAME_BYTES - 8, padded(WELCOME_OFF_DESIGN) - 8, EVENT_FRAME_BYTES - 8, ACK_FRAME_BYTES - 8, padded(ERROR_OFF_MESSAGE) - 8];
const KNOWN_TYPES = FRAME_NAMES.slice(1).map((name, i) => `${i + 1} ${name}`).join(', ');

/**
 * Decodes one connection's incoming stream, one end's view: `FrameReader.atServer` reads HELLO and COMMAND,
 * `FrameReader.atClient` reads WELCOME, EVENT, ACK and ERROR. Feed it TCP chunks with `push`, then call `next()`
 * until it returns FRAME_NONE; each call validates one whole frame and returns its type. The frame's fields are then
 * the reader's getters (`clientSequence`, `recordOffset`, …), and its record lies in `bytes` / `words` / `f64` at
 * `recordOffset` (8-aligned), all valid until the next `push` or `next`.
 *
 * Why pull and not objects or callbacks: nothing is allocated per frame (a server at ~1 M commands/s would spend
 * its time collecting per-command objects), and the owner decides when to take the next frame, so a server whose
 * engine ring is full stops calling `next()` and pauses the socket, with nothing to hold aside. Chunks are copied
 * once into the reader's own buffer: one memcpy per byte received buys 8-byte alignment wherever the kernel split
 * the stream, and a frame split across chunks needs no special case.
 *
 * The first ProtocolError is final: every later call throws it again.
 */
export class FrameReader {
  readonly connection: string;
  readonly #atServer: boolean;
  readonly #symbolCount: number;
  #bytes = new Uint8Array(64 * 1024);
  #words = new Uint32Array(this.#bytes.buffer);
  #f64 = new Float64Array(this.#bytes.buffer);
  #view = new DataView(this.#bytes.buffer);
  /** Unread bytes are [#start, #end) of #bytes; #bytes[0] is byte #streamBase of the stream. */
  #start = 0;
  #end = 0;
  #streamBase = 0;
  #frames = 0;
  #failure: ProtocolError | undefined;
  #type = FRAME_NONE;
  #frameOffset = 0;
  #clientSequence = 0;
  #recordOffset = 0;
  #session = 0;
  #lastAcknowledged = 0;
  #lastApplied = -1;
  /** Server: the client sequence the next COMMAND must carry; client: the next ACK's. 0 until the WELCOME. */
  #nextSequence = 0;
  #design = '';
  #errorSeen = false;
  #errorCode = 0;
  #errorMessage = '';
  /** recordProblem reads a record at a multiple of 40 bytes, so a COMMAND's record is checked in this copy. */
  readonly #check = new Uint32Array(RECORD_BYTES / 4);
  readonly #checkBytes = new Uint8Array(this.#check.buffer);
  readonly #checkF64 = new Float64Array(this.#check.buffer);

  private constructor(connection: string, atServer: boolean, symbolCount: number) {
    this.connection = connection;
    this.#atServer = atServer;
    this.#symbolCount = symbolCount;
  }

  /** The server's reader; command records' `sym` must index a table of `symbolCount` symbols. */
  static atServer(connection: string, symbolCount: number): FrameReader {
    return new FrameReader(connection, true, symbolCount);
  }

  /** The client's reader, for a connection it opened with this HELLO and its table of `symbolCount` symbols. */
  static atClient(connection: string, hello: { readonly session: number; readonly lastAcknowledged: number; readonly symbolCount: number }): FrameReader {
    const reader = new FrameReader(connection, false, hello.symbolCount);
    reader.#session = hello.session;
    reader.#lastAcknowledged = hello.lastAcknowledged;
    return reader;
  }

  /** Views of the reader's buffer (replaced when it grows: read them after `next()`, do not keep them). */
  get bytes(): Uint8Array { return this.#bytes; }
  get words(): Uint32Array { return this.#words; }
  get f64(): Float64Array { return this.#f64; }
  /** The current frame: its type (FRAME_NONE after a push or an empty next), number and stream byte offset. */
  get type(): number { return this.#type; }
  get frameNumber(): number { return this.#frames; }
  get frameOffset(): number { return this.#frameOffset; }
  /** COMMAND, EVENT, ACK: the command's client sequence. */
  get clientSequence(): number { return this.#clientSequence; }
  /** COMMAND: index in `bytes` of its 40-byte command record; EVENT: of its 48-byte event record. */
  get recordOffset(): number { return this.#recordOffset; }
  /** The session id (from HELLO at the server, the client's own at the client). */
  get session(): number { return this.#session; }
  /** HELLO's last acknowledged at the server; the last ACK received (at first HELLO's) at the client. */
  get lastAcknowledged(): number { return this.#lastAcknowledged; }
  /** The WELCOME's last applied client sequence (-1 before it). */
  get lastApplied(): number { return this.#lastApplied; }
  /** WELCOME: the design name. */
  get design(): string { return this.#design; }
  /** ERROR: the code and message. */
  get errorCode(): number { return this.#errorCode; }
  get errorMessage(): string { return this.#errorMessage; }
  /** Bytes received and not yet returned as frames. */
  get buffered(): number { return this.#end - this.#start; }

  /** Appends a chunk of the stream (copied: the caller may reuse it). */
  push(chunk: Uint8Array): void {
    if (this.#failure !== undefined) throw this.#failure;
    this.#type = FRAME_NONE;
    const unread = this.#end - this.#start;
    if (this.#end + chunk.length > this.#bytes.length || unread === 0) {
      // Move the unread bytes (a partial frame, normally) to the front, growing the buffer if they and the chunk
      // do not fit. Frames are multiples of 8, so the front of the buffer is always a frame boundary.
      let bytes = this.#bytes;
      if (unread + chunk.length > bytes.length) {
        let capacity = bytes.length * 2;
        while (capacity < unread + chunk.length) capacity *= 2;
        bytes = new Uint8Array(capacity);
        bytes.set(this.#bytes.subarray(this.#start, this.#end));
        this.#bytes = bytes;
        this.#words = new Uint32Array(bytes.buffer);
        this.#f64 = new Float64Array(bytes.buffer);
        this.#view = new DataView(bytes.buffer);
      } else {
        bytes.copyWithin(0, this.#start, this.#end);
      }
      this.#streamBase += this.#start;
      this.#start = 0;
      this.#end = unread;
    }
    this.#bytes.set(chunk, this.#end);
    this.#end += chunk.length;
  }

  /** Validates and returns the next complete frame's type, or FRAME_NONE when no whole frame is buffered. */
  next(): number {
    if (this.#failure !== undefined) throw this.#failure;
    if (this.#atServer && this.#session !== 0 && this.#nextSequence === 0) throw new Error(`connection ${this.connection}: next() after the HELLO before acceptSession()`);
    this.#type = FRAME_NONE;
    const at = this.#start;
    if (this.#end - at < HEADER_BYTES) return FRAME_NONE;
    const length = this.#view.getUint32(at + OFF_LENGTH, true);
    const type = this.#bytes[at + OFF_TYPE]!;
    this.#checkHeader(at, length, type);
    if (this.#end - at < HEADER_BYTES + length) return FRAME_NONE;
    this.#readPayload(at, length, type);
    this.#frames++;
    this.#frameOffset = this.#streamBase + at;
    this.#start = at + HEADER_BYTES + length;
    this.#type = type;
    return type;
  }

  /** Server, after the HELLO: the session's last applied client sequence (what the WELCOME says). */
  acceptSession(lastApplied: number): void {
    if (!this.#atServer || this.#session === 0 || this.#nextSequence !== 0) throw new Error(`connection ${this.connection}: acceptSession() is for a server's reader, once, after the HELLO`);
    checkSequence(lastApplied, 0, 'last applied client sequence');
    this.#lastApplied = lastApplied;
    this.#nextSequence = lastApplied + 1;
  }

  /** The stream ended (call after next() returned FRAME_NONE): throws if it ended inside a frame. */
  end(): void {
    if (this.#failure !== undefined) throw this.#failure;
    const left = this.#end - this.#start;
    if (left === 0) return;
    if (left < HEADER_BYTES) this.#fail(this.#start, 'frame header', 'length', ERR_BAD_LENGTH, `the stream ended after ${left} of the header's ${HEADER_BYTES} bytes`);
    const type = this.#bytes[this.#start + OFF_TYPE]!;
    const size = HEADER_BYTES + this.#view.getUint32(this.#start + OFF_LENGTH, true);
    if (left >= size) throw new Error(`connection ${this.connection}: end() with a whole frame unread (call next() until FRAME_NONE first)`);
    this.#fail(this.#start, FRAME_NAMES[type]!, 'length', ERR_BAD_LENGTH, `the stream ended after ${left} of the frame's ${size} bytes`);
  }

  #fail(at: number, subject: string, field: string, code: number, problem: string): never {
    this.#type = FRAME_NONE;
    this.#failure = new ProtocolError(this.connection, this.#frames + 1, this.#streamBase + at, subject, field, code, problem);
    throw this.#failure;
  }

  /** What can be checked before the payload has arrived: so a bad length never makes the reader wait or buffer. */
  #checkHeader(at: number, length: number, type: number): void {
    if (length % 8 !== 0) this.#fail(at, 'frame header', 'length', ERR_BAD_LENGTH, `payload length ${length} is not a multiple of 8`);
    if (length > MAX_PAYLOAD_BYTES) this.#fail(at, 'frame header', 'length', ERR_BAD_LENGTH, `payload length ${length} is above the maximum ${MAX_PAYLOAD_BYTES}`);
    if (type === FRAME_NONE || type > FRAME_ERROR) this.#fail(at, 'frame header', 'type', ERR_BAD_TYPE, `unknown frame type ${type} (known: ${KNOWN_TYPES})`);
    const name = FRAME_NAMES[type]!;
    if (SENT_BY_CLIENT[type] !== this.#atServer) {
      const reads = this.#atServer ? 'HELLO and COMMAND' : 'WELCOME, EVENT, ACK and ERROR';
      this.#fail(at, name, 'type', ERR_BAD_TYPE, `${name} (type ${type}) travels ${this.#atServer ? 'server → client' : 'client → server'}; the ${this.#atServer ? 'server' : 'client'} reads ${reads}`);
    }
    const b = this.#bytes;
    if ((b[at + OFF_RESERVED]! | b[at + OFF_RESERVED + 1]! | b[at + OFF_RESERVED + 2]!) !== 0) this.#fail(at, 'frame header', 'reserved', ERR_BAD_FIELD, 'the 3 bytes after the type must be 0');
    const fixed = type !== FRAME_HELLO && type !== FRAME_WELCOME && type !== FRAME_ERROR;
    if (fixed ? length !== MIN_PAYLOAD[type] : length < MIN_PAYLOAD[type]!) {
      this.#fail(at, name, 'length', ERR_BAD_LENGTH, `payload length ${length}; a ${name} payload is ${fixed ? '' : 'at least '}${MIN_PAYLOAD[type]} bytes`);
    }
    if (this.#atServer) {
      if (type === FRAME_HELLO && this.#session !== 0) this.#fail(at, name, 'type', ERR_OUT_OF_ORDER, 'a second HELLO (a connection has one, first)');
      if (type === FRAME_COMMAND && this.#session === 0) this.#fail(at, name, 'type', ERR_OUT_OF_ORDER, 'a COMMAND before the HELLO (a connection starts with HELLO)');
    } else if (this.#errorSeen) {
      this.#fail(at, name, 'type', ERR_OUT_OF_ORDER, 'a frame after the ERROR (ERROR is the last frame)');
    } else if (type === FRAME_WELCOME ? this.#lastApplied >= 0 : type !== FRAME_ERROR && this.#lastApplied < 0) {
      this.#fail(at, name, 'type', ERR_OUT_OF_ORDER, type === FRAME_WELCOME ? 'a second WELCOME' : `${name} before the WELCOME (the server answers HELLO with WELCOME or ERROR)`);
    }
  }

  #readPayload(at: number, length: number, type: number): void {
    const view = this.#view;
    switch (type) {
      case FRAME_HELLO: {
        const version = view.getUint16(at + HELLO_OFF_VERSION, true);
        if (version !== PROTOCOL_VERSION) this.#fail(at, 'HELLO', 'version', ERR_BAD_VERSION, `protocol version ${version}; this server speaks version ${PROTOCOL_VERSION}`);
        if (length !== HELLO_FRAME_BYTES - HEADER_BYTES) this.#fail(at, 'HELLO', 'length', ERR_BAD_LENGTH, `payload length ${length}; a version ${PROTOCOL_VERSION} HELLO payload is ${HELLO_FRAME_BYTES - HEADER_BYTES} bytes`);
        if (view.getUint16(at + HELLO_OFF_RESERVED, true) !== 0) this.#fail(at, 'HELLO', 'reserved', ERR_BAD_FIELD, 'must be 0');
        const session = view.getUint32(at + HELLO_OFF_SESSION, true);
        if (session === 0) this.#fail(at, 'HELLO', 'session', ERR_BAD_FIELD, 'session id 0; session ids are ≥ 1');
        const lastAcknowledged = view.getFloat64(at + HELLO_OFF_LAST_ACKNOWLEDGED, true);
        if (!(Number.isSafeInteger(lastAcknowledged) && lastAcknowledged >= 0)) this.#fail(at, 'HELLO', 'last acknowledged', ERR_BAD_FIELD, `${lastAcknowledged}, expected an integer ≥ 0 (0 = none)`);
        this.#session = session;
        this.#lastAcknowledged = lastAcknowledged;
        return;
      }
      case FRAME_COMMAND: {
        const sequence = this.#f64[(at + COMMAND_OFF_CLIENT_SEQUENCE) >> 3]!;
        if (!(Number.isSafeInteger(sequence) && sequence >= 1)) this.#fail(at, 'COMMAND', 'client sequence', ERR_BAD_FIELD, `${sequence}, expected an integer ≥ 1`);
        if (sequence !== this.#nextSequence) {
          const why = this.#nextSequence === this.#lastApplied + 1 ? `the WELCOME's last applied ${this.#lastApplied} + 1` : 'the previous + 1';
          this.#fail(at, 'COMMAND', 'client sequence', ERR_BAD_SEQUENCE, `${sequence}, expected ${this.#nextSequence} (${why})`);
        }
        const word = (at + COMMAND_OFF_RECORD) >> 2;
        for (let k = 0; k < RECORD_BYTES / 4; k++) this.#check[k] = this.#words[word + k]!;
        const problem = recordProblem(this.#checkBytes, this.#check, this.#checkF64, 0, this.#symbolCount);
        if (problem !== null) {
          const match = /^field '([^']+)': ([\s\S]*)$/.exec(problem);
          this.#fail(at, 'COMMAND record', `record.${match?.[1] ?? 'op'}`, ERR_BAD_RECORD, match?.[2] ?? problem);
        }
        this.#nextSequence++;
        this.#clientSequence = sequence;
        this.#recordOffset = at + COMMAND_OFF_RECORD;
        return;
      }
      case FRAME_WELCOME: {
        const session = view.getUint32(at + WELCOME_OFF_SESSION, true);
        if (session !== this.#session) this.#fail(at, 'WELCOME', 'session', ERR_BAD_FIELD, `session ${session}, the HELLO said ${this.#session}`);
        const symbolCount = view.getUint32(at + WELCOME_OFF_SYMBOL_COUNT, true);
        if (symbolCount !== this.#symbolCount) this.#fail(at, 'WELCOME', 'symbol count', ERR_BAD_FIELD, `the server's table has ${symbolCount} symbols, the client's ${this.#symbolCount}: they are not the same workload`);
        const lastApplied = view.getFloat64(at + WELCOME_OFF_LAST_APPLIED, true);
        if (!(Number.isSafeInteger(lastApplied) && lastApplied >= 0)) this.#fail(at, 'WELCOME', 'last applied', ERR_BAD_FIELD, `${lastApplied}, expected an integer ≥ 0`);
        if (lastApplied < this.#lastAcknowledged) this.#fail(at, 'WELCOME', 'last applied', ERR_BAD_SEQUENCE, `${lastApplied}, below the ${this.#lastAcknowledged} the client saw acknowledged`);
        this.#design = this.#text(at, length, 'WELCOME', 'design', WELCOME_OFF_DESIGN_LENGTH);
        this.#lastApplied = lastApplied;
        this.#nextSequence = this.#lastAcknowledged + 1;
        return;
      }
      case FRAME_EVENT: {
        const kind = this.#bytes[at + EVENT_OFF_RECORD + EV_OFF_KIND]!;
        if (kind < EV_RESTED || kind > EV_RESUMED) this.#fail(at, 'EVENT record', 'event.kind', ERR_BAD_RECORD, `unknown event kind ${kind} (known: ${EV_RESTED}..${EV_RESUMED})`);
        const sequence = this.#f64[((at + EVENT_OFF_RECORD) >> 3) + EV_F64_SEQ]!;
        if (sequence !== this.#nextSequence) this.#fail(at, 'EVENT record', 'event.seq', ERR_BAD_SEQUENCE, `client sequence ${sequence}, expected ${this.#nextSequence} (events come before their command's ACK, commands in order)`);
        this.#clientSequence = sequence;
        this.#recordOffset = at + EVENT_OFF_RECORD;
        return;
      }
      case FRAME_ACK: {
        const sequence = this.#f64[(at + ACK_OFF_CLIENT_SEQUENCE) >> 3]!;
        if (sequence !== this.#nextSequence) this.#fail(at, 'ACK', 'client sequence', ERR_BAD_SEQUENCE, `${sequence}, expected ${this.#nextSequence} (the previous ACK + 1)`);
        this.#nextSequence++;
        this.#lastAcknowledged = sequence;
        this.#clientSequence = sequence;
        return;
      }
      case FRAME_ERROR: {
        const code = view.getUint16(at + ERROR_OFF_CODE, true);
        this.#errorMessage = this.#text(at, length, 'ERROR', 'message', ERROR_OFF_MESSAGE_LENGTH);
        this.#errorCode = code;
        this.#errorSeen = true;
        return;
      }
    }
  }

  /** The u16-length-prefixed UTF-8 text at `lengthOffset` that ends the payload, after checking length and padding. */
  #text(at: number, length: number, name: string, field: string, lengthOffset: number): string {
    const n = this.#view.getUint16(at + lengthOffset, true);
    if (n > MAX_TEXT_BYTES) this.#fail(at, name, `${field} length`, ERR_BAD_FIELD, `${n} bytes, at most ${MAX_TEXT_BYTES}`);
    const from = at + lengthOffset + 2;
    const expected = padded(lengthOffset + 2 + n) - HEADER_BYTES;
    if (length !== expected) this.#fail(at, name, 'length', ERR_BAD_LENGTH, `payload length ${length}; with a ${n}-byte ${field} a ${name} payload is ${expected} bytes`);
    for (let i = from + n; i < at + HEADER_BYTES + length; i++) if (this.#bytes[i] !== 0) this.#fail(at, name, 'padding', ERR_BAD_FIELD, `byte ${i - at} of the frame is not 0`);
    try {
      return textDecoder.decode(this.#bytes.subarray(from, from + n));
    } catch {
      return this.#fail(at, name, field, ERR_BAD_FIELD, 'not valid UTF-8');
    }
  }
}
