/**
 * The sequenced-input log: the workload indexes one sequencer processed, in the order it processed them. Every
 * design writes one per sequencer (sharded: one per shard) so the equivalence checker can replay exactly that order
 * through the reference engine, and so a journaller thread (journal/journaller.ts) can read the sequence while the
 * engine runs, as the LMAX journaller reads the input ring beside the business logic.
 *
 *   byte 0       4          8         12         16       20       24      64         72      128
 *        +-------+----------+---------+----------+--------+--------+-------+----------+-------+---------+-----
 *        | count | sleepers | publish | pause at | paused | pauses | pad   | pause ns | pad   | index 0 | ...
 *        +-------+----------+---------+----------+--------+--------+-------+----------+-------+---------+-----
 *   (i32 words; pause ns is an f64; index capacity-1 ends at byte 128 + 4 × capacity)
 *
 * One writer at a time: the sequencer thread, or for `mutex` whichever producer holds the lock (the lock's atomics
 * order the plain writes). Without a journaller (`publish` = 0, the default) `append` uses plain writes, and readers
 * look only after the writers are idle, synchronised through a completion or a worker message. With one, the main
 * thread sets `publish` before any command is submitted (`publishForJournal`): `append` then stores the count with
 * `Atomics.store`, so a reader that sees count n with `Atomics.load` sees the n indexes before it, and wakes a
 * sleeping reader through the `sleepers` word (engines/shared/wait-strategy.ts). The flag is read on every append
 * rather than fixed at construction because the sequencer's view may be built before the harness decides.
 *
 * Pausing for a snapshot (journal/snapshotter-worker.ts), only while publishing: another thread stores a count in
 * `pause at`; the append that reaches that count stores it, sets `paused` to 1, wakes the snapshotter and sleeps
 * until the snapshotter (having copied the core, which now holds exactly the first `pause at` commands) stores 0.
 * Then it writes how long it slept into `pause ns` and bumps `pauses`. The check is one atomic load on the
 * publishing branch; a log that does not publish never pauses. The sequencer measures its own sleep (a duration,
 * not a time the engine acts on) because only it sees the whole pause, both wake-ups included.
 *
 * Appending past the capacity throws with the numbers: a design that processes a command twice fails loudly here
 * or in the checker, never silently.
 */
import { CACHE_LINE_PAIR, checkRegion } from './shared/layout.ts';
import { SLEEPERS_WORD } from './shared/wait-strategy.ts';

/** Int32 index of the count: a waitable word (its sleeper count follows it). */
export const SEQUENCE_COUNT_WORD = 0;
const PUBLISH = SEQUENCE_COUNT_WORD + SLEEPERS_WORD + 1;
const PAUSE_AT = PUBLISH + 1;
/** 1 while the sequencer sleeps at `pause at` (waited on both ways; pauses are rare, so every change notifies). */
export const PAUSED_WORD = PAUSE_AT + 1;
const PAUSES = PAUSED_WORD + 1;
const PAUSE_NS_BYTE = 64;
/** The sequencer re-checks `paused` this often while it sleeps (a bound, not a schedule: the release notifies). */
const PAUSE_RECHECK_MS = 100;
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
  readonly #pauseNs: Float64Array;

  constructor(buffer: SharedArrayBuffer, byteOffset: number, capacity: number) {
    checkRegion('sequence log', buffer, byteOffset, sequenceLogBytes(capacity));
    this.capacity = capacity;
    this.region = { buffer, byteOffset, capacity };
    this.header = new Int32Array(buffer, byteOffset, HEADER_BYTES / 4);
    this.#indexes = new Int32Array(buffer, byteOffset + HEADER_BYTES, capacity);
    this.#pauseNs = new Float64Array(buffer, byteOffset + PAUSE_NS_BYTE, 1);
  }

  static attach(region: SequenceLogRegion): SequenceLog {
    return new SequenceLog(region.buffer, region.byteOffset, region.capacity);
  }

  append(index: number): void {
    const header = this.header;
    const n = header[SEQUENCE_COUNT_WORD]!;
    if (n === this.capacity) throw new Error(`sequence log full: command ${index} arrived after ${this.capacity} commands, the log's capacity`);
    this.#indexes[n] = index;
    // The unpublished path stays this one store, so a run without a journal runs the loop it always did.
    if (header[PUBLISH] === 0) header[SEQUENCE_COUNT_WORD] = n + 1;
    else this.#publish(n + 1);
  }

  #publish(count: number): void {
    const header = this.header;
    Atomics.store(header, SEQUENCE_COUNT_WORD, count);
    if (Atomics.load(header, SEQUENCE_COUNT_WORD + SLEEPERS_WORD) !== 0) Atomics.notify(header, SEQUENCE_COUNT_WORD);
    if (Atomics.load(header, PAUSE_AT) === count) this.#pause();
  }

  #pause(): void {
    const header = this.header;
    const started = performance.now();
    Atomics.store(header, PAUSED_WORD, 1);
    Atomics.notify(header, PAUSED_WORD);
    while (Atomics.load(header, PAUSED_WORD) === 1) Atomics.wait(header, PAUSED_WORD, 1, PAUSE_RECHECK_MS);
    this.#pauseNs[0] = (performance.now() - started) * 1e6;
    Atomics.add(header, PAUSES, 1);
  }

  /**
   * Asks the sequencer to pause once the log holds `count` commands (0: never). Another thread's call; the
   * sequencer only pauses while publishing, and only at an append that reaches exactly `count`.
   */
  pauseAt(count: number): void {
    Atomics.store(this.header, PAUSE_AT, count);
  }

  /** True while the sequencer sleeps at its pause point: the core is still, holding the first `length` commands. */
  isPaused(): boolean {
    return Atomics.load(this.header, PAUSED_WORD) === 1;
  }

  /** Lets a paused sequencer go on (and disarms the pause point so it cannot pause there again). */
  release(): void {
    Atomics.store(this.header, PAUSE_AT, 0);
    Atomics.store(this.header, PAUSED_WORD, 0);
    Atomics.notify(this.header, PAUSED_WORD);
  }

  /** Pauses completed so far, and the last one's length in ns (the sequencer's own measure, after it resumed). */
  pauses(): { readonly count: number; readonly lastNs: number } {
    const count = Atomics.load(this.header, PAUSES);
    return { count, lastNs: this.#pauseNs[0]! };
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
