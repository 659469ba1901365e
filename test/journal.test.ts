/**
 * The write-ahead journal's format, writer and reader (journal/): round trips across segments, the torn-tail rules
 * against corruption, and the `npm run journal` CLI.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { crc32c } from '../journal/crc32c.ts';
import { FRAME_HEADER_BYTES, FSYNC_MARK_FILE, JOURNAL_RECORD_BYTES, JournalFormatError, segmentName } from '../journal/format.ts';
import { readJournal, recordSender, truncateTornTail } from '../journal/reader.ts';
import { JournalWriter } from '../journal/writer.ts';
import { generateWorkload } from '../workloads/generator.ts';
import { parseNdjson } from '../workloads/ndjson.ts';
import { Prng } from '../workloads/prng.ts';
import { RECORD_BYTES, type Workload } from '../workloads/workload.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'matchbench-journal-'));
  dirs.push(dir);
  return dir;
}

/** Session and client sequence of command i: three sessions taking turns, each counting from 1. */
const senderOf = (i: number): { session: number; clientSequence: number } => ({ session: 7 + (i % 3), clientSequence: Math.floor(i / 3) + 1 });

/**
 * Journals commands [from, to) of `workload` in frames of pseudo-random sizes (seeded), every third frame synced;
 * returns the writer's stats.
 */
function journal(dir: string, workload: Workload, from: number, to: number, segmentBytes: number, seed: number) {
  const writer = JournalWriter.create({ dir, design: 'disruptor', symbols: workload.symbols, firstSequence: from, maxFrameRecords: 64, segmentBytes });
  const random = new Prng(seed);
  let i = from;
  let frame = 0;
  const words = new Uint32Array(workload.records);
  while (i < to) {
    const count = Math.min(to - i, 1 + random.below(64));
    for (let k = 0; k < count; k++) {
      const { session, clientSequence } = senderOf(i + k);
      writer.putRecord(k, words, i + k, session, clientSequence);
    }
    writer.writeFrame(count, frame++ % 3 === 0);
    i += count;
  }
  writer.close();
  return writer.stats;
}

/** Every record of the journal in `dir` (which starts at sequence 0), as command bytes and sender, with the scan. */
function readAll(dir: string) {
  const commands: Uint8Array[] = [];
  const senders: { session: number; clientSequence: number }[] = [];
  const scan = readJournal(dir, (frame) => {
    expect(frame.firstSequence).toBe(commands.length);
    for (let i = 0; i < frame.count; i++) {
      commands.push(frame.records.slice(i * JOURNAL_RECORD_BYTES, i * JOURNAL_RECORD_BYTES + RECORD_BYTES));
      senders.push(recordSender(frame.records, i));
    }
  });
  return { scan, commands, senders };
}
function expectRecords(dir: string, workload: Workload, count: number): ReturnType<typeof readAll> {
  const all = readAll(dir);
  expect(all.commands).toHaveLength(count);
  for (let i = 0; i < count; i++) {
    expect(Buffer.from(all.commands[i]!).equals(Buffer.from(workload.bytes.subarray(i * RECORD_BYTES, (i + 1) * RECORD_BYTES)))).toBe(true);
    expect(all.senders[i]).toEqual(senderOf(i));
  }
  return all;
}

describe('CRC-32C', () => {
  it('gives the standard check value and continues across pieces', () => {
    const text = new TextEncoder().encode('123456789');
    expect(crc32c(text)).toBe(0xe3069283);
    const random = new Prng(5);
    const data = Uint8Array.from({ length: 1000 }, () => random.below(256));
    for (const cut of [0, 1, 7, 8, 9, 500, 999, 1000]) expect(crc32c(data, cut, 1000, crc32c(data, 0, cut))).toBe(crc32c(data));
  });
});

