/**
 * One repetition of one configuration: start the design, start P producer threads on their shares of the
 * workload, let them warm up, release them together at a common start time, collect their figures and event
 * logs, read the recorded sequences and book hashes, close everything. The equivalence check is the caller's,
 * after this returns (outside anything timed).
 *
 * With a journal mode other than `none`, a journaller thread (journal/journaller-thread.ts) journals the run into a
 * temporary directory under the request's journal directory, acknowledgements wait for the disk where the mode
 * says so (harness/producer-loop.ts), and after the run the journal is read back and checked against the recorded
 * sequences (harness/journal-check.ts), then deleted.
 *
 * A run fails, with the design and producer named, if a producer or engine worker throws or exits early, or if no
 * command completes for `stallTimeoutMs` (a wedged design must not hang the comparison).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { startThread } from '../engines/workers/start-thread.ts';
import { endThread } from '../engines/workers/end-thread.ts';
import type { JournalSettings } from '../journal/journal-mode.ts';
import type { JournallerStats } from '../journal/journaller.ts';
import { startJournaller, type JournallerHandle } from '../journal/journaller-thread.ts';
import { startSnapshotter, type SnapshotterHandle, type SnapshotTaken } from '../journal/snapshotter-thread.ts';
import { startReplicator, type ReplicationMode, type ReplicatorHandle } from '../server/replicator.ts';
import type { ReplicationSummary } from '../server/replicator-worker.ts';
import { startStandbyThread, type StandbyThread } from '../server/standby-thread.ts';
import type { EngineDesign, ParamValues, SequencedRun } from '../engines/engine.ts';
import { bookHashOfCores } from '../engines/core-inspect.ts';
import type { FastEngineCapacities } from '../engines/fast.ts';
import { capacitiesForSplits } from './capacity.ts';
import { nowNs } from './clock.ts';
import { EVENT_BYTES } from '../engines/event-record.ts';
import { firstChunkBytes, type EventLogBuffers, type EventLogData } from './event-log.ts';
import { encodeHistogram, latencyHistogram, mergeEncoded, percentilesOf } from './histogram.ts';
import { checkJournal, checkStandbyJournal, sendersOfSplit, type JournalVerdict } from './journal-check.ts';
import type { PreparedWorkload } from './prepared-workload.ts';
import type { ProducerReport, ProducerTask } from './producer-worker.ts';
import type { JournalFigures, LatencyPercentiles, LoopMode, ReplicationFigures, SnapshotFigures } from './results-schema.ts';
import { CONTROL_GO, CONTROL_READY, CONTROL_START_F64, controlBytes, controlViews, progressWord } from './run-control.ts';
import type { WorkloadSplit } from './split.ts';

/** Producers get this long between learning the start time and the start, so all are spinning when it comes. */
const START_DELAY_NS = 5e6;
const WATCH_INTERVAL_MS = 100;
export const DEFAULT_STALL_TIMEOUT_MS = 60_000;

export interface RunRequest {
  readonly design: EngineDesign;
  readonly params: ParamValues;
  readonly workload: PreparedWorkload;
  readonly split: WorkloadSplit;
  readonly mode: LoopMode;
  /** Offered commands/s over all producers; required in open loop. */
  readonly rate: number | null;
  /**
   * Core capacities; by default the workload's own for one producer, else sized for this split's interleavings
   * (harness/capacity.ts). A comparison passes one size for every configuration of a workload.
   */
  readonly capacities?: FastEngineCapacities;
  /** Warm-up commands per producer (the first ones of its stream; fewer if its stream is shorter). */
  readonly warmup: number;
  /** Called about every 100 ms with commands completed so far (warm-up included) out of the workload's. */
  readonly onProgress?: (completed: number, total: number) => void;
  readonly stallTimeoutMs?: number;
  /**
   * The journal mode and the directory each run's journal is made in (and deleted from), and snapshots under load
   * every `snapshotEvery` sequence numbers (absent: none); absent: no journal.
   */
  readonly journal?: { readonly settings: JournalSettings; readonly dir: string; readonly snapshotEvery?: number; readonly replication?: ReplicationMode };
  /**
   * Where the producers' event logs come from: spare buffers of earlier runs, given back by the caller once it has
   * checked their logs (EventLogBuffers.give); absent: each producer makes its own.
   */
  readonly logBuffers?: EventLogBuffers;
}

