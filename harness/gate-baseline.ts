/**
 * The gate's baseline (results/baseline.json), what the two trees' measuring processes may be paired on, and how
 * their paired runs are judged.
 *
 * The baseline is a commit, not a set of figures: the gate measures that commit's code and the current code side
 * by side on whatever machine it runs on (harness/gate.ts), so nothing measured elsewhere is ever compared.
 *
 *   results/baseline.json, version 2:
 *   {
 *     "schema": "matchbench-gate-baseline",
 *     "version": 2,
 *     "commit": "<40 hex digits>",        the code every run is compared with
 *     "updatedAt": "<ISO 8601>",          when --update-baseline wrote it
 *     "reason": "<text>"                  why the baseline moved (--reason)
 *   }
 *
 * Version rule: a reader refuses any other version, naming the file and the field. Version 1 (stored per-round
 * ratios measured on one machine) is no longer read: its figures could not be judged on any other kind of machine.
 *
 * The two trees' measuring processes (harness/gate-process.ts) each announce a set key (SetKey, as JSON: workload,
 * warmup, producers, mode, designs with their parameters); planPairs decides from the two keys what can be paired.
 */
import { interquartileMean, judge, type GateRule, type Judgement, type RoundSamples } from './gate-stats.ts';

export const GATE_BASELINE_SCHEMA = 'matchbench-gate-baseline';
export const GATE_BASELINE_VERSION = 2;

export interface GateBaseline {
  readonly schema: typeof GATE_BASELINE_SCHEMA;
  readonly version: typeof GATE_BASELINE_VERSION;
  readonly commit: string;
  readonly updatedAt: string;
  readonly reason: string;
}

/** The parsed set key. */
export interface SetKey {
  readonly workload: string;
  readonly warmup: number;
  readonly producers: number;
  readonly mode: string;
  readonly designs: readonly { readonly engine: string; readonly params: unknown }[];
}

const COMMIT = /^[0-9a-f]{40}$/;

export function baselineOf(commit: string, reason: string, updatedAt: string): GateBaseline {
  if (!COMMIT.test(commit)) throw new Error(`baseline commit "${commit}" is not a full 40-digit commit id`);
  if (reason.trim() === '') throw new Error('a baseline needs a reason (--reason TEXT)');
  return { schema: GATE_BASELINE_SCHEMA, version: GATE_BASELINE_VERSION, commit, updatedAt, reason };
}

/** Throws, naming the file and the field, unless `value` is a gate baseline this code reads. */
export function checkBaseline(value: unknown, where: string): GateBaseline {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${where}: not a JSON object`);
  const v = value as Partial<Record<keyof GateBaseline, unknown>>;
  if (v.schema !== GATE_BASELINE_SCHEMA) throw new Error(`${where}: field "schema" is ${JSON.stringify(v.schema)}, expected "${GATE_BASELINE_SCHEMA}"`);
  if (v.version !== GATE_BASELINE_VERSION) {
    throw new Error(`${where}: field "version" is ${JSON.stringify(v.version)}, this code reads version ${GATE_BASELINE_VERSION} (write one with \`npm run gate -- --update-baseline --reason TEXT\`)`);
  }
  if (typeof v.commit !== 'string' || !COMMIT.test(v.commit)) throw new Error(`${where}: field "commit" is ${JSON.stringify(v.commit)}, expected a full 40-digit commit id`);
  if (typeof v.updatedAt !== 'string') throw new Error(`${where}: field "updatedAt" is not a string`);
  if (typeof v.reason !== 'string' || v.reason.trim() === '') throw new Error(`${where}: field "reason" is not a non-empty string`);
  return value as GateBaseline;
}

/** Parses a measuring process's set key, naming `where` on error. */
export function parseSetKey(setKey: string, where: string): SetKey {
  let value: unknown;
  try {
    value = JSON.parse(setKey);
  } catch {
    throw new Error(`${where}: set key is not JSON: ${setKey.slice(0, 80)}`);
  }
  const v = value as Partial<Record<keyof SetKey, unknown>> | null;
  if (v === null || typeof v !== 'object' || typeof v.workload !== 'string' || typeof v.warmup !== 'number' || typeof v.producers !== 'number' || typeof v.mode !== 'string' || !Array.isArray(v.designs)) {
    throw new Error(`${where}: set key needs workload, warmup, producers, mode and designs: ${setKey.slice(0, 120)}`);
  }
  for (const [i, d] of (v.designs as unknown[]).entries()) {
    if (typeof (d as { engine?: unknown } | null)?.engine !== 'string') throw new Error(`${where}: set key designs[${i}] has no engine name`);
  }
  return v as SetKey;
}

