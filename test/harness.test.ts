/**
 * The harness end to end on a tiny workload: every design, with 1 and 2 producers (where it supports them), in
 * closed loop and open loop, passes the equivalence check, measures every command, and records one sequence per
 * sequencer. Designs with engine threads use spin-then-wait so idle threads sleep on a small CI machine; nothing
 * here asserts a time.
 */
import { describe, expect, it } from 'vitest';
import { DESIGNS, resolveParams } from '../engines/designs.ts';
import type { EngineDesign, ParamValue } from '../engines/engine.ts';
import { capacitiesForWorkload } from '../engines/fast.ts';
import { generateWorkload } from '../workloads/generator.ts';
import { capacitiesForSplits } from '../harness/capacity.ts';
import { checkEquivalence } from '../harness/equivalence.ts';
import { preparePreset } from '../harness/prepared-workload.ts';
import { ReferenceTraceCache } from '../harness/reference-trace.ts';
import type { LoopMode } from '../harness/results-schema.ts';
import { runOnce } from '../harness/run.ts';
import { splitWorkload } from '../harness/split.ts';

const COUNT = 2000;
const prepared = preparePreset({ preset: 'many-symbols', seed: 3, count: COUNT });
const traces = new ReferenceTraceCache();

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
          const outcome = await runOnce({ design, params: resolved, workload: prepared, split, mode, rate, warmup: 200 });
          const verdict = checkEquivalence({
            workload: prepared.workload, workloadKey: prepared.identity.hash, split, logs: outcome.logs, run: outcome.sequenced, traces,
          });
          expect(verdict.failure).toBeNull();
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
