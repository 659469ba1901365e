/**
 * The HTML report, end to end: a tiny real comparison (harness/comparison.ts on a small generated workload, closed
 * and open loop, 1 and 2 producers, two shard counts) plus real LOBSTER fidelity figures, rendered by
 * renderReport and opened in headless Chromium, with the floor (noop and the jitter probe) the comparison measures
 * beside the designs drawn on every latency chart. Every chart must have drawn its marks from the data, the page must
 * load nothing from anywhere and log no error. The page's screenshot is saved as reports/report-test.png (not
 * committed; copy it over reports/screenshot.png to refresh the one the README shows).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { designByName, resolveParams } from '../engines/designs.ts';
import { importLobster } from '../workloads/lobster.ts';
import { scoreReplay } from '../workloads/fidelity.ts';
import { CLOCK_DESCRIPTION } from '../harness/clock.ts';
import { runComparison, type Configuration } from '../harness/comparison.ts';
import { captureEnvironment } from '../harness/environment.ts';
import { preparePreset, prepareWorkload } from '../harness/prepared-workload.ts';
import { Progress } from '../harness/progress.ts';
import { renderReport } from '../harness/report.ts';
import { formatRate, HARNESS_FLOOR_LABEL, MACHINE_FLOOR_LABEL, runLabel } from '../harness/report-charts.ts';
import { percentileCurve } from '../harness/report-latency.ts';
import { checkResultsFile, RESULTS_SCHEMA, RESULTS_SCHEMA_VERSION, type ResultsFile } from '../harness/results-schema.ts';

const CHROMIUM = '/usr/bin/chromium';
const LOBSTER = resolve(import.meta.dirname, '..', '..', 'shared', 'data', 'lobster');
const LOBSTER_MESSAGES = join(LOBSTER, 'GOOG_2012-06-21_34200000_57600000_message_1.csv.gz');
const LOBSTER_BOOK = join(LOBSTER, 'GOOG_2012-06-21_34200000_57600000_orderbook_1.csv.gz');
/** The real LOBSTER sample lives outside the repository; without it the report is rendered with no fidelity section. */
const LOBSTER_PRESENT = existsSync(LOBSTER_MESSAGES) && existsSync(LOBSTER_BOOK);
if (!LOBSTER_PRESENT) console.warn(`report test: ${LOBSTER} has no GOOG_1 sample; rendering without LOBSTER fidelity figures`);
const SCREENSHOT = resolve(import.meta.dirname, '..', 'reports', 'report-test.png');

/** Progress lines go nowhere: the test's output stays readable. */
const quiet = new Writable({ write: (_chunk, _encoding, done) => done() }) as unknown as NodeJS.WriteStream;

async function measuredResults(): Promise<ResultsFile> {
  const preset = { preset: 'balanced', seed: 7, count: 6000 };
  const balanced = preparePreset(preset);
  const lobster = LOBSTER_PRESENT ? await importLobster(LOBSTER_MESSAGES, { orderbookPath: LOBSTER_BOOK }) : null;
  const goog = lobster === null ? null : prepareWorkload(lobster.workload, 'GOOG_1', 'GOOG_1', { kind: 'lobster', messageFile: LOBSTER_MESSAGES, orderbookFile: LOBSTER_BOOK });
  const fidelity = lobster === null ? null : scoreReplay(lobster);
  const config = (engine: string, params: Record<string, string | number>, producers: number, rate: number | null): Configuration => {
    const design = designByName(engine);
    return { design, params: resolveParams(design, params), workload: balanced, producers, mode: rate === null ? 'closed' : 'open', rate };
  };
  const configurations = [
    config('inline', {}, 1, null),
    config('inline', {}, 1, 200_000),
    config('mutex', {}, 1, null),
    config('mutex', {}, 2, null),
    config('mutex', {}, 1, 200_000),
    config('sharded', { shards: 1 }, 1, null),
    config('sharded', { shards: 2 }, 1, null),
  ];
  const settings = { repeat: 2, split: 'round-robin' as const, warmupFraction: 0.1, warmupMax: 1000, warmup: null };
  const { runs, floor, harnessOverhead } = await runComparison(configurations, settings, new Progress(quiet));
  return {
    schema: RESULTS_SCHEMA,
    version: RESULTS_SCHEMA_VERSION,
    name: 'report-test',
    createdAt: new Date().toISOString(),
    argv: [],
    environment: captureEnvironment(),
    settings: { repeat: 2, warmupCommands: 1000, order: 'interleaved', clock: CLOCK_DESCRIPTION, split: 'round-robin', injectedSlowdown: null },
    workloads: goog === null ? [balanced.identity] : [balanced.identity, goog.identity],
    runs,
    floor,
    harnessOverhead,
    fidelity: fidelity === null ? [] : [{ workload: 'GOOG_1', executions: fidelity.executions, book: fidelity.book }],
    allEquivalent: runs.every((r) => r.summary.equivalent),
  };
}

