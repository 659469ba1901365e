/**
 * The equivalence check every run passes, outside the timer:
 *
 * (a) The recorded sequences are a valid interleaving of the producers' streams: every workload index appears in
 *     exactly one sequence exactly once (nothing lost, nothing duplicated), each producer's commands appear in its
 *     own order within every sequence (nothing reordered), and no symbol appears in two sequences (a sharded design
 *     owns each symbol in one shard). A clock names no symbol: it may appear in several sequences, once in each
 *     (sharded broadcasts it); its events are then those of every sequence's replay at that clock (each sequencer
 *     announces the expiries of its own symbols), in symbol-name order as one engine emits them. With one producer
 *     and one sequencer this means the sequence IS the workload order.
 * (b) The producers received, for each command, exactly the events the reference engine emits when it replays the
 *     recorded sequence — event for event, field for field — each command's events followed by its completion, and
 *     only on the producer that submitted it; and each sequencer's final book hash equals the reference's.
 *
 * The first difference found fails the check, and the verdict names it (with both event lines when events differ).
 */
import { endsCommand, isEvent } from '../engines/completion-record.ts';
import { decodeEventRecord, EV_F64_ID, EV_F64_MAKER, EV_F64_PRICE, EV_F64_QTY, EV_F64_SEQ, EV_CANCELLED, EV_FILL, EV_MODIFIED, EV_REJECTED,
  EV_OFF_KIND, EV_OFF_REASON, EV_OFF_SIDE, EV_OFF_SYM, EV_REDUCED, EV_RESTED, EVENT_BYTES, EVENT_F64S } from '../engines/event-record.ts';
import { formatEvent } from '../engines/types.ts';
import type { SequencedRun } from '../engines/engine.ts';
import type { Workload } from '../workloads/workload.ts';
import { NO_SYMBOL } from '../workloads/workload.ts';
import type { EventLogData } from './event-log.ts';
import { eventLogViews } from './event-log.ts';
import type { ReferenceTrace, ReferenceTraceCache } from './reference-trace.ts';
import type { EquivalenceVerdict } from './results-schema.ts';
import type { WorkloadSplit } from './split.ts';
import { compareNames, type NamedRisk } from '../risk/rules.ts';

export interface EquivalenceInput {
  readonly workload: Workload;
  /** Cache key of the workload (its content hash). */
  readonly workloadKey: string;
  readonly split: WorkloadSplit;
  /** What each producer received, indexed by producer. */
  readonly logs: readonly EventLogData[];
  readonly run: SequencedRun;
  readonly traces: ReferenceTraceCache;
  /** The risk rules the design ran under (the reference replays with the same); absent: none. */
  readonly risk?: NamedRisk;
}

class Mismatch extends Error {}

export function checkEquivalence(input: EquivalenceInput): EquivalenceVerdict {
  const { run } = input;
  let events = 0;
  try {
    const firstSequence = checkInterleaving(input);
    const delivered = indexDeliveries(input);
    if (run.bookHashes.length !== run.sequences.length) {
      throw new Mismatch(`the design reported ${run.bookHashes.length} book hashes for ${run.sequences.length} sequences`);
    }
    const traces = run.sequences.map((sequence) => input.risk === undefined
      ? input.traces.trace(input.workloadKey, input.workload, sequence)
      : input.traces.trace(`${input.workloadKey}|risk=${input.risk.name}`, input.workload, sequence, input.risk.rules));
    const clocks = mergedClocks(input.workload, traces);
    for (let s = 0; s < run.sequences.length; s++) {
      const trace = traces[s]!;
      compareEvents(input, delivered, trace, s, firstSequence, clocks);
      events += trace.events;
      if (run.bookHashes[s] !== trace.bookHash) {
        throw new Mismatch(`sequence ${s}: final book hash ${run.bookHashes[s]} differs from the reference's ${trace.bookHash} after replaying the same ${trace.sequence.length} commands`);
      }
    }
  } catch (error) {
    if (!(error instanceof Mismatch)) throw error;
    return verdict(input, events, error.message);
  }
  return verdict(input, events, null);
}

