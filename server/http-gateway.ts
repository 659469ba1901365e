/**
 * The HTTP gateway: REST on 127.0.0.1 in front of an engine server (`npm run serve -- … --http-port N`), built on
 * fastify for its JSON-schema validation (ajv, compiled once per route), its body limit and content-type checks,
 * and its low per-request cost. The routes and shapes are in server/http-api.ts.
 *
 * Contract:
 * - The gateway is a client of the engine over the wire protocol (server/engine-client.ts, one session of its own):
 *   every command goes the path a binary client's does, so the journal mode's durability, replication and the
 *   equivalence of every design hold for HTTP too, and the engine side has no HTTP code.
 * - Bad requests never reach the engine and never stop the server: 400 names the field (`body/qty must be integer`,
 *   `body must have required property 'sym'`, a body that is not JSON), 404 an unknown route or symbol, 405 a known
 *   path with another method (with `Allow`), 413 a body over `bodyLimit`, 415 a body that is not
 *   `application/json`, 503 with `Retry-After` when `window` commands are in flight (the engine's input is full,
 *   so the Go design's spin-then-reject becomes reject-and-retry-later) or the engine session is down.
 * - `Idempotency-Key: K` on a command: the first request with K is applied once; a retry with K (while the first
 *   is in flight or after) gets the first one's status and body and is not applied again (header
 *   `Idempotent-Replayed: true`); K with a different request is 422. Keys are remembered in this process, the
 *   newest `idempotencyKeys` of them, per API key: a key forgotten (evicted, or the server restarted) is a new
 *   request.
 * - With API keys (`keys`, server/api-keys.ts): every request but `GET /health` needs `Authorization: Bearer KEY`
 *   (401 without or with an unknown one, 429 with `Retry-After` over the key's rate, checked before the body is
 *   read); a new order's owner is the key's (a body naming another owner is 403); cancelling, reducing or modifying
 *   another owner's order is answered `unknown_order` without reaching the engine (server/order-owners.ts).
 * - Bad clients are bounded: `maxConnections` open at once (one more is answered 503 with Retry-After and closed
 *   before anything is parsed), a request's headers must all arrive within `headersTimeoutMs` (a slowloris sender
 *   gets 408 and is closed), a whole request within 30 s, an idle keep-alive connection is closed after 10 s.
 * - `GET /health`: 200 `{"status":"ok",…}` while the engine session is connected, else 503.
 * - `GET /metrics`: Prometheus text of what the gateway sees: requests by route and status, commands by op,
 *   events by kind, rejects by reason, command latency quantiles (request in → engine ACK), in flight,
 *   connections; and the engine's own gauges serve passes in (`engineGauges`).
 */
import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Histogram } from 'hdr-histogram-js';
import { nowNs } from '../harness/clock.ts';
import { latencyHistogram } from '../harness/histogram.ts';
import type { WriteStream } from 'node:fs';
import type { ApiKey, KeyRing } from './api-keys.ts';
import type { EngineClient } from './engine-client.ts';
import { OrderOwners } from './order-owners.ts';
import { formatEvent } from '../engines/types.ts';
import type { MarketData } from './market-data.ts';
import { FEED_MAX_PAYLOAD, registerFeed } from './market-data-feed.ts';
import websocket from '@fastify/websocket';
import {
  AMEND_BODY, BOOK_PARAMS, BOOK_QUERY, CommandEncoder, DEFAULT_BOOK_DEPTH, commandResponse, errorBody, NEW_ORDER_BODY, ORDER_PARAMS, schemaProblemText, type AmendBody, type CommandResponse,
  type NewOrderBody, type OrderParams, type Refusal,
} from './http-api.ts';

export interface HttpGatewayOptions {
  readonly engine: EngineClient;
  readonly symbols: readonly string[];
  /** 0: a free port. */
  readonly port: number;
  readonly bodyLimit?: number;
  readonly idempotencyKeys?: number;
  /** API keys (server/api-keys.ts); without them the gateway is open: any caller may trade as any owner. */
  readonly keys?: KeyRing;
  /** One line per request: time, key id, method, route, status, µs. Written by the stream, off the request path. */
  readonly accessLog?: WriteStream;
  /** Engine-side gauges `/metrics` adds, read at each scrape (serve: commands sequenced and journal lag). */
  readonly engineGauges?: () => readonly EngineGauge[];
  /** The public books (server/market-data.ts), for GET /book/:sym and the WebSocket feed. */
  readonly marketData: MarketData;
  /** The feed's slow-subscriber limits (server/market-data-feed.ts); defaults there. */
  readonly feed?: { readonly conflateBytes?: number; readonly maxStaleMs?: number };
  /** Most connections open at once; one past it is answered 503 and closed (default DEFAULT_MAX_CONNECTIONS). */
  readonly maxConnections?: number;
  /** A request whose headers have not all arrived this long after it began is answered 408 and closed. */
  readonly headersTimeoutMs?: number;
}

