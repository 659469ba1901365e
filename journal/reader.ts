/**
 * Reads a journal directory (format and recovery rules: journal/format.ts): every segment in sequence order, every
 * frame checked (length, CRC-32C, sequence continuity, flags), a torn tail told apart from corruption.
 *
 * Contract:
 * - `readJournal(dir, onFrame)` calls `onFrame` for every valid frame in sequence order and returns what it found:
 *   segments, frames, records, synced frames, the sequence range, and the torn tail if there is one (segment, offset,
 *   why). A torn tail is only ever the end of the last segment; the frames before it are delivered. It also checks
 *   every record against the canonical rules (workloads/binary.ts recordProblem) and the sender fields: the full
 *   check `journal verify` runs.
 * - `readJournalInPlace(dir, onFrame, fromSequence)` is recovery's fast path: the same frame checks (CRC included),
 *   no per-record check and no allocation per frame or record. It hands out each frame in a window onto its segment
 *   with views that address a record's 40 command bytes in place (`SegmentWindow`), so the fast core reads them
 *   straight out of the bytes read from the file. Segments that end at or before `fromSequence` (a snapshot covers
 *   them) are not opened at all. Whoever reads records from it checks the fields it relies on (journal/recovery.ts
 *   does).
 * - `readSegmentHeader(file)` reads and checks one segment's header alone.
 * - Corruption anywhere else throws JournalFormatError naming the segment file, the byte offset and the field.
 * - `truncateTornTail(scan)` cuts the last segment back to its last valid frame: what recovery does before the
 *   engine writes a new segment.
 *
 * Segments are read in chunks through one reused buffer, so a frame's bytes (`records`, a SegmentWindow) are valid
 * only during the callback.
 */
