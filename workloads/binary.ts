/**
 * The binary workload file ("MBWL"): a header, the 40-byte command records of workloads/workload.ts copied
 * verbatim, and a CRC-32 trailer. Compact (40 bytes a command), loaded with one copy, corruption detected.
 *
 * Byte layout, versions 1 and 2 (all integers little-endian; the README, "Binary workload format", has the same text):
 *
 *   offset      size    field
 *   0           4       magic: the ASCII bytes "MBWL" (4D 42 57 4C)
 *   4           2       version: u16 = 1, or 2 when any record is a clock (op 5)
 *   6           2       flags: u16 = 0 (reserved; a reader rejects any bit it does not know, and v1 knows none)
 *   8           8       record count N: u64. While a writer is still open this holds the "unfinished" marker
 *                       FF FF FF FF FF FF FF FF; the writer patches in N when it closes the file.
 *   16          4       symbol count S: u32
 *   20          ...     S symbols, each: u16 byte length L, then L bytes of UTF-8. Record field `sym` is an index
 *                       into this table (0-based). Names are unique and well-formed Unicode.
 *   ...         4       provenance length P: u32
 *   ...         P       provenance: UTF-8 JSON object (generator preset/seed/params, or source file), JSON.stringify'd
 *   ...         0-7     zero bytes, so that the records start at an offset R that is a multiple of 8
 *   R           40 × N  records, exactly the layout of workloads/workload.ts (op, side, type, tif: u8; sym: u32;
 *                       id, price, qty, owner: f64)
 *   R + 40N     4       CRC-32 (IEEE/zlib) of bytes [0, R + 40N): header, padding and records
 *
 * Version rule: a writer writes the lowest version that holds its records (1 unless a clock passed through, so every
 * file without clocks is byte-identical to what earlier writers made); a reader knows versions 1 and 2, rejects a
 * clock record in a version-1 file, and rejects any other version. Version 2 adds only op 5 (clock: ts in the price
 * slot, symbol index NO_SYMBOL = 0xFFFFFFFF, id/qty/owner NaN).
 *
 * Records are canonical, so that every record maps to exactly one command and back (binary -> NDJSON -> binary is
 * byte-identical): codes in range for the op (side/type/tif 0 where the op has none; a market order has tif 0), and
 * every f64 the op does not use, and every absent value, is NaN stored as 0x7FF8000000000000 (the bit pattern of
 * JS `NaN`). The writer stores every NaN that way; the reader rejects a record that breaks any of these rules.
 *
 * Streaming: `WorkloadWriter` needs the symbol table and provenance up front (they precede the records) but takes
 * records in any number of batches, checksumming them as they pass; at close it patches the count into the header
 * and appends CRC(header ‖ records) = crc32Combine(CRC(header), CRC(records), 40N), so nothing is read back.
 * `WorkloadReader` parses the header, checks the file size against the count before reading any record, then hands
 * out records in chunks, validating each, and verifies the CRC after the last chunk.
 */
import { open, rm, type FileHandle } from 'node:fs/promises';
import { crc32, crc32Combine } from './crc32.ts';
import {
  F64_ID, F64_OWNER, F64_PRICE, F64_QTY, NO_SYMBOL, OFF_OP, OFF_SIDE, OFF_SYM, OFF_TIF, OFF_TYPE, OP_CLOCK, OP_INVALID, OP_MODIFY,
  OP_NAMES, OP_NEW, OP_REDUCE, RECORD_BYTES, RECORD_F64S, SIDE_BUY, SIDE_SELL, TIF_FOK, TIF_GTC, TIF_NONE, TYPE_LIMIT,
  TYPE_MARKET, Workload, type Provenance,
} from './workload.ts';

export const MAGIC = 'MBWL';
/** The newest version this code reads and writes; see the version rule above. */
export const FORMAT_VERSION = 2;
/** The version a file without clock records is written in. */
export const FORMAT_VERSION_NO_CLOCK = 1;
const MAGIC_BYTES = new TextEncoder().encode(MAGIC);
const OFF_VERSION = 4;
const OFF_FLAGS = 6;
const OFF_COUNT = 8;
const OFF_SYMBOL_COUNT = 16;
const FIXED_HEADER_BYTES = 20;
const TRAILER_BYTES = 4;
const UNFINISHED_COUNT = 0xffff_ffff_ffff_ffffn;
const MAX_SYMBOL_BYTES = 0xffff;
/** Records staged per write or read call: big enough to amortize syscalls, small enough to stay in cache. */
const CHUNK_RECORDS = 16_384;

