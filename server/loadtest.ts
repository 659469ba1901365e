/**
 * `npm run loadtest -- [--design A,B] [--connections C] [--pipelining N] [--duration S] [--workload SPEC]
 * [--journal MODE] [--param K=V] [--repeat R] [--json]`: what the HTTP front costs each design. For every design it
 * runs the same commands twice against a fresh `serve` (server/serve-process.ts, a temporary journal directory
 * each time): once over REST with autocannon (the HTTP gateway, server/http-gateway.ts) and once over the binary wire
 * protocol with the load client (server/load.ts), C connections each, closed loop with N requests in flight per
 * connection (autocannon's pipelining; the load client's window), and prints both and their ratio.
 *
 * Measuring:
 * - autocannon's programmatic API drives the REST API, each request the next command of the workload (its
 *   `setupRequest`); only commands REST can say are used, and both runs use exactly those (restRequestOf).
 * - Latency is recorded per response, in ns, from autocannon's `response` event (its own request-to-response time,
 *   from process.hrtime) into an HDR histogram (harness/histogram.ts) built before the run. autocannon's own
 *   percentiles are not used: it records whole milliseconds, and its rate-limited latency correction uses the wrong
 *   interval. Throughput: responses / the run's wall time.
 * - autocannon, the load client and serve share the machine: on 2 cores the load generator takes one of them, and
 *   both runs pay that alike, so the ratio is the figure to read, not either rate alone.
 * - Both runs are bounded: by the workload's size and by `--duration` seconds (a run that has not finished by then
 *   stops, and its figures are those of what was answered).
 *
 * A run checks its own answer, outside the timer: the REST run's journal is replayed through the reference engine
 * and every answered command's events must be the reference's for it, at the position the engine sequenced it
 * (its client sequence in the gateway's session); no command is in the journal twice, and at most the requests in
 * flight when the run stopped are journaled without an answer. The binary run is checked by the load client
 * itself (every command acknowledged exactly once, in order).
 *
 * Writes results/<timestamp>-loadtest.json (server/loadtest-results.ts) with the environment, and its report,
 * reports/<timestamp>-loadtest.html (`npm run report` renders such a file too).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import autocannon from 'autocannon';
import { WebSocket } from 'ws';
import { DESIGNS, designByName } from '../engines/designs.ts';
import { ReferenceEngine } from '../engines/reference.ts';
import { formatEvent, type MatchEvent } from '../engines/types.ts';
import { formatHelp, parseArgs, runCli, UsageError, type CommandSpec } from '../harness/cli-args.ts';
import { captureEnvironment } from '../harness/environment.ts';
import { encodeHistogram, latencyHistogram, percentilesOf } from '../harness/histogram.ts';
import type { Environment, LatencyPercentiles } from '../harness/results-schema.ts';
import { JOURNAL_RECORD_BYTES, REC_OFF_CLIENT_SEQUENCE, REC_OFF_SESSION } from '../journal/format.ts';
import { JOURNAL_MODES, parseJournalMode, type JournalMode } from '../journal/journal-mode.ts';
import { readJournal } from '../journal/reader.ts';
import { journalDirectories } from '../journal/recovery.ts';
import { writeWorkloadFile } from '../workloads/binary.ts';
import { resolveWorkload } from '../workloads/load.ts';
import { decodeRecord, RECORD_BYTES, workloadFromCommands, type Workload } from '../workloads/workload.ts';
import { renderReport } from '../harness/report.ts';
import { restRequestOf, type RestRequest } from './http-api.ts';
import { LOADTEST_SCHEMA, LOADTEST_SCHEMA_VERSION, loadtestTable, type FanOut, type HttpRun, type LoadtestFile, type LoadtestResult, type LoadtestRun } from './loadtest-results.ts';
import { runLoad } from './load.ts';
import { startServe, stopServe, type ServeProcess } from './serve-process.ts';

const DEFAULT_WORKLOAD = 'preset:balanced,count=40000';
const DEFAULT_CONNECTIONS = 8;
const DEFAULT_SUBSCRIBERS = 4;
const DEFAULT_PIPELINING = 1;
const DEFAULT_DURATION_S = 60;
const DEFAULT_JOURNAL: JournalMode = 'async';
const START_TIMEOUT_MS = 60_000;

const SPEC: CommandSpec = {
  command: 'npm run loadtest --',
  summary: 'What the HTTP front costs each design: the same commands over REST (autocannon) and over the binary protocol (npm run load), side by side.',
  details:
    'Each design serves the workload twice, each time a fresh serve with its journal in a temporary directory: REST\n' +
    '(serve --http-port, driven by autocannon) and the wire protocol (the load client), C connections with N requests\n' +
    'in flight each. Latency is recorded per response in µs (not autocannon\'s 1 ms percentiles). The REST run is checked\n' +
    'against the reference engine\'s replay of its journal. Writes results/<timestamp>-loadtest.json and reports/<timestamp>-loadtest.html.',
  options: {
    design: { type: 'string', value: 'A,B', description: `designs (default all: ${DESIGNS.map((d) => d.name).join(', ')})` },
    connections: { type: 'string', value: 'C', description: `connections of each run (default ${DEFAULT_CONNECTIONS})` },
    pipelining: { type: 'string', value: 'N', description: `requests in flight per connection: autocannon's pipelining, the load client's window (default ${DEFAULT_PIPELINING})` },
    duration: { type: 'string', value: 'S', description: `at most S seconds per run (default ${DEFAULT_DURATION_S}); a run stops at the workload's end before that` },
    workload: { type: 'string', value: 'SPEC', description: `workload file or preset spec (default ${DEFAULT_WORKLOAD})` },
    journal: { type: 'string', value: 'MODE', description: `serve's journal mode, one of ${JOURNAL_MODES.filter((m) => m !== 'none').join(', ')} (default ${DEFAULT_JOURNAL}: the check replays it)` },
    param: { type: 'list', value: 'K=V', description: 'design parameter for serve: NAME=V for every design that has it, DESIGN.NAME=V for one (e.g. wait=spin-then-wait on a 2-core machine)' },
    subscribers: { type: 'string', value: 'N', description: `WebSocket feed subscribers during the REST run, each on l2 and trades of every symbol: the fan-out figure (default ${DEFAULT_SUBSCRIBERS}; 0: none)` },
    repeat: { type: 'string', value: 'R', description: 'repetitions, the two runs of a design alternating which goes first (default 1)' },
    json: { type: 'boolean', description: 'print the results file instead of the table' },
  },
};

interface Settings {
  readonly connections: number;
  readonly pipelining: number;
  readonly durationS: number;
  readonly journal: JournalMode;
  readonly params: readonly string[];
  readonly subscribers: number;
}

/**
 * The --param values that apply to `design`, as compare reads them: `NAME=V` goes to every design that has NAME,
 * `DESIGN.NAME=V` to that design only.
 */