import { closeSync, existsSync, fstatSync, openSync, readdirSync, readFileSync, readSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { recordProblem } from '../workloads/binary.ts';
import { RECORD_BYTES } from '../workloads/workload.ts';
import { crc32c } from './crc32c.ts';
import {
  decodeFsyncMark, decodeSegmentHeader, FRAME_FLAG_SYNCED, FRAME_HEADER_BYTES, FRAME_OFF_CRC, FRAME_OFF_FIRST_SEQUENCE, FRAME_OFF_FLAGS,
  FRAME_OFF_LENGTH, FRAME_OFF_RESERVED, JOURNAL_RECORD_BYTES, JournalFormatError, REC_OFF_CLIENT_SEQUENCE, REC_OFF_RESERVED,
  REC_OFF_SESSION, SEG_MIN_HEADER_BYTES, SEG_OFF_HEADER_LENGTH, sequenceOfSegmentName, FSYNC_MARK_FILE, type FsyncMark, type SegmentHeader,
} from './format.ts';

/** One valid frame, viewed in its segment's bytes. */
export interface JournalFrame {
  readonly segment: string;
  /** Byte offset of the frame in its segment. */
  readonly offset: number;
  readonly firstSequence: number;
  readonly count: number;
  readonly synced: boolean;
  /** The frame's records: count × JOURNAL_RECORD_BYTES bytes (valid only during the callback). */
  readonly records: Uint8Array;
  readonly header: SegmentHeader;
}

export interface TornTail {
  readonly segment: string;
  /** Where the last valid frame ends: the length the segment is cut back to. */
  readonly offset: number;
  readonly fileBytes: number;
  readonly reason: string;
}

export interface JournalScan {
  readonly dir: string;
  readonly segments: readonly string[];
  readonly frames: number;
  readonly records: number;
  readonly syncedFrames: number;
  /** Sequence number of the first record (the first segment's first sequence); undefined for an empty directory. */
  readonly firstSequence: number | undefined;
  /** One past the last valid record's sequence number: where a new writer continues. */
  readonly nextSequence: number;
  readonly design: string | undefined;
  readonly symbols: readonly string[];
  readonly tornTail: TornTail | undefined;
}

/** What `readJournalInPlace` found: `frames`, `records` and `syncedFrames` count only the segments it opened. */
export interface InPlaceScan extends JournalScan {
  /** Segments not opened because they end at or before `fromSequence`. */
  readonly segmentsSkipped: number;
}

/**
 * A window onto the segment being read: file bytes [base, base + filled) at bytes [0, filled) of one 8-aligned
 * buffer, with views that let record-indexed code read journal records in place. A segment is read in chunks of
 * CHUNK_BYTES (more when one frame needs it) into a buffer reused from segment to segment: fresh memory costs a
 * page fault per 4 KiB, which on the development VM made reading a whole 64 MiB segment into a new buffer cost more
 * than checking its CRCs.
 *
 * Journal records are 8-aligned in a segment (H is a multiple of 8, a frame is 24 + 56n bytes, a record 56) and
 * `base` is always a frame's start, so they are 8-aligned in the window too; but they are 56 bytes apart, while the
 * fast core and recordProblem address command record i at byte 40 i of the arrays they are given. A record at window
 * byte x ≡ 8r (mod 40), r in 0 … 4, is therefore record (x − 8r) / 40 of the views that start at byte 8r: five views
 * cover every record, with no copy (`commandRecordViews`, `commandRecordIndex`).
 *
 * Valid only during the callback it is handed to: the next frame may move the window or replace the buffer.
 */
export interface SegmentWindow {
  readonly file: string;
  readonly header: SegmentHeader;
  readonly fileBytes: number;
  /** File offset of window byte 0 (a multiple of 8): window offset x is file offset base + x. */
  readonly base: number;
  /** The window's bytes, and the same as u32 and f64 words (word i at byte 4i, 8i). */
  readonly bytes: Uint8Array;
  readonly u32: Uint32Array;
  readonly f64: Float64Array;
  /** `recordBytes[r]`, `recordU32[r]`, `recordF64[r]` view the window from byte 8r (r = 0 … 4). */
  readonly recordBytes: readonly Uint8Array[];
  readonly recordU32: readonly Uint32Array[];
  readonly recordF64: readonly Float64Array[];
}

/** Which of a SegmentWindow's record views holds the command record at 8-aligned window byte `at`. */
export function commandRecordViews(at: number): number {
  return (at % RECORD_BYTES) >> 3;
}

/** The record index of the command record at window byte `at` within the views `commandRecordViews(at)` names. */
export function commandRecordIndex(at: number): number {
  return (at - (at % RECORD_BYTES)) / RECORD_BYTES;
}

/** A valid frame as the in-place walk hands it out: it starts at window byte `offset`, its records 24 bytes on. */
export type InPlaceFrameVisitor = (segment: SegmentWindow, offset: number, firstSequence: number, count: number) => void;

type FrameVisitor = (segment: SegmentWindow, offset: number, firstSequence: number, count: number, synced: boolean) => void;

/** Bytes read per refill of the window: a few dozen frames of a busy journal, a small fraction of a segment. */
const CHUNK_BYTES = 4 << 20;
const RECORD_VIEW_STARTS = [0, 8, 16, 24, 32];
const MIN_WINDOW_BYTES = 64;

/** The segment files of `dir`, in sequence order (other files are ignored). */
export function segmentFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => sequenceOfSegmentName(name) !== undefined)
    .sort();
}

/** Reads segments through one window buffer (see SegmentWindow). */
class SegmentReader implements SegmentWindow {
  file = '';
  header: SegmentHeader = { firstSequence: 0, design: '', symbols: [], length: 0 };
  fileBytes = 0;
  base = 0;
  /** Window bytes [0, filled) hold file bytes [base, base + filled). */
  filled = 0;
  bytes = new Uint8Array(0);
  u32 = new Uint32Array(0);
  f64 = new Float64Array(0);
  recordBytes: Uint8Array[] = [];
  recordU32: Uint32Array[] = [];
  recordF64: Float64Array[] = [];
  #fd = -1;

