/**
 * A comparison: a list of configurations (design × parameters × workload × producers × loop mode/rate × journal
 * mode), each run
 * `repeat` times with the configurations interleaved — round r runs every configuration once, starting one
 * further along each round — so slow drift of a noisy machine (thermal, neighbours) spreads over every design
 * instead of landing on whichever ran last. Every repetition's equivalence is checked right after it, outside the
 * timed part; the figures are summarised per configuration (median and range of throughput, merged latency
 * histogram, CPU per command, ratio to `inline`).
 *
 * The floor is measured in the same interleaving, in slots of its own after the configurations: the `noop` harness
 * floor (engines/noop.ts) at every workload, producer count and load the designs run, checked by the completion
 * check instead of equivalence; and the jitter probe (harness/jitter-probe.ts) at every workload and load, alone
 * (a spinning probe beside a design would take its core on 2 cores), for as long as that load's runs: the schedule's
 * length in open loop, the median length of that workload's closed-loop design runs so far in closed loop.
 *
 * Right after every closed-loop `inline` repetition (without journal or risk rules), the fast core alone replays the
 * same commands (harness/harness-overhead.ts): each round's pair gives the harness overhead, measured seconds apart.
 */
import { HARNESS_FLOOR } from '../engines/designs.ts';
import type { EngineDesign, ParamValues } from '../engines/engine.ts';
import type { FastEngineCapacities } from '../engines/fast.ts';
import { capacitiesForSplits } from './capacity.ts';
import { resolveRisk } from '../risk/rules.ts';
import { checkCompletions } from './completion-check.ts';
import { checkEquivalence } from './equivalence.ts';
import { EventLogBuffers } from './event-log.ts';
import { formatNs, formatRate } from './console-format.ts';
import { median } from './gate-stats.ts';
import { mergeEncoded } from './histogram.ts';
import { runJitterProbe, type ProbeTask } from './jitter-probe.ts';
import type { PreparedWorkload } from './prepared-workload.ts';
import type { Progress } from './progress.ts';
import { ReferenceTraceCache } from './reference-trace.ts';
import { coreAloneBeside, harnessOverheadOf, measuresHarnessOverhead, type OverheadPair } from './harness-overhead.ts';
import type {
  CoreCapacities, FloorResults, GapDecades, HarnessOverhead, JournalFigures, JournalRunSettings, LatencyPercentiles, LoopMode, MachineFloorRun, ProbeRepetition, Repetition,
  RunResult, RunSummary, SplitRule,
} from './results-schema.ts';
import { runOnce, type JournalOutcome } from './run.ts';
import { splitWorkload, type WorkloadSplit } from './split.ts';
import type { NamedRisk } from '../risk/rules.ts';

export interface Configuration {
  readonly design: EngineDesign;
  readonly params: ParamValues;
  readonly workload: PreparedWorkload;
  readonly producers: number;
  readonly mode: LoopMode;
  readonly rate: number | null;
  /** Journal mode and where its runs' journals go; absent: none. */
  readonly journal?: JournalRunSettings;
  /** Risk rules and breaker the design's cores apply (compare --risk); absent: none. */
  readonly risk?: NamedRisk;
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
  const journal = c.journal === undefined ? ''
    : `/journal=${c.journal.mode}${c.journal.snapshotEvery === undefined ? '' : `+snapshots=${c.journal.snapshotEvery}`}${c.journal.replication === undefined ? '' : `+standby=${c.journal.replication}`}`;
  const risk = c.risk === undefined ? '' : `/risk=${c.risk.name}`;
  return `${c.design.name}${params === '' ? '' : `[${params}]`}/${c.workload.identity.id}/p${c.producers}/${mode}${journal}${risk}`;
}

export function warmupFor(settings: ComparisonSettings, streamLength: number): number {
  if (settings.warmup !== null) return Math.min(settings.warmup, streamLength);
  return Math.min(settings.warmupMax, Math.floor(streamLength * settings.warmupFraction));
}

/** One jitter-probe slot: a workload and load the designs run at. */
interface ProbeSlot {
  readonly workload: PreparedWorkload;
  readonly mode: LoopMode;
  readonly rate: number | null;
}

export function probeId(p: { readonly workload: string; readonly mode: LoopMode; readonly rate: number | null }): string {
  return `jitter-probe/${p.workload}/${p.mode === 'closed' ? 'closed' : `open@${p.rate}`}`;
}

function loadKey(workload: string, mode: LoopMode, rate: number | null): string {
  return `${workload}|${mode}|${rate ?? ''}`;
}

