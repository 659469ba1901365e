/**
 * Market data end to end (`serve --http-port 0` as a child process): the WebSocket feed's l2 snapshot plus deltas
 * rebuild exactly the book GET /book serves and the reference engine holds, with per-symbol sequence numbers that
 * never skip; trades and l1 follow; orders:OWNER carries only that owner's orders; bad frames get an error naming
 * the frame and the field; l1 and GET /book carry the breaker's trading status as serve's clocks move it; with API
 * keys only the owner may follow its orders; and a subscriber that never reads is
 * conflated, then disconnected, while matching acknowledges every command and a reading subscriber misses nothing.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { ReferenceEngine } from '../engines/reference.ts';
import { formatEvent } from '../engines/types.ts';
import type { Command } from '../engines/types.ts';
import { generateWorkload } from '../workloads/generator.ts';
import { workloadFromCommands } from '../workloads/workload.ts';
import { referenceLines, runSession, startServer, stopAll, stopServer } from './support/engine-server.ts';

const root = mkdtempSync(join(tmpdir(), 'matchbench-feed-'));
afterEach(() => stopAll());
afterAll(() => rmSync(root, { recursive: true, force: true }));

type Message = Record<string, unknown> & { type: string; channel?: string; seq?: number };

class FeedClient {
  readonly messages: Message[] = [];
  readonly socket: WebSocket;
  readonly opened: Promise<void>;

  constructor(port: number, headers: Record<string, string> = {}) {
    this.socket = new WebSocket(`ws://127.0.0.1:${port}/stream`, { headers });
    this.socket.on('message', (data) => this.messages.push(JSON.parse(data.toString()) as Message));
    this.opened = new Promise((resolve, reject) => {
      this.socket.once('open', () => resolve());
      this.socket.once('error', reject);
    });
  }

  send(message: unknown): void {
    this.socket.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** Resolves once `test` holds for the messages received (bounded: rejects after `timeoutMs`). */
  async until(test: (messages: readonly Message[]) => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (!test(this.messages)) {
      if (performance.now() > deadline) throw new Error(`feed: ${what} did not arrive within ${timeoutMs} ms (${this.messages.length} messages)`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  close(): void {
    this.socket.terminate();
  }
}

/** The book an l2 subscriber holds: its snapshot, then each delta, checking the sequence never skips. */
function rebuild(messages: readonly Message[], channel: string): { bids: number[][]; asks: number[][]; seq: number } {
  const bids = new Map<number, number>();
  const asks = new Map<number, number>();
  let seq = -1;
  for (const m of messages) {
    if (m.channel !== channel) continue;
    if (m.type === 'snapshot') {
      bids.clear();
      asks.clear();
      for (const [p, q] of m['bids'] as number[][]) bids.set(p!, q!);
      for (const [p, q] of m['asks'] as number[][]) asks.set(p!, q!);
      seq = m.seq!;
    } else if (m.type === 'delta') {
      if (m.seq !== seq + 1) throw new Error(`${channel}: delta seq ${m.seq} after ${seq}: a gap`);
      seq = m.seq!;
      for (const [side, p, q] of m['changes'] as [string, number, number][]) {
        const levels = side === 'bid' ? bids : asks;
        if (q === 0) levels.delete(p);
        else levels.set(p, q);
      }
    }
  }
  return { bids: [...bids].sort((a, b) => b[0] - a[0]), asks: [...asks].sort((a, b) => a[0] - b[0]), seq };
}

const COUNT = 3000;
const workload = generateWorkload({ preset: 'balanced', seed: 9, count: COUNT });
const SPEC = `preset:balanced,seed=9,count=${COUNT}`;

describe('WebSocket feed', () => {
  for (const [design, extra] of [['disruptor', ['--param', 'wait=spin-then-wait']], ['sharded', ['--param', 'wait=spin-then-wait']]] as const) {
    it(`${design}: l2 snapshot + deltas rebuild the book exactly, seq never skips; trades, l1 and orders:OWNER follow`, async () => {
      // --clock-ms 0: event seqs are the workload's indexes.
      const server = await startServer(['--design', design, ...extra, '--http-port', '0', '--clock-ms', '0', '--symbols-from', SPEC]);
      const sym = workload.symbols[0]!;
      const first = workload.command(0);
      const owner = first.op === 'new' ? first.owner! : 1;
      const client = new FeedClient(server.httpPort!);
      await client.opened;
      for (const channel of [`l2:${sym}`, `trades:${sym}`, `l1:${sym}`, `orders:${owner}`]) client.send({ op: 'subscribe', channel });
      await client.until((ms) => ms.some((m) => m.type === 'snapshot') && ms.filter((m) => m.type === 'subscribed').length === 4, 'the subscriptions');
      const outcome = await runSession(server.port, workload, 3, 0, COUNT);
      expect(outcome.error).toBeNull();
      expect(outcome.lines).toStrictEqual(referenceLines(workload));

      const reference = new ReferenceEngine();
      const events: ReturnType<typeof JSON.parse>[] = [];
      for (let i = 0; i < COUNT; i++) reference.process(workload.command(i), i, (e) => events.push(JSON.parse(formatEvent(e))));
      const want = JSON.parse(JSON.stringify(reference.l2(sym, 1_000_000)));
      await client.until((ms) => JSON.stringify(rebuild(ms, `l2:${sym}`).bids) === JSON.stringify(want.bids) && JSON.stringify(rebuild(ms, `l2:${sym}`).asks) === JSON.stringify(want.asks), 'the final book');
      const book = rebuild(client.messages, `l2:${sym}`);
      const served = await (await fetch(`http://127.0.0.1:${server.httpPort}/book/${sym}?depth=9999`)).json() as { seq: number; bids: number[][]; asks: number[][] };
      expect({ bids: served.bids, asks: served.asks }).toStrictEqual(want);
      expect(served.seq).toBe(book.seq);
      // The design's input ring occupancy, as a gauge: every ring named, its used slots within its size.
      const metrics = await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text();
      const used = [...metrics.matchAll(/^matchbench_input_ring_used_slots\{ring="([^"]+)"\} (\d+)$/gm)];
      const slots = new Map([...metrics.matchAll(/^matchbench_input_ring_slots\{ring="([^"]+)"\} (\d+)$/gm)].map((m) => [m[1], Number(m[2])]));
      expect(used.length).toBe(design === 'sharded' ? 2 : 1);
      for (const [, ring, n] of used) expect(Number(n)).toBeLessThanOrEqual(slots.get(ring)!);

      const fills = events.filter((e) => e.ev === 'fill' && e.sym === sym);
      await client.until((ms) => ms.filter((m) => m.type === 'trade').length === fills.length, 'every trade');
      const trades = client.messages.filter((m) => m.type === 'trade' && m.channel === `trades:${sym}`).map((m) => [m['price'], m['qty'], m['side'], m['taker'], m['maker']]);
      expect(trades).toStrictEqual(fills.map((f) => [f.price, f.qty, f.side, f.taker, f.maker]));
      const l1 = client.messages.filter((m) => m.type === 'l1' && m.channel === `l1:${sym}`).at(-1)!;
      expect([l1['bid'], l1['ask']]).toStrictEqual([want.bids[0] ?? null, want.asks[0] ?? null]);

      // orders:OWNER: the events of the orders `owner` placed, and no other's.
      const mine = new Set<string>();
      const expected: string[] = [];
      for (let i = 0; i < COUNT; i++) {
        const c = workload.command(i);
        if (c.op === 'new' && c.owner === owner) mine.add(`${c.sym}:${c.id}`);
      }
      for (const e of events) {
        const ids = e.ev === 'fill' ? [e.taker, e.maker] : [e.id];
        if (ids.some((id: number) => mine.has(`${e.sym}:${id}`))) expected.push(JSON.stringify(e));
      }
      await client.until((ms) => ms.filter((m) => m.type === 'event').length >= expected.length, 'the owner\'s events');
      const received = client.messages.filter((m) => m.type === 'event' && m.channel === `orders:${owner}`).map((m) => JSON.stringify(m['event']));
      expect(received.length).toBeGreaterThan(0);
      // Ids are reused after an order leaves, so the owner's set over-approximates: every event received is in it.
      for (const line of received) expect(expected).toContain(line);

      // A bad frame gets an error naming the frame and the field; the connection stays.
      client.send('not json');
      client.send({ op: 'subscribe', channel: 'l2:NOPE' });
      client.send({ op: 'watch', channel: `l2:${sym}` });
      await client.until((ms) => ms.filter((m) => m.type === 'error').length === 3, 'the errors');
      const errors = client.messages.filter((m) => m.type === 'error').map((m) => m['error'] as string);
      expect(errors[0]).toMatch(/^connection 127\.0\.0\.1:\d+, frame 5: /);
      expect(errors[1]).toMatch(/frame 6: field 'channel': unknown symbol "NOPE"/);
      expect(errors[2]).toMatch(/frame 7: field 'op' must be "subscribe" or "unsubscribe"/);
      client.send({ op: 'unsubscribe', channel: `l2:${sym}` });
      await client.until((ms) => ms.some((m) => m.type === 'unsubscribed'), 'the unsubscribe');
      client.close();
      expect(await stopServer(server, 'SIGTERM')).toBe(0);
    });
  }

  it('l1 and GET /book carry the breaker\'s trading status: limit, then the pause and the resume the clocks announce', async () => {
    // A trade at 1000 sets the reference (band 990 … 1010 at 1 %); a buy up to 1100 meets the ask at 1020 beyond it:
    // a limit state of 1 s, no ask back inside 1010, so a pause of 1 s, then trading again, on serve's own clocks.
    const commands: Command[] = [
      { op: 'new', sym: 'AAA', id: 1, side: 'sell', type: 'limit', tif: 'gtc', price: 1000, qty: 5 },
      { op: 'new', sym: 'AAA', id: 2, side: 'buy', type: 'limit', tif: 'gtc', price: 1000, qty: 5 },
      { op: 'new', sym: 'AAA', id: 3, side: 'sell', type: 'limit', tif: 'gtc', price: 1020, qty: 5 },
      { op: 'new', sym: 'AAA', id: 4, side: 'buy', type: 'limit', tif: 'gtc', price: 1100, qty: 1 },
    ];
    const symbolsFrom = join(root, 'status-symbols.ndjson');
    writeFileSync(symbolsFrom, commands.map((c) => JSON.stringify(c)).join('\n') + '\n');
    const rulesFile = join(root, 'status-rules.json');
    writeFileSync(rulesFile, JSON.stringify({ breaker: { bandPercent: 1, windowSeconds: 10, limitStateSeconds: 1, pauseSeconds: 1 } }));
    for (const design of ['disruptor', 'sharded']) {
      const server = await startServer(['--design', design, '--param', 'wait=spin-then-wait', '--http-port', '0', '--symbols-from', symbolsFrom, '--risk', rulesFile]);
      const client = new FeedClient(server.httpPort!);
      await client.opened;
      client.send({ op: 'subscribe', channel: 'l1:AAA' });
      await client.until((ms) => ms.some((m) => m.type === 'l1'), 'the l1 start');
      const outcome = await runSession(server.port, workloadFromCommands(commands), 5, 0, commands.length);
      expect(outcome.error, design).toBeNull();
      expect(outcome.lines.at(-1), design).toMatch(/"ev":"limit","sym":"AAA","side":"buy","price":1010/);
      const states = (): string[] => client.messages.filter((m) => m.type === 'l1').map((m) => (m['status'] as { state: string }).state);
      await client.until(() => states().includes('halted') && states().at(-1) === 'trading', 'the pause and the resume', 15_000);
      // Each state once, in order (the top of the book changes only before the limit state).
      expect(states().filter((state, i, all) => i === 0 || state !== all[i - 1]), design).toStrictEqual(['trading', 'limit', 'halted', 'trading']);
      const limit = client.messages.find((m) => m.type === 'l1' && (m['status'] as { state: string }).state === 'limit')!['status'] as { until: number };
      const halted = client.messages.find((m) => m.type === 'l1' && (m['status'] as { state: string }).state === 'halted')!['status'] as { until: number };
      expect(halted.until - limit.until, design).toBe(1_000_000);
      const book = await (await fetch(`http://127.0.0.1:${server.httpPort}/book/AAA`)).json() as { status: { state: string } };
      expect(book.status, design).toStrictEqual({ state: 'trading' });
      client.close();
      await stopServer(server, 'SIGTERM');
    }
  });

  it('with API keys: the stream authenticates, and orders:OWNER is only for that owner\'s key', async () => {
    const sha256 = (key: string): string => createHash('sha256').update(key).digest('hex');
    const keys = join(root, 'keys.json');
    writeFileSync(keys, JSON.stringify({ keys: [{ id: 'alice-1', sha256: sha256('alice-secret'), owner: 17 }] }));
    const server = await startServer(['--design', 'inline', '--http-port', '0', '--keys', keys]);
    const anonymous = new FeedClient(server.httpPort!);
    await expect(anonymous.opened).rejects.toThrow(/401/);
    const alice = new FeedClient(server.httpPort!, { authorization: 'Bearer alice-secret' });
    await alice.opened;
    alice.send({ op: 'subscribe', channel: 'orders:18' });
    alice.send({ op: 'subscribe', channel: 'orders:17' });
    await alice.until((ms) => ms.some((m) => m.type === 'subscribed'), 'the subscription');
    expect(alice.messages[0]!['error']).toMatch(/orders:18 is not yours/);
    await fetch(`http://127.0.0.1:${server.httpPort}/orders`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer alice-secret' },
      body: JSON.stringify({ sym: 'AAPL', id: 1, side: 'buy', type: 'limit', price: 100, qty: 5 }),
    });
    await alice.until((ms) => ms.some((m) => m.type === 'event'), 'her order\'s event');
    expect(alice.messages.find((m) => m.type === 'event')!['event']).toMatchObject({ ev: 'rested', sym: 'AAPL', id: 1 });
    alice.close();
    expect(await stopServer(server, 'SIGTERM')).toBe(0);
  });

  it('a subscriber that never reads is conflated, then disconnected; matching acknowledges everything and a reading subscriber misses nothing', async () => {
    const big = generateWorkload({ preset: 'balanced', seed: 3, count: 40_000 });
    const server = await startServer([
      '--design', 'disruptor', '--param', 'wait=spin-then-wait', '--http-port', '0', '--clock-ms', '0', '--capacity', '100000',
      '--symbols-from', 'preset:balanced,seed=3,count=40000', '--ws-conflate-bytes', '4096', '--ws-max-stale-ms', '1000',
    ]);
    const channels = big.symbols.flatMap((s) => [`l2:${s}`, `trades:${s}`]);
    const reader = new FeedClient(server.httpPort!);
    const stalled = new FeedClient(server.httpPort!);
    await Promise.all([reader.opened, stalled.opened]);
    for (const channel of channels) {
      reader.send({ op: 'subscribe', channel });
      stalled.send({ op: 'subscribe', channel });
    }
    await stalled.until((ms) => ms.filter((m) => m.type === 'subscribed').length === channels.length, 'the subscriptions');
    // From here on the stalled subscriber reads nothing: its socket is paused, so the server's buffer for it fills.
    (stalled.socket as unknown as { _socket: { pause(): void } })._socket.pause();
    const outcome = await runSession(server.port, big, 4, 0, big.count);
    expect(outcome.error).toBeNull();
    expect(outcome.acked).toBe(big.count);
    expect(outcome.lines).toStrictEqual(referenceLines(big));
    const reference = new ReferenceEngine();
    for (let i = 0; i < big.count; i++) reference.process(big.command(i), i, () => {});
    for (const sym of big.symbols) {
      const want = JSON.stringify(reference.l2(sym, 1_000_000));
      await reader.until((ms) => { const b = rebuild(ms, `l2:${sym}`); return JSON.stringify({ bids: b.bids, asks: b.asks }) === want; }, `the reader's book of ${sym}`, 30_000);
    }
    const metricsText = async (): Promise<string> => (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text();
    let metrics = await metricsText();
    const value = (name: string): number => Number(new RegExp(`^${name} (\\d+)`, 'm').exec(metrics)?.[1] ?? NaN);
    // The stalled subscriber is let go once it has been over the threshold for --ws-max-stale-ms (bounded wait); the
    // reader, which may be conflated while this busy test process lags, catches up well within that.
    for (const deadline = performance.now() + 15_000; value('matchbench_ws_disconnected_total') !== 1 && performance.now() < deadline;) {
      await new Promise((r) => setTimeout(r, 20));
      metrics = await metricsText();
    }
    expect(value('matchbench_ws_conflated_total')).toBeGreaterThan(0);
    expect(value('matchbench_ws_disconnected_total')).toBe(1);
    expect(value('matchbench_ws_subscribers')).toBe(1);
    reader.close();
    stalled.close();
    expect(await stopServer(server, 'SIGTERM')).toBe(0);
  });
});
