/**
 * The results file that `npm run compare` writes to `results/<timestamp>-<name>.json`: what the HTML report and the
 * performance gate read. Versioned: a change that removes or re-means a field bumps RESULTS_SCHEMA_VERSION; adding an
 * optional field does not. Readers check `schema` and `version` with `checkResultsFile` before trusting anything.
 *
 * Units are in the field names: latencies are integer nanoseconds (`...Ns`), throughput is commands per second,
 * rates are commands per second offered. Latency is submit → the last event of that command back on the client
 * (the producer thread), measured from the command's intended send time in open loop (coordinated-omission
 * corrected) and from its actual send time in closed loop.
 *
 * Layout:
 *   ResultsFile
 *   ├─ environment            where it ran (Node, V8, CPU, cores, OS, git)
 *   ├─ settings               repeat count, warm-up, clock, interleaving
 *   ├─ workloads[]            identity of every workload used (content hash + provenance)
 *   ├─ runs[]                 one per configuration (design × params × workload × producers × mode/rate)
 *   │   ├─ repetitions[]      every repetition's own figures, histogram and equivalence verdict
 *   │   └─ summary            medians and spreads over the repetitions, merged latency histogram, CPU per command
 *   ├─ floor                  what the machine and the harness alone cost, measured in the same interleaving
 *   │   ├─ harness[]          the `noop` floor (engines/noop.ts) at every producer count and load the designs ran
 *   │   └─ machine[]          the jitter probe (harness/jitter-probe.ts) at every workload and load
 *   └─ fidelity[]             LOBSTER replay fidelity figures, when a LOBSTER workload took part
 */

export const RESULTS_SCHEMA = 'matchbench-results';
export const RESULTS_SCHEMA_VERSION = 3;

export interface ResultsFile {
  readonly schema: typeof RESULTS_SCHEMA;
  readonly version: typeof RESULTS_SCHEMA_VERSION;
  /** Short name of this comparison (also in the file name), e.g. "default" or "disruptor-sweep". */
  readonly name: string;
  /** ISO-8601 time the run started. */
  readonly createdAt: string;
  /** The command line that produced this file (argv after the script). */
  readonly argv: readonly string[];
  readonly environment: Environment;
  readonly settings: RunSettings;
  readonly workloads: readonly WorkloadIdentity[];
  /** The designs' runs (never the floor's). */
  readonly runs: readonly RunResult[];
  readonly floor: FloorResults;
  /** The harness's own cost per command, one entry per workload `inline` ran on in closed loop (harness/harness-overhead.ts). */
  readonly harnessOverhead?: readonly HarnessOverhead[];
  /** LOBSTER replay fidelity of the LOBSTER workloads used, one entry per workload; empty when none. */
  readonly fidelity: readonly FidelityFigures[];
  /** True when every repetition of every run passed its equivalence check. */
  readonly allEquivalent: boolean;
}

export interface Environment {
  readonly node: string;
  readonly v8: string;
  readonly cpuModel: string;
  /** os.availableParallelism(): the cores this process may use. */
  readonly cores: number;
  readonly totalMemoryBytes: number;
  readonly os: { readonly platform: string; readonly release: string; readonly arch: string };
  /** HEAD commit of the working tree, null outside a git checkout. */
  readonly gitSha: string | null;
  /** Whether tracked files had uncommitted changes; null outside a git checkout. */
  readonly gitDirty: boolean | null;
}

export interface RunSettings {
  /** Measured repetitions per configuration. */
  readonly repeat: number;
  /**
   * The most warm-up commands per producer: each producer first replays the start of its share in closed loop,
   * outside the figures (10 % of its share up to this, unless set exactly); each run records its own count.
   */
  readonly warmupCommands: number;
  /** How repetitions were ordered: configurations interleaved round-robin within each repetition round. */
  readonly order: 'interleaved';
  /** The clock every timestamp comes from, and why it is valid across worker threads. */
  readonly clock: string;
  /** How the workload is divided among producers (see harness/split.ts). */
  readonly split: SplitRule;
  /**
   * The test-only MATCHBENCH_INJECT_SLOWDOWN knob (engines/slowdown-knob.ts) when it was set: every slowed design;
   * null normally. (Version 3: a list; version 2 held one design.)
   */
  readonly injectedSlowdown: readonly { readonly design: string; readonly fraction: number }[] | null;
}

