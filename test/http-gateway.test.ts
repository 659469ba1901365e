/**
 * The HTTP gateway end to end (`serve --http-port 0` as a child process, spoken to with fetch): every design answers
 * REST commands with the reference engine's events; bad requests get 400 naming the field, 404, 405 with Allow, 413
 * and 415 and never reach the engine; an Idempotency-Key retry returns the first answer and is applied once; a
 * restarted server's gateway takes a new session and goes on; with API keys every request authenticates (401), a
 * key's owner is the only one that can touch its orders, a key over its rate gets 429, each request is logged, and a
 * bad key file stops serve by name; a slowloris sender is cut off at the headers timeout and a client past the
 * connection cap gets 503, while the others are served. Nothing here asserts a time.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ReferenceEngine } from '../engines/reference.ts';
import { formatEvent, type MatchEvent } from '../engines/types.ts';
import { restRequestOf } from '../server/http-api.ts';
import { generateWorkload } from '../workloads/generator.ts';
import { startServer, stopAll, stopServer } from './support/engine-server.ts';

const root = mkdtempSync(join(tmpdir(), 'matchbench-http-'));
let dirs = 0;
const freshDir = (): string => join(root, `d${dirs++}`);
afterEach(() => stopAll());
afterAll(() => rmSync(root, { recursive: true, force: true }));

interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: { events?: Record<string, unknown>[]; error?: string; [key: string]: unknown };
}

async function call(port: number, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const init: RequestInit = { method, headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers } };
  if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
  const response = await fetch(`http://127.0.0.1:${port}${path}`, init);
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: response.headers.get('content-type')?.startsWith('application/json') === true ? JSON.parse(text) : { text } };
}

/** A command's events as NDJSON lines with seq 0, for comparing an HTTP answer with the reference engine's. */
const withoutSeq = (events: readonly (MatchEvent | Record<string, unknown>)[]): string[] => events.map((e) => formatEvent({ ...(e as MatchEvent), seq: 0 }));

describe('HTTP gateway: every design answers REST commands with the reference engine\'s events', () => {
  const workload = generateWorkload({ preset: 'balanced', seed: 5, count: 400 });
  const commands = Array.from({ length: workload.count }, (_, i) => workload.command(i)).filter((c) => restRequestOf(c) !== null);
  const reference = new ReferenceEngine();
  const expected = commands.map((c, i) => {
    const events: MatchEvent[] = [];
    reference.process(c, i, (e) => events.push(e));
    return withoutSeq(events);
  });

  for (const [design, extra] of [['inline', []], ['mutex', ['--producers', '2']], ['disruptor', ['--param', 'wait=spin-then-wait']], ['sharded', ['--param', 'wait=spin-then-wait']], ['channel', []]] as const) {
    it(`${design}, journal group: ${commands.length} commands over REST, one at a time; SIGTERM exits 0`, async () => {
      const server = await startServer(['--design', design, ...extra, '--journal', 'group', '--dir', freshDir(), '--http-port', '0', '--symbols-from', 'preset:balanced,seed=5,count=400']);
      expect(server.httpPort).not.toBeNull();
      for (const [i, c] of commands.entries()) {
        const request = restRequestOf(c)!;
        const answer = await call(server.httpPort!, request.method, request.path, request.body);
        expect(withoutSeq(answer.body.events ?? []), `command ${i}: ${JSON.stringify(c)} → ${answer.status} ${JSON.stringify(answer.body)}`).toStrictEqual(expected[i]);
        const rejected = answer.body.events!.find((e) => e.ev === 'rejected');
        const status = rejected === undefined ? 200 : { duplicate_id: 409, unknown_order: 404 }[rejected.reason as string] ?? 422;
        expect(answer.status).toBe(status);
      }
      // GET /book: the market-data thread's books (built off the matching thread) reach the reference's.
      for (const sym of workload.symbols) {
        const want = reference.l2(sym, 1000);
        const deadline = performance.now() + 5000;
        let got = await call(server.httpPort!, 'GET', `/book/${sym}?depth=1000`);
        while (JSON.stringify({ bids: got.body['bids'], asks: got.body['asks'] }) !== JSON.stringify(want) && performance.now() < deadline) {
          await new Promise((r) => setTimeout(r, 5));
          got = await call(server.httpPort!, 'GET', `/book/${sym}?depth=1000`);
        }
        expect({ bids: got.body['bids'], asks: got.body['asks'] }, `GET /book/${sym}`).toStrictEqual(JSON.parse(JSON.stringify(want)));
        expect(got.body['sym']).toBe(sym);
      }
      const top = await call(server.httpPort!, 'GET', `/book/${workload.symbols[0]}?depth=1`);
      expect((top.body['bids'] as unknown[]).length).toBeLessThanOrEqual(1);
      expect((await call(server.httpPort!, 'GET', '/book/NOPE')).status).toBe(404);
      expect((await call(server.httpPort!, 'GET', `/book/${workload.symbols[0]}?depth=0`)).status).toBe(400);
      expect((await call(server.httpPort!, 'GET', `/book/${workload.symbols[0]}?levels=3`)).status).toBe(400);
      expect(await stopServer(server, 'SIGTERM')).toBe(0);
    });
  }
});

