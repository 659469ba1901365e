/**
 * Snapshots and recovery (journal/snapshot.ts, journal/recovery.ts, journal/recover-cli.ts): the snapshot format
 * round trip and its checks, the fallback past a broken snapshot, recovery against the reference engine (journal
 * alone, snapshot + tail, sharded), the session rule, torn tails, corruption, capacity errors, `npm run recover`, and
 * the fsync mark with the power cuts a crash test plays on it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { bookHashOfCores } from '../engines/core-inspect.ts';
import { ReferenceEngine } from '../engines/reference.ts';
import { formatEvent } from '../engines/types.ts';
import { decodeFsyncMark, encodeFsyncMark, FRAME_HEADER_BYTES, FSYNC_MARK_BYTES, FSYNC_MARK_FILE, JournalFormatError, sealFrame, segmentName } from '../journal/format.ts';
import { POWER_CUTS, powerCut } from '../journal/power-cut.ts';
import { readJournal } from '../journal/reader.ts';
import { recover, RecoveryCapacityError, type RecoveredJournal } from '../journal/recovery.ts';
import {
  copyCoreRegion, newestValidSnapshot, readSnapshot, snapshotDirectory, snapshotName, SnapshotFormatError, writeSnapshot,
} from '../journal/snapshot.ts';
import { JournalWriter } from '../journal/writer.ts';
import { generateWorkload } from '../workloads/generator.ts';
import { Prng } from '../workloads/prng.ts';
import { OFF_SYM, workloadFromCommands, type Workload } from '../workloads/workload.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'matchbench-recovery-'));
  dirs.push(dir);
  return dir;
}

/** One journal record: which workload command, and who sent it. */
interface Entry {
  readonly index: number;
  readonly session: number;
  readonly clientSequence: number;
}

/** Command i of a workload as three sessions taking turns send it, each counting from 1. */
const sentBy = (i: number): Entry => ({ index: i, session: 7 + (i % 3), clientSequence: Math.floor(i / 3) + 1 });
const range = (from: number, to: number): Entry[] => Array.from({ length: to - from }, (_, k) => sentBy(from + k));

/** Journals `entries` as sequence firstSequence, firstSequence + 1, … in frames of pseudo-random sizes (seeded). */
function writeJournal(dir: string, workload: Workload, entries: readonly Entry[], segmentBytes = 1 << 20, firstSequence = 0, seed = 1): void {
  const writer = JournalWriter.create({ dir, design: 'disruptor', symbols: workload.symbols, firstSequence, maxFrameRecords: 64, segmentBytes });
  const random = new Prng(seed);
  for (let i = 0; i < entries.length;) {
    const count = Math.min(entries.length - i, 1 + random.below(64));
    for (let k = 0; k < count; k++) {
      const entry = entries[i + k]!;
      writer.putRecord(k, workload.words, entry.index, entry.session, entry.clientSequence);
    }
    writer.writeFrame(count, i % 3 === 0);
    i += count;
  }
  writer.close();
}

/** The reference engine over workload commands `indexes`, each as its position's sequence number. */
function reference(workload: Workload, indexes: readonly number[]): { bookHash: string; events: string[] } {
  const engine = new ReferenceEngine();
  const events: string[] = [];
  indexes.forEach((index, seq) => engine.process(workload.command(index), seq, (event) => events.push(formatEvent(event))));
  return { bookHash: engine.bookHash(), events };
}

const indexesOf = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, k) => from + k);

/** Recovers `dir` (a single journal) and returns its one journal's result plus the events, formatted. */
function recoverOne(dir: string, options: Parameters<typeof recover>[1] = {}): { journal: RecoveredJournal; events: string[] } {
  const events: string[] = [];
  const recovery = recover(dir, { ...options, onEvent: (event) => events.push(formatEvent(event)) });
  expect(recovery.sharded).toBe(false);
  expect(recovery.shards).toHaveLength(1);
  return { journal: recovery.shards[0]!, events };
}

/** Writes a snapshot of `dir` at `sequence`, made by recovering the journal's first `sequence` records elsewhere. */
async function snapshotAt(dir: string, workload: Workload, entries: readonly Entry[], sequence: number): Promise<string> {
  const prefix = tempDir();
  writeJournal(prefix, workload, entries.slice(0, sequence));
  const { journal } = recoverOne(prefix);
  return writeSnapshot(dir, { design: 'disruptor', symbols: workload.symbols, sequence, sessions: journal.sessions, core: copyCoreRegion(journal.core) });
}

