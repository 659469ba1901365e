/**
 * `npm run load -- --connect HOST:PORT[,…] --workload SPEC [options]`: the engine server's load client. It splits
 * the workload over C connections (harness/split.ts, rule `order`, as compare splits producers), runs each as one
 * session (server/load-connection.ts), and reports throughput and latency as the server's clients see them.
 *
 * Contract:
 * - Connection c uses session base + c and sends its share with client sequences 1, 2, 3 … (client sequence k is
 *   the share's k-th command, `streams[c][k − 1]`). Every connection is welcomed before any sends (one start line).
 * - Latency: send (closed loop) or due time (open loop) → ACK receipt, in ns into one HDR histogram built before
 *   anything is timed. Throughput: commands this run sent and saw acknowledged / (last ACK − first send).
 * - `--events`: each acknowledged command's events, as event NDJSON in the order received, `seq` = the workload
 *   index; `--acks`: `{"conn":c,"cseq":n,"seq":index}` per acknowledged command. Both are kept in memory as
 *   records (48 bytes an event, 8 an ACK) and written after the run, so formatting and disk writes stay out of the
 *   measured time; they are written on failure too (what was acknowledged, exactly once).
 * - Exit 0 once every command is acknowledged; 1 with a reason per failed connection otherwise (a drop without
 *   --retry, an ERROR the client does not retry, a protocol error, the --timeout); 2 on bad usage.
 */
import { open } from 'node:fs/promises';
import { availableParallelism, cpus, platform, release } from 'node:os';
import { decodeEventRecord, EVENT_BYTES } from '../engines/event-record.ts';
import { formatEvent } from '../engines/types.ts';
import { formatHelp, parseArgs, runCli, UsageError, type CommandSpec } from '../harness/cli-args.ts';
import { nowNs } from '../harness/clock.ts';
import { encodeHistogram, LatencyRecorder, latencyHistogram, percentilesOf } from '../harness/histogram.ts';
import type { LatencyPercentiles } from '../harness/results-schema.ts';
import { MAX_PRODUCERS, splitWorkload } from '../harness/split.ts';
import { resolveWorkload } from '../workloads/load.ts';
import type { Workload } from '../workloads/workload.ts';
import { LoadConnection, type AckSink, type ServerAddress } from './load-connection.ts';

export const DEFAULT_WINDOW = 256;
export const DEFAULT_TIMEOUT_S = 120;
/** Default session bases are drawn from [1, 2^30), so base + C stays a valid u32 session id. */
const SESSION_BASE_LIMIT = 2 ** 30;
const MAX_SESSION = 0xffff_ffff;

const SPEC: CommandSpec = {
  command: 'npm run load --',
  summary: "Drive an engine server (npm run serve) with a workload over C sessions; report throughput and ACK latency.",
  details:
    'Closed loop keeps at most --window commands unacknowledged per connection. Open loop (--rate R) sends command k of\n' +
    'each connection when due (R/C commands/s each) and times it from its due time; the window still bounds it.\n' +
    'Connection c uses session --session + c. With --retry a dropped connection reconnects (backoff 100 ms … 2 s,\n' +
    'the next address in turn) and resumes its session; without it a drop is a failure.',
  options: {
    connect: { type: 'string', value: 'HOST:PORT[,…]', description: 'server address; more, comma-separated, are failover addresses tried in turn', required: true },
    workload: { type: 'string', value: 'SPEC', description: 'workload file (binary or NDJSON) or preset spec, e.g. preset:balanced,seed=1,count=100000', required: true },
    connections: { type: 'string', value: 'C', description: 'connections (sessions), the workload split over them by order (default 1)' },
    rate: { type: 'string', value: 'closed|R', description: 'closed loop, or an open-loop total rate in commands/s like 50k or 1M (default closed)' },
    window: { type: 'string', value: 'N', description: `most commands sent and not acknowledged per connection (default ${DEFAULT_WINDOW})` },
    events: { type: 'string', value: 'OUT', description: 'write every event received as event NDJSON, seq = workload index' },
    acks: { type: 'string', value: 'OUT', description: 'write one {"conn","cseq","seq"} line per acknowledged command' },
    retry: { type: 'boolean', description: 'reconnect and resume the session when a connection drops' },
    session: { type: 'string', value: 'N', description: 'session id of connection 0 (default: random, printed to stderr)' },
    timeout: { type: 'string', value: 'S', description: `give up unless everything is acknowledged within S seconds (default ${DEFAULT_TIMEOUT_S})` },
    json: { type: 'boolean', description: 'print one JSON object instead of the summary' },
  },
};

