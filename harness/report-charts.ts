/**
 * The report's charts as vega-lite specs, built from results files: which charts exist, what they plot, their
 * titles and units. Pure data in, specs out; harness/report.ts renders them to SVG and assembles the page.
 *
 * A chart is only produced when its data exists (no open-loop runs, no latency-vs-load chart; one producer count,
 * no scaling chart), and every chart comes with the table of the numbers it plots, so a reader can check the
 * picture and copy the figures.
 */
import type { TopLevelSpec } from 'vega-lite';
import type { LatencyPercentiles, LoopMode, ResultsFile, RunResult } from './results-schema.ts';
import { percentileAxisValues, percentileCurve } from './report-latency.ts';
import { mergeEncoded } from './histogram.ts';

export interface ChartTable {
  readonly columns: readonly string[];
  readonly rows: readonly (readonly (string | number)[])[];
}

export interface Chart {
  /** Stable key, also the HTML id of the chart's figure. */
  readonly id: string;
  readonly title: string;
  /** One or two sentences under the chart: what is plotted and how to read it. */
  readonly caption: string;
  readonly spec: TopLevelSpec;
  readonly table: ChartTable;
}

const WIDTH = 560;

/** Short name for a run within its file: the design, the parameters that vary among that design's runs, producers. */
export function runLabel(run: RunResult, file: ResultsFile): string {
  const sameEngine = file.runs.filter((r) => r.engine === run.engine);
  const varying = Object.keys(run.params)
    .filter((key) => new Set(sameEngine.map((r) => String(r.params[key]))).size > 1)
    .sort();
  const parts = [run.engine, ...varying.map((key) => `${key}=${run.params[key]}`)];
  if (new Set(sameEngine.map((r) => r.producers)).size > 1 || run.producers > 1) parts.push(`P=${run.producers}`);
  if (sameEngine.some((r) => r.journal !== undefined)) {
    const standby = run.journal?.replication === undefined ? '' : `+standby-${run.journal.replication}`;
    const snapshots = run.journal?.snapshotEvery === undefined ? '' : '+snapshots';
    parts.push(`journal=${run.journal?.mode ?? 'none'}${snapshots}${standby}`);
  }
  if (sameEngine.some((r) => r.risk !== undefined)) parts.push(run.risk === undefined ? 'no risk rules' : `risk=${run.risk}`);
  return parts.join(' ');
}

export function workloadName(file: ResultsFile, id: string): string {
  return file.workloads.find((w) => w.id === id)?.name ?? id;
}

function modeName(run: RunResult): string {
  return run.mode === 'closed' ? 'closed loop (max throughput)' : `open loop at ${formatRate(run.offeredRate ?? 0)}`;
}

export function formatRate(commandsPerSecond: number): string {
  if (commandsPerSecond >= 1e6) return `${round3(commandsPerSecond / 1e6)} M cmd/s`;
  if (commandsPerSecond >= 1e3) return `${round3(commandsPerSecond / 1e3)} K cmd/s`;
  return `${round3(commandsPerSecond)} cmd/s`;
}

function round3(x: number): number {
  return Number(x.toPrecision(3));
}

function us(ns: number): number {
  return Number((ns / 1000).toPrecision(4));
}

const LABEL_TITLE = 'Design';

export const MACHINE_FLOOR_LABEL = 'machine floor (jitter probe)';
export const HARNESS_FLOOR_LABEL = 'harness floor (noop)';
/** vega-lite's default category colours, for the designs; the floors are grey. */
const DESIGN_COLOURS = ['#4c78a8', '#f58518', '#e45756', '#72b7b2', '#54a24b', '#eeca3b', '#b279a2', '#ff9da6', '#9d755d', '#bab0ac'];
const MACHINE_FLOOR_STYLE = { colour: '#808080', dash: [8, 4] } as const;
/** noop at each producer count: short dashes, a darker grey for fewer producers. */
const HARNESS_FLOOR_GREYS = ['#2b2b2b', '#a8a8a8', '#5a5a5a'];
const HARNESS_FLOOR_DASH: readonly number[] = [2, 3];
const SOLID: readonly number[] = [1, 0];
const FLOOR_NOTE =
  ' Grey dashed curves are the floor measured in the same run at the same load: what this machine and harness alone cost ' +
  '(the jitter probe: a thread that only reads the clock, as an infinitely fast engine would see it; noop: the harness with no matching).';

