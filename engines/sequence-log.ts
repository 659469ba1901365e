/**
 * The sequenced-input log: the workload indexes one sequencer processed, in the order it processed them. Every
 * design writes one per sequencer (sharded: one per shard) so the equivalence checker can replay exactly that order
 * through the reference engine, and so a journaller thread (journal/journaller.ts) can read the sequence while the
 * engine runs, as the LMAX journaller reads the input ring beside the business logic.
 *
 *   byte 0       4          8          12            128                                   128 + 4 × capacity
 *        +-------+----------+----------+-------------+------------------------------------+
 *        | count | sleepers | publish  | padding     | index 0 | index 1 | ... | index capacity-1 |
 *        +-------+----------+----------+-------------+------------------------------------+
 *
 * One writer at a time: the sequencer thread, or for `mutex` whichever producer holds the lock (the lock's atomics
 * order the plain writes). Without a journaller (`publish` = 0, the default) `append` uses plain writes, and readers
 * look only after the writers are idle, synchronised through a completion or a worker message. With one, the main
 * thread sets `publish` before any command is submitted (`publishForJournal`): `append` then stores the count with
 * `Atomics.store`, so a reader that sees count n with `Atomics.load` sees the n indexes before it, and wakes a
 * sleeping reader through the `sleepers` word (engines/shared/wait-strategy.ts). The flag is read on every append
 * rather than fixed at construction because the sequencer's view may be built before the harness decides.
 *
 * Appending past the capacity throws with the numbers: a design that processes a command twice fails loudly here
 * or in the checker, never silently.
 */
import { CACHE_LINE_PAIR, checkRegion } from './shared/layout.ts';
import { SLEEPERS_WORD } from './shared/wait-strategy.ts';

/** Int32 index of the count: a waitable word (its sleeper count follows it). */
export const SEQUENCE_COUNT_WORD = 0;
const PUBLISH = SEQUENCE_COUNT_WORD + SLEEPERS_WORD + 1;
const HEADER_BYTES = CACHE_LINE_PAIR;

export function sequenceLogBytes(capacity: number): number {
  if (!Number.isSafeInteger(capacity) || capacity < 1 || capacity > 2 ** 30) {
    throw new Error(`sequence log: capacity ${capacity} must be an integer in 1 … ${2 ** 30}`);
  }
  return HEADER_BYTES + 4 * capacity;
}

/** Where a sequence log lives: what another thread needs to build its own view (cloneable). */
export interface SequenceLogRegion {
  readonly buffer: SharedArrayBuffer;
  readonly byteOffset: number;
  readonly capacity: number;
}

export class SequenceLog {
  readonly capacity: number;
  readonly region: SequenceLogRegion;
  /** The header's words: the count is waitable (`header` + SEQUENCE_COUNT_WORD). */
  readonly header: Int32Array;
  readonly #indexes: Int32Array;

  constructor(buffer: SharedArrayBuffer, byteOffset: number, capacity: number) {
    checkRegion('sequence log', buffer, byteOffset, sequenceLogBytes(capacity));
    this.capacity = capacity;
    this.region = { buffer, byteOffset, capacity };
    this.header = new Int32Array(buffer, byteOffset, HEADER_BYTES / 4);
    this.#indexes = new Int32Array(buffer, byteOffset + HEADER_BYTES, capacity);
  }

  static attach(region: SequenceLogRegion): SequenceLog {
    return new SequenceLog(region.buffer, region.byteOffset, region.capacity);
  }

  append(index: number): void {
    const header = this.header;
    const n = header[SEQUENCE_COUNT_WORD]!;
    if (n === this.capacity) throw new Error(`sequence log full: command ${index} arrived after ${this.capacity} commands, the log's capacity`);
    this.#indexes[n] = index;
    if (header[PUBLISH] === 0) {
      header[SEQUENCE_COUNT_WORD] = n + 1;
    } else {
      Atomics.store(header, SEQUENCE_COUNT_WORD, n + 1);
      if (Atomics.load(header, SEQUENCE_COUNT_WORD + SLEEPERS_WORD) !== 0) Atomics.notify(header, SEQUENCE_COUNT_WORD);
    }
  }

  /** Makes every later append visible to a reader on another thread while the engine runs. Call before any submit. */
  publishForJournal(): void {
    Atomics.store(this.header, PUBLISH, 1);
  }

  get length(): number {
    return this.header[SEQUENCE_COUNT_WORD]!;
  }

  /** The count as a concurrent reader sees it (with publishing on): every index below it is readable. */
  publishedLength(): number {
    return Atomics.load(this.header, SEQUENCE_COUNT_WORD);
  }

  /** The index at position `i` (below `publishedLength()`). */
  at(i: number): number {
    return this.#indexes[i]!;
  }

  /** A copy of the indexes appended so far. */
  snapshot(): Int32Array {
    return this.#indexes.slice(0, this.length);
  }
}
