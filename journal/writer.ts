/**
 * Appends frames to a journal directory (format: journal/format.ts). Synchronous file calls, because it runs on the
 * journaller thread, whose whole job is this I/O, never on a matching thread.
 *
 * Contract:
 * - `create` starts a new segment at `firstSequence` (a fresh journal: 0; after recovery: the next sequence) and
 *   fsyncs the directory, so the segment's name survives a crash before any record in it is acknowledged. It
 *   refuses to overwrite a segment file that holds frames; one that holds only its header (a process died before
 *   its first frame) is replaced.
 * - The caller puts records into `recordArea` (`putRecord`) and calls `writeFrame(count, sync)`: one write(2) of
 *   the sealed frame; with `sync`, an fsync(2) of the segment before it returns (the frame is then marked synced,
 *   and every record in it may be acknowledged in `group` and `sync` modes).
 * - A frame that would take the segment past `segmentBytes` first rolls to a new segment (the old one fsynced and
 *   closed, the directory fsynced). A frame is never split across segments.
 * - After every fsync it rewrites the fsync mark (`DIR/fsynced`, journal/format.ts) before returning, so nothing
 *   the fsync made durable is acknowledged before the mark covers it. One pwrite(2) of 32 bytes per fsync.
 *
 * Test-only knob: MATCHBENCH_SLOW_FSYNC_MS=T makes every fsync T ms slower (a sleep before it: a slow disk). A crash
 * test with power cuts (server/crashtest.ts) then has a wide window in which an acknowledgement sent before its
 * fsync would be caught lost; unset, nothing changes.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { RECORD_BYTES } from '../workloads/workload.ts';
import { decodeSegmentHeader, encodeFsyncMark, encodeSegmentHeader, FRAME_FLAG_SYNCED, FSYNC_MARK_BYTES, FSYNC_MARK_FILE, FRAME_HEADER_BYTES, JOURNAL_RECORD_BYTES, REC_OFF_CLIENT_SEQUENCE, sealFrame, segmentName } from './format.ts';

const COMMAND_WORDS = RECORD_BYTES / 4;
export const SLOW_FSYNC_ENV = 'MATCHBENCH_SLOW_FSYNC_MS';
const slowFsyncMs = slowFsyncOf(process.env[SLOW_FSYNC_ENV]);
const sleepWord = new Int32Array(new SharedArrayBuffer(4));

function slowFsyncOf(value: string | undefined): number {
  if (value === undefined || value === '') return 0;
  const ms = Number(value);
  if (!(ms >= 0 && ms <= 10_000)) throw new Error(`${SLOW_FSYNC_ENV}="${value}": expected milliseconds from 0 to 10000`);
  return ms;
}
const RECORD_WORDS_IN_JOURNAL = JOURNAL_RECORD_BYTES / 4;

export interface JournalWriterOptions {
  readonly dir: string;
  /** The design whose sequencer ordered the commands (recorded in every segment header). */
  readonly design: string;
  /** The symbol table the command records' `sym` fields index. */
  readonly symbols: readonly string[];
  /** Sequence number of the first record this writer appends. */
  readonly firstSequence: number;
  /** Records one frame can hold. */
  readonly maxFrameRecords: number;
  /** A segment rolls once it would grow past this many bytes. */
  readonly segmentBytes: number;
}

export interface JournalWriterStats {
  readonly frames: number;
  readonly records: number;
  readonly fsyncs: number;
  readonly bytes: number;
  readonly segments: number;
}