/** The canonical NaN, as the two u32 halves of an f64 (little-endian: low word first). */
const NAN_LO = 0;
const NAN_HI = 0x7ff8_0000;

/** A malformed or corrupt workload file; the message names the file, the byte offset and the field. */
export class WorkloadFormatError extends Error {
  override readonly name = 'WorkloadFormatError';
}

/** The records were read but their CRC-32 differs from the trailer: the file is corrupt. */
export class WorkloadChecksumError extends WorkloadFormatError {
  readonly expected: number;
  readonly actual: number;

  constructor(file: string, trailerOffset: number, expected: number, actual: number) {
    super(`${file}: CRC-32 mismatch: the trailer at byte offset ${trailerOffset} says ${hex32(expected)}, the file's bytes give ${hex32(actual)} (the file is corrupt)`);
    this.expected = expected;
    this.actual = actual;
  }
}

export function hex32(n: number): string {
  return `0x${(n >>> 0).toString(16).padStart(8, '0')}`;
}

const F64_FIELDS = [
  { name: 'id', f64: F64_ID },
  { name: 'price', f64: F64_PRICE },
  { name: 'qty', f64: F64_QTY },
  { name: 'owner', f64: F64_OWNER },
] as const;

/** Which f64 fields a record of this op/type uses; the rest must hold NaN. */
function usesField(op: number, type: number, field: 'id' | 'price' | 'qty' | 'owner'): boolean {
  switch (field) {
    case 'id':
      return op !== OP_CLOCK;
    case 'price':
      return op === OP_MODIFY || (op === OP_NEW && type === TYPE_LIMIT) || op === OP_CLOCK;
    case 'qty':
      return op === OP_NEW || op === OP_REDUCE || op === OP_MODIFY;
    case 'owner':
      return op === OP_NEW;
  }
}

/**
 * Why record `i` of a record buffer is not canonical (see the header comment), or null when it is (the journal
 * reader, journal/reader.ts, applies the same rules).
 * `u32` views the same buffer as `f64`; `symbolCount` bounds the symbol index.
 */
export function recordProblem(bytes: Uint8Array, u32: Uint32Array, f64: Float64Array, i: number, symbolCount: number): string | null {
  const base = i * RECORD_BYTES;
  const op = bytes[base + OFF_OP]!;
  const side = bytes[base + OFF_SIDE]!;
  const type = bytes[base + OFF_TYPE]!;
  const tif = bytes[base + OFF_TIF]!;
  const sym = u32[(base + OFF_SYM) >> 2]!;
  if (op > OP_CLOCK) return `field 'op': unknown op code ${op} (known: 0..${OP_CLOCK} = ${OP_NAMES.join(', ')})`;
  const opName = OP_NAMES[op]!;
  if (op === OP_CLOCK) {
    if (sym !== NO_SYMBOL) return `field 'sym': a clock names no symbol, so it must be 0x${NO_SYMBOL.toString(16)}, got ${sym}`;
  } else if (sym >= symbolCount && !(op === OP_INVALID && sym === NO_SYMBOL)) {
    // An invalid command may name no symbol (serve journals a client's refused clock as one).
    return `field 'sym': symbol index ${sym} is out of range (the symbol table has ${symbolCount} symbols)`;
  }
  if (op === OP_NEW) {
    if (side !== SIDE_BUY && side !== SIDE_SELL) return `field 'side': code ${side}, expected ${SIDE_BUY} (buy) or ${SIDE_SELL} (sell)`;
    if (type !== TYPE_LIMIT && type !== TYPE_MARKET) return `field 'type': code ${type}, expected ${TYPE_LIMIT} (limit) or ${TYPE_MARKET} (market)`;
    if (type === TYPE_LIMIT && (tif < TIF_GTC || tif > TIF_FOK)) return `field 'tif': code ${tif}, a limit order needs 1 (gtc), 2 (ioc) or 3 (fok)`;
    if (type === TYPE_MARKET && tif !== TIF_NONE) return `field 'tif': code ${tif}, a market order has none (0)`;
  } else {
    if (side !== 0) return `field 'side': code ${side}, a ${opName} record has none (0)`;
    if (type !== 0) return `field 'type': code ${type}, a ${opName} record has none (0)`;
    if (tif !== 0) return `field 'tif': code ${tif}, a ${opName} record has none (0)`;
  }
  const fb = i * RECORD_F64S;
  for (const field of F64_FIELDS) {
    const value = f64[fb + field.f64]!;
    if (Number.isNaN(value)) {
      const lo = u32[(fb + field.f64) * 2]!;
      const hi = u32[(fb + field.f64) * 2 + 1]!;
      if (lo !== NAN_LO || hi !== NAN_HI) {
        return `field '${field.name}': NaN with bits 0x${hi.toString(16).padStart(8, '0')}${lo.toString(16).padStart(8, '0')}; absent values are stored as 0x7ff8000000000000`;
      }
    } else if (!usesField(op, type, field.name)) {
      const what = op === OP_NEW ? 'a market order' : `a ${opName} record`;
      return `field '${field.name}': ${what} has no ${field.name}, so it must be NaN, got ${value}`;
    }
  }
  return null;
}

