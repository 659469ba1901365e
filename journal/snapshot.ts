/**
 * Engine snapshots ("MBSN"): the whole state of one engine at a sequence number, so recovery replays only the
 * journal after it (journal/recovery.ts). Described once, here; the README ("Snapshots and recovery") has the same
 * text.
 *
 * A snapshot lives beside the journal it belongs to, in `DIR/snapshots/`, named by the sequence number N it covers,
 * 20 decimal digits: `DIR/snapshots/00000000000001000000.mbs` holds the effect of every record with sequence < N
 * and no other, so recovery continues from record N. The journal reader only looks at `.mbj` files in DIR, so the
 * subdirectory is invisible to it. A sharded journal has one per shard (`DIR/shard-K/snapshots/`).
 *
 * Snapshot file, version 1 (all integers little-endian):
 *
 *   offset  size    field
 *   0       4       magic: the ASCII bytes "MBSN" (4D 42 53 4E)
 *   4       2       version: u16 = 1
 *   6       2       flags: u16 = 0 (reserved; a reader rejects any bit it does not know, and v1 knows none)
 *   8       8       sequence N: u64, the snapshot covers every journal record with sequence < N
 *   16      4       core offset C: u32, a multiple of 64, where the core bytes start
 *   20      4       reserved: u32 = 0
 *   24      8       core length B: u64, the byte length of the fast core's region (engines/fast-core-layout.ts)
 *   32      4       session count M: u32
 *   36      2 + D   design name: u16 length D, then D bytes of UTF-8 (the design whose engine was snapshotted)
 *   …       4 + …   symbol table: u32 count S, then S symbols, each a u16 length and UTF-8 bytes (the journal's)
 *   …       0–7     zero bytes up to a multiple of 8
 *   …       16 × M  session table, in ascending session order, each entry:
 *                     session u32 (≥ 1; session 0 has no entry: it never takes part in the session rule),
 *                     reserved u32 = 0,
 *                     last client sequence f64 (an integer ≥ 1: the highest one the engine applied for it)
 *   …       0–63    zero bytes up to C
 *   C       B       the fast core's region, byte for byte: its header holds its capacities, so `FastCore.attach`
 *                   rebuilds it from these bytes alone, and B must equal the size those capacities give
 *   C + B   4       CRC-32C (journal/crc32c.ts) of bytes [0, C + B)
 *
 * The file is exactly C + B + 4 bytes. C is 64-aligned because every region of the core is: the core bytes can be
 * attached where they lie.
 *
 * Why the core's bytes and not its orders: the whole book state lives in one region of one buffer (the order and
 * level pools, the id hash, the ladders), so the engine pauses only for one memcpy of `B` bytes
 * (`copyCoreRegion`, best into a staging buffer it keeps), and another thread encodes and writes that copy
 * (`writeSnapshot` is a plain function with no state, for a worker). Loading is one read and one attach, with no
 * re-insertion of orders.
 *
 * Writing is crash-safe: the bytes go to `NAME.partial`, are fsynced, renamed to NAME and the directory is fsynced,
 * so a crash leaves either no file or a whole one under the real name; a leftover `.partial` is ignored by readers
 * and overwritten by the next snapshot of that sequence.
 *
 * Reading checks everything and every error is a SnapshotFormatError naming the file, the byte offset and the
 * field. `newestValidSnapshot` returns the newest snapshot that passes, listing (not throwing on) every newer one
 * that does not.
 *
 * Version rule: a change to any field's meaning or position bumps the version; a reader refuses versions it does
 * not know. New flag bits are a new version too, since readers reject unknown bits. A change of the core's own
 * layout (its CORE_VERSION) makes old snapshots unattachable: they are rejected, and recovery replays the journal.
 */
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readdirSync, readSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { FastCore } from '../engines/fast-core.ts';
import { crc32c } from './crc32c.ts';
import { encodeNames, readNames, writeNames } from './format.ts';

export const SNAPSHOT_MAGIC = 'MBSN';
export const SNAPSHOT_VERSION = 1;
export const SNAPSHOT_SUFFIX = '.mbs';
export const SNAPSHOT_DIRECTORY = 'snapshots';
const PARTIAL_SUFFIX = '.partial';
const MAGIC_BYTES = new TextEncoder().encode(SNAPSHOT_MAGIC);

