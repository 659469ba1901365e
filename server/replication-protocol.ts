/**
 * The replication protocol ("MBRP"): what a primary engine server (server/replicator.ts) and its hot standby
 * (server/standby.ts) say to each other over one TCP connection. Described once, here; the README ("Replication
 * protocol") has the same text.
 *
 * The primary connects to the standby's replication port. Frames are length-prefixed, version 1, little-endian,
 * every frame a multiple of 8 bytes (so every f64 in a stream read from an 8-aligned buffer is 8-aligned):
 *
 *   offset  size  field
 *   0       4     payload length L: u32, a multiple of 8, exactly the size its type and counts give
 *   4       1     type: u8 (below)
 *   5       3     reserved: zero
 *   8       L     payload
 *
 *   type  name        way    frame bytes     payload (offsets from the frame's start)
 *   1     HELLO       p → s  32 + 8K         8 version u16 = 1 · 10 journals K u16 ≥ 1 · 12 hash interval u32 (0:
 *                                            none) · 16 epoch f64 ≥ 1 · 24 heartbeat interval ms u32 ≥ 1 · 28 setup
 *                                            CRC-32C u32 (the design name and symbol table, journal/format.ts
 *                                            encodeNames) · 32 + 8k: start sequence of the epoch in journal k, f64
 *   2     WELCOME     s → p  16 + 8K         8 journals K u16 · 10 reserved u16 · 12 reserved u32 · 16 + 8k: the next
 *                                            sequence journal k of the standby expects, f64 (what it holds: [0, it))
 *   3     RECORDS     p → s  32 + 56n        8 journal u16 · 10 reserved u16 · 12 record count n u32, 1 … 4096 ·
 *                                            16 first sequence f64 (= the journal's next expected) · 24 CRC-32C u32
 *                                            of the records · 28 reserved u32 · 32 n journal records (56 bytes each,
 *                                            journal/format.ts: the command record, session, client sequence)
 *   4     CHECKPOINT  p → s  56              8 journal u16 · 10 reserved u16 · 12 reserved u32 · 16 sequence f64 (a
 *                                            multiple of the hash interval) · 24 the book hash (SHA-256, 32 bytes) of
 *                                            that journal's core holding exactly the records below that sequence
 *   5     ACK         s → p  24              8 journal u16 · 10 reserved u16 · 12 reserved u32 · 16 next sequence f64:
 *                                            every record below it is in the standby's journal (fsynced when its
 *                                            journal mode fsyncs); never decreases
 *   6     HEARTBEAT   both   16 + 8K         8 journals K u16 · 10 flags u16 · 12 reserved u32 · 16 + 8k: the
 *                                            sender's next sequence of journal k (primary: sequenced; standby:
 *                                            applied). Flags, primary → standby only: bit 0 IN_SYNC (the standby
 *                                            holds everything the primary acknowledged and may promote itself),
 *                                            bit 1 STOPPING (a clean stop: the standby must not promote); other
 *                                            bits 0
 *   7     ERROR       both   16 … 1024       8 code u16 (REPLICATION_ERRORS) · 10 message length M u16 · 12 M bytes
 *                                            of UTF-8 · zero bytes to a multiple of 8; then the sender closes
 *
 * Order: the primary sends HELLO first and nothing else until WELCOME; the standby answers HELLO with WELCOME or
 * ERROR. Then the primary sends RECORDS of each journal in sequence order from the standby's next expected, with
 * CHECKPOINTs and HEARTBEATs between them; the standby sends ACKs and HEARTBEATs. Each side sends a HEARTBEAT at
 * least once per heartbeat interval; a side that hears nothing for the agreed number of intervals takes the
 * other for dead.
 *
 * Errors. A frame breaking any rule (length, type, direction, order, version, a field's range, a CRC, a sequence
 * that does not continue) is a ReplicationError naming the connection, the frame number, its byte offset in the
 * stream and the field; the side that finds it sends ERROR and closes. Decisions are errors too: SETUP_MISMATCH
 * (other design, symbols or journal count), DIVERGED (the standby holds records the primary does not), FENCED
 * (the other side has a higher epoch), HASH_MISMATCH (the standby's book differs at a checkpoint: it stops
 * applying and will not promote), BUSY (the standby already follows a primary).
 *
 * Version rule: a change to any frame's layout or meaning, or a new frame type, bumps REPLICATION_VERSION; a
 * standby speaks one version and answers any other with ERROR BAD_VERSION. The frame header, HELLO's version field
 * and ERROR never change. New error codes and flag bits need a version bump only when the receiver must act on them.
 */
