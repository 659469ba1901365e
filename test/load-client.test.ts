/**
 * The load client (`npm run load`: server/load.ts, server/load-connection.ts) against a fake engine server
 * (test/support/fake-engine-server.ts: the reference engine behind the wire protocol). What must hold: the events
 * written are exactly the reference engine's for the order the server applied, each command's once, whatever
 * drops and reconnects happen on the way; every command is acknowledged once; failures exit non-zero naming the
 * connection and the cause. The CLI runs as a child process where its exit code and output are the subject, the
 * module directly elsewhere.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ReferenceEngine } from '../engines/reference.ts';
import { formatEvent } from '../engines/types.ts';
import { splitWorkload } from '../harness/split.ts';
import { ERR_ENGINE_FAILED, ERR_SESSION_BUSY } from '../server/protocol.ts';
import { runLoad, type LoadOptions, type LoadReport } from '../server/load.ts';
import { generateWorkload } from '../workloads/generator.ts';
import type { Workload } from '../workloads/workload.ts';
import { FakeEngineServer, type FakeEngineServerOptions } from './support/fake-engine-server.ts';

const CLI = join(import.meta.dirname, '..', 'server', 'load.ts');
const SPEC = 'preset:balanced,seed=3,count=3000';
const workload = generateWorkload({ preset: 'balanced', seed: 3, count: 3000 });

let dir: string;
let runs = 0;
const servers: FakeEngineServer[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'matchbench-load-'));
});
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function fakeServer(options: Omit<FakeEngineServerOptions, 'symbols'> = {}, symbols: readonly string[] = workload.symbols): Promise<FakeEngineServer> {
  const server = await FakeEngineServer.start({ symbols, ...options });
  servers.push(server);
  return server;
}

interface Ack { readonly conn: number; readonly cseq: number; readonly seq: number }

interface LoadRun {
  readonly report: LoadReport;
  readonly events: string[];
  readonly acks: Ack[];
  readonly log: string[];
}

const readLines = async (path: string): Promise<string[]> => (await readFile(path, 'utf8')).split('\n').filter((line) => line !== '');

/** runLoad against `server` with its output files read back. */
async function load(server: FakeEngineServer, options: Partial<LoadOptions> = {}): Promise<LoadRun> {
  const run = ++runs;
  const log: string[] = [];
  const settings = { eventsPath: join(dir, `events-${run}.ndjson`), acksPath: join(dir, `acks-${run}.ndjson`), ...options };
  const report = await runLoad({
    addresses: [{ host: '127.0.0.1', port: server.port }],
    workload, connections: 1, rate: null, window: 64, retry: false, sessionBase: 1000 * run, timeoutMs: 30_000,
    log: (line) => log.push(line),
    ...settings,
  });
  const acks = settings.acksPath === null ? [] : (await readLines(settings.acksPath)).map((line) => JSON.parse(line) as Ack);
  return { report, events: settings.eventsPath === null ? [] : await readLines(settings.eventsPath), acks, log };
}

/** The reference engine's event NDJSON lines per workload index, for commands processed in `order`. */
function referenceLines(order: readonly number[], of: Workload = workload): Map<number, string[]> {
  const engine = new ReferenceEngine();
  const lines = new Map<number, string[]>();
  for (const index of order) {
    const mine: string[] = [];
    engine.process(of.command(index), index, (event) => mine.push(formatEvent(event)));
    lines.set(index, mine);
  }
  return lines;
}

/** The workload indexes the server applied, in its order (session base + c ↔ stream c). */
function appliedOrder(server: FakeEngineServer, sessionBase: number, connections: number): number[] {
  const { streams } = splitWorkload(workload.records, workload.count, connections, 'order');
  return server.applied.map(({ session, clientSequence }) => streams[session - sessionBase]![clientSequence - 1]!);
}

/**
 * What must hold of any run that acknowledged everything: each command acknowledged once, each connection's in
 * client-sequence order, and the events file exactly each command's reference events in the order of the ACKs.
 */