/** One gauge family for `/metrics`: its name, help text, and samples as [labels, value]. */
export interface EngineGauge {
  readonly name: string;
  readonly help: string;
  readonly samples: readonly (readonly [string, number])[];
}

export interface HttpGateway {
  readonly port: number;
  /** Stops taking requests, answers those in flight, closes the engine session. */
  close(): Promise<void>;
}

const DEFAULT_BODY_LIMIT = 4096;
export const DEFAULT_MAX_CONNECTIONS = 10_000;
export const DEFAULT_HEADERS_TIMEOUT_MS = 10_000;
/** A whole request (headers and body) must arrive within this; then 408. */
const REQUEST_TIMEOUT_MS = 30_000;
/** An idle keep-alive connection is closed after this. */
const KEEP_ALIVE_MS = 10_000;
const DEFAULT_IDEMPOTENCY_KEYS = 100_000;
const RETRY_AFTER_S = 1;
const JSON_TYPE = 'application/json; charset=utf-8';

/** The routes, for 405: a path that matches one of these patterns with another method. */
const ROUTES: readonly { readonly pattern: RegExp; readonly methods: readonly string[] }[] = [
  { pattern: /^\/orders\/?$/, methods: ['POST'] },
  { pattern: /^\/orders\/[^/]+\/[^/]+\/?$/, methods: ['DELETE', 'PATCH'] },
  { pattern: /^\/health\/?$/, methods: ['GET', 'HEAD'] },
  { pattern: /^\/book\/[^/]+\/?$/, methods: ['GET', 'HEAD'] },
  { pattern: /^\/stream\/?$/, methods: ['GET'] },
  { pattern: /^\/metrics\/?$/, methods: ['GET', 'HEAD'] },
];

declare module 'fastify' {
  interface FastifyRequest {
    /** The key that authenticated the request (null without --keys, and on /health). */
    apiKey: ApiKey | null;
  }
}

interface Remembered {
  readonly fingerprint: string;
  readonly response: Promise<CommandResponse | Refusal>;
}


class Metrics {
  readonly requests = new Map<string, number>();
  readonly commands = new Map<string, number>();
  readonly events = new Map<string, number>();
  readonly rejects = new Map<string, number>();
  readonly latency: Histogram = latencyHistogram();

  count(map: Map<string, number>, key: string): void {
    map.set(key, (map.get(key) ?? 0) + 1);
  }

  text(engine: EngineClient, connections: { open: number; refused: number }, gauges: readonly EngineGauge[]): string {
    const lines: string[] = [];
    const family = (name: string, help: string, type: string, samples: Iterable<readonly [string, number]>): void => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, value] of samples) lines.push(`${name}${labels} ${value}`);
    };
    family('matchbench_http_requests_total', 'HTTP requests answered, by route and status.', 'counter', this.requests);
    family('matchbench_commands_total', 'Commands submitted to the engine, by op.', 'counter', [...this.commands].map(([op, n]) => [`{op="${op}"}`, n]));
    family('matchbench_events_total', 'Engine events returned, by kind.', 'counter', [...this.events].map(([kind, n]) => [`{kind="${kind}"}`, n]));
    family('matchbench_rejects_total', 'Commands the engine rejected, by reason.', 'counter', [...this.rejects].map(([reason, n]) => [`{reason="${reason}"}`, n]));
    const quantiles: [string, number][] = [0.5, 0.9, 0.99, 0.999].map((q) => [`{quantile="${q}"}`, this.latency.totalCount === 0 ? 0 : this.latency.getValueAtPercentile(q * 100) / 1e9]);
    family('matchbench_command_latency_seconds', 'Command latency from request in to engine acknowledgement.', 'summary', quantiles);
    lines.push(`matchbench_command_latency_seconds_count ${this.latency.totalCount}`);
    family('matchbench_engine_in_flight', 'Commands sent to the engine and not yet acknowledged.', 'gauge', [['', engine.inFlight]]);
    family('matchbench_engine_connections_total', 'Connections the gateway made to the engine (1 + reconnects).', 'counter', [['', engine.connections]]);
    family('matchbench_http_connections_open', 'HTTP connections open now.', 'gauge', [['', connections.open]]);
    family('matchbench_http_connections_refused_total', 'HTTP connections refused with 503 at the connection cap.', 'counter', [['', connections.refused]]);
    // Prometheus' naming rule: a `_total` family counts up (counter); any other is a level (gauge).
    for (const gauge of gauges) family(gauge.name, gauge.help, gauge.name.endsWith('_total') ? 'counter' : 'gauge', gauge.samples);
    return `${lines.join('\n')}\n`;
  }
}

