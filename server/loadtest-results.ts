/**
 * The load test's results file (`npm run loadtest`, server/loadtest.ts), described once, and the report's charts of
 * it (harness/report.ts renders a file of either kind):
 *
 *   { "schema": "matchbench-loadtest", "version": 1, "createdAt", "environment", "settings": { workload, commands,
 *     connections, pipelining, durationS, journal, params }, "results": [ { design, repetition,
 *     "http": { requests, seconds, throughput, latency, histogram, statuses, errors, unanswered, check },
 *     "binary": { requests, seconds, throughput, latency, histogram }, ratio } ] }
 *
 * `throughput` is requests (binary: commands) per second, `latency` percentiles in ns with `histogram` the
 * hdr-histogram-js compressed base64 of every sample, `ratio` HTTP ÷ binary throughput. Version rule: a change to a
 * field's meaning or a removed field bumps `version`; the reader takes one version.
 */
import type { TopLevelSpec } from 'vega-lite';
import type { Chart, ChartTable } from '../harness/report-charts.ts';
import { percentileAxisValues, percentileCurve } from '../harness/report-latency.ts';
import type { Environment, LatencyPercentiles } from '../harness/results-schema.ts';
import type { JournalMode } from '../journal/journal-mode.ts';

export const LOADTEST_SCHEMA = 'matchbench-loadtest';
export const LOADTEST_SCHEMA_VERSION = 1;

export interface LoadtestRun {
  readonly requests: number;
  readonly seconds: number;
  /** Commands (HTTP: responses) per second. */
  readonly throughput: number;
  readonly latency: LatencyPercentiles;
  readonly histogram: string;
}

export interface HttpRun extends LoadtestRun {
  readonly statuses: Readonly<Record<string, number>>;
  /** Transport errors and timeouts autocannon counted. */
  readonly errors: number;
  /** Requests sent and never answered: in flight when autocannon stopped (it stops once `amount` are sent). */
  readonly unanswered: number;
  readonly check: string;
  /** The WebSocket feed during the run: subscribers (l2 and trades of every symbol) and what reached them. */
  readonly fanOut?: FanOut;
}

export interface FanOut {
  readonly subscribers: number;
  /** Feed messages all subscribers received during the run, and per second of it. */
  readonly messages: number;
  readonly messagesPerSecond: number;
  /** Updates dropped for subscribers over the buffer threshold (matchbench_ws_conflated_total). */
  readonly conflated: number;
}

export interface LoadtestResult {
  readonly design: string;
  readonly repetition: number;
  readonly http: HttpRun;
  readonly binary: LoadtestRun;
  /** HTTP throughput ÷ binary throughput. */
  readonly ratio: number;
}

export interface LoadtestSettings {
  readonly workload: string;
  readonly commands: number;
  readonly connections: number;
  readonly pipelining: number;
  readonly durationS: number;
  readonly journal: JournalMode;
  readonly params: readonly string[];
}

export interface LoadtestFile {
  readonly schema: typeof LOADTEST_SCHEMA;
  readonly version: typeof LOADTEST_SCHEMA_VERSION;
  readonly createdAt: string;
  readonly environment: Environment;
  readonly settings: LoadtestSettings;
  readonly results: readonly LoadtestResult[];
}

export function isLoadtestFile(value: unknown): boolean {
  return typeof value === 'object' && value !== null && (value as { schema?: unknown }).schema === LOADTEST_SCHEMA;
}

export function checkLoadtestFile(value: unknown, where: string): LoadtestFile {
  if (!isLoadtestFile(value)) throw new Error(`${where}: field "schema" is not "${LOADTEST_SCHEMA}"`);
  const v = value as { version?: unknown; results?: unknown; settings?: unknown; environment?: unknown };
  if (v.version !== LOADTEST_SCHEMA_VERSION) throw new Error(`${where}: field "version" is ${JSON.stringify(v.version)}, this code reads version ${LOADTEST_SCHEMA_VERSION}`);
  if (!Array.isArray(v.results)) throw new Error(`${where}: field "results" is not an array`);
  if (typeof v.settings !== 'object' || v.settings === null) throw new Error(`${where}: field "settings" is not an object`);
  if (typeof v.environment !== 'object' || v.environment === null) throw new Error(`${where}: field "environment" is not an object`);
  return value as LoadtestFile;
}

const WIDTH = 560;
const us = (ns: number): number => Math.round(ns / 100) / 10;
const rate = (n: number): string => (n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : `${(n / 1e3).toFixed(1)}K`);

/** The summary table: one row per design and repetition. */
export function loadtestTable(file: LoadtestFile): ChartTable {
  return {
    columns: ['Design', 'Rep', 'HTTP req/s', 'p50 (µs)', 'p99', 'p99.9', 'max', 'Statuses', 'Unanswered', 'Binary cmd/s', 'p50 (µs)', 'p99', 'HTTP ÷ binary',
      'WS fan-out (subscribers × msgs/s)', 'Check'],
    rows: file.results.map((r) => [
      r.design, r.repetition + 1, rate(r.http.throughput), us(r.http.latency.p50Ns), us(r.http.latency.p99Ns), us(r.http.latency.p99_9Ns), us(r.http.latency.maxNs),
      Object.entries(r.http.statuses).map(([s, n]) => `${s}×${n}`).join(' '), r.http.unanswered, rate(r.binary.throughput), us(r.binary.latency.p50Ns), us(r.binary.latency.p99Ns),
      Number(r.ratio.toFixed(3)),
      r.http.fanOut === undefined ? '–' : `${r.http.fanOut.subscribers} × ${rate(r.http.fanOut.messagesPerSecond / Math.max(1, r.http.fanOut.subscribers))} (${r.http.fanOut.conflated} conflated)`,
      r.http.check,
    ]),
  };
}