function paramsFor(design: string, params: readonly string[]): string[] {
  const has = (name: string): boolean => designByName(design).params.some((p) => p.name === name);
  return params.flatMap((p) => {
    const name = p.slice(0, Math.max(0, p.indexOf('=')));
    const dot = name.indexOf('.');
    if (dot < 0) return has(name) ? [p] : [];
    return name.slice(0, dot) === design ? [p.slice(dot + 1)] : [];
  });
}

/** A fresh serve of `design` on a new temporary directory; `http` adds the gateway. */
async function startFresh(design: string, settings: Settings, symbolsFile: string, commands: number, http: boolean, running: Set<ChildProcess>): Promise<{ server: ServeProcess; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'matchbench-loadtest-'));
  const args = [
    '--design', design, ...paramsFor(design, settings.params).flatMap((p) => ['--param', p]), '--journal', settings.journal, '--dir', dir,
    // Room for the commands and for serve's clock, a record per millisecond of the run (and of its start and stop).
    '--symbols-from', symbolsFile, '--capacity', String(commands + 1000 * (settings.durationS + 10) + 1024), ...(http ? ['--http-port', '0'] : []),
  ];
  try {
    return { server: await startServe(args, running, START_TIMEOUT_MS), dir };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/** The REST run: autocannon over `requests`, every response's latency into an HDR histogram. */
async function httpRun(port: number, requests: readonly RestRequest[], settings: Settings): Promise<{ run: Omit<HttpRun, 'check'>; answers: Map<number, string[]> }> {
  const histogram = latencyHistogram();
  const statuses: Record<string, number> = {};
  const answers = new Map<number, string[]>();
  let next = 0;
  let duplicateAnswers = 0;
  let finished: (result: autocannon.Result) => void = () => {};
  let failed: (error: Error) => void = () => {};
  const done = new Promise<autocannon.Result>((resolveDone, rejectDone) => { finished = resolveDone; failed = rejectDone; });
  const started = performance.now();
  const instance = autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: settings.connections,
    pipelining: settings.pipelining,
    amount: requests.length,
    timeout: 10,
    requests: [{
      setupRequest: (request) => {
        const r = requests[next++ % requests.length]!;
        return { ...request, method: r.method, path: r.path, body: r.body ?? '', headers: r.body === undefined ? {} : { 'content-type': 'application/json' } };
      },
      onResponse: (status, body) => {
        statuses[status] = (statuses[status] ?? 0) + 1;
        const parsed = JSON.parse(body) as { events?: MatchEvent[] };
        if (parsed.events === undefined || parsed.events.length === 0) return;
        const seq = parsed.events[0]!.seq;
        if (answers.has(seq)) duplicateAnswers++;
        answers.set(seq, parsed.events.map(formatEvent));
      },
    }],
  }, (error, result) => (error === null || error === undefined ? finished(result) : failed(error)));
  instance.on('response', (_client, _status, _bytes, responseTimeMs) => histogram.recordValue(Math.max(1, Math.round(responseTimeMs * 1e6))));
  const stop = setTimeout(() => instance.stop(), settings.durationS * 1000);
  const result = await done;
  const seconds = (performance.now() - started) / 1000;
  clearTimeout(stop);
  if (duplicateAnswers > 0) throw new Error(`HTTP run: ${duplicateAnswers} responses carried a client sequence another response had (a command answered twice)`);
  const answered = Object.values(statuses).reduce((a, b) => a + b, 0);
  const latency = percentilesOf(histogram);
  const encoded = encodeHistogram(histogram);
  histogram.destroy();
  return {
    run: { requests: answered, seconds, throughput: answered / seconds, latency, histogram: encoded, statuses, errors: result.errors + result.timeouts, unanswered: Math.min(next, requests.length) - answered },
    answers,
  };
}