/** One curve of a latency chart: a design's run, or a floor measured at the same load. */
interface LatencySeries {
  readonly label: string;
  readonly kind: 'design' | 'machine floor' | 'harness floor';
  readonly histogram: string;
  readonly latency: LatencyPercentiles;
  readonly where: string;
}

function floorSeries(file: ResultsFile, workload: string, mode: LoopMode, rate: number | null): LatencySeries[] {
  const sameLoad = <T extends { readonly workload: string; readonly mode: LoopMode; readonly offeredRate: number | null }>(r: T): boolean =>
    r.workload === workload && r.mode === mode && r.offeredRate === rate;
  const producerCounts = new Set(file.floor.harness.map((h) => h.producers));
  return [
    ...file.floor.machine.filter(sameLoad).filter((m) => m.summary.latency.count > 0).map((m): LatencySeries => ({
      label: MACHINE_FLOOR_LABEL, kind: 'machine floor', histogram: m.summary.histogram, latency: m.summary.latency, where: m.id,
    })),
    ...file.floor.harness.filter(sameLoad).filter((h) => h.summary.latency.count > 0).map((h): LatencySeries => ({
      label: producerCounts.size > 1 || h.producers > 1 ? `${HARNESS_FLOOR_LABEL} P=${h.producers}` : HARNESS_FLOOR_LABEL,
      kind: 'harness floor', histogram: h.summary.histogram, latency: h.summary.latency, where: h.id,
    })),
  ];
}

/** Colour and dash scales over series labels: designs in colour and solid, floors grey and dashed. */
function seriesScales(series: readonly { readonly label: string; readonly kind: LatencySeries['kind'] }[]): { colour: object; dash: object } {
  const labels = [...new Map(series.map((s) => [s.label, s.kind])).entries()];
  let designs = 0;
  let harness = 0;
  const style = labels.map(([, kind]) => {
    if (kind === 'design') return { colour: DESIGN_COLOURS[designs++ % DESIGN_COLOURS.length]!, dash: SOLID };
    if (kind === 'machine floor') return MACHINE_FLOOR_STYLE;
    return { colour: HARNESS_FLOOR_GREYS[harness++ % HARNESS_FLOOR_GREYS.length]!, dash: HARNESS_FLOOR_DASH };
  });
  const domain = labels.map(([label]) => label);
  return { colour: { domain, range: style.map((s) => s.colour) }, dash: { domain, range: style.map((s) => s.dash) } };
}
/** Appended to captions of charts whose series are run labels (see runLabel). */
const LABEL_NOTE = ' A design\u2019s label lists the parameters that differ between its runs, and P = the number of producer threads.';

function throughputChart(file: ResultsFile, prefix: string): Chart | undefined {
  const closed = file.runs.filter((r) => r.mode === 'closed' && r.repetitions.length > 0);
  if (closed.length === 0) return undefined;
  const values = closed.flatMap((run) => {
    const design = runLabel(run, file);
    const workload = workloadName(file, run.workload);
    const t = run.summary.throughput;
    return [
      {
        design,
        workload,
        median: t.median / 1e6,
        min: t.min / 1e6,
        max: t.max / 1e6,
        note: `${design} on ${workload}: median ${formatRate(t.median)} (${formatRate(t.min)} to ${formatRate(t.max)}, ${run.repetitions.length} repetitions)`,
      },
      ...run.repetitions.map((rep, i) => ({ design, workload, throughput: rep.throughput / 1e6, note: `${design} repetition ${i + 1}: ${formatRate(rep.throughput)}` })),
    ];
  });
  const axisX = { title: 'Throughput (million commands per second)', grid: true };
  const y = { field: 'design', type: 'nominal', title: LABEL_TITLE } as const;
  const description = { field: 'note', type: 'nominal' } as const;
  return {
    id: `${prefix}throughput`,
    title: 'Closed-loop throughput per design and workload',
    caption:
      'Each row is one design on one workload, pushed as fast as it will go. The dot is the median over repetitions, ' +
      'the bar spans the slowest to the fastest repetition, and the small ticks are the individual repetitions. Further right is faster.' + LABEL_NOTE,
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      // One panel per workload (vconcat rather than facet: each panel lists only its own designs).
      vconcat: [...new Set(values.map((v) => v.workload))].map((workload) => ({
        title: { text: `Workload: ${workload}`, anchor: 'start', fontSize: 12 },
        width: WIDTH,
        data: { values: values.filter((v) => v.workload === workload) },
        layer: [
          {
            mark: { type: 'rule', strokeWidth: 2, color: '#9ab' },
            encoding: { y, x: { field: 'min', type: 'quantitative', axis: axisX }, x2: { field: 'max' } },
          },
          {
            mark: { type: 'tick', color: '#678', thickness: 1, size: 10 },
            encoding: { y, x: { field: 'throughput', type: 'quantitative' }, description },
          },
          {
            mark: { type: 'point', filled: true, size: 70, color: '#1f5fa6' },
            encoding: { y, x: { field: 'median', type: 'quantitative' }, description },
          },
        ],
      })),
    } as unknown as TopLevelSpec,
    table: {
      columns: ['Workload', 'Design', 'Median (M cmd/s)', 'Min', 'Max', 'Repetitions'],
      rows: closed.map((run) => [
        workloadName(file, run.workload),
        runLabel(run, file),
        round3(run.summary.throughput.median / 1e6),
        round3(run.summary.throughput.min / 1e6),
        round3(run.summary.throughput.max / 1e6),
        run.repetitions.length,
      ]),
    },
  };
}