function expectExactlyOnce(run: LoadRun, server: FakeEngineServer, connections: number, context: string): void {
  const { streams } = splitWorkload(workload.records, workload.count, connections, 'order');
  const order = appliedOrder(server, run.report.sessionBase, connections);
  expect(new Set(order).size, `${context}: the server applied a command twice`).toBe(order.length);
  expect(order.length, context).toBe(workload.count);
  expect(run.acks.map((a) => a.seq).sort((a, b) => a - b), `${context}: every command acknowledged once`).toEqual([...Array(workload.count).keys()]);
  for (let c = 0; c < connections; c++) {
    const mine = run.acks.filter((a) => a.conn === c);
    expect(mine.map((a) => a.cseq), `${context}: connection ${c}'s ACKs`).toEqual(Array.from(streams[c]!, (_, k) => k + 1));
    expect(mine.map((a) => a.seq), context).toEqual([...streams[c]!]);
  }
  const reference = referenceLines(order);
  const expected = run.acks.flatMap((a) => reference.get(a.seq)!);
  expect(run.events.length, `${context}: event count`).toBe(expected.length);
  expect(run.events, `${context}: events`).toEqual(expected);
  expect(run.report.events, context).toBe(expected.length);
}

/** Runs the CLI (the Node running the tests is the pinned 24) without blocking, so the fake server keeps serving. */
function cli(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { cwd: dir, encoding: 'utf8', timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ status: error === null ? 0 : typeof error.code === 'number' ? error.code : null, stdout, stderr });
    });
  });
}

