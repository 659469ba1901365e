/**
 * A producer's log of what its design delivered: every event record and every completion record, 48 bytes each, in
 * delivery order (each command's events, ended by a flag on its last or by a completion record: engines/
 * completion-record.ts). The equivalence checker compares it, event for event,
 * with the reference engine's replay of the recorded sequence.
 *
 * Records arrive two ways (engines/engine.ts EventSink):
 * - copied: a design delivers a poll's records as runs of adjacent records, and the log copies each run as bytes
 *   (one memcpy rather than seven typed-array stores a record, and no field is read as a float64: the first 8 bytes
 *   could form a NaN whose bits such a copy is free to change);
 * - in place: a producer that runs the core on its own thread (engines/core-output.ts) has the core write into the
 *   log's current chunk from `used` on, after `reserve`, and `commitInPlace` takes them: nothing is copied.
 * The log is a list of chunks: when one is short of room the next is allocated (a chunk may end unused), and nothing
 * already written is copied while the producer is being timed. `finish` joins the chunks into one buffer afterwards,
 * for transfer to the main thread.
 */
import { EVENT_BYTES } from '../engines/event-record.ts';

/**
 * Records a producer's log is first sized for, per command it submits: on average up to two events (an accept or a
 * fill pair) and, from a design that ends every command with one, a completion record; a run that writes more grows
 * the log by chunks.
 */
const LOG_RECORDS_PER_COMMAND = 3;
/** The smallest first chunk. */
const MIN_FIRST_CHUNK_RECORDS = 16;

/** Bytes of the first chunk of a log for `commands` commands: what EventLogBuffers.take is asked for, too. */
export function firstChunkBytes(commands: number): number {
  return Math.max(MIN_FIRST_CHUNK_RECORDS, commands * LOG_RECORDS_PER_COMMAND) * EVENT_BYTES;
}
/** Records per chunk after the first (3 MB). */
const CHUNK_RECORDS = 1 << 16;

export class EventLog {
  /** The chunks before the current one, each with the records written in it. */
  readonly #full: { readonly buffer: ArrayBuffer; readonly records: number }[] = [];
  #fullRecords = 0;
  #chunk: ArrayBuffer;
  #bytes: Uint8Array;
  #capacity: number;
  #used = 0;

  /**
   * @param commands commands the producer submits: the first chunk is sized for them (firstChunkBytes), so that a
   *   run that writes no more than LOG_RECORDS_PER_COMMAND records a command allocates nothing while timed.
   * @param reused a buffer from EventLogBuffers (its pages already mapped), used as the first chunk when it holds
   *   firstChunkBytes(commands); otherwise a new one is made and touched.
   */
  constructor(commands: number, reused?: ArrayBuffer) {
    const wanted = firstChunkBytes(commands);
    this.#chunk = reused !== undefined && reused.byteLength >= wanted ? reused : touchedBuffer(wanted);
    this.#capacity = Math.floor(this.#chunk.byteLength / EVENT_BYTES);
    this.#bytes = new Uint8Array(this.#chunk);
  }

  /** Records in the log. */
  get length(): number {
    return this.#fullRecords + this.#used;
  }

  /** The chunk being written: records go to it from `used` on. */
  get chunk(): ArrayBuffer {
    return this.#chunk;
  }

  /** Records written in the current chunk. */
  get used(): number {
    return this.#used;
  }