/** One chart per workload and load level: every design's latency percentile curve (all repetitions merged). */
function percentileCharts(file: ResultsFile, prefix: string): Chart[] {
  const groups = new Map<string, RunResult[]>();
  for (const run of file.runs) {
    if (run.summary.latency.count === 0) continue;
    const key = `${run.workload}|${run.mode}|${run.offeredRate ?? ''}`;
    groups.set(key, [...(groups.get(key) ?? []), run]);
  }
  const charts: Chart[] = [];
  let n = 0;
  for (const runs of groups.values()) {
    const first = runs[0]!;
    const series: LatencySeries[] = [
      ...runs.map((run): LatencySeries => ({ label: runLabel(run, file), kind: 'design', histogram: run.summary.histogram, latency: run.summary.latency, where: `run ${run.id}` })),
      ...floorSeries(file, first.workload, first.mode, first.offeredRate),
    ];
    // The designs' sample sizes set the x range: the probe's millions of clock-read gaps would stretch it to
    // percentiles no design resolves, so a floor curve stops where the designs' do (its maximum is in the table).
    const designTail = Math.max(...runs.map((run) => run.summary.latency.count));
    const points = series.flatMap((s) =>
      percentileCurve(s.histogram, s.where).filter((p) => s.kind === 'design' || p.inverseTail <= designTail).map((p) => ({
        design: s.label,
        ...p,
        // The y axis is logarithmic: a zero (a clock that did not tick) is drawn at 1 ns.
        latencyUs: Math.max(p.latencyUs, 0.001),
        note: `${s.label}: ${Number(p.percentile.toFixed(4))}% of ${s.kind === 'machine floor' && first.mode === 'closed' ? 'clock-read gaps' : 'commands'} within ${Number(p.latencyUs.toPrecision(4))} \u00b5s`,
      })),
    );
    const scales = seriesScales(series);
    if (points.length === 0) continue;
    const maxInverseTail = Math.max(...points.map((p) => p.inverseTail));
    const where = `${workloadName(file, first.workload)}, ${modeName(first)}`;
    charts.push({
      id: `${prefix}percentiles-${n++}`,
      title: `Latency by percentile: ${where}`,
      caption:
        'Latency from submitting a command to receiving its last event, all repetitions merged. Read across: at "99%" the curve ' +
        'shows the latency that 99 % of commands beat. Lower is better; the right end is the single worst command. ' +
        (first.mode === 'closed'
          ? 'In closed loop each producer sends as fast as it can, so this includes queueing behind its own earlier commands.'
          : 'Open loop: measured from each command\u2019s scheduled send time, so stalls count in full (no coordinated omission).') +
        LABEL_NOTE + FLOOR_NOTE +
        (first.mode === 'closed' ? ' In closed loop the jitter probe\u2019s curve is the gaps between its clock reads (a zero-cost command costs one loop turn).' : ''),
      spec: {
        $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
        width: WIDTH,
        height: 300,
        data: { values: points },
        encoding: {
          x: {
            field: 'inverseTail',
            type: 'quantitative',
            scale: { type: 'log', domain: [1, maxInverseTail] },
            axis: { title: 'Percentile (log scale of 1/(1 \u2212 p))', values: percentileAxisValues(maxInverseTail), labelExpr: "format(100 - 100 / datum.value, '') + '%'", grid: true },
          },
          y: { field: 'latencyUs', type: 'quantitative', scale: { type: 'log' }, axis: { title: 'Latency (microseconds, log scale)', grid: true } },
          color: { field: 'design', type: 'nominal', title: LABEL_TITLE, scale: scales.colour, legend: { orient: 'bottom', columns: 2, labelLimit: 400, symbolType: 'stroke', symbolStrokeWidth: 2 } },
        },
        layer: [
          {
            mark: { type: 'line', interpolate: 'step-after', aria: false },
            encoding: { strokeDash: { field: 'design', type: 'nominal', title: LABEL_TITLE, scale: scales.dash } },
          },
          { transform: [{ filter: 'datum.labelled' }], mark: { type: 'point', filled: true, size: 25 }, encoding: { description: { field: 'note', type: 'nominal' } } },
        ],
      } as unknown as TopLevelSpec,
      table: {
        columns: ['Design', 'Samples', 'p50 (\u00b5s)', 'p90', 'p99', 'p99.9', 'p99.99', 'max'],
        rows: series.map((s) => {
          const l = s.latency;
          return [s.label, l.count, us(l.p50Ns), us(l.p90Ns), us(l.p99Ns), us(l.p99_9Ns), us(l.p99_99Ns), us(l.maxNs)];
        }),
      },
    });
  }
  return charts;
}

