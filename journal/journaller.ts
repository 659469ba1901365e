/**
 * The journaller: reads each sequencer's log (engines/sequence-log.ts) while the engine runs, as the LMAX journaller
 * reads the input ring beside the business logic, and appends what it finds to that sequencer's journal
 * (journal/writer.ts) in the mode's rhythm (journal/journal-mode.ts). It never touches the matching threads: they
 * pay one atomic store (and, when the journaller sleeps, a notify) per command to publish the sequence.
 *
 * Contract:
 * - Inputs, all shared memory indexed by record index (a workload index in the harness, a slot in the server):
 *   the 40-byte command records, and each command's sender: session (u32) and client sequence (f64). The sender
 *   must be written before the command is submitted.
 * - `pump()` does one pass over every log: copies newly sequenced records into frames and writes the frames that
 *   are due (async: at once, no fsync; group: at N records or T µs, fsynced; sync: one per record, fsynced). After
 *   a frame is on disk it sets `durable[record] = 1` for each of its records (group and sync), which is what a
 *   producer waits for before acknowledging, and stores per log how many of its positions are written
 *   (`journaled`: in group and sync modes, fsynced; in async, written to the page cache), which is what a snapshot
 *   waits for (a snapshot never covers commands the journal lacks). Returns the records it took in.
 * - `finish()` writes everything still pending (fsynced in every mode but none) and closes the segments: a clean
 *   stop. After a crash, whatever `pump` had not fsynced may be lost: exactly what the mode promises.
 * - K logs (sharded) get K journals, one directory each; one journaller serves all, in turn.
 * - It records the duration of every fsync it makes (the disk's physical limit, reported beside the
 *   acknowledgement latency).
 */
import { SequenceLog, type SequenceLogRegion } from '../engines/sequence-log.ts';
import { acknowledgesDurable, type JournalSettings } from './journal-mode.ts';
import { JournalWriter, type JournalWriterStats } from './writer.ts';

/** A segment rolls at this size: a few seconds of a busy engine, small enough to delete whole once snapshotted. */
export const SEGMENT_BYTES = 64 * 1024 * 1024;
/** async mode writes at most this many records per frame (one write(2) of ~0.9 MB). */
const ASYNC_FRAME_RECORDS = 16_384;

export interface JournallerInputs {
  readonly logs: readonly SequenceLogRegion[];
  /** One journal directory per log. */
  readonly dirs: readonly string[];
  /** Sequence number each journal continues from (0 for a fresh journal). */
  readonly firstSequences: readonly number[];
  readonly design: string;
  readonly symbols: readonly string[];
  /** Command records, RECORD_BYTES each, by record index. */
  readonly records: SharedArrayBuffer;
  /** Uint32 per record index. */
  readonly sessions: SharedArrayBuffer;
  /** Float64 per record index. */
  readonly clientSequences: SharedArrayBuffer;
  /**
   * Uint8 per record index, set to 1 once the record is on disk; null when the mode acknowledges without waiting, or
   * when another stage reads `journaled` and sets them (the replicator in sync replication).
   */
  readonly durable: SharedArrayBuffer | null;
  /** Int32 per log: how many of its positions the journal holds (written; fsynced in group and sync modes); notified. */
  readonly journaled: SharedArrayBuffer;
  readonly settings: JournalSettings;
}

export interface JournallerStats extends JournalWriterStats {
  /** Every fsync's duration, ns, in the order made. */
  readonly fsyncNs: Float64Array<ArrayBuffer>;
}

interface LogState {
  /** The log's position in the inputs (its `journaled` word). */
  readonly k: number;
  readonly log: SequenceLog;
  readonly writer: JournalWriter;
  /** Log positions [written, taken) are in the writer's record area, not yet written. */
  written: number;
  taken: number;
  /** When the oldest record now pending was taken, performance.now() ms. */
  pendingSinceMs: number;
}

export class Journaller {
  readonly #states: LogState[];
  readonly #settings: JournalSettings;
  readonly #commandWords: Uint32Array;
  readonly #sessions: Uint32Array;
  readonly #clientSequences: Float64Array;
  readonly #durable: Uint8Array | null;
  readonly #journaled: Int32Array;
  readonly #frameRecords: number;
  readonly #fsyncNs: number[] = [];