/** Stores every NaN among the f64 fields of records [0, count) as the canonical NaN. */
function canonicalizeNaNs(u32: Uint32Array, f64: Float64Array, count: number): void {
  for (let k = 0; k < count * RECORD_F64S; k++) {
    // Word 0 of each record holds op/side/type/tif/sym, not an f64.
    if (k % RECORD_F64S === 0) continue;
    if (Number.isNaN(f64[k]!)) {
      u32[k * 2] = NAN_LO;
      u32[k * 2 + 1] = NAN_HI;
    }
  }
}

/** Header bytes for a symbol table and provenance, padded to a multiple of 8, with `count` in the count field. */
function encodeHeader(file: string, symbols: readonly string[], provenance: Provenance, count: bigint): Uint8Array {
  const encoder = new TextEncoder();
  const seen = new Map<string, number>();
  const encodedSymbols = symbols.map((sym, index) => {
    if (!sym.isWellFormed()) throw new WorkloadFormatError(`${file}: symbol ${index} ${JSON.stringify(sym)} is not well-formed Unicode (lone surrogate)`);
    const first = seen.get(sym);
    if (first !== undefined) throw new WorkloadFormatError(`${file}: symbol ${index} ${JSON.stringify(sym)} repeats symbol ${first}`);
    seen.set(sym, index);
    const bytes = encoder.encode(sym);
    if (bytes.length > MAX_SYMBOL_BYTES) throw new WorkloadFormatError(`${file}: symbol ${index} is ${bytes.length} bytes of UTF-8; the format allows at most ${MAX_SYMBOL_BYTES}`);
    return bytes;
  });
  const provenanceBytes = encoder.encode(JSON.stringify(provenance));
  const unpadded = FIXED_HEADER_BYTES + encodedSymbols.reduce((n, s) => n + 2 + s.length, 0) + 4 + provenanceBytes.length;
  const header = new Uint8Array(Math.ceil(unpadded / 8) * 8);
  const view = new DataView(header.buffer);
  header.set(MAGIC_BYTES, 0);
  view.setUint16(OFF_VERSION, FORMAT_VERSION_NO_CLOCK, true);
  view.setUint16(OFF_FLAGS, 0, true);
  view.setBigUint64(OFF_COUNT, count, true);
  view.setUint32(OFF_SYMBOL_COUNT, symbols.length, true);
  let at = FIXED_HEADER_BYTES;
  for (const bytes of encodedSymbols) {
    view.setUint16(at, bytes.length, true);
    header.set(bytes, at + 2);
    at += 2 + bytes.length;
  }
  view.setUint32(at, provenanceBytes.length, true);
  header.set(provenanceBytes, at + 4);
  return header;
}