function verdict(input: EquivalenceInput, events: number, failure: string | null): EquivalenceVerdict {
  const commands = input.run.sequences.reduce((n, s) => n + s.length, 0);
  return { ok: failure === null, commands, events, sequences: input.run.sequences.length, bookHashes: input.run.bookHashes, failure };
}

/** (a): exactly once, per-producer order, one sequence per symbol. Returns each command's first sequence. */
function checkInterleaving({ workload, split, run }: EquivalenceInput): Int32Array {
  const count = workload.count;
  const localPos = new Int32Array(count);
  for (const stream of split.streams) stream.forEach((index, k) => { localPos[index] = k; });
  const seenIn = new Int32Array(count).fill(-1);
  const lastIn = new Int32Array(count).fill(-1);
  const symbolSequence = new Int32Array(workload.symbols.length).fill(-1);
  for (let s = 0; s < run.sequences.length; s++) {
    const sequence = run.sequences[s]!;
    const lastPos = new Int32Array(split.producers).fill(-1);
    const lastIndex = new Int32Array(split.producers).fill(-1);
    for (let j = 0; j < sequence.length; j++) {
      const index = sequence[j]!;
      if (!(index >= 0 && index < count)) throw new Mismatch(`sequence ${s} position ${j}: ${index} is not a workload index (0 … ${count - 1})`);
      const p = split.producerOf[index]!;
      const sym = workload.symIndex(index);
      // A clock names no book: a sharded design gives it to every sequencer, once each.
      if (lastIn[index] === s || (seenIn[index] !== -1 && sym !== NO_SYMBOL)) {
        throw new Mismatch(`command ${index} (producer ${p}) was processed twice: again at sequence ${s} position ${j}, first in sequence ${seenIn[index]}`);
      }
      lastIn[index] = s;
      if (seenIn[index] === -1) seenIn[index] = s;
      if (localPos[index]! <= lastPos[p]!) {
        throw new Mismatch(`producer ${p}'s order broken: command ${index} (its #${localPos[index]}) processed at sequence ${s} position ${j}, after command ${lastIndex[p]} (its #${lastPos[p]})`);
      }
      lastPos[p] = localPos[index]!;
      lastIndex[p] = index;
      if (sym === NO_SYMBOL) continue; // a clock names no book: any sequencer may take it
      if (symbolSequence[sym] === -1) symbolSequence[sym] = s;
      else if (symbolSequence[sym] !== s) {
        throw new Mismatch(`symbol ${JSON.stringify(workload.symbols[sym])} was processed by two sequencers (${symbolSequence[sym]} and ${s}); command ${index}`);
      }
    }
  }
  for (let index = 0; index < count; index++) {
    if (seenIn[index] === -1) {
      const p = split.producerOf[index]!;
      throw new Mismatch(`command ${index} (producer ${p}, its #${localPos[index]}) was lost: it is in no recorded sequence`);
    }
  }
  return seenIn;
}

interface Deliveries {
  /** Per workload index: the first record of its events in its producer's log, and one past the last event. */
  readonly start: Int32Array;
  readonly end: Int32Array;
  readonly views: ReadonlyArray<ReturnType<typeof eventLogViews>>;
}

