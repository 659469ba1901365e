/**
 * The shared-memory layout of an SPSC ring (spsc-ring.ts), described once, like Agrona's RingBufferDescriptor.
 *
 *   byte 0                  128                 256              384
 *        +------------------+-------------------+----------------+--------+--------+-----+--------------+
 *        | head | sleepers  | tail | sleepers   | closed         | slot 0 | slot 1 | ... | slot count-1 |
 *        +------------------+-------------------+----------------+--------+--------+-----+--------------+
 *          consumer writes    producer writes     either side      slotBytes each, slot = sequence & mask
 *
 * - head: the consumer's next sequence to read (everything before it is released). Its sleeper count is raised by a
 *   producer sleeping for space.
 * - tail: one past the producer's last published sequence. Its sleeper count is raised by a consumer sleeping for data.
 * - closed: 0 while open, 1 after either side calls close().
 * Head and tail are 32-bit and wrap; `(tail - head) | 0` is the fill level while slot count ≤ 2^30.
 * A zero-filled region is an empty, open ring.
 */
import { CACHE_LINE_PAIR, checkSlotBytes, checkSlotCount } from './layout.ts';

/** Int32 indexes inside the control block. */
export const SPSC_HEAD = 0;
export const SPSC_TAIL = CACHE_LINE_PAIR / 4;
export const SPSC_CLOSED = (2 * CACHE_LINE_PAIR) / 4;
/** Bytes before slot 0. */
export const SPSC_CONTROL_BYTES = 3 * CACHE_LINE_PAIR;

/** Bytes an SPSC ring of `slotCount` slots of `slotBytes` bytes occupies; throws on invalid capacities. */
export function spscRingBytes(slotCount: number, slotBytes: number): number {
  checkSlotCount('SPSC ring', slotCount);
  checkSlotBytes('SPSC ring', slotBytes);
  return SPSC_CONTROL_BYTES + slotCount * slotBytes;
}
