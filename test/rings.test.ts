/**
 * SPSC and MPSC ring tests: capacity checks and single-thread semantics, then cross-thread stress checked by
 * invariants (a sequence verifier: nothing lost, nothing duplicated, per-producer order, no torn payloads), never by
 * timing. At most two worker threads run beside the test thread; rings start a few sequences before the 32-bit
 * counters overflow, and small rings (8 slots) force wrap-around and full-ring gating on every lap.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { MpscRing } from '../engines/shared/mpsc-ring.ts';
import { MPSC_CLAIM, MPSC_CONSUMER, mpscRingBytes } from '../engines/shared/mpsc-ring-layout.ts';
import { align, CACHE_LINE_PAIR, RegionAllocator } from '../engines/shared/layout.ts';
import { SpscRing } from '../engines/shared/spsc-ring.ts';
import { SPSC_HEAD, SPSC_TAIL, spscRingBytes } from '../engines/shared/spsc-ring-layout.ts';
import { BusySpinWait, SpinThenWait, waitStrategyByName, WAIT_STRATEGY_NAMES } from '../engines/shared/wait-strategy.ts';
import { MESSAGE_BYTES, SequenceVerifier, writeMessage, type VerifierReport } from './workers/rings-messages.ts';
import type { MpscConsumerData } from './workers/rings-mpsc-consumer.ts';
import type { MpscProducerData } from './workers/rings-mpsc-producer.ts';
import type { SpscConsumerData } from './workers/rings-spsc-consumer.ts';
import type { SpscProducerData } from './workers/rings-spsc-producer.ts';
import { startWorker, terminateWorkers, throwIfFailed, yieldToEventLoop, type RunningWorker } from './workers/rings-threads.ts';

/** Start sequences: just below the signed 32-bit overflow (SPSC) and the unsigned wrap to 0 (MPSC). */
const SPSC_START = 2 ** 31 - 100;
const MPSC_START = 2 ** 32 - 100;
/** Empty polls between yields of a polling main thread. */
const POLLS_PER_YIELD = 256;
/** MPSC messages per producer through 8 slots. */
const MPSC_PER_PRODUCER = 250_000;
/** A cap, not an expectation: stress tests assert invariants only, and a loaded 2-core machine can be very slow. */
const STRESS_TIMEOUT_MS = 180_000;

afterEach(terminateWorkers);

interface ProducerResult { waits: number }
interface ConsumerResult { report: VerifierReport; waits: number }

function spscRegion(slotCount: number, start: number): { buffer: SharedArrayBuffer; byteOffset: number } {
  const regions = new RegionAllocator();
  regions.reserve('padding so the ring is not at offset 0', 8);
  const byteOffset = regions.reserve('ring', spscRingBytes(slotCount, MESSAGE_BYTES));
  const buffer = regions.createBuffer();
  const control = new Int32Array(buffer, byteOffset);
  control[SPSC_HEAD] = start | 0;
  control[SPSC_TAIL] = start | 0;
  return { buffer, byteOffset };
}

function mpscRegion(slotCount: number, start: number): { buffer: SharedArrayBuffer; byteOffset: number } {
  const regions = new RegionAllocator();
  regions.reserve('padding so the ring is not at offset 0', 8);
  const byteOffset = regions.reserve('ring', mpscRingBytes(slotCount, MESSAGE_BYTES));
  const buffer = regions.createBuffer();
  const control = new Int32Array(buffer, byteOffset);
  control[MPSC_CLAIM] = start | 0;
  control[MPSC_CONSUMER] = start | 0;
  return { buffer, byteOffset };
}

function expectClean(report: VerifierReport, total: number): void {
  expect(report.firstError).toBeNull();
  expect(report).toEqual({ received: total, outOfOrder: 0, corrupt: 0, missing: 0, firstError: null });
}