/** "50k" → 50000, "1M" → 1000000, "2500" → 2500 (compare's --rate rule). */
function parseRate(text: string): number {
  const match = /^(\d+(?:\.\d+)?)([kKmM]?)$/.exec(text);
  const value = match === null ? NaN : Number(match[1]) * (match[2] === '' ? 1 : match[2]!.toLowerCase() === 'k' ? 1e3 : 1e6);
  if (!(value > 0) || !Number.isFinite(value)) throw new UsageError(SPEC.command, `--rate: '${text}' is neither "closed" nor a positive rate like 50k or 1M`);
  return value;
}

function parseAddresses(text: string): ServerAddress[] {
  return text.split(',').map((part) => {
    const colon = part.lastIndexOf(':');
    const host = part.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
    const port = Number(part.slice(colon + 1));
    if (colon <= 0 || host === '' || !/^\d+$/.test(part.slice(colon + 1)) || port < 1 || port > 65535) {
      throw new UsageError(SPEC.command, `--connect: '${part}' is not HOST:PORT`);
    }
    return { host, port };
  });
}

/** Acknowledged commands and their events, as records, in the order received; written out after the run. */
class ReceivedLog implements AckSink {
  readonly #keepEvents: boolean;
  readonly #keepAcks: boolean;
  #events = new Uint32Array(1 << 16);
  #eventCount = 0;
  /** (connection, client sequence) pairs. */
  #acks = new Int32Array(1 << 12);
  #ackCount = 0;

  readonly #onAcknowledged: ((connection: number) => void) | undefined;

  constructor(keepEvents: boolean, keepAcks: boolean, onAcknowledged: ((connection: number) => void) | undefined) {
    this.#keepEvents = keepEvents;
    this.#keepAcks = keepAcks;
    this.#onAcknowledged = onAcknowledged;
  }

