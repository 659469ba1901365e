/**
 * Hot standby and failover (server/replication-protocol.ts, server/replicator*.ts, server/standby.ts,
 * journal/epoch.ts): the replication protocol's frames and the errors its reader names; the epoch file; and, end to
 * end with real server processes on 127.0.0.1, a standby that holds the primary's journal exactly (sync) and catches
 * up after being away (async); a deliberately corrupted standby whose book-hash alarm names the sequence and which
 * then refuses to promote; a returning primary fenced by the promoted standby's higher epoch; every design through
 * `compare`'s runs with a standby (async and sync: equivalent, the standby's journal the primary's, byte for byte);
 * a standby whose own stall is not taken for the primary's silence; a paused primary fenced on waking; and a short
 * `failover-test` run (kill -9 the primary twice and pause it once under load: 0 lost, 0 duplicated). Nothing here
 * asserts a time.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { DESIGNS, resolveParams } from '../engines/designs.ts';
import { checkEquivalence } from '../harness/equivalence.ts';
import { checkStandbyJournal } from '../harness/journal-check.ts';
import { preparePreset } from '../harness/prepared-workload.ts';
import { ReferenceTraceCache } from '../harness/reference-trace.ts';
import { runOnce } from '../harness/run.ts';
import { splitWorkload } from '../harness/split.ts';
import { DEFAULT_GROUP_COMMANDS, DEFAULT_GROUP_WAIT_US } from '../journal/journal-mode.ts';
import { JournalWriter } from '../journal/writer.ts';
import { decodeEpoch, encodeEpoch, readEpoch, writeEpoch } from '../journal/epoch.ts';
import { JOURNAL_RECORD_BYTES } from '../journal/format.ts';
import { journalRecordBytes as journalBytes } from '../journal/reader.ts';
import { recover } from '../journal/recovery.ts';
import { freePort } from '../server/free-port.ts';
import {
  encodeAck, encodeCheckpoint, encodeHeartbeat, encodeHello, encodeReplicationError, encodeWelcome, R_ACK, R_CHECKPOINT, R_ERROR, R_HEARTBEAT, R_HELLO,
  R_NONE, R_RECORDS, R_WELCOME, RECORDS_OFF_RECORDS, recordsFrameBytes, ReplicationError, ReplicationReader, RERR_BAD_CRC, RERR_BAD_SEQUENCE,
  RERR_BAD_TYPE, RERR_BAD_VERSION, RERR_OUT_OF_ORDER, sealRecords,
} from '../server/replication-protocol.ts';
import { waitForLine } from '../server/serve-process.ts';
import { STANDBY_SKIP_ENV, STANDBY_STALL_ENV } from '../server/standby.ts';
import { generateWorkload } from '../workloads/generator.ts';
import { referenceLines, runSession, startServer, startStandby, stopAll, stopServer } from './support/engine-server.ts';

const root = mkdtempSync(join(tmpdir(), 'matchbench-replication-'));
let dirs = 0;
const freshDir = (): string => join(root, `d${dirs++}`);
afterEach(() => stopAll());
afterAll(() => rmSync(root, { recursive: true, force: true }));

const hello = { journals: 1, hashInterval: 100, epoch: 3, heartbeatMs: 50, setupCrc: 0x1234, starts: [40] };

function recordsFrame(first: number, count: number): Uint8Array {
  const frame = new Uint8Array(recordsFrameBytes(count));
  for (let i = 0; i < count * JOURNAL_RECORD_BYTES; i++) frame[RECORDS_OFF_RECORDS + i] = (i * 7) & 0xff;
  sealRecords(frame, 0, 0, first, count);
  return frame;
}

function errorOf(reader: ReplicationReader, bytes: Uint8Array): ReplicationError {
  try {
    reader.push(bytes);
    while (reader.next() !== R_NONE);
  } catch (error) {
    if (error instanceof ReplicationError) return error;
    throw error;
  }
  throw new Error('no error');
}

describe('replication protocol (MBRP)', () => {
  it('frames round-trip through the readers at both ends, split at every byte', () => {
    const toStandby = [encodeHello(hello), recordsFrame(40, 3), encodeCheckpoint(0, 100, 'ab'.repeat(32)), encodeHeartbeat(1, [43]), recordsFrame(43, 1)];
    const stream = Buffer.concat(toStandby);
    for (const split of [1, 7, 8, 33, stream.length]) {
      const reader = ReplicationReader.atStandby('test');
      const types: number[] = [];
      for (let at = 0; at < stream.length; at += split) {
        reader.push(stream.subarray(at, at + split));
        for (let t = reader.next(); t !== R_NONE; t = reader.next()) {
          types.push(t);
          if (t === R_HELLO) {
            expect(reader.hello()).toEqual(hello);
            reader.expect(0, 40);
          }
          if (t === R_RECORDS && types.length === 2) expect([reader.recordsFirstSequence(), reader.recordsCount(), reader.records().length]).toEqual([40, 3, 3 * JOURNAL_RECORD_BYTES]);
          if (t === R_CHECKPOINT) expect([reader.checkpointSequence(), reader.checkpointHash()]).toEqual([100, 'ab'.repeat(32)]);
          if (t === R_HEARTBEAT) expect([reader.heartbeatFlags(), reader.nextSequences()]).toEqual([1, [43]]);
        }
      }
      expect(types).toEqual([R_HELLO, R_RECORDS, R_CHECKPOINT, R_HEARTBEAT, R_RECORDS]);
    }
    const ack = new Uint8Array(24);
    encodeAck(ack, 0, 0, 44);
    const primary = ReplicationReader.atPrimary('test', 1);
    primary.push(Buffer.concat([encodeWelcome([40]), ack, encodeReplicationError(18, 'fenced, epoch 4')]));
    expect(primary.next()).toBe(R_WELCOME);
    expect(primary.nextSequences()).toEqual([40]);
    expect(primary.next()).toBe(R_ACK);
    expect(primary.ackNext()).toBe(44);
    expect(primary.next()).toBe(R_ERROR);
    expect([primary.errorCode(), primary.errorMessage()]).toEqual([18, 'fenced, epoch 4']);
  });

  it('a broken rule is an error naming the connection, frame, stream offset and field', () => {
    const greeted = (): ReplicationReader => {
      const r = ReplicationReader.atStandby('127.0.0.1:5000');
      r.push(encodeHello(hello));
      r.next();
      r.expect(0, 40);
      return r;
    };
    const gap = errorOf(greeted(), recordsFrame(41, 2));
    expect(gap.code).toBe(RERR_BAD_SEQUENCE);
    expect(gap.message).toContain('replication connection 127.0.0.1:5000: frame 2 (RECORDS) at stream offset 56');
    expect(gap.message).toContain("field 'first sequence' is 41; journal 0 continues at 40");
    const flipped = recordsFrame(40, 2);
    flipped[RECORDS_OFF_RECORDS + 60]! ^= 1;
    expect(errorOf(greeted(), flipped).code).toBe(RERR_BAD_CRC);
    const noHello = errorOf(ReplicationReader.atStandby('x'), recordsFrame(0, 1));
    expect([noHello.code, noHello.message.includes('the first frame must be HELLO')]).toEqual([RERR_OUT_OF_ORDER, true]);
    const v2 = encodeHello(hello);
    v2[8] = 2;
    expect(errorOf(ReplicationReader.atStandby('x'), v2).code).toBe(RERR_BAD_VERSION);
    const wrongWay = errorOf(greeted(), encodeWelcome([0]));
    expect([wrongWay.code, wrongWay.message.includes('not a frame a primary sends')]).toEqual([RERR_BAD_TYPE, true]);
    const back = new Uint8Array(48);
    encodeAck(back, 0, 0, 50);
    encodeAck(back, 24, 0, 49);
    const primary = ReplicationReader.atPrimary('p', 1);
    const goesBack = errorOf(primary, Buffer.concat([encodeWelcome([0]), back]));
    expect([goesBack.code, goesBack.message.includes('below the 50')]).toEqual([RERR_BAD_SEQUENCE, true]);
  });
});

describe('epoch file (MBJE)', () => {
  it('round-trips, is replaced whole, and a damaged one is named by file and offset', () => {
    const dir = freshDir();
    spawnSync('mkdir', ['-p', dir]);
    expect(readEpoch(dir)).toBeUndefined();
    writeEpoch(dir, { epoch: 1, starts: [0, 0] });
    writeEpoch(dir, { epoch: 2, starts: [1200, 980] });
    expect(readEpoch(dir)).toEqual({ epoch: 2, starts: [1200, 980] });
    const bytes = encodeEpoch({ epoch: 7, starts: [5] });
    bytes[9]! ^= 0x10;
    expect(() => decodeEpoch('x/epoch', bytes)).toThrow(/x\/epoch: byte offset 24: field 'crc'/);
    writeFileSync(join(dir, 'epoch'), bytes);
    expect(() => readEpoch(dir)).toThrow(/epoch: byte offset 24/);
  });
});

const COUNT = 2000;
const workload = generateWorkload({ preset: 'balanced', seed: 11, count: COUNT });
const expected = referenceLines(workload);


async function pair(mode: 'sync' | 'async', standbyEnv: Record<string, string> = {}, extra: readonly string[] = []) {
  const [a, b, clientA, clientB] = [freshDir(), freshDir(), await freePort(), await freePort()];
  const replicationA = await freePort();
  // --clock-ms 0: these tests hold the journals and epoch starts against the client's commands one for one.
  const common = ['--design', 'disruptor', '--param', 'wait=spin-then-wait', '--journal', 'group', '--replication', mode, '--clock-ms', '0', ...extra];
  const standbyArgs = [...common, '--dir', b, '--port', String(clientB), '--standby', '--listen-replication', '0', '--replicate-to', `127.0.0.1:${replicationA}`];
  const previous = { ...process.env };
  Object.assign(process.env, standbyEnv);
  const standby = await startStandby(standbyArgs).finally(() => {
    for (const key of Object.keys(standbyEnv)) delete process.env[key];
    Object.assign(process.env, previous);
  });
  const primaryArgs = [...common, '--dir', a, '--port', String(clientA), '--replicate-to', `127.0.0.1:${standby.port}`];
  const primary = await startServer(primaryArgs);
  return { a, b, primary, standby, primaryArgs, standbyArgs, clientB };
}

describe('hot standby, end to end (disruptor, journal group)', () => {
  it('sync: the standby journals exactly the primary\'s records, and its recovered book is the primary\'s', async () => {
    const { a, b, primary, standby } = await pair('sync');
    const outcome = await runSession(primary.port, workload, 71, 0, COUNT);
    expect(outcome.error).toBeNull();
    expect(outcome.lines).toEqual(expected);
    await waitForLine(primary, /in sync/, 10_000);
    expect(await stopServer(primary, 'SIGTERM')).toBe(0);
    await waitForLine(standby, /stops cleanly; this standby stays a standby/, 10_000);
    expect(await stopServer(standby, 'SIGTERM')).toBe(0);
    expect(journalBytes(b).equals(journalBytes(a))).toBe(true);
    expect(journalBytes(a).length).toBe(COUNT * JOURNAL_RECORD_BYTES);
    expect(recover(b).bookHash).toBe(recover(a).bookHash);
    expect(readEpoch(a)).toEqual({ epoch: 1, starts: [0] });
    expect(readEpoch(b)).toEqual({ epoch: 1, starts: [0] });
  });

  it('async: a standby killed and restarted later catches up from the primary\'s journal and follows live again', async () => {
    const { a, b, primary, standby, standbyArgs } = await pair('async');
    const first = await runSession(primary.port, workload, 72, 0, COUNT / 2);
    expect(first.error).toBeNull();
    await stopServer(standby, 'SIGKILL');
    // The primary goes on acknowledging without it (async), then the standby returns on its own directory.
    const second = await runSession(primary.port, workload, 72, COUNT / 2, COUNT * 3 / 4);
    expect(second.error).toBeNull();
    const back = await startStandby(standbyArgs.map((arg, i) => (standbyArgs[i - 1] === '--listen-replication' ? String(standby.port) : arg)));
    await waitForLine(back, /standby follows the primary/, 10_000);
    const third = await runSession(primary.port, workload, 72, COUNT * 3 / 4, COUNT);
    expect(third.error).toBeNull();
    expect([...first.lines, ...second.lines, ...third.lines]).toEqual(expected);
    expect(await stopServer(primary, 'SIGTERM')).toBe(0);
    await waitForLine(back, /stops cleanly/, 10_000);
    expect(await stopServer(back, 'SIGTERM')).toBe(0);
    expect(journalBytes(b).equals(journalBytes(a))).toBe(true);
    expect(recover(b).bookHash).toBe(recover(a).bookHash);
  });

  it('a corrupted standby (one command not applied) raises the hash alarm at the checkpoint after it, and refuses to promote', async () => {
    const { primary, standby } = await pair('async', { [STANDBY_SKIP_ENV]: '150' }, ['--hash-every', '100']);
    // The whole workload: 20 checkpoints, so the alarm does not hang on the few a short run gives a busy machine.
    const outcome = await runSession(primary.port, workload, 73, 0, COUNT);
    expect(outcome.error).toBeNull();
    // Unless command 150 happened to change nothing, the books differ from sequence 151 on; the first checkpoint
    // after it that sees a difference names its sequence (200, or a later multiple of 100).
    const at = await waitForLine(standby, /ALARM: the standby's book differs from the primary's at journal 0 sequence (\d+)00:/, 10_000);
    expect(at).toBeGreaterThan(0);
    expect(standby.output()).not.toMatch(/sequence 100:/);
    await stopServer(primary, 'SIGKILL');
    await waitForLine(standby, /not promoting: this standby diverged \(journal 0 sequence \d+/, 10_000);
    expect(standby.output()).not.toMatch(/promotes itself/);
  });

  it('a standby stalled past the timeout (a slow fsync) does not take its live primary for dead: it reads what arrived first', async () => {
    // Sequence 1100 is in the second session: the standby is in sync (eligible) when its thread stops for 600 ms,
    // four times the 150 ms timeout, while the primary's heartbeats queue up unread.
    const { a, b, primary, standby } = await pair('sync', { [STANDBY_STALL_ENV]: '1100:600' });
    const first = await runSession(primary.port, workload, 75, 0, COUNT / 2);
    expect(first.error).toBeNull();
    await waitForLine(standby, /eligible to promote/, 10_000);
    // sync: each of these is acknowledged only once the standby holds it, so it must follow again after its stall.
    const rest = await runSession(primary.port, workload, 75, COUNT / 2, COUNT);
    expect(rest.error).toBeNull();
    expect([...first.lines, ...rest.lines]).toEqual(expected);
    expect(standby.output()).not.toMatch(/promotes itself/);
    expect(await stopServer(primary, 'SIGTERM')).toBe(0);
    await waitForLine(standby, /stops cleanly/, 10_000);
    expect(await stopServer(standby, 'SIGTERM')).toBe(0);
    expect(journalBytes(b).equals(journalBytes(a))).toBe(true);
  });

  it('a primary paused past the timeout is taken for dead (the two-node limit): the standby promotes, the primary on waking is fenced and exits 5, nothing acknowledged is lost', async () => {
    const { b, primary, standby, clientB } = await pair('sync');
    const first = await runSession(primary.port, workload, 76, 0, COUNT / 2);
    expect(first.error).toBeNull();
    await waitForLine(standby, /eligible to promote/, 10_000);
    process.kill(primary.child.pid!, 'SIGSTOP');
    try {
      await waitForLine(standby, /matchbench serve: listening on 127\.0\.0\.1:\d+/, 15_000);
    } finally {
      process.kill(primary.child.pid!, 'SIGCONT');
    }
    const exited = await new Promise<number | null>((resolve) => {
      if (primary.child.exitCode !== null) resolve(primary.child.exitCode);
      else primary.child.once('exit', (code) => resolve(code));
    });
    expect(exited).toBe(5);
    expect(primary.output()).toMatch(/FENCED: .*epoch 2; yours is 1/);
    expect(readEpoch(b)).toEqual({ epoch: 2, starts: [COUNT / 2] });
    const rest = await runSession(clientB, workload, 76, COUNT / 2, COUNT);
    expect(rest.error).toBeNull();
    expect([...first.lines, ...rest.lines]).toEqual(expected);
  });

  it('fencing: the standby promotes itself when the primary dies (epoch 2); the old primary, back as a primary, is refused and exits 5 without listening', async () => {
    const { a, b, primary, standby, primaryArgs, clientB } = await pair('sync');
    const first = await runSession(primary.port, workload, 74, 0, COUNT / 2);
    expect(first.error).toBeNull();
    await waitForLine(standby, /eligible to promote/, 10_000);
    await stopServer(primary, 'SIGKILL');
    await waitForLine(standby, /matchbench serve: listening on 127\.0\.0\.1:\d+/, 15_000);
    expect(readEpoch(b)).toEqual({ epoch: 2, starts: [COUNT / 2] });
    // The session resumes on the new primary: nothing lost, nothing twice.
    const rest = await runSession(clientB, workload, 74, COUNT / 2, COUNT);
    expect(rest.error).toBeNull();
    expect([...first.lines, ...rest.lines]).toEqual(expected);
    const returning = spawnSync(process.execPath, [join(import.meta.dirname, '../server/serve.ts'), ...primaryArgs], { encoding: 'utf8', timeout: 30_000 });
    expect(returning.status).toBe(5);
    expect(returning.stderr).toMatch(/FENCED: .*epoch 2; yours is 1/);
    expect(returning.stdout).not.toMatch(/listening/);
    expect(readEpoch(a)).toEqual({ epoch: 1, starts: [0] });
  });
});

describe('compare --replication: every design with a hot standby (harness/run.ts)', () => {
  const RUN_COUNT = 1500;
  const prepared = preparePreset({ preset: 'many-symbols', seed: 6, count: RUN_COUNT });
  const traces = new ReferenceTraceCache();
  for (const design of DESIGNS) {
    for (const replication of ['async', 'sync'] as const) {
      it(`${design.name}, journal group, standby ${replication}: equivalent; the standby journaled exactly the primary's records`, async () => {
        const resolved = resolveParams(design, design.params.some((p) => p.name === 'wait') ? { wait: 'spin-then-wait' } : {});
        const producers = Math.min(2, design.maxProducers(resolved));
        const split = splitWorkload(prepared.shared.records, RUN_COUNT, producers, 'order');
        const settings = { mode: 'group' as const, groupCommands: DEFAULT_GROUP_COMMANDS, groupWaitUs: DEFAULT_GROUP_WAIT_US };
        const outcome = await runOnce({ design, params: resolved, workload: prepared, split, mode: 'closed', rate: null, warmup: 100, journal: { settings, dir: root, replication } });
        expect(checkEquivalence({ workload: prepared.workload, workloadKey: prepared.identity.hash, split, logs: outcome.logs, run: outcome.sequenced, traces }).failure).toBeNull();
        expect(outcome.journal!.check.failure).toBeNull();
        expect(outcome.journal!.replication).toMatchObject({ mode: replication, recordsSent: RUN_COUNT, drained: true });
      });
    }
  }

  it('a standby journal that differs from the primary\'s by one byte fails the check, naming the record', () => {
    const write = (dir: string, flip: boolean): void => {
      const writer = JournalWriter.create({ dir, design: 'inline', symbols: prepared.shared.symbols, firstSequence: 0, maxFrameRecords: 4, segmentBytes: 1 << 20 });
      const words = new Uint32Array(prepared.shared.records);
      for (let i = 0; i < 4; i++) writer.putRecord(i, words, i, 1, i + 1);
      // Record 2's session field: any u32 is valid there, so only the comparison can tell.
      if (flip) writer.recordArea[2 * JOURNAL_RECORD_BYTES + 40]! ^= 1;
      writer.writeFrame(4, true);
      writer.close();
    };
    const [p, q] = [freshDir(), freshDir()];
    write(p, false);
    write(q, true);
    const verdict = checkStandbyJournal([p], q, 4);
    expect(verdict.ok).toBe(false);
    expect(verdict.failure).toContain('they first differ at record 2');
    write(join(q, 'same'), false);
    expect(checkStandbyJournal([p], join(q, 'same'), 4).ok).toBe(true);
  });
});

describe('failover-test', () => {
  it('sync, two kills and one pause of the primary under load: every acknowledged command survives exactly once, the paused primary is fenced, both journals agree', () => {
    const run = spawnSync(process.execPath, [join(import.meta.dirname, '../server/failover-test.ts'), '--design', 'disruptor', '--replication', 'sync', '--kills', '2', '--pauses', '1', '--rate', '3000', '--json'], { encoding: 'utf8', timeout: 170_000 });
    // The seed replays the schedule: a failure names it.
    const seed = /seed (\d+)/.exec(run.stderr)?.[1];
    expect(seed, run.stderr).toBeDefined();
    const summary = JSON.parse(run.stdout) as { ok: boolean; kills: number; pauses: number; promotionsWithoutKill: number; lost: number; duplicates: number; journalsAgree: boolean; problems: string[]; failoverMs: { max: number } };
    const context = `failover-test seed ${seed}: ${run.stdout}`;
    expect(summary.problems, context).toEqual([]);
    expect([summary.ok, summary.kills, summary.pauses, summary.lost, summary.duplicates, summary.journalsAgree], context).toEqual([true, 2, 1, 0, 0, true]);
    expect(summary.promotionsWithoutKill, context).toBeGreaterThanOrEqual(1);
    expect(summary.failoverMs.max).toBeGreaterThan(0);
    expect(run.status, context).toBe(0);
  }, 180_000);
});
