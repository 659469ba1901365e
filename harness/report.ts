/**
 * `npm run report [RESULT_FILES...]`: renders results files into one self-contained HTML page under reports/:
 * compare's (harness/results-schema.ts) and the load test's (server/loadtest-results.ts), a section each.
 *
 * The charts are vega-lite specs (harness/report-charts.ts) rendered to SVG here in Node with vega's
 * `View.toSVG()`, not drawn in the browser. That trades interactivity (zoom, live tooltips) for a page of a few
 * hundred KB instead of shipping the ~830 KB of vega + vega-lite + vega-embed with every report, with no script at
 * all: it opens offline in any browser, renders the same everywhere, and can be attached to CI artifacts or mail.
 * Hovering a mark still shows its exact figure (each data mark carries an SVG <title>), and every chart has the
 * table of the numbers it plots beneath it.
 *
 * Robust to partial results: a section whose data is absent (no open-loop runs, no LOBSTER workload, ...) says so
 * instead of drawing an empty chart.
 */
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import * as vega from 'vega';
import { compile } from 'vega-lite';
import { formatPercent, formatPercentRange } from './console-format.ts';
import { floorOf, TAIL_SET_BY_FLOOR, tailSetBy } from './floor.ts';
import { riskCosts } from './risk-cost.ts';
import { checkResultsFile, type LatencyPercentiles, type ResultsFile, type RunResult, type ThroughputSpread } from './results-schema.ts';
import { checkLoadtestFile, isLoadtestFile, loadtestCharts, loadtestTable, type LoadtestFile } from '../server/loadtest-results.ts';
import { chartsFor, formatRate, HARNESS_FLOOR_LABEL, MACHINE_FLOOR_LABEL, runLabel, workloadName, type Chart, type ChartTable } from './report-charts.ts';

export interface RenderedReport {
  readonly path: string;
  readonly charts: number;
  /** Warnings vega or vega-lite raised while rendering (a spec problem; the test demands none). */
  readonly warnings: readonly string[];
}

/** What a report renders: compare's results files and the load test's (server/loadtest-results.ts). */
export type ReportInput = ResultsFile | LoadtestFile;

const isLoadtest = (file: ReportInput): file is LoadtestFile => isLoadtestFile(file);
const nameOf = (file: ReportInput): string => (isLoadtest(file) ? 'loadtest' : file.name);

/** Renders `results` (one section per file, in the order given) into one HTML file at `outPath`. */
export async function renderReport(results: readonly ReportInput[], outPath: string): Promise<RenderedReport> {
  if (results.length === 0) throw new Error('renderReport: no results files to render');
  const warnings: string[] = [];
  const sections: string[] = [];
  let charts = 0;
  for (const [index, file] of results.entries()) {
    const prefix = results.length > 1 ? `f${index}-` : '';
    const figures: string[] = [];
    for (const chart of isLoadtest(file) ? loadtestCharts(file, prefix) : chartsFor(file, prefix)) {
      figures.push(await renderFigure(chart, warnings));
      charts++;
    }
    sections.push(isLoadtest(file) ? renderLoadtestSection(file, figures) : renderSection(file, figures));
  }
  const html = page(results, sections);
  mkdirSync(dirname(resolve(outPath)), { recursive: true });
  writeFileSync(outPath, html);
  return { path: outPath, charts, warnings };
}

async function renderFigure(chart: Chart, warnings: string[]): Promise<string> {
  const log = vega.logger(vega.Warn, undefined, (_method: string, level: string, input: readonly unknown[]) => {
    warnings.push(`chart ${chart.id}: ${level} ${input.map(String).join(' ')}`);
  });
  const { spec } = compile(chart.spec, { logger: log });
  const view = new vega.View(vega.parse(spec), { renderer: 'none', logger: log, logLevel: vega.Warn });
  const svg = withMarkTitles(await view.toSVG());
  view.finalize();
  return `<figure class="chart" id="${escapeHtml(chart.id)}">
<h3>${escapeHtml(chart.title)}</h3>
<div class="plot">${svg}</div>
<figcaption>${escapeHtml(chart.caption)}</figcaption>
<details><summary>Numbers behind this chart</summary>${table(chart.table)}</details>
</figure>`;
}

