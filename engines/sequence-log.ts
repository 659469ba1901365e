/**
 * The sequenced-input log: the workload indexes one sequencer processed, in the order it processed them. Every
 * design writes one per sequencer (sharded: one per shard) so the equivalence checker can replay exactly that order
 * through the reference engine.
 *
 *   byte 0         4              128                                   128 + 4 × capacity
 *        +---------+--------------+------------------------------------+
 *        | count   | padding       | index 0 | index 1 | ... | index capacity-1 |
 *        +---------+--------------+------------------------------------+
 *
 * One writer at a time: the sequencer thread, or for `mutex` whichever producer holds the lock (the lock's atomics
 * order the plain writes). Readers look only after the writers are idle, synchronised through a completion or a
 * worker message, so plain reads and writes suffice. Appending past the capacity throws with the numbers: a design
 * that processes a command twice fails loudly here or in the checker, never silently.
 */
import { CACHE_LINE_PAIR, checkRegion } from './shared/layout.ts';

const COUNT = 0;
const HEADER_BYTES = CACHE_LINE_PAIR;

export function sequenceLogBytes(capacity: number): number {
  if (!Number.isSafeInteger(capacity) || capacity < 1 || capacity > 2 ** 30) {
    throw new Error(`sequence log: capacity ${capacity} must be an integer in 1 … ${2 ** 30}`);
  }
  return HEADER_BYTES + 4 * capacity;
}

export class SequenceLog {
  readonly capacity: number;
  readonly #header: Int32Array;
  readonly #indexes: Int32Array;

  constructor(buffer: SharedArrayBuffer, byteOffset: number, capacity: number) {
    checkRegion('sequence log', buffer, byteOffset, sequenceLogBytes(capacity));
    this.capacity = capacity;
    this.#header = new Int32Array(buffer, byteOffset, 1);
    this.#indexes = new Int32Array(buffer, byteOffset + HEADER_BYTES, capacity);
  }

  append(index: number): void {
    const n = this.#header[COUNT]!;
    if (n === this.capacity) throw new Error(`sequence log full: command ${index} arrived after ${this.capacity} commands, the log's capacity`);
    this.#indexes[n] = index;
    this.#header[COUNT] = n + 1;
  }

  get length(): number {
    return this.#header[COUNT]!;
  }

  /** A copy of the indexes appended so far. */
  snapshot(): Int32Array {
    return this.#indexes.slice(0, this.length);
  }
}