export type SplitRule = 'order' | 'symbol' | 'round-robin';

export interface WorkloadIdentity {
  /** Key that runs refer to; unique within the file. */
  readonly id: string;
  /** Human name: the preset name or the file's base name. */
  readonly name: string;
  /** sha256 (hex) over the symbol table and the command records: two workloads with the same hash are identical. */
  readonly hash: string;
  readonly commands: number;
  readonly symbols: number;
  /** Where it came from: preset + seed + count, or the file path; plus the provenance stored in the workload itself. */
  readonly source: WorkloadSource;
  readonly provenance: Readonly<Record<string, unknown>>;
}

export type WorkloadSource =
  | { readonly kind: 'preset'; readonly preset: string; readonly seed: number; readonly count: number }
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'lobster'; readonly messageFile: string; readonly orderbookFile: string | null };

export type LoopMode = 'closed' | 'open';

export interface RunResult {
  /** Key unique within the file, e.g. "disruptor/balanced/p1/closed". */
  readonly id: string;
  /** Design name from engines/designs.ts. */
  readonly engine: string;
  /** Every design parameter as resolved (defaults filled in). */
  readonly params: Readonly<Record<string, number | string>>;
  readonly workload: string;
  readonly producers: number;
  readonly mode: LoopMode;
  /** Offered commands/s across all producers (open loop); null in closed loop. */
  readonly offeredRate: number | null;
  /** Warm-up commands each producer replayed before the measured part (in the equivalence check, not the figures). */
  readonly warmupPerProducer: number;
  /** Size of each core (the same for every configuration of a workload in one file; see harness/capacity.ts). */
  readonly coreCapacities: CoreCapacities;
  readonly repetitions: readonly Repetition[];
  readonly summary: RunSummary;
  /** The journal mode of the run (journal/journal-mode.ts); absent: none (files before the journal have none). */
  readonly journal?: JournalRunSettings;
  /** Name of the risk rules the run applied (compare --risk, the rule file's base name); absent: none. */
  readonly risk?: string;
}

export interface JournalRunSettings {
  readonly mode: 'async' | 'group' | 'sync';
  /** group: frame size and wait (journal/journal-mode.ts); present in every mode so the settings are complete. */
  readonly groupCommands: number;
  readonly groupWaitUs: number;
  /** The directory each run's journal was made in (its disk sets the fsync figures). */
  readonly dir: string;
  /** Snapshots under load at every multiple of this sequence number (journal/snapshotter-worker.ts); absent: none. */
  readonly snapshotEvery?: number;
  /**
   * A hot standby on a thread of the same process, over loopback (server/replicator.ts, server/standby.ts): `sync`
   * acknowledges once both journals hold a command, `async` without waiting for the standby; absent: none.
   */
  readonly replication?: 'async' | 'sync';
}

/** What the replicator measured in one repetition (server/replicator-worker.ts ReplicationSummary). */
export interface ReplicationFigures {
  readonly mode: 'async' | 'sync';
  readonly recordsSent: number;
  /** Sampled every heartbeat: commands sequenced and not yet held by the standby; the age of the oldest, µs. */
  readonly lagCommands: { readonly p50: number; readonly p99: number; readonly max: number };
  readonly lagUs: { readonly p50: number; readonly p99: number; readonly max: number };
  /** The standby acknowledged every record at the end. */
  readonly drained: boolean;
}

/** The snapshots one repetition took under load (runs with `snapshotEvery`). */
export interface SnapshotFigures {
  readonly taken: number;
  /** Bytes of one snapshot file (every one of a run has the core's size). */
  readonly bytes: number;
  /** How long each pause held its sequencer, ns, as the sequencer measured it (the copy of its core and two wake-ups). */
  readonly pausesNs: readonly number[];
}

/** What the journaller did in one repetition (harness/run.ts JournalOutcome). */
export interface JournalFigures {
  readonly frames: number;
  readonly records: number;
  readonly fsyncs: number;
  readonly bytes: number;
  readonly segments: number;
  /** Every write + fsync of a frame: encoded histogram (ns) and percentiles; null when the mode made none. */
  readonly fsyncHistogram: string | null;
  readonly fsync: LatencyPercentiles | null;
  readonly snapshots?: SnapshotFigures;
  readonly replication?: ReplicationFigures;
}