/**
 * The REST run's answers against the reference engine's replay of its journal; null when they agree, else what
 * differs (the first few places).
 */
export function checkHttpAnswers(dir: string, symbols: readonly string[], session: number, answers: ReadonlyMap<number, readonly string[]>, unanswered: number): string | null {
  const engine = new ReferenceEngine();
  const record = new Uint8Array(RECORD_BYTES);
  const f64 = new Float64Array(record.buffer);
  const problems: string[] = [];
  const journaled = new Set<number>();
  let withoutAnswer = 0;
  for (const journal of journalDirectories(dir).dirs) {
    readJournal(journal, (frame) => {
      const view = new DataView(frame.records.buffer, frame.records.byteOffset, frame.records.byteLength);
      for (let j = 0; j < frame.count; j++) {
        const at = j * JOURNAL_RECORD_BYTES;
        if (view.getUint32(at + REC_OFF_SESSION, true) !== session) continue;
        const cseq = view.getFloat64(at + REC_OFF_CLIENT_SEQUENCE, true);
        if (journaled.has(cseq)) problems.push(`journal ${journal}: client sequence ${cseq} twice`);
        journaled.add(cseq);
        record.set(frame.records.subarray(at, at + RECORD_BYTES));
        const lines: string[] = [];
        engine.process(decodeRecord(record, f64, 0, symbols), cseq, (e) => lines.push(formatEvent(e)));
        const got = answers.get(cseq);
        if (got === undefined) {
          // A command the engine applied whose events are empty never shows as an answer with events; count it apart.
          if (lines.length > 0) withoutAnswer++;
        } else if (got.length !== lines.length || got.some((l, i) => l !== lines[i])) {
          if (problems.length < 3) problems.push(`client sequence ${cseq}: answered ${JSON.stringify(got)}, the reference gives ${JSON.stringify(lines)}`);
        }
      }
    });
  }
  for (const cseq of answers.keys()) if (!journaled.has(cseq) && problems.length < 6) problems.push(`client sequence ${cseq} was answered but is not in the journal`);
  if (withoutAnswer > unanswered) problems.push(`${withoutAnswer} journaled commands have no answer, more than the ${unanswered} in flight when the run stopped`);
  return problems.length === 0 ? null : problems.join('; ');
}