/**
 * vega's SVG renderer labels each data mark with aria-label (from the `description` channel); browsers show a
 * <title> child as a hover tooltip, so the label is copied into one. Axis and legend groups keep theirs.
 */
function withMarkTitles(svg: string): string {
  return svg.replace(/<(path|circle|rect|line)( [^>]*?aria-label="([^"]*)"[^>]*?)\/>/g, (_all, tag: string, attrs: string, label: string) => `<${tag}${attrs}><title>${label}</title></${tag}>`);
}

/** The rows every section's environment table starts with. */
function environmentRows(createdAt: string, e: ResultsFile['environment']): (readonly string[])[] {
  return [
    ['Run started', createdAt],
    ['Node.js / V8', `${e.node} / ${e.v8}`],
    ['CPU', `${e.cpuModel}, ${e.cores} usable cores`],
    ['Memory', `${(e.totalMemoryBytes / 2 ** 30).toFixed(1)} GiB`],
    ['OS', `${e.os.platform} ${e.os.release} (${e.os.arch})`],
    ['Git commit', e.gitSha === null ? 'not a git checkout' : `${e.gitSha}${e.gitDirty === true ? ' with uncommitted changes' : ''}`],
  ];
}

/** A load test's section: its summary, its charts, its settings and environment. */
function renderLoadtestSection(file: LoadtestFile, figures: readonly string[]): string {
  const s = file.settings;
  const settings: ChartTable = {
    columns: ['', ''],
    rows: [
      ...environmentRows(file.createdAt, file.environment),
      ['Workload', `${s.workload}: ${s.commands.toLocaleString('en-US')} commands REST can say`],
      ['Connections', `${s.connections}, ${s.pipelining} in flight each (autocannon pipelining; the load client's window), closed loop`],
      ['Journal', `${s.journal} (each run a fresh server and directory)`],
      ['Design parameters', s.params.length === 0 ? '(defaults)' : s.params.join(' ')],
      ['Bound', `${s.durationS} s a run`],
    ],
  };
  return `<section class="results-file">
<h2>loadtest <small>${escapeHtml(file.createdAt)}</small></h2>
<p class="verdict ok">Every REST answer was checked against the reference engine\u2019s replay of the run\u2019s journal, and every binary command was acknowledged exactly once.</p>
<h3>Summary</h3>
${table(loadtestTable(file))}
${figures.join('\n')}
<h3>Settings and environment</h3>
${table(settings)}
</section>`;
}

function renderSection(file: ResultsFile, figures: readonly string[]): string {
  const e = file.environment;
  const [started, ...machine] = environmentRows(file.createdAt, e);
  const environment: ChartTable = {
    columns: ['', ''],
    rows: [
      started!,
      ['Command line', file.argv.join(' ') || '(defaults)'],
      ...machine,
      ['Repetitions', `${file.settings.repeat} per configuration, ${file.settings.order} (every configuration once per round)`],
      ['Warm-up', `${file.settings.warmupCommands} commands per producer before each measured repetition`],
      ['Split among producers', file.settings.split],
      ['Clock', file.settings.clock],
      ['Injected slowdown (test knob)', slowdownText(file)],
    ],
  };
  const workloads: ChartTable = {
    columns: ['Workload', 'Commands', 'Symbols', 'Source', 'Content hash (sha256)'],
    rows: file.workloads.map((w) => [w.name, w.commands, w.symbols, sourceText(w.source), w.hash.slice(0, 16) + '\u2026']),
  };
  const failed = file.runs.filter((r) => !r.summary.equivalent);
  return `<section class="results-file">
<h2>${escapeHtml(file.name)} <small>${escapeHtml(file.createdAt)}</small></h2>
<p class="verdict ${file.allEquivalent ? 'ok' : 'bad'}">${
    file.allEquivalent
      ? `Equivalence: every repetition of all ${file.runs.length} runs produced exactly the reference engine\u2019s events and final book.`
      : `Equivalence FAILED in ${failed.length} of ${file.runs.length} runs: ${escapeHtml(failed.map((r) => r.id).join(', '))}. Their figures measure a wrong engine.`
  }</p>
${
    file.settings.injectedSlowdown === null
      ? ''
      : `<p class="verdict bad">Measured with the test-only slowdown knob on: ${escapeHtml(slowdownText(file))}. These figures do not describe the code as it is.</p>`
  }
<h3>Summary</h3>
${table(summaryTable(file))}
${harnessOverheadSection(file)}
${riskCostSection(file)}
${floorSection(file)}
${figures.length > 0 ? figures.join('\n') : '<p class="missing">These results contain no measured repetitions to chart.</p>'}
${missingNotes(file)}
<h3>Equivalence verdicts</h3>
<p>Every repetition\u2019s recorded command sequence was checked to be a valid interleaving of the producers\u2019 streams, then replayed through the reference engine and compared event for event, with the final book hash (per shard for sharded designs).</p>
${table(equivalenceTable(file))}
<h3>Environment</h3>
${table(environment)}
<h3>Workloads</h3>
${table(workloads)}
</section>`;
}

