/**
 * The write-ahead journal's on-disk format ("MBJL"): the sequenced input of one engine, as segment files of
 * checksummed frames. Described once, here; the README ("Journal format") has the same text.
 *
 * A journal is a directory of segment files named by the sequence number of their first record, 20 decimal digits
 * (`00000000000000000000.mbj`, `00000000000000131072.mbj`, …), so name order is sequence order. Every process that
 * writes the journal starts a new segment (it never appends to a segment an earlier process may have torn), and a
 * writer rolls to a new segment once the current one reaches its size limit.
 *
 * Segment header, version 1 (all integers little-endian):
 *
 *   offset  size  field
 *   0       4     magic: the ASCII bytes "MBJL" (4D 42 4A 4C)
 *   4       2     version: u16 = 1
 *   6       2     flags: u16 = 0 (reserved; a reader rejects any bit it does not know, and v1 knows none)
 *   8       8     first sequence: u64, the sequence number of this segment's first record (0 for the first segment)
 *   16      4     header length H: u32, a multiple of 8; frames start at offset H
 *   20      2     design name length D: u16, then D bytes of UTF-8 (the design that sequenced the commands)
 *   …       4     symbol count S: u32, then S symbols, each a u16 byte length L and L bytes of UTF-8 (the command
 *                 records' `sym` indexes this table, as in the binary workload file)
 *   …       0–7   zero bytes up to H − 4
 *   H − 4   4     CRC-32C (journal/crc32c.ts) of bytes [0, H − 4)
 *
 * Frame (one write of the journaller: the records it found sequenced since its last write):
 *
 *   offset  size  field
 *   0       4     payload length L: u32 = 56 × record count (at least one record)
 *   4       4     CRC-32C of bytes [8, 24 + L): the rest of the frame header and the records
 *   8       8     first sequence: u64, the sequence number of the frame's first record (the previous frame's
 *                 first sequence + its record count; a segment's first frame has the segment's first sequence)
 *   16      4     flags: u32; bit 0 (FRAME_FLAG_SYNCED) = the writer fsynced the segment after this frame, before
 *                 acknowledging any command in it (`group` and `sync` modes); other bits must be 0
 *   20      4     reserved: u32 = 0
 *   24      L     records, 56 bytes each:
 *
 *     byte  0 … 39                        40 … 43         44 … 47     48 … 55
 *         +-------------------------------+---------------+-----------+------------------------+
 *         | command record (40 bytes,     | session (u32) | reserved  | client sequence (f64,   |
 *         | workloads/workload.ts layout) |               | u32 = 0   | an integer ≥ 1)         |
 *         +-------------------------------+---------------+-----------+------------------------+
 *
 * Frames are 8-byte aligned (24 + 56n). A record's sequence number is its frame's first sequence plus its index.
 * The command records follow the binary workload file's canonical rules (workloads/binary.ts recordProblem).
 *
 * Recovery rules (journal/reader.ts): in the last segment, a frame cut short (its header or payload runs past the
 * end of the file), a frame of zero bytes to the end (a file extended but never written) or a last frame failing its
 * CRC is a torn tail: what a crash leaves of a write in progress. It is reported with the segment and offset and,
 * when recovering, truncated. Anything else (a bad CRC with more frames after it, a sequence gap, a bad header,
 * a torn frame in a segment that is not the last) is corruption: recovery stops with an error naming the segment,
 * the offset and the field, and never silently drops a record that may have been acknowledged.
 *
 * Fsync mark: the file `DIR/fsynced` (32 bytes), rewritten in place by the writer after every fsync of the
 * journal, and itself never fsynced. It says how much of the journal the disk is known to hold:
 *
 *   offset  size  field
 *   0       4     magic: the ASCII bytes "MBJF" (4D 42 4A 46)
 *   4       2     version: u16 = 1
 *   6       2     reserved: u16 = 0
 *   8       8     segment: u64, the first sequence of the segment last fsynced (its file name)
 *   16      8     durable length: u64, the bytes of that segment the fsync covered (header and whole frames)
 *   24      8     next sequence: u64, every record with a lower sequence is on disk
 *
 * Written after the fsync returns and before any command of the fsynced frames is acknowledged, so after a kill -9
 * (the page cache survives) it is a lower bound of what is on disk that covers everything acknowledged; a crash
 * test cuts the journal back to it to play a power cut (server/crashtest.ts). After a real power cut the mark
 * itself may be older (a lower bound still). Recovery never reads it: the frames' CRCs decide.
 *
 * Version rule: a change to any field's meaning or position bumps the version; a reader refuses versions it does
 * not know. New flag bits are a new version too, since readers reject unknown bits.
 */