/** The two trees measured a different workload or mode: their figures cannot be paired (neither pass nor fail). */
export class SetMismatchError extends Error {
  override readonly name = 'SetMismatchError';
}

/** What two trees' set keys allow: the designs to pair (in the current set's order), and notes for the rest. */
export interface PairPlan {
  readonly designs: readonly string[];
  /** Things a reader must know that are not failures: designs only one tree has, parameters that changed. */
  readonly notes: readonly string[];
}

/**
 * Throws SetMismatchError when the trees measure another workload, warm-up, producer count or mode; otherwise the
 * designs both have.
 */
export function planPairs(baselineKey: string, currentKey: string): PairPlan {
  const base = parseSetKey(baselineKey, 'baseline');
  const now = parseSetKey(currentKey, 'current');
  for (const field of ['workload', 'warmup', 'producers', 'mode'] as const) {
    if (base[field] !== now[field]) {
      throw new SetMismatchError(`the baseline's code measures another benchmark set (${field} ${JSON.stringify(base[field])}, now ${JSON.stringify(now[field])}): move the baseline with \`npm run gate -- --update-baseline --reason TEXT\` once the new set is committed`);
    }
  }
  const notes: string[] = [];
  const designs: string[] = [];
  for (const design of now.designs) {
    const before = base.designs.find((d) => d.engine === design.engine);
    if (before === undefined) {
      notes.push(`${design.engine}: not judged, the baseline's code has no such design`);
      continue;
    }
    if (JSON.stringify(before.params) !== JSON.stringify(design.params)) {
      notes.push(`${design.engine}: its default parameters changed (${JSON.stringify(before.params)} in the baseline, ${JSON.stringify(design.params)} now); judged as the design runs by default`);
    }
    designs.push(design.engine);
  }
  for (const gone of base.designs.filter((d) => !now.designs.some((n) => n.engine === d.engine))) notes.push(`${gone.engine}: in the baseline's set, no longer in the current one`);
  return { designs, notes };
}

/** One design's paired runs: `design` under the current code, `reference` under the baseline's, pair i run back to back. */
export interface PairedDesign {
  readonly engine: string;
  readonly samples: RoundSamples;
}

export interface PairedMeasurement {
  readonly designs: readonly PairedDesign[];
  readonly notes: readonly string[];
  /** Equivalence failures of the current code (fail the gate) and of the baseline's (reported). */
  readonly equivalenceFailures: readonly string[];
  readonly baselineEquivalenceFailures: readonly string[];
  /** Pairs measured again because other processes used too much of the machine (harness/gate-contention.ts). */
  readonly discardedPairs: number;
}

export interface DesignVerdict extends Judgement {
  readonly engine: string;
  /** Interquartile means of the paired rounds' throughputs, commands/s. */
  readonly baselineThroughput: number;
  readonly currentThroughput: number;
  readonly pairs: number;
}

export interface GateOutcome {
  readonly pass: boolean;
  readonly verdicts: readonly DesignVerdict[];
  /** Why the gate failed, one line each (regressions with their size, equivalence failures). */
  readonly failures: readonly string[];
}

/** Judges every paired design under `rule`. */
export function evaluateGate(paired: PairedMeasurement, rule: GateRule): GateOutcome {
  const failures: string[] = paired.equivalenceFailures.map((f) => `equivalence failure: ${f}`);
  const verdicts: DesignVerdict[] = paired.designs.map(({ engine, samples }) => {
    const verdict: DesignVerdict = {
      ...judge(samples, rule),
      engine,
      baselineThroughput: interquartileMean(samples.reference),
      currentThroughput: interquartileMean(samples.design),
      pairs: samples.design.length,
    };
    if (verdict.verdict === 'regression') failures.push(`REGRESSION ${describeVerdict(verdict, rule)}`);
    return verdict;
  });
  return { pass: failures.length === 0, verdicts, failures };
}

function percent(x: number): string {
  return `${x >= 0 ? '+' : '\u2212'}${Math.abs(100 * x).toFixed(1)} %`;
}

/** One line: the design, the change with its interval and threshold, and the two throughputs. */
export function describeVerdict(v: DesignVerdict, rule: GateRule): string {
  return (
    `${v.engine}: throughput relative to the baseline's code ${percent(v.change)} ` +
    `(${Math.round(rule.confidence * 100)} % CI ${percent(v.low)} to ${percent(v.high)}; threshold ${(rule.threshold * 100).toFixed(0)} %; ` +
    `${v.pairs} run pairs, ${(v.baselineThroughput / 1e6).toFixed(2)} M/s baseline, ${(v.currentThroughput / 1e6).toFixed(2)} M/s now)`
  );
}