import { JOURNAL_RECORD_BYTES } from '../journal/format.ts';
import { crc32c } from '../journal/crc32c.ts';

export const REPLICATION_VERSION = 1;
export const HEADER_BYTES = 8;
export const OFF_LENGTH = 0;
export const OFF_TYPE = 4;
/** Records in one RECORDS frame, at most. */
export const MAX_RECORDS_PER_FRAME = 4096;
export const MAX_JOURNALS = 256;
export const MAX_TEXT_BYTES = 1000;

export const R_HELLO = 1;
export const R_WELCOME = 2;
export const R_RECORDS = 3;
export const R_CHECKPOINT = 4;
export const R_ACK = 5;
export const R_HEARTBEAT = 6;
export const R_ERROR = 7;
export const R_NONE = 0;
export const REPLICATION_FRAME_NAMES = ['none', 'HELLO', 'WELCOME', 'RECORDS', 'CHECKPOINT', 'ACK', 'HEARTBEAT', 'ERROR'] as const;
const SENT_BY_PRIMARY = [false, true, false, true, true, false, true, true] as const;
const SENT_BY_STANDBY = [false, false, true, false, false, true, true, true] as const;

export const HELLO_OFF_VERSION = 8;
export const HELLO_OFF_JOURNALS = 10;
export const HELLO_OFF_HASH_INTERVAL = 12;
export const HELLO_OFF_EPOCH = 16;
export const HELLO_OFF_HEARTBEAT_MS = 24;
export const HELLO_OFF_SETUP_CRC = 28;
export const HELLO_OFF_STARTS = 32;
export const WELCOME_OFF_JOURNALS = 8;
export const WELCOME_OFF_NEXT = 16;
export const RECORDS_OFF_JOURNAL = 8;
export const RECORDS_OFF_COUNT = 12;
export const RECORDS_OFF_FIRST_SEQUENCE = 16;
export const RECORDS_OFF_CRC = 24;
export const RECORDS_OFF_RECORDS = 32;
export const CHECKPOINT_OFF_JOURNAL = 8;
export const CHECKPOINT_OFF_SEQUENCE = 16;
export const CHECKPOINT_OFF_HASH = 24;
export const CHECKPOINT_FRAME_BYTES = 56;
export const ACK_OFF_JOURNAL = 8;
export const ACK_OFF_NEXT = 16;
export const ACK_FRAME_BYTES = 24;
export const HEARTBEAT_OFF_JOURNALS = 8;
export const HEARTBEAT_OFF_FLAGS = 10;
export const HEARTBEAT_OFF_NEXT = 16;
export const HEARTBEAT_IN_SYNC = 1;
export const HEARTBEAT_STOPPING = 2;
export const ERROR_OFF_CODE = 8;
export const ERROR_OFF_MESSAGE_LENGTH = 10;
export const ERROR_OFF_MESSAGE = 12;

