/**
 * Recovery: rebuilds an engine's state from its journal directory — the newest valid snapshot (journal/snapshot.ts),
 * if there is one, then every journal record from the snapshot's sequence on, through the fast core in sequence
 * order, with the session rule.
 *
 * Contract:
 * - `recover(dir, options)` recovers a single-sequencer journal (segments in DIR) or a sharded one (DIR/shard-0,
 *   DIR/shard-1, …, each a journal of its own, recovered into a core of its own). It returns, per journal: the core,
 *   the session table, the book hash, the next sequence a writer continues from, the commands replayed and the
 *   duplicates skipped, the snapshot used (and newer ones rejected, with why), the torn tail, and timings; and for
 *   the whole: the book hash over every shard's core and the totals.
 * - Session rule: per session (u32), the last client sequence applied. A record whose client sequence is at or below
 *   its session's is a retry already applied and is skipped (no events, no state change): exactly-once across
 *   crashes. Session 0 is "no session" (benchmark runs) and is never skipped. A shard has its own table (a client's
 *   commands to one shard are a subsequence of its commands, so still ascending).
 * - The journal is read in place (journal/reader.ts readJournalInPlace): every frame's CRC is checked, the core reads
 *   each command straight out of the bytes read from the segment, nothing is allocated per record. Segments wholly before the
 *   snapshot are not read. Per record, recovery checks the fields it relies on: the symbol index (against the
 *   journal's table) and the client sequence (an integer ≥ 1). Anything else non-canonical runs through the core
 *   exactly as it did live (the core rejects what it cannot take), so the state is the one the engine had.
 * - Corruption throws JournalFormatError naming the segment, the byte offset and the field. So does a journal that
 *   does not join its snapshot: one starting after the snapshot's sequence (records missing), ending before it (the
 *   snapshot holds records the journal lost: a snapshot must only cover sequences the journal has made durable), or
 *   with another symbol table; and, without a snapshot, a journal starting after 0.
 * - A torn tail is reported; with `truncateTornTail` the last segment is cut back to its last valid frame (the only
 *   change recovery ever makes to the journal, what must happen before a writer continues at `nextSequence`).
 * - Core capacities: a snapshot's core keeps its own. Without one, `options.capacities`, else defaults
 *   (`defaultRecoveryCapacities`): a book per symbol of the journal's table and the fast engine's order pool
 *   (DEFAULT_MAX_ORDERS). A command that needs more fails with a RecoveryCapacityError naming the capacity and how
 *   to raise it.
 * - `onEvent(event, shard)` receives every event of every replayed command in order, each `seq` its journal sequence
 *   number; events of commands the snapshot covers are not produced again.
 */
import { resolveRisk, type RiskRules } from '../risk/rules.ts';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { bookHashOfCores } from '../engines/core-inspect.ts';
import { decodeEventRecord, EVENT_BYTES } from '../engines/event-record.ts';
import type { FastCoreCapacities } from '../engines/fast-core-layout.ts';
import { CoreCapacityError, FastCore } from '../engines/fast-core.ts';
import { defaultLadderTicks } from '../engines/fast.ts';
import type { MatchEvent } from '../engines/types.ts';
import { NO_SYMBOL, OFF_SYM, OP_CLOCK, OP_INVALID, RECORD_BYTES } from '../workloads/workload.ts';
import { FRAME_HEADER_BYTES, JOURNAL_RECORD_BYTES, JournalFormatError, REC_OFF_CLIENT_SEQUENCE, REC_OFF_SESSION, sequenceOfSegmentName } from './format.ts';
import {
  commandRecordIndex, commandRecordViews, readJournalInPlace, readSegmentHeader, segmentFiles, truncateTornTail, type InPlaceScan,
  type SegmentWindow, type TornTail,
} from './reader.ts';
import { newestValidSnapshot, type RejectedSnapshot, type Snapshot } from './snapshot.ts';

/**
 * The order pool without a snapshot: the fast engine's default (engines/fast.ts). Not fitted to the journal, because
 * the engine goes on running with the recovered core; a larger pool also spreads the id hash over more memory and
 * slows every command (measured on `balanced`: a 2^20 pool replays at 1.4 M commands/s where a 2^13 one
 * does 2.3 M).
 */