/** The noop floor's configurations: one per workload, producer count and load among `configurations`. */
function harnessFloorConfigurations(configurations: readonly Configuration[]): Configuration[] {
  const floors = new Map<string, Configuration>();
  for (const c of configurations) {
    const key = `${loadKey(c.workload.identity.id, c.mode, c.rate)}|${c.producers}`;
    if (!floors.has(key)) floors.set(key, { design: HARNESS_FLOOR, params: {}, workload: c.workload, producers: c.producers, mode: c.mode, rate: c.rate });
  }
  return [...floors.values()];
}

function probeSlots(configurations: readonly Configuration[]): ProbeSlot[] {
  const slots = new Map<string, ProbeSlot>();
  for (const c of configurations) {
    const key = loadKey(c.workload.identity.id, c.mode, c.rate);
    if (!slots.has(key)) slots.set(key, { workload: c.workload, mode: c.mode, rate: c.rate });
  }
  return [...slots.values()];
}

export interface ComparisonResults {
  /** One per configuration, in the order given. */
  readonly runs: RunResult[];
  readonly floor: FloorResults;
  /** One per closed-loop `inline` configuration without journal or risk rules (harness/harness-overhead.ts). */
  readonly harnessOverhead: HarnessOverhead[];
}

/**
 * Runs every configuration `settings.repeat` times, interleaved, together with the floor's slots; returns one
 * RunResult per configuration and the floor.
 */
