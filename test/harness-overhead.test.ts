/**
 * The harness-overhead figure (harness/harness-overhead.ts) and the latency recorder the producer loop times with
 * (harness/histogram.ts). Relations only, never a time: the figure follows from both measurements, the core alone
 * does the work `inline` does, and recording through the recorder gives the very histogram recording each value does.
 */
import { describe, expect, it } from 'vitest';
import { designByName } from '../engines/designs.ts';
import { coreAloneBeside, formatHarnessOverhead, harnessOverheadOf, measuresHarnessOverhead, runCoreAlone, type OverheadPair } from '../harness/harness-overhead.ts';
import { encodeHistogram, LatencyRecorder, latencyHistogram, percentilesOf } from '../harness/histogram.ts';
import { preparePreset } from '../harness/prepared-workload.ts';
import { runOnce } from '../harness/run.ts';
import { splitWorkload } from '../harness/split.ts';

const pair = (inlineThroughput: number, coreThroughput: number): OverheadPair => ({ inlineThroughput, coreThroughput });

describe('harness overhead figure', () => {
  it('pairs each round: 1 − inline / core and the per-command difference, median and range over the rounds', () => {
    // Rounds: inline 3 M/s beside a core at 4 M/s (25 %), 5 beside 5 (0 %), 4 beside 8 (50 %).
    const figure = harnessOverheadOf('w', [pair(3e6, 4e6), pair(5e6, 5e6), pair(4e6, 8e6)]);
    expect(figure.repetitions).toBe(3);
    expect(figure.paired!.overhead.median).toBeCloseTo(0.25, 12);
    expect(figure.paired!.overhead.min).toBeCloseTo(0, 12);
    expect(figure.paired!.overhead.max).toBeCloseTo(0.5, 12);
    // Per command: 333.3 − 250 = 83.3, 0, 250 − 125 = 125 ns; median 83.3.
    expect(figure.paired!.perCommandNs).toBeCloseTo(1e9 / 3e6 - 1e9 / 4e6, 9);
    // A pair's ratio stays with its pair: the same throughputs paired the other way give another figure.
    expect(harnessOverheadOf('w', [pair(3e6, 8e6), pair(5e6, 5e6), pair(4e6, 4e6)]).paired!.overhead.median).toBeCloseTo(0, 12);
  });

  it('keeps the fastest of each beside the pairs, with every repetition\'s spread', () => {
    const figure = harnessOverheadOf('w', [pair(3e6, 4e6), pair(5e6, 5e6), pair(4e6, 8e6)]);
    expect(figure.inlineThroughput).toBe(5e6);
    expect(figure.coreThroughput).toBe(8e6);
    expect(figure.overhead).toBeCloseTo(0.375, 12);
    expect(figure.perCommandNs).toBeCloseTo(75, 9);
    expect(figure.inlineSpread).toStrictEqual({ median: 4e6, min: 3e6, max: 5e6 });
    expect(figure.coreSpread).toStrictEqual({ median: 5e6, min: 4e6, max: 8e6 });
    expect(formatHarnessOverhead(figure)).toMatch(/paired in 3 rounds, median 25\.0 % \(0\.0 % to 50\.0 %, 83 ns per command\); fastest of each: .*: 37\.5 % \(75 ns per command\)/);
  });

  it('is 0 when inline runs at the core\'s rate and negative when it runs faster (noise, not a free harness)', () => {
    expect(harnessOverheadOf('w', [pair(5e6, 5e6)]).paired!.overhead.median).toBeCloseTo(0, 12);
    expect(harnessOverheadOf('w', [pair(6e6, 5e6)]).paired!.overhead.median).toBeLessThan(0);
  });

  it('needs a round', () => {
    expect(() => harnessOverheadOf('w', [])).toThrow(/needs at least one round with an inline run and a core-alone run/);
  });

  it('is measured beside closed-loop inline only, without journal or risk rules', () => {
    const inline = designByName('inline');
    expect(measuresHarnessOverhead({ design: inline, mode: 'closed' })).toBe(true);
    expect(measuresHarnessOverhead({ design: inline, mode: 'open' })).toBe(false);
    expect(measuresHarnessOverhead({ design: designByName('mutex'), mode: 'closed' })).toBe(false);
    expect(measuresHarnessOverhead({ design: inline, mode: 'closed', journal: {} })).toBe(false);
    expect(measuresHarnessOverhead({ design: inline, mode: 'closed', risk: {} })).toBe(false);
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
    // Beside a repetition that delivered other events, it refuses to give a figure.
    await expect(coreAloneBeside(prepared, prepared.capacities, warmup, inline.events + 1)).rejects.toThrow(
      new RegExp(`the core alone wrote ${inline.events} events, inline delivered ${inline.events + 1}`),
    );
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