export const DEFAULT_MAX_ORDERS = 1 << 16;
/** Event records the replay's output region holds: one command's events (a fill per maker, then two), capped. */
const MAX_OUTPUT_RECORDS = 1 << 20;
const SHARD_DIRECTORY = /^shard-(\d+)$/;
/** A SegmentWindow has one record view per 8 bytes of a command record; a journal record moves 7 words, 2 views on. */
const RECORD_VIEWS = RECORD_BYTES / 8;
const VIEW_STEP = (JOURNAL_RECORD_BYTES / 8) % RECORD_VIEWS;

export interface RecoveryOptions {
  /** Capacities of the core when no snapshot is used; unset fields take the defaults. */
  readonly capacities?: Partial<FastCoreCapacities>;
  /** Cut a torn tail off the last segment (default: only report it). */
  readonly truncateTornTail?: boolean;
  /** Replay the whole journal from sequence 0 and ignore every snapshot. */
  readonly ignoreSnapshots?: boolean;
  /** Every event of every replayed command, in order; `shard` is the shard index (0 for a single journal). */
  readonly onEvent?: (event: MatchEvent, shard: number) => void;
  /**
   * The risk rules and breaker the journal was written under (serve --risk): the replay applies them, as the engine
   * did. A snapshot holds its core's rules; one taken with rules cannot seed a replay without, nor the reverse.
   */
  readonly rules?: RiskRules | null;
}

export interface RecoveryTimings {
  /** Wall time of the whole recovery. */
  readonly totalMs: number;
  /** Finding and loading the snapshot. */
  readonly snapshotMs: number;
  /** Reading the journal and applying it (core creation, snapshot and book hash excluded). */
  readonly replayMs: number;
  readonly bookHashMs: number;
  /** Commands replayed per second of `replayMs`. */
  readonly replayCommandsPerSecond: number;
  /**
   * CPU time of the replay on the recovering thread, and commands per CPU-second: on a shared machine the wall
   * clock also counts time other processes held the core (as in bench/core.ts).
   */
  readonly replayCpuMs: number;
  readonly replayCommandsPerCpuSecond: number;
}

/** One journal recovered: a single-sequencer journal, or one shard. */
export interface RecoveredJournal {
  readonly dir: string;
  /** The design named by the journal (else the snapshot); undefined when there is neither. */
  readonly design: string | undefined;
  readonly symbols: readonly string[];
  readonly core: FastCore;
  /** Session → last client sequence applied (session 0 never has an entry). */
  readonly sessions: Map<number, number>;
  readonly snapshot: { readonly file: string; readonly sequence: number; readonly fileBytes: number } | undefined;
  /** Snapshots newer than the one used that failed their checks (all of them when none was usable). */
  readonly snapshotsRejected: readonly RejectedSnapshot[];
  /** The first sequence replayed: the snapshot's, else 0. */
  readonly fromSequence: number;
  /** Where a writer continues: one past the last valid record (or the snapshot's sequence, if the journal is empty). */
  readonly nextSequence: number;
  readonly commandsReplayed: number;
  readonly duplicatesSkipped: number;
  readonly segments: number;
  readonly segmentsRead: number;
  readonly tornTail: TornTail | undefined;
  readonly tornTailTruncated: boolean;
  readonly bookHash: string;
  readonly timings: RecoveryTimings;
}

export interface Recovery {
  readonly dir: string;
  /** True when DIR holds shard-K subdirectories. */
  readonly sharded: boolean;
  /** One entry per journal: just one for a single-sequencer journal, shard K at index K. */
  readonly shards: readonly RecoveredJournal[];
  readonly commandsReplayed: number;
  readonly duplicatesSkipped: number;
  /** Book hash of all shards' books together (the same as the shard's for a single journal). */
  readonly bookHash: string;
  readonly timings: RecoveryTimings;
}

/** A command needed more than the recovering core can hold; the message names the capacity and how to raise it. */
export class RecoveryCapacityError extends Error {
  override readonly name = 'RecoveryCapacityError';
}

/** Capacities for a core over `symbolCount` symbols, `given` fields first (see DEFAULT_MAX_ORDERS). */
export function defaultRecoveryCapacities(symbolCount: number, given: Partial<FastCoreCapacities> = {}): FastCoreCapacities {
  const maxSymbols = given.maxSymbols ?? Math.max(1, symbolCount);
  return { maxOrders: given.maxOrders ?? DEFAULT_MAX_ORDERS, maxSymbols, ladderTicks: given.ladderTicks ?? defaultLadderTicks(maxSymbols) };
}

