/**
 * CRC-32C (Castagnoli, polynomial 0x1EDC6F41, reflected 0x82F63B78): the checksum of every journal frame.
 *
 * Why not the IEEE CRC-32 the workload file uses (Node's zlib.crc32): CRC-32C is what storage formats with the same
 * job use (iSCSI, ext4 and Btrfs metadata, RocksDB and LevelDB logs, Kafka record batches), for its better error
 * detection on the short bursts torn writes and bit flips make. Node exposes no CRC-32C, so this is slicing-by-8 in
 * JS: eight 256-entry tables, 8 bytes per step. It runs on the journaller thread, beside the matching, never on it.
 */

const POLY = 0x82f63b78;

/** TABLES[k * 256 + b]: the CRC of byte b followed by k zero bytes. */
const TABLES = new Int32Array(8 * 256);
for (let b = 0; b < 256; b++) {
  let c = b;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
  TABLES[b] = c;
}
for (let b = 0; b < 256; b++) {
  let c = TABLES[b]!;
  for (let k = 1; k < 8; k++) {
    c = TABLES[c & 0xff]! ^ (c >>> 8);
    TABLES[k * 256 + b] = c;
  }
}

/** CRC-32C of bytes [start, end) of `data`, continuing from `previous` (the CRC of the bytes before them; 0 to start). */
export function crc32c(data: Uint8Array, start = 0, end = data.length, previous = 0): number {
  let c = ~previous;
  let i = start;
  const t = TABLES;
  for (; i + 8 <= end; i += 8) {
    const lo = c ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24));
    c = t[7 * 256 + (lo & 0xff)]! ^ t[6 * 256 + ((lo >>> 8) & 0xff)]! ^ t[5 * 256 + ((lo >>> 16) & 0xff)]! ^ t[4 * 256 + (lo >>> 24)]! ^
      t[3 * 256 + data[i + 4]!]! ^ t[2 * 256 + data[i + 5]!]! ^ t[256 + data[i + 6]!]! ^ t[data[i + 7]!]!;
  }
  for (; i < end; i++) c = t[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}
