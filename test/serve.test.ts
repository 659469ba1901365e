/**
 * The engine server end to end (server/serve.ts as a child process, spoken to with the protocol client of
 * test/support/engine-server.ts): every design serves a workload with the reference engine's events; a SIGTERM
 * finishes, snapshots and exits 0; a kill -9 mid-stream, a restart on the same directory and a resumed session give
 * every command's events exactly once and the journal exactly the workload's commands; a malformed frame closes only
 * its own connection; without a journal a resend is refused by name. Nothing here asserts a time.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { readJournal } from '../journal/reader.ts';
import { REC_OFF_CLIENT_SEQUENCE, REC_OFF_SESSION } from '../journal/format.ts';
import { encodeHello, FRAME_ERROR, FRAME_NONE, FRAME_WELCOME, FrameReader } from '../server/protocol.ts';
import { generateWorkload } from '../workloads/generator.ts';
import { referenceLines, runSession, startServer, stopAll, stopServer } from './support/engine-server.ts';

const COUNT = 3000;
const workload = generateWorkload({ preset: 'balanced', seed: 4, count: COUNT });
const expected = referenceLines(workload);
const root = mkdtempSync(join(tmpdir(), 'matchbench-serve-'));
let dirs = 0;
const freshDir = (): string => join(root, `d${dirs++}`);
afterEach(() => stopAll());
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('serve: every design answers with the reference engine\'s events', () => {
  for (const [design, extra] of [['inline', []], ['mutex', ['--producers', '2']], ['disruptor', ['--param', 'wait=spin-then-wait']], ['sharded', ['--param', 'wait=spin-then-wait']], ['channel', []]] as const) {
    it(`${design}, journal group: one session, SIGTERM snapshots and exits 0`, async () => {
      const dir = freshDir();
      const server = await startServer(['--design', design, ...extra, '--journal', 'group', '--dir', dir]);
      const outcome = await runSession(server.port, workload, 11, 0, COUNT);
      expect(outcome.error).toBeNull();
      expect(outcome.acked).toBe(COUNT);
      expect(outcome.lines).toStrictEqual(expected);
      expect(await stopServer(server, 'SIGTERM')).toBe(0);
      const snapshots = design === 'sharded' ? join(dir, 'shard-0', 'snapshots') : join(dir, 'snapshots');
      expect(existsSync(snapshots) && readdirSync(snapshots).some((f) => f.endsWith('.mbs'))).toBe(true);
    });
  }
});

it('kill -9 mid-stream, restart, resume: every command\'s events exactly once, the journal exactly the workload', async () => {
  const dir = freshDir();
  const args = ['--design', 'disruptor', '--param', 'wait=spin-then-wait', '--journal', 'group', '--dir', dir];
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

it('npm run crashtest with a few kills passes: acknowledged ⇒ present, nothing twice, the reference\'s events', () => {
  const result = spawnSync(process.execPath, [join(import.meta.dirname, '..', 'server', 'crashtest.ts'), '--design', 'disruptor', '--journal', 'group', '--kills', '3', '--seed', '7', '--json'],
    { encoding: 'utf8', timeout: 120_000 });
  expect(result.status, `${result.stdout}\n${result.stderr}`).toBe(0);
  const summary = JSON.parse(result.stdout) as { ok: boolean; kills: number; lost: number; duplicates: number; acknowledged: number; commands: number };
  expect(summary).toMatchObject({ ok: true, kills: 3, lost: 0, duplicates: 0 });
  expect(summary.acknowledged).toBe(summary.commands);
});