function latencyVsLoadChart(file: ResultsFile, prefix: string): Chart | undefined {
  const open = file.runs.filter((r) => r.mode === 'open' && r.offeredRate !== null && r.summary.latency.count > 0);
  if (open.length === 0) return undefined;
  const percentiles = [
    ['p50', 'p50Ns'],
    ['p99', 'p99Ns'],
    ['p99.9', 'p99_9Ns'],
  ] as const;
  const loads = [...new Map(open.map((r) => [`${r.workload}|${r.offeredRate}`, r])).values()];
  const series = [
    ...open.map((run) => ({ label: runLabel(run, file), kind: 'design' as const, workload: run.workload, rate: run.offeredRate!, latency: run.summary.latency, achieved: run.summary.throughput.median })),
    ...loads.flatMap((run) =>
      floorSeries(file, run.workload, 'open', run.offeredRate).map((f) => ({ label: f.label, kind: f.kind, workload: run.workload, rate: run.offeredRate!, latency: f.latency, achieved: null })),
    ),
  ];
  const values = series.flatMap((s) =>
    percentiles.map(([name, key]) => ({
      design: s.label,
      workload: workloadName(file, s.workload),
      offered: s.rate / 1e6,
      percentile: name,
      latencyUs: Math.max(s.latency[key] / 1000, 0.001),
      note: `${s.label} at ${formatRate(s.rate)} offered: ${name} ${us(s.latency[key])} \u00b5s`,
    })),
  );
  const colours = seriesScales(series).colour;
  const offered = [...new Set(open.map((r) => r.offeredRate! / 1e6))].sort((x, y) => x - y);
  const colour = { field: 'design', type: 'nominal', title: LABEL_TITLE, scale: colours, legend: { orient: 'bottom', columns: 2, labelLimit: 400, symbolType: 'stroke', symbolStrokeWidth: 3 } };
  return {
    id: `${prefix}latency-vs-load`,
    title: 'Latency vs offered load (open loop)',
    caption:
      'Each colour is one design; the solid line is the median (p50), dashed lines the 99th and 99.9th percentiles. ' +
      'A design keeps up while its lines stay flat; where they shoot up it is saturated and commands queue. ' +
      'The grey lines are the floor at each load: the jitter probe (what the machine alone costs) and noop (the harness with no matching).' + LABEL_NOTE,
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      data: { values },
      facet: { row: { field: 'workload', type: 'nominal', title: 'Workload', header: { labelAngle: 0, labelAlign: 'left' } } },
      spec: {
        width: WIDTH,
        height: 260,
        encoding: {
          // The offered loads set the range (a "nice" log domain pads a 0.5–2 M sweep out to 0.1–10 M).
          x: {
            field: 'offered', type: 'quantitative', scale: { type: 'log', nice: false, domain: [Math.min(...offered) / 1.25, Math.max(...offered) * 1.25] },
            axis: { title: 'Offered load (million commands per second, log scale)', grid: true, values: offered },
          },
          y: { field: 'latencyUs', type: 'quantitative', scale: { type: 'log' }, axis: { title: 'Latency (microseconds, log scale)', grid: true } },
          color: colour,
        },
        // Lines and dots in separate layers: a line mark with `point: true` gives its legend dots, hiding the dashes.
        layer: [
          {
            mark: { type: 'line', strokeWidth: 1.5, aria: false },
            encoding: {
              detail: { field: 'percentile', type: 'nominal' },
              strokeDash: {
                field: 'percentile', type: 'nominal', title: 'Percentile',
                scale: { domain: ['p50', 'p99', 'p99.9'], range: [SOLID, [6, 3], [2, 2]] },
                legend: { symbolType: 'stroke', symbolStrokeColor: '#444', symbolStrokeWidth: 2, symbolSize: 600 },
              },
            },
          },
          { mark: { type: 'point', filled: true, size: 30 }, encoding: { description: { field: 'note', type: 'nominal' } } },
        ],
      },
    } as unknown as TopLevelSpec,
    table: {
      columns: ['Workload', 'Design', 'Offered (M cmd/s)', 'Achieved (M cmd/s)', 'p50 (\u00b5s)', 'p99', 'p99.9', 'max'],
      rows: series.map((s) => [
        workloadName(file, s.workload),
        s.label,
        round3(s.rate / 1e6),
        s.achieved === null ? '\u2013' : round3(s.achieved / 1e6),
        us(s.latency.p50Ns),
        us(s.latency.p99Ns),
        us(s.latency.p99_9Ns),
        us(s.latency.maxNs),
      ]),
    },
  };
}