export const RERR_BAD_LENGTH = 1;
export const RERR_BAD_TYPE = 2;
export const RERR_OUT_OF_ORDER = 3;
export const RERR_BAD_VERSION = 4;
export const RERR_BAD_FIELD = 5;
export const RERR_BAD_SEQUENCE = 6;
export const RERR_BAD_CRC = 7;
export const RERR_SETUP_MISMATCH = 16;
export const RERR_DIVERGED = 17;
export const RERR_FENCED = 18;
export const RERR_HASH_MISMATCH = 19;
export const RERR_BUSY = 20;
export const REPLICATION_ERRORS: readonly { readonly code: number; readonly name: string; readonly meaning: string }[] = [
  { code: RERR_BAD_LENGTH, name: 'BAD_LENGTH', meaning: 'a length that is not a multiple of 8 or not the size its type and counts give; or the stream ended inside a frame' },
  { code: RERR_BAD_TYPE, name: 'BAD_TYPE', meaning: 'an unknown frame type, or one that travels the other way' },
  { code: RERR_OUT_OF_ORDER, name: 'OUT_OF_ORDER', meaning: 'HELLO not first or twice, a frame before WELCOME' },
  { code: RERR_BAD_VERSION, name: 'BAD_VERSION', meaning: "HELLO's version is not the standby's" },
  { code: RERR_BAD_FIELD, name: 'BAD_FIELD', meaning: 'a field out of range (reserved bytes not 0, a count, a sequence that is not an integer, a journal index)' },
  { code: RERR_BAD_SEQUENCE, name: 'BAD_SEQUENCE', meaning: 'RECORDS that do not continue their journal, an ACK that goes back' },
  { code: RERR_BAD_CRC, name: 'BAD_CRC', meaning: "RECORDS whose CRC-32C does not match their records" },
  { code: RERR_SETUP_MISMATCH, name: 'SETUP_MISMATCH', meaning: 'the two nodes run another design, symbol table or number of journals' },
  { code: RERR_DIVERGED, name: 'DIVERGED', meaning: 'the standby holds records the primary never sequenced' },
  { code: RERR_FENCED, name: 'FENCED', meaning: 'the other node has a higher epoch: this one must never take a command again' },
  { code: RERR_HASH_MISMATCH, name: 'HASH_MISMATCH', meaning: "the standby's book differs from the primary's at a checkpoint" },
  { code: RERR_BUSY, name: 'BUSY', meaning: 'the standby already follows a primary' },
];

export function replicationErrorName(code: number): string {
  return REPLICATION_ERRORS.find((e) => e.code === code)?.name ?? `code ${code}`;
}