/** Finds each command's events in its producer's log, checking completions are whole, unique and on the right producer. */
function indexDeliveries({ workload, split, logs }: EquivalenceInput): Deliveries {
  if (logs.length !== split.producers) throw new Mismatch(`${logs.length} event logs for ${split.producers} producers`);
  const start = new Int32Array(workload.count).fill(-1);
  const end = new Int32Array(workload.count).fill(-1);
  const views = logs.map(eventLogViews);
  for (let p = 0; p < logs.length; p++) {
    const { words, f64 } = views[p]!;
    const length = logs[p]!.length;
    let runStart = 0;
    for (let r = 0; r < length; r++) {
      if (!endsCommand(words, r)) continue;
      const index = f64[r * EVENT_F64S + EV_F64_SEQ]!;
      if (!(Number.isInteger(index) && index >= 0 && index < workload.count)) {
        throw new Mismatch(`producer ${p} log record ${r}: completion for ${index}, which is not a workload index`);
      }
      if (split.producerOf[index] !== p) {
        throw new Mismatch(`producer ${p} received the completion of command ${index}, which producer ${split.producerOf[index]} submitted`);
      }
      if (start[index] !== -1) throw new Mismatch(`producer ${p} received command ${index}'s completion twice (the second at log record ${r})`);
      start[index] = runStart;
      // A flagged last event is one of the command's events; a completion record follows them.
      end[index] = isEvent(words, r) ? r + 1 : r;
      runStart = r + 1;
    }
    if (runStart < length) throw new Mismatch(`producer ${p} received ${length - runStart} event(s) after its last completion`);
    for (const index of split.streams[p]!) {
      if (start[index] === -1) throw new Mismatch(`producer ${p} never received the completion of command ${index}`);
    }
  }
  return { start, end, views };
}

/** Event records of the reference's: a trace's, or a clock's merged from several. */
interface EventRecords {
  readonly bytes: Uint8Array;
  readonly words: Uint32Array;
  readonly f64: Float64Array;
}

interface MergedClock extends EventRecords {
  readonly count: number;
}

/**
 * For every command naming no book (a clock) in several sequences whose replays emit events: those events merged
 * in name order (Array#sort is stable: one sequence's events for one symbol keep theirs), as one engine emits them.
 */
function mergedClocks(workload: Workload, traces: readonly ReferenceTrace[]): Map<number, MergedClock> {
  const merged = new Map<number, MergedClock>();
  if (traces.length < 2) return merged;
  const parts = new Map<number, Array<readonly [ReferenceTrace, number]>>();
  for (const t of traces) {
    for (let j = 0; j < t.sequence.length; j++) {
      const index = t.sequence[j]!;
      if (workload.symIndex(index) !== NO_SYMBOL || t.eventStart[j] === t.eventStart[j + 1]) continue;
      let records = parts.get(index);
      if (records === undefined) parts.set(index, (records = []));
      for (let r = t.eventStart[j]!; r < t.eventStart[j + 1]!; r++) records.push([t, r]);
    }
  }
  const name = ([t, r]: readonly [ReferenceTrace, number]): string => workload.symbols[t.words[(r * EVENT_BYTES + EV_OFF_SYM) >> 2]!] ?? '';
  for (const [index, records] of parts) {
    records.sort((a, b) => compareNames(name(a), name(b)));
    const bytes = new Uint8Array(records.length * EVENT_BYTES);
    records.forEach(([t, r], k) => bytes.set(t.bytes.subarray(r * EVENT_BYTES, (r + 1) * EVENT_BYTES), k * EVENT_BYTES));
    merged.set(index, { bytes, words: new Uint32Array(bytes.buffer), f64: new Float64Array(bytes.buffer), count: records.length });
  }
  return merged;
}