interface ScalingPoint {
  readonly series: string;
  readonly workload: string;
  readonly x: number;
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly note: string;
}

interface Knob {
  readonly id: string;
  readonly title: string;
  /** Axis title, and the parameter name for design parameters. */
  readonly name: string;
  /** null: producers, over every design; else the design whose parameter this is. */
  readonly engine: string | null;
  readonly value: (run: RunResult) => number;
}

/** Throughput as one knob varies with everything else fixed: producers for every design, numeric parameters per design. */
function scalingCharts(file: ResultsFile, prefix: string): Chart[] {
  const closed = file.runs.filter((r) => r.mode === 'closed' && r.repetitions.length > 0);
  const knobs: Knob[] = [{ id: 'producers', title: 'Scaling with producer threads', name: 'Producer threads', engine: null, value: (r) => r.producers }];
  for (const engine of new Set(closed.map((r) => r.engine))) {
    const runs = closed.filter((r) => r.engine === engine);
    for (const key of new Set(runs.flatMap((r) => Object.keys(r.params)))) {
      const values = new Set(runs.map((r) => r.params[key]));
      if (values.size > 1 && [...values].every((v) => typeof v === 'number')) {
        knobs.push({ id: `${engine}-${key}`, title: `${engine}: throughput vs ${key}`, name: key, engine, value: (r) => r.params[key] as number });
      }
    }
  }
  const charts: Chart[] = [];
  for (const knob of knobs) {
    const series = new Map<string, RunResult[]>();
    for (const run of closed) {
      if (knob.engine !== null && run.engine !== knob.engine) continue;
      const key = `${seriesLabel(run, file, knob)}\u0000${run.workload}`;
      series.set(key, [...(series.get(key) ?? []), run]);
    }
    const points: ScalingPoint[] = [];
    for (const members of series.values()) {
      if (new Set(members.map(knob.value)).size < 2) continue;
      for (const run of members) {
        const name = seriesLabel(run, file, knob);
        const t = run.summary.throughput;
        points.push({
          series: name,
          workload: workloadName(file, run.workload),
          x: knob.value(run),
          median: t.median / 1e6,
          min: t.min / 1e6,
          max: t.max / 1e6,
          note: `${name}, ${knob.name} ${knob.value(run)}: median ${formatRate(t.median)} (${formatRate(t.min)} to ${formatRate(t.max)})`,
        });
      }
    }
    if (points.length === 0) continue;
    const xs = points.map((p) => p.x);
    const xLog = Math.min(...xs) > 0 && Math.max(...xs) / Math.min(...xs) > 16;
    charts.push({
      id: `${prefix}scaling-${knob.id}`,
      title: knob.title,
      caption:
        `Closed-loop throughput as ${knob.engine === null ? 'the number of producer threads' : `the parameter "${knob.name}"`} changes, everything else fixed. ` +
        'Dots are medians, bars span the slowest to the fastest repetition. A rising line scales; a flat or falling one is contended.',
      spec: {
        $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
        data: { values: points },
        facet: { row: { field: 'workload', type: 'nominal', title: 'Workload', header: { labelAngle: 0, labelAlign: 'left' } } },
        spec: {
          width: WIDTH,
          height: 240,
          encoding: {
            x: { field: 'x', type: 'quantitative', scale: xLog ? { type: 'log' } : { zero: false }, axis: { title: knob.name + (xLog ? ' (log scale)' : ''), grid: true, tickMinStep: 1 } },
            color: { field: 'series', type: 'nominal', title: 'Design', legend: { orient: 'bottom', columns: 2, labelLimit: 400 } },
          },
          layer: [
            { mark: { type: 'rule', strokeWidth: 2, opacity: 0.5 }, encoding: { y: { field: 'min', type: 'quantitative' }, y2: { field: 'max' } } },
            {
              mark: { type: 'line', point: { filled: true, size: 50 } },
              encoding: {
                y: { field: 'median', type: 'quantitative', axis: { title: 'Throughput (million commands per second)', grid: true } },
                description: { field: 'note', type: 'nominal' },
              },
            },
          ],
        },
      } as unknown as TopLevelSpec,
      table: {
        columns: ['Workload', 'Design', knob.name, 'Median (M cmd/s)', 'Min', 'Max'],
        rows: points.map((p) => [p.workload, p.series, p.x, round3(p.median), round3(p.min), round3(p.max)]),
      },
    });
  }
  return charts;
}

