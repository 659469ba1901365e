/**
 * The HTTP gateway's engine session (server/engine-client.ts) against a real `serve`: the window refuses a command
 * past it; a connection cut at random points (through a loopback proxy the test cuts) is resumed, and every command
 * is acknowledged once with the reference engine's events, nothing applied twice. The cut points come from a
 * printed seed, so a failure can be replayed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { decodeEventRecord } from '../engines/event-record.ts';
import { formatEvent } from '../engines/types.ts';
import { EngineClient } from '../server/engine-client.ts';
import { generateWorkload } from '../workloads/generator.ts';
import { RECORD_BYTES } from '../workloads/workload.ts';
import { referenceLines, startServer, stopAll, stopServer } from './support/engine-server.ts';

const root = mkdtempSync(join(tmpdir(), 'matchbench-engine-client-'));
afterEach(() => stopAll());
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A loopback proxy to `port`; `cut()` drops every connection through it (the client sees a reset). */
async function proxy(port: number): Promise<{ port: number; cut: () => void; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect({ host: '127.0.0.1', port });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => sockets.delete(s));
    }
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('proxy: no address');
  return {
    port: address.port,
    cut: () => { for (const s of sockets) s.destroy(); },
    close: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  };
}

describe('engine client', () => {
  it('refuses a command past its window (the gateway answers 503)', async () => {
    const server = await startServer(['--design', 'inline']);
    const workload = generateWorkload({ preset: 'balanced', seed: 1, count: 10 });
    const client = await EngineClient.open({ host: '127.0.0.1', port: server.port, session: 5, symbolCount: 8, window: 2 });
    const first = client.submit(workload.bytes, 0);
    const second = client.submit(workload.bytes, RECORD_BYTES);
    expect(client.submit(workload.bytes, 2 * RECORD_BYTES)).toBeNull();
    await Promise.all([first, second]);
    expect(client.inFlight).toBe(0);
    const third = client.submit(workload.bytes, 2 * RECORD_BYTES);
    expect(third).not.toBeNull();
    expect((await third!).clientSequence).toBe(3);
    await client.close();
    // After close every submit fails, by name.
    await expect(client.submit(workload.bytes, 0)).rejects.toThrow(/engine session 5: closed/);
    expect(await stopServer(server, 'SIGTERM')).toBe(0);
  });

  it('a connection cut under load is resumed: every command acknowledged once, with the reference engine\'s events', async () => {
    const seed = Number(process.env.MATCHBENCH_SEED ?? Date.now() % 100_000);
    console.log(`engine client cut test: seed ${seed} (MATCHBENCH_SEED=${seed} replays it)`);
    let state = seed;
    const random = (): number => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32);
    const count = 3000;
    const workload = generateWorkload({ preset: 'balanced', seed: 3, count });
    const expected = referenceLines(workload);
    const server = await startServer(['--design', 'disruptor', '--param', 'wait=spin-then-wait', '--journal', 'group', '--dir', join(root, 'cut'), '--symbols-from', 'preset:balanced,seed=3,count=3000']);
    const through = await proxy(server.port);
    const client = await EngineClient.open({ host: '127.0.0.1', port: through.port, session: 9, symbolCount: workload.symbols.length, window: 64 });
    const lines: string[][] = new Array(count);
    let next = 0;
    let cuts = 0;
    await new Promise<void>((resolve, reject) => {
      let done = 0;
      const pump = (): void => {
        while (next < count) {
          const index = next;
          const outcome = client.submit(workload.bytes, index * RECORD_BYTES);
          if (outcome === null) return;
          next++;
          outcome.then(({ events, count: n }) => {
            const f64 = new Float64Array(events.buffer);
            const w = new Uint32Array(events.buffer);
            lines[index] = Array.from({ length: n }, (_, k) => formatEvent({ ...decodeEventRecord(events, w, f64, k, workload.symbols), seq: index }));
            if (++done === count) resolve();
            else pump();
          }, reject);
          // Cut the connection at a random point, about every 300 commands.
          if (random() < 1 / 300) { cuts++; through.cut(); }
        }
      };
      pump();
    });
    expect(cuts).toBeGreaterThan(0);
    expect(client.connections).toBeGreaterThan(1);
    expect(lines.flat()).toStrictEqual(expected);
    await client.close();
    await through.close();
    expect(await stopServer(server, 'SIGTERM')).toBe(0);
  });
});