/** What the journaller did in one run, and the check of what it wrote. */
export interface JournalOutcome extends JournalFigures {
  readonly check: JournalVerdict;
}

/** Heartbeats of a run's replicator and standby, ms (the standby never promotes in a run: see startStandbyThread's caller). */
const REPLICATION_HEARTBEAT_MS = 50;

export interface RunOutcome {
  /** Measured commands, all producers. */
  readonly commands: number;
  readonly events: number;
  readonly elapsedNs: number;
  readonly throughput: number;
  /**
   * CPU time of the whole process (every thread: producers, engine workers, main) from just before the start signal
   * until every producer's report arrived, user + system, ns; and the wall time of that window. It covers the
   * measured part plus the few ms of the start line (START_DELAY_NS, every thread spinning) and of the reports.
   */
  readonly cpuNs: number;
  readonly cpuWindowNs: number;
  readonly histogram: string;
  readonly latency: LatencyPercentiles;
  /** Every producer's event log (warm-up included), by producer. */
  readonly logs: readonly EventLogData[];
  readonly sequenced: SequencedRun;
  /** Canonical hash of the whole book at the end (all sequencers' books together). */
  readonly bookHash: string;
  readonly journal: JournalOutcome | null;
}

export async function runOnce(request: RunRequest): Promise<RunOutcome> {
  const { design, params, workload, split, mode } = request;
  const producers = split.producers;
  const max = design.maxProducers(params);
  if (producers > max) throw new Error(`${design.name} supports at most ${max} producer(s); ${producers} requested`);
  if (mode === 'open' && !(request.rate !== null && request.rate > 0)) throw new Error(`open loop needs a positive rate; got ${request.rate}`);

  const capacities = request.capacities ?? (producers === 1 ? workload.capacities : capacitiesForSplits(workload.workload, [split]));
  const session = design.start({ workload: workload.shared, producers, params, capacities });
  const controlBuffer = new SharedArrayBuffer(controlBytes(producers));
  const control = controlViews(controlBuffer);
  const workers: Worker[] = [];
  let fail: (error: Error) => void = () => {};
  const failure = new Promise<never>((_, reject) => { fail = reject; });
  failure.catch(() => {});
  session.onError((error) => fail(error));
  let watch: NodeJS.Timeout | undefined;
  let journaller: JournallerHandle | null = null;
  let snapshotter: SnapshotterHandle | null = null;
  let replicator: ReplicatorHandle | null = null;
  let standby: StandbyThread | null = null;
  let journalDir: string | null = null;
  let standbyDir: string | null = null;
  try {
    const journalSettings = request.journal?.settings;
    let journalDirs: string[] = [];
    if (request.journal !== undefined && journalSettings !== undefined && journalSettings.mode !== 'none') {
      journalDir = mkdtempSync(join(request.journal.dir, `matchbench-journal-${design.name}-`));
      const logs = session.sequenceLogs();
      const root = journalDir;
      journalDirs = logs.length === 1 ? [root] : logs.map((_, k) => join(root, `shard-${k}`));
      const senders = sendersOfSplit(split, workload.shared.count);
      const replication = request.journal.replication;
      journaller = await startJournaller({
        logs, dirs: journalDirs, firstSequences: logs.map(() => 0), design: design.name, symbols: workload.shared.symbols,
        records: workload.shared.records, recordCount: workload.shared.count, ...senders, settings: journalSettings,
        ...(replication === 'sync' ? { setsDurable: false } : {}),
      }, (error) => fail(error));
      if (replication !== undefined) {
        // The standby on a thread of this process, over loopback; a generous timeout, so a busy machine's pause is no failover.
        standbyDir = mkdtempSync(join(request.journal.dir, `matchbench-standby-${design.name}-`));
        standby = await startStandbyThread({
          dir: standbyDir, design: design.name, symbols: workload.shared.symbols, maxOrders: capacities.maxOrders, mode: journalSettings.mode, missedHeartbeats: 1000,
        }, (error) => fail(error));
        replicator = startReplicator({
          logs, firstSequences: logs.map(() => 0), records: workload.shared.records, recordCount: workload.shared.count, ...senders,
          journaled: journaller.journaled, journalDirs, host: '127.0.0.1', port: standby.port, mode: replication, heartbeatMs: REPLICATION_HEARTBEAT_MS,
          missedHeartbeats: 1000, epoch: 1, epochStarts: logs.map(() => 0), design: design.name, symbols: workload.shared.symbols, hashInterval: 0,
        }, () => {}, (message) => fail(new Error(`replication: ${message}`)), (error) => fail(error));
        if (await Promise.race([replicator.firstContact, failure]) !== 'welcomed') throw new Error('replication: the standby did not answer');
      }
      const every = request.journal.snapshotEvery ?? 0;
      if (every > 0) {
        snapshotter = await startSnapshotter({
          logs, cores: session.cores(), dirs: journalDirs, firstSequences: logs.map(() => 0), design: design.name, symbols: workload.shared.symbols,
          initialSessions: logs.map(() => []), ...senders, journaled: journaller.journaled, every, hashEvery: 0,
        }, () => {}, (error) => fail(error));
      }
    }
    const durable = replicator?.durable ?? journaller?.durable ?? null;
    const reports = split.streams.map((stream, p) => {
      const { init, transfer } = session.producerInit(p);
      const logBuffer = request.logBuffers?.take(firstChunkBytes(stream.length)) ?? null;
      const task: ProducerTask = {
        design: design.name, init, workload: workload.shared, producer: p, producers, stream,
        warmup: Math.min(request.warmup, stream.length), mode, rate: request.rate ?? 0, control: controlBuffer, durable, logBuffer,
      };
      const worker = startThread(new URL('./producer-worker.ts', import.meta.url), { workerData: task, transferList: [...transfer, ...(logBuffer === null ? [] : [logBuffer])] });
      workers.push(worker);
      return new Promise<ProducerReport>((resolve, reject) => {
        worker.once('message', (report: ProducerReport) => resolve(report));
        worker.once('error', (error) => reject(new Error(`${design.name} producer ${p}: ${error.stack ?? error.message}`)));
        worker.once('exit', (code) => reject(new Error(`${design.name} producer ${p} exited (code ${code}) before reporting`)));
      });
    });
    const all = Promise.all(reports);
    all.catch((error: Error) => fail(error));

    let lastProgress = -1;
    let lastChange = Date.now();
    const stallMs = request.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS;
    watch = setInterval(() => {
      let completed = 0;
      for (let p = 0; p < producers; p++) completed += Atomics.load(control.i32, progressWord(p));
      request.onProgress?.(completed, workload.workload.count);
      if (completed !== lastProgress) {
        lastProgress = completed;
        lastChange = Date.now();
      } else if (Date.now() - lastChange > stallMs) {
        fail(new Error(`${design.name}: no command completed for ${stallMs / 1000} s (${completed} of ${workload.workload.count} done)`));
      }
    }, WATCH_INTERVAL_MS);

    await Promise.race([waitForReady(control.i32, producers), failure]);
    const cpuBefore = process.cpuUsage();
    const cpuFrom = nowNs();
    const t0 = cpuFrom + START_DELAY_NS;
    control.f64[CONTROL_START_F64] = t0;
    Atomics.store(control.i32, CONTROL_GO, 1);
    Atomics.notify(control.i32, CONTROL_GO);
    const done = await Promise.race([all, failure]);
    const cpu = process.cpuUsage(cpuBefore);
    const cpuWindowNs = nowNs() - cpuFrom;
    const journalStats = journaller === null ? null : await Promise.race([journaller.stop(), failure]);
    const replicated = replicator === null ? null : await Promise.race([replicator.stop(), failure]);
    const standbyLog = standby === null ? null : await Promise.race([standby.stop(), failure]);
    const snapshots = snapshotter === null ? null : snapshotFigures(await Promise.race([snapshotter.stop(false), failure]));

    const commands = done.reduce((n, r) => n + r.commands, 0);
    const events = done.reduce((n, r) => n + r.events, 0);
    const end = Math.max(...done.map((r) => r.lastCompletionNs));
    const elapsedNs = commands === 0 ? 0 : Math.max(1, Math.round(end - t0));
    const merged = mergeEncoded(done.map((r) => r.histogram));
    // No latency can exceed the run. One that does was timed from a send time never set (the clock's whole reading,
    // hours): the design completed a command before trySubmit accepted it, a bug no event check sees. Checked here,
    // once, outside the producers' loops.
    const runNs = nowNs() - cpuFrom;
    if (merged.latency.maxNs > runNs + 1e9) {
      throw new Error(`${design.name}: a command completed before its submission was accepted (a latency of ${(merged.latency.maxNs / 1e9).toFixed(1)} s in a run of ${(runNs / 1e9).toFixed(1)} s)`);
    }
    const symbols = workload.workload.symbols;
    const cores = session.cores();
    const sequenced: SequencedRun = {
      sequences: session.sequences(),
      bookHashes: cores.map((core) => bookHashOfCores([core], symbols)),
    };
    let check = journalStats === null ? null : checkJournal(journalDirs, sequenced.sequences, split, new Uint8Array(workload.shared.records));
    if (check !== null && check.ok && standbyDir !== null) {
      check = standbyLog!.promoted ? { ok: false, records: check.records, failure: `the standby promoted itself during the run: ${standbyLog!.lines.join(' | ')}` } : checkStandbyJournal(journalDirs, standbyDir, check.records);
    }
    const journal = journalStats === null ? null : journalOutcome(journalStats, check!, snapshots, replicated === null ? null : replicationFigures(request.journal!.replication!, replicated));
    return {
      commands, events, elapsedNs, throughput: elapsedNs === 0 ? 0 : (commands * 1e9) / elapsedNs,
      cpuNs: (cpu.user + cpu.system) * 1000, cpuWindowNs,
      histogram: merged.histogram, latency: merged.latency, logs: done.map((r) => r.log), sequenced,
      // One core: the whole book is that core's book, already hashed for the sequence check.
      bookHash: cores.length === 1 ? sequenced.bookHashes[0]! : bookHashOfCores(cores, symbols),
      journal,
    };
  } finally {
    clearInterval(watch);
    await Promise.all(workers.map(endThread));
    await replicator?.close();
    await standby?.close();
    await journaller?.close();
    await snapshotter?.close();
    await session.close();
    if (journalDir !== null) rmSync(journalDir, { recursive: true, force: true });
    if (standbyDir !== null) rmSync(standbyDir, { recursive: true, force: true });
  }
}

