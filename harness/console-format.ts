/**
 * How the command line prints figures (compare's progress lines, tables and harness overhead): short forms for a
 * terminal. The HTML report has its own, spelled out with units (harness/report-charts.ts).
 */
import type { Spread } from './results-schema.ts';

/** Commands/s as "1.23M", "456K" or "789". */
export function formatRate(perSecond: number): string {
  if (perSecond >= 1e6) return `${(perSecond / 1e6).toFixed(2)}M`;
  if (perSecond >= 1e3) return `${(perSecond / 1e3).toFixed(0)}K`;
  return perSecond.toFixed(0);
}

/** A duration in the largest unit that keeps it ≥ 1: s, ms, µs or ns. */
export function formatNs(ns: number): string {
  if (ns >= 1e9) return `${(ns / 1e9).toFixed(2)} s`;
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(1)} µs`;
  return `${Math.round(ns)} ns`;
}

/** A fraction as "12.3 %". */
export function formatPercent(fraction: number): string {
  return `${(100 * fraction).toFixed(1)} %`;
}

/** A spread of fractions' range as "0.0 % to 50.0 %". */
export function formatPercentRange(s: Spread): string {
  return `${formatPercent(s.min)} to ${formatPercent(s.max)}`;
}