/** A run's label without the knob being scaled, so runs that differ only in that knob form one series. */
function seriesLabel(run: RunResult, file: ResultsFile, knob: Knob): string {
  const sameEngine = file.runs.filter((r) => r.engine === run.engine);
  const parts = [run.engine];
  for (const key of Object.keys(run.params).sort()) {
    if (knob.engine !== null && key === knob.name) continue;
    if (new Set(sameEngine.map((r) => String(r.params[key]))).size > 1) parts.push(`${key}=${run.params[key]}`);
  }
  if (knob.engine !== null && (run.producers > 1 || new Set(sameEngine.map((r) => r.producers)).size > 1)) parts.push(`P=${run.producers}`);
  return parts.join(' ');
}

const JOURNAL_ORDER = ['none', 'async', 'group', 'sync'];

/**
 * What durability costs: for every design, workload and load that ran with more than one journal mode, the
 * throughput and the acknowledgement p99 of each mode side by side, with the disk's own fsync p50 and p99 (merged
 * over every journaled run of the file) as reference lines on the latency panel: the physical limit of `group`
 * and `sync`.
 */
function journalChart(file: ResultsFile, prefix: string): Chart | undefined {
  const journaled = file.runs.filter((r) => r.journal !== undefined);
  if (journaled.length === 0) return undefined;
  const groupKey = (r: RunResult): string => `${r.engine}|${JSON.stringify(r.params)}|${r.producers}|${r.workload}|${r.mode}|${r.offeredRate}`;
  const keys = new Set(journaled.map(groupKey));
  const runs = file.runs.filter((r) => keys.has(groupKey(r)));
  const fsyncs = journaled.flatMap((r) => r.repetitions.flatMap((rep) => (rep.journal?.fsyncHistogram == null ? [] : [rep.journal.fsyncHistogram])));
  const fsync = fsyncs.length === 0 ? null : mergeEncoded(fsyncs).latency;
  const oneWorkload = new Set(runs.map((r) => r.workload)).size === 1;
  const designOf = (r: RunResult): string => {
    const label = runLabel(r, file).replace(/ journal=\S+/, '');
    return `${label}${oneWorkload ? '' : ` · ${workloadName(file, r.workload)}`} · ${r.mode === 'closed' ? 'closed loop' : formatRate(r.offeredRate ?? 0)}`;
  };
  // A journal mode with snapshots under load, or with a hot standby, is its own bar beside the mode without.
  const modeOf = (r: RunResult): string => (r.journal === undefined ? 'none'
    : `${r.journal.mode}${r.journal.snapshotEvery === undefined ? '' : '+snapshots'}${r.journal.replication === undefined ? '' : `+standby-${r.journal.replication}`}`);
  // Every plain mode keeps its colour from report to report; a variant joins only where it ran.
  const variants = ['', '+snapshots', '+standby-async', '+standby-sync', '+snapshots+standby-async', '+snapshots+standby-sync'];
  const order = JOURNAL_ORDER.flatMap((m) => variants.flatMap((v) => (v === '' || runs.some((r) => modeOf(r) === `${m}${v}`) ? [`${m}${v}`] : [])));
  const values = runs.map((r) => {
    const mode = modeOf(r);
    const pause = r.summary.snapshotPause;
    const snapshots = pause == null ? '' : `; ${pause.count} snapshots under load (every ${r.journal?.snapshotEvery}), engine paused p50 ${us(pause.p50Ns)} µs, max ${us(pause.maxNs)} µs`;
    const lag = standbyLag(r);
    const standby = lag === null ? '' : `; standby lag p99 ${lag.commands} commands, ${us(lag.us * 1000)} µs`;
    return {
      design: designOf(r), mode, throughput: r.summary.throughput.median / 1e6, p99: us(r.summary.latency.p99Ns),
      note: `${designOf(r)}, journal ${mode}: ${formatRate(r.summary.throughput.median)}, acknowledgement p99 ${us(r.summary.latency.p99Ns)} µs${snapshots}${standby}`,
    };
  });
  const snapshotEvery = journaled.find((r) => r.journal?.snapshotEvery !== undefined)?.journal?.snapshotEvery;
  const rules = fsync === null ? [] : [
    { label: 'fsync p50', us: us(fsync.p50Ns) },
    { label: 'fsync p99', us: us(fsync.p99Ns) },
  ];
  const y = { field: 'design', type: 'nominal', title: oneWorkload ? 'Design · load' : 'Design · workload · load', axis: { labelLimit: 320 } } as const;
  const colour = { field: 'mode', type: 'nominal', title: 'Journal mode', sort: order, scale: { domain: order } } as const;
  const yOffset = { field: 'mode', type: 'nominal', sort: order } as const;
  const description = { field: 'note', type: 'nominal' } as const;
  return {
    id: `${prefix}journal`,
    title: 'What durability and replication cost: throughput and acknowledgement p99 per journal mode',
    caption:
      'Each group of bars is one design on one workload and load, one bar per journal mode: none (no journal), async (journaled off the ' +
      'hot path, acknowledged at once), group (acknowledged once its group commit is on disk), sync (an fsync per command). Left: median ' +
      'throughput. Right: acknowledgement p99 on a log scale, with the disk’s own fsync p50 and p99 (dashed, every fsync of this file) ' +
      '— the physical limit of group and sync.' +
      (snapshotEvery === undefined ? '' : ` Journaled runs also snapshot every core under load every ${snapshotEvery} commands (the engine pauses for one copy of its core; each bar’s tooltip gives the pauses), which is part of their figures.`) +
      (journaled.some((r) => r.journal?.replication !== undefined)
        ? ' A “+standby” bar streams every command to a hot standby on a thread of the same process over loopback, which journals it in the same mode: sync acknowledges once both journals hold a command, async without waiting (the tooltip gives its lag). On two machines the network round trip adds to every sync acknowledgement.'
        : ''),
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      hconcat: [
        {
          width: WIDTH / 2,
          data: { values },
          mark: { type: 'bar' },
          encoding: { y, yOffset, color: colour, x: { field: 'throughput', type: 'quantitative', axis: { title: 'Median throughput (M cmd/s)', grid: true } }, description },
        },
        {
          width: WIDTH / 2,
          layer: [
            {
              data: { values },
              mark: { type: 'point', filled: true, size: 70 },
              encoding: {
                y, yOffset, color: colour, description,
                x: { field: 'p99', type: 'quantitative', scale: { type: 'log' }, axis: { title: 'Acknowledgement p99 (µs, log)', grid: true } },
              },
            },
            ...(rules.length === 0 ? [] : [{
              data: { values: rules },
              mark: { type: 'rule', strokeDash: [6, 3], color: '#444' },
              encoding: { x: { field: 'us', type: 'quantitative' }, description: { field: 'label', type: 'nominal' } },
            }]),
          ],
        },
      ],
    } as unknown as TopLevelSpec,
    table: {
      columns: ['Design', 'Workload', 'Load', 'Journal', 'Standby', 'Throughput median', 'p50 µs', 'p99 µs', 'fsyncs', 'fsync p50 µs', 'fsync p99 µs'],
      rows: runs.map((r) => [
        runLabel(r, file).replace(/ journal=\S+/, ''), workloadName(file, r.workload), r.mode === 'closed' ? 'closed' : formatRate(r.offeredRate ?? 0),
        r.journal === undefined ? 'none' : `${r.journal.mode}${r.journal.snapshotEvery === undefined ? '' : '+snapshots'}`,
        r.journal?.replication === undefined ? '–' : `${r.journal.replication}${standbyLag(r) === null ? '' : `, lag p99 ${standbyLag(r)!.commands} cmd / ${us(standbyLag(r)!.us * 1000)} µs`}`,
        formatRate(r.summary.throughput.median), us(r.summary.latency.p50Ns), us(r.summary.latency.p99Ns),
        r.repetitions.reduce((n, rep) => n + (rep.journal?.fsyncs ?? 0), 0),
        r.summary.fsync == null ? '–' : us(r.summary.fsync.p50Ns), r.summary.fsync == null ? '–' : us(r.summary.fsync.p99Ns),
      ]),
    },
  };
}