  acknowledged(connection: number, clientSequence: number, events: Uint32Array, eventCount: number): void {
    this.#onAcknowledged?.(connection);
    if (this.#keepAcks) {
      if (2 * this.#ackCount + 2 > this.#acks.length) this.#acks = grown(this.#acks, 2 * this.#ackCount + 2);
      this.#acks[2 * this.#ackCount] = connection;
      this.#acks[2 * this.#ackCount + 1] = clientSequence;
      this.#ackCount++;
    }
    if (this.#keepEvents && eventCount > 0) {
      const words = eventCount * (EVENT_BYTES / 4);
      const at = this.#eventCount * (EVENT_BYTES / 4);
      if (at + words > this.#events.length) this.#events = grown(this.#events, at + words);
      const store = this.#events;
      for (let w = 0; w < words; w++) store[at + w] = events[w]!;
      this.#eventCount += eventCount;
    }
  }

  async writeEvents(path: string, symbols: readonly string[]): Promise<void> {
    const buffer = this.#events.buffer;
    const bytes = new Uint8Array(buffer);
    const words = new Uint32Array(buffer);
    const f64 = new Float64Array(buffer);
    await writeLines(path, this.#eventCount, (i) => formatEvent(decodeEventRecord(bytes, words, f64, i, symbols)));
  }

  async writeAcks(path: string, streams: readonly Int32Array[]): Promise<void> {
    const acks = this.#acks;
    await writeLines(path, this.#ackCount, (i) => {
      const connection = acks[2 * i]!;
      const clientSequence = acks[2 * i + 1]!;
      return `{"conn":${connection},"cseq":${clientSequence},"seq":${streams[connection]![clientSequence - 1]}}`;
    });
  }
}

function grown<T extends Uint32Array | Int32Array>(array: T, atLeast: number): T {
  let length = array.length * 2;
  while (length < atLeast) length *= 2;
  const bigger = new (array.constructor as new (n: number) => T)(length);
  bigger.set(array);
  return bigger;
}

async function writeLines(path: string, count: number, line: (i: number) => string): Promise<void> {
  const file = await open(path, 'w');
  try {
    const CHUNK = 16_384;
    for (let from = 0; from < count; from += CHUNK) {
      const lines: string[] = [];
      for (let i = from; i < Math.min(count, from + CHUNK); i++) lines.push(line(i));
      await file.write(`${lines.join('\n')}\n`);
    }
  } finally {
    await file.close();
  }
}

export interface LoadOptions {
  readonly addresses: readonly ServerAddress[];
  readonly workload: Workload;
  readonly connections: number;
  /** Open-loop total rate in commands/s; null: closed loop. */
  readonly rate: number | null;
  readonly window: number;
  readonly eventsPath: string | null;
  readonly acksPath: string | null;
  readonly retry: boolean;
  readonly sessionBase: number;
  readonly timeoutMs: number;
  /** Notes for the user (ERROR frames, reconnects); the CLI's go to stderr. */
  readonly log: (line: string) => void;
  /** Called on every acknowledgement (with --events or --acks): how the crash test sees a client back at work. */
  readonly onAcknowledged?: (connection: number) => void;
}

export interface LoadReport {
  readonly ok: boolean;
  /** One reason per connection that failed on its own (not those stopped because another failed). */
  readonly failures: readonly string[];
  readonly design: string;
  readonly connections: number;
  readonly sessionBase: number;
  readonly mode: 'closed' | 'open';
  readonly rate: number | null;
  readonly window: number;
  readonly workloadCommands: number;
  /** Commands acknowledged, and of those the ones this run never sent (a resumed session's). */
  readonly commands: number;
  readonly resumedCommands: number;
  readonly events: number;
  readonly reconnects: number;
  /** First send → last ACK. */
  readonly durationNs: number;
  readonly throughput: number;
  readonly latency: LatencyPercentiles;
  /** The latency histogram, hdr-histogram-js compressed base64 (harness/histogram.ts). */
  readonly histogram: string;
}

/** Runs the load and writes the output files; never throws for a connection's failure (see `ok`, `failures`). */
export async function runLoad(options: LoadOptions): Promise<LoadReport> {
  const { workload, connections: count } = options;
  const split = splitWorkload(workload.records, workload.count, count, 'order');
  const received = options.eventsPath === null && options.acksPath === null ? null : new ReceivedLog(options.eventsPath !== null, options.acksPath !== null, options.onAcknowledged);
  // Built before anything is timed: the first histogram of a thread compiles hdr-histogram-js's WebAssembly.
  const latencies = new LatencyRecorder(latencyHistogram());
  const connections = split.streams.map((stream, c) => new LoadConnection({
    connection: c,
    session: options.sessionBase + c,
    addresses: options.addresses,
    records: workload.bytes,
    symbolCount: workload.symbols.length,
    stream,
    window: options.window,
    intervalNs: options.rate === null ? null : (1e9 * count) / options.rate,
    phase: c / count,
    retry: options.retry,
    keepEvents: options.eventsPath !== null,
    sink: received,
    latencies,
    log: options.log,
    random: Math.random,
  }));

  const failures: string[] = [];
  const stopped = new Set<LoadConnection>();
  const stopOthers = (failed: LoadConnection): void => {
    // A connection that had already failed (the timeout stops all at once) keeps its own reason.
    for (const other of connections) if (other.stop(`stopped because connection ${failed.connection} failed`)) stopped.add(other);
  };
  const timeout = setTimeout(() => {
    for (const connection of connections) connection.stop(`gave up after the --timeout of ${options.timeoutMs / 1000} s`);
  }, options.timeoutMs);
  const outcomes = connections.map((connection) => connection.done.then((outcome) => {
    if (!outcome.ok && !stopped.has(connection)) {
      failures.push(outcome.reason);
      stopOthers(connection);
    }
  }));
  try {
    for (const connection of connections) connection.connect();
    if ((await Promise.all(connections.map((c) => c.ready))).every(Boolean)) {
      const t0 = nowNs();
      for (const connection of connections) connection.begin(t0);
    }
    await Promise.all(outcomes);
  } finally {
    clearTimeout(timeout);
  }

  const histogram = latencies.finish();
  const latency = percentilesOf(histogram);
  const encoded = encodeHistogram(histogram);
  histogram.destroy();
  if (received !== null && options.eventsPath !== null) await received.writeEvents(options.eventsPath, workload.symbols);
  if (received !== null && options.acksPath !== null) await received.writeAcks(options.acksPath, split.streams);

  const sum = (f: (c: LoadConnection) => number): number => connections.reduce((total, c) => total + f(c), 0);
  const commands = sum((c) => c.acknowledged);
  const resumedCommands = sum((c) => c.resumed);
  const firstSend = Math.min(...connections.map((c) => c.firstSendNs));
  const lastAck = Math.max(...connections.map((c) => c.lastAckNs));
  const durationNs = Number.isFinite(firstSend) && lastAck > firstSend ? lastAck - firstSend : 0;
  return {
    ok: failures.length === 0,
    failures,
    design: connections.find((c) => c.design !== '')?.design ?? '',
    connections: count,
    sessionBase: options.sessionBase,
    mode: options.rate === null ? 'closed' : 'open',
    rate: options.rate,
    window: options.window,
    workloadCommands: workload.count,
    commands,
    resumedCommands,
    events: sum((c) => c.events),
    reconnects: sum((c) => c.reconnects),
    durationNs,
    throughput: durationNs > 0 ? ((commands - resumedCommands) * 1e9) / durationNs : 0,
    latency,
    histogram: encoded,
  };
}

const us = (ns: number): string => (ns / 1000).toFixed(1);

function formatSummary(report: LoadReport, addresses: string): string {
  const { latency } = report;
  const loop = report.mode === 'closed' ? `closed loop, window ${report.window}` : `open loop at ${report.rate!.toLocaleString('en-US')} commands/s, window ${report.window}`;
  return [
    `matchbench load: ${addresses}, design ${report.design === '' ? '(no WELCOME)' : report.design}, ${report.connections} connection${report.connections === 1 ? '' : 's'} (sessions ${report.sessionBase}…${report.sessionBase + report.connections - 1}), ${loop}`,
    `commands    ${report.commands.toLocaleString('en-US')} of ${report.workloadCommands.toLocaleString('en-US')} acknowledged${report.resumedCommands > 0 ? ` (${report.resumedCommands.toLocaleString('en-US')} applied before this run)` : ''} in ${(report.durationNs / 1e9).toFixed(3)} s`,
    `throughput  ${Math.round(report.throughput).toLocaleString('en-US')} commands/s`,
    `latency µs  p50 ${us(latency.p50Ns)}  p90 ${us(latency.p90Ns)}  p99 ${us(latency.p99Ns)}  p99.9 ${us(latency.p99_9Ns)}  max ${us(latency.maxNs)}  (${latency.count.toLocaleString('en-US')} samples, ${report.mode === 'closed' ? 'send' : 'due time'} → ACK)`,
    `events      ${report.events.toLocaleString('en-US')}`,
    `reconnects  ${report.reconnects}`,
  ].join('\n') + '\n';
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2), SPEC);
  if (args.help) {
    process.stdout.write(formatHelp(SPEC));
    return;
  }
  const connectText = args.requiredString('connect');
  const addresses = parseAddresses(connectText);
  const connections = args.integer('connections', 1, MAX_PRODUCERS) ?? 1;
  const rateText = args.string('rate') ?? 'closed';
  const rate = rateText === 'closed' ? null : parseRate(rateText);
  const window = args.integer('window', 1) ?? DEFAULT_WINDOW;
  const sessionBase = args.integer('session', 1, MAX_SESSION - connections + 1) ?? 1 + Math.floor(Math.random() * (SESSION_BASE_LIMIT - 1));
  const timeoutText = args.string('timeout');
  const timeoutS = timeoutText === undefined ? DEFAULT_TIMEOUT_S : Number(timeoutText);
  if (!(timeoutS > 0) || !Number.isFinite(timeoutS)) throw new UsageError(SPEC.command, `--timeout: expected a positive number of seconds, got '${timeoutText}'`);
  const workload = await resolveWorkload(args.requiredString('workload'));
  process.stderr.write(`matchbench load: sessions ${sessionBase}…${sessionBase + connections - 1} (resume with --session ${sessionBase})\n`);

  const report = await runLoad({
    addresses, workload, connections, rate, window, retry: args.boolean('retry'), sessionBase, timeoutMs: timeoutS * 1000,
    eventsPath: args.string('events') ?? null, acksPath: args.string('acks') ?? null,
    log: (line) => process.stderr.write(`${line}\n`),
  });
  if (args.boolean('json')) {
    const cpu = cpus()[0];
    const environment = { cpuModel: cpu?.model ?? 'unknown', node: process.version, v8: process.versions.v8, cores: availableParallelism(), os: `${platform()} ${release()}` };
    process.stdout.write(`${JSON.stringify({ ...report, connect: addresses, workload: { spec: args.requiredString('workload'), provenance: workload.provenance }, environment })}\n`);
  } else if (report.ok) {
    process.stdout.write(formatSummary(report, connectText));
  }
  if (!report.ok) throw new Error(`not every command was acknowledged:\n  ${report.failures.join('\n  ')}`);
}

if (import.meta.main) runCli(main);