/** Fixed header offsets. */
export const SNAP_OFF_VERSION = 4;
export const SNAP_OFF_FLAGS = 6;
export const SNAP_OFF_SEQUENCE = 8;
export const SNAP_OFF_CORE_OFFSET = 16;
export const SNAP_OFF_RESERVED = 20;
export const SNAP_OFF_CORE_LENGTH = 24;
export const SNAP_OFF_SESSION_COUNT = 32;
export const SNAP_OFF_DESIGN = 36;
/** Session table entry: session u32, reserved u32, last client sequence f64. */
export const SESSION_ENTRY_BYTES = 16;
export const SESSION_OFF_SESSION = 0;
export const SESSION_OFF_RESERVED = 4;
export const SESSION_OFF_CLIENT_SEQUENCE = 8;
export const CORE_ALIGN = 64;
export const SNAPSHOT_CRC_BYTES = 4;
/** The smallest file: fixed fields, an empty design name, no symbols, padding to C, an empty core, the CRC. */
const MIN_SNAPSHOT_BYTES = CORE_ALIGN + SNAPSHOT_CRC_BYTES;
const U32 = 4294967296;

/** A snapshot that cannot be read as written: the message names the file, the byte offset and the field. */
export class SnapshotFormatError extends Error {
  override readonly name = 'SnapshotFormatError';
}

/** What a snapshot holds, as the engine hands it to the writer. */
export interface SnapshotContents {
  readonly design: string;
  readonly symbols: readonly string[];
  /** Every journal record with sequence < this is in the state; recovery replays from here. */
  readonly sequence: number;
  /** Session → the last client sequence the engine applied for it (no entry for session 0). */
  readonly sessions: ReadonlyMap<number, number>;
  /** The core's region, copied (`copyCoreRegion`); a view over a SharedArrayBuffer is fine. */
  readonly core: Uint8Array;
}

/** A snapshot read back and checked. */
export interface Snapshot {
  readonly file: string;
  readonly design: string;
  readonly symbols: readonly string[];
  readonly sequence: number;
  readonly sessions: Map<number, number>;
  /** The core, attached to a fresh ArrayBuffer of its own holding the snapshot's core bytes. */
  readonly core: FastCore;
  readonly fileBytes: number;
}

export interface RejectedSnapshot {
  readonly file: string;
  readonly reason: string;
}

export interface NewestSnapshot {
  /** The newest snapshot that passed every check; undefined when none did (or there is none). */
  readonly snapshot: Snapshot | undefined;
  /** Newer snapshot files that failed a check, newest first, with why. */
  readonly rejected: readonly RejectedSnapshot[];
}

/** Where the snapshots of the journal in `journalDir` live. */
export function snapshotDirectory(journalDir: string): string {
  return join(journalDir, SNAPSHOT_DIRECTORY);
}

/** The snapshot file name for a covered sequence number. */
export function snapshotName(sequence: number): string {
  return `${String(sequence).padStart(20, '0')}${SNAPSHOT_SUFFIX}`;
}

/** The sequence a snapshot file name states, or undefined for a name that is not a snapshot's. */
export function sequenceOfSnapshotName(name: string): number | undefined {
  const match = /^(\d{20})\.mbs$/.exec(name);
  return match === null ? undefined : Number(match[1]);
}

/**
 * Copies `core`'s region: what the engine does while it is paused, the only part of taking a snapshot that must not
 * overlap matching. Into `staging` (at least `core.layout.totalBytes` bytes; the returned view is that prefix) when
 * given, else into a fresh plain ArrayBuffer that can be transferred to the thread that writes it.
 *
 * Why a staging buffer: a fresh buffer's pages fault in on first write, which on the development VM made the copy
 * of a 6.9 MB core take 30–55 ms and of a 79 MB one ~400 ms, against 0.3–0.6 ms and ~10 ms into a buffer already
 * touched. An engine keeps one (a SharedArrayBuffer the snapshot thread also sees) and copies into it again only
 * once the thread has written the previous snapshot.
 */