export async function startHttpGateway(options: HttpGatewayOptions): Promise<HttpGateway> {
  const { engine, symbols } = options;
  const symbolIndex = new Map(symbols.map((s, i) => [s, i]));
  const encoder = new CommandEncoder();
  const metrics = new Metrics();
  const remembered = new Map<string, Remembered>();
  const keysKept = options.idempotencyKeys ?? DEFAULT_IDEMPOTENCY_KEYS;

  // The connection cap and the timeouts that bound what a bad client can hold: a slow sender (slowloris) gets 408
  // at the headers timeout, an idle keep-alive connection is closed, one connection past the cap gets 503 at once.
  const maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  const headersTimeoutMs = options.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS;
  const refusedSockets = new WeakSet<Socket>();
  let openConnections = 0;
  let refusedConnections = 0;
  const refusal = errorBody(`the gateway holds its most connections (${maxConnections}): retry later`);
  const refuseConnection = `HTTP/1.1 503 Service Unavailable\r\nRetry-After: ${RETRY_AFTER_S}\r\nContent-Type: ${JSON_TYPE}\r\nContent-Length: ${Buffer.byteLength(refusal)}\r\nConnection: close\r\n\r\n${refusal}`;
  const serverFactory = (handler: Parameters<typeof createServer>[1]): Server => {
    const server = createServer({
      headersTimeout: headersTimeoutMs, requestTimeout: Math.max(REQUEST_TIMEOUT_MS, headersTimeoutMs), keepAliveTimeout: KEEP_ALIVE_MS,
      connectionsCheckingInterval: Math.max(50, Math.min(1000, headersTimeoutMs / 4)),
    }, handler);
    server.on('connection', (socket: Socket) => {
      if (openConnections >= maxConnections) {
        refusedConnections++;
        refusedSockets.add(socket);
        socket.end(refuseConnection);
        return;
      }
      openConnections++;
      socket.once('close', () => openConnections--);
    });
    return server;
  };

  const app: FastifyInstance = Fastify({
    serverFactory,
    bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT,
    // Types are checked, never coerced ("5" for a quantity is a 400, not 5), and an unknown field is an error, not
    // silently dropped.
    ajv: { customOptions: { coerceTypes: false, allErrors: false, removeAdditional: false } },
    schemaErrorFormatter: (errors, part) => new Error(schemaProblemText(errors[0]!, part)),
    logger: false,
    return503OnClosing: true,
  });

  // The WebSocket plugin first, so that it sees every route (GET /stream is one: server/market-data-feed.ts).
  await app.register(websocket, { options: { maxPayload: FEED_MAX_PAYLOAD } });

  // Only JSON bodies: without fastify's text/plain parser a plain-text body is a 415, not a string for the schema.
  app.removeContentTypeParser('text/plain');

  app.decorateRequest('apiKey', null);
  // A request on a connection refused at the cap was answered 503 already; nothing more goes to that socket.
  app.addHook('onRequest', async (request, reply) => {
    if (refusedSockets.has(request.raw.socket)) reply.hijack();
  });
  const { keys, accessLog } = options;
  const owners = new OrderOwners();
  if (keys !== undefined) {
    // Before the body is read: an unauthenticated or over-rate request costs no parsing.
    app.addHook('onRequest', async (request, reply) => {
      if (request.url === '/health' || request.url.startsWith('/health?')) return;
      const key = keys.authenticate(request.headers.authorization);
      if (!('status' in key)) request.apiKey = key;
      const refusal = 'status' in key ? key : keys.admit(key);
      if (refusal !== null) {
        // A refused WebSocket upgrade has no HTTP connection to go on with: close it once answered.
        if (request.headers.upgrade !== undefined) reply.raw.once('finish', () => request.raw.socket.destroy());
        return refuse(reply, refusal);
      }
    });
  }

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.count(metrics.requests, `{route="${route}",status="${reply.statusCode}"}`);
    accessLog?.write(`${new Date().toISOString()} ${request.apiKey?.id ?? '-'} ${request.method} ${route} ${reply.statusCode} ${Math.round(reply.elapsedTime * 1000)}\n`);
  });

  const refuse = (reply: FastifyReply, refusal: Refusal): FastifyReply => {
    if (refusal.retryAfterS !== undefined) reply.header('retry-after', String(refusal.retryAfterS));
    return reply.code(refusal.status).type(JSON_TYPE).send(errorBody(refusal.error));
  };

  /** Submits `record` (op `op`) and waits for the engine's answer; a refusal when it cannot be submitted. */
  const submit = async (op: string, record: Uint8Array, owner: number | null): Promise<CommandResponse | Refusal> => {
    if (engine.state !== 'connected' && engine.state !== 'connecting') return { status: 503, error: `the engine session is ${engine.state}: ${engine.failure?.message ?? ''}`, retryAfterS: RETRY_AFTER_S };
    const started = nowNs();
    const outcome = engine.submit(record);
    if (outcome === null) return { status: 503, error: `the engine has ${engine.inFlight} commands in flight (the most it takes): retry later`, retryAfterS: RETRY_AFTER_S };
    metrics.count(metrics.commands, op);
    let answer;
    try {
      answer = await outcome;
    } catch (error) {
      return { status: 503, error: (error as Error).message, retryAfterS: RETRY_AFTER_S };
    }
    metrics.latency.recordValue(Math.max(1, Math.round(nowNs() - started)));
    const response = commandResponse(answer.events, answer.count, symbols);
    if (owner !== null) owners.observe(owner, response.events);
    for (const event of response.events) {
      metrics.count(metrics.events, event.ev);
      if (event.ev === 'rejected') metrics.count(metrics.rejects, event.reason);
    }
    return response;
  };

  /** Runs a command request, once per Idempotency-Key. */
  const command = async (request: FastifyRequest, reply: FastifyReply, op: string, record: () => Uint8Array | Refusal | CommandResponse): Promise<FastifyReply> => {
    const header = request.headers['idempotency-key'];
    if (Array.isArray(header)) return refuse(reply, { status: 400, error: 'header Idempotency-Key: given more than once' });
    let response: Promise<CommandResponse | Refusal>;
    if (header !== undefined) {
      // Scoped to the API key: one key's Idempotency-Key never replays another's answer.
      const key = `${request.apiKey?.id ?? ''}\u0000${header}`;
      const fingerprint = `${request.method} ${request.url} ${JSON.stringify(request.body ?? null)}`;
      const earlier = remembered.get(key);
      if (earlier !== undefined) {
        if (earlier.fingerprint !== fingerprint) return refuse(reply, { status: 422, error: `header Idempotency-Key: "${header}" was used for a different request (${earlier.fingerprint})` });
        reply.header('idempotent-replayed', 'true');
        response = earlier.response;
      } else {
        response = encodeAndSubmit(op, record, request.apiKey);
        remembered.set(key, { fingerprint, response });
        // A refusal (nothing was applied) is not remembered: the retry it asks for must be able to go through.
        void response.then((r) => { if (!('body' in r) && remembered.get(key)?.response === response) remembered.delete(key); });
        if (remembered.size > keysKept) remembered.delete(remembered.keys().next().value!);
      }
    } else {
      response = encodeAndSubmit(op, record, request.apiKey);
    }
    const answer = await response;
    if (!('body' in answer)) return refuse(reply, answer);
    return reply.code(answer.status).type(JSON_TYPE).send(answer.body);
  };

  const encodeAndSubmit = (op: string, record: () => Uint8Array | Refusal | CommandResponse, key: ApiKey | null): Promise<CommandResponse | Refusal> => {
    const encoded = record();
    return encoded instanceof Uint8Array ? submit(op, encoded, key?.owner ?? null) : Promise.resolve(encoded);
  };

  /**
   * With keys, another owner's order is answered as the engine answers an order that does not exist, and the
   * command is not sent (seq 0: the engine never sequenced it).
   */
  const notYours = (request: FastifyRequest, sym: string, id: number): CommandResponse | null => {
    const owner = owners.ownerOf(sym, id);
    if (request.apiKey === null || owner === undefined || owner === request.apiKey.owner) return null;
    const event = { seq: 0, ev: 'rejected', sym, id, reason: 'unknown_order' } as const;
    metrics.count(metrics.rejects, 'unknown_order');
    return { status: 404, body: `{"events":[${formatEvent(event)}]}`, events: [event] };
  };

  /** With keys, a new order's owner is the key's; a body that names another is refused. */
  const ownerOf = (request: FastifyRequest, body: NewOrderBody): NewOrderBody | Refusal => {
    const key = request.apiKey;
    if (key === null) return body;
    if (body.owner !== undefined && body.owner !== key.owner) return { status: 403, error: `body/owner: orders placed with key ${key.id} belong to owner ${key.owner}, not ${body.owner}` };
    return { ...body, owner: key.owner };
  };

  const symbolOf = (sym: string, where: string): number | Refusal => symbolIndex.get(sym) ?? { status: 404, error: `${where}: unknown symbol ${JSON.stringify(sym)} (this engine has ${symbols.length} symbols)` };
  const idOf = (params: OrderParams): number => Number(params.id);

  app.post<{ Body: NewOrderBody }>('/orders', { schema: { body: NEW_ORDER_BODY } }, (request, reply) =>
    command(request, reply, 'new', () => {
      const sym = symbolOf(request.body.sym, 'body/sym');
      const body = ownerOf(request, request.body);
      if (typeof sym !== 'number') return sym;
      return 'status' in body ? body : encoder.newOrder(sym, body);
    }));

  app.delete<{ Params: OrderParams }>('/orders/:sym/:id', { schema: { params: ORDER_PARAMS } }, (request, reply) =>
    command(request, reply, 'cancel', () => {
      const sym = symbolOf(request.params.sym, 'params/sym');
      if (typeof sym !== 'number') return sym;
      return notYours(request, request.params.sym, idOf(request.params)) ?? encoder.cancel(sym, idOf(request.params));
    }));

  app.patch<{ Params: OrderParams; Body: AmendBody }>('/orders/:sym/:id', { schema: { params: ORDER_PARAMS, body: AMEND_BODY } }, (request, reply) =>
    command(request, reply, request.body.price === undefined ? 'reduce' : 'modify', () => {
      const sym = symbolOf(request.params.sym, 'params/sym');
      if (typeof sym !== 'number') return sym;
      return notYours(request, request.params.sym, idOf(request.params)) ?? encoder.amend(sym, idOf(request.params), request.body);
    }));

  const feed = registerFeed(app, options.marketData, { keysOn: keys !== undefined, ...(options.feed ?? {}) });

  app.get<{ Params: { sym: string }; Querystring: { depth?: string } }>('/book/:sym', { schema: { params: BOOK_PARAMS, querystring: BOOK_QUERY } }, async (request, reply) => {
    const sym = symbolOf(request.params.sym, 'params/sym');
    if (typeof sym !== 'number') return refuse(reply, sym);
    const depth = request.query.depth === undefined ? DEFAULT_BOOK_DEPTH : Number(request.query.depth);
    const book = options.marketData.book(sym, depth);
    return reply.type(JSON_TYPE).send(JSON.stringify({ sym: request.params.sym, seq: book.seq, bids: book.bids, asks: book.asks, status: book.status }));
  });

  app.get('/health', async (_request, reply) => {
    const up = engine.state === 'connected';
    return reply.code(up ? 200 : 503).type(JSON_TYPE).send(JSON.stringify({
      status: up ? 'ok' : 'unavailable', engine: engine.state, design: engine.design, session: engine.session, inFlight: engine.inFlight, symbols: symbols.length,
    }));
  });

  app.get('/metrics', async (_request, reply) => reply.type('text/plain; version=0.0.4; charset=utf-8').send(metrics.text(engine, { open: openConnections, refused: refusedConnections }, [...(options.engineGauges?.() ?? []), ...feed.gauges()])));

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0]!;
    const route = ROUTES.find((r) => r.pattern.test(path));
    if (route !== undefined) {
      reply.header('allow', route.methods.join(', '));
      return refuse(reply, { status: 405, error: `${request.method} ${path}: method not allowed (allowed: ${route.methods.join(', ')})` });
    }
    return refuse(reply, { status: 404, error: `${request.method} ${path}: no such route (routes: POST /orders, DELETE|PATCH /orders/:sym/:id, GET /book/:sym, GET /stream (WebSocket), GET /health, GET /metrics)` });
  });

  app.setErrorHandler((error: Error & { statusCode?: number; validation?: unknown; code?: string }, _request, reply) => {
    const status = error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500;
    // fastify's messages name the field (`body/qty must be integer`), the limit (413) and the content type (415).
    return refuse(reply, { status, error: error.message });
  });

  await app.listen({ host: '127.0.0.1', port: options.port });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('HTTP gateway: no TCP address after listen');
  return {
    port: address.port,
    close: async () => {
      feed.close();
      await app.close();
      await engine.close();
      if (accessLog !== undefined) await new Promise<void>((r) => accessLog.end(r));
    },
  };
}
