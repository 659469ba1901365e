/**
 * The hot standby (`npm run serve -- --standby --listen-replication PORT …`): follows a primary over the replication
 * protocol (server/replication-protocol.ts) until the primary is lost, then promotes itself and hands its state to
 * serve, which goes on as the new primary (server/serve.ts).
 *
 * Contract:
 * - State: recovered from its own journal directory when it holds one (journal/recovery.ts), else empty books over
 *   the symbol table given; its epoch from the directory's epoch file (journal/epoch.ts; none: 0).
 * - It takes one primary at a time (another gets BUSY). HELLO: a different setup is SETUP_MISMATCH; a lower epoch
 *   than its own is FENCED (that primary is stale); a higher one is adopted (written to the epoch file), and if
 *   its journal runs past that epoch's start, those records are ones the new epoch never had (in `sync` never
 *   acknowledged): it discards its journal and state and copies the primary's whole journal. It answers WELCOME with
 *   what it holds.
 * - RECORDS: the state is the command stream alone. Each frame is written to its journal (one journal per shard,
 *   as the primary's), the frames of one socket read fsynced together when its journal mode fsyncs (group, sync),
 *   then ACKed, and applied to its cores in order with recovery's session rule (a retried command is applied once).
 *   Every `--snapshot-every` sequence numbers a snapshot of the shard, written after the fsync that covers it.
 * - Checks: at every multiple of the primary's hash interval it hashes its own book; a CHECKPOINT whose hash differs
 *   (whichever arrives first) is an alarm naming the journal and sequence: it stops applying, answers the primary
 *   HASH_MISMATCH (and every later one), and never promotes.
 * - Failure detection: it hears the primary (any frame) at least every heartbeat interval; after `missedHeartbeats`
 *   intervals of silence it takes the primary for dead, judged only after it has read what arrived (a stall of its
 *   own, such as a slow fsync, is not the primary's silence: server/peer-silence.ts). It promotes itself only if the primary had told it that it
 *   is in sync (HEARTBEAT IN_SYNC: it holds everything the primary acknowledged), it has not diverged, and the
 *   primary did not announce a clean stop. Promotion: the connection closed, the journals fsynced and closed, the
 *   epoch file written with epoch + 1 and where each journal stands, then `followAsStandby` resolves. The
 *   replication port stays open and answers every later HELLO with FENCED (or BUSY from a higher epoch).
 * - SIGTERM while following: journals fsynced and closed, a snapshot of each shard, exit 0 (`stop`).
 *
 * Test-only knobs (unset, nothing changes): MATCHBENCH_STANDBY_SKIP=SEQ makes the standby journal but not apply the
 * record of journal sequence SEQ (a deliberately corrupted standby: its book differs from the primary's from there),
 * so the hash check can be seen to fire. MATCHBENCH_STANDBY_STALL=SEQ:MS blocks the standby's thread for MS ms after
 * it journals the frame holding SEQ (a slow fsync), so its failure detection can be seen to tell its own stall from
 * the primary's silence.
 */