describe('journal writer and reader', () => {
  const workload = generateWorkload({ preset: 'balanced', seed: 4, count: 3000 });

  it('round-trips every record with its sender, across segments, in sequence order', () => {
    const dir = tempDir();
    const stats = journal(dir, workload, 0, 3000, 16 * 1024, 1);
    const { scan } = expectRecords(dir, workload, 3000);
    expect(scan.segments.length).toBeGreaterThan(5);
    expect(scan.segments.length).toBe(stats.segments);
    expect(scan.frames).toBe(stats.frames);
    expect(scan.syncedFrames).toBe(Math.ceil(stats.frames / 3));
    expect(scan.nextSequence).toBe(3000);
    expect(scan.design).toBe('disruptor');
    expect(scan.symbols).toEqual(workload.symbols);
    expect(scan.tornTail).toBeUndefined();
    for (const name of scan.segments) expect(statSync(join(dir, name)).size).toBeLessThanOrEqual(16 * 1024);
  });

  it('continues in a new segment after a restart, refuses to overwrite a segment, replaces one that holds only its header', () => {
    const dir = tempDir();
    journal(dir, workload, 0, 1200, 1 << 20, 2);
    journal(dir, workload, 1200, 3000, 1 << 20, 3);
    expect(readdirSync(dir).sort()).toEqual([segmentName(0), segmentName(1200), FSYNC_MARK_FILE]);
    expectRecords(dir, workload, 3000);
    expect(() => journal(dir, workload, 1200, 1300, 1 << 20, 4)).toThrow(/exists and holds frames/);
    // A process that started a segment and died before its first frame: the next one takes the name over.
    const restarted = tempDir();
    JournalWriter.create({ dir: restarted, design: 'disruptor', symbols: workload.symbols, firstSequence: 0, maxFrameRecords: 8, segmentBytes: 1 << 20 }).close();
    journal(restarted, workload, 0, 500, 1 << 20, 5);
    expectRecords(restarted, workload, 500);
  });

  it('treats a cut, zero-filled or failing last frame as a torn tail, and truncation recovers every frame before it', () => {
    const random = new Prng(99);
    for (let trial = 0; trial < 12; trial++) {
      const dir = tempDir();
      journal(dir, workload, 0, 1000, 1 << 20, trial);
      const segment = join(dir, segmentName(0));
      const whole = readFileSync(segment);
      // Where the last frame starts: scan and remember the last frame's offset and first sequence.
      let last = { offset: 0, firstSequence: 0 };
      readJournal(dir, (f) => (last = { offset: f.offset, firstSequence: f.firstSequence }));
      const damage = trial % 3;
      if (damage === 0) truncateSync(segment, last.offset + 1 + random.below(whole.length - last.offset - 1));
      else if (damage === 1) writeFileSync(segment, Buffer.concat([whole, Buffer.alloc(1 + random.below(4096))]));
      else {
        const flipped = Buffer.from(whole);
        const at = last.offset + 4 + random.below(whole.length - last.offset - 4);
        flipped[at] = flipped[at]! ^ (1 << random.below(8));
        writeFileSync(segment, flipped);
      }
      const scan = readJournal(dir);
      expect(scan.tornTail?.segment).toBe(segment);
      expect(scan.tornTail?.offset).toBe(damage === 1 ? whole.length : last.offset);
      expect(scan.nextSequence).toBe(damage === 1 ? 1000 : last.firstSequence);
      truncateTornTail(scan);
      const again = readJournal(dir);
      expect(again.tornTail).toBeUndefined();
      expect(again.nextSequence).toBe(scan.nextSequence);
      expectRecords(dir, workload, scan.nextSequence);
    }
  });

  it('stops on corruption before the tail, naming the segment, the offset and the field', () => {
    const dir = tempDir();
    journal(dir, workload, 0, 2000, 8 * 1024, 5);
    const segments = readJournal(dir).segments;
    // A bit flipped in a record of the first segment's second frame: not a torn tail, since frames follow it.
    const first = join(dir, segments[0]!);
    const frames: number[] = [];
    readJournal(dir, (f) => {
      if (f.segment === first) frames.push(f.offset);
    });
    const bytes = readFileSync(first);
    const at = frames[1]! + FRAME_HEADER_BYTES + 10;
    bytes[at] = bytes[at]! ^ 0x10;
    writeFileSync(first, bytes);
    expect(() => readJournal(dir)).toThrow(JournalFormatError);
    expect(() => readJournal(dir)).toThrow(new RegExp(`${segments[0]}: byte offset ${frames[1]}: frame field 'CRC'`));

    // A torn frame at the end of a segment that is not the last loses the records after it: corruption too.
    const dir2 = tempDir();
    journal(dir2, workload, 0, 2000, 8 * 1024, 5);
    const firstOf2 = join(dir2, segments[0]!);
    truncateSync(firstOf2, statSync(firstOf2).size - 10);
    expect(() => readJournal(dir2)).toThrow(/not at the end of the last segment/);

    // A segment missing from the middle: a sequence gap.
    const dir3 = tempDir();
    journal(dir3, workload, 0, 2000, 8 * 1024, 5);
    rmSync(join(dir3, segments[1]!));
    expect(() => readJournal(dir3)).toThrow(/previous segment ends at \d+ \(records are missing\)/);
  });
});