/**
 * `count` WebSocket feed subscribers on l2 and trades of every symbol, connected and subscribed before the run;
 * `finish` closes them and reads what reached them (messages after the subscriptions' acknowledgements) and the
 * server's conflated count.
 */
async function subscribeFeed(port: number, symbols: readonly string[], count: number): Promise<{ finish(seconds: number): Promise<FanOut | null> }> {
  if (count === 0) return { finish: async () => null };
  const channels = symbols.flatMap((sym) => [`l2:${sym}`, `trades:${sym}`]);
  let messages = 0;
  const sockets = await Promise.all(Array.from({ length: count }, () => new Promise<WebSocket>((resolveSocket, reject) => {
    const socket = new WebSocket(`ws://127.0.0.1:${port}/stream`);
    let acks = 0;
    socket.once('error', reject);
    socket.on('message', (data) => {
      if (acks < channels.length) {
        if ((JSON.parse(data.toString()) as { type: string }).type === 'subscribed' && ++acks === channels.length) resolveSocket(socket);
        return;
      }
      messages++;
    });
    socket.once('open', () => { for (const channel of channels) socket.send(JSON.stringify({ op: 'subscribe', channel })); });
  })));
  return {
    finish: async (seconds) => {
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      for (const socket of sockets) socket.terminate();
      const conflated = Number(/^matchbench_ws_conflated_total (\d+)/m.exec(metrics)?.[1] ?? 0);
      return { subscribers: count, messages, messagesPerSecond: messages / seconds, conflated };
    },
  };
}

