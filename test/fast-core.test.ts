/**
 * The fast core: the shared scenario suite and property tests (one suite for every engine), then what only this
 * engine has: capacity limits that throw before changing anything, prices outside the tick ladder, the id hash
 * under collisions and huge ids, free-list reuse, and a second view (here and in another thread) over one
 * SharedArrayBuffer seeing and running the same books.
 */
import fc from 'fast-check';
import { startThread } from '../engines/workers/start-thread.ts';
import { endThread } from '../engines/workers/end-thread.ts';
import { describe, expect, it } from 'vitest';
import { EVENT_BYTES } from '../engines/event-record.ts';
import { bytesFor, layoutFor } from '../engines/fast-core-layout.ts';
import { CoreCapacityError, FastCore } from '../engines/fast-core.ts';
import { FastEngine } from '../engines/fast.ts';
import { ReferenceEngine } from '../engines/reference.ts';
import { formatEvent } from '../engines/types.ts';
import type { BookEngine, Command, MatchEvent } from '../engines/types.ts';
import { workloadFromCommands } from '../workloads/workload.ts';
import { describeEngineContract } from './contract/engine-contract.ts';
import { describeEngineProperties } from './contract/engine-properties.ts';

describeEngineContract('fast', (rules) => new FastEngine({ risk: rules }));
// Streams of at most a few hundred commands over three symbols: small capacities keep each engine cheap to create.
describeEngineProperties('fast', (rules) => new FastEngine({ capacities: { maxOrders: 1024, maxSymbols: 8 }, risk: rules }));
describeEngineContract('fast (32-tick ladder)', (rules) => new FastEngine({ capacities: { ladderTicks: 32 }, risk: rules }));

const buy = (id: number, price: number, qty: number, sym = 'X'): Command => ({ op: 'new', sym, id, side: 'buy', type: 'limit', tif: 'gtc', price, qty });
const sell = (id: number, price: number, qty: number, sym = 'X'): Command => ({ op: 'new', sym, id, side: 'sell', type: 'limit', tif: 'gtc', price, qty });
const cancel = (id: number, sym = 'X'): Command => ({ op: 'cancel', sym, id });

function run(engine: BookEngine, commands: readonly Command[], firstSeq = 0): string[] {
  const out: string[] = [];
  commands.forEach((c, i) => engine.process(c, firstSeq + i, (e: MatchEvent) => out.push(formatEvent(e))));
  return out;
}

/** Runs the same commands through the reference engine and expects the same events and hash. */
function expectLikeReference(engine: BookEngine, commands: readonly Command[]): void {
  const reference = new ReferenceEngine();
  expect(run(engine, commands)).toStrictEqual(run(reference, commands));
  expect(engine.bookHash()).toBe(reference.bookHash());
}

function capacityError(f: () => void): CoreCapacityError {
  try {
    f();
  } catch (e) {
    if (e instanceof CoreCapacityError) return e;
    throw e;
  }
  throw new Error('expected a CoreCapacityError');
}

describe('fast core: layout', () => {
  it('reports its capacities and rejects unusable ones with the numbers', () => {
    const core = FastCore.create({ maxOrders: 100, maxSymbols: 3, ladderTicks: 64 });
    expect(core.capacities).toStrictEqual({ maxOrders: 100, maxSymbols: 3, ladderTicks: 64 });
    expect(core.layout.hashSlots).toBe(256);
    expect(core.buffer.byteLength).toBe(bytesFor(core.capacities));
    expect(() => layoutFor({ maxOrders: 0, maxSymbols: 1, ladderTicks: 64 })).toThrow(/maxOrders = 0/);
    expect(() => layoutFor({ maxOrders: 10, maxSymbols: 1, ladderTicks: 100 })).toThrow(/ladderTicks = 100: must be a power of two/);
    expect(() => layoutFor({ maxOrders: 10, maxSymbols: 2 ** 20, ladderTicks: 2 ** 16 })).toThrow(/need \d+ bytes, more than/);
    expect(() => FastCore.create({ maxOrders: 10, maxSymbols: 1, ladderTicks: 64 }, new ArrayBuffer(64))).toThrow(/needs \d+ bytes/);
  });
});

