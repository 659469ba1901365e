/**
 * A comparison: a list of configurations (design × parameters × workload × producers × loop mode/rate), each run
 * `repeat` times with the configurations interleaved — round r runs every configuration once, starting one
 * further along each round — so slow drift of a noisy machine (thermal, neighbours) spreads over every design
 * instead of landing on whichever ran last. Every repetition's equivalence is checked right after it, outside the
 * timed part; the figures are summarised per configuration (median and range of throughput, merged latency
 * histogram, ratio to `inline`).
 */
import type { EngineDesign, ParamValues } from '../engines/engine.ts';
import type { FastEngineCapacities } from '../engines/fast.ts';
import { capacitiesForSplits } from './capacity.ts';
import { checkEquivalence } from './equivalence.ts';
import { median } from './gate-stats.ts';
import { mergeEncoded } from './histogram.ts';
import type { PreparedWorkload } from './prepared-workload.ts';
import type { Progress } from './progress.ts';
import { ReferenceTraceCache } from './reference-trace.ts';
import type { LoopMode, Repetition, RunResult, SplitRule } from './results-schema.ts';
import { runOnce } from './run.ts';
import { splitWorkload, type WorkloadSplit } from './split.ts';

export interface Configuration {
  readonly design: EngineDesign;
  readonly params: ParamValues;
  readonly workload: PreparedWorkload;
  readonly producers: number;
  readonly mode: LoopMode;
  readonly rate: number | null;
}

export interface ComparisonSettings {
  readonly repeat: number;
  readonly split: SplitRule;
  /** Warm-up commands per producer: this fraction of its stream, at most `warmupMax`; or exactly `warmup` if set. */
  readonly warmupFraction: number;
  readonly warmupMax: number;
  readonly warmup: number | null;
}

export function configurationId(c: Configuration): string {
  const params = Object.entries(c.params).map(([k, v]) => `${k}=${v}`).join(',');
  const mode = c.mode === 'closed' ? 'closed' : `open@${c.rate}`;
  return `${c.design.name}${params === '' ? '' : `[${params}]`}/${c.workload.identity.id}/p${c.producers}/${mode}`;
}

export function warmupFor(settings: ComparisonSettings, streamLength: number): number {
  if (settings.warmup !== null) return Math.min(settings.warmup, streamLength);
  return Math.min(settings.warmupMax, Math.floor(streamLength * settings.warmupFraction));
}

/** Runs every configuration `settings.repeat` times, interleaved; returns one RunResult per configuration. */
export async function runComparison(configurations: readonly Configuration[], settings: ComparisonSettings, progress: Progress): Promise<RunResult[]> {
  const splits = new Map<string, WorkloadSplit>();
  const splitOf = (c: Configuration): WorkloadSplit => {
    const key = `${c.workload.identity.id}/${c.producers}`;
    let split = splits.get(key);
    if (split === undefined) {
      split = splitWorkload(c.workload.shared.records, c.workload.shared.count, c.producers, settings.split);
      splits.set(key, split);
    }
    return split;
  };
  const capacities = new Map<string, FastEngineCapacities>();
  for (const c of configurations) {
    const id = c.workload.identity.id;
    if (capacities.has(id)) continue;
    const splitsUsed = configurations.filter((d) => d.workload.identity.id === id).map(splitOf);
    capacities.set(id, capacitiesForSplits(c.workload.workload, splitsUsed));
  }
  const traces = new ReferenceTraceCache();
  const warmups = configurations.map((c) => warmupFor(settings, Math.min(...splitOf(c).streams.map((s) => s.length))));
  const repetitions = configurations.map((): Repetition[] => []);
  const total = configurations.length * settings.repeat;
  progress.begin(total);
  let order = 0;
  for (let round = 0; round < settings.repeat; round++) {
    for (let k = 0; k < configurations.length; k++) {
      const at = (k + round) % configurations.length;
      const c = configurations[at]!;
      const id = configurationId(c);
      progress.run(order, `${id} rep ${round + 1}/${settings.repeat}`);
      const split = splitOf(c);
      const outcome = await runOnce({
        design: c.design, params: c.params, workload: c.workload, split, mode: c.mode, rate: c.rate, warmup: warmups[at]!,
        capacities: capacities.get(c.workload.identity.id)!,
        onProgress: (done, all) => progress.update(done, all),
      });
      const equivalence = checkEquivalence({
        workload: c.workload.workload, workloadKey: c.workload.identity.hash, split, logs: outcome.logs, run: outcome.sequenced, traces,
      });
      repetitions[at]!.push({
        order, commands: outcome.commands, events: outcome.events, elapsedNs: outcome.elapsedNs, throughput: outcome.throughput,
        latency: outcome.latency, histogram: outcome.histogram, equivalence,
      });
      progress.line(
        `${id} rep ${round + 1}: ${formatRate(outcome.throughput)} cmd/s, p99 ${formatNs(outcome.latency.p99Ns)}, ` +
          `equivalence ${equivalence.ok ? 'ok' : `FAILED: ${equivalence.failure}`}`,
      );
      order++;
    }
  }
  progress.end();
  const results = configurations.map((c, i) => summarise(c, warmups[i]!, capacities.get(c.workload.identity.id)!, repetitions[i]!));
  return results.map((r) => ({ ...r, summary: { ...r.summary, ratioToInline: ratioToInline(r, results) } }));
}

function summarise(c: Configuration, warmupPerProducer: number, capacities: FastEngineCapacities, reps: readonly Repetition[]): RunResult {
  const throughputs = reps.map((r) => r.throughput);
  const merged = mergeEncoded(reps.map((r) => r.histogram));
  return {
    id: configurationId(c),
    engine: c.design.name,
    params: c.params,
    workload: c.workload.identity.id,
    producers: c.producers,
    mode: c.mode,
    offeredRate: c.rate,
    warmupPerProducer,
    coreCapacities: capacities,
    repetitions: reps,
    summary: {
      throughput: { median: median(throughputs), min: Math.min(...throughputs), max: Math.max(...throughputs) },
      latency: merged.latency,
      histogram: merged.histogram,
      ratioToInline: null,
      equivalent: reps.every((r) => r.equivalence.ok),
    },
  };
}

/** Median throughput over inline's on the same workload, mode and rate; null when inline did not run there. */
function ratioToInline(run: RunResult, all: readonly RunResult[]): number | null {
  const inline = all.find((r) => r.engine === 'inline' && r.workload === run.workload && r.mode === run.mode && r.offeredRate === run.offeredRate);
  if (inline === undefined || inline.summary.throughput.median === 0) return null;
  return run.summary.throughput.median / inline.summary.throughput.median;
}

export function formatRate(perSecond: number): string {
  if (perSecond >= 1e6) return `${(perSecond / 1e6).toFixed(2)}M`;
  if (perSecond >= 1e3) return `${(perSecond / 1e3).toFixed(0)}K`;
  return perSecond.toFixed(0);
}

export function formatNs(ns: number): string {
  if (ns >= 1e9) return `${(ns / 1e9).toFixed(2)} s`;
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(1)} µs`;
  return `${Math.round(ns)} ns`;
}