describe('layout', () => {
  test('align rounds up to a power of two and rejects other alignments', () => {
    expect(align(0, 128)).toBe(0);
    expect(align(1, 128)).toBe(128);
    expect(align(256, 128)).toBe(256);
    expect(() => align(5, 48)).toThrow(/alignment 48 is not a power of two/);
  });

  test('capacity checks throw with the numbers', () => {
    expect(() => spscRingBytes(6, 48)).toThrow(/slot count 6 must be a power of two/);
    expect(() => spscRingBytes(8, 44)).toThrow(/slot size 44 bytes must be a positive multiple of 8/);
    expect(() => mpscRingBytes(1, 48)).toThrow(/slot count 1 must be a power of two between 2/);
    const buffer = new SharedArrayBuffer(512);
    expect(() => new SpscRing(buffer, 64, 8, 48)).toThrow(/byte offset 64 must be a non-negative multiple of 128/);
    expect(() => new SpscRing(buffer, 0, 8, 48)).toThrow(`needs ${spscRingBytes(8, 48)} bytes at offset 0`);
  });

  test('the region allocator keeps every region on its own 128-byte lines', () => {
    const regions = new RegionAllocator();
    const a = regions.reserve('a', 8);
    const b = regions.reserve('b', spscRingBytes(8, 48));
    const c = regions.reserve('c', 4);
    expect([a, b, c]).toEqual([0, 128, 128 + align(spscRingBytes(8, 48), 128)]);
    expect(regions.byteLength % CACHE_LINE_PAIR).toBe(0);
    expect(regions.createBuffer().byteLength).toBe(regions.byteLength);
    expect(() => regions.reserve('a', 8)).toThrow(/"a" reserved twice/);
  });

  test('wait strategies by name', () => {
    expect(WAIT_STRATEGY_NAMES.map((n) => waitStrategyByName(n).name)).toEqual(['busy-spin', 'spin-then-wait']);
    expect(() => waitStrategyByName('yield')).toThrow(/unknown wait strategy "yield"/);
  });

  test('a bounded wait returns the unchanged value; a changed value returns at once', () => {
    const words = new Int32Array(new SharedArrayBuffer(8));
    expect(new BusySpinWait(10).waitFor(words, 0, 0)).toBe(0);
    expect(new SpinThenWait(10, 1).waitFor(words, 0, 0)).toBe(0);
    expect(words[1]).toBe(0);
    words[0] = 7;
    expect(new SpinThenWait(10, 1).waitFor(words, 0, 0)).toBe(7);
  });
});

describe('sequence verifier', () => {
  function run(sends: [number, number][], counts: number[]): VerifierReport {
    const f64 = new Float64Array(MESSAGE_BYTES / 8);
    const verifier = new SequenceVerifier(counts);
    for (const [producerId, seq] of sends) {
      writeMessage(f64, 0, producerId, seq);
      verifier.accept(f64, 0);
    }
    return verifier.report();
  }

  test('accepts interleavings that keep each producer in order', () => {
    expectClean(run([[0, 0], [1, 0], [1, 1], [0, 1]], [2, 2]), 4);
  });

  test('catches lost, duplicated, reordered and torn messages', () => {
    expect(run([[0, 0], [0, 2]], [3]).outOfOrder).toBe(1);
    expect(run([[0, 0], [0, 1]], [3]).missing).toBe(1);
    expect(run([[0, 0], [0, 0], [0, 1]], [2]).outOfOrder).toBe(1);
    expect(run([[0, 1], [0, 0]], [2]).outOfOrder).toBe(2);
    const f64 = new Float64Array(MESSAGE_BYTES / 8);
    writeMessage(f64, 0, 0, 0);
    f64[5] = 99;
    const verifier = new SequenceVerifier([1]);
    verifier.accept(f64, 0);
    expect(verifier.report().corrupt).toBe(1);
  });
});

describe('SPSC ring, one thread', () => {
  test('claims until full, publishes in batches, releases, wraps past 2^31; available() re-reads the tail when used up', () => {
    const { buffer, byteOffset } = spscRegion(8, 2 ** 31 - 3);
    const producer = new SpscRing(buffer, byteOffset, 8, MESSAGE_BYTES);
    const consumer = new SpscRing(buffer, byteOffset, 8, MESSAGE_BYTES);
    for (let i = 0; i < 8; i++) writeMessage(producer.f64, producer.tryClaim() / 8, 0, i);
    expect(producer.tryClaim()).toBe(-1);
    expect(consumer.available()).toBe(0);
    producer.publish();
    expect(consumer.available()).toBe(8);
    expect(() => consumer.release(9)).toThrow('release(9): only 8 slots are readable');
    const verifier = new SequenceVerifier([12]);
    for (let k = 0; k < 3; k++) verifier.accept(consumer.f64, consumer.slotOffset(k) / 8);
    consumer.release(3);
    for (let i = 8; i < 11; i++) writeMessage(producer.f64, producer.tryClaim() / 8, 0, i);
    expect(producer.tryClaim()).toBe(-1);
    producer.publish();
    expect(consumer.available()).toBe(5);
    for (let k = 0; k < 5; k++) verifier.accept(consumer.f64, consumer.slotOffset(k) / 8);
    consumer.release(5);
    expect(consumer.available()).toBe(3);
    for (let k = 0; k < 3; k++) verifier.accept(consumer.f64, consumer.slotOffset(k) / 8);
    consumer.release(3);
    writeMessage(producer.f64, producer.claim() / 8, 0, 11);
    producer.publish();
    producer.close();
    expect(consumer.waitAvailable()).toBe(1);
    verifier.accept(consumer.f64, consumer.slotOffset(0) / 8);
    consumer.release(1);
    expect(consumer.waitAvailable()).toBe(0);
    expectClean(verifier.report(), 12);
  });
});

