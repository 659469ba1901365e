/**
 * The equivalence checker (harness/equivalence.ts) on real runs: it passes correct runs of a one-producer and a
 * two-producer design, and catches each injected fault — a wrong event, a lost command, a duplicated command, a
 * producer's commands reordered, a completion that never arrived, a wrong book hash — naming the first difference.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { SequencedRun } from '../engines/engine.ts';
import { DESIGN_NAMES, designByName, resolveParams } from '../engines/designs.ts';
import { EV_F64_QTY, EV_F64_SEQ, EV_HALTED, EV_OFF_FLAGS, EV_OFF_SYM, EV_RESUMED, EVENT_BYTES, EVENT_F64S, EV_FILL } from '../engines/event-record.ts';
import type { Command } from '../engines/types.ts';
import { checkEquivalence } from '../harness/equivalence.ts';
import { eventLogViews, type EventLogData } from '../harness/event-log.ts';
import { endsCommand, flagEndsCommand, isEvent } from '../engines/completion-record.ts';
import { type PreparedWorkload, preparePreset, prepareWorkload } from '../harness/prepared-workload.ts';
import { ReferenceTraceCache } from '../harness/reference-trace.ts';
import { runOnce, type RunOutcome } from '../harness/run.ts';
import { splitWorkload, type WorkloadSplit } from '../harness/split.ts';
import { capacitiesForSplits } from '../harness/capacity.ts';
import { ReferenceEngine } from '../engines/reference.ts';
import { parseRiskRules } from '../risk/rules.ts';
import { generateWorkload } from '../workloads/generator.ts';
import { workloadFromCommands } from '../workloads/workload.ts';

interface Recorded {
  readonly prepared: PreparedWorkload;
  readonly split: WorkloadSplit;
  readonly outcome: RunOutcome;
}

async function record(design: string, producers: number): Promise<Recorded> {
  const prepared = preparePreset({ preset: 'balanced', seed: 7, count: 3000 });
  const split = splitWorkload(prepared.shared.records, prepared.workload.count, producers, 'round-robin');
  const d = designByName(design);
  const outcome = await runOnce({ design: d, params: resolveParams(d, {}), workload: prepared, split, mode: 'closed', rate: null, warmup: 100 });
  return { prepared, split, outcome };
}

function check(r: Recorded, logs: readonly EventLogData[] = r.outcome.logs, run: SequencedRun = r.outcome.sequenced) {
  return checkEquivalence({ workload: r.prepared.workload, workloadKey: r.prepared.identity.hash, split: r.split, logs, run, traces: new ReferenceTraceCache() });
}

/** A copy of a log with records rebuilt by `edit` (given the record indexes in order, returns the new order). */
function editLog(log: EventLogData, edit: (records: number[]) => number[]): EventLogData {
  const order = edit(Array.from({ length: log.length }, (_, i) => i));
  const buffer = new ArrayBuffer(Math.max(1, order.length) * EVENT_BYTES);
  const to = new Uint8Array(buffer);
  const from = new Uint8Array(log.buffer);
  order.forEach((r, i) => to.set(from.subarray(r * EVENT_BYTES, (r + 1) * EVENT_BYTES), i * EVENT_BYTES));
  return { buffer, length: order.length };
}

/** Index in the log of the first record satisfying `test`. */
function findRecord(log: EventLogData, test: (words: Uint32Array, f64: Float64Array, r: number) => boolean): number {
  const { words, f64 } = eventLogViews(log);
  for (let r = 0; r < log.length; r++) if (test(words, f64, r)) return r;
  throw new Error('no such record');
}

function withSequence(run: SequencedRun, sequence: Int32Array): SequencedRun {
  return { sequences: [sequence], bookHashes: run.bookHashes };
}