/** A broken rule or a decision, as the message an ERROR frame carries. */
export class ReplicationError extends Error {
  override readonly name = 'ReplicationError';
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.code = code;
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

function header(bytes: Uint8Array, view: DataView, type: number, frameBytes: number): void {
  view.setUint32(OFF_LENGTH, frameBytes - HEADER_BYTES, true);
  bytes[OFF_TYPE] = type;
}

export interface Hello {
  readonly journals: number;
  readonly hashInterval: number;
  readonly epoch: number;
  readonly heartbeatMs: number;
  readonly setupCrc: number;
  readonly starts: readonly number[];
}

/** CRC-32C of a node's setup: its design name, then its symbols, each with its length (HELLO's setup CRC). */
export function setupCrc(design: string, symbols: readonly string[]): number {
  const parts = [design, ...symbols].map((s) => encoder.encode(s));
  let crc = 0;
  const length = new Uint8Array(4);
  for (const part of parts) {
    new DataView(length.buffer).setUint32(0, part.length, true);
    crc = crc32c(length, 0, 4, crc);
    crc = crc32c(part, 0, part.length, crc);
  }
  return crc;
}

export function encodeHello(hello: Hello): Uint8Array {
  const n = HELLO_OFF_STARTS + 8 * hello.journals;
  const bytes = new Uint8Array(n);
  const view = new DataView(bytes.buffer);
  header(bytes, view, R_HELLO, n);
  view.setUint16(HELLO_OFF_VERSION, REPLICATION_VERSION, true);
  view.setUint16(HELLO_OFF_JOURNALS, hello.journals, true);
  view.setUint32(HELLO_OFF_HASH_INTERVAL, hello.hashInterval, true);
  view.setFloat64(HELLO_OFF_EPOCH, hello.epoch, true);
  view.setUint32(HELLO_OFF_HEARTBEAT_MS, hello.heartbeatMs, true);
  view.setUint32(HELLO_OFF_SETUP_CRC, hello.setupCrc, true);
  hello.starts.forEach((s, k) => view.setFloat64(HELLO_OFF_STARTS + 8 * k, s, true));
  return bytes;
}

export function encodeWelcome(next: readonly number[]): Uint8Array {
  const n = WELCOME_OFF_NEXT + 8 * next.length;
  const bytes = new Uint8Array(n);
  const view = new DataView(bytes.buffer);
  header(bytes, view, R_WELCOME, n);
  view.setUint16(WELCOME_OFF_JOURNALS, next.length, true);
  next.forEach((s, k) => view.setFloat64(WELCOME_OFF_NEXT + 8 * k, s, true));
  return bytes;
}

export function recordsFrameBytes(count: number): number {
  return RECORDS_OFF_RECORDS + count * JOURNAL_RECORD_BYTES;
}

/**
 * Seals a RECORDS frame at `at` in `out` whose `count` records the caller already put at at + RECORDS_OFF_RECORDS;
 * returns the end of the frame.
 */
export function sealRecords(out: Uint8Array, at: number, journal: number, firstSequence: number, count: number): number {
  const n = recordsFrameBytes(count);
  const view = new DataView(out.buffer, out.byteOffset + at, n);
  view.setUint32(OFF_LENGTH, n - HEADER_BYTES, true);
  out[at + OFF_TYPE] = R_RECORDS;
  out[at + 5] = 0;
  out[at + 6] = 0;
  out[at + 7] = 0;
  view.setUint16(RECORDS_OFF_JOURNAL, journal, true);
  view.setUint16(RECORDS_OFF_JOURNAL + 2, 0, true);
  view.setUint32(RECORDS_OFF_COUNT, count, true);
  view.setFloat64(RECORDS_OFF_FIRST_SEQUENCE, firstSequence, true);
  view.setUint32(RECORDS_OFF_CRC, crc32c(out, at + RECORDS_OFF_RECORDS, at + n), true);
  view.setUint32(RECORDS_OFF_CRC + 4, 0, true);
  return at + n;
}

/** `hash`: the book hash as 64 lower-case hex digits (engines/book-hash.ts). */
export function encodeCheckpoint(journal: number, sequence: number, hash: string): Uint8Array {
  if (!/^[0-9a-f]{64}$/.test(hash)) throw new Error(`checkpoint: '${hash}' is not a SHA-256 in hex`);
  const bytes = new Uint8Array(CHECKPOINT_FRAME_BYTES);
  const view = new DataView(bytes.buffer);
  header(bytes, view, R_CHECKPOINT, CHECKPOINT_FRAME_BYTES);
  view.setUint16(CHECKPOINT_OFF_JOURNAL, journal, true);
  view.setFloat64(CHECKPOINT_OFF_SEQUENCE, sequence, true);
  for (let i = 0; i < 32; i++) bytes[CHECKPOINT_OFF_HASH + i] = Number.parseInt(hash.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}

export function encodeAck(out: Uint8Array, at: number, journal: number, next: number): number {
  const view = new DataView(out.buffer, out.byteOffset + at, ACK_FRAME_BYTES);
  for (let i = 0; i < ACK_FRAME_BYTES; i++) out[at + i] = 0;
  view.setUint32(OFF_LENGTH, ACK_FRAME_BYTES - HEADER_BYTES, true);
  out[at + OFF_TYPE] = R_ACK;
  view.setUint16(ACK_OFF_JOURNAL, journal, true);
  view.setFloat64(ACK_OFF_NEXT, next, true);
  return at + ACK_FRAME_BYTES;
}

export function encodeHeartbeat(flags: number, next: readonly number[]): Uint8Array {
  const n = HEARTBEAT_OFF_NEXT + 8 * next.length;
  const bytes = new Uint8Array(n);
  const view = new DataView(bytes.buffer);
  header(bytes, view, R_HEARTBEAT, n);
  view.setUint16(HEARTBEAT_OFF_JOURNALS, next.length, true);
  view.setUint16(HEARTBEAT_OFF_FLAGS, flags, true);
  next.forEach((s, k) => view.setFloat64(HEARTBEAT_OFF_NEXT + 8 * k, s, true));
  return bytes;
}

export function encodeReplicationError(code: number, message: string): Uint8Array {
  let text = encoder.encode(message);
  if (text.length > MAX_TEXT_BYTES) text = encoder.encode(`${message.slice(0, MAX_TEXT_BYTES / 4)}…`);
  const n = Math.ceil((ERROR_OFF_MESSAGE + text.length) / 8) * 8;
  const bytes = new Uint8Array(n);
  const view = new DataView(bytes.buffer);
  header(bytes, view, R_ERROR, n);
  view.setUint16(ERROR_OFF_CODE, code, true);
  view.setUint16(ERROR_OFF_MESSAGE_LENGTH, text.length, true);
  bytes.set(text, ERROR_OFF_MESSAGE);
  return bytes;
}

function isSequence(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0;
}

/**
 * Reads one side's incoming frames from a stream of chunks and checks every rule of the header's table, so the
 * caller only acts. `atStandby` reads what a primary sends, `atPrimary` what a standby sends. After `next()`
 * returns a type, the accessors read that frame (valid until the next call); an ERROR frame is returned like any
 * other (the caller decides). Every violation throws a ReplicationError naming the connection, the frame number
 * (from 1), its byte offset in the stream and the field.
 */
export class ReplicationReader {
  readonly #label: string;
  readonly #sentBy: readonly boolean[];
  readonly #atStandby: boolean;
  #buffer = new Uint8Array(64 * 1024);
  #view = new DataView(this.#buffer.buffer);
  #start = 0;
  #end = 0;
  #streamOffset = 0;
  #frames = 0;
  /** Offset of the current frame in the buffer. */
  #at = 0;
  #type = R_NONE;
  #greeted = false;
  #journals = 0;
  /** Per journal: next RECORDS sequence expected (at the standby) or the last ACK (at the primary). */
  #next: number[] = [];

  private constructor(label: string, atStandby: boolean) {
    this.#label = label;
    this.#atStandby = atStandby;
    this.#sentBy = atStandby ? SENT_BY_PRIMARY : SENT_BY_STANDBY;
  }

  static atStandby(label: string): ReplicationReader {
    return new ReplicationReader(label, true);
  }

  static atPrimary(label: string, journals: number): ReplicationReader {
    const reader = new ReplicationReader(label, false);
    reader.#journals = journals;
    return reader;
  }

  /** Sets where journal k continues: the standby's next expected RECORDS sequence, or the primary's last ACK. */
  expect(journal: number, next: number): void {
    this.#next[journal] = next;
  }

  push(chunk: Uint8Array): void {
    const length = this.#end - this.#start;
    if (this.#end + chunk.length > this.#buffer.length) {
      if (length + chunk.length <= this.#buffer.length && this.#start > 0) {
        this.#buffer.copyWithin(0, this.#start, this.#end);
      } else {
        let size = this.#buffer.length * 2;
        while (size < length + chunk.length) size *= 2;
        const grown = new Uint8Array(size);
        grown.set(this.#buffer.subarray(this.#start, this.#end));
        this.#buffer = grown;
        this.#view = new DataView(grown.buffer);
      }
      this.#end = length;
      this.#start = 0;
    }
    this.#buffer.set(chunk, this.#end);
    this.#end += chunk.length;
  }

  /** Bytes buffered and not yet returned as a frame. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  /** The stream ended: an error if it ended inside a frame. */
  end(): void {
    if (this.#end > this.#start) this.#fail(RERR_BAD_LENGTH, 0, `the stream ended inside a frame (${this.#end - this.#start} bytes of it)`);
  }

  #fail(code: number, at: number, what: string): never {
    throw new ReplicationError(code, `replication connection ${this.#label}: frame ${this.#frames} (${REPLICATION_FRAME_NAMES[this.#type] ?? 'unknown'}) at stream offset ${this.#streamOffset + at}: ${what}`);
  }

  #u16(at: number): number {
    return this.#view.getUint16(this.#at + at, true);
  }

  #u32(at: number): number {
    return this.#view.getUint32(this.#at + at, true);
  }

  #f64(at: number): number {
    return this.#view.getFloat64(this.#at + at, true);
  }