/** True when `dir` holds a journal to recover: segments, or shard-K directories of a sharded one. */
export function holdsJournal(dir: string): boolean {
  if (!existsSync(dir)) return false;
  return readdirSync(dir).some((name) => sequenceOfSegmentName(name) !== undefined || SHARD_DIRECTORY.test(name));
}

/**
 * The journals in `dir`: its shard-K subdirectories in shard order when it has any (a sharded journal), else `dir`
 * itself.
 */
export function journalDirectories(dir: string): { readonly sharded: boolean; readonly dirs: readonly string[] } {
  if (!existsSync(dir)) throw new Error(`${dir}: no such directory`);
  const shards = new Map<number, string>();
  let segments = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const match = SHARD_DIRECTORY.exec(entry.name);
    if (match !== null && entry.isDirectory()) shards.set(Number(match[1]), join(dir, entry.name));
    else if (sequenceOfSegmentName(entry.name) !== undefined) segments++;
  }
  if (shards.size === 0) return { sharded: false, dirs: [dir] };
  if (segments > 0) throw new JournalFormatError(`${dir}: holds both journal segments and shard directories; a journal is one or the other`);
  const dirs: string[] = [];
  for (let k = 0; k < shards.size; k++) {
    const shard = shards.get(k);
    if (shard === undefined) throw new JournalFormatError(`${dir}: shard directory shard-${k} is missing (found ${[...shards.keys()].sort((a, b) => a - b).map((n) => `shard-${n}`).join(', ')})`);
    dirs.push(shard);
  }
  return { sharded: true, dirs };
}

function sameSymbols(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((s, i) => s === b[i]);
}

function capacityError(dir: string, error: CoreCapacityError, core: FastCore, snapshot: Snapshot | undefined, outputRecords: number): RecoveryCapacityError {
  const where = `${dir}: replay stopped: ${error.message}`;
  if (error.limit === 'events') return new RecoveryCapacityError(`${where} (recovery's event output holds ${outputRecords} records, enough for a command that fills up to ${outputRecords - 2} makers)`);
  const capacity = error.limit === 'orders' ? 'maxOrders' : 'maxSymbols';
  const value = error.limit === 'orders' ? core.capacities.maxOrders : core.capacities.maxSymbols;
  if (snapshot !== undefined) {
    return new RecoveryCapacityError(
      `${where}. The core comes from snapshot ${snapshot.file} (${capacity} = ${value}); to replay the whole journal into a larger core, ` +
        `recover with --ignore-snapshots${error.limit === 'orders' ? ` --max-orders ${2 * value}` : ''} (recover() options ignoreSnapshots and capacities.${capacity})`,
    );
  }
  return new RecoveryCapacityError(
    `${where}. The core has ${capacity} = ${value}; raise it: ${error.limit === 'orders' ? `--max-orders ${2 * value}` : 'a larger maxSymbols'} (recover() option capacities.${capacity})`,
  );
}

/** A record whose field at window offset `at` breaks a rule recovery relies on. */
function recordError(segment: SegmentWindow, at: number, what: string): JournalFormatError {
  return new JournalFormatError(`${segment.file}: byte offset ${segment.base + at}: record ${what}`);
}

