/**
 * Reads a journal directory (format and recovery rules: journal/format.ts): every segment in sequence order, every
 * frame checked (length, CRC-32C, sequence continuity, flags, canonical command records), a torn tail told apart
 * from corruption.
 *
 * Contract:
 * - `readJournal(dir, onFrame)` calls `onFrame` for every valid frame in sequence order and returns what it found:
 *   segments, frames, records, synced frames, the sequence range, and the torn tail if there is one (segment, offset,
 *   why). A torn tail is only ever the end of the last segment; the frames before it are delivered.
 * - Corruption anywhere else throws JournalFormatError naming the segment file, the byte offset and the field.
 * - `truncateTornTail(scan)` cuts the last segment back to its last valid frame: what recovery does before the
 *   engine writes a new segment.
 */
import { readdirSync, readFileSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { recordProblem } from '../workloads/binary.ts';
import { crc32c } from './crc32c.ts';
import {
  decodeSegmentHeader, FRAME_FLAG_SYNCED, FRAME_HEADER_BYTES, FRAME_OFF_CRC, FRAME_OFF_FIRST_SEQUENCE, FRAME_OFF_FLAGS,
  FRAME_OFF_LENGTH, FRAME_OFF_RESERVED, JOURNAL_RECORD_BYTES, JournalFormatError, REC_OFF_CLIENT_SEQUENCE, REC_OFF_RESERVED,
  REC_OFF_SESSION, sequenceOfSegmentName, type SegmentHeader,
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

/** The segment files of `dir`, in sequence order (other files are ignored). */
export function segmentFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => sequenceOfSegmentName(name) !== undefined)
    .sort();
}

/** Reads a journal record's sender fields. */
export function recordSender(records: Uint8Array, index: number): { session: number; clientSequence: number } {
  const view = new DataView(records.buffer, records.byteOffset + index * JOURNAL_RECORD_BYTES, JOURNAL_RECORD_BYTES);
  return { session: view.getUint32(REC_OFF_SESSION, true), clientSequence: view.getFloat64(REC_OFF_CLIENT_SEQUENCE, true) };
}

/** Why the frame of `count` records at `payloadStart` has a bad record, or null. */
function badRecord(bytes: Uint8Array, payloadStart: number, count: number, symbolCount: number): string | null {
  // recordProblem reads records from aligned typed arrays; a frame's payload is 8-aligned within the file buffer.
  const copy = new ArrayBuffer(40);
  const copyBytes = new Uint8Array(copy);
  const u32 = new Uint32Array(copy);
  const f64 = new Float64Array(copy);
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  for (let i = 0; i < count; i++) {
    const at = payloadStart + i * JOURNAL_RECORD_BYTES;
    copyBytes.set(bytes.subarray(at, at + 40));
    const problem = recordProblem(copyBytes, u32, f64, 0, symbolCount);
    if (problem !== null) return `record ${i} (byte offset ${at}): ${problem}`;
    if (view.getUint32(at + REC_OFF_RESERVED, true) !== 0) return `record ${i} (byte offset ${at + REC_OFF_RESERVED}): field 'reserved' is not 0`;
    const clientSequence = view.getFloat64(at + REC_OFF_CLIENT_SEQUENCE, true);
    if (!(Number.isSafeInteger(clientSequence) && clientSequence >= 1)) return `record ${i} (byte offset ${at + REC_OFF_CLIENT_SEQUENCE}): field 'client sequence' is ${clientSequence}, expected an integer ≥ 1`;
  }
  return null;
}

