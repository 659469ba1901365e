/**
 * Every journal mode through every design (short): the run stays equivalent to the reference, the journal read
 * back holds exactly the sequenced commands (harness/journal-check.ts), each mode fsyncs as it promises, and in
 * `sync` no acknowledgement comes before its fsync; snapshots under load leave every design equivalent. Nothing asserts a time beyond a relation inside one run (sync's
 * acknowledgement latencies dominate its fsync durations).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DESIGNS, resolveParams } from '../engines/designs.ts';
import type { EngineDesign, ParamValue } from '../engines/engine.ts';
import { checkEquivalence } from '../harness/equivalence.ts';
import { checkJournal } from '../harness/journal-check.ts';
import { preparePreset } from '../harness/prepared-workload.ts';
import { ReferenceTraceCache } from '../harness/reference-trace.ts';
import { runOnce } from '../harness/run.ts';
import { splitWorkload } from '../harness/split.ts';
import { DEFAULT_GROUP_COMMANDS, DEFAULT_GROUP_WAIT_US, type JournalMode } from '../journal/journal-mode.ts';
import { JournalWriter } from '../journal/writer.ts';

const COUNT = 1500;
const SNAPSHOT_EVERY = 400;
const prepared = preparePreset({ preset: 'many-symbols', seed: 5, count: COUNT });
const traces = new ReferenceTraceCache();
const root = mkdtempSync(join(tmpdir(), 'matchbench-journal-modes-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function params(design: EngineDesign): Record<string, ParamValue> {
  return design.params.some((p) => p.name === 'wait') ? { wait: 'spin-then-wait' } : {};
}

const modes: JournalMode[] = ['async', 'group', 'sync'];

for (const design of DESIGNS) {
  describe(`journal modes: ${design.name}`, () => {
    const resolved = resolveParams(design, params(design));
    const producers = Math.min(2, design.maxProducers(resolved));
    for (const mode of modes) {
      it(`${mode}, ${producers} producer(s): equivalent, journal holds exactly the sequence, fsyncs as promised`, async () => {
        const split = splitWorkload(prepared.shared.records, COUNT, producers, 'order');
        const settings = { mode, groupCommands: DEFAULT_GROUP_COMMANDS, groupWaitUs: DEFAULT_GROUP_WAIT_US };
        const outcome = await runOnce({ design, params: resolved, workload: prepared, split, mode: 'closed', rate: null, warmup: 100, journal: { settings, dir: root } });
        const verdict = checkEquivalence({ workload: prepared.workload, workloadKey: prepared.identity.hash, split, logs: outcome.logs, run: outcome.sequenced, traces });
        expect(verdict.failure).toBeNull();
        const journal = outcome.journal!;
        expect(journal.check.failure).toBeNull();
        expect(journal.records).toBe(COUNT);
        expect(journal.check.records).toBe(COUNT);
        if (mode === 'async') expect(journal.fsyncs).toBe(0);
        if (mode === 'sync') expect(journal.fsyncs).toBe(COUNT);
        if (mode === 'group') {
          expect(journal.fsyncs).toBeGreaterThanOrEqual(1);
          expect(journal.fsyncs).toBeLessThanOrEqual(journal.frames);
        }
        if (mode === 'sync') {
          // Each acknowledgement waited for its own fsync, so the latencies dominate the fsync durations quantile by
          // quantile (1 % slack: both are 3-digit histograms).
          expect(outcome.latency.p50Ns).toBeGreaterThanOrEqual(journal.fsync!.p50Ns * 0.99);
        }
      });
    }
    it(`group with snapshots under load every ${SNAPSHOT_EVERY}: still equivalent with the journal exact, every snapshot's pause measured`, async () => {
      const split = splitWorkload(prepared.shared.records, COUNT, producers, 'order');
      const settings = { mode: 'group' as const, groupCommands: DEFAULT_GROUP_COMMANDS, groupWaitUs: DEFAULT_GROUP_WAIT_US };
      const outcome = await runOnce({ design, params: resolved, workload: prepared, split, mode: 'closed', rate: null, warmup: 100, journal: { settings, dir: root, snapshotEvery: SNAPSHOT_EVERY } });
      const verdict = checkEquivalence({ workload: prepared.workload, workloadKey: prepared.identity.hash, split, logs: outcome.logs, run: outcome.sequenced, traces });
      expect(verdict.failure).toBeNull();
      expect(outcome.journal!.check.failure).toBeNull();
      const snapshots = outcome.journal!.snapshots!;
      expect(snapshots.taken).toBeGreaterThanOrEqual(1);
      expect(snapshots.bytes).toBeGreaterThan(0);
      expect(snapshots.pausesNs).toHaveLength(snapshots.taken);
      for (const ns of snapshots.pausesNs) expect(ns).toBeGreaterThan(0);
    });
  });
}

it('without a journal mode the run has no journal; mode none journals nothing', async () => {
  const inline = DESIGNS.find((d) => d.name === 'inline')!;
  const split = splitWorkload(prepared.shared.records, COUNT, 1, 'order');
  const settings = { mode: 'none' as const, groupCommands: 1, groupWaitUs: 0 };
  const outcome = await runOnce({ design: inline, params: {}, workload: prepared, split, mode: 'closed', rate: null, warmup: 0, journal: { settings, dir: root } });
  expect(outcome.journal).toBeNull();
});

it('the journal check fails on a journal that misses, reorders or garbles a command', () => {
  const split = splitWorkload(prepared.shared.records, COUNT, 1, 'order');
  const sequence = Int32Array.from({ length: 10 }, (_, i) => i);
  const words = new Uint32Array(prepared.shared.records);
  const write = (name: string, order: readonly number[], garble = false): string => {
    const dir = join(root, name);
    const writer = JournalWriter.create({ dir, design: 'inline', symbols: prepared.shared.symbols, firstSequence: 0, maxFrameRecords: 16, segmentBytes: 1 << 20 });
    order.forEach((index, k) => writer.putRecord(k, words, index, 1, index + 1));
    if (garble) writer.recordArea[8]! ^= 1;
    writer.writeFrame(order.length, true);
    writer.close();
    return dir;
  };
  const bytes = new Uint8Array(prepared.shared.records);
  expect(checkJournal([write('exact', [...sequence])], [sequence], split, bytes).failure).toBeNull();
  expect(checkJournal([write('short', [...sequence].slice(0, 9))], [sequence], split, bytes).failure).toMatch(/holds 9 records; its sequencer processed 10/);
  expect(checkJournal([write('swapped', [0, 1, 3, 2, 4, 5, 6, 7, 8, 9])], [sequence], split, bytes).failure).toMatch(/record 2 .* is workload command 3/);
  expect(checkJournal([write('garbled', [...sequence], true)], [sequence], split, bytes).failure).toMatch(/record 0 .* differs from the workload at byte 8/);
});
