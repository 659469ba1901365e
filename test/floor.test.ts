/**
 * The floor compare measures beside the designs: the `noop` harness floor (every command completed exactly once, in
 * order, through the real producer threads), the jitter probe's recorder and open-loop floor math on synthetic clock
 * readings, the probe thread itself, and the reading of a design's tail against the floor. Nothing here asserts a
 * time the machine takes.
 */
import * as hdr from 'hdr-histogram-js';
import { describe, expect, it } from 'vitest';
import { writeCompletionRecord } from '../engines/completion-record.ts';
import { DESIGNS, HARNESS_FLOOR } from '../engines/designs.ts';
import { EVENT_BYTES } from '../engines/event-record.ts';
import { checkCompletions } from '../harness/completion-check.ts';
import { EventLog } from '../harness/event-log.ts';
import { floorOf, tailSetBy } from '../harness/floor.ts';
import { latencyHistogram, percentilesOf } from '../harness/histogram.ts';
import { NsRecorder, openLoopFloorOf, runJitterProbe } from '../harness/jitter-probe.ts';
import { preparePreset } from '../harness/prepared-workload.ts';
import type { FloorResults, LatencyPercentiles, LoopMode, RunResult } from '../harness/results-schema.ts';
import { runOnce } from '../harness/run.ts';
import { splitWorkload } from '../harness/split.ts';

const COUNT = 3000;
const prepared = preparePreset({ preset: 'balanced', seed: 5, count: COUNT });

