/**
 * The shared-memory layout of a multi-producer single-consumer ring (mpsc-ring.ts), described once, like Agrona's
 * RingBufferDescriptor.
 *
 *   byte 0            128                    256          384                                  slots offset
 *        +------------+----------------------+------------+------------------------------------+-----+--------+-----+
 *        | claim      | consumer | sleepers  | closed     | published flags: (flag, sleepers) × | pad | slot 0 | ... |
 *        |            |                      |            | slot count                         |     |        |     |
 *        +------------+----------------------+------------+------------------------------------+-----+--------+-----+
 *         producers     consumer writes        either side  producers write flags, consumer the   slotBytes each,
 *         add / CAS                                         sleeper counts                        slot = seq & mask
 *
 * - claim: the next sequence a producer may take (Atomics.add or compareExchange).
 * - consumer: the consumer's next sequence to read; everything before it is released. Its sleeper count is raised by
 *   producers sleeping for space.
 * - closed: 0 while open, 1 after close().
 * - published flags (LMAX MultiProducerSequencer's "available buffer"): for slot i, 1 + the round (seq >>> log2(slot
 *   count)) of the last sequence published into it, so a zero-filled region means "nothing published" and a flag
 *   equals 1 + round(seq) exactly when seq itself has been published. Each flag's sleeper count is raised by the
 *   consumer sleeping for that slot.
 * Sequences are 32-bit and wrap; differences are taken modulo 2^32. A zero-filled region is an empty, open ring.
 */
import { align, CACHE_LINE_PAIR, checkSlotBytes, checkSlotCount } from './layout.ts';
import { WAITABLE_WORDS } from './wait-strategy.ts';

/** Int32 indexes inside the control block. */
export const MPSC_CLAIM = 0;
export const MPSC_CONSUMER = CACHE_LINE_PAIR / 4;
export const MPSC_CLOSED = (2 * CACHE_LINE_PAIR) / 4;
/** Int32 index of slot 0's published flag; slot i's flag is at MPSC_FLAGS + i × MPSC_FLAG_WORDS. */
export const MPSC_FLAGS = (3 * CACHE_LINE_PAIR) / 4;
export const MPSC_FLAG_WORDS = WAITABLE_WORDS;

/** Bytes before slot 0: the control block including the flags, padded to CACHE_LINE_PAIR. */
export function mpscControlBytes(slotCount: number): number {
  return align((MPSC_FLAGS + slotCount * MPSC_FLAG_WORDS) * 4, CACHE_LINE_PAIR);
}

/** Bytes an MPSC ring of `slotCount` slots of `slotBytes` bytes occupies; throws on invalid capacities. */
export function mpscRingBytes(slotCount: number, slotBytes: number): number {
  checkSlotCount('MPSC ring', slotCount);
  checkSlotBytes('MPSC ring', slotBytes);
  return mpscControlBytes(slotCount) + slotCount * slotBytes;
}