import { RECORD_BYTES } from '../workloads/workload.ts';
import { crc32c } from './crc32c.ts';

export const JOURNAL_MAGIC = 'MBJL';
export const JOURNAL_VERSION = 1;
export const SEGMENT_SUFFIX = '.mbj';
const MAGIC_BYTES = new TextEncoder().encode(JOURNAL_MAGIC);

/** Segment header offsets. */
export const SEG_OFF_VERSION = 4;
export const SEG_OFF_FLAGS = 6;
export const SEG_OFF_FIRST_SEQUENCE = 8;
export const SEG_OFF_HEADER_LENGTH = 16;
export const SEG_OFF_DESIGN = 20;
/** The smallest header: fixed fields, an empty design name, no symbols, the CRC. */
export const SEG_MIN_HEADER_BYTES = 32;

/** Frame header offsets and sizes. */
export const FRAME_OFF_LENGTH = 0;
export const FRAME_OFF_CRC = 4;
export const FRAME_OFF_FIRST_SEQUENCE = 8;
export const FRAME_OFF_FLAGS = 16;
export const FRAME_OFF_RESERVED = 20;
export const FRAME_HEADER_BYTES = 24;
export const FRAME_FLAG_SYNCED = 1;

/** Journal record layout: the command record, then who sent it. */
export const JOURNAL_RECORD_BYTES = 56;
export const REC_OFF_COMMAND = 0;
export const REC_OFF_SESSION = RECORD_BYTES;
export const REC_OFF_RESERVED = RECORD_BYTES + 4;
export const REC_OFF_CLIENT_SEQUENCE = RECORD_BYTES + 8;

const MAX_NAME_BYTES = 0xffff;

/** Fsync mark offsets. */
export const FSYNC_MARK_FILE = 'fsynced';
export const FSYNC_MARK_MAGIC = 'MBJF';
export const FSYNC_MARK_VERSION = 1;
export const MARK_OFF_VERSION = 4;
export const MARK_OFF_RESERVED = 6;
export const MARK_OFF_SEGMENT = 8;
export const MARK_OFF_DURABLE_LENGTH = 16;
export const MARK_OFF_NEXT_SEQUENCE = 24;
export const FSYNC_MARK_BYTES = 32;

export interface FsyncMark {
  /** First sequence of the segment last fsynced. */
  readonly segment: number;
  /** Bytes of that segment on disk. */
  readonly durableLength: number;
  /** Every record below this sequence is on disk. */
  readonly nextSequence: number;
}

/** Writes the fsync mark into `bytes` (FSYNC_MARK_BYTES long). */
export function encodeFsyncMark(bytes: Uint8Array, mark: FsyncMark): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, FSYNC_MARK_BYTES);
  bytes.set(new TextEncoder().encode(FSYNC_MARK_MAGIC), 0);
  view.setUint16(MARK_OFF_VERSION, FSYNC_MARK_VERSION, true);
  view.setUint16(MARK_OFF_RESERVED, 0, true);
  view.setBigUint64(MARK_OFF_SEGMENT, BigInt(mark.segment), true);
  view.setBigUint64(MARK_OFF_DURABLE_LENGTH, BigInt(mark.durableLength), true);
  view.setBigUint64(MARK_OFF_NEXT_SEQUENCE, BigInt(mark.nextSequence), true);
}