/** inline through the harness against the fast core alone (harness/harness-overhead.ts), when compare measured it. */
function harnessOverheadSection(file: ResultsFile): string {
  const overheads = file.harnessOverhead ?? [];
  if (overheads.length === 0) return '';
  const rows: ChartTable = {
    columns: [
      'Workload', 'rounds', 'overhead, paired per round: median (range)', 'ns per command, paired: median', 'inline through the harness, fastest', 'fast core alone, fastest',
      'overhead of the fastest', 'inline, all repetitions', 'core alone, all repetitions',
    ],
    rows: overheads.map((o) => [
      o.workload, o.repetitions,
      o.paired === undefined ? '-' : `${formatPercent(o.paired.overhead.median)} (${formatPercentRange(o.paired.overhead)})`,
      o.paired === undefined ? '-' : o.paired.perCommandNs.toFixed(0),
      formatRate(o.inlineThroughput), formatRate(o.coreThroughput), `${formatPercent(o.overhead)} (${o.perCommandNs.toFixed(0)} ns)`,
      spreadCell(o.inlineSpread), spreadCell(o.coreSpread),
    ]),
  };
  return `<h3>Harness overhead</h3>
<p>What the harness itself costs a command: closed-loop <code>inline</code> against the fast core alone on the same workload, commands and warm-up, the core alone run right after each <code>inline</code> repetition. Each round’s pair gives 1 − inline / core; their median and range come first (a shared machine’s speed drifts over minutes, and a pair sees one spell of it), then the same figure from each one’s fastest repetition and every repetition’s spread. Every design pays this cost, so it squeezes every design’s ratio to <code>inline</code> towards 1.</p>
${table(rows)}`;
}

/** A repetitions' spread for the harness-overhead table: median (min–max), or '-' in a file that did not record it. */
function spreadCell(s: ThroughputSpread | undefined): string {
  return s === undefined ? '-' : `median ${formatRate(s.median)} (${formatRate(s.min)}\u2013${formatRate(s.max)})`;
}

/** With compare --risk: every design's throughput under the rules over without them (harness/risk-cost.ts). */
function riskCostSection(file: ResultsFile): string {
  const costs = riskCosts(file.runs);
  if (costs.length === 0) return '';
  const rows: ChartTable = {
    columns: ['Design', 'Workload', 'Producers', 'Load', 'Rules', 'Without rules', 'With rules', 'With \u00f7 without'],
    rows: costs.map((c) => [
      c.engine, file.workloads.find((w) => w.id === c.workload)?.name ?? c.workload, c.producers, loadText(c), c.rules,
      formatRate(c.withoutRules), formatRate(c.withRules), c.ratio.toFixed(3),
    ]),
  };
  return `<h3>Risk-check cost</h3>
<p>Median throughput of each configuration with the pre-trade risk rules and the circuit breaker on, over the same configuration without them, measured interleaved in this session. Both are checked against the reference engine applying the same rules.</p>
${table(rows)}`;
}

function slowdownText(file: ResultsFile): string {
  const s = file.settings.injectedSlowdown;
  return s === null ? 'none' : `slowed: ${s.map((d) => `${d.design} by ${Math.round(d.fraction * 1000) / 10} %`).join(', ')} (MATCHBENCH_INJECT_SLOWDOWN)`;
}

