/**
 * What the risk checks and the breaker cost each design: for every run under rules (compare --risk), its median
 * throughput over the same configuration's without rules, measured in the same interleaved session. Printed by
 * `compare` and drawn by the report.
 */
import type { RunResult } from './results-schema.ts';

export interface RiskCost {
  /** The run under rules. */
  readonly id: string;
  readonly engine: string;
  readonly workload: string;
  readonly producers: number;
  readonly mode: RunResult['mode'];
  readonly offeredRate: number | null;
  readonly rules: string;
  readonly withRules: number;
  readonly withoutRules: number;
  /** withRules ÷ withoutRules (1 = free). */
  readonly ratio: number;
}

export function riskCosts(runs: readonly RunResult[]): RiskCost[] {
  const byId = new Map(runs.map((r) => [r.id, r]));
  return runs.flatMap((r) => {
    if (r.risk === undefined) return [];
    const without = byId.get(r.id.slice(0, r.id.length - `/risk=${r.risk}`.length));
    if (without === undefined || without.summary.throughput.median === 0) return [];
    return [{
      id: r.id, engine: r.engine, workload: r.workload, producers: r.producers, mode: r.mode, offeredRate: r.offeredRate, rules: r.risk,
      withRules: r.summary.throughput.median, withoutRules: without.summary.throughput.median,
      ratio: r.summary.throughput.median / without.summary.throughput.median,
    }];
  });
}