export function copyCoreRegion(core: FastCore, staging?: Uint8Array): Uint8Array {
  const region = new Uint8Array(core.buffer, core.byteOffset, core.layout.totalBytes);
  if (staging === undefined) return region.slice();
  if (staging.length < region.length) throw new RangeError(`snapshot: a staging buffer of ${staging.length} bytes cannot hold the core's ${region.length}`);
  staging.set(region);
  return staging.subarray(0, region.length);
}


/** Everything before the core bytes: fixed fields, names, session table, padding to C. */
function encodeHeader(contents: SnapshotContents): Uint8Array {
  const names = encodeNames('snapshot', contents.design, contents.symbols);
  if (!(Number.isSafeInteger(contents.sequence) && contents.sequence >= 0)) throw new Error(`snapshot: sequence ${contents.sequence} is not an integer ≥ 0`);
  const sessions = [...contents.sessions].sort(([a], [b]) => a - b);
  for (const [session, clientSequence] of sessions) {
    if (!(Number.isInteger(session) && session >= 1 && session < U32)) throw new Error(`snapshot: session ${session} is not a u32 ≥ 1`);
    if (!(Number.isSafeInteger(clientSequence) && clientSequence >= 1)) throw new Error(`snapshot: session ${session} has last client sequence ${clientSequence}, not an integer ≥ 1`);
  }
  const namesEnd = SNAP_OFF_DESIGN + names.length;
  const sessionsAt = Math.ceil(namesEnd / 8) * 8;
  const coreOffset = Math.ceil((sessionsAt + SESSION_ENTRY_BYTES * sessions.length) / CORE_ALIGN) * CORE_ALIGN;
  if (coreOffset >= U32) throw new Error(`snapshot: the header would be ${coreOffset} bytes, beyond the u32 core offset`);
  const bytes = new Uint8Array(coreOffset);
  const view = new DataView(bytes.buffer);
  bytes.set(MAGIC_BYTES, 0);
  view.setUint16(SNAP_OFF_VERSION, SNAPSHOT_VERSION, true);
  view.setUint16(SNAP_OFF_FLAGS, 0, true);
  view.setBigUint64(SNAP_OFF_SEQUENCE, BigInt(contents.sequence), true);
  view.setUint32(SNAP_OFF_CORE_OFFSET, coreOffset, true);
  view.setUint32(SNAP_OFF_RESERVED, 0, true);
  view.setBigUint64(SNAP_OFF_CORE_LENGTH, BigInt(contents.core.length), true);
  view.setUint32(SNAP_OFF_SESSION_COUNT, sessions.length, true);
  writeNames(bytes, SNAP_OFF_DESIGN, names);
  let at = sessionsAt;
  for (const [session, clientSequence] of sessions) {
    view.setUint32(at + SESSION_OFF_SESSION, session, true);
    view.setUint32(at + SESSION_OFF_RESERVED, 0, true);
    view.setFloat64(at + SESSION_OFF_CLIENT_SEQUENCE, clientSequence, true);
    at += SESSION_ENTRY_BYTES;
  }
  return bytes;
}

/**
 * Writes `contents` as `journalDir/snapshots/<sequence>.mbs`, crash-safe (see the header); resolves with its path.
 * Stateless, and asynchronous so that the file I/O (the fsyncs above all) runs on libuv's pool: the snapshotter
 * thread (journal/snapshotter-worker.ts) keeps answering other sequencers' pauses while a snapshot is written.
 */
