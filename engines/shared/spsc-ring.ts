/**
 * Single-producer single-consumer ring of fixed-size slots in a SharedArrayBuffer (layout: spsc-ring-layout.ts).
 *
 * Trade-off: the cheapest cross-thread queue there is — no read-modify-write instructions at all, one atomic store
 * per publish and per release, and each side keeps a cached copy of the other's counter so it only reads the
 * contended cache line when its cached view says full (producer) or empty (consumer). The price is exactly one
 * producer thread and one consumer thread per ring; several producers need several rings (sharded) or mpsc-ring.ts.
 *
 * Each thread constructs its own SpscRing over the same region and uses only its side's methods:
 * - producer: `tryClaim()` / `claim()` a slot, write it, `publish()` (claim several, publish once to batch);
 * - consumer: `available()` / `waitAvailable()`, read `slotOffset(0..n-1)`, `release(n)`.
 * Slot offsets are byte offsets into the ring's own `bytes` / `words` / `f64` views, which start at slot 0, so
 * `offset / slotBytes` is a record index for code that addresses records by index.
 *
 * Both sides must use the same wait strategy: a consumer that sleeps relies on the producer's `signal`, which
 * busy-spin leaves out (a mismatched sleeper still wakes at its sleep timeout, only late).
 * Blocking calls (`claim`, `waitAvailable`) belong in workers; see wait-strategy.ts.
 */
import { checkRegion } from './layout.ts';
import { SPSC_CLOSED, SPSC_CONTROL_BYTES, SPSC_HEAD, SPSC_TAIL, spscRingBytes } from './spsc-ring-layout.ts';
import { SpinThenWait, type WaitStrategy } from './wait-strategy.ts';

export class SpscRing {
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
  /** How many times this thread's blocking calls had to wait (ring full for a producer, empty for a consumer). */
  waits = 0;

  readonly #control: Int32Array;
  readonly #mask: number;
  /** Producer: next sequence to claim, last sequence made visible, and its last read of the consumer's head. */
  #claimSeq: number;
  #publishedSeq: number;
  #cachedHead: number;
  /** Consumer: next sequence to read, and its last read of the producer's tail. */
  #readSeq: number;
  #cachedTail: number;

  constructor(buffer: SharedArrayBuffer, byteOffset: number, slotCount: number, slotBytes: number,
    waitStrategy: WaitStrategy = new SpinThenWait()) {
    checkRegion('SPSC ring', buffer, byteOffset, spscRingBytes(slotCount, slotBytes));
    this.buffer = buffer;
    this.byteOffset = byteOffset;
    this.slotCount = slotCount;
    this.slotBytes = slotBytes;
    this.slotsByteOffset = byteOffset + SPSC_CONTROL_BYTES;
    const slotAreaBytes = slotCount * slotBytes;
    this.bytes = new Uint8Array(buffer, this.slotsByteOffset, slotAreaBytes);
    this.words = new Uint32Array(buffer, this.slotsByteOffset, slotAreaBytes / 4);
    this.f64 = new Float64Array(buffer, this.slotsByteOffset, slotAreaBytes / 8);
    this.waitStrategy = waitStrategy;
    this.#control = new Int32Array(buffer, byteOffset, SPSC_CONTROL_BYTES / 4);
    this.#mask = slotCount - 1;
    // Each counter has one writer, so reading both now is right whenever this thread joins.
    const tail = Atomics.load(this.#control, SPSC_TAIL);
    const head = Atomics.load(this.#control, SPSC_HEAD);
    this.#claimSeq = tail;
    this.#publishedSeq = tail;
    this.#cachedHead = head;
    this.#readSeq = head;
    this.#cachedTail = tail;
  }

  /** Producer: byte offset of a free slot, or -1 when the ring is full. The slot is invisible until `publish()`. */
  tryClaim(): number {
    const seq = this.#claimSeq;
    if (((seq - this.#cachedHead) | 0) >= this.slotCount) {
      this.#cachedHead = Atomics.load(this.#control, SPSC_HEAD);
      if (((seq - this.#cachedHead) | 0) >= this.slotCount) return -1;
    }
    this.#claimSeq = (seq + 1) | 0;
    return (seq & this.#mask) * this.slotBytes;
  }

  /**
   * Producer: like `tryClaim` but waits for space; returns -1 only if the ring is closed while full.
   * Publishes the slots claimed so far before waiting, since the consumer can only make space by reading them.
   */
  claim(): number {
    for (;;) {
      const offset = this.tryClaim();
      if (offset >= 0) return offset;
      this.publish();
      if (this.isClosed()) return -1;
      this.waits++;
      this.waitStrategy.waitFor(this.#control, SPSC_HEAD, this.#cachedHead);
    }
  }

  /** Producer: makes every slot claimed so far visible to the consumer, in claim order. */
  publish(): void {
    if (this.#publishedSeq === this.#claimSeq) return;
    this.#publishedSeq = this.#claimSeq;
    Atomics.store(this.#control, SPSC_TAIL, this.#claimSeq);
    this.waitStrategy.signal(this.#control, SPSC_TAIL);
  }

  /**
   * Consumer: how many published slots are readable (slotOffset(0) … slotOffset(n - 1)). Counts from the cached
   * tail while it still has unread slots and re-reads the producer's counter only once they are all released, so
   * after a partial release it can report fewer slots than the producer has published since.
   */
  available(): number {
    const known = (this.#cachedTail - this.#readSeq) | 0;
    if (known !== 0) return known;
    this.#cachedTail = Atomics.load(this.#control, SPSC_TAIL);
    return (this.#cachedTail - this.#readSeq) | 0;
  }

  /** Consumer: like `available` but waits while the ring is empty; 0 means closed and fully drained. */
  waitAvailable(): number {
    for (;;) {
      const n = this.available();
      if (n > 0) return n;
      // The producer publishes before it closes, so after seeing `closed` one more look finds everything.
      if (this.isClosed()) return this.available();
      this.waits++;
      this.waitStrategy.waitFor(this.#control, SPSC_TAIL, this.#cachedTail);
    }
  }

  /** Consumer: byte offset of the k-th readable slot (k < available()). */
  slotOffset(k: number): number {
    return ((this.#readSeq + k) & this.#mask) * this.slotBytes;
  }

  /** Consumer: hands the first n readable slots back to the producer. */
  release(n: number): void {
    const readable = (this.#cachedTail - this.#readSeq) | 0;
    if ((n | 0) !== n || n < 0 || n > readable) throw new Error(`SPSC ring release(${n}): only ${readable} slots are readable`);
    if (n === 0) return;
    this.#readSeq = (this.#readSeq + n) | 0;
    Atomics.store(this.#control, SPSC_HEAD, this.#readSeq);
    this.waitStrategy.signal(this.#control, SPSC_HEAD);
  }

  /** Either side: marks the ring closed and wakes the other side. A producer publishes its last slots first. */
  close(): void {
    Atomics.store(this.#control, SPSC_CLOSED, 1);
    Atomics.notify(this.#control, SPSC_HEAD);
    Atomics.notify(this.#control, SPSC_TAIL);
  }

  /** Slots published and not yet released by the consumer: any thread may read it (a gauge, not a synchronisation). */
  occupancy(): number {
    return (Atomics.load(this.#control, SPSC_TAIL) - Atomics.load(this.#control, SPSC_HEAD)) | 0;
  }

  isClosed(): boolean {
    return Atomics.load(this.#control, SPSC_CLOSED) !== 0;
  }
}