export async function runComparison(designConfigurations: readonly Configuration[], settings: ComparisonSettings, progress: Progress): Promise<ComparisonResults> {
  if (designConfigurations.some((c) => c.design === HARNESS_FLOOR)) throw new Error(`${HARNESS_FLOOR.name} is the harness floor, measured beside every comparison; it is not a design to configure`);
  const configurations = [...designConfigurations, ...harnessFloorConfigurations(designConfigurations)];
  const probes = probeSlots(designConfigurations);
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
  // One core size per workload (every design on equal terms), holding the rules of the configurations that have them.
  const capacityKey = (c: Configuration): string => `${c.workload.identity.id}|${c.risk?.name ?? ''}`;
  const sizes = new Map<string, FastEngineCapacities>();
  const capacities = new Map<string, FastEngineCapacities>();
  for (const c of configurations) {
    const id = c.workload.identity.id;
    if (!sizes.has(id)) sizes.set(id, capacitiesForSplits(c.workload.workload, configurations.filter((d) => d.workload.identity.id === id).map(splitOf)));
    const key = capacityKey(c);
    if (!capacities.has(key)) capacities.set(key, c.risk === undefined ? sizes.get(id)! : { ...sizes.get(id)!, risk: resolveRisk(c.risk.rules, c.workload.workload.symbols) });
  }
  const traces = new ReferenceTraceCache();
  const logBuffers = new EventLogBuffers();
  const warmups = configurations.map((c) => warmupFor(settings, Math.min(...splitOf(c).streams.map((s) => s.length))));
  const repetitions = configurations.map((): Repetition[] => []);
  const overheadPairs = configurations.map((): OverheadPair[] => []);
  const probeRepetitions = probes.map((): ProbeRepetition[] => []);
  /** Measured commands of the longest run of each workload and load: how many commands the probe schedules. */
  const measuredCommands = new Map<string, number>();
  configurations.forEach((c, i) => {
    const key = loadKey(c.workload.identity.id, c.mode, c.rate);
    const measured = splitOf(c).streams.reduce((n, s) => n + s.length - Math.min(warmups[i]!, s.length), 0);
    measuredCommands.set(key, Math.max(measuredCommands.get(key) ?? 0, measured));
  });
  const probeTask = (slot: ProbeSlot): ProbeTask => {
    const key = loadKey(slot.workload.identity.id, slot.mode, slot.rate);
    if (slot.mode === 'open') return { mode: 'open', ratePerSecond: slot.rate!, commands: measuredCommands.get(key)! };
    const elapsed = designConfigurations.flatMap((c, i) => (loadKey(c.workload.identity.id, c.mode, c.rate) === key ? repetitions[i]!.map((r) => r.elapsedNs) : []));
    if (elapsed.length === 0) throw new Error(`${probeId({ workload: slot.workload.identity.id, mode: slot.mode, rate: slot.rate })}: no design run of its workload and load measured before it`);
    return { mode: 'closed', durationNs: median(elapsed) };
  };
  // Probe slots come last, so in the first round every closed-loop probe has runs to take its length from.
  const slots = configurations.length + probes.length;
  const total = slots * settings.repeat;
  progress.begin(total);
  let order = 0;
  for (let round = 0; round < settings.repeat; round++) {
    for (let k = 0; k < slots; k++) {
      const at = (k + round) % slots;
      if (at >= configurations.length) {
        const slot = probes[at - configurations.length]!;
        const id = probeId({ workload: slot.workload.identity.id, mode: slot.mode, rate: slot.rate });
        progress.run(order, `${id} rep ${round + 1}/${settings.repeat}`);
        const outcome = await runJitterProbe(probeTask(slot));
        probeRepetitions[at - configurations.length]!.push({
          order, durationNs: outcome.durationNs, readings: outcome.readings, gapsByDecade: outcome.gapsByDecade,
          gapHistogram: outcome.gapHistogram, gaps: outcome.gaps,
          histogram: outcome.floorHistogram ?? outcome.gapHistogram, latency: outcome.floor ?? outcome.gaps,
        });
        progress.line(
          `${id} rep ${round + 1}: ${formatNs(outcome.durationNs)}, clock gaps p99 ${formatNs(outcome.gaps.p99Ns)} max ${formatNs(outcome.gaps.maxNs)}` +
            (outcome.floor === null ? '' : `, zero-cost engine p99 ${formatNs(outcome.floor.p99Ns)}`),
        );
        order++;
        continue;
      }
      const c = configurations[at]!;
      const id = configurationId(c);
      progress.run(order, `${id} rep ${round + 1}/${settings.repeat}`);
      const split = splitOf(c);
      const outcome = await runOnce({
        design: c.design, params: c.params, workload: c.workload, split, mode: c.mode, rate: c.rate, warmup: warmups[at]!,
        capacities: capacities.get(capacityKey(c))!,
        onProgress: (done, all) => progress.update(done, all),
        logBuffers,
        ...(c.journal === undefined ? {} : {
          journal: {
            settings: c.journal, dir: c.journal.dir, ...(c.journal.snapshotEvery === undefined ? {} : { snapshotEvery: c.journal.snapshotEvery }),
            ...(c.journal.replication === undefined ? {} : { replication: c.journal.replication }),
          },
        }),
      });
      const matched = c.design === HARNESS_FLOOR
        ? checkCompletions(split, outcome.logs)
        : checkEquivalence({
          workload: c.workload.workload, workloadKey: c.workload.identity.hash, split, logs: outcome.logs, run: outcome.sequenced, traces,
          ...(c.risk === undefined ? {} : { risk: c.risk }),
        });
      logBuffers.give(outcome.logs);
      const journalCheck = outcome.journal?.check;
      const equivalence = journalCheck === undefined || journalCheck.ok || !matched.ok ? matched : { ...matched, ok: false, failure: journalCheck.failure };
      repetitions[at]!.push({
        order, commands: outcome.commands, events: outcome.events, elapsedNs: outcome.elapsedNs, throughput: outcome.throughput,
        cpuNs: outcome.cpuNs, cpuWindowNs: outcome.cpuWindowNs, latency: outcome.latency, histogram: outcome.histogram, equivalence,
        ...(outcome.journal === null ? {} : { journal: journalFigures(outcome.journal) }),
      });
      progress.line(
        `${id} rep ${round + 1}: ${formatRate(outcome.throughput)} cmd/s, p99 ${formatNs(outcome.latency.p99Ns)}, ` +
          `${c.design === HARNESS_FLOOR ? 'completions' : 'equivalence'} ${equivalence.ok ? 'ok' : `FAILED: ${equivalence.failure}`}`,
      );
      if (measuresHarnessOverhead(c)) {
        // Right after the repetition, so the pair sees the same spell of the machine.
        const coreThroughput = await coreAloneBeside(c.workload, coreCapacitiesOf(capacities.get(capacityKey(c))!), warmups[at]!, outcome.events);
        overheadPairs[at]!.push({ inlineThroughput: outcome.throughput, coreThroughput });
        progress.line(`${id} rep ${round + 1}: the fast core alone beside it ${formatRate(coreThroughput)} cmd/s`);
      }
      order++;
    }
  }
  progress.end();
  const summarised = configurations.map((c, i) => summarise(c, warmups[i]!, capacities.get(capacityKey(c))!, repetitions[i]!));
  const results = summarised.map((r) => ({ ...r, summary: { ...r.summary, ratioToInline: ratioToInline(r, summarised) } }));
  return {
    runs: results.slice(0, designConfigurations.length),
    floor: { harness: results.slice(designConfigurations.length), machine: probes.map((slot, i) => summariseProbe(slot, probeRepetitions[i]!)) },
    harnessOverhead: configurations.flatMap((c, i) => (overheadPairs[i]!.length === 0 ? [] : [harnessOverheadOf(c.workload.identity.id, overheadPairs[i]!)])),
  };
}

