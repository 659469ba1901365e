/**
 * What the harness itself costs per command: `inline` through the harness against the fast core alone on the same
 * prepared workload. `compare` measures it after the comparison for every workload where `inline` ran in closed
 * loop, prints it as "harness overhead" and records it in the results file (results-schema.ts HarnessOverhead).
 *
 * The core alone (harness/core-alone-worker.ts) runs in a worker thread like a producer, on a core built the way
 * `inline` builds its own (in a SharedArrayBuffer the main thread allocates, with `inline`'s capacities), over the
 * same commands in the same order with the same warm-up, as many times as `inline` was repeated. `inline` adds
 * exactly the harness: the producer loop, the core output region and its polls, the event log kept for the
 * equivalence check, the sequence log, the latency records and one clock read per burst.
 *
 *   overhead     = 1 − inline / core        (closed-loop commands/s of each one's fastest repetition: the share of the
 *                                            core's rate the harness takes)
 *   perCommandNs = 1e9 / inline − 1e9 / core
 *
 * The fastest repetition, not the median: on a shared machine a repetition only ever runs slower than the code
 * allows (another process took the core), never faster, so the fastest of each is the least disturbed estimate of
 * what each costs, and the two are measured minutes apart (medians there compared one spell of load with another).
 * Both spread by about ±25 % from repetition to repetition within one run on the 2-vCPU machines measured, so the
 * fastest of a few moves the figure by tens of percent between runs: every repetition's median and range are
 * recorded and printed beside it, for the reader to judge how far to trust it.
 *
 * `inline` is every other design's yardstick (`× inline`), so a harness that costs as much as the core squeezes every
 * design's ratio towards 1; this figure says how far.
 */
import { startThread } from '../engines/workers/start-thread.ts';
import { coreOutputBytes } from '../engines/core-output.ts';
import { EVENT_BYTES } from '../engines/event-record.ts';
import { endThread } from '../engines/workers/end-thread.ts';
import { FastCore } from '../engines/fast-core.ts';
import { bytesFor } from '../engines/fast-core-layout.ts';
import { RegionAllocator } from '../engines/shared/layout.ts';
import { formatRate } from './comparison.ts';
import type { CoreAloneReport, CoreAloneTask } from './core-alone-worker.ts';
import type { PreparedWorkload } from './prepared-workload.ts';
import { median } from './gate-stats.ts';
import type { CoreCapacities, HarnessOverhead, RunResult, ThroughputSpread } from './results-schema.ts';

/** One timed replay of `workload` by the fast core alone, warm-up first, in a fresh worker thread. */
export async function runCoreAlone(workload: PreparedWorkload, capacities: CoreCapacities, warmup: number): Promise<CoreAloneReport> {
  const regions = new RegionAllocator();
  const coreAt = regions.reserve('core', bytesFor(capacities));
  const outputBytes = coreOutputBytes(capacities.maxEventsPerCommand);
  const outputAt = regions.reserve('event output', outputBytes);
  const buffer = regions.createBuffer();
  FastCore.create(capacities, buffer, coreAt);
  const task: CoreAloneTask = {
    buffer, coreAt, outputAt, outputRecords: outputBytes / EVENT_BYTES, records: workload.shared.records, count: workload.shared.count,
    warmup: Math.min(warmup, workload.shared.count),
  };
  const worker = startThread(new URL('./core-alone-worker.ts', import.meta.url), { workerData: task });
  try {
    return await new Promise<CoreAloneReport>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', (error) => reject(new Error(`core alone on ${workload.identity.id}: ${error.stack ?? error.message}`)));
      worker.once('exit', (code) => reject(new Error(`core alone on ${workload.identity.id} exited (code ${code}) before reporting`)));
    });
  } finally {
    await endThread(worker);
  }
}

/** The figure from both measurements: `inline`'s repetitions' throughputs and the core-alone runs. */
export function harnessOverheadOf(workload: string, inlineThroughputs: readonly number[], core: readonly CoreAloneReport[]): HarnessOverhead {
  if (inlineThroughputs.length === 0 || core.length === 0) throw new Error(`harness overhead on ${workload}: needs an inline run and a core-alone run`);
  const coreThroughputs = core.map((r) => (r.commands * 1e9) / r.elapsedNs);
  const inlineThroughput = Math.max(...inlineThroughputs);
  const coreThroughput = Math.max(...coreThroughputs);
  return {
    workload,
    repetitions: core.length,
    inlineThroughput,
    coreThroughput,
    overhead: 1 - inlineThroughput / coreThroughput,
    perCommandNs: 1e9 / inlineThroughput - 1e9 / coreThroughput,
    inlineSpread: spreadOf(inlineThroughputs),
    coreSpread: spreadOf(coreThroughputs),
  };
}

function spreadOf(values: readonly number[]): ThroughputSpread {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values) };
}

/**
 * For every closed-loop `inline` run among `runs`: the core alone as many times as that run was repeated, and the
 * figure. Fails if the core alone wrote a different number of events than `inline` delivered: then the two did not
 * do the same work.
 */
export async function measureHarnessOverhead(runs: readonly RunResult[], workloads: readonly PreparedWorkload[]): Promise<HarnessOverhead[]> {
  const figures: HarnessOverhead[] = [];
  for (const run of runs) {
    // Without a journal (a journaled run measures the disk as well, which the core alone does not touch) and without
    // risk rules (the core alone runs without them).
    if (run.engine !== 'inline' || run.mode !== 'closed' || run.journal !== undefined || run.risk !== undefined) continue;
    const workload = workloads.find((w) => w.identity.id === run.workload);
    if (workload === undefined) throw new Error(`harness overhead: workload ${run.workload} of ${run.id} is not among the inputs`);
    const core: CoreAloneReport[] = [];
    for (const repetition of run.repetitions) {
      const alone = await runCoreAlone(workload, run.coreCapacities, run.warmupPerProducer);
      if (alone.events !== repetition.events) {
        throw new Error(`harness overhead on ${run.workload}: the core alone wrote ${alone.events} events, inline delivered ${repetition.events}`);
      }
      core.push(alone);
    }
    figures.push(harnessOverheadOf(run.workload, run.repetitions.map((r) => r.throughput), core));
  }
  return figures;
}

export function formatHarnessOverhead(o: HarnessOverhead): string {
  return `harness overhead on ${o.workload}: inline ${formatRate(o.inlineThroughput)} cmd/s through the harness, the fast core alone ` +
    `${formatRate(o.coreThroughput)} cmd/s (fastest of ${o.repetitions} each): ${(100 * o.overhead).toFixed(1)} % (${o.perCommandNs.toFixed(0)} ns per command)` +
    (o.inlineSpread === undefined || o.coreSpread === undefined ? '' : `; all repetitions: inline ${spreadText(o.inlineSpread)}, core alone ${spreadText(o.coreSpread)}`);
}

/** "median M (min–max)" in cmd/s. */
function spreadText(s: ThroughputSpread): string {
  return `median ${formatRate(s.median)} (${formatRate(s.min)}\u2013${formatRate(s.max)})`;
}