  constructor(inputs: JournallerInputs) {
    const { settings } = inputs;
    if (settings.mode === 'none') throw new Error('journaller: mode none journals nothing; do not start one');
    if (inputs.durable !== null && !acknowledgesDurable(settings.mode)) throw new Error(`journaller: mode ${settings.mode} takes no durable flags (it acknowledges before the disk has a command)`);
    if (inputs.dirs.length !== inputs.logs.length || inputs.firstSequences.length !== inputs.logs.length) {
      throw new Error(`journaller: ${inputs.logs.length} sequence logs but ${inputs.dirs.length} directories and ${inputs.firstSequences.length} first sequences`);
    }
    if (settings.mode === 'group' && !(Number.isSafeInteger(settings.groupCommands) && settings.groupCommands >= 1)) {
      throw new Error(`journaller: group commands ${settings.groupCommands} must be an integer >= 1`);
    }
    if (settings.mode === 'group' && !(settings.groupWaitUs >= 0 && Number.isFinite(settings.groupWaitUs))) {
      throw new Error(`journaller: group wait ${settings.groupWaitUs} µs must be a finite number >= 0`);
    }
    this.#settings = settings;
    this.#frameRecords = settings.mode === 'sync' ? 1 : settings.mode === 'group' ? settings.groupCommands : ASYNC_FRAME_RECORDS;
    this.#commandWords = new Uint32Array(inputs.records);
    this.#sessions = new Uint32Array(inputs.sessions);
    this.#clientSequences = new Float64Array(inputs.clientSequences);
    this.#durable = inputs.durable === null ? null : new Uint8Array(inputs.durable);
    this.#journaled = new Int32Array(inputs.journaled);
    this.#states = inputs.logs.map((region, k) => ({
      k,
      log: SequenceLog.attach(region),
      writer: JournalWriter.create({
        dir: inputs.dirs[k]!, design: inputs.design, symbols: inputs.symbols, firstSequence: inputs.firstSequences[k]!,
        maxFrameRecords: this.#frameRecords, segmentBytes: SEGMENT_BYTES,
      }),
      written: 0, taken: 0, pendingSinceMs: 0,
    }));
  }

  /** The logs, for a caller that waits on their count words between passes. */
  get logs(): readonly SequenceLog[] {
    return this.#states.map((s) => s.log);
  }

  /** Milliseconds until the oldest pending group frame is due (0: due now; Infinity: nothing pending). */
  msUntilDue(nowMs: number): number {
    let until = Infinity;
    const waitMs = this.#settings.groupWaitUs / 1000;
    for (const s of this.#states) if (s.taken > s.written) until = Math.min(until, Math.max(0, s.pendingSinceMs + waitMs - nowMs));
    return until;
  }

  pump(): number {
    let took = 0;
    for (const s of this.#states) took += this.#pumpLog(s, false);
    return took;
  }

  finish(): JournallerStats {
    for (const s of this.#states) {
      this.#pumpLog(s, true);
      s.writer.close();
    }
    const totals = { frames: 0, records: 0, fsyncs: 0, bytes: 0, segments: 0 };
    for (const s of this.#states) {
      const w = s.writer.stats;
      totals.frames += w.frames;
      totals.records += w.records;
      totals.fsyncs += w.fsyncs;
      totals.bytes += w.bytes;
      totals.segments += w.segments;
    }
    return { ...totals, fsyncNs: new Float64Array(this.#fsyncNs) };
  }

  #pumpLog(s: LogState, final: boolean): number {
    const mode = this.#settings.mode;
    const published = s.log.publishedLength();
    let took = 0;
    for (;;) {
      // Take what fits in the frame being built.
      const n = Math.min(this.#frameRecords - (s.taken - s.written), published - s.taken);
      if (n > 0 && s.taken === s.written) s.pendingSinceMs = performance.now();
      for (let i = 0; i < n; i++) {
        const record = s.log.at(s.taken + i);
        s.writer.putRecord(s.taken - s.written + i, this.#commandWords, record, this.#sessions[record]!, this.#clientSequences[record]!);
      }
      s.taken += n;
      took += n;
      const pending = s.taken - s.written;
      if (pending === 0) break;
      const due = mode !== 'group' || final || pending === this.#frameRecords || performance.now() - s.pendingSinceMs >= this.#settings.groupWaitUs / 1000;
      if (!due) break;
      this.#writeFrame(s, pending, mode === 'group' || mode === 'sync');
    }
    return took;
  }

  #writeFrame(s: LogState, count: number, sync: boolean): void {
    const started = sync ? performance.now() : 0;
    s.writer.writeFrame(count, sync);
    if (sync) this.#fsyncNs.push((performance.now() - started) * 1e6);
    const durable = this.#durable;
    if (durable !== null) for (let i = s.written; i < s.written + count; i++) Atomics.store(durable, s.log.at(i), 1);
    s.written += count;
    Atomics.store(this.#journaled, s.k, s.written);
    // The replicator in sync replication sleeps on it (one notify per frame; no waiter, no system call).
    Atomics.notify(this.#journaled, s.k);
  }
}