describe('MPSC ring, one thread', () => {
  test('publication out of claim order: the consumer sees only the contiguous prefix', () => {
    const { buffer, byteOffset } = mpscRegion(8, 2 ** 32 - 2);
    const ring = new MpscRing(buffer, byteOffset, 8, MESSAGE_BYTES);
    const first = ring.tryClaim(3);
    expect(first).toBe(2 ** 32 - 2);
    const fourth = ring.claim();
    expect(fourth).toBe(1);
    for (let i = 0; i < 4; i++) writeMessage(ring.f64, ring.slotOffsetOf(first + i) / 8, 0, i);
    ring.publish(first + 1, 3);
    expect(ring.availableBatch(16)).toBe(0);
    ring.publish(first);
    expect(ring.availableBatch(2)).toBe(2);
    expect(ring.availableBatch(16)).toBe(4);
    expect(() => ring.release(5)).toThrow('release(5): only 4 slots are readable');
    const verifier = new SequenceVerifier([4]);
    for (let k = 0; k < 4; k++) verifier.accept(ring.f64, ring.slotOffset(k) / 8);
    ring.release(4);
    expectClean(verifier.report(), 4);
  });

  test('tryClaim refuses when full and after the consumer releases succeeds; claim sizes are checked', () => {
    const { buffer, byteOffset } = mpscRegion(8, 0);
    const ring = new MpscRing(buffer, byteOffset, 8, MESSAGE_BYTES);
    expect(() => ring.claim(9)).toThrow('claim of 9 slots: must be between 1 and the slot count 8');
    expect(() => ring.tryClaim(0)).toThrow('claim of 0 slots');
    const first = ring.tryClaim(6);
    expect(ring.tryClaim(3)).toBe(-1);
    expect(ring.tryClaim(2)).toBe(6);
    ring.publish(first, 8);
    expect(ring.availableBatch(8)).toBe(8);
    ring.release(2);
    expect(ring.tryClaim(3)).toBe(-1);
    expect(ring.tryClaim(2)).toBe(8);
  });
});

describe.each(WAIT_STRATEGY_NAMES)('SPSC stress, %s', (wait) => {
  test('producer and consumer workers: 2 M messages through 1024 slots, published every 16', async () => {
    const count = 2_000_000;
    const slotCount = 1024;
    const { buffer, byteOffset } = spscRegion(slotCount, SPSC_START);
    const consumer = startWorker<ConsumerResult>('./rings-spsc-consumer.ts', { buffer, byteOffset, slotCount, wait, count } satisfies SpscConsumerData);
    const producer = startWorker<ProducerResult>('./rings-spsc-producer.ts',
      { buffer, byteOffset, slotCount, wait, count, publishEvery: 16 } satisfies SpscProducerData);
    await producer.result;
    expectClean((await consumer.result).report, count);
  }, STRESS_TIMEOUT_MS);

  test('producer worker, polling consumer on the test thread: 200 K messages through 8 slots', async () => {
    const count = 200_000;
    const slotCount = 8;
    const { buffer, byteOffset } = spscRegion(slotCount, SPSC_START);
    const producer = startWorker<ProducerResult>('./rings-spsc-producer.ts',
      { buffer, byteOffset, slotCount, wait, count, publishEvery: 3 } satisfies SpscProducerData);
    const ring = new SpscRing(buffer, byteOffset, slotCount, MESSAGE_BYTES, waitStrategyByName(wait));
    const verifier = new SequenceVerifier([count]);
    for (let idle = 0; ;) {
      const n = ring.available();
      if (n > 0) {
        for (let k = 0; k < n; k++) verifier.accept(ring.f64, ring.slotOffset(k) / 8);
        ring.release(n);
        continue;
      }
      if (ring.isClosed() && ring.available() === 0) break;
      if (++idle % POLLS_PER_YIELD === 0) {
        await yieldToEventLoop();
        await throwIfFailed([producer]);
      }
    }
    await producer.result;
    expectClean(verifier.report(), count);
  }, STRESS_TIMEOUT_MS);
});

/**
 * Polls an MPSC ring on the test thread until every worker producer has reported and nothing is left, optionally
 * producing its own messages (as `mainProducerId`) with the non-blocking tryClaim between polls.
 */
