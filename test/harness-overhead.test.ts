/**
 * The harness-overhead figure (harness/harness-overhead.ts) and the latency recorder the producer loop times with
 * (harness/histogram.ts). Relations only, never a time: the figure follows from both measurements, the core alone
 * does the work `inline` does, and recording through the recorder gives the very histogram recording each value does.
 */
import { describe, expect, it } from 'vitest';
import { designByName } from '../engines/designs.ts';
import type { CoreAloneReport } from '../harness/core-alone-worker.ts';
import { harnessOverheadOf, runCoreAlone } from '../harness/harness-overhead.ts';
import { encodeHistogram, LatencyRecorder, latencyHistogram, percentilesOf } from '../harness/histogram.ts';
import { preparePreset } from '../harness/prepared-workload.ts';
import { runOnce } from '../harness/run.ts';
import { splitWorkload } from '../harness/split.ts';

function coreRun(commands: number, elapsedNs: number): CoreAloneReport {
  return { commands, events: 0, elapsedNs };
}

describe('harness overhead figure', () => {
  it('is 1 − inline / core and the per-command difference, from the fastest repetition of each', () => {
    // Core alone at 4, 5 and 8 M/s (fastest 8 M/s = 125 ns a command); inline at 3, 5 and 4 M/s (fastest 200 ns).
    const core = [coreRun(1000, 250_000), coreRun(1000, 200_000), coreRun(1000, 125_000)];
    const figure = harnessOverheadOf('w', [3e6, 5e6, 4e6], core);
    expect(figure.repetitions).toBe(3);
    expect(figure.inlineThroughput).toBe(5e6);
    expect(figure.coreThroughput).toBeCloseTo(8e6, 0);
    expect(figure.overhead).toBeCloseTo(0.375, 12);
    expect(figure.perCommandNs).toBeCloseTo(75, 9);
    // Every repetition's spread beside it: the fastest is one end of it.
    expect(figure.inlineSpread).toStrictEqual({ median: 4e6, min: 3e6, max: 5e6 });
    expect(figure.coreSpread!.median).toBeCloseTo(5e6, 0);
    expect(figure.coreSpread!.min).toBeCloseTo(4e6, 0);
    expect(figure.coreSpread!.max).toBe(figure.coreThroughput);
    expect(harnessOverheadOf('w', [3e6, 5e6], core.slice(0, 2)).inlineSpread!.median).toBe(4e6);
  });

  it('is 0 when inline runs at the core\'s rate and negative when it runs faster (noise, not a free harness)', () => {
    const core = [coreRun(1000, 200_000)];
    expect(harnessOverheadOf('w', [5e6], core).overhead).toBeCloseTo(0, 12);
    expect(harnessOverheadOf('w', [6e6], core).overhead).toBeLessThan(0);
  });

  it('needs both measurements', () => {
    expect(() => harnessOverheadOf('w', [1], [])).toThrow(/needs an inline run and a core-alone run/);
    expect(() => harnessOverheadOf('w', [], [coreRun(1, 1)])).toThrow(/needs an inline run and a core-alone run/);
  });

  it('the core alone times the commands inline times and writes the events inline delivers', async () => {
    const prepared = preparePreset({ preset: 'balanced', seed: 5, count: 3000 });
    const split = splitWorkload(prepared.shared.records, prepared.shared.count, 1, 'order');
    const warmup = 300;
    const inline = await runOnce({ design: designByName('inline'), params: {}, workload: prepared, split, mode: 'closed', rate: null, warmup });
    const alone = await runCoreAlone(prepared, prepared.capacities, warmup);
    expect(alone.commands).toBe(inline.commands);
    expect(alone.events).toBe(inline.events);
    expect(alone.events).toBeGreaterThan(0);
    expect(alone.elapsedNs).toBeGreaterThan(0);
  });
});

describe('LatencyRecorder', () => {
  it('gives the histogram recording every value gives, across every slot boundary and past the slots', () => {
    const plain = latencyHistogram();
    const recorder = new LatencyRecorder(latencyHistogram());
    const values = [0, 1, 1023, 2047, 2048, 2049, 4095, 4096, 4097, 123_456, 2 ** 31 - 1, 2 ** 31, 5e9];
    let x = 12345;
    for (let i = 0; i < 20_000; i++) {
      x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
      values.push(Math.floor((x / 2 ** 32) ** 6 * 3e9));
    }
    for (const v of values) {
      plain.recordValue(v);
      recorder.record(v);
    }
    const recorded = recorder.finish();
    expect(percentilesOf(recorded)).toEqual(percentilesOf(plain));
    expect(encodeHistogram(recorded)).toBe(encodeHistogram(plain));
  });

  it('forgets the warm-up on reset', () => {
    const recorder = new LatencyRecorder(latencyHistogram());
    recorder.record(500);
    recorder.record(5e9);
    recorder.reset();
    recorder.record(700);
    const h = recorder.finish();
    expect(h.totalCount).toBe(1);
    expect(percentilesOf(h).maxNs).toBe(700);
  });
});
