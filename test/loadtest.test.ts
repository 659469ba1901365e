/**
 * `npm run loadtest` (server/loadtest.ts): a short run of one design gives both figures, every REST answer checked
 * against the reference engine's replay of the journal; and that check fails on an answer that is not the
 * reference's, on an answer the journal does not hold, and on journaled commands nobody was answered for. Nothing
 * here asserts a time.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { formatEvent, type MatchEvent } from '../engines/types.ts';
import { renderReport } from '../harness/report.ts';
import { checkHttpAnswers } from '../server/loadtest.ts';
import type { LoadtestFile } from '../server/loadtest-results.ts';
import { resolveWorkload } from '../workloads/load.ts';
import { startServer, stopAll, stopServer } from './support/engine-server.ts';

const root = mkdtempSync(join(tmpdir(), 'matchbench-loadtest-test-'));
afterEach(() => stopAll());
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('loadtest', () => {
  it('one design, REST and binary over the same commands, the REST answers checked against the journal; the report renders it', async () => {
    const run = spawnSync(process.execPath, [join(import.meta.dirname, '..', 'server', 'loadtest.ts'), '--design', 'mutex', '--workload', 'preset:balanced,seed=2,count=1500', '--connections', '3', '--pipelining', '2', '--json'], { encoding: 'utf8', timeout: 120_000 });
    expect(run.status, run.stderr).toBe(0);
    const file = JSON.parse(run.stdout) as LoadtestFile;
    expect(file.schema).toBe('matchbench-loadtest');
    expect(file.settings).toMatchObject({ commands: 1500, connections: 3, pipelining: 2, journal: 'async' });
    const [result] = file.results;
    expect(result!.design).toBe('mutex');
    expect(result!.http.check).toMatch(/^ok \(\d+ answers/);
    // autocannon stops once it has sent them all, so the last few in flight may go unanswered.
    const answered = Object.values(result!.http.statuses).reduce((a, b) => a + b, 0);
    expect(answered + result!.http.unanswered).toBe(1500);
    expect(result!.http.unanswered).toBeLessThanOrEqual(3 * 2);
    expect(result!.http.latency.count).toBe(answered);
    expect(result!.binary.requests).toBe(1500);
    expect(result!.ratio).toBeCloseTo(result!.http.throughput / result!.binary.throughput, 9);
    expect(file.environment.cpuModel).not.toBe('');
    // The report renders it: the throughput chart and the design's latency curves, with no vega warning.
    const report = await renderReport([file], join(root, 'loadtest.html'));
    expect(report.warnings).toStrictEqual([]);
    expect(report.charts).toBe(2);
    expect(readFileSync(report.path, 'utf8')).toMatch(/What the HTTP front costs: the same commands over REST and over the wire protocol/);
  });

  it('the check names an answer that differs from the reference, one the journal lacks, and journaled commands left unanswered', async () => {
    const dir = join(root, 'j');
    const server = await startServer(['--design', 'inline', '--journal', 'group', '--dir', dir, '--http-port', '0']);
    const session = ((await (await fetch(`http://127.0.0.1:${server.httpPort}/health`)).json()) as { session: number }).session;
    const answers = new Map<number, string[]>();
    for (const [id, side] of [[1, 'sell'], [2, 'buy'], [3, 'buy']] as const) {
      const response = await fetch(`http://127.0.0.1:${server.httpPort}/orders`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sym: 'AAPL', id, side, type: 'limit', price: 100, qty: 2 }),
      });
      const events = ((await response.json()) as { events: MatchEvent[] }).events;
      answers.set(events[0]!.seq, events.map(formatEvent));
    }
    expect(await stopServer(server, 'SIGTERM')).toBe(0);
    // serve's default symbol table.
    const { symbols } = await resolveWorkload('preset:balanced');
    expect(checkHttpAnswers(dir, symbols, session, answers, 0)).toBeNull();
    const wrong = new Map(answers);
    wrong.set(2, [wrong.get(2)![0]!.replace('"qty":2', '"qty":1')]);
    expect(checkHttpAnswers(dir, symbols, session, wrong, 0)).toMatch(/client sequence 2: answered .* the reference gives/);
    const extra = new Map(answers);
    extra.set(9, ['{}']);
    expect(checkHttpAnswers(dir, symbols, session, extra, 0)).toMatch(/client sequence 9 was answered but is not in the journal/);
    const missing = new Map(answers);
    missing.delete(3);
    expect(checkHttpAnswers(dir, symbols, session, missing, 0)).toMatch(/1 journaled commands have no answer, more than the 0 in flight/);
    expect(checkHttpAnswers(dir, symbols, session, missing, 1)).toBeNull();
  });
});