describe('equivalence checker, one producer (inline)', () => {
  let r: Recorded;
  beforeAll(async () => {
    r = await record('inline', 1);
  });

  it('passes the run as recorded: its sequence is the workload order and every event matches', () => {
    expect(Array.from(r.outcome.sequenced.sequences[0]!)).toStrictEqual(Array.from({ length: 3000 }, (_, i) => i));
    const verdict = check(r);
    expect(verdict.failure).toBeNull();
    expect(verdict.ok).toBe(true);
    expect(verdict.commands).toBe(3000);
    expect(verdict.events).toBeGreaterThan(3000);
  });

  it('catches a wrong event and prints both versions of it', () => {
    const log = editLog(r.outcome.logs[0]!, (records) => records);
    const fill = findRecord(log, (words, _f64, i) => isEvent(words, i) && (words[(i * EVENT_BYTES) >> 2]! & 0xff) === EV_FILL);
    const { f64 } = eventLogViews(log);
    f64[fill * EVENT_F64S + EV_F64_QTY]! += 1;
    const verdict = check(r, [log]);
    expect(verdict.ok).toBe(false);
    expect(verdict.failure).toMatch(/reference: \{"seq":\d+,"ev":"fill".*\n\s+design: {4}\{"seq":\d+,"ev":"fill"/);
  });

  it('catches an event the design left out, and one it added', () => {
    const events = r.outcome.logs[0]!;
    // The last event of a command with two or more: dropped (the one before it then ends the command) or doubled
    // (the first copy no longer ends it), each command's end stays where it was and only its events differ.
    const last = findRecord(events, (words, _f64, i) => i > 0 && isEvent(words, i) && endsCommand(words, i) && isEvent(words, i - 1) && !endsCommand(words, i - 1));
    const leftOut = editLog(events, (records) => records.filter((x) => x !== last));
    flagEndsCommand(eventLogViews(leftOut).words, last - 1);
    expect(check(r, [leftOut]).failure).toMatch(/design: +\(no event/);
    const added = editLog(events, (records) => records.flatMap((x) => (x === last ? [x, x] : [x])));
    eventLogViews(added).bytes[last * EVENT_BYTES + EV_OFF_FLAGS] = 0;
    expect(check(r, [added]).failure).toMatch(/reference: \(no event/);
  });

  it('catches a lost command: missing from the sequence', () => {
    const sequence = r.outcome.sequenced.sequences[0]!.filter((index) => index !== 1234);
    expect(check(r, r.outcome.logs, withSequence(r.outcome.sequenced, sequence)).failure).toMatch(/command 1234 .* was lost/);
  });

  it('catches a lost completion: the producer never heard back', () => {
    const log = r.outcome.logs[0]!;
    const completion = findRecord(log, (words, f64, i) => endsCommand(words, i) && f64[i * EVENT_F64S + 1] === 2000);
    expect(check(r, [editLog(log, (records) => records.filter((x) => x !== completion))]).ok).toBe(false);
  });

  it('catches a duplicated command: processed twice', () => {
    const original = r.outcome.sequenced.sequences[0]!;
    const sequence = Int32Array.from([...original.slice(0, 501), 500, ...original.slice(501)]);
    expect(check(r, r.outcome.logs, withSequence(r.outcome.sequenced, sequence)).failure).toMatch(/command 500 .* processed twice/);
  });

  it('catches a duplicated completion', () => {
    const log = r.outcome.logs[0]!;
    const completion = findRecord(log, (words, f64, i) => endsCommand(words, i) && f64[i * EVENT_F64S + 1] === 10);
    expect(check(r, [editLog(log, (records) => records.flatMap((x) => (x === completion ? [x, x] : [x])))]).failure).toMatch(/completion twice/);
  });

  it("catches a producer's commands reordered", () => {
    const sequence = r.outcome.sequenced.sequences[0]!.slice();
    [sequence[10], sequence[11]] = [sequence[11]!, sequence[10]!];
    expect(check(r, r.outcome.logs, withSequence(r.outcome.sequenced, sequence)).failure).toMatch(/producer 0's order broken/);
  });

  it('catches a final book hash that differs from the reference', () => {
    const run = { sequences: r.outcome.sequenced.sequences, bookHashes: ['0'.repeat(64)] };
    expect(check(r, r.outcome.logs, run).failure).toMatch(/final book hash/);
  });
});

describe('equivalence checker, two producers (mutex)', () => {
  let r: Recorded;
  beforeAll(async () => {
    r = await record('mutex', 2);
  });

  it('passes the run as recorded, whatever the interleaving', () => {
    const verdict = check(r);
    expect(verdict.failure).toBeNull();
    expect(verdict.commands).toBe(3000);
  });

  it("catches one producer's commands swapped even when the interleaving is otherwise valid", () => {
    const sequence = r.outcome.sequenced.sequences[0]!.slice();
    const firstOfP1 = sequence.findIndex((index) => index % 2 === 1);
    const secondOfP1 = sequence.findIndex((index, j) => j > firstOfP1 && index % 2 === 1);
    [sequence[firstOfP1], sequence[secondOfP1]] = [sequence[secondOfP1]!, sequence[firstOfP1]!];
    expect(check(r, r.outcome.logs, withSequence(r.outcome.sequenced, sequence)).failure).toMatch(/producer 1's order broken/);
  });

  it('catches a command delivered to the producer that did not submit it', () => {
    const [log0, log1] = r.outcome.logs as [EventLogData, EventLogData];
    const completion = findRecord(log1, (words, _f64, i) => endsCommand(words, i));
    const moved = editLog(log0, (records) => records);
    const joined = new Uint8Array((moved.length + 1) * EVENT_BYTES);
    joined.set(new Uint8Array(moved.buffer, 0, moved.length * EVENT_BYTES));
    joined.set(new Uint8Array(log1.buffer, completion * EVENT_BYTES, EVENT_BYTES), moved.length * EVENT_BYTES);
    const verdict = check(r, [{ buffer: joined.buffer, length: moved.length + 1 }, log1]);
    expect(verdict.failure).toMatch(/producer 0 received the completion of command \d+, which producer 1 submitted/);
  });
});

describe('how every design ends a command (engines/completion-record.ts)', () => {
  for (const design of DESIGN_NAMES) {
    it(`${design}: a command with events ends with its last event flagged; only one with none gets a completion record`, async () => {
      const r = await record(design, design === 'inline' ? 1 : 2);
      expect(check(r).failure).toBeNull();
      let flagged = 0;
      for (const log of r.outcome.logs) {
        const { words } = eventLogViews(log);
        for (let i = 0; i < log.length; i++) {
          if (isEvent(words, i)) {
            if (endsCommand(words, i)) flagged++;
          } else if (i > 0 && !endsCommand(words, i - 1)) {
            throw new Error(`${design}: log record ${i} is a completion record after an event of its command (record ${i - 1})`);
          }
        }
      }
      expect(flagged).toBeGreaterThan(1000);
    });
  }
});

describe('equivalence under risk rules and the breaker, every design', () => {
  // Tight rules on the sweep preset with a clock before every command (1 ms apart): collar and quantity rejects,
  // band stops, limit states, pauses and resumes all happen within the run.
  const rules = parseRiskRules({
    symbols: { '*': { maxQty: 400, collarPercent: 0.3 } },
    owners: { maxOpenOrders: 20 },
    breaker: { bandPercent: 0.05, windowSeconds: 1, limitStateSeconds: 1, pauseSeconds: 1 },
  }, 'test rules');
  const risk = { name: 'tight', rules };
  const workload = generateWorkload({ preset: 'sweep', seed: 7, count: 6000, clockEvery: 1 });
  const prepared = prepareWorkload(workload, 'sweep-clocked', 'sweep', { kind: 'preset', preset: 'sweep', seed: 7, count: 6000 });

  it('the rules fire on this workload: the reference emits every breaker event and risk reject', () => {
    const seen = new Set<string>();
    const engine = new ReferenceEngine(rules);
    for (let i = 0; i < workload.count; i++) engine.process(workload.command(i), i, (e) => seen.add(e.ev === 'rejected' || e.ev === 'cancelled' ? `${e.ev}:${e.reason}` : e.ev));
    for (const kind of ['limit', 'halted', 'resumed', 'cancelled:band', 'rejected:halted', 'rejected:risk_price_band', 'rejected:risk_max_qty', 'rejected:risk_max_open_orders']) {
      expect(seen, kind).toContain(kind);
    }
  });

  // sharded with 2-slot rings: a clock's broadcast often finds a ring full and is finished by a retry (the harness
  // fails a run whose command completes before trySubmit accepted it).
  for (const [design, producers, extra] of [['inline', 1, {}], ['mutex', 2, {}], ['channel', 2, {}], ['disruptor', 2, {}], ['sharded', 2, {}], ['sharded', 2, { ring: 2 }]] as const) {
    it(`${design}${Object.keys(extra).length > 0 ? ` ${JSON.stringify(extra)}` : ''} with ${producers} producer(s) matches the reference under the same rules, and the check tells the rules apart`, async () => {
      const split = splitWorkload(prepared.shared.records, workload.count, producers, 'order');
      const d = designByName(design);
      const params = resolveParams(d, { ...(d.params.some((p) => p.name === 'wait') ? { wait: 'spin-then-wait' } : {}), ...extra });
      const outcome = await runOnce({
        design: d, params, workload: prepared, split, mode: 'closed', rate: null, warmup: 100, capacities: capacitiesForSplits(workload, [split], rules),
      });
      const input = { workload: prepared.workload, workloadKey: prepared.identity.hash, split, logs: outcome.logs, run: outcome.sequenced, traces: new ReferenceTraceCache() };
      const verdict = checkEquivalence({ ...input, risk });
      expect(verdict.failure).toBeNull();
      expect(verdict.ok).toBe(true);
      // The same run judged as if no rules applied: the reference then trades where the design refused.
      expect(checkEquivalence(input).ok).toBe(false);
    });
  }
});

describe('equivalence of a clock that expires symbols on two shards (sharded)', () => {
  // Two symbols on different shards (symbol index mod 2: BBB is 0, AAPL is 1), each stopped at its band, then one
  // clock 20 minutes on that ends both limit states and both pauses: each shard's replay emits its own symbol's
  // halted and resumed, and the checker must compare the design's delivery against the two merged in name order.
  const rules = parseRiskRules({ breaker: { bandPercent: 5, windowSeconds: 10, limitStateSeconds: 15, pauseSeconds: 300 } }, 'test breaker');
  const risk = { name: 'breaker', rules };
  const T = 1_764_700_000_000_000;
  const SEC = 1_000_000;
  const order = (sym: string, id: number, side: 'buy' | 'sell', price: number, qty: number): Command => ({ op: 'new', sym, id, side, type: 'limit', tif: 'gtc', price, qty });
  const commands: Command[] = [{ op: 'clock', ts: T }];
  for (const sym of ['BBB', 'AAPL']) commands.push(order(sym, 1, 'sell', 1000, 5), order(sym, 2, 'buy', 1000, 5), order(sym, 3, 'sell', 1060, 5));
  commands.push(order('BBB', 4, 'buy', 1100, 1), order('AAPL', 4, 'buy', 1100, 1), { op: 'clock', ts: T + 1200 * SEC }, { op: 'clock', ts: T + 1201 * SEC });
  const CLOCK = commands.length - 2;
  const workload = workloadFromCommands(commands);
  const prepared = prepareWorkload(workload, 'two-shard-expiry', 'two-shard-expiry', { kind: 'file', path: '(built in the test)' });

  it('passes the run as delivered, and catches the two shards\' expiries delivered out of name order', async () => {
    expect(workload.symbols.indexOf('BBB') % 2).not.toBe(workload.symbols.indexOf('AAPL') % 2);
    const split = splitWorkload(prepared.shared.records, workload.count, 1, 'order');
    const d = designByName('sharded');
    const outcome = await runOnce({
      design: d, params: resolveParams(d, { wait: 'spin-then-wait' }), workload: prepared, split, mode: 'closed', rate: null, warmup: 0,
      capacities: capacitiesForSplits(workload, [split], rules),
    });
    const input = { workload: prepared.workload, workloadKey: prepared.identity.hash, split, run: outcome.sequenced, traces: new ReferenceTraceCache(), risk };
    expect(outcome.sequenced.sequences.every((sequence) => sequence.includes(CLOCK))).toBe(true);
    const log = outcome.logs[0]!;
    // The clock's four events as delivered: AAPL's halted and resumed, then BBB's.
    const clockEvents = (l: EventLogData) => {
      const { words, f64 } = eventLogViews(l);
      const found: Array<{ record: number; kind: number; sym: string }> = [];
      for (let r = 0; r < l.length; r++) {
        const kind = words[(r * EVENT_BYTES) >> 2]! & 0xff;
        if (f64[r * EVENT_F64S + EV_F64_SEQ] === CLOCK && isEvent(words, r)) found.push({ record: r, kind, sym: workload.symbols[words[(r * EVENT_BYTES + EV_OFF_SYM) >> 2]!]! });
      }
      return found;
    };
    const delivered = clockEvents(log);
    expect(delivered.map((e) => [e.kind, e.sym])).toStrictEqual([[EV_HALTED, 'AAPL'], [EV_RESUMED, 'AAPL'], [EV_HALTED, 'BBB'], [EV_RESUMED, 'BBB']]);
    // The merged clock ends with its last event flagged, not with a completion record after it.
    expect(delivered.map((e) => endsCommand(eventLogViews(log).words, e.record))).toStrictEqual([false, false, false, true]);
    const { words: logWords, f64: logF64 } = eventLogViews(log);
    const clockCompletions = Array.from({ length: log.length }, (_, r) => r).filter((r) => logF64[r * EVENT_F64S + EV_F64_SEQ] === CLOCK && !isEvent(logWords, r));
    expect(clockCompletions).toStrictEqual([]);
    expect(checkEquivalence({ ...input, logs: outcome.logs }).failure).toBeNull();

    // BBB's pair before AAPL's: every event is right, only the merge order is not.
    const first = delivered[0]!.record;
    const swapped = editLog(log, (records) => [...records.slice(0, first), first + 2, first + 3, first, first + 1, ...records.slice(first + 4)]);
    const swappedWords = eventLogViews(swapped);
    swappedWords.bytes[(first + 1) * EVENT_BYTES + EV_OFF_FLAGS] = 0;
    flagEndsCommand(swappedWords.words, first + 3);
    const verdict = checkEquivalence({ ...input, logs: [swapped] });
    expect(verdict.ok).toBe(false);
    expect(verdict.failure).toContain(`clock ${CLOCK} (producer 0, every sequence's replay merged), event #0 of 4 expected`);
  });
});
