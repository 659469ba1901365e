/**
 * The epoch file ("MBJE"): which term of primaries a journal directory's journal belongs to, and where that term
 * began. Kept beside the journal (`DIR/epoch`, one per node, also for a sharded journal). Described once, here; the
 * README ("Epoch file") has the same text.
 *
 * An epoch (a term, as in Raft) is a number that grows by one each time a standby promotes itself. A node started
 * as the first primary of a fresh journal takes epoch 1; a standby takes the epoch of the primary it follows (it
 * holds that primary's journal); a promotion writes epoch + 1 with the sequence each journal has reached, before the
 * new primary takes any command. A primary whose epoch is lower than its peer's is fenced: it never takes another
 * command (server/replicator.ts), and a node whose journal runs past the start of a later epoch holds commands that
 * epoch never had (none of them acknowledged in `sync`): as a standby it discards its journal and copies the
 * primary's (server/standby.ts).
 *
 * Layout, version 1 (little-endian), 24 + 8 × K bytes for K journals (shards):
 *
 *   offset  size  field
 *   0       4     magic: the ASCII bytes "MBJE" (4D 42 4A 45)
 *   4       2     version: u16 = 1
 *   6       2     journal count K: u16 ≥ 1
 *   8       8     epoch: f64, an integer ≥ 1
 *   16      8K    start sequence of journal k: f64, the first sequence number this epoch's primary sequenced
 *   16 + 8K 4     CRC-32C (journal/crc32c.ts) of bytes [0, 16 + 8K)
 *   20 + 8K 4     reserved: u32 = 0
 *
 * Written to `epoch.tmp`, fsynced, renamed over `epoch`, and the directory fsynced: a crash leaves the old file or
 * the new one, never a mix. Version rule: any change of a field's meaning or position bumps the version; a reader
 * refuses versions it does not know.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { crc32c } from './crc32c.ts';
import { JournalFormatError } from './format.ts';
import { fsyncDirectory } from './writer.ts';

export const EPOCH_FILE = 'epoch';
export const EPOCH_MAGIC = 'MBJE';
export const EPOCH_VERSION = 1;
export const EPOCH_OFF_VERSION = 4;
export const EPOCH_OFF_JOURNALS = 6;
export const EPOCH_OFF_EPOCH = 8;
export const EPOCH_OFF_STARTS = 16;
const MAGIC_BYTES = new TextEncoder().encode(EPOCH_MAGIC);

export interface Epoch {
  readonly epoch: number;
  /** Per journal (shard), the first sequence number of this epoch. */
  readonly starts: readonly number[];
}

export function epochFileBytes(journals: number): number {
  return EPOCH_OFF_STARTS + 8 * journals + 8;
}

export function encodeEpoch(value: Epoch): Uint8Array {
  const k = value.starts.length;
  if (!(k >= 1 && k <= 0xffff)) throw new Error(`epoch file: ${k} journals (1 to 65535)`);
  if (!(Number.isSafeInteger(value.epoch) && value.epoch >= 1)) throw new Error(`epoch file: epoch ${value.epoch} is not an integer ≥ 1`);
  const bytes = new Uint8Array(epochFileBytes(k));
  const view = new DataView(bytes.buffer);
  bytes.set(MAGIC_BYTES, 0);
  view.setUint16(EPOCH_OFF_VERSION, EPOCH_VERSION, true);
  view.setUint16(EPOCH_OFF_JOURNALS, k, true);
  view.setFloat64(EPOCH_OFF_EPOCH, value.epoch, true);
  value.starts.forEach((s, i) => view.setFloat64(EPOCH_OFF_STARTS + 8 * i, s, true));
  view.setUint32(EPOCH_OFF_STARTS + 8 * k, crc32c(bytes, 0, EPOCH_OFF_STARTS + 8 * k), true);
  return bytes;
}

export function decodeEpoch(file: string, bytes: Uint8Array): Epoch {
  const fail = (offset: number, what: string): never => {
    throw new JournalFormatError(`${file}: byte offset ${offset}: ${what}`);
  };
  if (bytes.length < epochFileBytes(1)) fail(0, `the file has ${bytes.length} bytes, fewer than the ${epochFileBytes(1)} of the smallest epoch file`);
  for (let i = 0; i < 4; i++) if (bytes[i] !== MAGIC_BYTES[i]) fail(0, `field 'magic' is not "${EPOCH_MAGIC}"`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint16(EPOCH_OFF_VERSION, true);
  if (version !== EPOCH_VERSION) fail(EPOCH_OFF_VERSION, `field 'version' is ${version}; this reader knows version ${EPOCH_VERSION}`);
  const k = view.getUint16(EPOCH_OFF_JOURNALS, true);
  if (k === 0) fail(EPOCH_OFF_JOURNALS, "field 'journal count' is 0");
  if (bytes.length !== epochFileBytes(k)) fail(0, `the file has ${bytes.length} bytes; ${k} journals need ${epochFileBytes(k)}`);
  const crcAt = EPOCH_OFF_STARTS + 8 * k;
  if (view.getUint32(crcAt, true) !== crc32c(bytes, 0, crcAt)) fail(crcAt, "field 'crc' does not match the bytes before it");
  if (view.getUint32(crcAt + 4, true) !== 0) fail(crcAt + 4, "field 'reserved' is not 0");
  const epoch = view.getFloat64(EPOCH_OFF_EPOCH, true);
  if (!(Number.isSafeInteger(epoch) && epoch >= 1)) fail(EPOCH_OFF_EPOCH, `field 'epoch' is ${epoch}, not an integer ≥ 1`);
  const starts: number[] = [];
  for (let i = 0; i < k; i++) {
    const s = view.getFloat64(EPOCH_OFF_STARTS + 8 * i, true);
    if (!(Number.isSafeInteger(s) && s >= 0)) fail(EPOCH_OFF_STARTS + 8 * i, `field 'start sequence' of journal ${i} is ${s}, not an integer ≥ 0`);
    starts.push(s);
  }
  return { epoch, starts };
}

/** The epoch recorded in `dir`, or undefined when it has none (a journal no primary or standby has written yet). */
export function readEpoch(dir: string): Epoch | undefined {
  const file = join(dir, EPOCH_FILE);
  if (!existsSync(file)) return undefined;
  return decodeEpoch(file, readFileSync(file));
}

/** Records `value` in `dir`, durably (see the header), before the caller acts on it. */
export function writeEpoch(dir: string, value: Epoch): void {
  const bytes = encodeEpoch(value);
  mkdirSync(dir, { recursive: true });
  const temporary = join(dir, `${EPOCH_FILE}.tmp`);
  const fd = openSync(temporary, 'w');
  try {
    let written = 0;
    while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, join(dir, EPOCH_FILE));
  fsyncDirectory(dir);
}