function missingNotes(file: ResultsFile): string {
  const notes: string[] = [];
  if (!file.runs.some((r) => r.mode === 'closed')) notes.push('No closed-loop runs: no throughput chart.');
  if (!file.runs.some((r) => r.mode === 'open')) notes.push('No open-loop runs: no latency-vs-offered-load chart (run compare with --rate).');
  if (file.fidelity.length === 0) notes.push('No LOBSTER workload took part: no replay-fidelity figures.');
  return notes.length === 0 ? '' : `<ul class="missing">${notes.map((n) => `<li>${escapeHtml(n)}</li>`).join('')}</ul>`;
}

/** Microseconds for tables: three significant digits below 1000, whole numbers with separators above. */
function formatUs(ns: number): string {
  const us = ns / 1000;
  return us < 1000 ? String(Number(us.toPrecision(3))) : Math.round(us).toLocaleString('en-US');
}

function loadText(run: { readonly mode: RunResult['mode']; readonly offeredRate: number | null }): string {
  return run.mode === 'closed' ? 'closed loop' : `open ${formatRate(run.offeredRate ?? 0)}`;
}

function floorPair(machine: LatencyPercentiles | null, harness: LatencyPercentiles | null, key: 'p99Ns' | 'p99_9Ns'): string {
  return `${machine === null ? '\u2013' : formatUs(machine[key])} / ${harness === null ? '\u2013' : formatUs(harness[key])}`;
}

/**
 * The floor: what the machine and the harness alone cost at each workload and load, and the runs whose tail is
 * within TAIL_SET_BY_FLOOR of it, named so that the machine, not the design, gets that tail.
 */
function floorSection(file: ResultsFile): string {
  const { machine, harness } = file.floor;
  if (machine.length === 0 && harness.length === 0) return '<p class="missing">These results have no floor measurements (jitter probe, noop).</p>';
  const perSecond = (n: number, ns: number): string => (ns === 0 ? '\u2013' : (n / (ns / 1e9)).toFixed(1));
  const probes: ChartTable = {
    columns: ['Floor', 'Workload', 'Load', 'p50 \u00b5s', 'p99 \u00b5s', 'p99.9 \u00b5s', 'max \u00b5s', 'Clock-read gaps p99 / max \u00b5s',
      'Gaps per second: 1\u201310 \u00b5s', '10\u2013100 \u00b5s', '0.1\u20131 ms', '1\u201310 ms', '\u2265 10 ms', 'Commands per CPU-second', 'Check'],
    rows: [
      ...machine.map((m) => {
        const l = m.summary.latency;
        const d = m.summary.gapsByDecade;
        const t = m.summary.durationNs;
        return [MACHINE_FLOOR_LABEL, workloadName(file, m.workload), loadText(m), formatUs(l.p50Ns), formatUs(l.p99Ns), formatUs(l.p99_9Ns), formatUs(l.maxNs),
          `${formatUs(m.summary.gaps.p99Ns)} / ${formatUs(m.summary.gaps.maxNs)}`,
          perSecond(d.from1to10us, t), perSecond(d.from10to100us, t), perSecond(d.from100usTo1ms, t), perSecond(d.from1to10ms, t), perSecond(d.atLeast10ms, t), '\u2013', '\u2013'];
      }),
      ...harness.map((h) => {
        const l = h.summary.latency;
        return [`${HARNESS_FLOOR_LABEL}${h.producers > 1 ? ` P=${h.producers}` : ''}`, workloadName(file, h.workload), loadText(h), formatUs(l.p50Ns), formatUs(l.p99Ns),
          formatUs(l.p99_9Ns), formatUs(l.maxNs), '\u2013', '\u2013', '\u2013', '\u2013', '\u2013', '\u2013', formatRate(h.summary.cpu.commandsPerCpuSecond),
          h.summary.equivalent ? 'every command completed once, in order' : 'COMPLETION CHECK FAILED'];
      }),
    ],
  };
  const set = file.runs.flatMap((run) => {
    const f = floorOf(file.floor, run);
    const by = tailSetBy(run, f);
    if (by === null) return [];
    const floorP99 = by === 'machine' ? f.machine!.p99Ns : f.harness!.p99Ns;
    return [`${runLabel(run, file)} on ${workloadName(file, run.workload)}, ${loadText(run)}: p99 ${formatUs(run.summary.latency.p99Ns)} \u00b5s, within ${TAIL_SET_BY_FLOOR}\u00d7 of the ${
      by === 'machine' ? 'machine floor (jitter probe)' : 'harness floor (noop)'}\u2019s ${formatUs(floorP99)} \u00b5s: ${
      by === 'machine' ? 'the machine' : 'the machine and the harness together'}, not the design, set this tail.`];
  });
  return `<h3>The floor: what this machine and harness alone cost</h3>
<p>Measured in the same interleaving as the designs, at the same loads. The <b>jitter probe</b> is a thread that only reads the clock for as long as that load\u2019s runs last; its latency is what an infinitely fast engine would see (open loop: each scheduled command waits for the first clock reading after its due time, so every gap the machine takes delays the commands due in it; closed loop: the gaps themselves). <b>noop</b> acknowledges every command through the same producer and poll path with no matching: the harness\u2019s own cost. No design can beat either.</p>
${table(probes)}
${set.length === 0 ? `<p>No design\u2019s p99 is within ${TAIL_SET_BY_FLOOR}\u00d7 of a floor: the tails below are the designs\u2019 own.</p>` : `<p>Where the floor sets the tail:</p><ul class="floor-set">${set.map((line) => `<li>${escapeHtml(line)}</li>`).join('')}</ul>`}`;
}