/** Values over repetitions (commands/s, or a fraction): their median and range. */
export interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

/** Commands/s over repetitions. */
export type ThroughputSpread = Spread;

/**
 * `inline` through the harness against the fast core alone, same workload, warm-up and commands, the core alone run
 * right after each closed-loop `inline` repetition (harness/harness-overhead.ts).
 */
export interface HarnessOverhead {
  readonly workload: string;
  /** Rounds: repetitions of each. */
  readonly repetitions: number;
  /** Closed-loop commands/s of `inline`'s fastest repetition, and of the fast core alone's. */
  readonly inlineThroughput: number;
  readonly coreThroughput: number;
  /** 1 − inline / core of the two fastest: the share of the core's rate the harness takes. */
  readonly overhead: number;
  /** 1e9 / inline − 1e9 / core of the two fastest: what the harness adds per command, ns. */
  readonly perCommandNs: number;
  /**
   * Every repetition's commands/s of each, so a reader sees how far the fastest stands from the rest (on a shared
   * machine both spread by ±25 % within one run, which moves the figure by as much). Absent in files written before
   * it was recorded.
   */
  readonly inlineSpread?: ThroughputSpread;
  readonly coreSpread?: ThroughputSpread;
  /**
   * The same two formulas per round, on the pair measured one right after the other, over the rounds: the overhead's
   * median and range and the per-command ns's median. Absent in files written before the pairs were measured.
   */
  readonly paired?: { readonly overhead: Spread; readonly perCommandNs: number };
}

export interface CoreCapacities {
  readonly maxOrders: number;
  readonly maxSymbols: number;
  readonly ladderTicks: number;
  readonly maxEventsPerCommand: number;
}

export interface Repetition {
  /** Position of this repetition in the whole session (0-based): shows the interleaving. */
  readonly order: number;
  /** Commands measured (all producers, warm-up excluded). */
  readonly commands: number;
  /** Events delivered to the producers during the measured part. */
  readonly events: number;
  /** From the common start to the last completion, nanoseconds. */
  readonly elapsedNs: number;
  /** commands / elapsed, commands per second. */
  readonly throughput: number;
  /**
   * CPU time (user + system) of the whole process, every thread, over the timed window plus the few ms of its
   * start line and of the producers' reports (harness/run.ts), ns; and the wall time of that window, ns.
   */
  readonly cpuNs: number;
  readonly cpuWindowNs: number;
  readonly latency: LatencyPercentiles;
  /** The repetition's merged latency histogram, HdrHistogram compressed base64, values in ns. */
  readonly histogram: string;
  /** Includes the journal check (harness/journal-check.ts) in runs with a journal. */
  readonly equivalence: EquivalenceVerdict;
  readonly journal?: JournalFigures;
}

export interface LatencyPercentiles {
  readonly count: number;
  readonly meanNs: number;
  readonly p50Ns: number;
  readonly p90Ns: number;
  readonly p99Ns: number;
  readonly p99_9Ns: number;
  readonly p99_99Ns: number;
  readonly maxNs: number;
}

export interface RunSummary {
  readonly throughput: ThroughputSpread;
  readonly cpu: CpuFigures;
  /** Percentiles of all repetitions' histograms merged. */
  readonly latency: LatencyPercentiles;
  /** The merged histogram, HdrHistogram compressed base64, values in ns. */
  readonly histogram: string;
  /**
   * Median throughput over the median throughput of `inline` on the same workload and mode/rate (with its own
   * producer count, which is 1); null when inline did not run alongside.
   */
  readonly ratioToInline: number | null;
  /** True when every repetition passed equivalence. */
  readonly equivalent: boolean;
  /** Runs with a journal: every repetition's fsyncs merged (null when the mode made none). */
  readonly fsync?: LatencyPercentiles | null;
  /** Runs with snapshots under load: every repetition's pauses (null when none was taken). */
  readonly snapshotPause?: { readonly count: number; readonly p50Ns: number; readonly maxNs: number } | null;
}

