/**
 * Multi-producer single-consumer ring in a SharedArrayBuffer, after the LMAX Disruptor's MultiProducerSequencer
 * (layout: mpsc-ring-layout.ts).
 *
 * Trade-off: any number of producer threads feed one consumer with one atomic compare-exchange per claim (the
 * claim counter is the one cache line every producer fights over; a lost race retries) and one atomic store per
 * published slot. Slots are published one by one in a flag array, so a slow producer holds back the consumer only at
 * its own sequence, never blocks other producers' claims, and the consumer takes everything contiguous in one batch.
 * Compared with spsc-ring.ts, each message pays the contended claim and a flag store; compared with a lock, nobody
 * waits for another thread's critical section except when the ring is full.
 *
 * Each thread constructs its own MpscRing over the same region:
 * - producer: `claim(n)` (waits while the ring is full) or `tryClaim(n)` (never blocks), write slots
 *   `slotOffsetOf(seq)`, then `publish(seq, n)`;
 * - consumer: `availableBatch(max)` / `waitBatch(max)`, read `slotOffset(0..n-1)`, `release(n)`.
 * Sequences are uint32 numbers that wrap at 2^32. Slot offsets are byte offsets into the ring's `bytes` / `words` /
 * `f64` views, which start at slot 0. A producer's cached copy of the consumer sequence is refreshed whenever it
 * looks full, so it may lag by any amount short of 2^32 sequences.
 *
 * Producers wait for space before claiming, with compareExchange (as Disruptor 3's MultiProducerSequencer did), not
 * after an unconditional Atomics.add (Disruptor 4): a producer that holds a claimed sequence while it waits for space
 * stalls the consumer at that sequence whenever the scheduler takes its core away. With more busy threads than cores
 * that costs a scheduler time slice per stall. Measured on the 2-core test machine under load (2 producer workers,
 * consumer polling on the main thread, busy-spin): 8 slots, Atomics.add ~300 messages/s against compareExchange
 * ~100 000-175 000/s; 1024 slots, 43 000/s against 211 000/s. With spin-then-wait Atomics.add was ~1.3× faster on
 * 8 slots (~125 000/s against ~95 000/s); the claim-when-free variant is kept for its robustness.
 *
 * All threads must use the same wait strategy (see spsc-ring.ts). Blocking calls belong in workers.
 */
import { checkRegion } from './layout.ts';
import {
  MPSC_CLAIM, MPSC_CLOSED, MPSC_CONSUMER, MPSC_FLAG_WORDS, MPSC_FLAGS, mpscControlBytes, mpscRingBytes,
} from './mpsc-ring-layout.ts';
import { SpinThenWait, type WaitStrategy } from './wait-strategy.ts';

export class MpscRing {
  readonly buffer: SharedArrayBuffer;
  readonly byteOffset: number;
  readonly slotCount: number;
  readonly slotBytes: number;
  /** Byte offset of slot 0 inside `buffer`. */
  readonly slotsByteOffset: number;
  /** Views of the slot area (slot 0 at index 0). */
  readonly bytes: Uint8Array;
  readonly words: Uint32Array;
  readonly f64: Float64Array;
  readonly waitStrategy: WaitStrategy;
  /** How many times this thread's blocking calls had to wait (ring full for a producer, empty for the consumer). */
  waits = 0;

  readonly #control: Int32Array;
  readonly #mask: number;
  readonly #roundShift: number;
  /** Producer: its last read of the consumer sequence. */
  #cachedConsumer: number;
  /** Consumer: next sequence to read, and the end of the run [next, scanned) already seen published. */
  #next: number;
  #scanned: number;