async function measureDesign(design: string, repetition: number, workload: Workload, requests: readonly RestRequest[], symbolsFile: string, settings: Settings, running: Set<ChildProcess>): Promise<LoadtestResult> {
  let http: HttpRun | null = null;
  let binary: LoadtestRun | null = null;
  const order = repetition % 2 === 0 ? ['binary', 'http'] : ['http', 'binary'];
  for (const kind of order) {
    const { server, dir } = await startFresh(design, settings, symbolsFile, workload.count, kind === 'http', running);
    try {
      if (kind === 'binary') {
        const report = await runLoad({
          addresses: [{ host: '127.0.0.1', port: server.port }], workload, connections: settings.connections, rate: null, window: settings.pipelining,
          eventsPath: null, acksPath: null, retry: false, sessionBase: 1, timeoutMs: settings.durationS * 1000, log: (line) => process.stderr.write(`${line}\n`),
        });
        if (!report.ok) throw new Error(`${design}, binary run: ${report.failures.join('; ')}`);
        binary = { requests: report.commands, seconds: report.durationNs / 1e9, throughput: report.throughput, latency: report.latency, histogram: report.histogram };
      } else {
        const health = (await (await fetch(`http://127.0.0.1:${server.httpPort}/health`)).json()) as { session: number };
        const feed = await subscribeFeed(server.httpPort!, workload.symbols, settings.subscribers);
        const { run, answers } = await httpRun(server.httpPort!, requests, settings);
        const fanOut = await feed.finish(run.seconds);
        const code = await stopServe(server, 'SIGTERM', running);
        if (code !== 0) throw new Error(`${design}: serve exited ${code} after the HTTP run:\n${server.output()}`);
        const problem = checkHttpAnswers(dir, workload.symbols, health.session, answers, run.unanswered);
        if (problem !== null) throw new Error(`${design}, HTTP run: the answers are not the reference engine's for the journaled sequence: ${problem}`);
        http = { ...run, check: `ok (${answers.size} answers against the journal's replay)`, ...(fanOut === null ? {} : { fanOut }) };
      }
    } finally {
      if (server.child.exitCode === null) await stopServe(server, 'SIGTERM', running);
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return { design, repetition, http: http!, binary: binary!, ratio: http!.throughput / binary!.throughput };
}

const us = (ns: number): string => (ns / 1000).toFixed(0);
const rate = (n: number): string => (n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : `${(n / 1e3).toFixed(1)}K`);

/** The report's load-test table (server/loadtest-results.ts), as aligned text for the terminal. */
function table(file: LoadtestFile): string {
  const { columns, rows } = loadtestTable(file);
  const cells = rows.map((row) => row.map(String));
  const widths = columns.map((h, i) => Math.max(h.length, ...cells.map((row) => row[i]!.length)));
  const line = (row: readonly string[]): string => row.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(columns), line(widths.map((w) => '─'.repeat(w))), ...cells.map(line)].join('\n');
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2), SPEC);
  if (args.help) {
    process.stdout.write(formatHelp(SPEC));
    return;
  }
  const designs = (args.string('design') ?? DESIGNS.map((d) => d.name).join(',')).split(',').map((name) => designByName(name).name);
  const journal = parseJournalMode(args.string('journal') ?? DEFAULT_JOURNAL, '--journal');
  if (journal === 'none') throw new UsageError(SPEC.command, '--journal none: the REST run is checked by replaying its journal; give async, group or sync');
  const settings: Settings = {
    connections: args.integer('connections', 1, 1024) ?? DEFAULT_CONNECTIONS,
    pipelining: args.integer('pipelining', 1, 1024) ?? DEFAULT_PIPELINING,
    durationS: args.integer('duration', 1, 3600) ?? DEFAULT_DURATION_S,
    journal,
    params: args.list('param'),
    subscribers: args.integer('subscribers', 0, 1000) ?? DEFAULT_SUBSCRIBERS,
  };
  const repeat = args.integer('repeat', 1, 100) ?? 1;
  const spec = args.string('workload') ?? DEFAULT_WORKLOAD;
  const source = await resolveWorkload(spec);
  const commands = Array.from({ length: source.count }, (_, i) => source.command(i)).filter((c) => restRequestOf(c) !== null);
  if (commands.length === 0) throw new UsageError(SPEC.command, `--workload ${spec}: no command of it can be said over REST`);
  const workload = workloadFromCommands(commands, { source: 'loadtest', from: spec });
  const requests = commands.map((c) => restRequestOf(c)!);
  const scratch = mkdtempSync(join(tmpdir(), 'matchbench-loadtest-workload-'));
  const symbolsFile = join(scratch, 'workload.mbwl');
  const running = new Set<ChildProcess>();
  const stopAll = (): void => { for (const child of running) if (child.exitCode === null) child.kill('SIGKILL'); };
  process.once('SIGINT', () => { stopAll(); process.exit(130); });
  const results: LoadtestResult[] = [];
  try {
    await writeWorkloadFile(symbolsFile, workload);
    process.stderr.write(`loadtest: ${commands.length} commands of ${spec} (${source.count - commands.length} REST cannot say left out), ${settings.connections} connections × ${settings.pipelining} in flight, journal ${journal}\n`);
    for (let r = 0; r < repeat; r++) {
      for (const design of designs) {
        const result = await measureDesign(design, r, workload, requests, symbolsFile, settings, running);
        process.stderr.write(`loadtest: ${design} rep ${r + 1}: HTTP ${rate(result.http.throughput)} req/s p99 ${us(result.http.latency.p99Ns)} µs, binary ${rate(result.binary.throughput)} cmd/s p99 ${us(result.binary.latency.p99Ns)} µs; ratio ${result.ratio.toFixed(3)}; ${result.http.check}\n`);
        results.push(result);
      }
    }
  } finally {
    stopAll();
    rmSync(scratch, { recursive: true, force: true });
  }
  const file: LoadtestFile = {
    schema: LOADTEST_SCHEMA, version: LOADTEST_SCHEMA_VERSION, createdAt: new Date().toISOString(), environment: captureEnvironment(),
    settings: { workload: spec, commands: commands.length, ...settings }, results,
  };
  const root = resolve(import.meta.dirname, '..');
  const stamp = `${file.createdAt.replace(/[:.]/g, '-').replace(/-\d+Z$/, 'Z')}-loadtest`;
  mkdirSync(join(root, 'results'), { recursive: true });
  const path = join(root, 'results', `${stamp}.json`);
  writeFileSync(path, `${JSON.stringify(file, null, 1)}\n`);
  const report = await renderReport([file], join(root, 'reports', `${stamp}.html`));
  if (args.boolean('json')) process.stdout.write(`${JSON.stringify(file)}\n`);
  else process.stdout.write(`${table(file)}\n\nCPU: ${file.environment.cpuModel}, ${file.environment.cores} cores, Node ${file.environment.node}\nresults: ${path}\nreport:  ${report.path}\n`);
}

if (import.meta.main) runCli(main);