describe('HTTP gateway: bad requests, idempotency, health, metrics, restart', () => {
  it('answers each bad request by name and never lets it reach the engine; the server keeps serving', async () => {
    const server = await startServer(['--design', 'inline', '--http-port', '0']);
    const port = server.httpPort!;
    const order = { sym: 'AAPL', id: 1, side: 'buy', type: 'limit', price: 100, qty: 5 };
    const bad: [string, string, unknown, Record<string, string>, number, RegExp][] = [
      ['POST', '/orders', { ...order, qty: '5' }, {}, 400, /body\/qty must be integer/],
      ['POST', '/orders', { ...order, qty: 2.5 }, {}, 400, /body\/qty must be integer/],
      ['POST', '/orders', { ...order, id: null }, {}, 400, /body\/id must be integer/],
      ['POST', '/orders', { ...order, side: 'up' }, {}, 400, /body\/side must be equal to one of the allowed values \("buy", "sell"\)/],
      ['POST', '/orders', { ...order, tif: 'day' }, {}, 400, /body\/tif must be equal to one of the allowed values/],
      ['POST', '/orders', { ...order, colour: 'red' }, {}, 400, /body\/colour: no such field/],
      ['POST', '/orders', { sym: 'AAPL', id: 1, side: 'buy', type: 'limit', qty: 5 }, {}, 400, /body must have required property 'price'/],
      ['POST', '/orders', '{"sym":', {}, 400, /not valid JSON/],
      ['POST', '/orders', [1, 2], {}, 400, /body must be object/],
      ['POST', '/orders', { ...order, sym: 'x'.repeat(5000) }, {}, 413, /too large/],
      ['POST', '/orders', 'sym=AAPL', { 'content-type': 'text/plain' }, 415, /Unsupported Media Type/i],
      ['POST', '/orders', { ...order, sym: 'NOPE' }, {}, 404, /body\/sym: unknown symbol "NOPE"/],
      ['DELETE', '/orders/NOPE/1', undefined, {}, 404, /params\/sym: unknown symbol "NOPE"/],
      ['DELETE', '/orders/AAPL/x', undefined, {}, 400, /params\/id must match pattern/],
      ['PATCH', '/orders/AAPL/1', { price: 5 }, {}, 400, /body must have required property 'qty'/],
      ['GET', '/nowhere', undefined, {}, 404, /no such route/],
    ];
    for (const [method, path, body, headers, status, message] of bad) {
      const answer = await call(port, method, path, body, headers);
      expect(answer.status, `${method} ${path} ${JSON.stringify(body)}`).toBe(status);
      expect(answer.body.error, `${method} ${path}`).toMatch(message);
    }
    const wrongMethod = await call(port, 'GET', '/orders');
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('POST');
    expect((await call(port, 'PUT', '/orders/AAPL/1', { qty: 1 })).headers.get('allow')).toBe('DELETE, PATCH');
    // None of them reached the engine: the first command it sees is this one, with client sequence 1.
    const first = await call(port, 'POST', '/orders', order);
    expect(first.status).toBe(200);
    expect(first.body.events).toStrictEqual([{ seq: 1, ev: 'rested', sym: 'AAPL', id: 1, side: 'buy', price: 100, qty: 5 }]);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toMatch(/^matchbench_commands_total\{op="new"\} 1$/m);
    expect(metrics).toMatch(/^matchbench_http_requests_total\{route="\/orders",status="400"\} \d+$/m);
    expect(metrics).toMatch(/^matchbench_events_total\{kind="rested"\} 1$/m);
    expect(metrics).toMatch(/^matchbench_command_latency_seconds_count 1$/m);
    expect(await stopServer(server, 'SIGTERM')).toBe(0);
  });

  it('an Idempotency-Key retry gets the first answer and is applied once; the same key on another request is 422', async () => {
    const server = await startServer(['--design', 'disruptor', '--param', 'wait=spin-then-wait', '--journal', 'group', '--dir', freshDir(), '--http-port', '0']);
    const port = server.httpPort!;
    const maker = { sym: 'MSFT', id: 7, side: 'sell', type: 'limit', price: 200, qty: 5 };
    const [a, b] = await Promise.all([
      call(port, 'POST', '/orders', maker, { 'idempotency-key': 'k-7' }),
      call(port, 'POST', '/orders', maker, { 'idempotency-key': 'k-7' }),
    ]);
    const c = await call(port, 'POST', '/orders', maker, { 'idempotency-key': 'k-7' });
    expect(a.status).toBe(200);
    expect([a.body, b.body, c.body]).toStrictEqual([a.body, a.body, a.body]);
    expect(c.headers.get('idempotent-replayed')).toBe('true');
    // Applied once: a taker for 10 finds exactly one 5-lot maker, and the rest is cancelled (IOC).
    const taker = await call(port, 'POST', '/orders', { sym: 'MSFT', id: 8, side: 'buy', type: 'limit', tif: 'ioc', price: 200, qty: 10 });
    expect(taker.body.events!.map((e) => [e.ev, e.qty])).toStrictEqual([['fill', 5], ['cancelled', 5]]);
    const reused = await call(port, 'POST', '/orders', { ...maker, id: 9 }, { 'idempotency-key': 'k-7' });
    expect(reused.status).toBe(422);
    expect(reused.body.error).toMatch(/Idempotency-Key: "k-7" was used for a different request/);
    expect(await stopServer(server, 'SIGTERM')).toBe(0);
  });

  it('health names the design; a restarted server recovers and its gateway goes on in a new session', async () => {
    const dir = freshDir();
    const first = await startServer(['--design', 'mutex', '--journal', 'sync', '--dir', dir, '--http-port', '0']);
    const health = await call(first.httpPort!, 'GET', '/health');
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({ status: 'ok', engine: 'connected', design: 'mutex', session: 0x8000_0000 });
    expect((await call(first.httpPort!, 'POST', '/orders', { sym: 'AAPL', id: 1, side: 'buy', type: 'limit', price: 100, qty: 5 })).status).toBe(200);
    expect(await stopServer(first, 'SIGKILL')).toBe('SIGKILL');
    // The first run journaled clocks too, which this one recovers; it injects none, so its command count is exact.
    const second = await startServer(['--design', 'mutex', '--journal', 'sync', '--dir', dir, '--http-port', '0', '--clock-ms', '0']);
    expect((await call(second.httpPort!, 'GET', '/health')).body).toMatchObject({ status: 'ok', session: 0x8000_0001 });
    // The order acknowledged before the crash is in the recovered book: a duplicate id, and a cancel finds it.
    expect((await call(second.httpPort!, 'POST', '/orders', { sym: 'AAPL', id: 1, side: 'buy', type: 'limit', price: 100, qty: 5 })).status).toBe(409);
    const cancel = await call(second.httpPort!, 'DELETE', '/orders/AAPL/1');
    expect(cancel.body.events).toStrictEqual([{ seq: 2, ev: 'cancelled', sym: 'AAPL', id: 1, qty: 5, reason: 'user' }]);
    // The engine's own gauges: this process sequenced 2 commands, and in sync mode what was acknowledged is journaled.
    const metrics = (await call(second.httpPort!, 'GET', '/metrics')).body.text as string;
    expect(metrics).toMatch(/^matchbench_engine_sequenced_commands\{sequencer="0"\} 2$/m);
    expect(metrics).toMatch(/^matchbench_journal_lag_commands\{sequencer="0"\} 0$/m);
    expect(await stopServer(second, 'SIGTERM')).toBe(0);
  });
});

