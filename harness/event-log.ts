/**
 * A producer's log of what its design delivered: every event record and every completion record (engines/
 * completion-record.ts), 48 bytes each, in delivery order. The equivalence checker compares it, event for event,
 * with the reference engine's replay of the recorded sequence.
 *
 * Copying a record costs two u32 and five f64 stores; the first 8 bytes go as u32 words because, read as a float64,
 * they can form a NaN whose bits a copy is free to change. The log is a list of chunks: when one is full the next
 * is allocated, and nothing already written is copied while the producer is being timed. `finish` joins the chunks
 * into one buffer afterwards, for transfer to the main thread.
 */
import { EVENT_BYTES, EVENT_F64S } from '../engines/event-record.ts';
import { EV_COMPLETE, recordKind, writeCompletionRecord } from '../engines/completion-record.ts';

const WORDS_PER_RECORD = EVENT_BYTES / 4;
/** Records per chunk after the first (3 MB). */
const CHUNK_RECORDS = 1 << 16;

export class EventLog {
  readonly #full: ArrayBuffer[] = [];
  #fullRecords = 0;
  #chunk: ArrayBuffer;
  #words: Uint32Array;
  #f64: Float64Array;
  #capacity: number;
  #used = 0;

  /** @param expectedRecords size of the first chunk: a good guess avoids any allocation while timed. */
  constructor(expectedRecords: number) {
    this.#capacity = Math.max(16, expectedRecords);
    this.#chunk = new ArrayBuffer(this.#capacity * EVENT_BYTES);
    this.#words = new Uint32Array(this.#chunk);
    this.#f64 = new Float64Array(this.#chunk);
    // A new buffer's pages are mapped on first write: writing them all now (the zeros they already hold) takes the
    // page faults here, before the start line, instead of one per 4 KB of events inside the timed part.
    this.#words.fill(0);
  }

  /** Records in the log. */
  get length(): number {
    return this.#fullRecords + this.#used;
  }

  /** Appends a copy of record `record` of a buffer viewed as words and f64s. */
  appendEvent(words: Uint32Array, f64: Float64Array, record: number): void {
    if (this.#used === this.#capacity) this.#nextChunk();
    const to = this.#used++;
    const tw = to * WORDS_PER_RECORD;
    const fw = record * WORDS_PER_RECORD;
    this.#words[tw] = words[fw]!;
    this.#words[tw + 1] = words[fw + 1]!;
    const tf = to * EVENT_F64S;
    const ff = record * EVENT_F64S;
    this.#f64[tf + 1] = f64[ff + 1]!;
    this.#f64[tf + 2] = f64[ff + 2]!;
    this.#f64[tf + 3] = f64[ff + 3]!;
    this.#f64[tf + 4] = f64[ff + 4]!;
    this.#f64[tf + 5] = f64[ff + 5]!;
  }

  appendCompletion(recordIndex: number): void {
    if (this.#used === this.#capacity) this.#nextChunk();
    writeCompletionRecord(this.#words, this.#f64, this.#used++, recordIndex);
  }

  /** The whole log in one buffer (joined from the chunks; call once the timing is over). */
  finish(): EventLogData {
    const length = this.length;
    if (this.#full.length === 0) return { buffer: this.#chunk, length };
    const joined = new Uint8Array(length * EVENT_BYTES);
    let at = 0;
    for (const chunk of this.#full) {
      joined.set(new Uint8Array(chunk), at);
      at += chunk.byteLength;
    }
    joined.set(new Uint8Array(this.#chunk, 0, this.#used * EVENT_BYTES), at);
    return { buffer: joined.buffer, length };
  }

  #nextChunk(): void {
    this.#full.push(this.#chunk);
    this.#fullRecords += this.#capacity;
    this.#capacity = CHUNK_RECORDS;
    this.#chunk = new ArrayBuffer(CHUNK_RECORDS * EVENT_BYTES);
    this.#words = new Uint32Array(this.#chunk);
    this.#f64 = new Float64Array(this.#chunk);
    this.#used = 0;
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

export function isCompletion(words: Uint32Array, record: number): boolean {
  return recordKind(words, record) === EV_COMPLETE;
}
