/**
 * Reading a design's figures against the floor measured beside it (results-schema.ts FloorResults): the jitter
 * probe's at the same workload and load (what the machine alone costs) and `noop`'s at the same workload, load and
 * producer count (what the machine plus the harness cost). Where a design's p99 is within TAIL_SET_BY_FLOOR of a
 * floor's p99, that floor sets the tail and the figure says little about the design: compare and the report say so
 * rather than blame the design.
 */
import type { FloorResults, LatencyPercentiles, RunResult } from './results-schema.ts';

/** A design p99 at most this many times a floor's p99 is that floor's tail, not the design's. */
export const TAIL_SET_BY_FLOOR = 2;

export interface RunFloor {
  /** The jitter probe's zero-cost-engine latency at this workload and load; null when none was measured. */
  readonly machine: LatencyPercentiles | null;
  /** noop's latency at this workload, load and producer count; null when none was measured. */
  readonly harness: LatencyPercentiles | null;
}

export function floorOf(floor: FloorResults, run: RunResult): RunFloor {
  const machine = floor.machine.find((m) => m.workload === run.workload && m.mode === run.mode && m.offeredRate === run.offeredRate);
  const harness = floor.harness.find((h) => h.workload === run.workload && h.mode === run.mode && h.offeredRate === run.offeredRate && h.producers === run.producers);
  return { machine: machine?.summary.latency ?? null, harness: harness?.summary.latency ?? null };
}

/** Which floor sets `run`'s p99 (the machine's first: it is under the harness's), or null when the design does. */
export function tailSetBy(run: RunResult, floor: RunFloor): 'machine' | 'harness' | null {
  const p99 = run.summary.latency.p99Ns;
  if (floor.machine !== null && p99 <= TAIL_SET_BY_FLOOR * floor.machine.p99Ns) return 'machine';
  if (floor.harness !== null && p99 <= TAIL_SET_BY_FLOOR * floor.harness.p99Ns) return 'harness';
  return null;
}