function summaryTable(file: ResultsFile): ChartTable {
  return {
    columns: ['Design', 'Workload', 'Load', 'Throughput median (min\u2013max)', 'Commands per CPU-second', 'Cores busy', 'p50 \u00b5s', 'p99 \u00b5s', 'p99.9 \u00b5s', 'max \u00b5s',
      'Floor p99 \u00b5s (probe / noop)', 'Floor p99.9 \u00b5s (probe / noop)', 'Tail set by', 'vs inline', 'Equivalent'],
    rows: file.runs.map((run: RunResult) => {
      const t = run.summary.throughput;
      const l = run.summary.latency;
      const f = floorOf(file.floor, run);
      return [
        runLabel(run, file),
        file.workloads.find((w) => w.id === run.workload)?.name ?? run.workload,
        loadText(run),
        `${formatRate(t.median)} (${formatRate(t.min).replace(' cmd/s', '')} \u2013 ${formatRate(t.max).replace(' cmd/s', '')})`,
        formatRate(run.summary.cpu.commandsPerCpuSecond).replace(' cmd/s', ''),
        run.summary.cpu.coresBusy.toFixed(2),
        formatUs(l.p50Ns),
        formatUs(l.p99Ns),
        formatUs(l.p99_9Ns),
        formatUs(l.maxNs),
        floorPair(f.machine, f.harness, 'p99Ns'),
        floorPair(f.machine, f.harness, 'p99_9Ns'),
        tailSetBy(run, f) ?? '\u2013',
        run.summary.ratioToInline === null ? '\u2013' : `${run.summary.ratioToInline.toFixed(2)}\u00d7`,
        run.summary.equivalent ? 'yes' : 'NO',
      ];
    }),
  };
}

function equivalenceTable(file: ResultsFile): ChartTable {
  return {
    columns: ['Run', 'Repetitions passed', 'Commands checked', 'Events compared', 'Sequences', 'First failure'],
    rows: file.runs.map((run) => {
      const reps = run.repetitions;
      const firstFailure = reps.find((r) => !r.equivalence.ok)?.equivalence.failure ?? '';
      return [
        run.id,
        `${reps.filter((r) => r.equivalence.ok).length} of ${reps.length}`,
        reps.reduce((s, r) => s + r.equivalence.commands, 0),
        reps.reduce((s, r) => s + r.equivalence.events, 0),
        reps[0]?.equivalence.sequences ?? 0,
        firstFailure,
      ];
    }),
  };
}

