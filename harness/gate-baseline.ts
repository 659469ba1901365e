/**
 * The gate's measurements and its committed baseline (results/baseline.json), and the comparison of the two.
 *
 * A gate run is R interleaved rounds (pooled from several processes); each round measures the frozen calibration kernel and every design of the
 * fixed set once. A metric is one design's throughput against its reference's over those rounds: `inline` against
 * the calibration kernel (catches a slower fast core), every other design against `inline` (catches a slower
 * mechanism). The baseline stores every round's figures, so the gate compares two samples, not two numbers.
 */
import type { Environment } from './results-schema.ts';
import { checkRoundSamples, judge, throughputRatio, type GateRule, type Judgement } from './gate-stats.ts';

export const GATE_BASELINE_SCHEMA = 'matchbench-gate-baseline';
export const GATE_BASELINE_VERSION = 1;

/** The reference a design is divided by. */
export const CALIBRATION = 'calibration';

export interface GateMetricSamples {
  /** Design name (numerator). */
  readonly engine: string;
  /** Design name or CALIBRATION (denominator). */
  readonly reference: string;
  /** Per round: the design's throughput (commands/s) and its reference's (commands/s, or calibration ops/s). */
  readonly design: readonly number[];
  readonly referenceThroughput: readonly number[];
}

/** What one measuring process returns: its clean rounds, nothing derived from them. */
export interface ProcessRounds {
  readonly setKey: string;
  /** Per round: commands/s of each design, and calibration ops/s under CALIBRATION. */
  readonly throughput: readonly Readonly<Record<string, number>>[];
  /** Equivalence failures, one line each (run id and the first difference); any fails the gate. */
  readonly equivalenceFailures: readonly string[];
  /** Rounds measured again because other processes used too much of the machine (harness/gate-contention.ts). */
  readonly discardedRounds: number;
}

/** What one gate run measured. */
export interface GateMeasurement {
  /** Identity of the benchmark set (workload hash and sizes, parameters): a baseline of another set is refused. */
  readonly setKey: string;
  readonly environment: Environment;
  readonly rounds: number;
  /** Per round: commands/s of each design, and calibration ops/s under CALIBRATION. */
  readonly throughput: readonly Readonly<Record<string, number>>[];
  readonly metrics: readonly GateMetricSamples[];
  /** Equivalence failures, one line each (run id and the first difference); any fails the gate. */
  readonly equivalenceFailures: readonly string[];
  /** Rounds measured again because other processes used too much of the machine (harness/gate-contention.ts). */
  readonly discardedRounds: number;
}

export interface GateBaseline {
  readonly schema: typeof GATE_BASELINE_SCHEMA;
  readonly version: typeof GATE_BASELINE_VERSION;
  readonly createdAt: string;
  readonly setKey: string;
  readonly environment: Environment;
  readonly rounds: number;
  readonly throughput: readonly Readonly<Record<string, number>>[];
  readonly metrics: readonly GateMetricSamples[];
}

/** Every design's per-round figures next to its reference's. */
export function metricsFromRounds(throughput: readonly Readonly<Record<string, number>>[], references: Readonly<Record<string, string>>): GateMetricSamples[] {
  return Object.entries(references).map(([engine, reference]) => {
    const metric = {
      engine,
      reference,
      design: throughput.map((round, i) => must(round[engine], `round ${i} has no throughput for ${engine}`)),
      referenceThroughput: throughput.map((round, i) => must(round[reference], `round ${i} has no throughput for ${reference}`)),
    };
    checkRoundSamples(samplesOf(metric), `${engine}/${reference}`);
    return metric;
  });
}

function samplesOf(metric: GateMetricSamples): { design: readonly number[]; reference: readonly number[] } {
  return { design: metric.design, reference: metric.referenceThroughput };
}

function must(value: number | undefined, message: string): number {
  if (value === undefined) throw new Error(message);
  return value;
}

/**
 * The rounds of several measuring processes of the same set as one measurement, each design divided by its
 * reference in `references`, with `environment` (the pooling process's). Equivalence failures keep the number of
 * the process that saw them.
 */
export function poolMeasurements(parts: readonly ProcessRounds[], references: Readonly<Record<string, string>>, environment: Environment): GateMeasurement {
  const first = parts[0];
  if (first === undefined) throw new Error('no measurements to pool');
  for (const [i, part] of parts.entries()) {
    if (part.setKey !== first.setKey) throw new Error(`measuring process ${i + 1} measured another set (${part.setKey}; process 1: ${first.setKey})`);
  }
  const throughput = parts.flatMap((part) => part.throughput);
  return {
    setKey: first.setKey,
    environment,
    rounds: throughput.length,
    throughput,
    metrics: metricsFromRounds(throughput, references),
    equivalenceFailures: parts.flatMap((part, i) => part.equivalenceFailures.map((failure) => `process ${i + 1}: ${failure}`)),
    discardedRounds: parts.reduce((sum, part) => sum + part.discardedRounds, 0),
  };
}

export function baselineOf(measurement: GateMeasurement, createdAt: string): GateBaseline {
  return {
    schema: GATE_BASELINE_SCHEMA,
    version: GATE_BASELINE_VERSION,
    createdAt,
    setKey: measurement.setKey,
    environment: measurement.environment,
    rounds: measurement.rounds,
    throughput: measurement.throughput,
    metrics: measurement.metrics,
  };
}