/** Scans every segment of `dir`, calling `onFrame` for each valid frame in sequence order. */
export function readJournal(dir: string, onFrame: (frame: JournalFrame) => void = () => {}): JournalScan {
  const segments = segmentFiles(dir);
  let frames = 0;
  let records = 0;
  let syncedFrames = 0;
  let firstSequence: number | undefined;
  let nextSequence = 0;
  let design: string | undefined;
  let symbols: readonly string[] = [];
  let tornTail: TornTail | undefined;
  for (let s = 0; s < segments.length; s++) {
    const name = segments[s]!;
    const file = join(dir, name);
    const last = s === segments.length - 1;
    const bytes = new Uint8Array(readFileSync(file));
    const header = decodeSegmentHeader(file, bytes);
    const named = sequenceOfSegmentName(name)!;
    if (header.firstSequence !== named) throw new JournalFormatError(`${file}: byte offset 8: field 'first sequence': ${header.firstSequence}, but the file is named for ${named}`);
    if (firstSequence === undefined) firstSequence = header.firstSequence;
    else if (header.firstSequence !== nextSequence) {
      throw new JournalFormatError(`${file}: byte offset 8: field 'first sequence': ${header.firstSequence}, but the previous segment ends at ${nextSequence} (${header.firstSequence > nextSequence ? 'records are missing' : 'records overlap'})`);
    }
    if (design === undefined) {
      design = header.design;
      symbols = header.symbols;
    } else if (header.symbols.length !== symbols.length || header.symbols.some((sym, i) => sym !== symbols[i])) {
      throw new JournalFormatError(`${file}: segment header: its symbol table differs from the first segment's`);
    }
    nextSequence = header.firstSequence;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let at = header.length;
    while (at < bytes.length) {
      const problem = ((): { torn: boolean; what: string } | undefined => {
        if (at + FRAME_HEADER_BYTES > bytes.length) return { torn: true, what: `frame header cut short (${bytes.length - at} of ${FRAME_HEADER_BYTES} bytes)` };
        const length = view.getUint32(at + FRAME_OFF_LENGTH, true);
        if (length === 0 && bytes.subarray(at).every((b) => b === 0)) return { torn: true, what: `${bytes.length - at} zero bytes where a frame should start` };
        if (length === 0 || length % JOURNAL_RECORD_BYTES !== 0) return { torn: false, what: `field 'length': ${length}, not a positive multiple of ${JOURNAL_RECORD_BYTES}` };
        const end = at + FRAME_HEADER_BYTES + length;
        if (end > bytes.length) return { torn: true, what: `frame of ${length} payload bytes runs past the end of the file (${bytes.length - at - FRAME_HEADER_BYTES} there)` };
        const stored = view.getUint32(at + FRAME_OFF_CRC, true);
        const actual = crc32c(bytes, at + FRAME_OFF_FIRST_SEQUENCE, end);
        if (stored !== actual) return { torn: end === bytes.length, what: `field 'CRC': stored 0x${stored.toString(16).padStart(8, '0')}, the frame's bytes give 0x${actual.toString(16).padStart(8, '0')}` };
        const sequence = Number(view.getBigUint64(at + FRAME_OFF_FIRST_SEQUENCE, true));
        if (sequence !== nextSequence) return { torn: false, what: `field 'first sequence': ${sequence}, expected ${nextSequence} (the previous frame's end)` };
        const flags = view.getUint32(at + FRAME_OFF_FLAGS, true);
        if ((flags & ~FRAME_FLAG_SYNCED) !== 0) return { torn: false, what: `field 'flags': 0x${flags.toString(16)}, version 1 knows only bit 0 (synced)` };
        if (view.getUint32(at + FRAME_OFF_RESERVED, true) !== 0) return { torn: false, what: `field 'reserved' is not 0` };
        const bad = badRecord(bytes, at + FRAME_HEADER_BYTES, length / JOURNAL_RECORD_BYTES, header.symbols.length);
        if (bad !== null) return { torn: false, what: bad };
        return undefined;
      })();
      if (problem !== undefined) {
        if (problem.torn && last) {
          tornTail = { segment: file, offset: at, fileBytes: bytes.length, reason: problem.what };
          break;
        }
        throw new JournalFormatError(`${file}: byte offset ${at}: frame ${problem.what}${problem.torn ? ' (a torn write, but not at the end of the last segment: records after it would be lost)' : ''}`);
      }
      const length = view.getUint32(at + FRAME_OFF_LENGTH, true);
      const count = length / JOURNAL_RECORD_BYTES;
      const synced = (view.getUint32(at + FRAME_OFF_FLAGS, true) & FRAME_FLAG_SYNCED) !== 0;
      onFrame({ segment: file, offset: at, firstSequence: nextSequence, count, synced, records: bytes.subarray(at + FRAME_HEADER_BYTES, at + FRAME_HEADER_BYTES + length), header });
      frames++;
      records += count;
      if (synced) syncedFrames++;
      nextSequence += count;
      at += FRAME_HEADER_BYTES + length;
    }
  }
  return { dir, segments, frames, records, syncedFrames, firstSequence, nextSequence, design, symbols, tornTail };
}

/** Cuts the torn tail off the last segment, so that the journal ends at its last valid frame. */
export function truncateTornTail(scan: JournalScan): void {
  if (scan.tornTail !== undefined) truncateSync(scan.tornTail.segment, scan.tornTail.offset);
}
