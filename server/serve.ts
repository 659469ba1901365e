/**
 * `npm run serve -- --design NAME [--producers P] [--param k=v ...] [--journal MODE] [--dir DIR] [--port N]
 * [--snapshot-every N] [--symbols-from WORKLOAD] [--capacity N] [--max-orders N] [--group-commands N] [--group-wait-us T] [--risk FILE]
 * [--http-port N [--keys FILE] [--access-log FILE] [--http-max-connections N] [--http-headers-timeout-ms T]]`:
 * one design as a long-running engine process on 127.0.0.1, speaking the wire protocol (server/protocol.ts).
 *
 * Start: on a directory that holds a journal it recovers first (journal/recovery.ts: the newest valid snapshot,
 * then the journal after it, a torn tail cut off), copies the recovered books into the design's cores and the
 * sessions into the shared session table, and continues the journal where it ended; then P producer threads
 * (server/connection-worker.ts) listen on the port with SO_REUSEPORT, and when all listen it prints exactly one
 * line, `matchbench serve: listening on 127.0.0.1:PORT` (`--port 0`: a free port). The journaller thread
 * (journal/journaller-thread.ts) journals every command the design sequences, in the mode given, and the
 * snapshotter thread (journal/snapshotter-thread.ts) snapshots every core every `--snapshot-every` commands and on
 * SIGUSR2, each engine pausing only for the copy of its core; each snapshot is logged with its size and pause.
 *
 * SIGTERM (or SIGINT): stop taking connections and commands, finish and acknowledge what was accepted, close the
 * journal (fsynced), write a snapshot of every core with its sessions (journal/snapshot.ts), exit 0.
 *
 * Replication (server/replicator.ts, server/standby.ts; README "Hot standby and failover"): `--replicate-to HOST:PORT`
 * streams every sequenced command to a hot standby (`--replication sync`, the default: a command is acknowledged
 * only once the standby's journal holds it too; `async`: the standby lags, the lag is logged), and a node started
 * so waits for its standby's first answer before it listens, so a stale primary (a lower epoch) never takes a
 * command: it exits 5. `--standby --listen-replication PORT` follows a primary instead and prints
 * `matchbench serve: standby, replication on 127.0.0.1:PORT`; when the primary falls silent for
 * `--missed-heartbeats` × `--heartbeat-ms` it promotes itself (epoch + 1), serves clients on `--port`, and
 * replicates to its own `--replicate-to` (the old primary, restarted as a standby).
 *
 * HTTP (server/http-gateway.ts; README "HTTP gateway"): `--http-port N` also serves the REST API on 127.0.0.1:N from
 * this thread (with API keys, `--keys`, and an access log, `--access-log`), as a client of the engine over the wire
 * protocol with a session of its own, and prints
 * `matchbench serve: http on 127.0.0.1:PORT` just before the listening line; a stop closes it first.
 *
 * Time: producer thread 0 injects a `clock` command every `--clock-ms` (default 1) of wall time, every second while
 * no command arrives (server/connection-worker.ts), sequenced and journaled like a client's, with session 0.
 *
 * Limits, said plainly: the record arena holds `--capacity` commands per process lifetime (a restart recovers and
 * starts a fresh arena); an on-demand snapshot is taken at each sequencer's next command (an idle engine waits).
 */