/** Medians over the repetitions of what the CPU did (Repetition.cpuNs over its window). */
export interface CpuFigures {
  /**
   * Measured commands per CPU-second of the whole process, as throughput / coresBusy (the window's CPU scaled to the
   * timed part): a design that burns two cores for another's throughput on one shows half.
   */
  readonly commandsPerCpuSecond: number;
  /** CPU time over wall time of the window: how many cores were busy on average (at most the machine's cores). */
  readonly coresBusy: number;
}

/**
 * The floor: references measured in the same interleaving as the designs, drawn on every latency chart. Where a
 * design's tail is within ~2x of a floor, that floor, not the design, sets it.
 */
export interface FloorResults {
  /**
   * `noop` (engines/noop.ts) through the same harness: the harness's own cost per command. Its `equivalence` verdicts
   * are the completion check (harness/completion-check.ts: every command completed once, in order, no events).
   */
  readonly harness: readonly RunResult[];
  readonly machine: readonly MachineFloorRun[];
}

/** The jitter probe (harness/jitter-probe.ts) at one workload and load: as long as that load's design runs. */
export interface MachineFloorRun {
  /** e.g. "jitter-probe/balanced/open@500000". */
  readonly id: string;
  readonly workload: string;
  readonly mode: LoopMode;
  readonly offeredRate: number | null;
  readonly repetitions: readonly ProbeRepetition[];
  readonly summary: ProbeFigures;
}

export interface ProbeRepetition extends ProbeFigures {
  readonly order: number;
}

export interface ProbeFigures {
  /** Probe time (summed over repetitions in a summary), ns. */
  readonly durationNs: number;
  readonly readings: number;
  readonly gapsByDecade: GapDecades;
  /** Every gap between two consecutive clock readings, HdrHistogram compressed base64, ns. */
  readonly gapHistogram: string;
  readonly gaps: LatencyPercentiles;
  /**
   * What an infinitely fast engine's commands would show in this mode, HdrHistogram compressed base64, ns: in open
   * loop the latency of each scheduled command (first clock reading at or after its due time, minus that time); in
   * closed loop the gaps (one loop turn per command).
   */
  readonly histogram: string;
  readonly latency: LatencyPercentiles;
}

/** Gaps between clock readings by size. */
export interface GapDecades {
  readonly below1us: number;
  readonly from1to10us: number;
  readonly from10to100us: number;
  readonly from100usTo1ms: number;
  readonly from1to10ms: number;
  readonly atLeast10ms: number;
}

export interface EquivalenceVerdict {
  readonly ok: boolean;
  /** Commands in the recorded sequences (all sequencers). */
  readonly commands: number;
  /** Events compared event for event. */
  readonly events: number;
  /** Number of recorded sequences (1 for single-sequencer designs, K for sharded). */
  readonly sequences: number;
  /** Final book hash per sequencer, as reported by the design (equal to the reference's when ok). */
  readonly bookHashes: readonly string[];
  /** First thing that differed, in words, when not ok (includes the differing event lines). */
  readonly failure: string | null;
}

export interface FidelityFigures {
  readonly workload: string;
  /** LOBSTER visible executions (type-4 rows) reproduced exactly (same maker id and size). */
  readonly executions: { readonly matched: number; readonly total: number };
  /** Messages after which the top-N book equals LOBSTER's orderbook row; null without an orderbook file. */
  readonly book: { readonly matched: number; readonly total: number } | null;
}

/** Throws, naming the file and what is wrong, unless `value` is a results file this code can read. */
export function checkResultsFile(value: unknown, where: string): ResultsFile {
  if (typeof value !== 'object' || value === null) throw new Error(`${where}: not a JSON object`);
  const v = value as { schema?: unknown; version?: unknown; runs?: unknown };
  if (v.schema !== RESULTS_SCHEMA) throw new Error(`${where}: field "schema" is ${JSON.stringify(v.schema)}, expected "${RESULTS_SCHEMA}"`);
  if (v.version !== RESULTS_SCHEMA_VERSION) {
    throw new Error(`${where}: field "version" is ${JSON.stringify(v.version)}, this code reads version ${RESULTS_SCHEMA_VERSION}`);
  }
  if (!Array.isArray(v.runs)) throw new Error(`${where}: field "runs" is not an array`);
  return value as ResultsFile;
}