/** Throughput of each design over HTTP and over the binary protocol, and each design's latency curves. */
export function loadtestCharts(file: LoadtestFile, prefix: string): Chart[] {
  if (file.results.length === 0) return [];
  const bars = file.results.flatMap((r) => [
    { design: r.design, path: 'HTTP (REST, autocannon)', throughput: r.http.throughput / 1e3, note: `${r.design} rep ${r.repetition + 1} over HTTP: ${rate(r.http.throughput)} requests/s` },
    { design: r.design, path: 'binary wire protocol', throughput: r.binary.throughput / 1e3, note: `${r.design} rep ${r.repetition + 1} over the wire protocol: ${rate(r.binary.throughput)} commands/s (HTTP ÷ binary ${r.ratio.toFixed(3)})` },
  ]);
  const throughput: Chart = {
    id: `${prefix}loadtest-throughput`,
    title: 'What the HTTP front costs: the same commands over REST and over the wire protocol',
    caption:
      `Each design served the same ${file.settings.commands.toLocaleString('en-US')} commands twice, each time from a fresh server: over REST and over the binary protocol, ` +
      `${file.settings.connections} connections with ${file.settings.pipelining} in flight each, closed loop. A dot per repetition; further right is faster. ` +
      'The load generator shares the machine with the server, in both runs alike: read the ratio between the two dots of a design.',
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      width: WIDTH,
      data: { values: bars },
      mark: { type: 'point', filled: true, size: 80 },
      encoding: {
        y: { field: 'design', type: 'nominal', title: 'Design' },
        x: { field: 'throughput', type: 'quantitative', title: 'Throughput (thousand requests or commands per second)', scale: { zero: true }, axis: { grid: true } },
        color: { field: 'path', type: 'nominal', title: 'Path', legend: { orient: 'bottom', labelLimit: 400 } },
        shape: { field: 'path', type: 'nominal', title: 'Path' },
        description: { field: 'note', type: 'nominal' },
      },
    } as unknown as TopLevelSpec,
    table: loadtestTable(file),
  };
  const latency = [...new Set(file.results.map((r) => r.design))].map((design, n): Chart => {
    const runs = file.results.filter((r) => r.design === design);
    const series = runs.flatMap((r) => [
      { label: `HTTP, rep ${r.repetition + 1}`, run: r.http as LoadtestRun },
      { label: `binary, rep ${r.repetition + 1}`, run: r.binary },
    ]);
    const points = series.flatMap((s) => percentileCurve(s.run.histogram, `${design} ${s.label}`).map((p) => ({
      path: s.label, ...p, latencyUs: Math.max(p.latencyUs, 0.001),
      note: `${design} ${s.label}: ${Number(p.percentile.toFixed(4))}% within ${Number(p.latencyUs.toPrecision(4))} µs`,
    })));
    const maxInverseTail = Math.max(2, ...points.map((p) => p.inverseTail));
    return {
      id: `${prefix}loadtest-latency-${n}`,
      title: `Latency by percentile over HTTP and over the wire protocol: ${design}`,
      caption: 'HTTP: autocannon\u2019s time from sending a request to its response, recorded per response in µs. Binary: the load client\u2019s send \u2192 ACK. Lower is better.',
      spec: {
        $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
        width: WIDTH,
        height: 260,
        data: { values: points },
        encoding: {
          x: {
            field: 'inverseTail', type: 'quantitative', scale: { type: 'log', domain: [1, maxInverseTail] },
            axis: { title: 'Percentile (log scale of 1/(1 \u2212 p))', values: percentileAxisValues(maxInverseTail), labelExpr: "format(100 - 100 / datum.value, '') + '%'", grid: true },
          },
          y: { field: 'latencyUs', type: 'quantitative', scale: { type: 'log' }, axis: { title: 'Latency (microseconds, log scale)', grid: true } },
          color: { field: 'path', type: 'nominal', title: 'Path', legend: { orient: 'bottom', labelLimit: 400 } },
        },
        layer: [
          { mark: { type: 'line', interpolate: 'step-after', aria: false } },
          { transform: [{ filter: 'datum.labelled' }], mark: { type: 'point', filled: true, size: 25 }, encoding: { description: { field: 'note', type: 'nominal' } } },
        ],
      } as unknown as TopLevelSpec,
      table: {
        columns: ['Path', 'Samples', 'p50 (µs)', 'p90', 'p99', 'p99.9', 'p99.99', 'max'],
        rows: series.map(({ label, run }) => [label, run.latency.count, us(run.latency.p50Ns), us(run.latency.p90Ns), us(run.latency.p99Ns), us(run.latency.p99_9Ns), us(run.latency.p99_99Ns), us(run.latency.maxNs)]),
      },
    };
  });
  return [throughput, ...latency];
}
