/**
 * The synthetic generator: determinism, and each preset's documented property, checked by replaying the workload
 * through the reference engine and counting what happened to the orders.
 */
import { describe, expect, it } from 'vitest';
import { ReferenceEngine } from '../engines/reference.ts';
import type { MatchEvent } from '../engines/types.ts';
import { CLOCK_START_US, generateWorkload, PRESETS, findPreset } from '../workloads/generator.ts';
import { Prng } from '../workloads/prng.ts';
import type { Workload } from '../workloads/workload.ts';

function sameBytes(a: Workload, b: Workload): boolean {
  return Buffer.from(a.records).equals(Buffer.from(b.records)) && JSON.stringify(a.symbols) === JSON.stringify(b.symbols) && JSON.stringify(a.provenance) === JSON.stringify(b.provenance);
}

interface ReplaySummary {
  newOrders: number;
  /** Distinct orders (symbol, id) that left the book by a user cancel or a reduce to zero. */
  userCancelled: number;
  /** Orders resting when the stream ends (tracked from events, independently of the engine's internals). */
  resting: number;
  events: Record<string, number>;
  rejects: Record<string, number>;
  /** cancel/reduce/modify commands, and how many of them met an order that was not live. */
  targeted: number;
  targetedMissed: number;
  /** IOC/FOK/market orders that traded, and the price levels they walked in total. */
  takersThatTraded: number;
  levelsWalked: number;
}

function replay(workload: Workload): ReplaySummary {
  const engine = new ReferenceEngine();
  const live = new Map<string, { price: number; qty: number }>();
  const summary: ReplaySummary = { newOrders: 0, userCancelled: 0, resting: 0, events: {}, rejects: {}, targeted: 0, targetedMissed: 0, takersThatTraded: 0, levelsWalked: 0 };
  let prices = new Set<number>();
  let unknown = false;
  const emit = (e: MatchEvent): void => {
    summary.events[e.ev] = (summary.events[e.ev] ?? 0) + 1;
    switch (e.ev) {
      case 'rested':
        live.set(`${e.sym}\u0000${e.id}`, { price: e.price, qty: e.qty });
        return;
      case 'fill': {
        prices.add(e.price);
        const key = `${e.sym}\u0000${e.maker}`;
        const maker = live.get(key)!;
        maker.qty -= e.qty;
        if (maker.qty === 0) live.delete(key);
        return;
      }
      case 'cancelled':
        if (e.reason === 'user') {
          live.delete(`${e.sym}\u0000${e.id}`);
          summary.userCancelled++;
        }
        return;
      case 'reduced':
        live.get(`${e.sym}\u0000${e.id}`)!.qty = e.qty;
        return;
      case 'modified': {
        const key = `${e.sym}\u0000${e.id}`;
        const order = live.get(key)!;
        if (e.price === order.price && e.qty <= order.qty) order.qty = e.qty;
        else live.delete(key);
        return;
      }
      case 'rejected':
        summary.rejects[e.reason] = (summary.rejects[e.reason] ?? 0) + 1;
        if (e.reason === 'unknown_order') unknown = true;
        return;
    }
  };
  for (let i = 0; i < workload.count; i++) {
    const c = workload.command(i);
    prices = new Set();
    unknown = false;
    engine.process(c, i, emit);
    if (c.op === 'new') summary.newOrders++;
    if (c.op === 'cancel' || c.op === 'reduce' || c.op === 'modify') {
      summary.targeted++;
      if (unknown) summary.targetedMissed++;
    }
    if (c.op === 'new' && (c.type === 'market' || c.tif !== 'gtc') && prices.size > 0) {
      summary.takersThatTraded++;
      summary.levelsWalked += prices.size;
    }
  }
  summary.resting = live.size;
  return summary;
}