/** Decodes and checks the fsync mark `bytes`, the content of `file`. */
export function decodeFsyncMark(file: string, bytes: Uint8Array): FsyncMark {
  const fail = (offset: number, what: string): never => {
    throw new JournalFormatError(`${file}: byte offset ${offset}: ${what}`);
  };
  if (bytes.length !== FSYNC_MARK_BYTES) fail(0, `fsync mark: the file is ${bytes.length} bytes, a mark is ${FSYNC_MARK_BYTES}`);
  if (new TextDecoder().decode(bytes.subarray(0, 4)) !== FSYNC_MARK_MAGIC) fail(0, `field 'magic': not an fsync mark (expected "${FSYNC_MARK_MAGIC}")`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint16(MARK_OFF_VERSION, true);
  if (version !== FSYNC_MARK_VERSION) fail(MARK_OFF_VERSION, `field 'version': ${version}, this code reads version ${FSYNC_MARK_VERSION}`);
  const number = (offset: number, field: string): number => {
    const value = Number(view.getBigUint64(offset, true));
    if (!Number.isSafeInteger(value)) fail(offset, `field '${field}': ${value} is beyond 2^53`);
    return value;
  };
  return { segment: number(MARK_OFF_SEGMENT, 'segment'), durableLength: number(MARK_OFF_DURABLE_LENGTH, 'durable length'), nextSequence: number(MARK_OFF_NEXT_SEQUENCE, 'next sequence') };
}

/** A journal that cannot be read as written: the message names the segment, the byte offset and the field. */
export class JournalFormatError extends Error {
  override readonly name = 'JournalFormatError';
}

export interface SegmentHeader {
  readonly firstSequence: number;
  readonly design: string;
  readonly symbols: readonly string[];
  /** Header length H: where the first frame starts. */
  readonly length: number;
}

/**
 * The names a segment header and a snapshot header (journal/snapshot.ts) both carry, in the same layout: the design
 * name (u16 length D, D bytes of UTF-8), then the symbol table (u32 count S, then S symbols, each a u16 length and
 * its UTF-8 bytes).
 */
export interface EncodedNames {
  readonly design: Uint8Array;
  readonly symbols: readonly Uint8Array[];
  /** Bytes the names take in a header. */
  readonly length: number;
}

/** UTF-8 of the names, checked against the u16 lengths; `what` starts the error ("journal", "snapshot"). */
export function encodeNames(what: string, design: string, symbols: readonly string[]): EncodedNames {
  const encoder = new TextEncoder();
  const designBytes = encoder.encode(design);
  if (designBytes.length > MAX_NAME_BYTES) throw new Error(`${what}: design name of ${designBytes.length} bytes (at most ${MAX_NAME_BYTES})`);
  const symbolBytes = symbols.map((s, i) => {
    const bytes = encoder.encode(s);
    if (bytes.length > MAX_NAME_BYTES) throw new Error(`${what}: symbol ${i} is ${bytes.length} bytes of UTF-8 (at most ${MAX_NAME_BYTES})`);
    return bytes;
  });
  return { design: designBytes, symbols: symbolBytes, length: 2 + designBytes.length + 4 + symbolBytes.reduce((n, s) => n + 2 + s.length, 0) };
}

/** Writes the names at `at`; returns where they end. */
export function writeNames(bytes: Uint8Array, at: number, names: EncodedNames): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  view.setUint16(at, names.design.length, true);
  bytes.set(names.design, at + 2);
  at += 2 + names.design.length;
  view.setUint32(at, names.symbols.length, true);
  at += 4;
  for (const s of names.symbols) {
    view.setUint16(at, s.length, true);
    bytes.set(s, at + 2);
    at += 2 + s.length;
  }
  return at;
}

/**
 * Reads the names at `at` of `bytes`, which must end before `limit` (`limitName` says what that is, for errors);
 * `fail` throws the format's error naming the byte offset.
 */
export function readNames(bytes: Uint8Array, at: number, limit: number, limitName: string, fail: (offset: number, what: string) => never): { design: string; symbols: string[]; end: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const text = (from: number, size: number, field: string): string => {
    if (from + size > limit) fail(from, `field '${field}': ${size} bytes run past ${limitName} (${limit})`);
    try {
      return decoder.decode(bytes.subarray(from, from + size));
    } catch {
      return fail(from, `field '${field}': not UTF-8`);
    }
  };
  if (at + 2 > limit) fail(at, `field 'design length': runs past ${limitName} (${limit})`);
  const designLength = view.getUint16(at, true);
  const design = text(at + 2, designLength, 'design');
  at += 2 + designLength;
  if (at + 4 > limit) fail(at, `field 'symbol count': runs past ${limitName} (${limit})`);
  const symbolCount = view.getUint32(at, true);
  at += 4;
  const symbols: string[] = [];
  for (let i = 0; i < symbolCount; i++) {
    if (at + 2 > limit) fail(at, `field 'symbol ${i} length': runs past ${limitName} (${limit})`);
    const size = view.getUint16(at, true);
    symbols.push(text(at + 2, size, `symbol ${i}`));
    at += 2 + size;
  }
  return { design, symbols, end: at };
}

/** The segment file name for a first sequence number. */
export function segmentName(firstSequence: number): string {
  return `${String(firstSequence).padStart(20, '0')}${SEGMENT_SUFFIX}`;
}