describe('noop, the harness floor', () => {
  it('is not one of the designs (gate, contract suite and design loops leave it out) but is found by name', () => {
    expect(DESIGNS.map((d) => d.name)).not.toContain('noop');
    expect(HARNESS_FLOOR.name).toBe('noop');
  });

  const modes: Array<{ mode: LoopMode; rate: number | null }> = [{ mode: 'closed', rate: null }, { mode: 'open', rate: 200_000 }];
  for (const producers of [1, 2]) {
    for (const { mode, rate } of modes) {
      it(`${producers} producer(s), ${mode} loop: every command completed exactly once, in order, with no event`, async () => {
        const split = splitWorkload(prepared.shared.records, COUNT, producers, 'round-robin');
        const outcome = await runOnce({ design: HARNESS_FLOOR, params: {}, workload: prepared, split, mode, rate, warmup: 100 });
        expect(checkCompletions(split, outcome.logs)).toMatchObject({ ok: true, failure: null, commands: COUNT, events: 0 });
        expect(outcome.logs.reduce((n, log) => n + log.length, 0)).toBe(COUNT);
        expect(outcome.events).toBe(0);
        expect(outcome.commands).toBe(COUNT - 100 * producers);
        expect(outcome.latency.count).toBe(outcome.commands);
        expect(outcome.cpuNs).toBeGreaterThan(0);
        expect(outcome.cpuWindowNs).toBeGreaterThan(0);
      });
    }
  }

  it('the completion check names a lost, repeated or reordered completion', () => {
    const split = splitWorkload(prepared.shared.records, 6, 1, 'round-robin');
    const logOf = (indexes: readonly number[]) => {
      const records = new ArrayBuffer(indexes.length * EVENT_BYTES);
      indexes.forEach((index, i) => writeCompletionRecord(new Uint32Array(records), new Float64Array(records), i, index));
      const log = new EventLog(16);
      log.appendRecords(new Uint8Array(records), 0, indexes.length);
      return log.finish();
    };
    expect(checkCompletions(split, [logOf([0, 1, 2, 3, 4, 5])]).ok).toBe(true);
    expect(checkCompletions(split, [logOf([0, 1, 2, 3, 4])]).failure).toMatch(/command 5 never completed/);
    expect(checkCompletions(split, [logOf([0, 1, 1, 2, 3, 4])]).failure).toMatch(/completion #2 is for command 1; its #2 submitted was command 2/);
    expect(checkCompletions(split, [logOf([0, 2, 1, 3, 4, 5])]).failure).toMatch(/completion #1 is for command 2/);
    expect(checkCompletions(split, [logOf([0, 1, 2, 3, 4, 5, 5])]).failure).toMatch(/7 completions for its 6 commands/);
  });
});

describe('the jitter probe', () => {
  it('records small values the cheap way without changing any percentile, and counts gaps by decade', () => {
    const recorder = new NsRecorder(latencyHistogram());
    const plain = latencyHistogram();
    let seed = 12345;
    for (let i = 0; i < 20_000; i++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      // Mostly tens of ns, sometimes µs to ms: the shape of clock-read gaps.
      const value = seed % 100 === 0 ? (seed % 5_000_000) + 1000 : 20 + (seed % 900);
      recorder.record(value);
      plain.recordValue(value);
    }
    const decades = recorder.finish();
    expect(percentilesOf(recorder.histogram)).toStrictEqual(percentilesOf(plain));
    expect(decades.below1us + decades.from1to10us + decades.from10to100us + decades.from100usTo1ms + decades.from1to10ms + decades.atLeast10ms).toBe(20_000);

    const byDecade = new NsRecorder(latencyHistogram());
    for (const value of [999, 1000, 9999, 10_000, 150_000, 2e6, 3e7, 4e7]) byDecade.record(value);
    expect(byDecade.finish()).toStrictEqual({ below1us: 1, from1to10us: 2, from10to100us: 1, from100usTo1ms: 1, from1to10ms: 1, atLeast10ms: 2 });
  });

  it('open-loop floor: each scheduled command waits for the first clock reading at or after its due time', () => {
    // Readings every 100 ns, except that nothing ran between 1000 and 5500 ns (a 4.5 µs gap); 1 M commands/s.
    const readings = [...Array.from({ length: 11 }, (_, i) => i * 100), ...Array.from({ length: 26 }, (_, i) => 5500 + i * 100)];
    const { histogram, complete } = openLoopFloorOf(readings, 0, 1e6, 8);
    expect(complete).toBe(true);
    // Due at 0 … 7000 ns: 0 and 1000 are read at once; 2000, 3000, 4000, 5000 wait for the reading at 5500; 6000, 7000 at once.
    const expected = latencyHistogram();
    for (const value of [0, 0, 0, 0, 500, 1500, 2500, 3500]) expected.recordValue(value);
    expect(percentilesOf(histogram)).toStrictEqual(percentilesOf(expected));
    expect(histogram.totalCount).toBe(8);
    expect(histogram.getValueAtPercentile(50)).toBe(0);
    expect(histogram.getValueAtPercentile(62.5)).toBe(500);
    histogram.destroy();
    expected.destroy();

    // The schedule outlasts the readings: the floor says it is incomplete rather than invent latencies.
    const short = openLoopFloorOf([0, 100, 200], 0, 1e6, 3);
    expect(short.complete).toBe(false);
    expect(short.histogram.totalCount).toBe(1);
    short.histogram.destroy();
    expect(() => openLoopFloorOf(readings, 0, 0, 8)).toThrow(/rate 0/);
  });

  it('runs in a thread of its own: one floor latency per scheduled command, one gap per reading', async () => {
    const open = await runJitterProbe({ mode: 'open', ratePerSecond: 1e6, commands: 20_000 });
    expect(open.floor!.count).toBe(20_000);
    expect(open.gaps.count).toBe(open.readings);
    expect(open.durationNs).toBeGreaterThanOrEqual(19_999 * 1000);
    const decoded = hdr.decodeFromCompressedBase64(open.floorHistogram!, 32, true);
    expect(decoded.totalCount).toBe(20_000);
    decoded.destroy();

    const closed = await runJitterProbe({ mode: 'closed', durationNs: 5e6 });
    expect(closed.floor).toBeNull();
    expect(closed.durationNs).toBeGreaterThanOrEqual(5e6);
    expect(closed.gaps.count).toBe(closed.readings);
    const d = closed.gapsByDecade;
    expect(d.below1us + d.from1to10us + d.from10to100us + d.from100usTo1ms + d.from1to10ms + d.atLeast10ms).toBe(closed.readings);
  });
});

describe('reading a tail against the floor', () => {
  const latency = (p99Ns: number): LatencyPercentiles => ({ count: 1, meanNs: p99Ns, p50Ns: p99Ns, p90Ns: p99Ns, p99Ns, p99_9Ns: p99Ns, p99_99Ns: p99Ns, maxNs: p99Ns });
  const run = (engine: string, producers: number, p99Ns: number): RunResult =>
    ({ engine, workload: 'w', mode: 'open', offeredRate: 1000, producers, summary: { latency: latency(p99Ns) } }) as unknown as RunResult;
  const probe = (p99Ns: number) => ({ workload: 'w', mode: 'open' as const, offeredRate: 1000, summary: { latency: latency(p99Ns) } });
  const floor = { machine: [probe(1000)], harness: [run('noop', 1, 3000), run('noop', 2, 9000)] } as unknown as FloorResults;

  it('takes the probe at the same load and noop at the same producer count', () => {
    expect(floorOf(floor, run('mutex', 2, 1)).harness!.p99Ns).toBe(9000);
    expect(floorOf(floor, run('mutex', 1, 1)).machine!.p99Ns).toBe(1000);
    expect(floorOf(floor, { ...run('mutex', 1, 1), offeredRate: 2000 }).machine).toBeNull();
  });

  it('says the machine or the harness sets a p99 within 2x of its p99, else the design does', () => {
    expect(tailSetBy(run('inline', 1, 2000), floorOf(floor, run('inline', 1, 0)))).toBe('machine');
    expect(tailSetBy(run('inline', 1, 5000), floorOf(floor, run('inline', 1, 0)))).toBe('harness');
    expect(tailSetBy(run('inline', 1, 6001), floorOf(floor, run('inline', 1, 0)))).toBeNull();
  });
});