describe('determinism', () => {
  it('the same seed gives the byte-identical workload', () => {
    for (const preset of PRESETS) {
      const a = generateWorkload({ preset: preset.name, seed: 42, count: 3_000 });
      const b = generateWorkload({ preset: preset.name, seed: 42, count: 3_000 });
      expect(sameBytes(a, b)).toBe(true);
    }
  });

  it('a different seed gives a different workload', () => {
    const a = generateWorkload({ preset: 'balanced', seed: 1, count: 3_000 });
    const b = generateWorkload({ preset: 'balanced', seed: 2, count: 3_000 });
    expect(Buffer.from(a.records).equals(Buffer.from(b.records))).toBe(false);
  });

  it('a shorter run is a prefix of a longer one with the same seed', () => {
    const short = generateWorkload({ preset: 'sweep', seed: 8, count: 1_000 });
    const long = generateWorkload({ preset: 'sweep', seed: 8, count: 2_000 });
    expect(Buffer.from(long.records, 0, short.records.byteLength).equals(Buffer.from(short.records))).toBe(true);
  });

  it('the PRNG gives a fixed sequence for a seed (pinned, so a change to it is noticed)', () => {
    const rng = new Prng(1);
    expect([rng.nextU32(), rng.nextU32(), rng.nextU32()]).toEqual(PRNG_SEED_1);
    const big = new Prng(2 ** 40 + 1);
    expect(big.nextU32()).not.toBe(new Prng(1).nextU32());
  });

  it('records the preset, seed, count, ops and params in the provenance', () => {
    const w = generateWorkload({ preset: 'deep-book', seed: 5, count: 10, ops: 'peer' });
    expect(w.provenance).toMatchObject({ preset: 'deep-book', seed: 5, count: 10, ops: 'peer', params: findPreset('deep-book').params });
  });
});

/**
 * xoshiro128** seeded through splitmix32 with seed 1: the first three outputs, computed by an independent Python
 * transcription of the published algorithms (arbitrary-precision ints masked to 32 bits).
 */
const PRNG_SEED_1 = [2_442_144_158, 3_238_099_751, 3_819_917_871];

describe('every preset', () => {
  for (const preset of PRESETS) {
    it(`${preset.name}: ids are positive safe integers, not dense; cancels, reduces and modifies mostly hit live orders`, () => {
      const workload = generateWorkload({ preset: preset.name, seed: 21, count: 20_000 });
      const idsBySymbol = new Map<string, number[]>();
      for (let i = 0; i < workload.count; i++) {
        const c = workload.command(i);
        if (c.op === 'clock') throw new Error(`command ${i}: the generator emitted a clock without being asked to`);
        expect(Number.isSafeInteger(c.id) && c.id > 0).toBe(true);
        if (c.op === 'new') (idsBySymbol.get(c.sym) ?? idsBySymbol.set(c.sym, []).get(c.sym)!).push(c.id);
      }
      // Within a symbol, consecutive ids (in sorted order) mostly leave gaps.
      let steps = 0;
      let gaps = 0;
      for (const ids of idsBySymbol.values()) {
        ids.sort((a, b) => a - b);
        for (let i = 1; i < ids.length; i++, steps++) if (ids[i]! - ids[i - 1]! > 1) gaps++;
      }
      expect(gaps).toBeGreaterThan(0.5 * steps);
      const summary = replay(workload);
      expect(summary.rejects['duplicate_id'] ?? 0).toBe(0);
      expect(summary.targetedMissed).toBeLessThanOrEqual(0.05 * summary.targeted);
    });
  }

  it("ops 'peer' emits only new limit gtc/ioc/fok, new market and cancel", () => {
    for (const preset of PRESETS) {
      const workload = generateWorkload({ preset: preset.name, seed: 4, count: 5_000, ops: 'peer' });
      const ops = new Set([...workload.commands()].map((c) => c.op));
      expect([...ops].every((op) => op === 'new' || op === 'cancel')).toBe(true);
    }
    const all = new Set([...generateWorkload({ preset: 'balanced', seed: 4, count: 5_000 }).commands()].map((c) => c.op));
    expect(all).toEqual(new Set(['new', 'cancel', 'reduce', 'modify']));
  });
});