/** The first sequence a segment file name states, or undefined for a name that is not a segment's. */
export function sequenceOfSegmentName(name: string): number | undefined {
  const match = /^(\d{20})\.mbj$/.exec(name);
  return match === null ? undefined : Number(match[1]);
}

/** Encodes a segment header (padded, with its CRC). */
export function encodeSegmentHeader(header: Omit<SegmentHeader, 'length'>): Uint8Array {
  const names = encodeNames('journal', header.design, header.symbols);
  const unpadded = SEG_OFF_DESIGN + names.length + 4;
  const bytes = new Uint8Array(Math.ceil(unpadded / 8) * 8);
  const view = new DataView(bytes.buffer);
  bytes.set(MAGIC_BYTES, 0);
  view.setUint16(SEG_OFF_VERSION, JOURNAL_VERSION, true);
  view.setUint16(SEG_OFF_FLAGS, 0, true);
  view.setBigUint64(SEG_OFF_FIRST_SEQUENCE, BigInt(header.firstSequence), true);
  view.setUint32(SEG_OFF_HEADER_LENGTH, bytes.length, true);
  writeNames(bytes, SEG_OFF_DESIGN, names);
  view.setUint32(bytes.length - 4, crc32c(bytes, 0, bytes.length - 4), true);
  return bytes;
}

/** Decodes and checks the header at the start of `bytes`, the content of segment file `file`. */
export function decodeSegmentHeader(file: string, bytes: Uint8Array): SegmentHeader {
  const fail = (offset: number, what: string): never => {
    throw new JournalFormatError(`${file}: byte offset ${offset}: ${what}`);
  };
  if (bytes.length < SEG_MIN_HEADER_BYTES) fail(0, `segment header: the file is ${bytes.length} bytes, shorter than the smallest header (${SEG_MIN_HEADER_BYTES})`);
  for (let i = 0; i < 4; i++) if (bytes[i] !== MAGIC_BYTES[i]) fail(0, `field 'magic': not a journal segment (expected "${JOURNAL_MAGIC}")`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint16(SEG_OFF_VERSION, true);
  if (version !== JOURNAL_VERSION) fail(SEG_OFF_VERSION, `field 'version': ${version}, this code reads version ${JOURNAL_VERSION}`);
  const flags = view.getUint16(SEG_OFF_FLAGS, true);
  if (flags !== 0) fail(SEG_OFF_FLAGS, `field 'flags': 0x${flags.toString(16)}, version ${JOURNAL_VERSION} knows no flag bits`);
  const length = view.getUint32(SEG_OFF_HEADER_LENGTH, true);
  if (length % 8 !== 0 || length < SEG_MIN_HEADER_BYTES || length > bytes.length) fail(SEG_OFF_HEADER_LENGTH, `field 'header length': ${length} (a multiple of 8, at least ${SEG_MIN_HEADER_BYTES}, within the file's ${bytes.length} bytes)`);
  const stored = view.getUint32(length - 4, true);
  const actual = crc32c(bytes, 0, length - 4);
  if (stored !== actual) fail(length - 4, `field 'header CRC': stored 0x${stored.toString(16).padStart(8, '0')}, the header's bytes give 0x${actual.toString(16).padStart(8, '0')} (the header is corrupt)`);
  const firstSequence = Number(view.getBigUint64(SEG_OFF_FIRST_SEQUENCE, true));
  if (!Number.isSafeInteger(firstSequence)) fail(SEG_OFF_FIRST_SEQUENCE, `field 'first sequence': ${firstSequence} is beyond 2^53`);
  const { design, symbols } = readNames(bytes, SEG_OFF_DESIGN, length - 4, "the header's end", fail);
  return { firstSequence, design, symbols, length };
}

/**
 * Fills in the header of the frame at `offset` in `bytes` whose `count` records are already in place after it,
 * CRC included.
 */
export function sealFrame(bytes: Uint8Array, offset: number, count: number, firstSequence: number, flags: number): void {
  const payload = count * JOURNAL_RECORD_BYTES;
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, FRAME_HEADER_BYTES);
  view.setUint32(FRAME_OFF_LENGTH, payload, true);
  view.setBigUint64(FRAME_OFF_FIRST_SEQUENCE, BigInt(firstSequence), true);
  view.setUint32(FRAME_OFF_FLAGS, flags, true);
  view.setUint32(FRAME_OFF_RESERVED, 0, true);
  view.setUint32(FRAME_OFF_CRC, crc32c(bytes, offset + FRAME_OFF_FIRST_SEQUENCE, offset + FRAME_HEADER_BYTES + payload), true);
}