describe('fast core: capacity limits throw before changing anything', () => {
  it('order pool full: a GTC that would rest throws naming maxOrders; the book is unchanged and keeps working', () => {
    const engine = new FastEngine({ capacities: { maxOrders: 3 } });
    run(engine, [buy(1, 100, 5), buy(2, 99, 5), sell(3, 105, 5)]);
    const before = engine.bookHash();
    const error = capacityError(() => run(engine, [buy(4, 98, 5)], 3));
    expect(error.limit).toBe('orders');
    expect(error.message).toMatch(/order pool full \(maxOrders = 3\).*order 4/);
    expect(engine.bookHash()).toBe(before);
    // IOC and fully crossing GTC orders need no slot; a GTC that empties a maker reuses its slot.
    expect(run(engine, [{ op: 'new', sym: 'X', id: 5, side: 'buy', type: 'limit', tif: 'ioc', price: 98, qty: 1 }], 4)).toHaveLength(1);
    expect(run(engine, [sell(6, 99, 8)], 5)).toStrictEqual([
      '{"seq":5,"ev":"fill","sym":"X","taker":6,"maker":1,"price":100,"qty":5,"side":"sell"}',
      '{"seq":5,"ev":"fill","sym":"X","taker":6,"maker":2,"price":99,"qty":3,"side":"sell"}',
    ]);
    expect(run(engine, [cancel(3), buy(7, 98, 5)], 6)).toHaveLength(2);
    expect(engine.core.liveOrders).toBe(2);
  });

  it('symbols: one symbol too many throws naming maxSymbols, from the adapter and from a raw record', () => {
    const engine = new FastEngine({ capacities: { maxSymbols: 2 } });
    run(engine, [buy(1, 100, 5, 'A'), buy(1, 100, 5, 'B')]);
    const error = capacityError(() => run(engine, [buy(1, 100, 5, 'C')]));
    expect(error.limit).toBe('symbols');
    expect(error.message).toMatch(/"C".*maxSymbols = 2/);
    const workload = workloadFromCommands([buy(1, 100, 5, 'A'), buy(1, 100, 5, 'B'), buy(1, 100, 5, 'C')]);
    const core = FastCore.create({ maxOrders: 8, maxSymbols: 2, ladderTicks: 32 });
    core.setEventOutput(new ArrayBuffer(8 * EVENT_BYTES), 0, 8);
    expect(core.processRecord(workload.bytes, workload.f64, 0, 0)).toBe(1);
    expect(() => core.processRecord(workload.bytes, workload.f64, 2, 2)).toThrow(/symbol index 2, outside maxSymbols = 2/);
  });

  it('events per command: a sweep needing more records than the output holds throws; the book is unchanged', () => {
    const engine = new FastEngine({ capacities: { maxEventsPerCommand: 4 } });
    run(engine, [sell(1, 100, 1), sell(2, 101, 1), sell(3, 102, 1), sell(4, 103, 1), buy(9, 90, 1)]);
    const before = engine.bookHash();
    const sweep: Command = { op: 'new', sym: 'X', id: 5, side: 'buy', type: 'market', qty: 4 };
    const error = capacityError(() => run(engine, [sweep], 5));
    expect(error.limit).toBe('events');
    expect(error.message).toMatch(/needs up to 5 event records but the output region has 4 of 4 free/);
    expect(engine.bookHash()).toBe(before);
    // A modify that re-enters and sweeps also needs its `modified`: 1 + 3 fills + 1 > 4.
    expect(capacityError(() => run(engine, [{ op: 'modify', sym: 'X', id: 9, price: 102, qty: 3 }], 6)).limit).toBe('events');
    expect(engine.bookHash()).toBe(before);
    expect(run(engine, [{ op: 'new', sym: 'X', id: 6, side: 'buy', type: 'market', qty: 3 }], 7)).toHaveLength(3);
  });

  it('a missing or full output region is refused before the command runs', () => {
    const core = FastCore.create({ maxOrders: 8, maxSymbols: 1, ladderTicks: 32 });
    const workload = workloadFromCommands([buy(1, 100, 5), buy(2, 100, 5)]);
    expect(() => core.processRecord(workload.bytes, workload.f64, 0, 0)).toThrow(/no event output region before seq 0/);
    expect(core.liveOrders).toBe(0);
    core.setEventOutput(new ArrayBuffer(EVENT_BYTES), 0, 1);
    expect(core.processRecord(workload.bytes, workload.f64, 0, 0)).toBe(1);
    expect(() => core.processRecord(workload.bytes, workload.f64, 1, 1)).toThrow(/event output full \(1 records\) before seq 1/);
    core.outCursor = 0;
    expect(core.processRecord(workload.bytes, workload.f64, 1, 1)).toBe(1);
    expect(core.liveOrders).toBe(2);
  });
});