import { DEFAULT_CONFLATE_BYTES, DEFAULT_MAX_STALE_MS } from './market-data-feed.ts';
import { MarketData } from './market-data.ts';
import { loadRiskRules, resolveRisk, type RiskRules } from '../risk/rules.ts';
import { createWriteStream, mkdirSync } from 'node:fs';
import type { Server } from 'node:net';
import { join, resolve } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { startThread } from '../engines/workers/start-thread.ts';
import { designByName, DESIGNS, HARNESS_FLOOR, resolveParams } from '../engines/designs.ts';
import type { ParamValue, SharedWorkload } from '../engines/engine.ts';
import type { FastEngineCapacities } from '../engines/fast.ts';
import { defaultLadderTicks } from '../engines/fast.ts';
import { formatHelp, parseArgs, runCli, UsageError, type CommandSpec } from '../harness/cli-args.ts';
import { DEFAULT_GROUP_COMMANDS, DEFAULT_GROUP_WAIT_US, JOURNAL_MODES, parseJournalMode } from '../journal/journal-mode.ts';
import { startJournaller, type JournallerHandle } from '../journal/journaller-thread.ts';
import { DEFAULT_MAX_ORDERS, holdsJournal, journalDirectories, recover, type Recovery } from '../journal/recovery.ts';
import { readEpoch, writeEpoch, type Epoch } from '../journal/epoch.ts';
import { startSnapshotter, type SnapshotterHandle, type SnapshotTaken } from '../journal/snapshotter-thread.ts';
import { JOURNAL_RECORD_BYTES, REC_OFF_CLIENT_SEQUENCE, REC_OFF_SESSION } from '../journal/format.ts';
import { readJournal } from '../journal/reader.ts';
import { resolveWorkload } from '../workloads/load.ts';
import { RECORD_BYTES } from '../workloads/workload.ts';
import type { ConnectionWorkerMessage, ConnectionWorkerTask } from './connection-worker.ts';
import { freePort } from './free-port.ts';
import { parseReplicationMode, REPLICATION_MODES, startReplicator, type ReplicationMode, type ReplicatorHandle } from './replicator.ts';
import { KeyRing } from './api-keys.ts';
import { EngineClient } from './engine-client.ts';
import { DEFAULT_HEADERS_TIMEOUT_MS, DEFAULT_MAX_CONNECTIONS, startHttpGateway, type EngineGauge, type HttpGateway } from './http-gateway.ts';
import { EXIT_FENCED, HTTP_PREFIX, LISTENING_PREFIX, snapshotLine, STANDBY_PREFIX } from './serve-process.ts';
import { followAsStandby, type ShardState } from './standby.ts';
import { SessionTable } from './session-table.ts';

const DEFAULT_CAPACITY = 1 << 20;
const DEFAULT_HEARTBEAT_MS = 50;
/** Time is an input: serve gives the engine its time once a millisecond (README "Command NDJSON", `clock`). */
const DEFAULT_CLOCK_MS = 1;
/** The clock's interval while no command arrives, ms: an idle server spends 86,400 records a day on time, not 86 million. */
const IDLE_CLOCK_MS = 1000;
const DEFAULT_MISSED_HEARTBEATS = 3;
const DEFAULT_HASH_EVERY = 100_000;
/** How long a stop waits for acknowledgements held for an absent standby (sync replication), ms. */
const STOP_WAIT_FOR_STANDBY_MS = 5000;
const DEFAULT_SYMBOLS_FROM = 'preset:balanced';

