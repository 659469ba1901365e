/**
 * The harness end to end on a tiny workload: every design, with 1 and 2 producers (where it supports them), in
 * closed loop and open loop, passes the equivalence check, measures every command, and records one sequence per
 * sequencer. Every run after the first takes its event logs' buffers from the ones earlier runs gave back (still
 * holding their records), which must not change what the checker sees. Designs with engine threads use spin-then-wait so idle threads sleep on a small CI machine; nothing
 * here asserts a time.
 */
import { describe, expect, it } from 'vitest';
import { DESIGNS, resolveParams } from '../engines/designs.ts';
import type { EngineDesign, ParamValue } from '../engines/engine.ts';
import { capacitiesForWorkload } from '../engines/fast.ts';
import { generateWorkload } from '../workloads/generator.ts';
import { capacitiesForSplits } from '../harness/capacity.ts';
import { checkEquivalence } from '../harness/equivalence.ts';
import { EventLogBuffers } from '../harness/event-log.ts';
import { preparePreset } from '../harness/prepared-workload.ts';
import { ReferenceTraceCache } from '../harness/reference-trace.ts';
import type { LoopMode } from '../harness/results-schema.ts';
import { runOnce } from '../harness/run.ts';
import { splitWorkload } from '../harness/split.ts';

const COUNT = 2000;
const prepared = preparePreset({ preset: 'many-symbols', seed: 3, count: COUNT });
const traces = new ReferenceTraceCache();
const logBuffers = new EventLogBuffers();

function params(design: EngineDesign): Record<string, ParamValue> {
  const given: Record<string, ParamValue> = {};
  if (design.params.some((p) => p.name === 'wait')) given['wait'] = 'spin-then-wait';
  if (design.params.some((p) => p.name === 'batch') && design.name === 'channel') given['batch'] = 16;
  return given;
}

const modes: Array<{ mode: LoopMode; rate: number | null }> = [{ mode: 'closed', rate: null }, { mode: 'open', rate: 200_000 }];

for (const design of DESIGNS) {
  describe(`harness run: ${design.name}`, () => {
    const resolved = resolveParams(design, params(design));
    for (const producers of [1, 2].filter((p) => p <= design.maxProducers(resolved))) {
      for (const { mode, rate } of modes) {
        it(`${producers} producer(s), ${mode} loop: every command measured, events equivalent to the reference`, async () => {
          const split = splitWorkload(prepared.shared.records, COUNT, producers, 'order');
          const outcome = await runOnce({ design, params: resolved, workload: prepared, split, mode, rate, warmup: 200, logBuffers });
          const verdict = checkEquivalence({
            workload: prepared.workload, workloadKey: prepared.identity.hash, split, logs: outcome.logs, run: outcome.sequenced, traces,
          });
          expect(verdict.failure).toBeNull();
          logBuffers.give(outcome.logs);
          expect(outcome.commands).toBe(COUNT - 200 * producers);
          expect(outcome.latency.count).toBe(outcome.commands);
          expect(outcome.throughput).toBeGreaterThan(0);
          const sequencers = design.name === 'sharded' ? (resolved['shards'] as number) : 1;
          expect(outcome.sequenced.sequences).toHaveLength(sequencers);
          if (producers === 1 && sequencers === 1) {
            expect(Array.from(outcome.sequenced.sequences[0]!)).toStrictEqual(Array.from({ length: COUNT }, (_, i) => i));
          }
        });
      }
    }
  });
}

it('refuses more producers than a design supports, and an open loop without a rate', async () => {
  const inline = DESIGNS.find((d) => d.name === 'inline')!;
  const two = splitWorkload(prepared.shared.records, COUNT, 2, 'round-robin');
  await expect(runOnce({ design: inline, params: {}, workload: prepared, split: two, mode: 'closed', rate: null, warmup: 0 })).rejects.toThrow(/at most 1 producer/);
  const one = splitWorkload(prepared.shared.records, COUNT, 1, 'round-robin');
  await expect(runOnce({ design: inline, params: {}, workload: prepared, split: one, mode: 'open', rate: null, warmup: 0 })).rejects.toThrow(/positive rate/);
});