/** Throws, naming the file and the field, unless `value` is a gate baseline this code reads. */
export function checkBaseline(value: unknown, where: string): GateBaseline {
  if (typeof value !== 'object' || value === null) throw new Error(`${where}: not a JSON object`);
  const v = value as Partial<Record<keyof GateBaseline, unknown>>;
  if (v.schema !== GATE_BASELINE_SCHEMA) throw new Error(`${where}: field "schema" is ${JSON.stringify(v.schema)}, expected "${GATE_BASELINE_SCHEMA}"`);
  if (v.version !== GATE_BASELINE_VERSION) throw new Error(`${where}: field "version" is ${JSON.stringify(v.version)}, this code reads version ${GATE_BASELINE_VERSION}`);
  if (typeof v.setKey !== 'string') throw new Error(`${where}: field "setKey" is not a string`);
  if (!Array.isArray(v.metrics)) throw new Error(`${where}: field "metrics" is not an array`);
  for (const [i, m] of (v.metrics as unknown[]).entries()) {
    const metric = m as Partial<GateMetricSamples>;
    if (typeof metric.engine !== 'string' || typeof metric.reference !== 'string' || !Array.isArray(metric.design) || !Array.isArray(metric.referenceThroughput)) {
      throw new Error(`${where}: metrics[${i}] needs engine, reference, design and referenceThroughput`);
    }
    checkRoundSamples(samplesOf(metric as GateMetricSamples), `${where}: metrics[${i}] (${metric.engine})`);
  }
  return value as GateBaseline;
}

export interface MetricVerdict extends Judgement {
  readonly engine: string;
  readonly reference: string;
  /** throughputRatio (interquartile means, design / reference) in the baseline and now. */
  readonly baselineRatio: number;
  readonly currentRatio: number;
}

export interface GateOutcome {
  readonly pass: boolean;
  readonly verdicts: readonly MetricVerdict[];
  /** Why the gate failed, one line each (regressions with their size, equivalence failures, missing metrics). */
  readonly failures: readonly string[];
}

/**
 * Compares a measurement with the baseline under `rule`; `thresholds` overrides the rule's noise threshold for the
 * designs named (those whose ratio moves more than that from one run to the next on unchanged code).
 */
export function evaluateGate(current: GateMeasurement, baseline: GateBaseline, rule: GateRule, thresholds: Readonly<Record<string, number>> = {}): GateOutcome {
  const failures: string[] = [...current.equivalenceFailures.map((f) => `equivalence failure: ${f}`)];
  if (current.setKey !== baseline.setKey) {
    failures.push(`the baseline was measured on another benchmark set (${baseline.setKey}; now ${current.setKey}): rerun with --update-baseline`);
    return { pass: false, verdicts: [], failures };
  }
  const verdicts: MetricVerdict[] = [];
  for (const metric of current.metrics) {
    const base = baseline.metrics.find((m) => m.engine === metric.engine && m.reference === metric.reference);
    if (base === undefined) {
      failures.push(`${metric.engine}/${metric.reference} has no baseline: rerun with --update-baseline`);
      continue;
    }
    const designRule = { ...rule, threshold: thresholds[metric.engine] ?? rule.threshold };
    const j = judge(samplesOf(metric), samplesOf(base), designRule);
    const verdict: MetricVerdict = {
      ...j, engine: metric.engine, reference: metric.reference, baselineRatio: throughputRatio(samplesOf(base)), currentRatio: throughputRatio(samplesOf(metric)),
    };
    verdicts.push(verdict);
    if (j.verdict === 'regression') failures.push(`REGRESSION ${describeVerdict(verdict, designRule)}`);
  }
  return { pass: failures.length === 0, verdicts, failures };
}

/**
 * How this machine differs from the one the baseline was measured on, in what moves the ratios between designs
 * (CPU, usable cores, Node/V8), one phrase each; empty when it is the same kind of machine. Ratios cancel a machine
 * that is uniformly faster or slower, but another CPU or runtime can favour one design over another.
 */
export function machineDifferences(baseline: Environment, current: Environment): string[] {
  const fields: [string, string | number, string | number][] = [
    ['CPU', baseline.cpuModel, current.cpuModel],
    ['cores', baseline.cores, current.cores],
    ['Node', baseline.node, current.node],
    ['V8', baseline.v8, current.v8],
  ];
  return fields.filter(([, then, now]) => then !== now).map(([name, then, now]) => `${name} ${JSON.stringify(then)} in the baseline, ${JSON.stringify(now)} here`);
}

function percent(x: number): string {
  return `${x >= 0 ? '+' : '\u2212'}${Math.abs(100 * x).toFixed(1)} %`;
}

/** One line: the metric, the change with its interval, and the two ratios (baseline, now). */
export function describeVerdict(v: MetricVerdict, rule: GateRule): string {
  return (
    `${v.engine}: throughput relative to ${v.reference} ${percent(v.change)} ` +
    `(${Math.round(rule.confidence * 100)} % CI ${percent(v.low)} to ${percent(v.high)}; ratio ${v.baselineRatio.toFixed(3)} in the baseline, ${v.currentRatio.toFixed(3)} now)`
  );
}