describe('HTTP gateway: API keys, owners, the rate limit, the access log', () => {
  const sha256 = (key: string): string => createHash('sha256').update(key).digest('hex');
  const keyFile = (keys: unknown): string => {
    const path = join(root, `keys-${dirs++}.json`);
    writeFileSync(path, JSON.stringify({ keys }));
    return path;
  };

  it('authenticates every request, takes the owner from the key, hides other owners\' orders, limits the rate, logs each request', async () => {
    const keys = keyFile([
      { id: 'alice-1', sha256: sha256('alice-secret'), owner: 17 },
      { id: 'bob-1', sha256: sha256('bob-secret'), owner: 18, ratePerSecond: 0.5, burst: 4 },
    ]);
    const log = join(root, `access-${dirs++}.log`);
    const server = await startServer(['--design', 'mutex', '--http-port', '0', '--keys', keys, '--access-log', log]);
    expect(server.output()).toMatch(/the REST API takes 2 API key\(s\)/);
    const port = server.httpPort!;
    const alice = { authorization: 'Bearer alice-secret' };
    const bob = { authorization: 'Bearer bob-secret' };
    const order = { sym: 'AAPL', id: 1, side: 'buy', type: 'limit', price: 100, qty: 5 };

    const missing = await call(port, 'POST', '/orders', order);
    expect([missing.status, missing.body.error]).toStrictEqual([401, 'header Authorization: missing (send "Authorization: Bearer KEY")']);
    const wrong = await call(port, 'POST', '/orders', order, { authorization: 'Bearer nobody' });
    expect([wrong.status, wrong.body.error]).toStrictEqual([401, 'header Authorization: unknown key']);
    expect((await call(port, 'GET', '/health')).status).toBe(200);

    expect((await call(port, 'POST', '/orders', { ...order, owner: 18 }, alice)).status).toBe(403);
    const placed = await call(port, 'POST', '/orders', order, alice);
    expect(placed.body.events).toStrictEqual([{ seq: 1, ev: 'rested', sym: 'AAPL', id: 1, side: 'buy', price: 100, qty: 5 }]);
    // Bob cannot touch it, and learns nothing: the answer an order that does not exist gets, never sent to the engine.
    for (const [method, body] of [['DELETE', undefined], ['PATCH', { qty: 1 }], ['PATCH', { price: 90, qty: 5 }]] as const) {
      const theirs = await call(port, method, '/orders/AAPL/1', body, bob);
      expect(theirs.status).toBe(404);
      expect(theirs.body.events).toStrictEqual([{ seq: 0, ev: 'rejected', sym: 'AAPL', id: 1, reason: 'unknown_order' }]);
    }
    // An Idempotency-Key is the key's own: Bob's k-1 is a request of his, not a replay of Alice's.
    const aliceRetry = await call(port, 'POST', '/orders', { ...order, id: 2 }, { ...alice, 'idempotency-key': 'k-1' });
    const bobSameKey = await call(port, 'POST', '/orders', { ...order, id: 2 }, { ...bob, 'idempotency-key': 'k-1' });
    expect(aliceRetry.status).toBe(200);
    expect(bobSameKey.headers.get('idempotent-replayed')).toBeNull();
    expect(bobSameKey.status).toBe(409);
    // Bob's bucket (burst 4, 0.5/s) is empty after his 4 requests: the next is 429 with Retry-After.
    const limited = await call(port, 'DELETE', '/orders/AAPL/9', undefined, bob);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(limited.body.error).toMatch(/key bob-1: over its rate of 0.5 requests\/s \(burst 4\)/);
    // Alice, within hers, still trades: her own cancel reaches the engine (client sequence 4: what was refused was never sent).
    const cancelled = await call(port, 'DELETE', '/orders/AAPL/1', undefined, alice);
    expect(cancelled.body.events).toStrictEqual([{ seq: 4, ev: 'cancelled', sym: 'AAPL', id: 1, qty: 5, reason: 'user' }]);
    expect(await stopServer(server, 'SIGTERM')).toBe(0);

    const lines = readFileSync(log, 'utf8').trim().split('\n');
    expect(lines.length).toBe(12);
    expect(lines[0]).toMatch(/^\S+Z - POST \/orders 401 \d+$/);
    expect(lines).toContainEqual(expect.stringMatching(/^\S+Z alice-1 POST \/orders 200 \d+$/));
    expect(lines).toContainEqual(expect.stringMatching(/^\S+Z bob-1 DELETE \/orders\/:sym\/:id 404 \d+$/));
    expect(lines.at(-2)).toMatch(/^\S+Z bob-1 DELETE \/orders\/:sym\/:id 429 \d+$/);
    expect(lines.join('\n')).not.toMatch(/secret/);
  });

  it('refuses a bad key file at start, naming the file and the field', async () => {
    const bad = keyFile([{ id: 'x', sha256: 'abc', owner: 1 }]);
    await expect(startServer(['--design', 'inline', '--http-port', '0', '--keys', bad])).rejects.toThrow(/keys-\d+\.json: keys\[0\]\.sha256: expected 64 hex digits/);
    const twice = keyFile([{ id: 'x', sha256: sha256('a'), owner: 1 }, { id: 'x', sha256: sha256('b'), owner: 2 }]);
    await expect(startServer(['--design', 'inline', '--http-port', '0', '--keys', twice])).rejects.toThrow(/keys\[1\]\.id: "x" is given twice/);
  });
});