describe('npm run journal', () => {
  const CLI = new URL('../journal/cli.ts', import.meta.url).pathname;
  const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  const workload = generateWorkload({ preset: 'balanced', seed: 8, count: 1500 });

  it('info, verify and to-ndjson describe the journal; to-ndjson gives back the commands', () => {
    const dir = tempDir();
    journal(dir, workload, 0, 1500, 8 * 1024, 6);
    const info = run('info', dir, '--json');
    expect(info.status).toBe(0);
    const summary = JSON.parse(info.stdout) as { records: number; nextSequence: number; sessions: { session: number; records: number; lastClientSequence: number }[]; tornTail: unknown; fsyncMark: unknown };
    expect(summary.records).toBe(1500);
    // Closed cleanly: the last fsync covered every record.
    expect(summary.fsyncMark).toMatchObject({ nextSequence: 1500 });
    expect(run('info', dir).stdout).toMatch(/^fsync mark: segment \d{20}\.mbj on disk through byte \d+, every record below sequence 1500 fsynced$/m);
    expect(summary.sessions).toEqual([7, 8, 9].map((session) => ({ session, records: 500, lastClientSequence: 500 })));
    expect(summary.tornTail).toBeNull();
    expect(run('verify', dir).status).toBe(0);
    const ndjson = run('to-ndjson', dir);
    expect(ndjson.status).toBe(0);
    const back = parseNdjson(ndjson.stdout);
    expect(back.diagnostics).toEqual([]);
    expect(back.workload.symbols).toEqual(workload.symbols);
    expect(Buffer.from(back.workload.bytes).equals(Buffer.from(workload.bytes))).toBe(true);
  });

  it('verify names a torn tail and passes, names corruption and fails', () => {
    const dir = tempDir();
    journal(dir, workload, 0, 1500, 1 << 20, 7);
    const segment = join(dir, segmentName(0));
    truncateSync(segment, statSync(segment).size - 3);
    const torn = run('verify', dir);
    expect(torn.status).toBe(0);
    expect(torn.stdout).toMatch(/torn tail: .*00000000000000000000\.mbj from byte offset \d+/);
    const bytes = readFileSync(segment);
    bytes[200] = bytes[200]! ^ 1;
    writeFileSync(segment, bytes);
    const bad = run('verify', dir);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/00000000000000000000\.mbj: byte offset \d+: frame field 'CRC'/);
  });
});

describe('npm run bench:fsync', () => {
  it('measures every batch size it is asked for, within its frame bound, and leaves nothing behind', () => {
    const dir = tempDir();
    const bench = new URL('../bench/fsync.ts', import.meta.url).pathname;
    const result = spawnSync(process.execPath, [bench, '--dir', dir, '--frames', '5', '--batches', '1,8', '--json'], { encoding: 'utf8' });
    expect(result.status, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as { rows: { batch: number; frames: number; p50Us: number; p99Us: number; maxUs: number; durableRecordsPerSecond: number }[] };
    expect(report.rows.map((r) => r.batch)).toEqual([1, 8]);
    for (const row of report.rows) {
      expect(row.frames).toBeGreaterThan(0);
      expect(row.frames).toBeLessThanOrEqual(5);
      expect(row.p50Us).toBeGreaterThan(0);
      expect(row.p99Us).toBeGreaterThanOrEqual(row.p50Us);
      // The exact maximum, against percentiles that HDR reports as the top of their 3-digit bucket.
      expect(row.maxUs).toBeGreaterThanOrEqual(row.p99Us * 0.999);
      expect(row.durableRecordsPerSecond).toBeGreaterThan(0);
    }
    expect(readdirSync(dir)).toEqual([]);
    const bad = spawnSync(process.execPath, [bench, '--batches', '1,x'], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--batches: 'x' is not a positive integer/);
  });
});