const SPEC: CommandSpec = {
  command: 'npm run serve --',
  summary: 'Run one engine design as a server on 127.0.0.1 (wire protocol: README "Wire protocol"), with a write-ahead journal and recovery.',
  details:
    'On a --dir that holds a journal it recovers first (newest valid snapshot, then the journal), then listens.\n' +
    'Prints exactly one line "matchbench serve: listening on 127.0.0.1:PORT" when ready. SIGTERM: finish what was accepted, snapshot, exit 0.\n' +
    `Designs: ${DESIGNS.map((d) => d.name).join(', ')}.`,
  options: {
    design: { type: 'string', value: 'NAME', description: 'the design to run', required: true },
    producers: { type: 'string', value: 'P', description: 'producer threads, each serving the connections it accepts (default 1)' },
    param: { type: 'list', value: 'K=V', description: 'design parameter' },
    journal: { type: 'string', value: 'MODE', description: `journal mode: ${JOURNAL_MODES.join(', ')} (default none; any other needs --dir)` },
    dir: { type: 'string', value: 'DIR', description: 'journal and snapshot directory (recovered from when it holds a journal)' },
    port: { type: 'string', value: 'N', description: 'TCP port on 127.0.0.1 (default 0: a free port)' },
    'symbols-from': { type: 'string', value: 'WORKLOAD', description: `the symbol table of a fresh engine: a workload file or preset spec (default ${DEFAULT_SYMBOLS_FROM}); a recovered engine keeps its journal's` },
    capacity: { type: 'string', value: 'N', description: `commands this process can take in its lifetime (default ${DEFAULT_CAPACITY})` },
    'max-orders': { type: 'string', value: 'N', description: `resting orders each core holds (default ${DEFAULT_MAX_ORDERS}; a snapshot's core keeps its own)` },
    'snapshot-every': { type: 'string', value: 'N', description: 'snapshot every core at every multiple of N journal sequence numbers (needs a journal; default: at SIGTERM and on SIGUSR2 only)' },
    'group-commands': { type: 'string', value: 'N', description: `group mode: fsync once a frame holds N commands (default ${DEFAULT_GROUP_COMMANDS})` },
    'group-wait-us': { type: 'string', value: 'T', description: `group mode: ... or once its first command waited T µs (default ${DEFAULT_GROUP_WAIT_US})` },
    'replicate-to': { type: 'string', value: 'HOST:PORT', description: "stream every command to the hot standby listening there (a standby: once promoted); needs a journal" },
    replication: { type: 'string', value: 'MODE', description: `${REPLICATION_MODES.join(' or ')}: acknowledge once the standby holds a command too, or without waiting for it (default sync)` },
    standby: { type: 'boolean', description: 'follow a primary as its hot standby (needs --listen-replication, --journal, --dir); promote on its silence' },
    'listen-replication': { type: 'string', value: 'PORT', description: 'the standby\'s replication port on 127.0.0.1 (0: a free one)' },
    'clock-ms': { type: 'string', value: 'T', description: `inject a clock command (engine time, journaled) every T ms of wall time, every ${IDLE_CLOCK_MS} ms while no command arrives; 0: none (default ${DEFAULT_CLOCK_MS})` },
    'heartbeat-ms': { type: 'string', value: 'T', description: `replication heartbeat interval (default ${DEFAULT_HEARTBEAT_MS})` },
    'missed-heartbeats': { type: 'string', value: 'N', description: `a peer silent for N intervals is taken for dead (default ${DEFAULT_MISSED_HEARTBEATS})` },
    'http-port': { type: 'string', value: 'N', description: 'also serve the REST API (README "HTTP gateway") on 127.0.0.1:N (0: a free port)' },
    keys: { type: 'string', value: 'FILE', description: 'API keys of the REST API (README "API keys"): every request authenticates; without it the API is open' },
    'access-log': { type: 'string', value: 'FILE', description: 'append one line per REST request (time, key id, method, route, status, µs) to FILE' },
    'http-max-connections': { type: 'string', value: 'N', description: `most HTTP connections open at once; one more is answered 503 (default ${DEFAULT_MAX_CONNECTIONS})` },
    'ws-conflate-bytes': { type: 'string', value: 'N', description: `a feed subscriber with more than N bytes unsent has its updates conflated (default ${DEFAULT_CONFLATE_BYTES})` },
    'ws-max-stale-ms': { type: 'string', value: 'T', description: `... and is disconnected after T ms over it (default ${DEFAULT_MAX_STALE_MS})` },
    'http-headers-timeout-ms': { type: 'string', value: 'T', description: `a request's headers must all arrive within T ms, else 408 and close (default ${DEFAULT_HEADERS_TIMEOUT_MS})` },
    risk: { type: 'string', value: 'FILE', description: 'pre-trade risk rules and the circuit breaker (README "Risk rules and the breaker"); a restart recovers under the rules it is given, which must be the journal\'s' },
    'hash-every': { type: 'string', value: 'N', description: `a primary sends its book hash every N sequence numbers for the standby to check (default ${DEFAULT_HASH_EVERY}; 0: never)` },
  },
};

/** Most HTTP commands in flight to the engine; past it the gateway answers 503 with Retry-After. */
const HTTP_WINDOW = 4096;
/** The gateway's sessions are numbered from here, clear of the small ids load clients pick. */
const GATEWAY_SESSIONS_FROM = 0x8000_0000;

/**
 * The HTTP gateway's session: a new one every start (the smallest id from GATEWAY_SESSIONS_FROM the engine has not
 * seen), because the gateway keeps no state across restarts to resume an old one with.
 */
function gatewaySession(table: SessionTable): number {
  const seen = table.entries();
  let id = GATEWAY_SESSIONS_FROM;
  while (seen.has(id)) id++;
  return id;
}

/**
 * After a crash, K sequencers' journals can disagree on a session: one shard fsynced a later command of it than
 * another (none of them acknowledged: a session is acknowledged in order, each command once durable). The session
 * then resumes after its last contiguous client sequence, and the commands already applied past the gap are not
 * applied again when the client resends them: their events come from the journal (server/connection-worker.ts).
 * Commands on different shards touch different books, so applying them out of order changed nothing.
 */
function shardGaps(dirs: readonly string[]): Map<number, { prefix: number; ahead: number[] }> {
  const applied = new Map<number, Set<number>>();
  for (const journal of dirs) {
    readJournal(journal, (frame) => {
      const view = new DataView(frame.records.buffer, frame.records.byteOffset, frame.records.byteLength);
      for (let j = 0; j < frame.count; j++) {
        const session = view.getUint32(j * JOURNAL_RECORD_BYTES + REC_OFF_SESSION, true);
        if (session === 0) continue;
        let set = applied.get(session);
        if (set === undefined) applied.set(session, (set = new Set()));
        set.add(view.getFloat64(j * JOURNAL_RECORD_BYTES + REC_OFF_CLIENT_SEQUENCE, true));
      }
    });
  }
  const gaps = new Map<number, { prefix: number; ahead: number[] }>();
  for (const [session, set] of applied) {
    let prefix = 0;
    while (set.has(prefix + 1)) prefix++;
    if (prefix < set.size) gaps.set(session, { prefix, ahead: [...set].filter((c) => c > prefix).sort((a, b) => a - b) });
  }
  return gaps;
}