describe('fast core: prices outside the tick ladder', () => {
  it('levels far outside the window keep exact price-time priority on both sides', () => {
    const commands: Command[] = [
      buy(1, 1000, 5), buy(2, 10, 5), buy(3, 2 ** 40, 5), buy(4, 1010, 5), buy(5, 5, 5), buy(6, 10, 5), buy(7, 1_000_000, 5),
      sell(8, 2 ** 41, 5), sell(9, 2 ** 41 + 64, 5), sell(10, 2 ** 42, 5),
      { op: 'new', sym: 'X', id: 11, side: 'sell', type: 'market', qty: 22 },
      { op: 'modify', sym: 'X', id: 6, price: 2 ** 41 + 64, qty: 12 },
      { op: 'new', sym: 'X', id: 12, side: 'buy', type: 'limit', tif: 'fok', price: 2 ** 42, qty: 5 },
      buy(13, 2 ** 42 - 1, 1), cancel(2), cancel(5),
    ];
    const engine = new FastEngine({ capacities: { ladderTicks: 32 } });
    expectLikeReference(engine, commands);
    expect(engine.l2('X', 10)).toStrictEqual({ bids: [[2 ** 42 - 1, 1], [2 ** 41 + 64, 2]], asks: [] });
  });

  it('re-centres the ladder when out-of-window levels pile up, and an empty book re-centres on its next order', () => {
    const engine = new FastEngine({ capacities: { ladderTicks: 32 } });
    const commands: Command[] = [buy(1, 100, 1)];
    // The touch drifts far above the first window: 80 bid levels, each above the last.
    for (let i = 0; i < 80; i++) commands.push(buy(10 + i, 10_000 + i, 1));
    for (let i = 0; i < 10; i++) commands.push(sell(200 + i, 10_100 + i, 1));
    expectLikeReference(engine, commands);
    // After re-centring on the touch, only levels far from it stay outside (the 100 and the deep bids).
    expect(engine.core.outsideLevels(0)).toBeLessThan(70);
    expect(engine.core.levelCount(0)).toBe(91);
    const clear: Command[] = [...commands.filter((c) => c.op === 'new').map((c) => cancel(c.id))];
    run(engine, clear, commands.length);
    expect(engine.core.levelCount(0)).toBe(0);
    expect(engine.core.outsideLevels(0)).toBe(0);
    run(engine, [sell(1, 5_000_000, 1), sell(2, 5_000_010, 1)], 1000);
    expect(engine.core.outsideLevels(0)).toBe(0);
  });
});

describe('fast core: id hash and order pool', () => {
  it('colliding and huge ids in a 16-slot table agree with a Map after every insert and delete', () => {
    const HI = 2 ** 32;
    const ids = [1, 2, 1 + HI, 2 + HI, 1 + 2 * HI, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER - 1, 2 ** 52, 7, 7 + 1024 * HI];
    const op = fc.record({ add: fc.boolean(), id: fc.constantFrom(...ids), sym: fc.constantFrom('P', 'Q') });
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 120, size: 'max' }), (ops) => {
        const engine = new FastEngine({ symbols: ['P', 'Q'], capacities: { maxOrders: 8, maxSymbols: 2 } });
        const live = new Map<string, number>();
        ops.forEach(({ add, id, sym }, seq) => {
          const key = `${sym}/${id}`;
          if (add && live.size < 8 && !live.has(key)) {
            run(engine, [buy(id, 100, 1 + (seq % 5), sym)], seq);
            live.set(key, 1 + (seq % 5));
          } else if (!add) {
            const events = run(engine, [cancel(id, sym)], seq);
            expect(events[0]).toContain(live.has(key) ? '"ev":"cancelled"' : '"unknown_order"');
            live.delete(key);
          }
          for (const s of ['P', 'Q']) {
            for (const i of ids) {
              const slot = engine.core.orderSlot(s === 'P' ? 0 : 1, i);
              expect(slot === -1 ? undefined : engine.core.qtyOf(slot), `${s}/${i} after op ${seq}`).toBe(live.get(`${s}/${i}`));
            }
          }
        });
      }),
      { numRuns: 100 },
    );
  });

  it('the same id lives independently in two symbols, and ids differing only in the high 32 bits are distinct', () => {
    const engine = new FastEngine();
    expectLikeReference(engine, [
      buy(5, 100, 1, 'A'), buy(5, 100, 2, 'B'), buy(5 + 2 ** 32, 100, 3, 'A'), buy(5 + 2 ** 33, 100, 4, 'A'),
      cancel(5, 'A'), { op: 'reduce', sym: 'A', id: 5 + 2 ** 32, qty: 1 }, cancel(5, 'A'), cancel(5, 'B'),
    ]);
  });

  it('freed order slots are reused (LIFO free list), so a full pool can turn over forever', () => {
    const engine = new FastEngine({ capacities: { maxOrders: 4 } });
    run(engine, [buy(1, 100, 1), buy(2, 101, 1), buy(3, 102, 1), buy(4, 103, 1)]);
    const slot2 = engine.core.orderSlot(0, 2);
    run(engine, [cancel(2), buy(50, 99, 1)], 4);
    expect(engine.core.orderSlot(0, 50)).toBe(slot2);
    let seq = 6;
    for (let round = 0; round < 1000; round++) {
      const id = 1000 + round;
      expect(run(engine, [cancel(round === 0 ? 50 : id - 1), buy(id, 90 + (round % 7), 1)], seq)).toHaveLength(2);
      seq += 2;
    }
    expect(engine.core.liveOrders).toBe(4);
    expect(engine.core.liveLevels).toBe(4);
  });
});