/**
 * Writes a binary workload file incrementally: `create` writes the header (count = unfinished marker), `append`
 * takes whole records in batches of any size, `close` patches the count and appends the CRC. `abort` removes the
 * file. Every record is checked (symbol index, codes, unused fields) before it is written, so the writer never
 * produces a file the reader refuses.
 */
export class WorkloadWriter {
  readonly path: string;
  private readonly handle: FileHandle;
  private readonly symbolCount: number;
  private header: Uint8Array;
  private readonly staging = new ArrayBuffer(CHUNK_RECORDS * RECORD_BYTES);
  private readonly stagingBytes = new Uint8Array(this.staging);
  private readonly stagingU32 = new Uint32Array(this.staging);
  private readonly stagingF64 = new Float64Array(this.staging);
  private position: number;
  private records = 0;
  private recordsCrc = 0;
  private hasClock = false;
  private closed = false;

  private constructor(path: string, handle: FileHandle, symbolCount: number, header: Uint8Array) {
    this.path = path;
    this.handle = handle;
    this.symbolCount = symbolCount;
    this.header = header;
    this.position = header.length;
  }

  static async create(path: string, symbols: readonly string[], provenance: Provenance): Promise<WorkloadWriter> {
    const header = encodeHeader(path, symbols, provenance, UNFINISHED_COUNT);
    const handle = await open(path, 'w');
    try {
      await handle.write(header, 0, header.length, 0);
    } catch (error) {
      await handle.close();
      throw error;
    }
    return new WorkloadWriter(path, handle, symbols.length, header);
  }

  get count(): number {
    return this.records;
  }

  /** Appends whole records (a multiple of 40 bytes, the workloads/workload.ts layout). */
  async append(records: Uint8Array): Promise<void> {
    if (this.closed) throw new Error(`${this.path}: append after close`);
    if (records.length % RECORD_BYTES !== 0) {
      throw new Error(`${this.path}: append of ${records.length} bytes, not a whole number of ${RECORD_BYTES}-byte records`);
    }
    for (let from = 0; from < records.length; from += this.staging.byteLength) {
      const slice = records.subarray(from, Math.min(records.length, from + this.staging.byteLength));
      const n = slice.length / RECORD_BYTES;
      this.stagingBytes.set(slice);
      canonicalizeNaNs(this.stagingU32, this.stagingF64, n);
      for (let i = 0; i < n; i++) {
        const problem = recordProblem(this.stagingBytes, this.stagingU32, this.stagingF64, i, this.symbolCount);
        if (problem !== null) throw new WorkloadFormatError(`${this.path}: record ${this.records + i}: ${problem}`);
        if (this.stagingBytes[i * RECORD_BYTES + OFF_OP] === OP_CLOCK) this.hasClock = true;
      }
      const out = this.stagingBytes.subarray(0, slice.length);
      await this.handle.write(out, 0, out.length, this.position);
      this.recordsCrc = crc32(out, this.recordsCrc);
      this.position += out.length;
      this.records += n;
    }
  }

  /** Patches the record count (and version 2 when a clock was written) into the header and appends the CRC-32 trailer. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      if (this.hasClock) {
        new DataView(this.header.buffer).setUint16(OFF_VERSION, FORMAT_VERSION, true);
        await this.handle.write(this.header, OFF_VERSION, 2, OFF_VERSION);
      }
      new DataView(this.header.buffer).setBigUint64(OFF_COUNT, BigInt(this.records), true);
      await this.handle.write(this.header, OFF_COUNT, 8, OFF_COUNT);
      const crc = crc32Combine(crc32(this.header), this.recordsCrc, this.records * RECORD_BYTES);
      const trailer = new Uint8Array(TRAILER_BYTES);
      new DataView(trailer.buffer).setUint32(0, crc, true);
      await this.handle.write(trailer, 0, TRAILER_BYTES, this.position);
    } finally {
      await this.handle.close();
    }
  }

  /** Closes and deletes the unfinished file (after a failure mid-write). */
  async abort(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      await this.handle.close();
    }
    await rm(this.path, { force: true });
  }
}

export interface WorkloadHeader {
  readonly version: number;
  readonly symbols: readonly string[];
  readonly provenance: Provenance;
  readonly count: number;
  /** Byte offset R of record 0 (a multiple of 8). */
  readonly recordsOffset: number;
  /** Byte offset of the CRC-32 trailer (R + 40 × count). */
  readonly trailerOffset: number;
}