function snapshotFigures(taken: readonly SnapshotTaken[]): SnapshotFigures {
  // A pause whose sequencer never reported back (NaN) has no length to show.
  return { taken: taken.length, bytes: taken[0]?.bytes ?? 0, pausesNs: taken.map((s) => s.pauseNs).filter((ns) => Number.isFinite(ns)) };
}

function replicationFigures(mode: ReplicationMode, r: ReplicationSummary): ReplicationFigures {
  return { mode, recordsSent: r.recordsSent, lagCommands: r.lagCommands, lagUs: r.lagUs, drained: r.drained };
}

function journalOutcome(stats: JournallerStats, check: JournalVerdict, snapshots: SnapshotFigures | null, replication: ReplicationFigures | null): JournalOutcome {
  let fsyncHistogram: string | null = null;
  let fsync: LatencyPercentiles | null = null;
  if (stats.fsyncNs.length > 0) {
    const histogram = latencyHistogram();
    for (const ns of stats.fsyncNs) histogram.recordValue(Math.max(1, Math.round(ns)));
    fsyncHistogram = encodeHistogram(histogram);
    fsync = percentilesOf(histogram);
    histogram.destroy();
  }
  return {
    frames: stats.frames, records: stats.records, fsyncs: stats.fsyncs, bytes: stats.bytes, segments: stats.segments, fsyncHistogram, fsync, check,
    ...(snapshots === null ? {} : { snapshots }),
    ...(replication === null ? {} : { replication }),
  };
}

/** Resolves once `producers` producers have reported ready, checking every millisecond without blocking. */
async function waitForReady(i32: Int32Array, producers: number): Promise<void> {
  for (;;) {
    const ready = Atomics.load(i32, CONTROL_READY);
    if (ready >= producers) return;
    const wait = Atomics.waitAsync(i32, CONTROL_READY, ready, 50);
    if (wait.async) await wait.value;
  }
}