describe('HTML report', () => {
  let results: ResultsFile;
  let browser: Browser;
  const dir = mkdtempSync(join(tmpdir(), 'matchbench-report-'));

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`${CHROMIUM} is missing: the report test opens reports in Debian's Chromium. Install it with: apt-get update && apt-get install -y chromium`);
    }
    results = await measuredResults();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  });

  afterAll(async () => {
    await browser?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the measured comparison passed equivalence (else the report would be of a broken engine)', () => {
    expect(results.allEquivalent).toBe(true);
    expect(results.runs).toHaveLength(7);
  });

  it('carries the floor and the CPU figures: noop at every producer count and load, the probe at every load', () => {
    const file = checkResultsFile(JSON.parse(JSON.stringify(results)), 'round trip');
    expect(file.runs.some((r) => r.engine === 'noop')).toBe(false);
    expect(file.floor.harness.map((h) => h.id).sort()).toEqual(['noop/balanced/p1/closed', 'noop/balanced/p1/open@200000', 'noop/balanced/p2/closed'].sort());
    for (const h of file.floor.harness) {
      expect(h.summary.equivalent, `${h.id} completion check`).toBe(true);
      expect(h.repetitions.every((r) => r.equivalence.events === 0 && r.equivalence.commands === 6000)).toBe(true);
    }
    expect(file.floor.machine.map((m) => m.id).sort()).toEqual(['jitter-probe/balanced/closed', 'jitter-probe/balanced/open@200000']);
    for (const m of file.floor.machine) {
      expect(m.repetitions).toHaveLength(2);
      expect(m.summary.gaps.count).toBe(m.summary.readings);
      const d = m.summary.gapsByDecade;
      expect(d.below1us + d.from1to10us + d.from10to100us + d.from100usTo1ms + d.from1to10ms + d.atLeast10ms).toBe(m.summary.readings);
    }
    // In open loop the probe schedules exactly as many commands as the designs' runs measured there.
    const open = file.floor.machine.find((m) => m.mode === 'open')!;
    const inlineOpen = file.runs.find((r) => r.engine === 'inline' && r.mode === 'open')!;
    expect(open.repetitions.every((r) => r.latency.count === inlineOpen.repetitions[0]!.commands)).toBe(true);
    for (const run of [...file.runs, ...file.floor.harness]) {
      for (const rep of run.repetitions) {
        expect(rep.cpuNs, run.id).toBeGreaterThan(0);
        expect(rep.cpuWindowNs, run.id).toBeGreaterThanOrEqual(rep.elapsedNs);
      }
      expect(run.summary.cpu.commandsPerCpuSecond, run.id).toBeGreaterThan(0);
      expect(run.summary.cpu.coresBusy, run.id).toBeGreaterThan(0);
    }
  });

  it('percentile curves are the histograms\u2019 own percentiles', () => {
    for (const run of results.runs) {
      const curve = percentileCurve(run.summary.histogram, run.id);
      const at = (p: number): number => curve.find((point) => point.labelled && Math.abs(point.percentile - p) < 1e-9)!.latencyUs;
      expect(at(50)).toBe(run.summary.latency.p50Ns / 1000);
      expect(at(90)).toBe(run.summary.latency.p90Ns / 1000);
      expect(curve.at(-1)!.latencyUs).toBe(run.summary.latency.maxNs / 1000);
      for (let i = 1; i < curve.length; i++) expect(curve[i]!.latencyUs).toBeGreaterThanOrEqual(curve[i - 1]!.latencyUs);
    }
  });

  it('renders every chart in Chromium, offline, without console errors, and saves a screenshot', async () => {
    const out = join(dir, 'full.html');
    const rendered = await renderReport([results], out);
    expect(rendered.warnings).toEqual([]);

    const page = await browser.newPage({ viewport: { width: 1200, height: 1500 } });
    const problems: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') problems.push(`console ${message.type()}: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('request', (request) => {
      if (request.url() !== `file://${out}`) problems.push(`request: ${request.url()}`);
    });
    await page.goto(`file://${out}`);

    const ids = await page.$$eval('figure.chart', (figures) => figures.map((f) => f.id));
    expect(ids).toHaveLength(rendered.charts);
    // closed-loop throughput; a percentile chart per workload x load (closed, open 200K); latency vs load;
    // scaling with producers (mutex 1 -> 2) and with sharded's `shards`; LOBSTER fidelity.
    expect(ids).toEqual(['throughput', 'percentiles-0', 'percentiles-1', 'latency-vs-load', 'scaling-producers', 'scaling-sharded-shards', ...(LOBSTER_PRESENT ? ['fidelity'] : [])]);
    for (const id of ids) {
      const marks = await page.$$eval(`figure#${id} svg g.role-mark > *`, (elements) => elements.length);
      expect(marks, `marks drawn in chart ${id}`).toBeGreaterThan(0);
    }

    // The data reached the marks: one median dot per closed-loop run, titled with its label and median.
    const closed = results.runs.filter((r) => r.mode === 'closed');
    const dots = await page.$$eval('figure#throughput svg g.mark-symbol path title', (titles) => titles.map((t) => t.textContent));
    expect(dots.sort()).toEqual(
      closed
        .map((run) => {
          const t = run.summary.throughput;
          return `${runLabel(run, results)} on balanced: median ${formatRate(t.median)} (${formatRate(t.min)} to ${formatRate(t.max)}, 2 repetitions)`;
        })
        .sort(),
    );
    // One percentile line per run of that workload and load, plus the floor's: the probe and noop at P = 1 and 2.
    const lines = await page.$$eval('figure#percentiles-0 svg g.mark-line path', (paths) => paths.length);
    expect(lines).toBe(closed.length + 3);
    for (const id of ['percentiles-0', 'percentiles-1', 'latency-vs-load']) {
      const titles = await page.$$eval(`figure#${id} svg g.mark-symbol path title`, (t) => t.map((x) => x.textContent ?? ''));
      expect(titles.some((t) => t.startsWith(MACHINE_FLOOR_LABEL)), `${id} has the machine floor`).toBe(true);
      expect(titles.some((t) => t.startsWith(HARNESS_FLOOR_LABEL)), `${id} has the harness floor`).toBe(true);
    }
    // The floor's dashes reach the legend (a line legend, not dots).
    const legendDashes = await page.$$eval('figure#percentiles-0 svg g.role-legend path[stroke-dasharray]', (paths) => paths.length);
    expect(legendDashes).toBeGreaterThan(0);
    const floorTable = await page.$$eval('table', (tables) => tables.filter((t) => t.textContent!.includes('harness floor (noop)')).length);
    expect(floorTable).toBeGreaterThan(0);
    // The harness overhead: inline through the harness against the fast core alone, one row for the closed-loop workload.
    const overhead = await page.$$eval('h3', (headings) => {
      const table = headings.find((h) => h.textContent === 'Harness overhead')?.nextElementSibling?.nextElementSibling;
      return { rows: table?.querySelectorAll('tbody tr').length ?? 0, text: table?.textContent ?? '' };
    });
    expect(overhead.rows).toBe(1);
    expect(overhead.text).toMatch(/balanced/);
    // Paired per round: one core-alone run beside each of inline's two repetitions.
    expect(results.harnessOverhead![0]!.repetitions).toBe(2);
    expect(overhead.text).toMatch(/-?\d+\.\d % \(-?\d+\.\d % to -?\d+\.\d %\)/);

    expect(problems).toEqual([]);
    await page.screenshot({ path: SCREENSHOT, clip: { x: 0, y: 0, width: 1200, height: 1500 } });
    expect(readFileSync(SCREENSHOT).subarray(1, 4).toString()).toBe('PNG');
    await page.close();
  });

  it('leaves out what the results do not have, and says so', async () => {
    const closedOnly: ResultsFile = { ...results, runs: results.runs.filter((r) => r.mode === 'closed' && r.engine !== 'sharded' && r.producers === 1), fidelity: [] };
    const out = join(dir, 'partial.html');
    const rendered = await renderReport([closedOnly], out);
    expect(rendered.warnings).toEqual([]);
    const page = await browser.newPage();
    await page.goto(`file://${out}`);
    expect(await page.$$eval('figure.chart', (figures) => figures.map((f) => f.id))).toEqual(['throughput', 'percentiles-0']);
    const notes = await page.$$eval('ul.missing li', (items) => items.map((i) => i.textContent));
    expect(notes).toEqual(['No open-loop runs: no latency-vs-offered-load chart (run compare with --rate).', 'No LOBSTER workload took part: no replay-fidelity figures.']);
    await page.close();

    const empty = await renderReport([{ ...results, runs: [], fidelity: [] }], join(dir, 'empty.html'));
    expect(empty.charts).toBe(0);
    expect(readFileSync(join(dir, 'empty.html'), 'utf8')).toContain('no measured repetitions to chart');
  });

  it('puts several results files on one page with distinct chart ids', async () => {
    const rendered = await renderReport([results, { ...results, name: 'second' }], join(dir, 'two.html'));
    const html = readFileSync(join(dir, 'two.html'), 'utf8');
    expect(rendered.charts).toBe(LOBSTER_PRESENT ? 14 : 12);
    expect(html).toContain('id="f0-throughput"');
    expect(html).toContain('id="f1-throughput"');
  });
});