export interface RecordChunk {
  /** Index of the chunk's first record in the file. */
  readonly first: number;
  readonly count: number;
  /** count × 40 bytes of validated records; a view of the reader's buffer, valid until the next chunk is read. */
  readonly bytes: Uint8Array;
}

/** Reads the header of a file of `size` bytes, pulling in more bytes only as the fields need them. */
class HeaderCursor {
  private buffer = new Uint8Array(4096);
  private filled = 0;
  private readonly file: string;
  private readonly handle: FileHandle;
  private readonly size: number;
  offset = 0;

  constructor(file: string, handle: FileHandle, size: number) {
    this.file = file;
    this.handle = handle;
    this.size = size;
  }

  /** Makes bytes [offset, offset + n) available, or throws a truncation error naming `field`. */
  async need(n: number, field: string): Promise<void> {
    const end = this.offset + n;
    if (end > this.size) {
      throw new WorkloadFormatError(`${this.file}: truncated header: field '${field}' at byte offset ${this.offset}: expected ${n} bytes, got ${Math.max(0, this.size - this.offset)} (the file has ${this.size} bytes)`);
    }
    if (end <= this.filled) return;
    if (end > this.buffer.length) {
      const grown = new Uint8Array(Math.max(end, this.buffer.length * 2));
      grown.set(this.buffer.subarray(0, this.filled));
      this.buffer = grown;
    }
    const want = Math.min(this.buffer.length, this.size) - this.filled;
    const { bytesRead } = await this.handle.read(this.buffer, this.filled, want, this.filled);
    this.filled += bytesRead;
    if (this.filled < end) throw new WorkloadFormatError(`${this.file}: the file shrank while its header at byte offset ${this.offset} was being read`);
  }

  async take(n: number, field: string): Promise<Uint8Array> {
    await this.need(n, field);
    const bytes = this.buffer.subarray(this.offset, this.offset + n);
    this.offset += n;
    return bytes;
  }

  async u16(field: string): Promise<number> {
    const b = await this.take(2, field);
    return b[0]! | (b[1]! << 8);
  }

  async u32(field: string): Promise<number> {
    const b = await this.take(4, field);
    return new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true);
  }

  async u64(field: string): Promise<bigint> {
    const b = await this.take(8, field);
    return new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
  }

  /** The header bytes read so far, [0, offset). */
  bytesSoFar(): Uint8Array {
    return this.buffer.subarray(0, this.offset);
  }
}

/**
 * Reads a binary workload file: `open` parses and checks the header and the file size; `chunks()` yields the
 * records in order, each chunk validated, and after the last one checks the trailer (a `WorkloadChecksumError` on
 * mismatch: a consumer that acts on records before the end must be ready for it).
 */
export class WorkloadReader {
  readonly path: string;
  readonly header: WorkloadHeader;
  private readonly handle: FileHandle;
  private readonly headerCrc: number;
  private verifiedCrc: number | null = null;

  private constructor(path: string, handle: FileHandle, header: WorkloadHeader, headerCrc: number) {
    this.path = path;
    this.handle = handle;
    this.header = header;
    this.headerCrc = headerCrc;
  }