describe('fast core: one book in a SharedArrayBuffer, several views', () => {
  const commands: Command[] = [buy(1, 100, 5), buy(2, 100, 3), sell(3, 103, 4), sell(4, 120, 2), { op: 'reduce', sym: 'X', id: 2, qty: 1 }];

  function walk(core: FastCore): string {
    const parts: string[] = [];
    for (const side of [1, 2]) {
      for (let level = core.bestLevel(0, side); level !== -1; level = core.worseLevel(level)) {
        parts.push(`${side}@${core.priceOf(level)}`);
        for (let o = core.headOrder(level); o !== -1; o = core.nextOrder(o)) parts.push(`${core.idOf(o)}x${core.qtyOf(o)}`);
      }
    }
    return parts.join(' ');
  }

  it('a second view attached to the same SAB sees the same book, and a command through it is seen by the first', () => {
    const capacities = { maxOrders: 64, maxSymbols: 1, ladderTicks: 32 };
    const offset = 256;
    const sab = new SharedArrayBuffer(offset + bytesFor(capacities));
    const first = FastCore.create(capacities, sab, offset);
    const out = new SharedArrayBuffer(16 * EVENT_BYTES);
    first.setEventOutput(out, 0, 16);
    const workload = workloadFromCommands([...commands, sell(5, 100, 6)]);
    for (let i = 0; i < commands.length; i++) first.processRecord(workload.bytes, workload.f64, i, i);
    const second = FastCore.attach(sab, offset);
    expect(second.capacities).toStrictEqual(capacities);
    expect(walk(second)).toBe(walk(first));
    expect(walk(second)).toBe('1@100 1x5 2x2 2@103 3x4 2@120 4x2');
    second.setEventOutput(out, 8 * EVENT_BYTES, 8);
    expect(second.processRecord(workload.bytes, workload.f64, commands.length, commands.length)).toBe(2);
    expect(walk(first)).toBe('1@100 2x1 2@103 3x4 2@120 4x2');
    expect(first.liveOrders).toBe(3);
  });

  it('attach refuses a region that holds no initialised core', () => {
    expect(() => FastCore.attach(new SharedArrayBuffer(4096), 0)).toThrow(/no initialised core at byte offset 0/);
    expect(() => FastCore.attach(new SharedArrayBuffer(4096), 4)).toThrow(/byte offset 4/);
  });

  it('a worker thread attaches to the same SAB and runs a command the main thread then sees', async () => {
    const capacities = { maxOrders: 64, maxSymbols: 1, ladderTicks: 32 };
    const sab = new SharedArrayBuffer(bytesFor(capacities));
    const core = FastCore.create(capacities, sab);
    core.setEventOutput(new ArrayBuffer(16 * EVENT_BYTES), 0, 16);
    const workload = workloadFromCommands([...commands, sell(5, 100, 6)]);
    for (let i = 0; i < commands.length; i++) core.processRecord(workload.bytes, workload.f64, i, i);
    const records = new SharedArrayBuffer(workload.records.byteLength);
    new Uint8Array(records).set(workload.bytes);
    const coreUrl = new URL('../engines/fast-core.ts', import.meta.url).href;
    const source = `
      const { parentPort, workerData } = require('node:worker_threads');
      import(workerData.coreUrl).then(({ FastCore }) => {
        const core = FastCore.attach(workerData.sab, 0);
        const out = new ArrayBuffer(16 * 48);
        core.setEventOutput(out, 0, 16);
        const n = core.processRecord(new Uint8Array(workerData.records), new Float64Array(workerData.records), workerData.index, workerData.index);
        parentPort.postMessage({ n, live: core.liveOrders });
      });`;
    const worker = startThread(source, { eval: true, workerData: { sab, records, coreUrl, index: commands.length } });
    const reply = await new Promise<{ n: number; live: number }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    await endThread(worker);
    expect(reply).toStrictEqual({ n: 2, live: 3 });
    expect(walk(core)).toBe('1@100 2x1 2@103 3x4 2@120 4x2');
  });
});