/** The worst repetition's lag p99 of a run with a standby (commands, µs); null without one. */
function standbyLag(r: RunResult): { commands: number; us: number } | null {
  const figures = r.repetitions.flatMap((rep) => (rep.journal?.replication === undefined ? [] : [rep.journal.replication]));
  if (figures.length === 0) return null;
  return { commands: Math.max(...figures.map((f) => f.lagCommands.p99)), us: Math.max(...figures.map((f) => f.lagUs.p99)) };
}

function fidelityChart(file: ResultsFile, prefix: string): Chart | undefined {
  if (file.fidelity.length === 0) return undefined;
  const values = file.fidelity.flatMap((f) => [
    { workload: workloadName(file, f.workload), figure: 'Executions reproduced', percent: pct(f.executions.matched, f.executions.total), note: `${workloadName(file, f.workload)}: ${f.executions.matched} of ${f.executions.total} executions reproduced` },
    ...(f.book === null ? [] : [{ workload: workloadName(file, f.workload), figure: 'Book matches LOBSTER after message', percent: pct(f.book.matched, f.book.total), note: `${workloadName(file, f.workload)}: book equal after ${f.book.matched} of ${f.book.total} messages` }]),
  ]);
  return {
    id: `${prefix}fidelity`,
    title: 'LOBSTER replay fidelity',
    caption:
      'How faithfully replaying the LOBSTER message file through the engine reproduces the exchange: the share of LOBSTER\u2019s visible ' +
      'executions reproduced exactly (same resting order, same size), and the share of messages after which the top levels of the book ' +
      'equal LOBSTER\u2019s orderbook file. 100 % is a perfect replay.',
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      width: WIDTH,
      data: { values },
      mark: { type: 'bar', color: '#3a7d44' },
      encoding: {
        y: { field: 'figure', type: 'nominal', title: null },
        yOffset: { field: 'workload', type: 'nominal' },
        x: { field: 'percent', type: 'quantitative', scale: { domain: [0, 100] }, axis: { title: 'Matched (percent)', grid: true } },
        color: { field: 'workload', type: 'nominal', title: 'Workload', legend: { orient: 'bottom' } },
        description: { field: 'note', type: 'nominal' },
      },
    } as unknown as TopLevelSpec,
    table: {
      columns: ['Workload', 'Executions matched', 'Executions total', 'Book states matched', 'Book states compared'],
      rows: file.fidelity.map((f) => [
        workloadName(file, f.workload),
        f.executions.matched,
        f.executions.total,
        f.book?.matched ?? 'no orderbook file',
        f.book?.total ?? '',
      ]),
    },
  };
}

function pct(matched: number, total: number): number {
  return total === 0 ? 0 : (100 * matched) / total;
}

/** Every chart the data of `file` supports, in reading order. `prefix` keeps ids unique when several files share a page. */
export function chartsFor(file: ResultsFile, prefix: string): Chart[] {
  return [
    throughputChart(file, prefix),
    ...percentileCharts(file, prefix),
    latencyVsLoadChart(file, prefix),
    ...scalingCharts(file, prefix),
    journalChart(file, prefix),
    fidelityChart(file, prefix),
  ].filter((c): c is Chart => c !== undefined);
}