export async function writeSnapshot(journalDir: string, contents: SnapshotContents): Promise<string> {
  const dir = snapshotDirectory(journalDir);
  if (!existsSync(dir)) {
    mkdirSync(dir, { recursive: true });
    // The new directory's own name must survive a crash too.
    await fsyncDirectoryAsync(journalDir);
  }
  const header = encodeHeader(contents);
  const crc = crc32c(contents.core, 0, contents.core.length, crc32c(header));
  const trailer = new Uint8Array(SNAPSHOT_CRC_BYTES);
  new DataView(trailer.buffer).setUint32(0, crc, true);
  const file = join(dir, snapshotName(contents.sequence));
  const partial = `${file}${PARTIAL_SUFFIX}`;
  const handle = await open(partial, 'w');
  try {
    for (const part of [header, contents.core, trailer]) {
      let written = 0;
      while (written < part.length) written += (await handle.write(part, written, part.length - written)).bytesWritten;
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(partial, file);
  await fsyncDirectoryAsync(dir);
  return file;
}

async function fsyncDirectoryAsync(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Reads file bytes [position, position + bytes.length) of `fd` into `bytes`. */
function readAt(file: string, fd: number, bytes: Uint8Array, position: number): void {
  let read = 0;
  while (read < bytes.length) {
    const n = readSync(fd, bytes, read, bytes.length - read, position + read);
    if (n === 0) throw new SnapshotFormatError(`${file}: byte offset ${position + read}: the file shrank while it was read`);
    read += n;
  }
}

/** Reads and checks the snapshot `file`; every failure is a SnapshotFormatError naming the file, offset and field. */
export function readSnapshot(file: string): Snapshot {
  const fail = (offset: number, what: string): never => {
    throw new SnapshotFormatError(`${file}: byte offset ${offset}: ${what}`);
  };
  const fd = openSync(file, 'r');
  let bytes: Uint8Array;
  let region: Uint8Array;
  let fileBytes: number;
  try {
    fileBytes = fstatSync(fd).size;
    if (fileBytes < MIN_SNAPSHOT_BYTES) fail(0, `snapshot header: the file is ${fileBytes} bytes, shorter than the smallest snapshot (${MIN_SNAPSHOT_BYTES})`);
    const fixed = new Uint8Array(CORE_ALIGN);
    readAt(file, fd, fixed, 0);
    for (let i = 0; i < 4; i++) if (fixed[i] !== MAGIC_BYTES[i]) fail(0, `field 'magic': not a snapshot (expected "${SNAPSHOT_MAGIC}")`);
    const fixedView = new DataView(fixed.buffer);
    const version = fixedView.getUint16(SNAP_OFF_VERSION, true);
    if (version !== SNAPSHOT_VERSION) fail(SNAP_OFF_VERSION, `field 'version': ${version}, this code reads version ${SNAPSHOT_VERSION}`);
    const flags = fixedView.getUint16(SNAP_OFF_FLAGS, true);
    if (flags !== 0) fail(SNAP_OFF_FLAGS, `field 'flags': 0x${flags.toString(16)}, version ${SNAPSHOT_VERSION} knows no flag bits`);
    const coreOffset = fixedView.getUint32(SNAP_OFF_CORE_OFFSET, true);
    const coreLength = Number(fixedView.getBigUint64(SNAP_OFF_CORE_LENGTH, true));
    if (coreOffset % CORE_ALIGN !== 0 || coreOffset < CORE_ALIGN || coreOffset > fileBytes) {
      fail(SNAP_OFF_CORE_OFFSET, `field 'core offset': ${coreOffset} (a multiple of ${CORE_ALIGN}, at least ${CORE_ALIGN}, within the file's ${fileBytes} bytes)`);
    }
    const expected = coreOffset + coreLength + SNAPSHOT_CRC_BYTES;
    if (expected !== fileBytes) {
      fail(SNAP_OFF_CORE_LENGTH, `field 'core length': ${coreLength}, so the file should be ${coreOffset} + ${coreLength} + ${SNAPSHOT_CRC_BYTES} = ${expected} bytes, but it is ${fileBytes} (${fileBytes < expected ? 'cut short' : 'bytes after the CRC'})`);
    }
    bytes = new Uint8Array(coreOffset);
    readAt(file, fd, bytes, 0);
    // The core is read straight into a buffer of its own (64-aligned at offset 0), the one it is attached to.
    region = new Uint8Array(coreLength);
    readAt(file, fd, region, coreOffset);
    const trailer = new Uint8Array(SNAPSHOT_CRC_BYTES);
    readAt(file, fd, trailer, coreOffset + coreLength);
    const stored = new DataView(trailer.buffer).getUint32(0, true);
    const actual = crc32c(region, 0, coreLength, crc32c(bytes));
    if (stored !== actual) fail(coreOffset + coreLength, `field 'CRC': stored 0x${stored.toString(16).padStart(8, '0')}, the file's bytes give 0x${actual.toString(16).padStart(8, '0')} (the snapshot is corrupt)`);
  } finally {
    closeSync(fd);
  }
  const coreOffset = bytes.length;
  const coreLength = region.length;
  const view = new DataView(bytes.buffer);
  // From here on the bytes are what the writer wrote: a failure is a writer bug or a version this code misreads.
  const sequence = Number(view.getBigUint64(SNAP_OFF_SEQUENCE, true));
  if (!Number.isSafeInteger(sequence)) fail(SNAP_OFF_SEQUENCE, `field 'sequence': ${sequence} is beyond 2^53`);
  const named = sequenceOfSnapshotName(basename(file));
  if (named !== undefined && named !== sequence) fail(SNAP_OFF_SEQUENCE, `field 'sequence': ${sequence}, but the file is named for ${named}`);
  if (view.getUint32(SNAP_OFF_RESERVED, true) !== 0) fail(SNAP_OFF_RESERVED, `field 'reserved' is not 0`);
  const sessionCount = view.getUint32(SNAP_OFF_SESSION_COUNT, true);
  const names = readNames(bytes, SNAP_OFF_DESIGN, coreOffset, 'the core offset', fail);
  const { design, symbols } = names;
  let at = Math.ceil(names.end / 8) * 8;
  if (at + SESSION_ENTRY_BYTES * sessionCount > coreOffset) fail(SNAP_OFF_SESSION_COUNT, `field 'session count': ${sessionCount} entries of ${SESSION_ENTRY_BYTES} bytes from byte ${at} run past the core offset (${coreOffset})`);
  const sessions = new Map<number, number>();
  let previous = 0;
  for (let i = 0; i < sessionCount; i++, at += SESSION_ENTRY_BYTES) {
    const session = view.getUint32(at + SESSION_OFF_SESSION, true);
    if (session <= previous) fail(at + SESSION_OFF_SESSION, `field 'session ${i}': ${session}, expected a session ≥ 1 above the previous entry's ${previous}`);
    if (view.getUint32(at + SESSION_OFF_RESERVED, true) !== 0) fail(at + SESSION_OFF_RESERVED, `field 'session ${i} reserved' is not 0`);
    const clientSequence = view.getFloat64(at + SESSION_OFF_CLIENT_SEQUENCE, true);
    if (!(Number.isSafeInteger(clientSequence) && clientSequence >= 1)) fail(at + SESSION_OFF_CLIENT_SEQUENCE, `field 'session ${i} last client sequence': ${clientSequence}, expected an integer ≥ 1`);
    sessions.set(session, clientSequence);
    previous = session;
  }
  let core: FastCore;
  try {
    core = FastCore.attach(region.buffer, 0);
  } catch (error) {
    return fail(coreOffset, `field 'core': ${(error as Error).message}`);
  }
  if (core.layout.totalBytes !== coreLength) {
    fail(SNAP_OFF_CORE_LENGTH, `field 'core length': ${coreLength}, but the core's capacities (maxOrders ${core.capacities.maxOrders}, maxSymbols ${core.capacities.maxSymbols}, ladderTicks ${core.capacities.ladderTicks}) give a ${core.layout.totalBytes}-byte region`);
  }
  return { file, design, symbols, sequence, sessions, core, fileBytes };
}

/** The snapshot files of `journalDir`, newest (highest sequence) first; none when it has no snapshot directory. */
export function snapshotFiles(journalDir: string): string[] {
  const dir = snapshotDirectory(journalDir);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => sequenceOfSnapshotName(name) !== undefined)
    .sort()
    .reverse()
    .map((name) => join(dir, name));
}

/** The newest snapshot of `journalDir` that reads back whole, and every newer one that did not (with why). */
export function newestValidSnapshot(journalDir: string): NewestSnapshot {
  const rejected: RejectedSnapshot[] = [];
  for (const file of snapshotFiles(journalDir)) {
    try {
      return { snapshot: readSnapshot(file), rejected };
    } catch (error) {
      // An unreadable file (EIO, EACCES) is as unusable as a corrupt one: reported, and the next older one tried.
      rejected.push({ file, reason: error instanceof Error ? error.message : String(error) });
    }
  }
  return { snapshot: undefined, rejected };
}