function sourceText(source: ResultsFile['workloads'][number]['source']): string {
  switch (source.kind) {
    case 'preset':
      return `preset ${source.preset}, seed ${source.seed}, ${source.count} commands`;
    case 'file':
      return `file ${source.path}`;
    case 'lobster':
      return `LOBSTER ${basename(source.messageFile)}${source.orderbookFile === null ? '' : ` + ${basename(source.orderbookFile)}`}`;
  }
}

function table(t: ChartTable): string {
  const head = t.columns.some((c) => c !== '') ? `<thead><tr>${t.columns.map((c) => `<th>${escapeHtml(c)}</th>`).join('')}</tr></thead>` : '';
  const body = t.rows.map((row) => `<tr>${row.map((cell) => `<td${typeof cell === 'number' ? ' class="num"' : ''}>${escapeHtml(String(cell))}</td>`).join('')}</tr>`).join('\n');
  return `<table>${head}<tbody>${body}</tbody></table>`;
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function page(results: readonly ReportInput[], sections: readonly string[]): string {
  const title = `matchbench report: ${results.map(nameOf).join(', ')}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1100px; padding: 0 1rem; color: #1d2329; }
h1 { font-size: 1.6rem; } h2 { border-bottom: 2px solid #d6dde3; padding-bottom: .3rem; margin-top: 2.5rem; } h2 small { color: #6b7680; font-weight: normal; font-size: .8rem; }
figure.chart { margin: 1.5rem 0; padding: 1rem; border: 1px solid #e3e8ec; border-radius: 6px; }
figure.chart h3 { margin-top: 0; } figcaption { color: #4a5560; max-width: 60rem; }
.plot { overflow-x: auto; } .plot svg { max-width: 100%; height: auto; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: 13px; } th, td { border: 1px solid #dde3e8; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f3f6f8; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.verdict { padding: .5rem .8rem; border-radius: 4px; } .verdict.ok { background: #e5f4e8; } .verdict.bad { background: #fbe3e3; font-weight: bold; }
.missing { color: #6b7680; } details summary { cursor: pointer; color: #1f5fa6; margin-top: .5rem; }
</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
<p>Order-matching-engine designs compared on recorded workloads. Throughput is in commands per second (M = million);
latency is from submitting a command to receiving its last event, in microseconds (\u00b5s). Hover a dot for its exact value;
each chart\u2019s numbers are in the table under it.</p>
${sections.join('\n')}
</body>
</html>
`;
}

/** Reads and checks a results file of either kind. */
function readResultsFile(path: string): ReportInput {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new Error(`${path}: cannot read results JSON (${(error as Error).message})`);
  }
  return isLoadtestFile(parsed) ? checkLoadtestFile(parsed, path) : checkResultsFile(parsed, path);
}

/** The newest results file in `dir` by modification time, excluding the gate's baseline. */
function newestResultsFile(dir: string): string {
  const candidates = readdirSync(dir)
    .filter((name) => name.endsWith('.json') && name !== 'baseline.json')
    .map((name) => join(dir, name))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  const newest = candidates[0];
  if (newest === undefined) throw new Error(`${dir}: no results files (*.json); run \`npm run compare\` first or name files to render`);
  return newest;
}

async function main(argv: readonly string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log('usage: npm run report [-- RESULTS.json ...]   (default: the newest file in results/)\nWrites reports/<name of the first file>.html (<name>-and-N-more.html with N more files).');
    return;
  }
  const option = argv.find((a) => a.startsWith('-'));
  if (option !== undefined) throw new Error(`report: unknown option ${option}; usage: npm run report [-- RESULTS.json ...]`);
  const files = argv.length > 0 ? [...argv] : [newestResultsFile('results')];
  const results = files.map(readResultsFile);
  const out = join('reports', `${basename(files[0]!, '.json')}${files.length > 1 ? `-and-${files.length - 1}-more` : ''}.html`);
  const report = await renderReport(results, out);
  for (const warning of report.warnings) console.error(`warning: ${warning}`);
  console.log(`report: ${report.path} (${report.charts} charts from ${files.length} results file${files.length > 1 ? 's' : ''})`);
}

if (import.meta.main) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    console.error((error as Error).message);
    process.exit(1);
  });
}