import { resolveRisk, type RiskRules } from '../risk/rules.ts';
import { readdirSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { bookHashOfCores } from '../engines/core-inspect.ts';
import { EVENT_BYTES } from '../engines/event-record.ts';
import { FastCore } from '../engines/fast-core.ts';
import { EPOCH_FILE, readEpoch, writeEpoch, type Epoch } from '../journal/epoch.ts';
import { FSYNC_MARK_FILE, JOURNAL_RECORD_BYTES, REC_OFF_CLIENT_SEQUENCE, REC_OFF_SESSION, sequenceOfSegmentName } from '../journal/format.ts';
import { acknowledgesDurable, type JournalMode } from '../journal/journal-mode.ts';
import { SEGMENT_BYTES } from '../journal/journaller.ts';
import { defaultRecoveryCapacities, holdsJournal, journalDirectories, recover } from '../journal/recovery.ts';
import { copyCoreRegion, snapshotFiles, writeSnapshot } from '../journal/snapshot.ts';
import { KEEP_SNAPSHOTS } from '../journal/snapshotter-thread.ts';
import { JournalWriter } from '../journal/writer.ts';
import { peerSilence } from './peer-silence.ts';
import { RECORD_BYTES } from '../workloads/workload.ts';
import {
  encodeAck, encodeHeartbeat, encodeReplicationError, encodeWelcome, HEARTBEAT_IN_SYNC, HEARTBEAT_STOPPING, MAX_RECORDS_PER_FRAME, R_CHECKPOINT,
  R_ERROR, R_HEARTBEAT, R_HELLO, R_NONE, R_RECORDS, ReplicationError, ReplicationReader, replicationErrorName, RERR_BUSY, RERR_DIVERGED,
  RERR_FENCED, RERR_HASH_MISMATCH, RERR_SETUP_MISMATCH, setupCrc,
} from './replication-protocol.ts';

export const STANDBY_SKIP_ENV = 'MATCHBENCH_STANDBY_SKIP';
export const STANDBY_STALL_ENV = 'MATCHBENCH_STANDBY_STALL';
const skipSequence = skipOf(process.env[STANDBY_SKIP_ENV]);
const stall = stallOf(process.env[STANDBY_STALL_ENV]);
/** Own hashes and the primary's kept per journal, for checkpoints that arrive before or after the standby gets there. */
const KEPT_HASHES = 64;
const MAX_OUTPUT_RECORDS = 1 << 20;

function skipOf(value: string | undefined): number {
  if (value === undefined || value === '') return -1;
  const n = Number(value);
  if (!(Number.isSafeInteger(n) && n >= 0)) throw new Error(`${STANDBY_SKIP_ENV}="${value}": expected a journal sequence number`);
  return n;
}

function stallOf(value: string | undefined): { readonly sequence: number; readonly ms: number } | null {
  if (value === undefined || value === '') return null;
  const [sequence, ms] = value.split(':').map(Number);
  if (!(Number.isSafeInteger(sequence) && sequence! >= 0 && Number.isSafeInteger(ms) && ms! > 0)) throw new Error(`${STANDBY_STALL_ENV}="${value}": expected SEQ:MS (a journal sequence number and a stall in ms)`);
  return { sequence: sequence!, ms: ms! };
}

/** One journal's state: what a promoted standby (or a recovery) hands to serve. */
export interface ShardState {
  readonly core: FastCore;
  readonly sessions: Map<number, number>;
  readonly nextSequence: number;
}

export interface StandbyOptions {
  readonly dir: string;
  readonly design: string;
  /** The symbol table of an empty standby (a recovered one keeps its journal's). */
  readonly symbols: readonly string[];
  readonly maxOrders: number;
  readonly mode: JournalMode;
  readonly port: number;
  readonly missedHeartbeats: number;
  readonly snapshotEvery: number;
  /** Snapshot every shard at `stop` (serve's SIGTERM does; a benchmark's standby need not). */
  readonly snapshotAtStop: boolean;
  /** The risk rules the primary applies (serve --risk): the standby's cores apply the same. */
  readonly rules?: RiskRules | null;
  readonly log: (line: string) => void;
  /** Printed once the replication port listens. */
  readonly onListening: (port: number) => void;
  /** The replication port could not be opened (in use, say): the standby cannot work. */
  readonly onError: (error: Error) => void;
}

export interface Promotion {
  readonly symbols: readonly string[];
  readonly epoch: Epoch;
  readonly shards: readonly ShardState[];
  /** The journal directories (one per shard). */
  readonly dirs: readonly string[];
  /** The replication port, still open: it answers later primaries FENCED. */
  readonly listener: Server;
}

interface Shard {
  readonly dir: string;
  core: FastCore;
  sessions: Map<number, number>;
  /** Applied: every record below it is in the core. */
  next: number;
  writer: JournalWriter | null;
  readonly ownHashes: Map<number, string>;
  readonly primaryHashes: Map<number, string>;
  /** Snapshot copies taken at their sequence, written once the journal's fsync covers them. */
  readonly pendingSnapshots: Array<{ sequence: number; core: Uint8Array; sessions: Map<number, number> }>;
}

function freshCore(symbols: readonly string[], maxOrders: number, rules: RiskRules | null): FastCore {
  return FastCore.create({ ...defaultRecoveryCapacities(symbols.length, { maxOrders }), ...(rules === null ? {} : { risk: resolveRisk(rules, symbols) }) });
}

function withOutput(core: FastCore): FastCore {
  const records = Math.min(core.capacities.maxOrders + 2, MAX_OUTPUT_RECORDS);
  core.setEventOutput(new ArrayBuffer(records * EVENT_BYTES), 0, records);
  return core;
}

/** Follows primaries until one is lost while this standby was eligible; resolves with the state to serve from. */
export function followAsStandby(options: StandbyOptions): { promoted: Promise<Promotion>; stop: () => Promise<void> } {
  const { dir, log } = options;
  let symbols = options.symbols;
  let shards: Shard[] = [];
  let epoch: Epoch | undefined = readEpoch(dir);
  if (holdsJournal(dir)) {
    const recovery = recover(dir, { truncateTornTail: true, capacities: { maxOrders: options.maxOrders }, rules: options.rules ?? null });
    symbols = recovery.shards[0]!.symbols;
    const dirs = journalDirectories(dir).dirs;
    shards = recovery.shards.map((s, k) => ({
      dir: dirs[k]!, core: withOutput(s.core), sessions: s.sessions, next: s.nextSequence, writer: null, ownHashes: new Map(), primaryHashes: new Map(), pendingSnapshots: [],
    }));
    log(`serve: standby recovered ${recovery.commandsReplayed} commands from ${dir} in ${recovery.timings.totalMs.toFixed(0)} ms (epoch ${epoch?.epoch ?? 'none'}), at sequence ${shards.map((s) => s.next).join(', ')}`);
  }
  const mySetup = (): number => setupCrc(options.design, symbols);
  /** The primary followed now; `welcomed` once its HELLO was answered (nothing but WELCOME or ERROR goes before). */
  let current: { socket: Socket; label: string; welcomed: boolean } | null = null;
  let hashInterval = 0;
  let heartbeatMs = 50;
  let lastHeardMs = 0;
  let eligible = false;
  let primaryStopping = false;
  let divergedAt: string | null = null;
  let promotedEpoch: Epoch | null = null;
  let lostLogged = false;
  let promoting = false;
  let lastSentMs = 0;
  let resolvePromotion: (promotion: Promotion) => void = () => {};
  const promoted = new Promise<Promotion>((resolve) => { resolvePromotion = resolve; });
  const stage = new Uint8Array(RECORD_BYTES);
  const stageF64 = new Float64Array(stage.buffer);

  const shardDirs = (k: number): string[] => (k === 1 ? [dir] : Array.from({ length: k }, (_, i) => join(dir, `shard-${i}`)));

  function closeWriters(): void {
    for (const s of shards) {
      s.writer?.close();
      s.writer = null;
    }
  }

  /** Discards this node's journal and state: it held records the primary's epoch never had. */
  function wipe(why: string): void {
    closeWriters();
    log(`serve: standby discards its journal (${shards.map((s) => s.next).join(', ')} records): ${why}; it copies the primary's`);
    for (const s of shards) {
      for (const name of readdirSync(s.dir)) {
        if (sequenceOfSegmentName(name) !== undefined || name === FSYNC_MARK_FILE || name === 'snapshots') rmSync(join(s.dir, name), { recursive: true, force: true });
      }
      s.core = withOutput(freshCore(symbols, options.maxOrders, options.rules ?? null));
      s.sessions = new Map();
      s.next = 0;
      s.ownHashes.clear();
      s.primaryHashes.clear();
      s.pendingSnapshots.length = 0;
    }
    rmSync(join(dir, EPOCH_FILE), { force: true });
    epoch = undefined;
  }

  function compare(k: number, sequence: number): void {
    const s = shards[k]!;
    const own = s.ownHashes.get(sequence);
    const theirs = s.primaryHashes.get(sequence);
    if (own === undefined || theirs === undefined || divergedAt !== null) return;
    if (own === theirs) return;
    divergedAt = `journal ${k} sequence ${sequence}: this standby's book hash is ${own.slice(0, 16)}…, the primary's ${theirs.slice(0, 16)}…`;
    log(`serve: ALARM: the standby's book differs from the primary's at ${divergedAt}; it stops applying and will not promote`);
    if (current !== null) refuse(current.socket, RERR_HASH_MISMATCH, `standby: book hash mismatch at ${divergedAt}`);
  }

  function keep(map: Map<number, string>, sequence: number, hash: string): void {
    map.set(sequence, hash);
    if (map.size > KEPT_HASHES) map.delete(map.keys().next().value!);
  }

  function apply(k: number, records: Uint8Array, first: number, count: number): void {
    const s = shards[k]!;
    const view = new DataView(records.buffer, records.byteOffset, records.byteLength);
    for (let j = 0; j < count; j++) {
      const sequence = first + j;
      const at = j * JOURNAL_RECORD_BYTES;
      const session = view.getUint32(at + REC_OFF_SESSION, true);
      const clientSequence = view.getFloat64(at + REC_OFF_CLIENT_SEQUENCE, true);
      const last = session === 0 ? undefined : s.sessions.get(session);
      if (sequence !== skipSequence && (last === undefined || clientSequence > last)) {
        if (session !== 0) s.sessions.set(session, clientSequence);
        stage.set(records.subarray(at, at + RECORD_BYTES));
        s.core.outCursor = 0;
        s.core.processRecord(stage, stageF64, 0, sequence);
      }
      s.next = sequence + 1;
      if (hashInterval > 0 && s.next % hashInterval === 0) {
        keep(s.ownHashes, s.next, bookHashOfCores([s.core], symbols));
        compare(k, s.next);
      }
      if (options.snapshotEvery > 0 && s.next % options.snapshotEvery === 0) {
        s.pendingSnapshots.push({ sequence: s.next, core: copyCoreRegion(s.core), sessions: new Map(s.sessions) });
      }
    }
  }

  async function writePending(s: Shard): Promise<void> {
    const pending = s.pendingSnapshots.splice(0);
    for (const p of pending) {
      const file = await writeSnapshot(s.dir, { design: options.design, symbols, sequence: p.sequence, sessions: p.sessions, core: p.core });
      for (const old of snapshotFiles(s.dir).slice(KEEP_SNAPSHOTS)) rmSync(old, { force: true });
      log(`serve: standby snapshot ${file} at sequence ${p.sequence}`);
    }
  }

  function refuse(socket: Socket, code: number, message: string): void {
    socket.end(encodeReplicationError(code, message));
    if (current?.socket === socket) current = null;
  }

  function onHello(socket: Socket, label: string, reader: ReplicationReader): void {
    const hello = reader.hello();
    if (divergedAt !== null) return refuse(socket, RERR_HASH_MISMATCH, `standby ${label}: diverged from its primary at ${divergedAt}; it follows no one`);
    if (hello.setupCrc !== mySetup()) return refuse(socket, RERR_SETUP_MISMATCH, `standby: the primary's design or symbol table differs from this standby's (${options.design}, ${symbols.length} symbols)`);
    if (shards.length > 0 && hello.journals !== shards.length) return refuse(socket, RERR_SETUP_MISMATCH, `standby: the primary has ${hello.journals} journals, this standby ${shards.length}`);
    const mine = epoch?.epoch ?? 0;
    if (hello.epoch < mine) return refuse(socket, RERR_FENCED, `standby: this node holds epoch ${mine}, the primary only ${hello.epoch}: that primary is stale and must not take commands`);
    if (shards.length === 0) {
      shards = shardDirs(hello.journals).map((d) => ({ dir: d, core: withOutput(freshCore(symbols, options.maxOrders, options.rules ?? null)), sessions: new Map(), next: 0, writer: null, ownHashes: new Map(), primaryHashes: new Map(), pendingSnapshots: [] }));
    }
    if (hello.epoch > mine) {
      const past = shards.findIndex((s, k) => s.next > hello.starts[k]!);
      if (past >= 0) wipe(`journal ${past} holds sequence ${shards[past]!.next - 1}, past sequence ${hello.starts[past]} where the primary's epoch ${hello.epoch} starts`);
      epoch = { epoch: hello.epoch, starts: hello.starts };
      writeEpoch(dir, epoch);
    }
    for (const s of shards) {
      if (s.writer === null) {
        s.writer = JournalWriter.create({ dir: s.dir, design: options.design, symbols, firstSequence: s.next, maxFrameRecords: MAX_RECORDS_PER_FRAME, segmentBytes: SEGMENT_BYTES });
      }
    }
    hashInterval = hello.hashInterval;
    heartbeatMs = hello.heartbeatMs;
    eligible = false;
    primaryStopping = false;
    lostLogged = false;
    shards.forEach((s, k) => reader.expect(k, s.next));
    socket.write(encodeWelcome(shards.map((s) => s.next)));
    if (current?.socket === socket) current.welcomed = true;
    log(`serve: standby follows the primary at ${label} (epoch ${hello.epoch}), from sequence ${shards.map((s) => s.next).join(', ')}`);
  }

  const listener = createServer((socket) => {
    const label = `${socket.remoteAddress}:${socket.remotePort}`;
    socket.setNoDelay(true);
    const reader = ReplicationReader.atStandby(label);
    if (promotedEpoch !== null) {
      // A promoted node: every primary that still tries is stale (or, with a higher epoch, this node is).
      socket.on('data', (chunk: Buffer) => {
        try {
          reader.push(chunk);
          if (reader.next() !== R_HELLO) return;
          const theirs = reader.hello().epoch;
          if (theirs < promotedEpoch!.epoch) refuse(socket, RERR_FENCED, `node ${label}: this node was promoted to primary at epoch ${promotedEpoch!.epoch}; yours is ${theirs}: you are stale, never take a command again (restart as a standby)`);
          else refuse(socket, RERR_BUSY, `this node is a primary at epoch ${promotedEpoch!.epoch}, not a standby`);
        } catch (error) {
          if (!(error instanceof ReplicationError)) throw error;
          refuse(socket, error.code, error.message);
        }
      });
      socket.on('error', () => {});
      return;
    }
    if (promoting) {
      socket.destroy();
      return;
    }
    if (current !== null) {
      refuse(socket, RERR_BUSY, `standby: already follows the primary at ${current.label}`);
      socket.on('error', () => {});
      return;
    }
    current = { socket, label, welcomed: false };
    lastHeardMs = performance.now();
    socket.on('data', (chunk: Buffer) => {
      if (current?.socket !== socket) return;
      lastHeardMs = performance.now();
      void onData(socket, label, reader, chunk);
    });
    const gone = (): void => {
      if (current?.socket === socket) current = null;
    };
    socket.on('error', gone);
    socket.on('close', gone);
  });

  /** One socket read: every complete frame in it, the journal writes fsynced once, then the ACKs. */
  let chain: Promise<void> = Promise.resolve();
  function onData(socket: Socket, label: string, reader: ReplicationReader, chunk: Buffer): Promise<void> {
    chain = chain.then(() => handle(socket, label, reader, chunk));
    return chain;
  }

  async function handle(socket: Socket, label: string, reader: ReplicationReader, chunk: Buffer): Promise<void> {
    if (current?.socket !== socket) return;
    const dirty = new Set<number>();
    try {
      reader.push(chunk);
      for (let type = reader.next(); type !== R_NONE; type = reader.next()) {
        if (type === R_HELLO) {
          onHello(socket, label, reader);
          if (current?.socket !== socket) return;
        } else if (type === R_RECORDS) {
          if (divergedAt !== null) continue;
          const k = reader.journal();
          const s = shards[k]!;
          const count = reader.recordsCount();
          const first = reader.recordsFirstSequence();
          const records = reader.records();
          s.writer!.recordArea.set(records);
          s.writer!.writeFrame(count, false);
          if (stall !== null && stall.sequence >= first && stall.sequence < first + count) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, stall.ms);
          apply(k, records, first, count);
          dirty.add(k);
        } else if (type === R_CHECKPOINT) {
          const k = reader.journal();
          keep(shards[k]!.primaryHashes, reader.checkpointSequence(), reader.checkpointHash());
          compare(k, reader.checkpointSequence());
        } else if (type === R_HEARTBEAT) {
          const flags = reader.heartbeatFlags();
          if ((flags & HEARTBEAT_IN_SYNC) !== 0 && !eligible) {
            eligible = true;
            log(`serve: standby in sync with the primary at ${label}: it holds everything the primary acknowledged (eligible to promote)`);
          }
          if ((flags & HEARTBEAT_STOPPING) !== 0 && !primaryStopping) {
            primaryStopping = true;
            log(`serve: standby: the primary at ${label} stops cleanly; this standby stays a standby`);
          }
        } else if (type === R_ERROR) {
          const code = reader.errorCode();
          log(`serve: standby: the primary at ${label} answered ${replicationErrorName(code)}: ${reader.errorMessage()}`);
          if (code === RERR_DIVERGED) wipe('the primary says it holds records the standby has and the primary never sequenced');
          socket.destroy();
          current = null;
          return;
        }
      }
    } catch (error) {
      if (!(error instanceof ReplicationError)) throw error;
      log(`serve: standby: ${error.message}`);
      refuse(socket, error.code, error.message);
      return;
    }
    if (dirty.size === 0) return;
    const out = new Uint8Array(24 * dirty.size);
    let at = 0;
    for (const k of dirty) {
      const s = shards[k]!;
      if (acknowledgesDurable(options.mode)) s.writer!.sync();
      at = encodeAck(out, at, k, s.writer!.nextSequence);
    }
    if (!socket.destroyed) socket.write(out);
    for (const k of dirty) if (shards[k]!.pendingSnapshots.length > 0) await writePending(shards[k]!);
  }

  let stopped = false;
  const silence = peerSilence(
    () => !promoting && !stopped && lastHeardMs !== 0 && performance.now() - lastHeardMs > options.missedHeartbeats * heartbeatMs,
    () => primaryLost(),
  );
  const ticker = setInterval(() => {
    if (promoting) return;
    if (current !== null && current.welcomed && performance.now() - lastSentMs >= heartbeatMs) {
      current.socket.write(encodeHeartbeat(0, shards.map((s) => s.next)));
      lastSentMs = performance.now();
    }
    silence.check();
  }, 10);

  /** The primary is silent past the timeout, after this node read everything that had arrived. */
  function primaryLost(): void {
    if (current !== null) {
      current.socket.destroy();
      current = null;
    }
    const why = divergedAt !== null ? `this standby diverged (${divergedAt})` : primaryStopping ? 'it stopped cleanly' : !eligible ? 'this standby was not yet in sync with it' : null;
    if (why !== null) {
      if (!lostLogged) log(`serve: standby: the primary is gone; not promoting: ${why}. Waiting for a primary`);
      lostLogged = true;
      return;
    }
    void promote();
  }

  async function promote(): Promise<void> {
    promoting = true;
    clearInterval(ticker);
    const silentMs = performance.now() - lastHeardMs;
    await chain;
    closeWriters();
    for (const s of shards) await writePending(s);
    const next: Epoch = { epoch: (epoch?.epoch ?? 0) + 1, starts: shards.map((s) => s.next) };
    writeEpoch(dir, next);
    promotedEpoch = next;
    epoch = next;
    log(`serve: standby promotes itself: heard nothing from the primary for ${silentMs.toFixed(0)} ms (${options.missedHeartbeats} × ${heartbeatMs} ms); epoch ${next.epoch} starts at sequence ${next.starts.join(', ')}`);
    resolvePromotion({ symbols, epoch: next, shards: shards.map((s) => ({ core: s.core, sessions: s.sessions, nextSequence: s.next })), dirs: shards.map((s) => s.dir), listener });
  }

  listener.once('error', (error) => options.onError(new Error(`standby: cannot listen for replication on 127.0.0.1:${options.port}: ${error.message}`)));
  listener.listen({ host: '127.0.0.1', port: options.port }, () => {
    const address = listener.address();
    options.onListening(typeof address === 'object' && address !== null ? address.port : options.port);
  });

  const stop = async (): Promise<void> => {
    stopped = true;
    clearInterval(ticker);
    current?.socket.destroy();
    current = null;
    listener.close();
    await chain;
    closeWriters();
    for (const s of shards) {
      await writePending(s);
      if (options.snapshotAtStop && s.next > 0) {
        const file = await writeSnapshot(s.dir, { design: options.design, symbols, sequence: s.next, sessions: s.sessions, core: copyCoreRegion(s.core) });
        for (const old of snapshotFiles(s.dir).slice(KEEP_SNAPSHOTS)) rmSync(old, { force: true });
        log(`serve: standby snapshot ${file} at sequence ${s.next}, at stop`);
      }
    }
  };
  return { promoted, stop };
}