describe('preset properties', () => {
  it('balanced: every command kind and order type appears, most orders are cancelled, some trade', () => {
    const workload = generateWorkload({ preset: 'balanced', seed: 1, count: 60_000 });
    const kinds = new Set<string>();
    for (const c of workload.commands()) kinds.add(c.op === 'new' ? `${c.type}/${c.tif ?? '-'}` : c.op);
    expect(kinds).toEqual(new Set(['limit/gtc', 'limit/ioc', 'limit/fok', 'market/-', 'cancel', 'reduce', 'modify']));
    const summary = replay(workload);
    expect(summary.userCancelled / summary.newOrders).toBeGreaterThan(0.5);
    expect(summary.events['fill']!).toBeGreaterThan(0.05 * summary.newOrders);
    expect(summary.events['modified']!).toBeGreaterThan(0);
    expect(summary.rejects['unknown_order']!).toBeGreaterThan(0);
  });

  it('cancel-heavy: at least 90% of orders are cancelled', () => {
    const summary = replay(generateWorkload({ preset: 'cancel-heavy', seed: 1 }));
    expect(summary.userCancelled / summary.newOrders).toBeGreaterThanOrEqual(0.9);
  });

  it('sweep: aggressive orders walk many levels', () => {
    const summary = replay(generateWorkload({ preset: 'sweep', seed: 1, count: 60_000 }));
    expect(summary.takersThatTraded).toBeGreaterThan(500);
    expect(summary.levelsWalked / summary.takersThatTraded).toBeGreaterThanOrEqual(8);
    expect(summary.events['fill']! / summary.takersThatTraded).toBeGreaterThanOrEqual(20);
    expect(summary.events['cancelled']).toBeGreaterThan(0);
  });

  it('many-symbols: thousands of symbols with skewed popularity', () => {
    const workload = generateWorkload({ preset: 'many-symbols', seed: 1, count: 100_000 });
    const perSymbol = new Map<number, number>();
    for (let i = 0; i < workload.count; i++) perSymbol.set(workload.symIndex(i), (perSymbol.get(workload.symIndex(i)) ?? 0) + 1);
    expect(perSymbol.size).toBeGreaterThanOrEqual(1_000);
    const counts = [...perSymbol.values()].sort((a, b) => b - a);
    const top1Percent = counts.slice(0, Math.ceil(counts.length / 100)).reduce((s, n) => s + n, 0);
    expect(top1Percent / workload.count).toBeGreaterThan(0.25);
    expect(counts[0]!).toBeGreaterThan(100 * counts[Math.floor(counts.length / 2)]!);
  });

  it('many-symbols: the same id is live in several symbols at once', () => {
    const workload = generateWorkload({ preset: 'many-symbols', seed: 1, count: 20_000 });
    const symbolsPerId = new Map<number, Set<string>>();
    for (const c of workload.commands()) if (c.op === 'new') (symbolsPerId.get(c.id) ?? symbolsPerId.set(c.id, new Set()).get(c.id)!).add(c.sym);
    expect(Math.max(...[...symbolsPerId.values()].map((s) => s.size))).toBeGreaterThan(1);
  });

  it('deep-book: tens of thousands of orders rest when the stream ends', () => {
    const summary = replay(generateWorkload({ preset: 'deep-book', seed: 1 }));
    expect(summary.resting).toBeGreaterThanOrEqual(20_000);
  });
});

describe('clocks at a configured rate', () => {
  it('a clock before every N-th command, 1 ms apart, on top of count; without the option the workload is unchanged', () => {
    const plain = generateWorkload({ preset: 'balanced', seed: 4, count: 1000 });
    const clocked = generateWorkload({ preset: 'balanced', seed: 4, count: 1000, clockEvery: 100 });
    expect(clocked.count).toBe(1010);
    expect(clocked.provenance).toEqual({ ...plain.provenance, clockEvery: 100 });
    const clocks = [...clocked.commands()].flatMap((c, i) => (c.op === 'clock' ? [[i, c.ts]] : []));
    expect(clocks).toEqual(Array.from({ length: 10 }, (_, k) => [k * 101, CLOCK_START_US + k * 1000]));
    // The orders are the plain workload's, in its order: clocks only interleave.
    expect([...clocked.commands()].filter((c) => c.op !== 'clock')).toEqual([...plain.commands()]);
    expect(Buffer.from(generateWorkload({ preset: 'balanced', seed: 4, count: 1000, clockEvery: 0 }).records).equals(Buffer.from(plain.records))).toBe(true);
    expect(() => generateWorkload({ preset: 'balanced', seed: 4, count: 10, clockEvery: 1.5 })).toThrow('clock-every must be a non-negative integer, got 1.5');
  });
});