/** The pause figures of a server's life, for its last log line. */
function summariseSnapshots(taken: readonly SnapshotTaken[]): string {
  const pauses = taken.filter((s) => !s.final && Number.isFinite(s.pauseNs)).map((s) => s.pauseNs / 1000).sort((a, b) => a - b);
  const running = pauses.length === 0 ? 'none while running' : `${pauses.length} while running, engine paused p50 ${pauses[Math.floor(pauses.length / 2)]!.toFixed(0)} µs, max ${pauses.at(-1)!.toFixed(0)} µs`;
  return `snapshots: ${running}; ${taken.filter((s) => s.final).length} at stop; ${taken.at(-1)?.bytes ?? 0} bytes each`;
}

/** Where serve starts from: a recovered journal, a promoted standby's state, or nothing (fresh). */
interface StartState {
  readonly symbols: readonly string[];
  /** Per journal (shard); empty for a fresh start. */
  readonly shards: readonly ShardState[];
}

function parseAddress(text: string, flag: string): { host: string; port: number } {
  const colon = text.lastIndexOf(':');
  const port = Number(text.slice(colon + 1));
  if (colon <= 0 || !/^\d+$/.test(text.slice(colon + 1)) || port < 1 || port > 65535) throw new UsageError(SPEC.command, `${flag}: '${text}' is not HOST:PORT`);
  return { host: text.slice(0, colon), port };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2), SPEC);
  if (args.help) {
    process.stdout.write(formatHelp(SPEC));
    return;
  }
  let design;
  try {
    design = designByName(args.string('design')!);
  } catch (error) {
    throw new UsageError(SPEC.command, `--design: ${(error as Error).message}`);
  }
  if (design === HARNESS_FLOOR) throw new UsageError(SPEC.command, `--design: ${design.name} is the harness floor, not an engine`);
  const given: Record<string, ParamValue> = {};
  for (const flag of args.list('param')) {
    const eq = flag.indexOf('=');
    if (eq <= 0) throw new UsageError(SPEC.command, `--param: '${flag}' is not NAME=VALUE`);
    const value = flag.slice(eq + 1);
    given[flag.slice(0, eq)] = /^-?\d+$/.test(value) ? Number(value) : value;
  }
  let params;
  try {
    params = resolveParams(design, given);
  } catch (error) {
    throw new UsageError(SPEC.command, `--param: ${(error as Error).message}`);
  }
  const producers = args.integer('producers', 1, 64) ?? 1;
  if (producers > design.maxProducers(params)) throw new UsageError(SPEC.command, `--producers: ${design.name} supports at most ${design.maxProducers(params)}`);
  let mode;
  try {
    mode = parseJournalMode(args.string('journal') ?? 'none', '--journal');
  } catch (error) {
    throw new UsageError(SPEC.command, (error as Error).message);
  }
  const dirFlag = args.string('dir');
  if (mode !== 'none' && dirFlag === undefined) throw new UsageError(SPEC.command, `--journal ${mode} needs --dir DIR`);
  const dir = dirFlag === undefined ? null : resolve(dirFlag);
  const capacity = args.integer('capacity', 16, 1 << 28) ?? DEFAULT_CAPACITY;
  const maxOrders = args.integer('max-orders', 1, 1 << 26) ?? DEFAULT_MAX_ORDERS;
  const requestedPort = args.integer('port', 0, 65535) ?? 0;
  const httpPort = args.integer('http-port', 0, 65535);
  const keysFile = args.string('keys');
  const accessLogFile = args.string('access-log');
  const maxConnections = args.integer('http-max-connections', 1, 1_000_000);
  const headersTimeoutMs = args.integer('http-headers-timeout-ms', 100, 3_600_000);
  const conflateBytes = args.integer('ws-conflate-bytes', 1024, 1 << 30);
  const maxStaleMs = args.integer('ws-max-stale-ms', 10, 3_600_000);
  if ([keysFile, accessLogFile, maxConnections, headersTimeoutMs, conflateBytes, maxStaleMs].some((v) => v !== undefined) && httpPort === undefined) {
    throw new UsageError(SPEC.command, '--keys, --access-log, --http-max-connections, --http-headers-timeout-ms and --ws-* are the HTTP gateway\'s: give --http-port too');
  }
  // Read before anything starts, so that a bad key or rule file stops serve with its file and field at once.
  const keys = keysFile === undefined ? undefined : KeyRing.load(keysFile);
  const riskFile = args.string('risk');
  let rules: RiskRules | null = null;
  if (riskFile !== undefined) {
    try {
      rules = loadRiskRules(riskFile);
    } catch (error) {
      throw new UsageError(SPEC.command, `--risk: ${(error as Error).message}`);
    }
  }
  const snapshotEvery = args.integer('snapshot-every', 1, 2 ** 40) ?? 0;
  if (snapshotEvery > 0 && mode === 'none') throw new UsageError(SPEC.command, '--snapshot-every needs a journal (--journal async|group|sync --dir DIR): a snapshot covers only what the journal holds');
  const replicateToFlag = args.string('replicate-to');
  const replicateTo = replicateToFlag === undefined ? null : parseAddress(replicateToFlag, '--replicate-to');
  let replication: ReplicationMode;
  try {
    replication = parseReplicationMode(args.string('replication') ?? 'sync', '--replication');
  } catch (error) {
    throw new UsageError(SPEC.command, (error as Error).message);
  }
  if (args.string('replication') !== undefined && replicateTo === null) throw new UsageError(SPEC.command, '--replication needs --replicate-to HOST:PORT');
  const isStandby = args.boolean('standby');
  const listenReplication = args.integer('listen-replication', 0, 65535);
  const heartbeatMs = args.integer('heartbeat-ms', 1, 60_000) ?? DEFAULT_HEARTBEAT_MS;
  const clockEveryMs = args.integer('clock-ms', 0, 60_000) ?? DEFAULT_CLOCK_MS;
  const missedHeartbeats = args.integer('missed-heartbeats', 1, 1000) ?? DEFAULT_MISSED_HEARTBEATS;
  const hashEvery = args.integer('hash-every', 0, 2 ** 32 - 1) ?? DEFAULT_HASH_EVERY;
  if ((replicateTo !== null || isStandby) && mode === 'none') throw new UsageError(SPEC.command, `${isStandby ? '--standby' : '--replicate-to'} needs a journal (--journal async|group|sync --dir DIR): replication streams the journal, and a standby catches up from it`);
  if (isStandby && listenReplication === undefined) throw new UsageError(SPEC.command, '--standby needs --listen-replication PORT (where its primary connects)');
  if (!isStandby && listenReplication !== undefined) throw new UsageError(SPEC.command, '--listen-replication is the port of a --standby');

  // Recover, follow a primary until promoted, or start fresh.
  let start: StartState;
  let recovered = false;
  let epoch: Epoch | null = null;
  let replicationListener: Server | null = null;
  let promotedAtMs = -1;
  const freshSymbols = async (): Promise<readonly string[]> => (await resolveWorkload(args.string('symbols-from') ?? DEFAULT_SYMBOLS_FROM)).symbols;
  if (isStandby) {
    const follower = followAsStandby({
      dir: dir!, design: design.name, symbols: holdsJournal(dir!) ? [] : await freshSymbols(), maxOrders, mode, port: listenReplication!, missedHeartbeats, snapshotEvery, snapshotAtStop: true, rules,
      log: (line) => process.stderr.write(`${line}\n`), onListening: (p) => process.stdout.write(`${STANDBY_PREFIX}127.0.0.1:${p}\n`),
      onError: (error) => {
        process.stderr.write(`serve: ${error.message}\n`);
        process.exit(1);
      },
    });
    const stopFollowing = (): void => {
      void follower.stop().then(() => process.exit(0), (error: Error) => {
        process.stderr.write(`serve: ${error.stack ?? error.message}\n`);
        process.exit(1);
      });
    };
    process.once('SIGTERM', stopFollowing);
    process.once('SIGINT', stopFollowing);
    const promotion = await follower.promoted;
    promotedAtMs = performance.now();
    process.off('SIGTERM', stopFollowing);
    process.off('SIGINT', stopFollowing);
    start = { symbols: promotion.symbols, shards: promotion.shards };
    recovered = promotion.shards.some((shard) => shard.nextSequence > 0);
    epoch = promotion.epoch;
    replicationListener = promotion.listener;
  } else if (dir !== null && holdsJournal(dir)) {
    const recovery: Recovery = recover(dir, { truncateTornTail: true, capacities: { maxOrders }, rules });
    start = { symbols: recovery.shards[0]!.symbols, shards: recovery.shards };
    recovered = true;
    const t = recovery.timings;
    process.stderr.write(`serve: recovered ${recovery.commandsReplayed} commands from ${dir} in ${t.totalMs.toFixed(0)} ms, book ${recovery.bookHash.slice(0, 16)}\n`);
  } else {
    start = { symbols: await freshSymbols(), shards: [] };
  }
  const symbols = start.symbols;
  const coreCapacities = start.shards[0]?.core.capacities ?? { maxOrders, maxSymbols: Math.max(1, symbols.length), ladderTicks: defaultLadderTicks(Math.max(1, symbols.length)) };
  const { risk: _recoveredRules, ...coreSizes } = coreCapacities;
  const capacities: FastEngineCapacities = {
    ...coreSizes, maxEventsPerCommand: Math.min(coreCapacities.maxOrders + 2, 1 << 16),
    ...(rules === null ? {} : { risk: resolveRisk(rules, symbols) }),
  };

  const workload: SharedWorkload = { symbols, records: new SharedArrayBuffer(capacity * RECORD_BYTES), count: capacity };
  const session = design.start({ workload, producers, params, capacities });
  const failures: Error[] = [];
  let shutdown: ((error?: Error) => void) | undefined;
  session.onError((error) => shutdown?.(error));
  const cores = session.cores();
  const table = SessionTable.create();
  /** Per session, commands applied past its last contiguous one (several sequencers only: see shardGaps). */
  const appliedAhead: Record<number, number[]> = {};
  if (recovered) {
    if (start.shards.length !== cores.length) throw new Error(`${dir}: the journal has ${start.shards.length} sequencer(s); ${design.name} with these parameters has ${cores.length}`);
    start.shards.forEach((shard, k) => {
      const n = shard.core.layout.totalBytes;
      new Uint8Array(cores[k]!.buffer, cores[k]!.byteOffset, n).set(new Uint8Array(shard.core.buffer, shard.core.byteOffset, n));
      // The copy carried the recovered rules; the ones this start was given apply from here on.
      if (rules !== null) cores[k]!.configureRisk(resolveRisk(rules, symbols));
      for (const [id, last] of shard.sessions) {
        const slot = table.slotOf(id);
        table.setLastApplied(slot, Math.max(table.lastApplied(slot), last));
      }
    });
    if (start.shards.length > 1) {
      for (const [id, gap] of shardGaps(journalDirectories(dir!).dirs)) {
        table.setLastApplied(table.slotOf(id), gap.prefix);
        appliedAhead[id] = gap.ahead;
      }
    }
  }

  const logs = session.sequenceLogs();
  const journalDirs = dir === null || mode === 'none' ? null
    : recovered ? [...journalDirectories(dir).dirs]
    : logs.length === 1 ? [dir] : logs.map((_, k) => join(dir, `shard-${k}`));
  const firstSequences = logs.map((_, k) => (recovered ? start.shards[k]!.nextSequence : 0));
  const senders = { sessions: new SharedArrayBuffer(4 * capacity), clientSequences: new SharedArrayBuffer(8 * capacity) };
  let journaller: JournallerHandle | null = null;
  if (journalDirs !== null) {
    mkdirSync(dir!, { recursive: true });
    journaller = await startJournaller({
      logs, dirs: journalDirs, firstSequences, design: design.name, symbols,
      records: workload.records, recordCount: capacity, ...senders, ...(replicateTo !== null && replication === 'sync' ? { setsDurable: false } : {}),
      settings: { mode, groupCommands: args.integer('group-commands', 1, 1 << 20) ?? DEFAULT_GROUP_COMMANDS, groupWaitUs: args.integer('group-wait-us', 0, 1_000_000) ?? DEFAULT_GROUP_WAIT_US },
    }, (error) => shutdown?.(error));
  }
  // Market data (HTTP only): started before any producer thread can submit, so it sees every command.
  const marketData = httpPort === undefined ? null : MarketData.start(symbols, logs, cores, workload.records, capacities.maxEventsPerCommand);
  let snapshotter: SnapshotterHandle | null = null;
  // Handled from here on, so an early SIGUSR2 cannot take its default action (ending the process).
  process.on('SIGUSR2', () => {
    if (snapshotter === null) process.stderr.write('serve: SIGUSR2 asks for a snapshot, and this server keeps no journal (--journal none): ignored\n');
    else snapshotter.request();
  });
  let replicator: ReplicatorHandle | null = null;
  if (replicateTo !== null) {
    if (epoch === null) {
      // A node started as primary keeps the epoch its directory records (it may have been a standby); a fresh one takes 1.
      epoch = readEpoch(dir!) ?? { epoch: 1, starts: firstSequences };
      writeEpoch(dir!, epoch);
    }
    replicator = startReplicator({
      logs, firstSequences, records: workload.records, recordCount: capacity, ...senders, journaled: journaller!.journaled, journalDirs: journalDirs!,
      host: replicateTo.host, port: replicateTo.port, mode: replication, heartbeatMs, missedHeartbeats, epoch: epoch.epoch, epochStarts: epoch.starts,
      design: design.name, symbols, hashInterval: hashEvery,
    }, (line) => process.stderr.write(`${line}\n`), (message) => {
      process.stderr.write(`serve: FENCED: ${message}. This node takes no more commands; restart it as a standby (--standby)\n`);
      process.exit(EXIT_FENCED);
    }, (error) => shutdown?.(error));
  }
  if (journaller !== null) {
    snapshotter = await startSnapshotter({
      logs, cores, dirs: journalDirs!, firstSequences, design: design.name, symbols,
      initialSessions: logs.map((_, k) => [...(start.shards[k]?.sessions ?? [])]), ...senders, journaled: journaller.journaled, every: snapshotEvery,
      hashEvery: replicator === null ? 0 : hashEvery,
    }, (snapshot) => process.stderr.write(`${snapshotLine(snapshot)}\n`), (error) => shutdown?.(error), (c) => replicator?.checkpoint(c.log, c.sequence, c.hash));
  }
  if (replicator !== null && replicationListener === null) {
    // Started as primary: not one command before the standby has answered (a stale primary learns it is fenced here).
    process.stderr.write(`serve: waiting for the standby at ${replicateTo!.host}:${replicateTo!.port} (epoch ${epoch!.epoch})\n`);
    await replicator.firstContact;
  }

  const port = requestedPort === 0 ? await freePort() : requestedPort;
  const workers: Worker[] = [];
  const perProducer = Math.floor(capacity / producers);
  const listening: Promise<void>[] = [];
  const stopped: Promise<void>[] = [];
  for (let p = 0; p < producers; p++) {
    const { init, transfer } = session.producerInit(p);
    const task: ConnectionWorkerTask = {
      design: design.name, init, workload, port, producer: p, slotFrom: p * perProducer, slotTo: (p + 1) * perProducer, ...senders,
      durable: replicator?.durable ?? journaller?.durable ?? null, sessionTable: table.buffers, appliedAhead, journalDirs,
      // The rules this start applies, too: a resend replays the journal through a core of these capacities.
      coreCapacities: capacities, maxEventsPerCommand: capacities.maxEventsPerCommand,
      clockEveryMs: p === 0 ? clockEveryMs : 0, idleClockMs: IDLE_CLOCK_MS,
      // A recovered engine's time may be ahead of this machine's clock (it stepped back): never inject behind it.
      clockFromUs: Math.max(0, ...cores.map((core) => core.time)),
    };
    const worker = startThread(new URL('./connection-worker.ts', import.meta.url), { workerData: task, transferList: [...transfer] });
    workers.push(worker);
    let onListening: () => void = () => {};
    let onStopped: () => void = () => {};
    listening.push(new Promise<void>((r) => { onListening = r; }));
    stopped.push(new Promise<void>((r) => { onStopped = r; }));
    worker.on('message', (message: ConnectionWorkerMessage) => {
      if (message.type === 'listening') onListening();
      else {
        process.stderr.write(`serve: producer thread ${p} stopped after ${message.commands} commands on ${message.connections} connections\n`);
        onStopped();
      }
    });
    worker.once('error', (error) => shutdown?.(new Error(`producer thread ${p}: ${error.stack ?? error.message}`)));
  }

  let gateway: HttpGateway | null = null;
  const finished = new Promise<void>((resolveFinished) => {
    let started = false;
    shutdown = (error?: Error) => {
      if (error !== undefined) failures.push(error);
      if (started) return;
      started = true;
      void (async () => {
        try {
          // HTTP first: the gateway answers what it has in flight, then its engine session closes like any client's.
          await gateway?.close();
          await marketData?.stop();
          if (error === undefined) {
            for (const worker of workers) worker.postMessage({ type: 'stop' });
            if (replicator?.mode === 'sync') {
              // Acknowledgements held for a standby that is away would keep the stop waiting forever.
              const waited = await Promise.race([Promise.all(stopped).then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), STOP_WAIT_FOR_STANDBY_MS))]);
              if (!waited) process.stderr.write(`serve: stopping with commands unacknowledged: the standby did not confirm them within ${STOP_WAIT_FOR_STANDBY_MS} ms (sync replication)\n`);
            } else {
              await Promise.all(stopped);
            }
          }
          await Promise.all(workers.map((w) => w.terminate()));
          if (journaller !== null) {
            const stats = error === undefined ? await journaller.stop() : null;
            await journaller.close();
            if (stats !== null && replicator !== null) {
              const r = await replicator.stop();
              process.stderr.write(
                `serve: replication (${replicator.mode}) to ${replicateTo!.host}:${replicateTo!.port}: ${r.recordsSent} records sent over ${r.connections} connection(s); ` +
                  `lag p50 ${r.lagCommands.p50} / p99 ${r.lagCommands.p99} / max ${r.lagCommands.max} commands, p99 ${(r.lagUs.p99 / 1000).toFixed(2)} ms, max ${(r.lagUs.max / 1000).toFixed(2)} ms; ` +
                  `${r.drained ? 'the standby holds everything' : 'the standby did not confirm everything'}\n`,
              );
            }
            if (stats !== null && snapshotter !== null) process.stderr.write(`serve: ${summariseSnapshots(await snapshotter.stop(true))}\n`);
          }
          await replicator?.close();
          replicationListener?.close();
          await snapshotter?.close();
          await session.close();
        } catch (failure) {
          failures.push(failure as Error);
        }
        resolveFinished();
      })();
    };
  });
  await Promise.all(listening);
  if (httpPort !== undefined) {
    const engine = await EngineClient.open({ host: '127.0.0.1', port, session: gatewaySession(table), symbolCount: symbols.length, window: HTTP_WINDOW });
    if (keys === undefined) process.stderr.write('serve: the REST API runs open (no --keys): any local process may trade as any owner\n');
    else process.stderr.write(`serve: the REST API takes ${keys.size} API key(s) from ${keysFile}\n`);
    const accessLog = accessLogFile === undefined ? undefined : createWriteStream(accessLogFile, { flags: 'a' });
    // Read at each scrape from shared memory: the sequencers' published counts and the journaller's positions.
    const journaled = journaller === null ? null : new Int32Array(journaller.journaled);
    const rings = session.inputRings?.() ?? [];
    const engineGauges = (): EngineGauge[] => {
      const sequenced = logs.map((log) => log.publishedLength());
      const label = (k: number): string => `{sequencer="${k}"}`;
      return [
        { name: 'matchbench_engine_sequenced_commands', help: 'Commands each sequencer has applied since this process started.', samples: sequenced.map((n, k) => [label(k), n] as const) },
        ...(journaled === null ? [] : [
          { name: 'matchbench_journal_lag_commands', help: 'Commands a sequencer has applied that its journal does not hold yet.', samples: sequenced.map((n, k) => [label(k), n - Atomics.load(journaled, k)] as const) },
        ]),
        ...(rings.length === 0 ? [] : [
          { name: 'matchbench_input_ring_used_slots', help: 'Slots of the design\'s input ring holding commands the engine has not taken yet.', samples: rings.map((r) => [`{ring="${r.name}"}`, r.used()] as const) },
          { name: 'matchbench_input_ring_slots', help: 'Slots of the design\'s input ring.', samples: rings.map((r) => [`{ring="${r.name}"}`, r.slots] as const) },
        ]),
      ];
    };
    gateway = await startHttpGateway({
      engine, symbols, port: httpPort, marketData: marketData!, engineGauges, ...(keys === undefined ? {} : { keys }), ...(accessLog === undefined ? {} : { accessLog }),
      ...(maxConnections === undefined ? {} : { maxConnections }), ...(headersTimeoutMs === undefined ? {} : { headersTimeoutMs }),
      feed: { ...(conflateBytes === undefined ? {} : { conflateBytes }), ...(maxStaleMs === undefined ? {} : { maxStaleMs }) },
    });
    process.stdout.write(`${HTTP_PREFIX}127.0.0.1:${gateway.port}\n`);
  }
  if (promotedAtMs >= 0) process.stderr.write(`serve: promoted: the design, journal and ${producers} producer thread(s) started in ${(performance.now() - promotedAtMs).toFixed(0)} ms\n`);
  process.stdout.write(`${LISTENING_PREFIX}127.0.0.1:${port}\n`);
  process.once('SIGTERM', () => shutdown!());
  process.once('SIGINT', () => shutdown!());
  await finished;
  if (failures.length > 0) {
    for (const failure of failures) process.stderr.write(`serve: ${failure.stack ?? failure.message}\n`);
    process.exitCode = 1;
  }
}

runCli(main);