/** Recovers the journal in `dir` (a single journal, or one shard of a sharded one). */
function recoverJournal(dir: string, shard: number, options: RecoveryOptions): RecoveredJournal {
  const started = performance.now();
  const found = options.ignoreSnapshots === true ? { snapshot: undefined, rejected: [] } : newestValidSnapshot(dir);
  const snapshot = found.snapshot;
  const snapshotMs = performance.now() - started;
  const files = segmentFiles(dir);
  const journalFirst = files.length === 0 ? undefined : sequenceOfSegmentName(files[0]!)!;
  const fromSequence = snapshot?.sequence ?? 0;
  if (journalFirst !== undefined && journalFirst > fromSequence) {
    throw new JournalFormatError(
      snapshot === undefined
        ? `${join(dir, files[0]!)}: the journal starts at sequence ${journalFirst} and no valid snapshot covers [0, ${journalFirst})${found.rejected.length > 0 ? ` (rejected: ${found.rejected.map((r) => r.reason).join('; ')})` : ''}`
        : `${join(dir, files[0]!)}: the journal starts at sequence ${journalFirst}, after snapshot ${snapshot.file}, which covers sequence < ${snapshot.sequence}: records [${snapshot.sequence}, ${journalFirst}) are missing`,
    );
  }
  let symbols: readonly string[];
  let core: FastCore;
  const rules = options.rules ?? null;
  if (snapshot !== undefined) {
    symbols = snapshot.symbols;
    core = snapshot.core;
    if ((core.capacities.risk !== undefined) !== (rules !== null)) {
      throw new JournalFormatError(
        `${snapshot.file}: this snapshot's core was taken ${rules === null ? 'with' : 'without'} risk rules, and the recovery runs ${rules === null ? 'without' : 'with'} them: ` +
          'recover under the rules the journal was written with (serve --risk), or ignore the snapshots',
      );
    }
    if (rules !== null) core.configureRisk(resolveRisk(rules, symbols));
  } else {
    symbols = files.length === 0 ? [] : readSegmentHeader(join(dir, files[0]!)).symbols;
    core = FastCore.create({
      ...defaultRecoveryCapacities(symbols.length, options.capacities),
      ...(rules === null ? {} : { risk: resolveRisk(rules, symbols) }),
    });
  }
  const sessions = snapshot?.sessions ?? new Map<number, number>();
  const outputRecords = Math.min(core.capacities.maxOrders + 2, MAX_OUTPUT_RECORDS);
  const output = new ArrayBuffer(outputRecords * EVENT_BYTES);
  const outBytes = new Uint8Array(output);
  const outWords = new Uint32Array(output);
  const outF64 = new Float64Array(output);
  core.setEventOutput(output, 0, outputRecords);
  const onEvent = options.onEvent;
  const symbolCount = symbols.length;
  let replayed = 0;
  let duplicates = 0;

  const replayStarted = performance.now();
  const cpuStarted = process.threadCpuUsage();
  const visit = (segment: SegmentWindow, offset: number, firstSequence: number, count: number): void => {
    const { u32, f64, recordBytes, recordF64 } = segment;
    const skip = firstSequence >= fromSequence ? 0 : Math.min(count, fromSequence - firstSequence);
    let at = offset + FRAME_HEADER_BYTES + skip * JOURNAL_RECORD_BYTES;
    // In place: the record at window byte `at` = 40 index + 8 view is record `index` of the views from byte 8 view
    // (reader.ts SegmentWindow). Both advance by addition, record to record: no division on the way.
    let view = commandRecordViews(at);
    let index = commandRecordIndex(at);
    for (let k = skip; k < count; k++) {
      const sym = u32[(at + OFF_SYM) >> 2]!;
      // A clock names no book (NO_SYMBOL); the op is the record's first byte, the low byte of its first word.
      // A clock names no symbol, nor does a client's refused clock (journaled as an invalid command).
      if (sym >= symbolCount && !(sym === NO_SYMBOL && ((u32[at >> 2]! & 0xff) === OP_CLOCK || (u32[at >> 2]! & 0xff) === OP_INVALID))) throw recordError(segment, at, `field 'sym': symbol index ${sym} is out of range (the symbol table has ${symbolCount} symbols)`);
      const clientSequence = f64[(at + REC_OFF_CLIENT_SEQUENCE) >> 3]!;
      if (!(clientSequence >= 1 && clientSequence <= Number.MAX_SAFE_INTEGER && Math.floor(clientSequence) === clientSequence)) {
        throw recordError(segment, at + REC_OFF_CLIENT_SEQUENCE, `field 'client sequence' is ${clientSequence}, expected an integer ≥ 1`);
      }
      const session = u32[(at + REC_OFF_SESSION) >> 2]!;
      const last = session === 0 ? undefined : sessions.get(session);
      if (last !== undefined && clientSequence <= last) {
        duplicates++;
      } else {
        if (session !== 0) sessions.set(session, clientSequence);
        core.outCursor = 0;
        const events = core.processRecord(recordBytes[view]!, recordF64[view]!, index, firstSequence + k);
        replayed++;
        if (onEvent !== undefined) for (let i = 0; i < events; i++) onEvent(decodeEventRecord(outBytes, outWords, outF64, i, symbols), shard);
      }
      at += JOURNAL_RECORD_BYTES;
      view += VIEW_STEP;
      if (view >= RECORD_VIEWS) {
        view -= RECORD_VIEWS;
        index += 2;
      } else {
        index += 1;
      }
    }
  };
  let scan: InPlaceScan;
  try {
    scan = readJournalInPlace(dir, visit, fromSequence);
  } catch (error) {
    if (error instanceof CoreCapacityError) throw capacityError(dir, error, core, snapshot, outputRecords);
    throw error;
  }
  const replayMs = performance.now() - replayStarted;
  const cpu = process.threadCpuUsage(cpuStarted);
  const replayCpuMs = (cpu.user + cpu.system) / 1000;

  if (snapshot !== undefined && scan.segments.length > 0) {
    if (!sameSymbols(scan.symbols, snapshot.symbols)) throw new JournalFormatError(`${dir}: the journal's symbol table differs from snapshot ${snapshot.file}'s`);
    if (scan.nextSequence < snapshot.sequence) {
      throw new JournalFormatError(
        `${dir}: the journal ends at sequence ${scan.nextSequence}${scan.tornTail === undefined ? '' : ' (before its torn tail)'}, before snapshot ${snapshot.file}, which covers sequence < ${snapshot.sequence}: ` +
          `records [${scan.nextSequence}, ${snapshot.sequence}) are in the snapshot and not in the journal, so a writer has nowhere consistent to continue`,
      );
    }
  }
  const tornTailTruncated = options.truncateTornTail === true && scan.tornTail !== undefined;
  if (tornTailTruncated) truncateTornTail(scan);
  const hashStarted = performance.now();
  const bookHash = bookHashOfCores([core], symbols);
  const bookHashMs = performance.now() - hashStarted;
  return {
    dir,
    design: scan.design ?? snapshot?.design,
    symbols,
    core,
    sessions,
    snapshot: snapshot === undefined ? undefined : { file: snapshot.file, sequence: snapshot.sequence, fileBytes: snapshot.fileBytes },
    snapshotsRejected: found.rejected,
    fromSequence,
    nextSequence: scan.segments.length === 0 ? fromSequence : scan.nextSequence,
    commandsReplayed: replayed,
    duplicatesSkipped: duplicates,
    segments: scan.segments.length,
    segmentsRead: scan.segments.length - scan.segmentsSkipped,
    tornTail: scan.tornTail,
    tornTailTruncated,
    bookHash,
    timings: {
      totalMs: performance.now() - started, snapshotMs, replayMs, bookHashMs, replayCommandsPerSecond: rate(replayed, replayMs),
      replayCpuMs, replayCommandsPerCpuSecond: rate(replayed, replayCpuMs),
    },
  };
}

