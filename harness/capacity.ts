/**
 * How big a core the harness gives a design: big enough for every order that can be resting at once, and no
 * bigger, because a larger order pool and id hash cost cache misses on every command (on `balanced`, sizing for
 * every order ever submitted instead of the peak makes the core ~40 % slower).
 *
 * With one producer the book sees the workload's own order and engines/fast.ts sizes the core from that replay's
 * peak (with 2× headroom). With P producers the book sees some interleaving of their streams, and the peak depends
 * on it: under a round-robin split a cancel that overtakes its order leaves the order resting for good, and on the
 * `sweep` preset even whole-order splits change how much the sweeps take. So for each split the harness replays a
 * few interleavings (strict alternation, and bursts of 32 and of 1024 per producer, as closed-loop producers
 * submit), takes the largest peak, and sizes for twice that — never more than every new order. Every configuration
 * on a workload then gets the same core, so designs are compared on equal terms.
 */
import { EVENT_BYTES } from '../engines/event-record.ts';
import { FastCore } from '../engines/fast-core.ts';
import { capacitiesForWorkload, type FastEngineCapacities } from '../engines/fast.ts';
import { OP_NEW, type Workload } from '../workloads/workload.ts';
import type { WorkloadSplit } from './split.ts';
import type { RiskRules } from '../risk/rules.ts';

const INTERLEAVE_BURSTS = [1, 32, 1024];

/** Replays `order` (workload indexes) through a core with room for every order; returns the most resting at once. */
function peakResting(workload: Workload, order: Int32Array, capacities: FastEngineCapacities): number {
  const core = FastCore.create(capacities);
  const outputRecords = capacities.maxEventsPerCommand + 1;
  core.setEventOutput(new ArrayBuffer(outputRecords * EVENT_BYTES), 0, outputRecords);
  let peak = 0;
  for (let k = 0; k < order.length; k++) {
    const index = order[k]!;
    core.outCursor = 0;
    core.processRecord(workload.bytes, workload.f64, index, index);
    if (core.liveOrders > peak) peak = core.liveOrders;
  }
  return peak;
}

/** The producers' streams merged by taking `burst` commands from each in turn. */
function interleave(streams: readonly Int32Array[], burst: number): Int32Array {
  const total = streams.reduce((n, s) => n + s.length, 0);
  const out = new Int32Array(total);
  const at = new Int32Array(streams.length);
  let n = 0;
  while (n < total) {
    for (let p = 0; p < streams.length; p++) {
      const stream = streams[p]!;
      for (let k = 0; k < burst && at[p]! < stream.length; k++) out[n++] = stream[at[p]!++]!;
    }
  }
  return out;
}

/** Capacities for running `workload` under every split in `splits` (one core size for all of them), under `rules`. */
export function capacitiesForSplits(workload: Workload, splits: readonly WorkloadSplit[], rules: RiskRules | null = null): FastEngineCapacities {
  const fitted = capacitiesForWorkload(workload, {}, rules);
  const shared = splits.filter((s) => s.producers > 1);
  if (shared.length === 0) return fitted;
  let newOrders = 0;
  for (let i = 0; i < workload.count; i++) if (workload.op(i) === OP_NEW) newOrders++;
  const everyOrder = Math.max(fitted.maxOrders, newOrders);
  const roomy = capacitiesForWorkload(workload, { maxOrders: everyOrder }, rules);
  let peak = 0;
  for (const split of shared) {
    for (const burst of INTERLEAVE_BURSTS) peak = Math.max(peak, peakResting(workload, interleave(split.streams, burst), roomy));
  }
  let maxOrders = fitted.maxOrders;
  while (maxOrders < 2 * peak && maxOrders < everyOrder) maxOrders *= 2;
  return capacitiesForWorkload(workload, { maxOrders: Math.min(maxOrders, everyOrder) }, rules);
}