async function consumeOnMainThread(
  ring: MpscRing, verifier: SequenceVerifier, producers: RunningWorker<ProducerResult>[],
  own: { producerId: number; count: number; claimSize: number } | null,
): Promise<void> {
  let sent = 0;
  for (let idle = 0; ;) {
    let progressed = false;
    if (own !== null && sent < own.count) {
      const n = Math.min(own.claimSize, own.count - sent);
      const first = ring.tryClaim(n);
      if (first >= 0) {
        for (let i = 0; i < n; i++) writeMessage(ring.f64, ring.slotOffsetOf(first + i) / 8, own.producerId, sent + i);
        ring.publish(first, n);
        sent += n;
        progressed = true;
      }
    }
    const n = ring.availableBatch(64);
    if (n > 0) {
      for (let k = 0; k < n; k++) verifier.accept(ring.f64, ring.slotOffset(k) / 8);
      ring.release(n);
      progressed = true;
    }
    if (progressed) continue;
    if ((own === null || sent === own.count) && producers.every((p) => p.settled()) && ring.availableBatch(64) === 0) break;
    if (++idle % POLLS_PER_YIELD === 0) {
      await yieldToEventLoop();
      await throwIfFailed(producers);
    }
  }
  await Promise.all(producers.map((p) => p.result));
}

describe.each(WAIT_STRATEGY_NAMES)('MPSC stress, %s', (wait) => {
  test(`2 producer workers, polling consumer on the test thread: 2 × ${MPSC_PER_PRODUCER} messages through 8 slots`, async () => {
    const counts = [MPSC_PER_PRODUCER, MPSC_PER_PRODUCER];
    const slotCount = 8;
    const { buffer, byteOffset } = mpscRegion(slotCount, MPSC_START);
    const producers = counts.map((count, producerId) => startWorker<ProducerResult>('./rings-mpsc-producer.ts',
      { buffer, byteOffset, slotCount, wait, producerId, count, claimSize: 1 + producerId * 2 } satisfies MpscProducerData));
    const ring = new MpscRing(buffer, byteOffset, slotCount, MESSAGE_BYTES, waitStrategyByName(wait));
    const verifier = new SequenceVerifier(counts);
    await consumeOnMainThread(ring, verifier, producers, null);
    expectClean(verifier.report(), 2 * MPSC_PER_PRODUCER);
  }, STRESS_TIMEOUT_MS);

  test(`3 producers (2 workers + the test thread with tryClaim), consumer on the test thread: 3 × ${MPSC_PER_PRODUCER / 2} through 8 slots`, async () => {
    const counts = [MPSC_PER_PRODUCER / 2, MPSC_PER_PRODUCER / 2, MPSC_PER_PRODUCER / 2];
    const slotCount = 8;
    const { buffer, byteOffset } = mpscRegion(slotCount, MPSC_START);
    const producers = [0, 1].map((producerId) => startWorker<ProducerResult>('./rings-mpsc-producer.ts',
      { buffer, byteOffset, slotCount, wait, producerId, count: counts[producerId]!, claimSize: 2 } satisfies MpscProducerData));
    const ring = new MpscRing(buffer, byteOffset, slotCount, MESSAGE_BYTES, waitStrategyByName(wait));
    const verifier = new SequenceVerifier(counts);
    await consumeOnMainThread(ring, verifier, producers, { producerId: 2, count: counts[2]!, claimSize: 3 });
    expectClean(verifier.report(), 1.5 * MPSC_PER_PRODUCER);
  }, STRESS_TIMEOUT_MS);

  test(`consumer worker with blocking batches, producers: 1 worker (claim) + the test thread (tryClaim): 2 × ${MPSC_PER_PRODUCER} through 8 slots`, async () => {
    const counts = [MPSC_PER_PRODUCER, MPSC_PER_PRODUCER];
    const slotCount = 8;
    const { buffer, byteOffset } = mpscRegion(slotCount, MPSC_START);
    const consumer = startWorker<ConsumerResult>('./rings-mpsc-consumer.ts',
      { buffer, byteOffset, slotCount, wait, counts, maxBatch: 4 } satisfies MpscConsumerData);
    const producer = startWorker<ProducerResult>('./rings-mpsc-producer.ts',
      { buffer, byteOffset, slotCount, wait, producerId: 0, count: counts[0]!, claimSize: 1 } satisfies MpscProducerData);
    const ring = new MpscRing(buffer, byteOffset, slotCount, MESSAGE_BYTES, waitStrategyByName(wait));
    for (let sent = 0, idle = 0; sent < counts[1]!;) {
      const first = ring.tryClaim();
      if (first >= 0) {
        writeMessage(ring.f64, ring.slotOffsetOf(first) / 8, 1, sent++);
        ring.publish(first);
      } else if (++idle % POLLS_PER_YIELD === 0) {
        await yieldToEventLoop();
        await throwIfFailed([producer, consumer]);
      }
    }
    await producer.result;
    ring.close();
    expectClean((await consumer.result).report, 2 * MPSC_PER_PRODUCER);
  }, STRESS_TIMEOUT_MS);
});