const workload = generateWorkload({ preset: 'balanced', seed: 11, count: 3000 });

describe('snapshot file', () => {
  it('is written under its sequence, atomically, and reads back every field and the core byte for byte', async () => {
    const dir = tempDir();
    const entries = range(0, 3000);
    writeJournal(dir, workload, entries.slice(0, 1200));
    const { journal } = recoverOne(dir);
    const core = copyCoreRegion(journal.core);
    const file = await writeSnapshot(dir, { design: 'disruptor', symbols: workload.symbols, sequence: 1200, sessions: journal.sessions, core });
    expect(file).toBe(join(dir, 'snapshots', '00000000000000001200.mbs'));
    expect(readdirSync(snapshotDirectory(dir))).toEqual([snapshotName(1200)]);
    const back = readSnapshot(file);
    expect(back.design).toBe('disruptor');
    expect(back.symbols).toEqual(workload.symbols);
    expect(back.sequence).toBe(1200);
    expect([...back.sessions]).toEqual([[7, 400], [8, 400], [9, 400]]);
    expect(back.sessions).toEqual(journal.sessions);
    expect(Buffer.from(copyCoreRegion(back.core)).equals(Buffer.from(core))).toBe(true);
    expect(back.core.capacities).toEqual(journal.core.capacities);
    expect(bookHashOfCores([back.core], workload.symbols)).toBe(reference(workload, indexesOf(0, 1200)).bookHash);
    expect(back.fileBytes).toBe(statSync(file).size);

    // The same through a staging buffer the snapshot thread shares, larger than the core: the same file.
    const staging = new Uint8Array(new SharedArrayBuffer(core.length + 64));
    const staged = copyCoreRegion(journal.core, staging);
    expect(staged.length).toBe(core.length);
    const again = tempDir();
    const stagedFile = await writeSnapshot(again, { design: 'disruptor', symbols: workload.symbols, sequence: 1200, sessions: journal.sessions, core: staged });
    expect(readFileSync(stagedFile).equals(readFileSync(file))).toBe(true);
    expect(() => copyCoreRegion(journal.core, new Uint8Array(16))).toThrow(/a staging buffer of 16 bytes cannot hold the core's \d+/);
  });

  it('names the file, the byte offset and the field of whatever is wrong', async () => {
    const dir = tempDir();
    const file = await snapshotAt(dir, workload, range(0, 3000), 500);
    const whole = readFileSync(file);
    const broken = (change: (bytes: Buffer) => Buffer): string => {
      writeFileSync(file, change(Buffer.from(whole)));
      try {
        readSnapshot(file);
      } catch (error) {
        expect(error).toBeInstanceOf(SnapshotFormatError);
        return (error as Error).message;
      }
      throw new Error('the broken snapshot was accepted');
    };
    expect(broken((b) => b.subarray(0, b.length - 10))).toMatch(new RegExp(`^${file}: byte offset 24: field 'core length': .* \\(cut short\\)$`));
    expect(broken((b) => Buffer.concat([b, Buffer.alloc(3)]))).toMatch(/byte offset 24: field 'core length': .* \(bytes after the CRC\)$/);
    expect(broken((b) => {
      b[whole.length - 100] = b[whole.length - 100]! ^ 0x04;
      return b;
    })).toMatch(new RegExp(`^${file}: byte offset ${whole.length - 4}: field 'CRC': stored 0x[0-9a-f]{8}, the file's bytes give 0x[0-9a-f]{8} \\(the snapshot is corrupt\\)$`));
    expect(broken((b) => {
      b[0] = 0x58;
      return b;
    })).toMatch(/byte offset 0: field 'magic'/);
    expect(broken((b) => {
      b[4] = 2;
      return b;
    })).toMatch(/byte offset 4: field 'version': 2, this code reads version 1/);
    expect(broken((b) => b.subarray(0, 20))).toMatch(/byte offset 0: snapshot header: the file is 20 bytes/);
  });

  it('newestValidSnapshot falls back past a broken newer one and reports it, ignoring leftovers of a crash', async () => {
    const dir = tempDir();
    const entries = range(0, 3000);
    writeJournal(dir, workload, entries);
    await snapshotAt(dir, workload, entries, 1000);
    const newer = await snapshotAt(dir, workload, entries, 2000);
    const bytes = readFileSync(newer);
    bytes[bytes.length - 50] = bytes[bytes.length - 50]! ^ 0x80;
    writeFileSync(newer, bytes);
    // What a crash while writing a third one leaves: a partial file, never under the real name.
    writeFileSync(join(snapshotDirectory(dir), `${snapshotName(2500)}.partial`), bytes.subarray(0, 100));
    const found = newestValidSnapshot(dir);
    expect(found.snapshot?.sequence).toBe(1000);
    expect(found.rejected).toHaveLength(1);
    expect(found.rejected[0]!.file).toBe(newer);
    expect(found.rejected[0]!.reason).toMatch(/00000000000000002000\.mbs: byte offset \d+: field 'CRC'/);

    const { journal } = recoverOne(dir);
    expect(journal.snapshot?.sequence).toBe(1000);
    expect(journal.snapshotsRejected).toEqual(found.rejected);
    expect(journal.commandsReplayed).toBe(2000);
    expect(journal.bookHash).toBe(reference(workload, indexesOf(0, 3000)).bookHash);
    expect(newestValidSnapshot(tempDir())).toEqual({ snapshot: undefined, rejected: [] });
  });
});

describe('recover', () => {
  it('from the journal alone and from a snapshot + the journal after it gives the reference engine\'s book and events', async () => {
    const dir = tempDir();
    const entries = range(0, 3000);
    // Small segments, so that the snapshot leaves whole segments unread.
    writeJournal(dir, workload, entries, 16 * 1024);
    const expected = reference(workload, indexesOf(0, 3000));

    const alone = recoverOne(dir);
    expect(alone.journal.snapshot).toBeUndefined();
    expect(alone.journal.commandsReplayed).toBe(3000);
    expect(alone.journal.duplicatesSkipped).toBe(0);
    expect(alone.journal.fromSequence).toBe(0);
    expect(alone.journal.nextSequence).toBe(3000);
    expect(alone.journal.bookHash).toBe(expected.bookHash);
    expect(alone.events).toEqual(expected.events);
    expect(alone.journal.segmentsRead).toBe(alone.journal.segments);
    expect([...alone.journal.sessions]).toEqual([[7, 1000], [8, 1000], [9, 1000]]);
    expect(alone.journal.timings.replayCommandsPerSecond).toBeGreaterThan(0);

    await snapshotAt(dir, workload, entries, 1700);
    const tail = recoverOne(dir);
    expect(tail.journal.snapshot?.sequence).toBe(1700);
    expect(tail.journal.fromSequence).toBe(1700);
    expect(tail.journal.commandsReplayed).toBe(1300);
    // Records before the snapshot's sequence in the first segment read are passed over, not left to the session rule.
    expect(tail.journal.duplicatesSkipped).toBe(0);
    expect(tail.journal.nextSequence).toBe(3000);
    expect(tail.journal.bookHash).toBe(expected.bookHash);
    // Only the commands after the snapshot produce events, numbered by their journal sequence.
    const firstAfter = expected.events.findIndex((line) => (JSON.parse(line) as { seq: number }).seq >= 1700);
    expect(tail.events).toEqual(expected.events.slice(firstAfter));
    expect(tail.journal.segmentsRead).toBeLessThan(tail.journal.segments);
    expect(tail.journal.sessions).toEqual(alone.journal.sessions);

    const ignoring = recoverOne(dir, { ignoreSnapshots: true });
    expect(ignoring.journal.snapshot).toBeUndefined();
    expect(ignoring.journal.commandsReplayed).toBe(3000);
    expect(ignoring.journal.bookHash).toBe(expected.bookHash);
  });

  it('skips a retried command by the session rule, also one the snapshot covers, and never skips session 0', async () => {
    const dir = tempDir();
    // Commands 0…1999, but after 1000 the last 100 of them come again (clients retrying after a crash), and then
    // two session-0 commands, both with client sequence 1.
    const entries = [...range(0, 1000), ...range(900, 1000), ...range(1000, 2000), { index: 2000, session: 0, clientSequence: 1 }, { index: 2001, session: 0, clientSequence: 1 }];
    writeJournal(dir, workload, entries);
    const expected = reference(workload, indexesOf(0, 2002));
    const { journal } = recoverOne(dir);
    expect(journal.duplicatesSkipped).toBe(100);
    expect(journal.commandsReplayed).toBe(2002);
    expect(journal.nextSequence).toBe(2102);
    expect(journal.bookHash).toBe(expected.bookHash);
    expect(journal.sessions.has(0)).toBe(false);
    expect(journal.sessions.get(7)).toBe(Math.floor(1998 / 3) + 1);

    // With a snapshot taken before the retries, only its session table can tell them apart.
    await snapshotAt(dir, workload, entries, 1000);
    const tail = recoverOne(dir);
    expect(tail.journal.snapshot?.sequence).toBe(1000);
    expect(tail.journal.duplicatesSkipped).toBe(100);
    expect(tail.journal.commandsReplayed).toBe(1002);
    expect(tail.journal.bookHash).toBe(expected.bookHash);

    // And without the rule's table (a fresh engine fed the same journal) the hash would differ: the test can fail.
    expect(reference(workload, entries.map((e) => e.index)).bookHash).not.toBe(expected.bookHash);
  });

  it('replays clock commands (no symbol, session 0) and keeps engine time in the snapshot: a clock behind it stays rejected', async () => {
    const T = 1_764_700_000_000_000;
    const commands = [...workload.commands()].slice(0, 600);
    // A clock every 50 commands, each 1 ms later; at 400 one that goes back 2 ms (behind every time since 350).
    const withClocks = commands.flatMap((c, i) => (i % 50 === 0 ? [{ op: 'clock', ts: T + (i / 50) * 1000 } as const, c] : [c]));
    withClocks.splice(420, 0, { op: 'clock', ts: T + 5_000 });
    const clocked = workloadFromCommands(withClocks, { source: 'test', case: 'clocks' });
    const entries: Entry[] = Array.from({ length: clocked.count }, (_, i) => ({ index: i, session: 0, clientSequence: i + 1 }));
    const dir = tempDir();
    writeJournal(dir, clocked, entries);
    const expected = reference(clocked, indexesOf(0, clocked.count));
    expect(expected.events.filter((line) => line.includes('"sym":""'))).toEqual([`{"seq":420,"ev":"rejected","sym":"","id":0,"reason":"invalid_command"}`]);
    const alone = recoverOne(dir);
    expect(alone.events).toEqual(expected.events);
    expect(alone.journal.bookHash).toBe(expected.bookHash);
    // A snapshot at 410 (time T + 8 ms) must carry the time: recovered from it, the clock at 420 is still behind.
    await snapshotAt(dir, clocked, entries, 410);
    const tail = recoverOne(dir);
    expect(tail.journal.snapshot?.sequence).toBe(410);
    expect(tail.events).toContain(`{"seq":420,"ev":"rejected","sym":"","id":0,"reason":"invalid_command"}`);
  });

  it('reports a torn tail and leaves the journal alone, or truncates it when asked', () => {
    const dir = tempDir();
    writeJournal(dir, workload, range(0, 3000));
    const segment = join(dir, segmentName(0));
    let lastFrame = { offset: 0, firstSequence: 0 };
    readJournal(dir, (frame) => (lastFrame = { offset: frame.offset, firstSequence: frame.firstSequence }));
    const cut = statSync(segment).size - 7;
    truncateSync(segment, cut);
    const torn = readFileSync(segment);

    const reported = recoverOne(dir);
    expect(reported.journal.tornTail).toMatchObject({ segment, offset: lastFrame.offset, fileBytes: cut });
    expect(reported.journal.tornTailTruncated).toBe(false);
    expect(reported.journal.nextSequence).toBe(lastFrame.firstSequence);
    expect(reported.journal.commandsReplayed).toBe(lastFrame.firstSequence);
    expect(reported.journal.bookHash).toBe(reference(workload, indexesOf(0, lastFrame.firstSequence)).bookHash);
    expect(readFileSync(segment).equals(torn)).toBe(true);

    const truncated = recoverOne(dir, { truncateTornTail: true });
    expect(truncated.journal.tornTailTruncated).toBe(true);
    expect(truncated.journal.bookHash).toBe(reported.journal.bookHash);
    expect(statSync(segment).size).toBe(lastFrame.offset);
    expect(readJournal(dir).tornTail).toBeUndefined();
    expect(recoverOne(dir).journal.tornTail).toBeUndefined();
  });

  it('throws on corruption, naming the segment, the byte offset and the field', () => {
    const dir = tempDir();
    writeJournal(dir, workload, range(0, 3000), 16 * 1024);
    const first = join(dir, segmentName(0));
    const frames: { offset: number; firstSequence: number; count: number }[] = [];
    readJournal(dir, (f) => {
      if (f.segment === first) frames.push({ offset: f.offset, firstSequence: f.firstSequence, count: f.count });
    });
    const original = readFileSync(first);

    // A bit flipped inside a record of the second frame: frames follow it, so it is no torn tail.
    const flipped = Buffer.from(original);
    const at = frames[1]!.offset + FRAME_HEADER_BYTES + 12;
    flipped[at] = flipped[at]! ^ 0x01;
    writeFileSync(first, flipped);
    expect(() => recover(dir)).toThrow(JournalFormatError);
    expect(() => recover(dir)).toThrow(new RegExp(`${segmentName(0)}: byte offset ${frames[1]!.offset}: frame field 'CRC'`));

    // A record whose CRC is right but whose symbol index is outside the table: the field recovery relies on.
    const resealed = Buffer.from(original);
    const record = frames[2]!.offset + FRAME_HEADER_BYTES;
    resealed.writeUInt32LE(workload.symbols.length + 5, record + OFF_SYM);
    sealFrame(resealed, frames[2]!.offset, frames[2]!.count, frames[2]!.firstSequence, 0);
    writeFileSync(first, resealed);
    expect(() => recover(dir)).toThrow(new RegExp(`${segmentName(0)}: byte offset ${record}: record field 'sym': symbol index ${workload.symbols.length + 5} is out of range`));
    writeFileSync(first, original);
    expect(recover(dir).commandsReplayed).toBe(3000);

    // A segment too short to hold a header.
    const stub = tempDir();
    writeFileSync(join(stub, segmentName(0)), Buffer.from('MBJL\x01\x00'));
    expect(() => recover(stub)).toThrow(new RegExp(`${segmentName(0)}: byte offset 0: segment header: the file is 6 bytes, shorter than the smallest header`));
  });

  it('refuses a journal that does not join its snapshot', async () => {
    const entries = range(0, 3000);
    // The journal starts after the snapshot's sequence: records in between are missing.
    const gap = tempDir();
    writeJournal(gap, workload, entries.slice(1500), 1 << 20, 1500);
    await snapshotAt(gap, workload, entries, 1000);
    expect(() => recover(gap)).toThrow(/the journal starts at sequence 1500, after snapshot .*00000000000000001000\.mbs, which covers sequence < 1000: records \[1000, 1500\) are missing/);
    // Without any snapshot, a journal must start at 0.
    expect(() => recover(gap, { ignoreSnapshots: true })).toThrow(/the journal starts at sequence 1500 and no valid snapshot covers \[0, 1500\)/);
    // The journal ends before the snapshot's sequence: the snapshot holds records the journal lost.
    const short = tempDir();
    writeJournal(short, workload, entries.slice(0, 1000));
    await snapshotAt(short, workload, entries, 2000);
    expect(() => recover(short)).toThrow(/the journal ends at sequence 1000, before snapshot .*, which covers sequence < 2000: records \[1000, 2000\) are in the snapshot and not in the journal/);
  });

  it('recovers a sharded journal shard by shard, each into its own core, together the reference book', () => {
    const root = tempDir();
    const shards = 2;
    for (let k = 0; k < shards; k++) {
      const own = indexesOf(0, 3000).filter((i) => workload.symIndex(i) % shards === k).map(sentBy);
      writeJournal(join(root, `shard-${k}`), workload, own, 16 * 1024, 0, k + 1);
    }
    const events: Array<{ shard: number; seq: number }> = [];
    const recovery = recover(root, { onEvent: (event, shard) => events.push({ shard, seq: event.seq }) });
    expect(recovery.sharded).toBe(true);
    expect(recovery.shards.map((s) => s.dir)).toEqual([join(root, 'shard-0'), join(root, 'shard-1')]);
    expect(recovery.commandsReplayed).toBe(3000);
    expect(recovery.bookHash).toBe(reference(workload, indexesOf(0, 3000)).bookHash);
    expect(recovery.shards[0]!.core).not.toBe(recovery.shards[1]!.core);
    recovery.shards.forEach((shard, k) => {
      expect(shard.commandsReplayed).toBe(indexesOf(0, 3000).filter((i) => workload.symIndex(i) % shards === k).length);
      for (let sym = 0; sym < workload.symbols.length; sym++) if (sym % shards !== k) expect(shard.core.levelCount(sym)).toBe(0);
    });
    // Each shard numbers its own sequence.
    expect(events.filter((e) => e.shard === 1).at(-1)?.seq).toBe(recovery.shards[1]!.nextSequence - 1);
    rmSync(join(root, 'shard-0'), { recursive: true });
    expect(() => recover(root)).toThrow(/shard directory shard-0 is missing/);
  });

  it('names the capacity that ran out and how to raise it', () => {
    const dir = tempDir();
    writeJournal(dir, workload, range(0, 3000));
    expect(() => recover(dir, { capacities: { maxOrders: 16 } })).toThrow(RecoveryCapacityError);
    expect(() => recover(dir, { capacities: { maxOrders: 16 } })).toThrow(/order pool full \(maxOrders = 16\).*The core has maxOrders = 16; raise it: --max-orders 32 \(recover\(\) option capacities\.maxOrders\)/);
  });
});

describe('in-place journal reading', () => {
  // Segments bigger than the reader's 4 MiB window: frames straddle its refills, one frame is bigger than it.
  const big = generateWorkload({ preset: 'cancel-heavy', seed: 5, count: 90_000 });

  it('reads segments larger than its window, frames across refills and one larger than the window', () => {
    const expected = reference(big, indexesOf(0, big.count)).bookHash;
    const dir = tempDir();
    writeJournal(dir, big, range(0, big.count), 64 << 20);
    expect(statSync(join(dir, segmentName(0))).size).toBeGreaterThan(4 << 20);
    expect(recover(dir).bookHash).toBe(expected);
    expect(readJournal(dir).records).toBe(big.count);

    const huge = tempDir();
    const writer = JournalWriter.create({ dir: huge, design: 'disruptor', symbols: big.symbols, firstSequence: 0, maxFrameRecords: big.count, segmentBytes: 64 << 20 });
    for (let i = 0; i < big.count; i++) writer.putRecord(i, big.words, i, 0, 1);
    writer.writeFrame(big.count, true);
    writer.close();
    const one = recover(huge);
    expect(one.commandsReplayed).toBe(big.count);
    expect(one.bookHash).toBe(expected);
  });

  it('tells a torn tail longer than its window from corruption in a later window', () => {
    const dir = tempDir();
    writeJournal(dir, big, range(0, big.count), 64 << 20);
    const segment = join(dir, segmentName(0));
    const whole = readFileSync(segment);
    // A file extended by more zero bytes than one window holds: a torn tail, every record before it kept.
    writeFileSync(segment, Buffer.concat([whole, Buffer.alloc(5 << 20)]));
    const zeroed = recover(dir).shards[0]!;
    expect(zeroed.tornTail).toMatchObject({ offset: whole.length, reason: `${5 << 20} zero bytes where a frame should start` });
    expect(zeroed.nextSequence).toBe(big.count);
    // The same zeros with one byte set far beyond the first window: no torn tail but corruption.
    const dirty = Buffer.concat([whole, Buffer.alloc(5 << 20)]);
    dirty[dirty.length - 1] = 1;
    writeFileSync(segment, dirty);
    expect(() => recover(dir)).toThrow(new RegExp(`${segmentName(0)}: byte offset ${whole.length}: frame field 'length': 0, not a positive multiple of 56`));
    // A bit flipped in a frame past the first window: its CRC names the frame's offset in the file.
    writeFileSync(segment, whole);
    let frameAt = 0;
    readJournal(dir, (f) => {
      if (frameAt === 0 && f.offset > (4 << 20)) frameAt = f.offset;
    });
    expect(frameAt).toBeGreaterThan(0);
    const flipped = Buffer.from(whole);
    flipped[frameAt + FRAME_HEADER_BYTES + 3] = flipped[frameAt + FRAME_HEADER_BYTES + 3]! ^ 0x20;
    writeFileSync(segment, flipped);
    expect(() => recover(dir)).toThrow(new RegExp(`${segmentName(0)}: byte offset ${frameAt}: frame field 'CRC'`));
  });
});

describe('npm run recover', () => {
  const CLI = new URL('../journal/recover-cli.ts', import.meta.url).pathname;
  const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });

  it('prints what it replayed, the book hash, the time and the speed; --json and --events say the same', async () => {
    const dir = tempDir();
    const entries = range(0, 3000);
    writeJournal(dir, workload, entries);
    await snapshotAt(dir, workload, entries, 1000);
    const expected = reference(workload, indexesOf(0, 3000));

    const text = run('--dir', dir);
    expect(text.stderr).toBe('');
    expect(text.status).toBe(0);
    expect(text.stdout).toContain(`recovered ${dir}: design disruptor`);
    expect(text.stdout).toContain(`snapshot: ${join(dir, 'snapshots', snapshotName(1000))} (covers sequence < 1000`);
    expect(text.stdout).toContain('replayed 2000 commands from sequence 1000, 0 duplicates skipped (session rule); next sequence 3000');
    expect(text.stdout).toContain('sessions: 3\n  session 7: last client sequence 1000\n');
    expect(text.stdout).toContain('torn tail: none');
    expect(text.stdout).toContain(`book hash: ${expected.bookHash}`);
    expect(text.stdout).toMatch(/time: [\d.]+ ms \(snapshot [\d.]+ ms, replay [\d.]+ ms, book hash [\d.]+ ms\); replay [\d.]+ M commands\/s \([\d.]+ M per CPU-second\)/);

    const out = join(dir, 'events.ndjson');
    const json = run('--dir', dir, '--json', '--ignore-snapshots', '--events', out);
    expect(json.status).toBe(0);
    const summary = JSON.parse(json.stdout) as { commandsReplayed: number; bookHash: string; events: { count: number; files: string[] }; shards: { snapshot: unknown; nextSequence: number; sessions: unknown[] }[]; timings: { replayCommandsPerSecond: number } };
    expect(summary.commandsReplayed).toBe(3000);
    expect(summary.bookHash).toBe(expected.bookHash);
    expect(summary.shards[0]!.snapshot).toBeNull();
    expect(summary.shards[0]!.nextSequence).toBe(3000);
    expect(summary.shards[0]!.sessions).toEqual([7, 8, 9].map((session) => ({ session, lastClientSequence: 1000 })));
    expect(summary.timings.replayCommandsPerSecond).toBeGreaterThan(0);
    expect(summary.events).toEqual({ count: expected.events.length, files: [out] });
    expect(readFileSync(out, 'utf8')).toBe(`${expected.events.join('\n')}\n`);
  });

  it('changes the journal only with --truncate-torn-tail, and reports errors like every matchbench CLI', () => {
    const dir = tempDir();
    writeJournal(dir, workload, range(0, 3000));
    const segment = join(dir, segmentName(0));
    truncateSync(segment, statSync(segment).size - 5);
    const torn = readFileSync(segment);
    const reported = run('--dir', dir);
    expect(reported.status).toBe(0);
    expect(reported.stdout).toMatch(/torn tail: .*00000000000000000000\.mbj from byte offset \d+ of \d+: .* \(reported only; --truncate-torn-tail cuts it\)/);
    expect(readFileSync(segment).equals(torn)).toBe(true);
    expect(existsSync(snapshotDirectory(dir))).toBe(false);
    const truncated = run('--dir', dir, '--truncate-torn-tail');
    expect(truncated.status).toBe(0);
    expect(truncated.stdout).toMatch(/torn tail: .* \(truncated\)/);
    expect(statSync(segment).size).toBeLessThan(torn.length);
    expect(run('--dir', dir).stdout).toContain('torn tail: none');

    const usage = run('--events', 'x.ndjson');
    expect(usage.status).toBe(2);
    expect(usage.stderr).toMatch(/^error: missing --dir DIR .*\nRun 'npm run recover -- --help' for usage\.\n$/);
    expect(run('--dir', dir, '--max-orders', 'lots').stderr).toMatch(/--max-orders: expected an integer >= 1, got 'lots'/);
    const bytes = readFileSync(segment);
    bytes[200] = bytes[200]! ^ 1;
    writeFileSync(segment, bytes);
    const corrupt = run('--dir', dir);
    expect(corrupt.status).toBe(1);
    expect(corrupt.stderr).toMatch(/^error: .*00000000000000000000\.mbj: byte offset \d+: frame field 'CRC'/);
  });
});