  /** Opens `file` and reads and checks its header. */
  open(file: string): void {
    this.close();
    this.file = file;
    this.#fd = openSync(file, 'r');
    this.fileBytes = fstatSync(this.#fd).size;
    this.base = 0;
    this.filled = 0;
    const wanted = Math.min(CHUNK_BYTES, this.fileBytes);
    if (this.bytes.length < wanted) this.#grow(wanted);
    this.ensure(0, Math.min(this.fileBytes, SEG_MIN_HEADER_BYTES));
    // The header length field, when the file has one; decodeSegmentHeader names whatever is wrong with it.
    const length = this.filled < SEG_MIN_HEADER_BYTES ? 0 : this.u32[SEG_OFF_HEADER_LENGTH >> 2]!;
    this.ensure(0, Math.min(this.fileBytes, Math.max(length, SEG_MIN_HEADER_BYTES)));
    this.header = decodeSegmentHeader(file, this.bytes.subarray(0, this.filled));
  }

  close(): void {
    if (this.#fd >= 0) closeSync(this.#fd);
    this.#fd = -1;
  }

  /**
   * Makes file bytes [at, at + length) (at a multiple of 8) available at window offset at − base; false when the
   * file ends before at + length.
   */
  ensure(at: number, length: number): boolean {
    if (at + length > this.fileBytes) return false;
    if (at >= this.base && at + length <= this.base + this.filled) return true;
    const kept = at >= this.base && at < this.base + this.filled ? this.base + this.filled - at : 0;
    if (length > this.bytes.length) this.#grow(length, at - this.base, kept);
    else if (kept > 0) this.bytes.copyWithin(0, at - this.base, this.filled);
    this.base = at;
    this.filled = kept;
    const end = Math.min(this.fileBytes - at, this.bytes.length);
    while (this.filled < end) {
      const n = readSync(this.#fd, this.bytes, this.filled, end - this.filled, at + this.filled);
      if (n === 0) throw new Error(`${this.file}: the file shrank while it was read (${at + this.filled} of ${this.fileBytes} bytes)`);
      this.filled += n;
    }
    return true;
  }

  /** True when every byte from file offset `at` to the end of the file is zero. */
  zeroToEnd(at: number): boolean {
    for (let from = at; from < this.fileBytes; from = this.base + this.filled) {
      this.ensure(from, Math.min(this.bytes.length, this.fileBytes - from));
      if (!this.bytes.subarray(from - this.base, this.filled).every((b) => b === 0)) return false;
    }
    return true;
  }

  /**
   * A buffer of at least `bytes` (and never smaller than the record views' starts need), keeping `kept` bytes from
   * window offset `from`.
   */
  #grow(bytes: number, from = 0, kept = 0): void {
    const buffer = new ArrayBuffer(Math.max(Math.ceil(bytes / 8) * 8, MIN_WINDOW_BYTES));
    const old = this.bytes;
    this.bytes = new Uint8Array(buffer);
    this.bytes.set(old.subarray(from, from + kept));
    this.u32 = new Uint32Array(buffer);
    this.f64 = new Float64Array(buffer);
    this.recordBytes = RECORD_VIEW_STARTS.map((s) => new Uint8Array(buffer, s));
    this.recordU32 = RECORD_VIEW_STARTS.map((s) => new Uint32Array(buffer, s, (buffer.byteLength - s) >> 2));
    this.recordF64 = RECORD_VIEW_STARTS.map((s) => new Float64Array(buffer, s, (buffer.byteLength - s) >> 3));
  }
}

/**
 * Reads and checks only the header of segment `file`: what a caller needs before the frames (recovery sizes a core
 * from its symbol table). Errors as for the whole segment.
 */
export function readSegmentHeader(file: string): SegmentHeader {
  const reader = new SegmentReader();
  try {
    reader.open(file);
    return reader.header;
  } finally {
    reader.close();
  }
}

/** Reads a journal record's sender fields. */
export function recordSender(records: Uint8Array, index: number): { session: number; clientSequence: number } {
  const view = new DataView(records.buffer, records.byteOffset + index * JOURNAL_RECORD_BYTES, JOURNAL_RECORD_BYTES);
  return { session: view.getUint32(REC_OFF_SESSION, true), clientSequence: view.getFloat64(REC_OFF_CLIENT_SEQUENCE, true) };
}

/** Why the frame of `count` records at window offset `payloadStart` has a bad record, or null. */
function badRecord(segment: SegmentReader, payloadStart: number, count: number): string | null {
  const symbolCount = segment.header.symbols.length;
  for (let i = 0; i < count; i++) {
    const at = payloadStart + i * JOURNAL_RECORD_BYTES;
    const fileAt = segment.base + at;
    const r = commandRecordViews(at);
    const problem = recordProblem(segment.recordBytes[r]!, segment.recordU32[r]!, segment.recordF64[r]!, commandRecordIndex(at), symbolCount);
    if (problem !== null) return `record ${i} (byte offset ${fileAt}): ${problem}`;
    if (segment.u32[(at + REC_OFF_RESERVED) >> 2] !== 0) return `record ${i} (byte offset ${fileAt + REC_OFF_RESERVED}): field 'reserved' is not 0`;
    const clientSequence = segment.f64[(at + REC_OFF_CLIENT_SEQUENCE) >> 3]!;
    if (!(Number.isSafeInteger(clientSequence) && clientSequence >= 1)) return `record ${i} (byte offset ${fileAt + REC_OFF_CLIENT_SEQUENCE}): field 'client sequence' is ${clientSequence}, expected an integer ≥ 1`;
  }
  return null;
}

interface FrameProblem {
  /** A torn write (cut short, zero-filled, or a failing CRC at the very end): a torn tail when in the last segment. */
  readonly torn: boolean;
  readonly what: string;
}

const U32 = 4294967296;

/**
 * What is wrong with the frame at file offset `at` (which expects first sequence `expected`), or null when it checks
 * out, in which case the whole frame is in the window.
 */
function frameProblem(segment: SegmentReader, at: number, expected: number, checkRecords: boolean): FrameProblem | null {
  const fileBytes = segment.fileBytes;
  if (!segment.ensure(at, FRAME_HEADER_BYTES)) return { torn: true, what: `frame header cut short (${fileBytes - at} of ${FRAME_HEADER_BYTES} bytes)` };
  const length = segment.u32[(at - segment.base + FRAME_OFF_LENGTH) >> 2]!;
  if (length === 0 && segment.zeroToEnd(at)) return { torn: true, what: `${fileBytes - at} zero bytes where a frame should start` };
  if (length === 0 || length % JOURNAL_RECORD_BYTES !== 0) return { torn: false, what: `field 'length': ${length}, not a positive multiple of ${JOURNAL_RECORD_BYTES}` };
  const end = at + FRAME_HEADER_BYTES + length;
  if (end > fileBytes) return { torn: true, what: `frame of ${length} payload bytes runs past the end of the file (${fileBytes - at - FRAME_HEADER_BYTES} there)` };
  segment.ensure(at, FRAME_HEADER_BYTES + length);
  const o = at - segment.base;
  const u32 = segment.u32;
  const stored = u32[(o + FRAME_OFF_CRC) >> 2]!;
  const actual = crc32c(segment.bytes, o + FRAME_OFF_FIRST_SEQUENCE, o + FRAME_HEADER_BYTES + length);
  if (stored !== actual) return { torn: end === fileBytes, what: `field 'CRC': stored 0x${stored.toString(16).padStart(8, '0')}, the frame's bytes give 0x${actual.toString(16).padStart(8, '0')}` };
  const sequence = u32[(o + FRAME_OFF_FIRST_SEQUENCE) >> 2]! + u32[(o + FRAME_OFF_FIRST_SEQUENCE + 4) >> 2]! * U32;
  if (sequence !== expected) return { torn: false, what: `field 'first sequence': ${sequence}, expected ${expected} (the previous frame's end)` };
  const flags = u32[(o + FRAME_OFF_FLAGS) >> 2]!;
  if ((flags & ~FRAME_FLAG_SYNCED) !== 0) return { torn: false, what: `field 'flags': 0x${flags.toString(16)}, version 1 knows only bit 0 (synced)` };
  if (u32[(o + FRAME_OFF_RESERVED) >> 2] !== 0) return { torn: false, what: `field 'reserved' is not 0` };
  if (checkRecords) {
    const bad = badRecord(segment, o + FRAME_HEADER_BYTES, length / JOURNAL_RECORD_BYTES);
    if (bad !== null) return { torn: false, what: bad };
  }
  return null;
}

/** Walks every segment from the first one that reaches past `fromSequence`, checking every frame. */
function walkJournal(dir: string, checkRecords: boolean, fromSequence: number, visit: FrameVisitor): InPlaceScan {
  const segments = segmentFiles(dir);
  const segment = new SegmentReader();
  let frames = 0;
  let records = 0;
  let syncedFrames = 0;
  const firstSequence = segments.length === 0 ? undefined : sequenceOfSegmentName(segments[0]!)!;
  let nextSequence = 0;
  let design: string | undefined;
  let symbols: readonly string[] = [];
  let tornTail: TornTail | undefined;
  // A segment ends where the next one starts, so the names alone say which ones hold nothing at or after fromSequence.
  let skipped = 0;
  while (skipped + 1 < segments.length && sequenceOfSegmentName(segments[skipped + 1]!)! <= fromSequence) skipped++;
  try {
    for (let s = skipped; s < segments.length; s++) {
      const name = segments[s]!;
      const file = join(dir, name);
      const last = s === segments.length - 1;
      segment.open(file);
      const header = segment.header;
      const named = sequenceOfSegmentName(name)!;
      if (header.firstSequence !== named) throw new JournalFormatError(`${file}: byte offset 8: field 'first sequence': ${header.firstSequence}, but the file is named for ${named}`);
      if (design === undefined) {
        design = header.design;
        symbols = header.symbols;
      } else {
        if (header.firstSequence !== nextSequence) {
          throw new JournalFormatError(`${file}: byte offset 8: field 'first sequence': ${header.firstSequence}, but the previous segment ends at ${nextSequence} (${header.firstSequence > nextSequence ? 'records are missing' : 'records overlap'})`);
        }
        if (header.symbols.length !== symbols.length || header.symbols.some((sym, i) => sym !== symbols[i])) {
          throw new JournalFormatError(`${file}: segment header: its symbol table differs from the first segment's`);
        }
      }
      nextSequence = header.firstSequence;
      let at = header.length;
      while (at < segment.fileBytes) {
        const problem = frameProblem(segment, at, nextSequence, checkRecords);
        if (problem !== null) {
          if (problem.torn && last) {
            tornTail = { segment: file, offset: at, fileBytes: segment.fileBytes, reason: problem.what };
            break;
          }
          throw new JournalFormatError(`${file}: byte offset ${at}: frame ${problem.what}${problem.torn ? ' (a torn write, but not at the end of the last segment: records after it would be lost)' : ''}`);
        }
        const o = at - segment.base;
        const length = segment.u32[(o + FRAME_OFF_LENGTH) >> 2]!;
        const count = length / JOURNAL_RECORD_BYTES;
        const synced = (segment.u32[(o + FRAME_OFF_FLAGS) >> 2]! & FRAME_FLAG_SYNCED) !== 0;
        visit(segment, o, nextSequence, count, synced);
        frames++;
        records += count;
        if (synced) syncedFrames++;
        nextSequence += count;
        at += FRAME_HEADER_BYTES + length;
      }
    }
  } finally {
    segment.close();
  }
  return { dir, segments, frames, records, syncedFrames, firstSequence, nextSequence, design, symbols, tornTail, segmentsSkipped: skipped };
}

/** Scans every segment of `dir`, calling `onFrame` for each valid frame in sequence order (full per-record check). */
/** Every record of the journal in `dir`, in sequence order, as one byte string (comparing two nodes' journals). */
export function journalRecordBytes(dir: string): Buffer {
  const parts: Buffer[] = [];
  readJournal(dir, (frame) => parts.push(Buffer.from(frame.records)));
  return Buffer.concat(parts);
}

export function readJournal(dir: string, onFrame: (frame: JournalFrame) => void = () => {}): JournalScan {
  return walkJournal(dir, true, 0, (segment, offset, firstSequence, count, synced) => {
    const start = offset + FRAME_HEADER_BYTES;
    onFrame({ segment: segment.file, offset: segment.base + offset, firstSequence, count, synced, records: segment.bytes.subarray(start, start + count * JOURNAL_RECORD_BYTES), header: segment.header });
  });
}

/**
 * Recovery's fast path: every frame checked as by `readJournal` but its records (see SegmentWindow), handed out in
 * place; segments ending at or before `fromSequence` are skipped unread.
 */
export function readJournalInPlace(dir: string, onFrame: InPlaceFrameVisitor, fromSequence = 0): InPlaceScan {
  return walkJournal(dir, false, fromSequence, onFrame);
}

/** The journal's fsync mark (journal/format.ts), or undefined when it has none (a journal no writer fsynced yet). */
export function readFsyncMark(dir: string): FsyncMark | undefined {
  const file = join(dir, FSYNC_MARK_FILE);
  return existsSync(file) ? decodeFsyncMark(file, readFileSync(file)) : undefined;
}

/** Cuts the torn tail off the last segment, so that the journal ends at its last valid frame. */
export function truncateTornTail(scan: JournalScan): void {
  if (scan.tornTail !== undefined) truncateSync(scan.tornTail.segment, scan.tornTail.offset);
}