describe('HTTP gateway: bad clients are bounded, the others are served', () => {
  /** Opens a raw TCP connection to the gateway; resolves once connected. */
  const open = (port: number): Promise<Socket> => new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => resolve(socket));
    socket.once('error', reject);
  });
  /** Everything the server sends on `socket` until it closes it. */
  const untilClosed = (socket: Socket): Promise<string> => new Promise((resolve) => {
    let text = '';
    socket.on('data', (d: Buffer) => { text += d.toString(); });
    socket.on('error', () => {});
    socket.on('close', () => resolve(text));
  });

  it('a slowloris sender gets 408 at the headers timeout while others are served; past the connection cap a client gets 503 at once', async () => {
    const server = await startServer(['--design', 'inline', '--http-port', '0', '--http-headers-timeout-ms', '600', '--http-max-connections', '300']);
    const port = server.httpPort!;
    // Slowloris: a header line every 100 ms, never the blank line that ends them.
    const slow = await open(port);
    const slowAnswer = untilClosed(slow);
    slow.write('POST /orders HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    const drip = setInterval(() => { if (!slow.destroyed) slow.write(`X-Drip-${Date.now()}: 1\r\n`); }, 100);
    try {
      // Meanwhile a well-behaved client trades.
      const served = await call(port, 'POST', '/orders', { sym: 'AAPL', id: 1, side: 'buy', type: 'limit', price: 100, qty: 5 });
      expect(served.status).toBe(200);
      expect(await slowAnswer).toMatch(/^HTTP\/1\.1 408 Request Timeout/);
    } finally {
      clearInterval(drip);
    }
    // 400 idle connections against a cap of 300: 300 are held, each one past them is answered 503 at once; the held
    // ones send nothing, and the headers timeout closes them too. Then the gateway serves again.
    // (fetch's own connection, kept for reuse, counts towards the cap too, so one or two more may be refused.)
    const idle = await Promise.all(Array.from({ length: 400 }, () => open(port)));
    const answers = await Promise.all(idle.map(untilClosed));
    const refused = answers.filter((a) => /^HTTP\/1\.1 503 Service Unavailable\r\nRetry-After: 1\r\n/.test(a));
    expect(refused.length).toBeGreaterThanOrEqual(100);
    expect(refused.length).toBeLessThanOrEqual(103);
    expect(refused.every((a) => a.includes('the gateway holds its most connections (300)'))).toBe(true);
    const after = await call(port, 'GET', '/metrics');
    expect(after.status).toBe(200);
    expect(after.body.text).toMatch(new RegExp(`^matchbench_http_connections_refused_total ${refused.length}$`, 'm'));
    expect(await stopServer(server, 'SIGTERM')).toBe(0);
  });
});
