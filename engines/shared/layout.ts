/**
 * Placing shared-memory structures: alignment helpers, the checks every descriptor shares, and a region allocator
 * that lays several structures (rings, locks, logs) into one SharedArrayBuffer.
 *
 * Trade-off: every region starts on a 128-byte boundary and every contended counter gets 128 bytes to itself. That
 * wastes a little memory per structure but keeps two threads' hot words out of one cache line (and out of the
 * adjacent line the spatial prefetcher pulls in pairs on x86), which is where shared-memory designs lose their speed.
 *
 * Every structure works over a region (buffer + byteOffset); each thread builds its own typed-array views over the
 * buffer it was sent, so the same SharedArrayBuffer can carry several structures to several workers at once.
 */

/** Two 64-byte cache lines: the distance between words written by different threads. */
export const CACHE_LINE_PAIR = 128;

/** Largest slot count the rings accept: sequences are 32-bit and wrap, so a ring must hold under 2^31 of them. */
export const MAX_SLOT_COUNT = 2 ** 30;

export function isPowerOfTwo(n: number): boolean {
  return Number.isSafeInteger(n) && n > 0 && (n & (n - 1)) === 0 && n <= 2 ** 30;
}

/** Rounds `n` up to a multiple of `to` (a power of two). */
export function align(n: number, to: number): number {
  if (!isPowerOfTwo(to)) throw new Error(`align: alignment ${to} is not a power of two`);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`align: ${n} is not a non-negative integer`);
  return Math.ceil(n / to) * to;
}

/** Throws unless `slotCount` is a power of two in [2, MAX_SLOT_COUNT]. `what` names the structure in the message. */
export function checkSlotCount(what: string, slotCount: number): void {
  if (!isPowerOfTwo(slotCount) || slotCount < 2 || slotCount > MAX_SLOT_COUNT) {
    throw new Error(`${what}: slot count ${slotCount} must be a power of two between 2 and ${MAX_SLOT_COUNT}`);
  }
}

/** Throws unless `slotBytes` is a positive multiple of 8, so Float64Array views of every slot are aligned. */
export function checkSlotBytes(what: string, slotBytes: number): void {
  if (!Number.isSafeInteger(slotBytes) || slotBytes <= 0 || slotBytes % 8 !== 0) {
    throw new Error(`${what}: slot size ${slotBytes} bytes must be a positive multiple of 8`);
  }
}

/**
 * Throws unless [byteOffset, byteOffset + bytes) lies inside `buffer` and byteOffset is a multiple of CACHE_LINE_PAIR
 * (which keeps each structure's counters on lines of their own).
 */
export function checkRegion(what: string, buffer: SharedArrayBuffer, byteOffset: number, bytes: number): void {
  if (!(buffer instanceof SharedArrayBuffer)) throw new Error(`${what}: needs a SharedArrayBuffer`);
  if (!Number.isSafeInteger(byteOffset) || byteOffset < 0 || byteOffset % CACHE_LINE_PAIR !== 0) {
    throw new Error(`${what}: byte offset ${byteOffset} must be a non-negative multiple of ${CACHE_LINE_PAIR}`);
  }
  if (byteOffset + bytes > buffer.byteLength) {
    throw new Error(
      `${what}: needs ${bytes} bytes at offset ${byteOffset} (up to ${byteOffset + bytes}) but the buffer has ${buffer.byteLength}`,
    );
  }
}

/** One structure's place in a shared buffer. */
export interface RegionSpan {
  readonly name: string;
  readonly byteOffset: number;
  readonly byteLength: number;
}

/**
 * Lays named regions one after another, each aligned to CACHE_LINE_PAIR, then creates the buffer:
 *
 *   const regions = new RegionAllocator();
 *   const input = regions.reserve('input ring', mpscRingBytes(1024, 40));
 *   const lock = regions.reserve('book lock', FUTEX_MUTEX_BYTES);
 *   const sab = regions.createBuffer();   // zero-filled, as every structure's initial state expects
 *
 * Workers receive `sab` plus the offsets and build their own views.
 */
export class RegionAllocator {
  readonly #spans: RegionSpan[] = [];
  #end = 0;

  /** Reserves `byteLength` bytes for `name` and returns their byte offset. */
  reserve(name: string, byteLength: number): number {
    if (!Number.isSafeInteger(byteLength) || byteLength <= 0) {
      throw new Error(`region ${JSON.stringify(name)}: size ${byteLength} bytes must be a positive integer`);
    }
    if (this.#spans.some((s) => s.name === name)) throw new Error(`region ${JSON.stringify(name)} reserved twice`);
    const byteOffset = align(this.#end, CACHE_LINE_PAIR);
    this.#spans.push({ name, byteOffset, byteLength });
    this.#end = byteOffset + byteLength;
    return byteOffset;
  }

  /** Total bytes, rounded up so the buffer ends on a CACHE_LINE_PAIR boundary. */
  get byteLength(): number {
    return align(this.#end, CACHE_LINE_PAIR);
  }

  get spans(): readonly RegionSpan[] {
    return this.#spans;
  }

  /**
   * A new zero-filled SharedArrayBuffer big enough for every reserved region, its pages already mapped: a new
   * buffer's pages are mapped on first write, and writing them all now (the zeros they hold) takes those page faults
   * here rather than inside a timed run, on whichever thread first writes each 4 KB of a book, ring or log.
   */
  createBuffer(): SharedArrayBuffer {
    if (this.#spans.length === 0) throw new Error('RegionAllocator.createBuffer: no regions reserved');
    const buffer = new SharedArrayBuffer(this.byteLength);
    new Int32Array(buffer).fill(0);
    return buffer;
  }
}