/** A port nothing listens on (bound once, then released). */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('load client', () => {
  it('CLI, one connection: --events is the reference engine\'s events in workload order, --acks one line per command, --json the summary', async () => {
    const server = await fakeServer();
    const events = join(dir, 'cli-events.ndjson');
    const acks = join(dir, 'cli-acks.ndjson');
    const result = await cli('--connect', `127.0.0.1:${server.port}`, '--workload', SPEC, '--events', events, '--acks', acks, '--session', '77', '--timeout', '30', '--json');
    expect(result.stderr).toContain('sessions 77…77 (resume with --session 77)');
    expect(result.status, result.stderr).toBe(0);
    const order = [...Array(workload.count).keys()];
    expect(await readLines(events)).toEqual([...referenceLines(order).values()].flat());
    expect(await readLines(acks)).toEqual(order.map((i) => `{"conn":0,"cseq":${i + 1},"seq":${i}}`));
    expect(server.applied.every((a) => a.session === 77)).toBe(true);
    const summary = JSON.parse(result.stdout);
    expect(summary).toMatchObject({ ok: true, design: 'fake-reference', connections: 1, sessionBase: 77, mode: 'closed', window: 256, commands: 3000, resumedCommands: 0, reconnects: 0 });
    expect(summary.events).toBe([...referenceLines(order).values()].flat().length);
    expect(summary.latency.count).toBe(3000);
    expect(summary.latency.p50Ns).toBeGreaterThan(0);
    expect(summary.throughput).toBeGreaterThan(0);
    expect(summary.environment.node).toBe(process.version);
    expect(typeof summary.environment.cpuModel).toBe('string');
  });

  it('CLI without --json prints the summary: throughput, percentiles, commands, events, reconnects', async () => {
    const server = await fakeServer();
    const result = await cli('--connect', `127.0.0.1:${server.port}`, '--workload', 'preset:balanced,seed=3,count=500', '--connections', '2', '--timeout', '30');
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/2 connections \(sessions \d+…\d+\), closed loop, window 256/);
    expect(result.stdout).toMatch(/commands +500 of 500 acknowledged/);
    expect(result.stdout).toMatch(/throughput +[\d,]+ commands\/s/);
    expect(result.stdout).toMatch(/latency µs +p50 [\d.]+ +p90 [\d.]+ +p99 [\d.]+ +p99\.9 [\d.]+ +max [\d.]+/);
    expect(result.stdout).toMatch(/events +[\d,]+\nreconnects +0/);
  });

  it('two connections: every command acknowledged once, each command\'s events the reference\'s for the interleaving applied', async () => {
    const server = await fakeServer();
    const run = await load(server, { connections: 2, window: 8 });
    expect(run.report.failures).toEqual([]);
    expectExactlyOnce(run, server, 2, 'two connections');
    // The test means something only if the server really interleaved the two sessions.
    const sessions = server.applied.map((a) => a.session);
    expect(sessions.filter((s, i) => i > 0 && s !== sessions[i - 1]).length).toBeGreaterThan(20);
  });

  it('drops after N commands with --retry: resend and resume give exactly-once events and ACKs', async () => {
    const server = await fakeServer({ dropAfter: 400, seed: 5 });
    const run = await load(server, { retry: true });
    expect(run.report.failures).toEqual([]);
    expect(server.drops).toBeGreaterThanOrEqual(7);
    expect(run.report.reconnects).toBe(server.drops);
    expectExactlyOnce(run, server, 1, 'dropAfter 400');
    expect(run.log.some((line) => /reconnecting to 127\.0\.0\.1:\d+ in \d+ ms/.test(line))).toBe(true);
  });

  it('random drops, resets and SESSION_BUSY with --retry over two connections: still exactly once', async () => {
    const seed = Number(process.env.LOAD_TEST_SEED ?? Date.now() % 2 ** 31);
    const context = `seed ${seed} (rerun with LOAD_TEST_SEED=${seed})`;
    const server = await fakeServer({ dropProbability: 0.004, maxDrops: 12, busyAfterDrop: true, seed });
    const run = await load(server, { connections: 2, window: 32, retry: true });
    expect(run.report.failures, context).toEqual([]);
    expect(server.drops, context).toBeGreaterThan(0);
    expectExactlyOnce(run, server, 2, context);
    expect(run.log.some((line) => line.includes('server ERROR SESSION_BUSY')), context).toBe(true);
  });

  it('CLI without --retry: a drop exits non-zero naming the connection and what happened', async () => {
    const server = await fakeServer({ dropAfter: 100 });
    const result = await cli('--connect', `127.0.0.1:${server.port}`, '--workload', SPEC, '--session', '500', '--timeout', '30');
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/connection 0 \(session 500, 127\.0\.0\.1:\d+\): (the server closed the connection|ECONNRESET: .*) \(run with --retry to reconnect and resume the session\); \d+ of 3000 commands acknowledged/);
    expect(server.connections).toBe(1);
  });

  it('a WELCOME with another symbol count fails at once, even with --retry', async () => {
    const server = await fakeServer({ welcomeSymbolCount: workload.symbols.length + 1 });
    const run = await load(server, { retry: true });
    expect(run.report.ok).toBe(false);
    expect(run.report.failures).toHaveLength(1);
    expect(run.report.failures[0]).toMatch(/^connection 0 \(session \d+, 127\.0\.0\.1:\d+\): the server's symbol table is not this workload's: .*the server's table has 9 symbols, the client's 8/);
    expect(server.connections).toBe(1);
    expect(run.report.commands).toBe(0);
  });

  it('CLI: an ERROR frame is reported by its code name and message, and one not retryable ends the run', async () => {
    const server = await fakeServer({ helloError: { code: ERR_ENGINE_FAILED, message: 'journal disk full' } });
    const result = await cli('--connect', `127.0.0.1:${server.port}`, '--workload', SPEC, '--retry', '--timeout', '30');
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('server ERROR ENGINE_FAILED: journal disk full');
    expect(result.stderr).toMatch(/error: not every command was acknowledged:\n {2}connection 0 \(session \d+, 127\.0\.0\.1:\d+\): the server sent ERROR ENGINE_FAILED: journal disk full; 0 of 3000/);
    expect(server.connections).toBe(1);
  });

  it('SESSION_BUSY is retried with --retry', async () => {
    const server = await fakeServer({ helloError: { code: ERR_SESSION_BUSY, message: 'busy', times: 2 } });
    const run = await load(server, { retry: true });
    expect(run.report.failures).toEqual([]);
    expect(server.connections).toBe(3);
    expect(run.log.filter((line) => line.includes('server ERROR SESSION_BUSY: busy'))).toHaveLength(2);
    expectExactlyOnce(run, server, 1, 'SESSION_BUSY twice');
  });

  it('a refused address fails without --retry and is failed over to the next one with it', async () => {
    const dead = await deadPort();
    const server = await fakeServer();
    const addresses = [{ host: '127.0.0.1', port: dead }, { host: '127.0.0.1', port: server.port }];
    const refused = await load(server, { addresses });
    expect(refused.report.failures).toHaveLength(1);
    expect(refused.report.failures[0]).toMatch(new RegExp(`^connection 0 \\(session \\d+, 127\\.0\\.0\\.1:${dead}\\): ECONNREFUSED`));
    const failover = await load(server, { addresses, retry: true });
    expect(failover.report.failures).toEqual([]);
    expect(failover.log[0]).toMatch(new RegExp(`127\\.0\\.0\\.1:${dead}.*ECONNREFUSED.*reconnecting to 127\\.0\\.0\\.1:${server.port}`));
    expect(failover.report.commands).toBe(workload.count);
  });

  it('closed loop keeps at most --window commands unacknowledged', async () => {
    const small = generateWorkload({ preset: 'balanced', seed: 4, count: 200 });
    const server = await fakeServer({ holdOutputMs: 10 }, small.symbols);
    const { report } = await load(server, { workload: small, window: 10, eventsPath: null, acksPath: null });
    expect(report.failures).toEqual([]);
    expect(report.commands).toBe(200);
    // The server holds its ACKs 10 ms: the client fills its window and waits.
    expect(server.maxHeldCommands).toBe(10);
  });

  it('open loop keeps to the rate and times each command from its due time (a stall is charged to every command it delayed)', async () => {
    const small = generateWorkload({ preset: 'balanced', seed: 4, count: 1000 });
    const paced = await fakeServer({}, small.symbols);
    const { report } = await load(paced, { workload: small, connections: 2, rate: 10_000, eventsPath: null, acksPath: null });
    expect(report.failures).toEqual([]);
    expect(report.mode).toBe('open');
    expect(report.latency.count).toBe(1000);
    // 1000 commands at 10 K/s: the schedule alone lasts 0.1 s.
    expect(report.durationNs).toBeGreaterThan(0.095e9);
    expect(report.durationNs).toBeLessThan(2e9);

    // A window of 4 and ACKs held 20 ms: 200 commands due within 20 ms go out 4 per 20 ms, ~1 s in all. Timed from
    // the send each would take ~20 ms; from its due time the last waits ~1 s.
    const tiny = generateWorkload({ preset: 'balanced', seed: 4, count: 200 });
    const stalled = await fakeServer({ holdOutputMs: 20 }, tiny.symbols);
    const stall = await load(stalled, { workload: tiny, rate: 10_000, window: 4, eventsPath: null, acksPath: null });
    expect(stall.report.failures).toEqual([]);
    expect(stalled.maxHeldCommands).toBe(4);
    expect(stall.report.latency.maxNs).toBeGreaterThan(0.5e9);
    expect(stall.report.latency.p50Ns).toBeGreaterThan(0.2e9);
  });

  it('--timeout gives up with a reason per connection, saying what each was waiting for', async () => {
    const server = await fakeServer({ holdOutputMs: 60_000 });
    const { report } = await load(server, { connections: 2, timeoutMs: 300 });
    expect(report.ok).toBe(false);
    expect(report.failures).toHaveLength(2);
    for (const [c, failure] of report.failures.toSorted().entries()) {
      expect(failure).toMatch(new RegExp(`^connection ${c} \\(session \\d+, 127\\.0\\.0\\.1:\\d+\\): gave up after the --timeout of 0\\.3 s; it was waiting for the WELCOME; 0 of \\d+ commands acknowledged$`));
    }
  });

  it('CLI: bad usage exits 2 naming the option', async () => {
    const result = await cli('--connect', '127.0.0.1:1', '--workload', SPEC, '--rate', 'fast');
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(`--rate: 'fast' is neither "closed" nor a positive rate like 50k or 1M`);
  });

  it('a run resumed with the same --session continues where the server is and writes every event once', async () => {
    const server = await fakeServer({ dropAfter: 1000, maxDrops: 1, seed: 9 });
    const first = await load(server, { sessionBase: 4242 });
    expect(first.report.ok).toBe(false);
    const applied = server.lastApplied(4242);
    expect(applied).toBe(1000);
    const second = await load(server, { sessionBase: 4242 });
    expect(second.report.failures).toEqual([]);
    expect(second.report.resumedCommands).toBe(applied);
    expect(second.report.latency.count).toBe(workload.count - applied);
    // The second run's HELLO says nothing acknowledged, so the server resends all it applied: the file is complete.
    expectExactlyOnce(second, server, 1, 'resumed');
  });
});