function rate(commands: number, ms: number): number {
  return ms > 0 ? (commands * 1000) / ms : 0;
}

/** Recovers the journal (or sharded journal) in `dir`; see the header for the contract. */
export function recover(dir: string, options: RecoveryOptions = {}): Recovery {
  const started = performance.now();
  const journals = journalDirectories(dir);
  const shards = journals.dirs.map((d, k) => recoverJournal(d, k, options));
  const first = shards.find((s) => s.symbols.length > 0);
  const symbols = first?.symbols ?? [];
  for (const s of shards) {
    if (s.symbols.length > 0 && !sameSymbols(s.symbols, symbols)) throw new JournalFormatError(`${s.dir}: its symbol table differs from ${first!.dir}'s; the shards of one journal share one table`);
  }
  const hashStarted = performance.now();
  const bookHash = shards.length === 1 ? shards[0]!.bookHash : bookHashOfCores(shards.map((s) => s.core), symbols);
  const combinedHashMs = performance.now() - hashStarted;
  const sum = (f: (s: RecoveredJournal) => number): number => shards.reduce((n, s) => n + f(s), 0);
  const commandsReplayed = sum((s) => s.commandsReplayed);
  const replayMs = sum((s) => s.timings.replayMs);
  const replayCpuMs = sum((s) => s.timings.replayCpuMs);
  return {
    dir,
    sharded: journals.sharded,
    shards,
    commandsReplayed,
    duplicatesSkipped: sum((s) => s.duplicatesSkipped),
    bookHash,
    timings: {
      totalMs: performance.now() - started,
      snapshotMs: sum((s) => s.timings.snapshotMs),
      replayMs,
      bookHashMs: sum((s) => s.timings.bookHashMs) + combinedHashMs,
      replayCommandsPerSecond: rate(commandsReplayed, replayMs),
      replayCpuMs,
      replayCommandsPerCpuSecond: rate(commandsReplayed, replayCpuMs),
    },
  };
}