describe('fsync mark and power cuts (journal/power-cut.ts)', () => {
  /** Writes frames of random sizes, each fsynced or not (seeded), and returns how far the disk is known to hold. */
  function writeUnclosed(dir: string, seed: number): { durableThrough: number; written: number } {
    const writer = JournalWriter.create({ dir, design: 'disruptor', symbols: workload.symbols, firstSequence: 0, maxFrameRecords: 16, segmentBytes: 8192 });
    const random = new Prng(seed);
    let durableThrough = 0;
    let sequence = 0;
    for (let f = 0; f < 60; f++) {
      const count = 1 + random.below(16);
      for (let k = 0; k < count; k++) {
        const entry = sentBy(sequence + k);
        writer.putRecord(k, workload.words, entry.index, entry.session, entry.clientSequence);
      }
      const segments = writer.stats.segments;
      // The last frames are never fsynced: what a kill -9 leaves in the page cache beyond the last fsync.
      const sync = f < 57 && random.chance(0.5);
      writer.writeFrame(count, sync);
      // A roll fsyncs the segment it leaves: everything before this frame.
      if (writer.stats.segments > segments) durableThrough = Math.max(durableThrough, sequence);
      sequence += count;
      if (sync) durableThrough = sequence;
    }
    // No close: the process was killed.
    return { durableThrough, written: sequence };
  }

  it('the mark covers what was fsynced; each kind of cut leaves exactly that, the torn and flipped frame a torn tail recovery cuts off', () => {
    const made = new Set<string>();
    for (const kind of POWER_CUTS) {
      for (const seed of [1, 2, 3, 4]) {
        const dir = tempDir();
        const { durableThrough, written } = writeUnclosed(dir, seed);
        const mark = decodeFsyncMark('fsynced', readFileSync(join(dir, FSYNC_MARK_FILE)));
        expect(mark.nextSequence, `seed ${seed}`).toBe(durableThrough);
        expect(readJournal(dir).nextSequence).toBe(written);
        const outcome = powerCut(dir, kind, new Prng(seed));
        made.add(outcome.kind);
        expect(outcome.bytesLost).toBeGreaterThan(0);
        const { journal } = recoverOne(dir, { truncateTornTail: true });
        expect(journal.nextSequence, `${kind} seed ${seed}: ${outcome.description}`).toBe(durableThrough);
        expect(journal.bookHash).toBe(reference(workload, indexesOf(0, durableThrough)).bookHash);
        if (outcome.kind === 'cut') expect(journal.tornTail).toBeUndefined();
        else expect(journal.tornTail, outcome.description).toMatchObject({ segment: join(dir, segmentName(mark.segment)), offset: mark.durableLength });
      }
    }
    expect([...made].sort()).toStrictEqual([...POWER_CUTS].sort());
  });

  it('a mark that cannot be read names the file, the byte offset and the field', () => {
    const good = new Uint8Array(FSYNC_MARK_BYTES);
    encodeFsyncMark(good, { segment: 0, durableLength: 64, nextSequence: 3 });
    expect(decodeFsyncMark('m', good)).toStrictEqual({ segment: 0, durableLength: 64, nextSequence: 3 });
    expect(() => decodeFsyncMark('d/fsynced', good.subarray(0, 20))).toThrow(/^d\/fsynced: byte offset 0: fsync mark: the file is 20 bytes, a mark is 32$/);
    const version = good.slice();
    version[4] = 9;
    expect(() => decodeFsyncMark('d/fsynced', version)).toThrow(/^d\/fsynced: byte offset 4: field 'version': 9/);
    const magic = good.slice();
    magic[0] = 0;
    expect(() => decodeFsyncMark('d/fsynced', magic)).toThrow(/byte offset 0: field 'magic'/);
  });
});