/** (b): the events of every command of sequence `s` against the reference trace (a clock's: `clocks`, merged). */
function compareEvents({ workload, split }: EquivalenceInput, delivered: Deliveries, trace: ReferenceTrace, s: number, firstSequence: Int32Array, clocks: ReadonlyMap<number, MergedClock>): void {
  const sequence = trace.sequence;
  for (let j = 0; j < sequence.length; j++) {
    const index = sequence[j]!;
    const noBook = workload.symIndex(index) === NO_SYMBOL;
    // A clock in several sequences is compared once, in its first, against all its replays' events.
    if (noBook && firstSequence[index] !== s) continue;
    const merged = noBook ? clocks.get(index) : undefined;
    const want: EventRecords = merged ?? trace;
    const want0 = merged === undefined ? trace.eventStart[j]! : 0;
    const wantN = merged === undefined ? trace.eventStart[j + 1]! - want0 : merged.count;
    const p = split.producerOf[index]!;
    const log = delivered.views[p]!;
    const got0 = delivered.start[index]!;
    const gotN = delivered.end[index]! - got0;
    for (let k = 0; k < Math.max(gotN, wantN); k++) {
      const same = k < gotN && k < wantN && sameEvent(want.bytes, want.words, want.f64, want0 + k, log.bytes, log.words, log.f64, got0 + k);
      if (same) continue;
      const wanted = k < wantN ? describe(want.bytes, want.words, want.f64, want0 + k, workload.symbols) : '(no event: the reference emits nothing more)';
      const got = k < gotN ? describe(log.bytes, log.words, log.f64, got0 + k, workload.symbols) : '(no event: the design delivered nothing more)';
      throw new Mismatch(
        `sequence ${s} position ${j}, ${merged === undefined ? 'command' : 'clock'} ${index} (producer ${p}${merged === undefined ? '' : ', every sequence\'s replay merged'}), event #${k} of ${wantN} expected:\n` +
          `  reference: ${wanted}\n  design:    ${got}`,
      );
    }
  }
}

function describe(bytes: Uint8Array, words: Uint32Array, f64: Float64Array, r: number, symbols: readonly string[]): string {
  try {
    return formatEvent(decodeEventRecord(bytes, words, f64, r, symbols));
  } catch (error) {
    return `undecodable record (${(error as Error).message})`;
  }
}

function sameNumber(a: number, b: number): boolean {
  return a === b || (a !== a && b !== b);
}

/** Compares the fields decodeEventRecord reads for the record's kind: equal here means equal event objects. */
function sameEvent(
  ab: Uint8Array, aw: Uint32Array, af: Float64Array, a: number,
  bb: Uint8Array, bw: Uint32Array, bf: Float64Array, b: number,
): boolean {
  const ao = a * EVENT_BYTES;
  const bo = b * EVENT_BYTES;
  const kind = ab[ao + EV_OFF_KIND]!;
  if (kind !== bb[bo + EV_OFF_KIND]) return false;
  if (aw[(ao + EV_OFF_SYM) >> 2] !== bw[(bo + EV_OFF_SYM) >> 2]) return false;
  const a8 = a * EVENT_F64S;
  const b8 = b * EVENT_F64S;
  if (!sameNumber(af[a8 + EV_F64_SEQ]!, bf[b8 + EV_F64_SEQ]!) || !sameNumber(af[a8 + EV_F64_ID]!, bf[b8 + EV_F64_ID]!)) return false;
  const sameSide = ab[ao + EV_OFF_SIDE] === bb[bo + EV_OFF_SIDE];
  const sameReason = ab[ao + EV_OFF_REASON] === bb[bo + EV_OFF_REASON];
  const samePrice = sameNumber(af[a8 + EV_F64_PRICE]!, bf[b8 + EV_F64_PRICE]!);
  const sameQty = sameNumber(af[a8 + EV_F64_QTY]!, bf[b8 + EV_F64_QTY]!);
  switch (kind) {
    case EV_RESTED:
      return sameSide && samePrice && sameQty;
    case EV_FILL:
      return sameSide && samePrice && sameQty && sameNumber(af[a8 + EV_F64_MAKER]!, bf[b8 + EV_F64_MAKER]!);
    case EV_REDUCED:
      return sameQty;
    case EV_MODIFIED:
      return samePrice && sameQty;
    case EV_CANCELLED:
      return sameReason && sameQty;
    case EV_REJECTED:
      return sameReason;
    default:
      return sameReason && sameQty && sameSide && samePrice && sameNumber(af[a8 + EV_F64_MAKER]!, bf[b8 + EV_F64_MAKER]!);
  }
}