describe('workload splits and core sizing', () => {
  it('every rule gives each command to exactly one producer, in workload order; order keeps an order in one producer', () => {
    for (const rule of ['order', 'symbol', 'round-robin'] as const) {
      const split = splitWorkload(prepared.shared.records, COUNT, 3, rule);
      const seen = new Uint8Array(COUNT);
      split.streams.forEach((stream, p) => {
        for (let k = 0; k < stream.length; k++) {
          expect(split.producerOf[stream[k]!]).toBe(p);
          if (k > 0) expect(stream[k]!).toBeGreaterThan(stream[k - 1]!);
          seen[stream[k]!]!++;
        }
      });
      expect(seen.every((n) => n === 1)).toBe(true);
    }
    const byOrder = splitWorkload(prepared.shared.records, COUNT, 3, 'order');
    const owner = new Map<string, number>();
    for (let i = 0; i < COUNT; i++) {
      const command = prepared.workload.command(i);
      if (command.op === 'clock') throw new Error(`command ${i}: a clock in a generated workload`);
      const key = `${command.sym}/${command.id}`;
      expect(owner.get(key) ?? byOrder.producerOf[i]).toBe(byOrder.producerOf[i]);
      owner.set(key, byOrder.producerOf[i]!);
    }
  });

  it('sizes the core for the books a split can build: round-robin needs more than the workload order', () => {
    const sweep = generateWorkload({ preset: 'sweep', seed: 2, count: 20_000 });
    const one = capacitiesForSplits(sweep, [splitWorkload(sweep.records, sweep.count, 1, 'round-robin')]);
    const two = capacitiesForSplits(sweep, [splitWorkload(sweep.records, sweep.count, 2, 'round-robin')]);
    expect(one.maxOrders).toBe(capacitiesForWorkload(sweep).maxOrders);
    expect(two.maxOrders).toBeGreaterThan(one.maxOrders);
  });
});

describe('event log buffers', () => {
  it('hands back the smallest spare that fits, makes a new one when none does, and keeps at most its byte limit', () => {
    const buffers = new EventLogBuffers();
    const big = buffers.take(4096);
    const small = buffers.take(1024);
    expect(big.byteLength).toBe(4096);
    buffers.give([{ buffer: big, length: 0 }, { buffer: small, length: 0 }]);
    expect(buffers.take(1000)).toBe(small);
    expect(buffers.take(1000)).toBe(big);
    const fresh = buffers.take(1000);
    expect(fresh).not.toBe(small);
    expect(fresh.byteLength).toBe(1000);
    const limit = EventLogBuffers.MAX_SPARE_BYTES;
    const huge = { buffer: new ArrayBuffer(limit / 2 + 8), length: 0 };
    const other = { buffer: new ArrayBuffer(limit / 2 + 8), length: 0 };
    buffers.give([huge]);
    buffers.give([other]);
    // Together they exceed the limit: only the most recently given is kept.
    expect(buffers.take(16)).toBe(other.buffer);
    expect(buffers.take(16)).not.toBe(huge.buffer);
  });

  it('a run takes the buffer the previous run gave back, and its log reads the same', async () => {
    const inline = DESIGNS.find((d) => d.name === 'inline')!;
    const split = splitWorkload(prepared.shared.records, COUNT, 1, 'order');
    const buffers = new EventLogBuffers();
    const first = await runOnce({ design: inline, params: {}, workload: prepared, split, mode: 'closed', rate: null, warmup: 0, logBuffers: buffers });
    const firstBytes = new Uint8Array(first.logs[0]!.buffer.slice(0, first.logs[0]!.length * 48));
    const given = first.logs[0]!.buffer;
    const givenBytes = given.byteLength;
    buffers.give(first.logs);
    const second = await runOnce({ design: inline, params: {}, workload: prepared, split, mode: 'closed', rate: null, warmup: 0, logBuffers: buffers });
    expect(given.byteLength).toBe(0); // transferred to the second run's producer, and back with its log
    expect(second.logs[0]!.buffer.byteLength).toBe(givenBytes);
    expect(new Uint8Array(second.logs[0]!.buffer, 0, second.logs[0]!.length * 48)).toStrictEqual(firstBytes);
    const verdict = checkEquivalence({ workload: prepared.workload, workloadKey: prepared.identity.hash, split, logs: second.logs, run: second.sequenced, traces });
    expect(verdict.failure).toBeNull();
  });
});
