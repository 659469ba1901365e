/**
 * The messages of the `channel` design (engines/channel.ts), described once.
 *
 * Command batch, producer → engine, one transferred ArrayBuffer of n commands:
 *
 *   byte 0                         40 n                      44 n
 *        +-------------------------+-------------------------+
 *        | n command records,      | n workload indexes      |
 *        | 40 bytes each           | (i32), same order       |
 *        +-------------------------+-------------------------+
 *
 * Event batch, engine → producer, one transferred ArrayBuffer of 48-byte event records: each command's events, the
 * last flagged as its end, or a completion record for a command with none (engines/completion-record.ts), commands
 * in processing order.
 */
import { RECORD_BYTES } from '../workloads/workload.ts';

const BATCH_ENTRY_BYTES = RECORD_BYTES + 4;

export function commandBatchBytes(n: number): number {
  return n * BATCH_ENTRY_BYTES;
}

/** Commands in a batch buffer; throws if its size is not a whole number of entries. */
export function commandBatchCount(buffer: ArrayBuffer): number {
  const n = buffer.byteLength / BATCH_ENTRY_BYTES;
  if (!Number.isInteger(n)) throw new Error(`channel command batch of ${buffer.byteLength} bytes is not a multiple of ${BATCH_ENTRY_BYTES}`);
  return n;
}

/** Byte offset of the index array in a batch of n commands. */
export function batchIndexOffset(n: number): number {
  return n * RECORD_BYTES;
}