  constructor(buffer: SharedArrayBuffer, byteOffset: number, slotCount: number, slotBytes: number,
    waitStrategy: WaitStrategy = new SpinThenWait()) {
    checkRegion('MPSC ring', buffer, byteOffset, mpscRingBytes(slotCount, slotBytes));
    this.buffer = buffer;
    this.byteOffset = byteOffset;
    this.slotCount = slotCount;
    this.slotBytes = slotBytes;
    const controlBytes = mpscControlBytes(slotCount);
    this.slotsByteOffset = byteOffset + controlBytes;
    const slotAreaBytes = slotCount * slotBytes;
    this.bytes = new Uint8Array(buffer, this.slotsByteOffset, slotAreaBytes);
    this.words = new Uint32Array(buffer, this.slotsByteOffset, slotAreaBytes / 4);
    this.f64 = new Float64Array(buffer, this.slotsByteOffset, slotAreaBytes / 8);
    this.waitStrategy = waitStrategy;
    this.#control = new Int32Array(buffer, byteOffset, controlBytes / 4);
    this.#mask = slotCount - 1;
    this.#roundShift = Math.log2(slotCount);
    const consumer = Atomics.load(this.#control, MPSC_CONSUMER);
    this.#cachedConsumer = consumer;
    this.#next = consumer;
    this.#scanned = consumer;
  }

  /** Producer: first of n consecutive sequences, or -1 if the ring lacks n free slots now. Never blocks. */
  tryClaim(n = 1): number {
    this.#checkClaimSize(n);
    const control = this.#control;
    for (;;) {
      const first = Atomics.load(control, MPSC_CLAIM);
      const last = (first + n - 1) | 0;
      if (((last - this.#cachedConsumer) >>> 0) >= this.slotCount) {
        this.#cachedConsumer = Atomics.load(control, MPSC_CONSUMER);
        if (((last - this.#cachedConsumer) >>> 0) >= this.slotCount) {
          // Full, unless another producer claimed meanwhile and the consumer moved past `first`: then retry.
          if (Atomics.load(control, MPSC_CLAIM) === first) return -1;
          continue;
        }
      }
      if (Atomics.compareExchange(control, MPSC_CLAIM, first, (first + n) | 0) === first) return first >>> 0;
    }
  }

  /**
   * Producer: first of n consecutive sequences, waiting while the ring is full. Returns -1 only if the ring is
   * closed while this producer waits.
   */
  claim(n = 1): number {
    for (;;) {
      const first = this.tryClaim(n);
      if (first >= 0) return first;
      if (this.isClosed()) return -1;
      this.waits++;
      this.waitStrategy.waitFor(this.#control, MPSC_CONSUMER, this.#cachedConsumer);
    }
  }

  /** Producer: byte offset of the slot of a claimed sequence. */
  slotOffsetOf(seq: number): number {
    return (seq & this.#mask) * this.slotBytes;
  }

  /** Producer: publishes n claimed sequences starting at `seq`, after their slots are written. */
  publish(seq: number, n = 1): void {
    const control = this.#control;
    for (let i = 0; i < n; i++) {
      const s = (seq + i) | 0;
      const flag = MPSC_FLAGS + (s & this.#mask) * MPSC_FLAG_WORDS;
      Atomics.store(control, flag, ((s >>> this.#roundShift) + 1) | 0);
      this.waitStrategy.signal(control, flag);
    }
  }

  /** Consumer: how many contiguous published slots are readable now, at most `maxBatch`. */
  availableBatch(maxBatch: number): number {
    if (!(maxBatch >= 1)) throw new Error(`MPSC ring availableBatch(${maxBatch}): batch size must be at least 1`);
    const control = this.#control;
    let known = (this.#scanned - this.#next) | 0;
    while (known < maxBatch) {
      const s = this.#scanned;
      if (Atomics.load(control, MPSC_FLAGS + (s & this.#mask) * MPSC_FLAG_WORDS) !== (((s >>> this.#roundShift) + 1) | 0)) break;
      this.#scanned = (s + 1) | 0;
      known++;
    }
    return known < maxBatch ? known : maxBatch;
  }

  /** Consumer: like `availableBatch` but waits while nothing is readable; 0 means closed and drained. */
  waitBatch(maxBatch: number): number {
    const control = this.#control;
    for (;;) {
      const n = this.availableBatch(maxBatch);
      if (n > 0) return n;
      if (this.isClosed()) return this.availableBatch(maxBatch);
      const seq = this.#next;
      const flag = MPSC_FLAGS + (seq & this.#mask) * MPSC_FLAG_WORDS;
      // Wait for the flag to leave the value it has now, the previous round's, unless it was published since the
      // scan: waiting on an already-published value would sleep until the next lap, which needs this consumer.
      const now = Atomics.load(control, flag);
      if (now === (((seq >>> this.#roundShift) + 1) | 0)) continue;
      this.waits++;
      this.waitStrategy.waitFor(control, flag, now);
    }
  }

  /** Consumer: byte offset of the k-th readable slot (k < the last availableBatch result). */
  slotOffset(k: number): number {
    return ((this.#next + k) & this.#mask) * this.slotBytes;
  }

  /** Consumer: hands the first n readable slots back to the producers. */
  release(n: number): void {
    const readable = (this.#scanned - this.#next) | 0;
    if ((n | 0) !== n || n < 0 || n > readable) throw new Error(`MPSC ring release(${n}): only ${readable} slots are readable`);
    if (n === 0) return;
    this.#next = (this.#next + n) | 0;
    Atomics.store(this.#control, MPSC_CONSUMER, this.#next);
    this.waitStrategy.signal(this.#control, MPSC_CONSUMER);
  }

  /**
   * Any thread: marks the ring closed and wakes everyone waiting. Close after every producer has published its last
   * sequence, or the consumer stops at the first unpublished one.
   */
  close(): void {
    const control = this.#control;
    Atomics.store(control, MPSC_CLOSED, 1);
    Atomics.notify(control, MPSC_CONSUMER);
    // The consumer sleeps, if at all, on the flag of its next sequence, which is the stored consumer sequence.
    const next = Atomics.load(control, MPSC_CONSUMER);
    Atomics.notify(control, MPSC_FLAGS + (next & this.#mask) * MPSC_FLAG_WORDS);
  }

  /** Slots claimed and not yet released by the consumer: any thread may read it (a gauge, not a synchronisation). */
  occupancy(): number {
    return (Atomics.load(this.#control, MPSC_CLAIM) - Atomics.load(this.#control, MPSC_CONSUMER)) | 0;
  }

  isClosed(): boolean {
    return Atomics.load(this.#control, MPSC_CLOSED) !== 0;
  }

  #checkClaimSize(n: number): void {
    if ((n | 0) !== n || n < 1 || n > this.slotCount) {
      throw new Error(`MPSC ring claim of ${n} slots: must be between 1 and the slot count ${this.slotCount}`);
    }
  }
}