function summariseProbe(slot: ProbeSlot, reps: readonly ProbeRepetition[]): MachineFloorRun {
  const gaps = mergeEncoded(reps.map((r) => r.gapHistogram));
  const floor = mergeEncoded(reps.map((r) => r.histogram));
  const decades = Object.fromEntries(
    Object.keys(reps[0]!.gapsByDecade).map((key) => [key, reps.reduce((n, r) => n + r.gapsByDecade[key as keyof GapDecades], 0)]),
  ) as unknown as GapDecades;
  return {
    id: probeId({ workload: slot.workload.identity.id, mode: slot.mode, rate: slot.rate }),
    workload: slot.workload.identity.id,
    mode: slot.mode,
    offeredRate: slot.rate,
    repetitions: reps,
    summary: {
      durationNs: reps.reduce((n, r) => n + r.durationNs, 0),
      readings: reps.reduce((n, r) => n + r.readings, 0),
      gapsByDecade: decades,
      gapHistogram: gaps.histogram,
      gaps: gaps.latency,
      histogram: floor.histogram,
      latency: floor.latency,
    },
  };
}

function journalFigures(j: JournalOutcome): JournalFigures {
  return {
    frames: j.frames, records: j.records, fsyncs: j.fsyncs, bytes: j.bytes, segments: j.segments, fsyncHistogram: j.fsyncHistogram, fsync: j.fsync,
    ...(j.snapshots === undefined ? {} : { snapshots: j.snapshots }),
    ...(j.replication === undefined ? {} : { replication: j.replication }),
  };
}

/** Every repetition's snapshot pauses; null when none was taken. */
function mergedSnapshotPause(reps: readonly Repetition[]): NonNullable<RunSummary['snapshotPause']> | null {
  const pauses = reps.flatMap((r) => r.journal?.snapshots?.pausesNs ?? []).sort((a, b) => a - b);
  return pauses.length === 0 ? null : { count: pauses.length, p50Ns: pauses[Math.floor(pauses.length / 2)]!, maxNs: pauses.at(-1)! };
}

/** Every repetition's fsync histogram merged; null when no repetition made an fsync. */
function mergedFsync(reps: readonly Repetition[]): LatencyPercentiles | null {
  const encoded = reps.flatMap((r) => (r.journal?.fsyncHistogram == null ? [] : [r.journal.fsyncHistogram]));
  return encoded.length === 0 ? null : mergeEncoded(encoded).latency;
}

/** The sizes of a core, without its rules: what a results file records and what the core alone is built with. */
function coreCapacitiesOf(capacities: FastEngineCapacities): CoreCapacities {
  return { maxOrders: capacities.maxOrders, maxSymbols: capacities.maxSymbols, ladderTicks: capacities.ladderTicks, maxEventsPerCommand: capacities.maxEventsPerCommand };
}

function summarise(c: Configuration, warmupPerProducer: number, capacities: FastEngineCapacities, reps: readonly Repetition[]): RunResult {
  const throughputs = reps.map((r) => r.throughput);
  const merged = mergeEncoded(reps.map((r) => r.histogram));
  return {
    ...(c.journal === undefined ? {} : { journal: c.journal }),
    ...(c.risk === undefined ? {} : { risk: c.risk.name }),
    id: configurationId(c),
    engine: c.design.name,
    params: c.params,
    workload: c.workload.identity.id,
    producers: c.producers,
    mode: c.mode,
    offeredRate: c.rate,
    warmupPerProducer,
    // The sizes only: the rules are named by `risk`, not copied per symbol into every run.
    coreCapacities: coreCapacitiesOf(capacities),
    repetitions: reps,
    summary: {
      throughput: { median: median(throughputs), min: Math.min(...throughputs), max: Math.max(...throughputs) },
      cpu: {
        // Throughput over the cores busy: the CPU of the timed part alone, taking the window's few ms of start line
        // and reports as busy as the rest (a raw commands / cpuNs would charge short closed-loop runs ~10 % extra).
        commandsPerCpuSecond: median(reps.map((r) => (r.cpuNs === 0 ? 0 : (r.throughput * r.cpuWindowNs) / r.cpuNs))),
        coresBusy: median(reps.map((r) => (r.cpuWindowNs === 0 ? 0 : r.cpuNs / r.cpuWindowNs))),
      },
      latency: merged.latency,
      histogram: merged.histogram,
      ratioToInline: null,
      equivalent: reps.every((r) => r.equivalence.ok),
      ...(c.journal === undefined ? {} : { fsync: mergedFsync(reps) }),
      ...(c.journal !== undefined && c.journal.snapshotEvery !== undefined ? { snapshotPause: mergedSnapshotPause(reps) } : {}),
    },
  };
}

/** Median throughput over inline's on the same workload, mode, rate and journal mode; null when inline did not run there. */
function ratioToInline(run: RunResult, all: readonly RunResult[]): number | null {
  const inline = all.find((r) => r.engine === 'inline' && r.workload === run.workload && r.mode === run.mode && r.offeredRate === run.offeredRate &&
    r.journal?.mode === run.journal?.mode && r.risk === run.risk);
  if (inline === undefined || inline.summary.throughput.median === 0) return null;
  return run.summary.throughput.median / inline.summary.throughput.median;
}