  /** Appends a copy of records [from, to) of `bytes` (a byte copy: a NaN-valued field keeps its bits). */
  appendRecords(bytes: Uint8Array, from: number, to: number): void {
    while (from < to) {
      if (this.#used === this.#capacity) this.#nextChunk(CHUNK_RECORDS);
      const n = Math.min(to - from, this.#capacity - this.#used);
      this.#bytes.set(bytes.subarray(from * EVENT_BYTES, (from + n) * EVENT_BYTES), this.#used * EVENT_BYTES);
      this.#used += n;
      from += n;
    }
  }

  /** Makes room for `records` records in the current chunk from `used` on, starting a new chunk if it is short. */
  reserve(records: number): void {
    if (this.#capacity - this.#used < records) this.#nextChunk(Math.max(CHUNK_RECORDS, records));
  }

  /** Takes records [used, to) of the current chunk, written there in place since `reserve`, into the log. */
  commitInPlace(to: number): void {
    if (!(to >= this.#used && to <= this.#capacity)) {
      throw new RangeError(`event log: records written in place up to ${to}, but the chunk's free records are ${this.#used} to ${this.#capacity}`);
    }
    this.#used = to;
  }

  /** The whole log in one buffer (joined from the chunks; call once the timing is over). */
  finish(): EventLogData {
    const length = this.length;
    if (this.#full.length === 0) return { buffer: this.#chunk, length };
    const joined = new Uint8Array(length * EVENT_BYTES);
    let at = 0;
    for (const { buffer, records } of this.#full) {
      joined.set(new Uint8Array(buffer, 0, records * EVENT_BYTES), at);
      at += records * EVENT_BYTES;
    }
    joined.set(new Uint8Array(this.#chunk, 0, this.#used * EVENT_BYTES), at);
    return { buffer: joined.buffer, length };
  }

  #nextChunk(records: number): void {
    this.#full.push({ buffer: this.#chunk, records: this.#used });
    this.#fullRecords += this.#used;
    this.#capacity = records;
    this.#chunk = new ArrayBuffer(records * EVENT_BYTES);
    this.#bytes = new Uint8Array(this.#chunk);
    this.#used = 0;
  }
}

/**
 * A new buffer whose pages are all mapped: a new buffer's pages are mapped on first write, so writing them all now
 * (the zeros they already hold) takes the page faults here, before the start line, instead of one per 4 KB of
 * events inside the timed part.
 */
function touchedBuffer(bytes: number): ArrayBuffer {
  const buffer = new ArrayBuffer(bytes);
  new Uint32Array(buffer).fill(0);
  return buffer;
}

/**
 * The main thread's spare log buffers, handed from one run's producers to the next's (transferred, never copied).
 * A producer's first chunk is sized for its whole run (three records per command: 144 MB for a million commands),
 * and mapping that many fresh pages took 430–570 ms per run on this project's AMD EPYC VM, more than the timed part
 * of a gate run; a reused buffer's pages are mapped already. The caller gives a run's logs back once it has checked
 * them. At most MAX_SPARE_BYTES are kept, the most recently given first.
 */
export class EventLogBuffers {
  static readonly MAX_SPARE_BYTES = 1 << 30;
  readonly #spare: ArrayBuffer[] = [];

  /** A buffer of at least `bytes` with its pages mapped: the smallest spare that fits, or a new one. */
  take(bytes: number): ArrayBuffer {
    let best = -1;
    this.#spare.forEach((buffer, i) => {
      if (buffer.byteLength >= bytes && (best < 0 || buffer.byteLength < this.#spare[best]!.byteLength)) best = i;
    });
    return best < 0 ? touchedBuffer(bytes) : this.#spare.splice(best, 1)[0]!;
  }

  /** Keeps the buffers of logs nothing reads any more, for later runs. */
  give(logs: readonly EventLogData[]): void {
    for (const log of logs) if (log.buffer.byteLength > 0) this.#spare.unshift(log.buffer);
    let kept = 0;
    const fit = this.#spare.findIndex((buffer) => (kept += buffer.byteLength) > EventLogBuffers.MAX_SPARE_BYTES);
    if (fit >= 0) this.#spare.length = fit;
  }
}

/** A log received on the main thread: the records plus how many are valid. */
export interface EventLogData {
  readonly buffer: ArrayBuffer;
  readonly length: number;
}

/** Views over a received log, for the checker. */
export function eventLogViews(log: EventLogData): { words: Uint32Array; f64: Float64Array; bytes: Uint8Array } {
  return { words: new Uint32Array(log.buffer), f64: new Float64Array(log.buffer), bytes: new Uint8Array(log.buffer) };
}