  #zero(at: number, bytes: number, field: string): void {
    for (let i = 0; i < bytes; i++) if (this.#buffer[this.#at + at + i] !== 0) this.#fail(RERR_BAD_FIELD, at + i, `field '${field}' is not 0`);
  }

  /** The journal index at `at` and the reserved u16 after it. */
  #journal(at: number): number {
    const k = this.#u16(at);
    if (k >= this.#journals) this.#fail(RERR_BAD_FIELD, at, `field 'journal' is ${k}; the connection has ${this.#journals} journals`);
    this.#zero(at + 2, 2, 'reserved');
    return k;
  }

  #size(n: number, expected: number, what: string): void {
    if (n !== expected) this.#fail(RERR_BAD_LENGTH, OFF_LENGTH, `a ${what} frame is ${expected} bytes here, the length says ${n}`);
  }

  /** The type of the next complete frame (R_NONE: none buffered), checked. */
  next(): number {
    this.#type = R_NONE;
    if (this.#end - this.#start < HEADER_BYTES) return R_NONE;
    const length = this.#view.getUint32(this.#start + OFF_LENGTH, true);
    const n = HEADER_BYTES + length;
    this.#at = this.#start;
    this.#frames++;
    const type = this.#buffer[this.#start + OFF_TYPE]!;
    this.#type = type < REPLICATION_FRAME_NAMES.length ? type : R_NONE;
    if (length % 8 !== 0) this.#fail(RERR_BAD_LENGTH, OFF_LENGTH, `length ${length} is not a multiple of 8`);
    if (n > recordsFrameBytes(MAX_RECORDS_PER_FRAME)) this.#fail(RERR_BAD_LENGTH, OFF_LENGTH, `length ${length} is above the largest frame's ${recordsFrameBytes(MAX_RECORDS_PER_FRAME) - HEADER_BYTES}`);
    if (this.#end - this.#start < n) {
      this.#frames--;
      this.#type = R_NONE;
      return R_NONE;
    }
    if (!(type >= 1 && type < REPLICATION_FRAME_NAMES.length) || !this.#sentBy[type]) {
      this.#fail(RERR_BAD_TYPE, OFF_TYPE, `type ${type} is not a frame a ${this.#atStandby ? 'primary' : 'standby'} sends`);
    }
    this.#zero(5, 3, 'reserved');
    this.#check(type, n);
    this.#start += n;
    this.#streamOffset += n;
    if (this.#start === this.#end) {
      this.#start = 0;
      this.#end = 0;
    }
    // The accessors read at #at: the frame stays in the buffer until the next push.
    return type;
  }

  #check(type: number, n: number): void {
    if (type === R_ERROR) {
      if (n < ERROR_OFF_MESSAGE) this.#fail(RERR_BAD_LENGTH, OFF_LENGTH, 'an ERROR frame is at least 16 bytes');
      const m = this.#u16(ERROR_OFF_MESSAGE_LENGTH);
      if (Math.ceil((ERROR_OFF_MESSAGE + m) / 8) * 8 !== n) this.#size(n, Math.ceil((ERROR_OFF_MESSAGE + m) / 8) * 8, 'ERROR');
      return;
    }
    if (this.#atStandby) {
      if (!this.#greeted && type !== R_HELLO) this.#fail(RERR_OUT_OF_ORDER, OFF_TYPE, 'the first frame must be HELLO');
      if (this.#greeted && type === R_HELLO) this.#fail(RERR_OUT_OF_ORDER, OFF_TYPE, 'a second HELLO');
    } else if (!this.#greeted && type !== R_WELCOME) {
      this.#fail(RERR_OUT_OF_ORDER, OFF_TYPE, 'the first frame must be WELCOME');
    } else if (this.#greeted && type === R_WELCOME) {
      this.#fail(RERR_OUT_OF_ORDER, OFF_TYPE, 'a second WELCOME');
    }
    switch (type) {
      case R_HELLO: {
        // The version first: a HELLO of another version may have another length.
        if (n < HELLO_OFF_STARTS) this.#fail(RERR_BAD_LENGTH, OFF_LENGTH, `a HELLO frame is at least ${HELLO_OFF_STARTS} bytes`);
        const version = this.#u16(HELLO_OFF_VERSION);
        if (version !== REPLICATION_VERSION) this.#fail(RERR_BAD_VERSION, HELLO_OFF_VERSION, `field 'version' is ${version}; this standby speaks version ${REPLICATION_VERSION}`);
        const k = this.#u16(HELLO_OFF_JOURNALS);
        if (!(k >= 1 && k <= MAX_JOURNALS)) this.#fail(RERR_BAD_FIELD, HELLO_OFF_JOURNALS, `field 'journals' is ${k} (1 to ${MAX_JOURNALS})`);
        this.#size(n, HELLO_OFF_STARTS + 8 * k, 'HELLO');
        const epoch = this.#f64(HELLO_OFF_EPOCH);
        if (!(Number.isSafeInteger(epoch) && epoch >= 1)) this.#fail(RERR_BAD_FIELD, HELLO_OFF_EPOCH, `field 'epoch' is ${epoch}, not an integer ≥ 1`);
        if (this.#u32(HELLO_OFF_HEARTBEAT_MS) < 1) this.#fail(RERR_BAD_FIELD, HELLO_OFF_HEARTBEAT_MS, "field 'heartbeat ms' is 0");
        for (let j = 0; j < k; j++) {
          if (!isSequence(this.#f64(HELLO_OFF_STARTS + 8 * j))) this.#fail(RERR_BAD_FIELD, HELLO_OFF_STARTS + 8 * j, `field 'start sequence' of journal ${j} is not an integer ≥ 0`);
        }
        this.#journals = k;
        this.#greeted = true;
        return;
      }
      case R_WELCOME: {
        if (n < WELCOME_OFF_NEXT) this.#fail(RERR_BAD_LENGTH, OFF_LENGTH, `a WELCOME frame is at least ${WELCOME_OFF_NEXT} bytes`);
        const k = this.#u16(WELCOME_OFF_JOURNALS);
        if (k !== this.#journals) this.#fail(RERR_SETUP_MISMATCH, WELCOME_OFF_JOURNALS, `field 'journals' is ${k}; this primary has ${this.#journals}`);
        this.#size(n, WELCOME_OFF_NEXT + 8 * k, 'WELCOME');
        this.#zero(10, 6, 'reserved');
        for (let j = 0; j < k; j++) {
          const next = this.#f64(WELCOME_OFF_NEXT + 8 * j);
          if (!isSequence(next)) this.#fail(RERR_BAD_FIELD, WELCOME_OFF_NEXT + 8 * j, `field 'next sequence' of journal ${j} is not an integer ≥ 0`);
          this.#next[j] = next;
        }
        this.#greeted = true;
        return;
      }
      case R_RECORDS: {
        if (n < RECORDS_OFF_RECORDS) this.#fail(RERR_BAD_LENGTH, OFF_LENGTH, `a RECORDS frame is at least ${RECORDS_OFF_RECORDS} bytes`);
        const k = this.#journal(RECORDS_OFF_JOURNAL);
        const count = this.#u32(RECORDS_OFF_COUNT);
        if (!(count >= 1 && count <= MAX_RECORDS_PER_FRAME)) this.#fail(RERR_BAD_FIELD, RECORDS_OFF_COUNT, `field 'count' is ${count} (1 to ${MAX_RECORDS_PER_FRAME})`);
        this.#size(n, recordsFrameBytes(count), 'RECORDS');
        const first = this.#f64(RECORDS_OFF_FIRST_SEQUENCE);
        const expected = this.#next[k];
        if (expected === undefined || first !== expected) this.#fail(RERR_BAD_SEQUENCE, RECORDS_OFF_FIRST_SEQUENCE, `field 'first sequence' is ${first}; journal ${k} continues at ${expected}`);
        if (this.#u32(RECORDS_OFF_CRC + 4) !== 0) this.#fail(RERR_BAD_FIELD, RECORDS_OFF_CRC + 4, "field 'reserved' is not 0");
        const crc = crc32c(this.#buffer, this.#at + RECORDS_OFF_RECORDS, this.#at + n);
        if (crc !== this.#u32(RECORDS_OFF_CRC)) this.#fail(RERR_BAD_CRC, RECORDS_OFF_CRC, `field 'crc' is ${this.#u32(RECORDS_OFF_CRC).toString(16)}, the records give ${crc.toString(16)}`);
        this.#next[k] = first + count;
        return;
      }
      case R_CHECKPOINT: {
        this.#size(n, CHECKPOINT_FRAME_BYTES, 'CHECKPOINT');
        this.#journal(CHECKPOINT_OFF_JOURNAL);
        this.#zero(12, 4, 'reserved');
        if (!isSequence(this.#f64(CHECKPOINT_OFF_SEQUENCE))) this.#fail(RERR_BAD_FIELD, CHECKPOINT_OFF_SEQUENCE, "field 'sequence' is not an integer ≥ 0");
        return;
      }
      case R_ACK: {
        this.#size(n, ACK_FRAME_BYTES, 'ACK');
        const k = this.#journal(ACK_OFF_JOURNAL);
        this.#zero(12, 4, 'reserved');
        const next = this.#f64(ACK_OFF_NEXT);
        if (!isSequence(next)) this.#fail(RERR_BAD_FIELD, ACK_OFF_NEXT, "field 'next sequence' is not an integer ≥ 0");
        if (next < (this.#next[k] ?? 0)) this.#fail(RERR_BAD_SEQUENCE, ACK_OFF_NEXT, `field 'next sequence' is ${next}, below the ${this.#next[k]} journal ${k} acknowledged before`);
        this.#next[k] = next;
        return;
      }
      case R_HEARTBEAT: {
        if (n < HEARTBEAT_OFF_NEXT) this.#fail(RERR_BAD_LENGTH, OFF_LENGTH, `a HEARTBEAT frame is at least ${HEARTBEAT_OFF_NEXT} bytes`);
        const k = this.#u16(HEARTBEAT_OFF_JOURNALS);
        if (k !== this.#journals) this.#fail(RERR_BAD_FIELD, HEARTBEAT_OFF_JOURNALS, `field 'journals' is ${k}; the connection has ${this.#journals}`);
        this.#size(n, HEARTBEAT_OFF_NEXT + 8 * k, 'HEARTBEAT');
        const flags = this.#u16(HEARTBEAT_OFF_FLAGS);
        const known = this.#atStandby ? HEARTBEAT_IN_SYNC | HEARTBEAT_STOPPING : 0;
        if ((flags & ~known) !== 0) this.#fail(RERR_BAD_FIELD, HEARTBEAT_OFF_FLAGS, `field 'flags' has unknown bits ${(flags & ~known).toString(2)}`);
        this.#zero(12, 4, 'reserved');
        for (let j = 0; j < k; j++) if (!isSequence(this.#f64(HEARTBEAT_OFF_NEXT + 8 * j))) this.#fail(RERR_BAD_FIELD, HEARTBEAT_OFF_NEXT + 8 * j, `field 'next sequence' of journal ${j} is not an integer ≥ 0`);
        return;
      }
    }
  }

  // Accessors of the frame `next()` returned last.
  hello(): Hello {
    const k = this.#u16(HELLO_OFF_JOURNALS);
    return {
      journals: k, hashInterval: this.#u32(HELLO_OFF_HASH_INTERVAL), epoch: this.#f64(HELLO_OFF_EPOCH), heartbeatMs: this.#u32(HELLO_OFF_HEARTBEAT_MS),
      setupCrc: this.#u32(HELLO_OFF_SETUP_CRC), starts: Array.from({ length: k }, (_, j) => this.#f64(HELLO_OFF_STARTS + 8 * j)),
    };
  }

  /** WELCOME's next sequences; HEARTBEAT's next sequences. */
  nextSequences(): number[] {
    const at = this.#type === R_WELCOME ? WELCOME_OFF_NEXT : HEARTBEAT_OFF_NEXT;
    return Array.from({ length: this.#journals }, (_, j) => this.#f64(at + 8 * j));
  }

  heartbeatFlags(): number {
    return this.#u16(HEARTBEAT_OFF_FLAGS);
  }

  /** RECORDS, CHECKPOINT, ACK: the journal index. */
  journal(): number {
    return this.#u16(8);
  }

  recordsFirstSequence(): number {
    return this.#f64(RECORDS_OFF_FIRST_SEQUENCE);
  }

  recordsCount(): number {
    return this.#u32(RECORDS_OFF_COUNT);
  }

  /** The RECORDS frame's records (a view into the reader's buffer, valid until the next push). */
  records(): Uint8Array {
    const count = this.#u32(RECORDS_OFF_COUNT);
    return this.#buffer.subarray(this.#at + RECORDS_OFF_RECORDS, this.#at + recordsFrameBytes(count));
  }

  checkpointSequence(): number {
    return this.#f64(CHECKPOINT_OFF_SEQUENCE);
  }

  checkpointHash(): string {
    let hex = '';
    for (let i = 0; i < 32; i++) hex += this.#buffer[this.#at + CHECKPOINT_OFF_HASH + i]!.toString(16).padStart(2, '0');
    return hex;
  }

  ackNext(): number {
    return this.#f64(ACK_OFF_NEXT);
  }

  errorCode(): number {
    return this.#u16(ERROR_OFF_CODE);
  }

  errorMessage(): string {
    const m = this.#u16(ERROR_OFF_MESSAGE_LENGTH);
    try {
      return decoder.decode(this.#buffer.subarray(this.#at + ERROR_OFF_MESSAGE, this.#at + ERROR_OFF_MESSAGE + m));
    } catch {
      return '(not UTF-8)';
    }
  }
}