/** Opens `dir` itself and fsyncs it, so that a file created in it keeps its name after a crash. */
export function fsyncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export class JournalWriter {
  readonly #options: JournalWriterOptions;
  /** Frame header space, then `maxFrameRecords` records: one frame is built and written from here. */
  readonly #frame: Uint8Array;
  /** The record area as u32 words and f64s (records are 8-byte aligned in the frame). */
  readonly #recordWords: Uint32Array;
  readonly #recordF64: Float64Array;
  /** The records part of the frame buffer, where the caller puts a frame's records. */
  readonly recordArea: Uint8Array;
  #fd = -1;
  readonly #markFd: number;
  readonly #mark = new Uint8Array(FSYNC_MARK_BYTES);
  #segmentSize = 0;
  #segmentFirstSequence = 0;
  #nextSequence: number;
  #stats = { frames: 0, records: 0, fsyncs: 0, bytes: 0, segments: 0 };

  private constructor(options: JournalWriterOptions) {
    if (!(options.maxFrameRecords >= 1)) throw new Error(`journal writer: maxFrameRecords ${options.maxFrameRecords} (at least 1)`);
    this.#options = options;
    this.#frame = new Uint8Array(FRAME_HEADER_BYTES + options.maxFrameRecords * JOURNAL_RECORD_BYTES);
    this.recordArea = this.#frame.subarray(FRAME_HEADER_BYTES);
    this.#recordWords = new Uint32Array(this.#frame.buffer, FRAME_HEADER_BYTES);
    this.#recordF64 = new Float64Array(this.#frame.buffer, FRAME_HEADER_BYTES);
    this.#nextSequence = options.firstSequence;
    this.#markFd = openSync(join(options.dir, FSYNC_MARK_FILE), 'w');
  }

  /** Creates the directory if needed and starts a segment at `options.firstSequence`. */
  static create(options: JournalWriterOptions): JournalWriter {
    mkdirSync(options.dir, { recursive: true });
    const writer = new JournalWriter(options);
    writer.#openSegment();
    return writer;
  }

  /** Sequence number the next appended record gets. */
  get nextSequence(): number {
    return this.#nextSequence;
  }

  get stats(): JournalWriterStats {
    return { ...this.#stats };
  }

  /**
   * Copies command record `commandIndex` of `commandWords` (the command records viewed as u32 words) into slot
   * `slot` of the record area, with its sender. Word by word: no view is made per record (the journaller calls
   * this for every command), and no NaN-valued f64 of a record is ever read as a number, which could change its bits.
   */
  putRecord(slot: number, commandWords: Uint32Array, commandIndex: number, session: number, clientSequence: number): void {
    const to = this.#recordWords;
    const at = slot * RECORD_WORDS_IN_JOURNAL;
    const from = commandIndex * COMMAND_WORDS;
    for (let w = 0; w < COMMAND_WORDS; w++) to[at + w] = commandWords[from + w]!;
    to[at + COMMAND_WORDS] = session;
    to[at + COMMAND_WORDS + 1] = 0;
    this.#recordF64[(at >> 1) + (REC_OFF_CLIENT_SEQUENCE >> 3)] = clientSequence;
  }

  /** Writes the first `count` records of the record area as one frame; with `sync`, fsyncs before returning. */
  writeFrame(count: number, sync: boolean): void {
    if (!(count >= 1 && count <= this.#options.maxFrameRecords)) throw new Error(`journal writer: a frame of ${count} records (1 to ${this.#options.maxFrameRecords})`);
    const length = FRAME_HEADER_BYTES + count * JOURNAL_RECORD_BYTES;
    // A segment holds at least one frame, whatever the limit.
    if (this.#segmentSize + length > this.#options.segmentBytes && this.#nextSequence > this.#segmentFirstSequence) this.#roll();
    sealFrame(this.#frame, 0, count, this.#nextSequence, sync ? FRAME_FLAG_SYNCED : 0);
    let written = 0;
    while (written < length) written += writeSync(this.#fd, this.#frame, written, length - written);
    this.#segmentSize += length;
    this.#nextSequence += count;
    if (sync) {
      this.#fsync();
      this.#stats.fsyncs++;
    }
    this.#stats.frames++;
    this.#stats.records += count;
    this.#stats.bytes += length;
  }

  /** fsyncs what was written so far (async mode's last act before a clean exit). */
  sync(): void {
    this.#fsync();
    this.#stats.fsyncs++;
  }

  /** fsyncs and closes the current segment (and the mark). */
  close(): void {
    if (this.#fd < 0) return;
    this.#fsync();
    closeSync(this.#fd);
    closeSync(this.#markFd);
    this.#fd = -1;
  }

  #fsync(): void {
    if (slowFsyncMs > 0) Atomics.wait(sleepWord, 0, 0, slowFsyncMs);
    fsyncSync(this.#fd);
    this.#writeMark();
  }

  #writeMark(): void {
    encodeFsyncMark(this.#mark, { segment: this.#segmentFirstSequence, durableLength: this.#segmentSize, nextSequence: this.#nextSequence });
    writeSync(this.#markFd, this.#mark, 0, FSYNC_MARK_BYTES, 0);
  }

  #openSegment(): void {
    const header = encodeSegmentHeader({ firstSequence: this.#nextSequence, design: this.#options.design, symbols: this.#options.symbols });
    const path = join(this.#options.dir, segmentName(this.#nextSequence));
    // A segment of that name exists when an earlier process started it and died before its first frame (recovery
    // cut any torn frame off): it holds nothing but its header, so it is replaced. Anything more is never overwritten.
    if (existsSync(path)) {
      const bytes = readFileSync(path);
      if (bytes.length > decodeSegmentHeader(path, bytes).length) throw new Error(`journal writer: ${path} exists and holds frames; a writer never overwrites a segment`);
      unlinkSync(path);
    }
    // 'wx': never overwrite a segment an earlier process wrote.
    this.#fd = openSync(path, 'wx');
    let written = 0;
    while (written < header.length) written += writeSync(this.#fd, header, written, header.length - written);
    fsyncSync(this.#fd);
    fsyncDirectory(this.#options.dir);
    this.#segmentSize = header.length;
    this.#segmentFirstSequence = this.#nextSequence;
    this.#stats.segments++;
    this.#stats.bytes += header.length;
    this.#writeMark();
  }

  #roll(): void {
    this.#fsync();
    closeSync(this.#fd);
    this.#openSegment();
  }
}
