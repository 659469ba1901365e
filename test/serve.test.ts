/**
 * The engine server end to end (server/serve.ts as a child process, spoken to with the protocol client of
 * test/support/engine-server.ts): every design serves a workload with the reference engine's events; a SIGTERM
 * finishes, snapshots and exits 0; a kill -9 mid-stream, a restart on the same directory and a resumed session give
 * every command's events exactly once and the journal exactly the workload's commands; a malformed frame closes only
 * its own connection; without a journal a resend is refused by name; `sharded` resumes a session past a gap between
 * its shard journals (hand-made) without applying anything twice. Nothing here asserts a time.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { bookHashOfCores } from '../engines/core-inspect.ts';
import { ReferenceEngine } from '../engines/reference.ts';
import { formatEvent, type Command } from '../engines/types.ts';
import { parseRiskRules } from '../risk/rules.ts';
import { readJournal } from '../journal/reader.ts';
import { JOURNAL_RECORD_BYTES, REC_OFF_CLIENT_SEQUENCE, REC_OFF_SESSION } from '../journal/format.ts';
import { journalDirectories, recover } from '../journal/recovery.ts';
import { readSnapshot, snapshotFiles } from '../journal/snapshot.ts';
import { KEEP_SNAPSHOTS } from '../journal/snapshotter-thread.ts';
import { JournalWriter, SLOW_FSYNC_ENV } from '../journal/writer.ts';
import { decodeRecord, OFF_SYM, RECORD_BYTES, workloadFromCommands } from '../workloads/workload.ts';
import { encodeHello, FRAME_ERROR, FRAME_NONE, FRAME_WELCOME, FrameReader } from '../server/protocol.ts';
import { generateWorkload } from '../workloads/generator.ts';
import { referenceLines, runSession, startServer, stopAll, stopServer } from './support/engine-server.ts';

const COUNT = 3000;
const SNAPSHOT_EVERY = 1000;
const workload = generateWorkload({ preset: 'balanced', seed: 4, count: COUNT });
const expected = referenceLines(workload);
const root = mkdtempSync(join(tmpdir(), 'matchbench-serve-'));
let dirs = 0;
const freshDir = (): string => join(root, `d${dirs++}`);
afterEach(() => stopAll());
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('serve: every design answers with the reference engine\'s events', () => {
  for (const [design, extra] of [['inline', []], ['mutex', ['--producers', '2']], ['disruptor', ['--param', 'wait=spin-then-wait']], ['sharded', ['--param', 'wait=spin-then-wait']], ['channel', []]] as const) {
    it(`${design}, journal group, --snapshot-every: one session; every snapshot taken under load is the state at its sequence; SIGTERM snapshots and exits 0`, async () => {
      const dir = freshDir();
      // --clock-ms 0: this test holds each snapshot's sequence against the client's commands one for one.
      const server = await startServer(['--design', design, ...extra, '--journal', 'group', '--dir', dir, '--snapshot-every', String(SNAPSHOT_EVERY), '--clock-ms', '0']);
      const outcome = await runSession(server.port, workload, 11, 0, COUNT);
      expect(outcome.error).toBeNull();
      expect(outcome.acked).toBe(COUNT);
      expect(outcome.lines).toStrictEqual(expected);
      expect(await stopServer(server, 'SIGTERM')).toBe(0);
      expect(server.output()).toMatch(/serve: snapshot \S+ at sequence \d+: \d+ bytes, engine paused \d+ µs \(copy \d+ µs\)/);
      expect(server.output()).toMatch(/serve: snapshots: \d+ while running, engine paused p50 \d+ µs, max \d+ µs; \d+ at stop/);
      // Each journal's snapshots (the newest KEEP_SNAPSHOTS: a periodic one and the one at stop) against the
      // reference engine fed that journal's first `sequence` commands, and its session table.
      let periodic = 0;
      for (const journal of journalDirectories(dir).dirs) {
        const records: Uint8Array[] = [];
        const clientSequences: number[] = [];
        readJournal(journal, (frame) => {
          const view = new DataView(frame.records.buffer, frame.records.byteOffset, frame.records.byteLength);
          for (let j = 0; j < frame.count; j++) {
            records.push(frame.records.slice(j * JOURNAL_RECORD_BYTES, j * JOURNAL_RECORD_BYTES + RECORD_BYTES));
            clientSequences.push(view.getFloat64(j * JOURNAL_RECORD_BYTES + REC_OFF_CLIENT_SEQUENCE, true));
          }
        });
        const files = snapshotFiles(journal);
        expect(files.length).toBeGreaterThan(0);
        expect(files.length).toBeLessThanOrEqual(KEEP_SNAPSHOTS);
        for (const file of files) {
          const snapshot = readSnapshot(file);
          if (snapshot.sequence % SNAPSHOT_EVERY === 0 && snapshot.sequence < records.length) periodic++;
          const reference = new ReferenceEngine();
          for (let i = 0; i < snapshot.sequence; i++) reference.process(decodeRecord(records[i]!, new Float64Array(records[i]!.buffer), 0, workload.symbols), i, () => {});
          expect(bookHashOfCores([snapshot.core], workload.symbols), `${file}`).toBe(reference.bookHash());
          expect(snapshot.sessions, `${file}`).toStrictEqual(snapshot.sequence === 0 ? new Map() : new Map([[11, clientSequences[snapshot.sequence - 1]!]]));
        }
      }
      expect(periodic, 'a snapshot taken under load, before the last command').toBeGreaterThan(0);
    });
  }
});

it('kill -9 mid-stream, restart, resume: every command\'s events exactly once, the journal exactly the workload', async () => {
  const dir = freshDir();
  // --clock-ms 0: the journal must be exactly the workload.
  const args = ['--design', 'disruptor', '--param', 'wait=spin-then-wait', '--journal', 'group', '--dir', dir, '--clock-ms', '0'];
  const lines: string[] = [];
  let lastAcknowledged = 0;
  const seed = Date.now() % 1000;
  for (let round = 0; round < 3 && lastAcknowledged < COUNT; round++) {
    const server = await startServer(args);
    const stopAfter = round < 2 ? 400 + ((seed + round * 337) % 600) : Infinity;
    const outcome = await runSession(server.port, workload, 5, lastAcknowledged, COUNT, stopAfter);
    expect(outcome.error, `seed ${seed} round ${round}`).toBeNull();
    lines.push(...outcome.lines);
    lastAcknowledged += outcome.acked;
    await stopServer(server, round < 2 ? 'SIGKILL' : 'SIGTERM');
  }
  expect(lastAcknowledged).toBe(COUNT);
  expect(lines, `seed ${seed}`).toStrictEqual(expected);
  const journaled: number[] = [];
  readJournal(dir, (frame) => {
    const view = new DataView(frame.records.buffer, frame.records.byteOffset, frame.records.byteLength);
    for (let j = 0; j < frame.count; j++) {
      expect(view.getUint32(j * 56 + REC_OFF_SESSION, true)).toBe(5);
      journaled.push(view.getFloat64(j * 56 + REC_OFF_CLIENT_SEQUENCE, true));
    }
  });
  expect(journaled).toStrictEqual(Array.from({ length: COUNT }, (_, i) => i + 1));
});

it('serve journals a clock each millisecond while commands flow and about one a second while idle, none behind another', async () => {
  const dir = freshDir();
  const startedUs = Math.floor((performance.timeOrigin + performance.now()) * 1000);
  // The workload's own symbol table, so the journal's book names the symbols the reference engine does.
  const server = await startServer(['--design', 'disruptor', '--param', 'wait=spin-then-wait', '--journal', 'group', '--dir', dir, '--symbols-from', `preset:balanced,seed=4,count=${COUNT}`]);
  const outcome = await runSession(server.port, workload, 5, 0, COUNT);
  expect(outcome.error).toBeNull();
  expect(outcome.lines).toStrictEqual(expected);
  const busyUntilUs = Math.floor((performance.timeOrigin + performance.now()) * 1000);
  await new Promise((r) => setTimeout(r, 2500));
  await stopServer(server, 'SIGTERM');
  const stoppedUs = Math.floor((performance.timeOrigin + performance.now()) * 1000);
  const clocks: number[] = [];
  const clientSequences: number[] = [];
  readJournal(dir, (frame) => {
    const bytes = frame.records;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let j = 0; j < frame.count; j++) {
      const at = j * JOURNAL_RECORD_BYTES;
      const session = view.getUint32(at + REC_OFF_SESSION, true);
      const f64 = new Float64Array(bytes.buffer.slice(bytes.byteOffset + at, bytes.byteOffset + at + RECORD_BYTES));
      const command = decodeRecord(new Uint8Array(f64.buffer), f64, 0, workload.symbols);
      if (session === 0) {
        expect(command.op).toBe('clock');
        expect(view.getFloat64(at + REC_OFF_CLIENT_SEQUENCE, true)).toBe(clocks.length + 1);
        if (command.op === 'clock') clocks.push(command.ts);
      } else {
        expect(session).toBe(5);
        clientSequences.push(view.getFloat64(at + REC_OFF_CLIENT_SEQUENCE, true));
      }
    }
  });
  // The clients' commands are all there, once, in order, between the clocks.
  expect(clientSequences).toStrictEqual(Array.from({ length: COUNT }, (_, i) => i + 1));
  expect(clocks.length).toBeGreaterThan(0);
  for (let i = 1; i < clocks.length; i++) expect(clocks[i]!, `clock ${i}`).toBeGreaterThanOrEqual(clocks[i - 1]!);
  expect(clocks[0]!).toBeGreaterThanOrEqual(startedUs);
  expect(clocks.at(-1)!).toBeLessThanOrEqual(stoppedUs);
  // Idle for 2.5 s after the last command: a clock a second, not one a millisecond (allow the tick that saw the last command).
  expect(clocks.filter((ts) => ts > busyUntilUs).length).toBeLessThanOrEqual(4);
  // And the journal replays to the reference engine's book: the clocks changed nothing.
  const reference = new ReferenceEngine();
  [...workload.commands()].forEach((c, i) => reference.process(c, i, () => {}));
  expect(recover(dir).bookHash).toBe(reference.bookHash());
});

it('a malformed frame gets an ERROR naming frame and offset and closes only its connection', async () => {
  const server = await startServer(['--design', 'inline']);
  const good = runSession(server.port, workload, 21, 0, COUNT);
  const bad = await new Promise<string>((resolveBad) => {
    const socket = connect({ host: '127.0.0.1', port: server.port });
    const reader = FrameReader.atClient('bad', { session: 22, lastAcknowledged: 0, symbolCount: workload.symbols.length });
    let error = '';
    socket.on('connect', () => {
      const hello = new Uint8Array(24);
      encodeHello(hello, 0, 22, 0);
      const garbage = new Uint8Array(16);
      new DataView(garbage.buffer).setUint32(0, 8, true);
      garbage[4] = 99;
      socket.write(Buffer.concat([hello, garbage]));
    });
    socket.on('data', (chunk: Buffer) => {
      reader.push(chunk);
      for (let t = reader.next(); t !== FRAME_NONE; t = reader.next()) {
        if (t === FRAME_WELCOME) continue;
        if (t === FRAME_ERROR) error = reader.errorMessage;
      }
    });
    socket.on('close', () => resolveBad(error));
  });
  expect(bad).toMatch(/frame 2 at byte 24/);
  const outcome = await good;
  expect(outcome.error).toBeNull();
  expect(outcome.lines).toStrictEqual(expected);
  expect(await stopServer(server, 'SIGTERM')).toBe(0);
});

it('without a journal a session that needs a resend is refused with RESEND_UNAVAILABLE', async () => {
  const server = await startServer(['--design', 'inline']);
  const first = await runSession(server.port, workload, 31, 0, 100);
  expect(first.acked).toBe(100);
  const again = await runSession(server.port, workload, 31, 50, 100);
  expect(again.error).toMatch(/^RESEND_UNAVAILABLE: .*no journal/);
  await stopServer(server, 'SIGTERM');
});

it('npm run load --retry through two kill -9 restarts writes exactly the reference engine\'s events, in order', async () => {
  const dir = freshDir();
  const probe = await startServer(['--design', 'inline']);
  const port = probe.port;
  await stopServer(probe, 'SIGTERM');
  const args = ['--design', 'disruptor', '--param', 'wait=spin-then-wait', '--journal', 'group', '--dir', dir, '--port', String(port)];
  const count = 20_000;
  const spec = `preset:balanced,seed=4,count=${count}`;
  const big = generateWorkload({ preset: 'balanced', seed: 4, count });
  const out = join(root, 'load-events.ndjson');
  let server = await startServer(args);
  const load = spawn(process.execPath, [join(import.meta.dirname, '..', 'server', 'load.ts'), '--connect', `127.0.0.1:${port}`, '--workload', spec,
    '--rate', '10k', '--retry', '--events', out, '--session', '77', '--timeout', '60'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let loadOutput = '';
  load.stdout.on('data', (d: Buffer) => { loadOutput += d.toString(); });
  load.stderr.on('data', (d: Buffer) => { loadOutput += d.toString(); });
  const exited = new Promise<number | null>((r) => load.once('exit', (code) => r(code)));
  try {
    for (const afterMs of [400, 500]) {
      await new Promise((r) => setTimeout(r, afterMs));
      await stopServer(server, 'SIGKILL');
      server = await startServer(args);
    }
    expect(await exited, loadOutput).toBe(0);
  } finally {
    if (load.exitCode === null) load.kill('SIGKILL');
  }
  await stopServer(server, 'SIGTERM');
  expect(loadOutput).toMatch(/reconnect/i);
  const lines = readFileSync(out, 'utf8').split('\n').filter((l) => l !== '');
  expect(lines).toStrictEqual(referenceLines(big));
});

it('npm run crashtest with a few kills, each a power cut, on a slow disk, snapshots under load: acknowledged ⇒ present, nothing twice, the reference\'s events', () => {
  // A slow disk (MATCHBENCH_SLOW_FSYNC_MS): an acknowledgement sent before its fsync would be lost to a cut.
  const result = spawnSync(process.execPath, [join(import.meta.dirname, '..', 'server', 'crashtest.ts'), '--design', 'disruptor', '--journal', 'group', '--kills', '3', '--seed', '7',
    '--power-loss', '1', '--snapshot-every', '5000', '--json'], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, [SLOW_FSYNC_ENV]: '5' } });
  expect(result.status, `${result.stdout}\n${result.stderr}`).toBe(0);
  const summary = JSON.parse(result.stdout) as {
    ok: boolean; kills: number; lost: number; duplicates: number; acknowledged: number; commands: number;
    powerCuts: { cut: number; torn: number; flip: number }; snapshots: { taken: number; bytes: number };
  };
  expect(summary).toMatchObject({ ok: true, kills: 3, lost: 0, duplicates: 0 });
  expect(summary.acknowledged).toBe(summary.commands);
  expect(summary.powerCuts.cut + summary.powerCuts.torn + summary.powerCuts.flip).toBe(3);
  expect(summary.snapshots.taken).toBeGreaterThan(0);
  expect(summary.snapshots.bytes).toBeGreaterThan(0);
});

it('sharded after a crash with a gap between its shard journals: the session resumes at the gap, commands applied past it are answered from the journal, never applied twice', async () => {
  // Hand-made crash state: shard A fsynced its commands only up to client sequence g (exclusive of command g, its
  // own), shard B fsynced its commands up to h > g. So the session's contiguous prefix is g, and B's commands in
  // (g, h] were applied past the gap.
  const dir = freshDir();
  const session = 21;
  const total = 400;
  const shardOfIndex = (i: number): number => new DataView(workload.bytes.buffer, workload.bytes.byteOffset + i * RECORD_BYTES + OFF_SYM).getUint32(0, true) % 2;
  let g = 150;
  while (shardOfIndex(g) !== 0) g++;
  const h = g + 30;
  const ahead: number[] = [];
  for (let i = 0; i < 2; i++) {
    const writer = JournalWriter.create({ dir: join(dir, `shard-${i}`), design: 'sharded', symbols: workload.symbols, firstSequence: 0, maxFrameRecords: 8, segmentBytes: 1 << 20 });
    let slot = 0;
    for (let index = 0; index < (i === 0 ? g : h + 1); index++) {
      if (shardOfIndex(index) !== i) continue;
      if (index >= g) ahead.push(index + 1);
      writer.putRecord(slot++, workload.words, index, session, index + 1);
      if (slot === 8) {
        writer.writeFrame(slot, true);
        slot = 0;
      }
    }
    if (slot > 0) writer.writeFrame(slot, true);
    writer.close();
  }
  expect(ahead.length).toBeGreaterThan(0);
  // --clock-ms 0: the test counts the journal's records as the client's commands.
  const server = await startServer(['--design', 'sharded', '--param', 'wait=spin-then-wait', '--journal', 'group', '--dir', dir, '--clock-ms', '0']);
  // The client had seen acknowledgements up to g − 5 (acknowledgements come in order, so never past the gap).
  const outcome = await runSession(server.port, workload, session, g - 5, total);
  expect(outcome.error).toBeNull();
  expect(outcome.lastApplied).toBe(g);
  expect(outcome.lines).toStrictEqual(expected.filter((line) => (JSON.parse(line) as { seq: number }).seq >= g - 5 && (JSON.parse(line) as { seq: number }).seq < total));
  expect(await stopServer(server, 'SIGTERM')).toBe(0);
  // Every client sequence 1 … total journaled exactly once over both shards, each on its own symbol's shard.
  const seen = new Map<number, number>();
  for (const [k, journal] of journalDirectories(dir).dirs.entries()) {
    readJournal(journal, (frame) => {
      const view = new DataView(frame.records.buffer, frame.records.byteOffset, frame.records.byteLength);
      for (let j = 0; j < frame.count; j++) {
        const clientSequence = view.getFloat64(j * JOURNAL_RECORD_BYTES + REC_OFF_CLIENT_SEQUENCE, true);
        expect(view.getUint32(j * JOURNAL_RECORD_BYTES + REC_OFF_SESSION, true)).toBe(session);
        expect(shardOfIndex(clientSequence - 1), `client sequence ${clientSequence}`).toBe(k);
        seen.set(clientSequence, (seen.get(clientSequence) ?? 0) + 1);
      }
    });
  }
  expect(seen.size).toBe(total);
  expect([...seen.values()].every((n) => n === 1)).toBe(true);
  const reference = new ReferenceEngine();
  for (let i = 0; i < total; i++) reference.process(workload.command(i), i, () => {});
  expect(recover(dir).bookHash).toBe(reference.bookHash());
});

it('a client\'s clock is refused: journaled as an invalid command, answered rejected invalid_command, time unmoved', async () => {
  const dir = freshDir();
  const commands: Command[] = [
    { op: 'new', sym: 'AAPL', id: 1, side: 'sell', type: 'limit', tif: 'gtc', price: 100, qty: 5 },
    { op: 'clock', ts: 4_000_000_000_000_000 },
    { op: 'new', sym: 'AAPL', id: 2, side: 'buy', type: 'limit', tif: 'gtc', price: 100, qty: 2 },
  ];
  const own = workloadFromCommands(commands);
  const symbolsFrom = join(root, 'client-clock.ndjson');
  writeFileSync(symbolsFrom, commands.map((c) => JSON.stringify(c)).join('\n') + '\n');
  // --clock-ms 0: the journal holds exactly the client's three commands.
  const server = await startServer(['--design', 'inline', '--journal', 'sync', '--dir', dir, '--clock-ms', '0', '--symbols-from', symbolsFrom]);
  const outcome = await runSession(server.port, own, 31, 0, own.count);
  await stopServer(server, 'SIGTERM');
  expect(outcome.error).toBeNull();
  expect(outcome.lines).toStrictEqual([
    '{"seq":0,"ev":"rested","sym":"AAPL","id":1,"side":"sell","price":100,"qty":5}',
    '{"seq":1,"ev":"rejected","sym":"","id":0,"reason":"invalid_command"}',
    '{"seq":2,"ev":"fill","sym":"AAPL","taker":2,"maker":1,"price":100,"qty":2,"side":"buy"}',
  ]);
  const journaled: string[] = [];
  readJournal(dir, (frame) => {
    for (let j = 0; j < frame.count; j++) {
      const at = frame.records.byteOffset + j * JOURNAL_RECORD_BYTES;
      const f64 = new Float64Array(frame.records.buffer.slice(at, at + RECORD_BYTES));
      journaled.push(decodeRecord(new Uint8Array(f64.buffer), f64, 0, own.symbols).op);
    }
  });
  expect(journaled).toStrictEqual(['new', 'invalid', 'new']);
});

describe('serve --risk', () => {
  const rulesFile = join(root, 'rules.json');
  const commands: Command[] = [
    { op: 'new', sym: 'AAPL', id: 1, side: 'sell', type: 'limit', tif: 'gtc', price: 1060, qty: 5 },
    { op: 'new', sym: 'AAPL', id: 2, side: 'buy', type: 'limit', tif: 'gtc', price: 1060, qty: 10 },
    { op: 'new', sym: 'AAPL', id: 3, side: 'buy', type: 'limit', tif: 'gtc', price: 1060, qty: 1 },
    // 1160 is inside the collar around the last trade (1060 ± 106), outside the one around referencePrice (1000 ± 100).
    { op: 'new', sym: 'AAPL', id: 4, side: 'sell', type: 'limit', tif: 'gtc', price: 1160, qty: 1 },
  ];
  const own = workloadFromCommands(commands);

  it('applies the rules, and a restart (from its snapshot, then from the journal alone) keeps the risk state', async () => {
    writeFileSync(rulesFile, JSON.stringify({ symbols: { '*': { maxQty: 8, collarPercent: 10, referencePrice: 1000 } } }));
    const symbolsFrom = join(root, 'risk-symbols.ndjson');
    writeFileSync(symbolsFrom, commands.map((c) => JSON.stringify(c)).join('\n') + '\n');
    const rules = parseRiskRules(JSON.parse(readFileSync(rulesFile, 'utf8')), rulesFile);
    const expectedLines: string[] = [];
    const reference = new ReferenceEngine(rules);
    commands.forEach((c, i) => reference.process(c, i, (e) => expectedLines.push(formatEvent(e))));
    expect(expectedLines[1]).toContain('risk_max_qty');
    expect(expectedLines[3]).toContain('"rested"');
    for (const stop of ['SIGTERM', 'SIGKILL'] as const) {
      const dir = freshDir();
      // --clock-ms 0: sequence numbers are the commands' indexes.
      const args = ['--design', 'disruptor', '--param', 'wait=spin-then-wait', '--journal', 'sync', '--dir', dir, '--clock-ms', '0', '--symbols-from', symbolsFrom, '--risk', rulesFile];
      const first = await startServer(args);
      const before = await runSession(first.port, own, 41, 0, 3);
      // SIGTERM snapshots (the restart starts from a core with its risk region); SIGKILL leaves the journal alone.
      await stopServer(first, stop);
      const second = await startServer(args);
      const after = await runSession(second.port, own, 41, 3, 4);
      await stopServer(second, 'SIGTERM');
      expect(before.error, stop).toBeNull();
      expect(after.error, stop).toBeNull();
      expect([...before.lines, ...after.lines], stop).toStrictEqual(expectedLines);
    }
  });

  it('a bad rule file stops serve with the file and the field', () => {
    writeFileSync(rulesFile, JSON.stringify({ symbols: { '*': { maxQty: -1 } } }));
    const run = spawnSync(process.execPath, ['server/serve.ts', '--design', 'inline', '--risk', rulesFile], { encoding: 'utf8', timeout: 30_000 });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain(`${rulesFile}: symbols["*"].maxQty: must be a positive integer`);
  });
});