  static async open(path: string): Promise<WorkloadReader> {
    const handle = await open(path, 'r');
    try {
      const { size } = await handle.stat();
      const { header, headerCrc } = await readHeader(path, handle, size);
      return new WorkloadReader(path, handle, header, headerCrc);
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  async *chunks(): AsyncGenerator<RecordChunk, void, undefined> {
    const { count, recordsOffset, trailerOffset, symbols } = this.header;
    const buffer = new ArrayBuffer(CHUNK_RECORDS * RECORD_BYTES);
    const bytes = new Uint8Array(buffer);
    const u32 = new Uint32Array(buffer);
    const f64 = new Float64Array(buffer);
    let crc = this.headerCrc;
    for (let first = 0; first < count; first += CHUNK_RECORDS) {
      const n = Math.min(CHUNK_RECORDS, count - first);
      const offset = recordsOffset + first * RECORD_BYTES;
      await this.readExactly(bytes, n * RECORD_BYTES, offset, `records ${first}..${first + n - 1}`);
      for (let i = 0; i < n; i++) {
        const problem = bytes[i * RECORD_BYTES + OFF_OP] === OP_CLOCK && this.header.version === FORMAT_VERSION_NO_CLOCK
          ? `field 'op': a clock record (op ${OP_CLOCK}) in a version-${FORMAT_VERSION_NO_CLOCK} file (clocks came with version ${FORMAT_VERSION})`
          : recordProblem(bytes, u32, f64, i, symbols.length);
        if (problem !== null) {
          throw new WorkloadFormatError(`${this.path}: record ${first + i} at byte offset ${offset + i * RECORD_BYTES}: ${problem}`);
        }
      }
      const chunk = bytes.subarray(0, n * RECORD_BYTES);
      crc = crc32(chunk, crc);
      yield { first, count: n, bytes: chunk };
    }
    const trailer = new Uint8Array(TRAILER_BYTES);
    await this.readExactly(trailer, TRAILER_BYTES, trailerOffset, 'CRC-32 trailer');
    const expected = new DataView(trailer.buffer).getUint32(0, true);
    if (expected !== crc) throw new WorkloadChecksumError(this.path, trailerOffset, expected, crc);
    this.verifiedCrc = crc;
  }

  /** The file's CRC-32 once `chunks()` has run to the end and it matched the trailer; null before that. */
  get checksum(): number | null {
    return this.verifiedCrc;
  }

  async close(): Promise<void> {
    await this.handle.close();
  }

  private async readExactly(into: Uint8Array, length: number, position: number, what: string): Promise<void> {
    let got = 0;
    while (got < length) {
      const { bytesRead } = await this.handle.read(into, got, length - got, position + got);
      if (bytesRead === 0) {
        throw new WorkloadFormatError(`${this.path}: truncated ${what} at byte offset ${position}: expected ${length} bytes, got ${got} (the file changed while being read)`);
      }
      got += bytesRead;
    }
  }
}

async function readHeader(file: string, handle: FileHandle, size: number): Promise<{ header: WorkloadHeader; headerCrc: number }> {
  const cursor = new HeaderCursor(file, handle, size);
  const magic = await cursor.take(4, 'magic');
  if (!magic.every((b, i) => b === MAGIC_BYTES[i])) {
    const shown = [...magic].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new WorkloadFormatError(`${file}: bad magic at byte offset 0: expected "${MAGIC}" (4d 42 57 4c), got ${shown}: not a matchbench binary workload`);
  }
  const version = await cursor.u16('version');
  if (version !== FORMAT_VERSION && version !== FORMAT_VERSION_NO_CLOCK) {
    throw new WorkloadFormatError(`${file}: unsupported version ${version} at byte offset ${OFF_VERSION}: this reader knows versions ${FORMAT_VERSION_NO_CLOCK} and ${FORMAT_VERSION}`);
  }
  const flags = await cursor.u16('flags');
  if (flags !== 0) {
    throw new WorkloadFormatError(`${file}: unsupported flags 0x${flags.toString(16).padStart(4, '0')} at byte offset ${OFF_FLAGS}: version ${FORMAT_VERSION} defines no flags`);
  }
  const count64 = await cursor.u64('record count');
  if (count64 === UNFINISHED_COUNT) {
    throw new WorkloadFormatError(`${file}: record count at byte offset ${OFF_COUNT} is the unfinished marker: the writer never closed this file`);
  }
  if (count64 > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new WorkloadFormatError(`${file}: record count ${count64} at byte offset ${OFF_COUNT} is beyond 2^53`);
  }
  const count = Number(count64);
  const symbolCount = await cursor.u32('symbol count');
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  const symbols: string[] = [];
  const seen = new Map<string, number>();
  for (let i = 0; i < symbolCount; i++) {
    const length = await cursor.u16(`symbol ${i} length`);
    const at = cursor.offset;
    const raw = await cursor.take(length, `symbol ${i}`);
    let sym: string;
    try {
      sym = decoder.decode(raw);
    } catch {
      throw new WorkloadFormatError(`${file}: symbol ${i} at byte offset ${at} is not valid UTF-8`);
    }
    const first = seen.get(sym);
    if (first !== undefined) throw new WorkloadFormatError(`${file}: symbol ${i} ${JSON.stringify(sym)} at byte offset ${at} repeats symbol ${first}`);
    seen.set(sym, i);
    symbols.push(sym);
  }
  const provenanceLength = await cursor.u32('provenance length');
  const provenanceAt = cursor.offset;
  const provenanceRaw = await cursor.take(provenanceLength, 'provenance');
  let provenance: unknown;
  try {
    provenance = JSON.parse(decoder.decode(provenanceRaw));
  } catch (error) {
    throw new WorkloadFormatError(`${file}: provenance at byte offset ${provenanceAt} is not UTF-8 JSON: ${(error as Error).message}`);
  }
  if (typeof provenance !== 'object' || provenance === null || Array.isArray(provenance)) {
    throw new WorkloadFormatError(`${file}: provenance at byte offset ${provenanceAt} is not a JSON object`);
  }
  const paddingAt = cursor.offset;
  const padding = await cursor.take((8 - (paddingAt % 8)) % 8, 'padding');
  if (padding.some((b) => b !== 0)) throw new WorkloadFormatError(`${file}: header padding at byte offset ${paddingAt} is not zero`);
  const recordsOffset = cursor.offset;
  const trailerOffset = recordsOffset + count * RECORD_BYTES;
  checkSize(file, size, count, recordsOffset, trailerOffset);
  const header: WorkloadHeader = { version, symbols, provenance: provenance as Provenance, count, recordsOffset, trailerOffset };
  return { header, headerCrc: crc32(cursor.bytesSoFar()) };
}

/** Compares the file size with what the header promises, naming the first record or trailer byte that is missing. */
function checkSize(file: string, size: number, count: number, recordsOffset: number, trailerOffset: number): void {
  const expected = trailerOffset + TRAILER_BYTES;
  if (size === expected) return;
  if (size > expected) {
    throw new WorkloadFormatError(`${file}: ${size - expected} unexpected bytes after the CRC-32 trailer, from byte offset ${expected} (the header says ${count} records)`);
  }
  if (size < trailerOffset) {
    const record = Math.floor((size - recordsOffset) / RECORD_BYTES);
    const got = (size - recordsOffset) % RECORD_BYTES;
    throw new WorkloadFormatError(`${file}: truncated record ${record} at byte offset ${recordsOffset + record * RECORD_BYTES}: expected ${RECORD_BYTES} bytes, got ${got} (the header says ${count} records, the file has ${size} bytes, ${expected} expected)`);
  }
  throw new WorkloadFormatError(`${file}: truncated CRC-32 trailer at byte offset ${trailerOffset}: expected ${TRAILER_BYTES} bytes, got ${size - trailerOffset}`);
}

/** Reads a whole binary workload file into memory, validating every record and the checksum. */
export async function readWorkloadFile(path: string): Promise<Workload> {
  const reader = await WorkloadReader.open(path);
  try {
    const { symbols, provenance, count } = reader.header;
    const records = new ArrayBuffer(count * RECORD_BYTES);
    const all = new Uint8Array(records);
    for await (const chunk of reader.chunks()) all.set(chunk.bytes, chunk.first * RECORD_BYTES);
    return new Workload(symbols, records, provenance);
  } finally {
    await reader.close();
  }
}

/** Writes `workload` as a binary workload file (removing the partial file if anything fails). */
export async function writeWorkloadFile(path: string, workload: Workload): Promise<void> {
  const writer = await WorkloadWriter.create(path, workload.symbols, workload.provenance);
  try {
    await writer.append(workload.bytes);
    await writer.close();
  } catch (error) {
    await writer.abort();
    throw error;
  }
}

/**
 * Whether a file starting with `firstBytes` is a binary workload: it starts with the magic, or is a non-empty
 * prefix of it (a file cut short inside its magic is still a binary file, and reading it reports the truncation).
 */
export function startsWithBinaryMagic(firstBytes: Uint8Array): boolean {
  const n = Math.min(firstBytes.length, MAGIC_BYTES.length);
  return n > 0 && firstBytes.subarray(0, n).every((b, i) => b === MAGIC_BYTES[i]);
}
