/**
 * The WebSocket market-data feed: `GET /stream` on the HTTP gateway (the `ws` library through @fastify/websocket),
 * fed by the public books of server/market-data.ts, which the market-data thread builds off the matching thread.
 *
 * Protocol (JSON text frames; README "WebSocket feed"):
 * - client → server: `{"op":"subscribe","channel":C}` / `{"op":"unsubscribe","channel":C}`, C one of `l1:SYM`,
 *   `l2:SYM`, `trades:SYM`, `orders:OWNER`. A bad frame gets `{"type":"error","error":…}` naming the frame and the
 *   field; the connection stays open.
 * - `l2:SYM`: a `snapshot` {seq, bids, asks} (every level, best first) on subscribe, then a `delta` {seq, changes:
 *   [[side, price, qty], …]} (qty 0: the level is gone) per update of the symbol. `seq` is the symbol's update
 *   count: each delta's is the previous + 1, so a client that sees a jump has missed some and resubscribes.
 * - `l1:SYM`: {seq, bid: [price, qty] | null, ask: …, status} on subscribe and whenever the top of the book or the
 *   trading status changes (status: {state: "trading"} or {state: "limit" | "halted", until: µs}, the breaker's).
 * - `trades:SYM`: a `trade` {seq, price, qty, side (the taker's), taker, maker} per fill.
 * - `orders:OWNER`: that owner's orders' events, in the event NDJSON shape (`event`). With API keys, only the key
 *   of that owner may subscribe.
 *
 * A slow subscriber never slows matching (matching never waits on this thread) nor the others: when a socket's
 * `bufferedAmount` passes `conflateBytes`, its updates are dropped and counted (conflated); once it drains below,
 * each stale l2 subscription gets a fresh snapshot (so its book is whole again, at a later seq) and l1 the current
 * top. A socket that stays over the threshold for `maxStaleMs` is disconnected (counted).
 */
import type { FastifyInstance } from 'fastify';
import type { WebSocket } from 'ws';
import type { ApiKey } from './api-keys.ts';
import type { EngineGauge } from './http-gateway.ts';
import type { MarketData } from './market-data.ts';
import type { BookUpdate } from './market-data-worker.ts';
import { SIDE_BUY } from '../workloads/workload.ts';

export interface FeedOptions {
  readonly conflateBytes?: number;
  readonly maxStaleMs?: number;
  /** With API keys: who may subscribe to `orders:OWNER`. */
  readonly keysOn: boolean;
}

export const DEFAULT_CONFLATE_BYTES = 256 * 1024;
export const DEFAULT_MAX_STALE_MS = 5000;
/** Largest frame a client may send (a subscribe is a few dozen bytes). */
export const FEED_MAX_PAYLOAD = 4096;

type Kind = 'l1' | 'l2' | 'trades' | 'orders';

interface Subscriber {
  readonly socket: WebSocket;
  readonly label: string;
  readonly key: ApiKey | null;
  /** Channels by name, with whether the subscription missed updates (conflated) and needs a fresh start. */
  readonly channels: Map<string, { kind: Kind; target: string; stale: boolean }>;
  /** When the socket went over the threshold (ms), or -1. */
  overSince: number;
  frames: number;
}

export interface Feed {
  gauges(): EngineGauge[];
  close(): void;
}

const sideName = (side: number): 'bid' | 'ask' => (side === SIDE_BUY ? 'bid' : 'ask');

/** Declares `GET /stream` on `app`, which has the @fastify/websocket plugin registered. */
export function registerFeed(app: FastifyInstance, data: MarketData, options: FeedOptions): Feed {
  const conflateBytes = options.conflateBytes ?? DEFAULT_CONFLATE_BYTES;
  const maxStaleMs = options.maxStaleMs ?? DEFAULT_MAX_STALE_MS;
  const subscribers = new Set<Subscriber>();
  /** Subscribers per channel name, for the fan-out. */
  const byChannel = new Map<string, Set<Subscriber>>();
  let delivered = 0;
  let conflated = 0;
  let disconnected = 0;
  let connections = 0;

  const send = (s: Subscriber, message: unknown): void => {
    s.socket.send(JSON.stringify(message));
    delivered++;
  };
  const snapshot = (sym: string): { seq: number; bids: ReadonlyArray<readonly [number, number]>; asks: ReadonlyArray<readonly [number, number]> } =>
    data.book(data.indexOf(sym), Number.MAX_SAFE_INTEGER);
  const top = (sym: string, channel: string): unknown => {
    const book = data.book(data.indexOf(sym), 1);
    return { channel, type: 'l1', seq: book.seq, bid: book.bids[0] ?? null, ask: book.asks[0] ?? null, status: book.status };
  };
  const start = (s: Subscriber, channel: string, kind: Kind, target: string): void => {
    if (kind === 'l2') send(s, { channel, type: 'snapshot', ...snapshot(target) });
    else if (kind === 'l1') send(s, top(target, channel));
  };
  /** A stale channel made whole again: its fresh start (l2 snapshot, l1 top). */
  const refresh = (s: Subscriber, name: string, channel: { kind: Kind; target: string; stale: boolean }): void => {
    channel.stale = false;
    start(s, name, channel.kind, channel.target);
  };

  /** Takes `s` off the feed (once it is disconnected or closed; a second call finds nothing to remove). */
  const detach = (s: Subscriber): void => {
    subscribers.delete(s);
    for (const name of s.channels.keys()) byChannel.get(name)?.delete(s);
  };

  /** Whether `s` is over the threshold; one over it for longer than maxStaleMs is disconnected. */
  const behind = (s: Subscriber): boolean => {
    if (s.socket.bufferedAmount <= conflateBytes) return false;
    const now = performance.now();
    if (s.overSince < 0) s.overSince = now;
    else if (now - s.overSince > maxStaleMs && s.socket.readyState === s.socket.OPEN) {
      disconnected++;
      // Let go here, not on the socket's later 'close', so the subscriber gauge and the disconnect counter change
      // together: a metrics read between the two saw the subscriber disconnected and still subscribed.
      detach(s);
      s.socket.terminate();
    }
    return true;
  };
  // Also while no update comes: a stalled subscriber is let go on time, and one that drained gets its stale
  // channels whole again, not only at the symbol's next update (there may be none).
  const sweep = setInterval(() => {
    for (const s of subscribers) {
      if (behind(s) || s.socket.readyState !== s.socket.OPEN) continue;
      s.overSince = -1;
      for (const [name, channel] of s.channels) if (channel.stale) refresh(s, name, channel);
    }
  }, Math.max(5, Math.min(100, maxStaleMs / 4)));
  sweep.unref();

  /** False when the socket is too far behind for this message: it is counted and dropped, the channel goes stale. */
  const ready = (s: Subscriber, name: string): boolean => {
    if (s.socket.readyState !== s.socket.OPEN) return false;
    const channel = s.channels.get(name)!;
    if (behind(s)) {
      conflated++;
      channel.stale = true;
      return false;
    }
    s.overSince = -1;
    if (channel.stale) {
      refresh(s, name, channel);
      // The fresh snapshot or top already holds this update.
      return channel.kind === 'trades' || channel.kind === 'orders';
    }
    return true;
  };

  const lastTop = new Map<string, string>();
  data.onUpdate((sym: string, update: BookUpdate, seq: number) => {
    const l2 = byChannel.get(`l2:${sym}`);
    if (l2 !== undefined && l2.size > 0 && update.levels.length > 0) {
      const message = { channel: `l2:${sym}`, type: 'delta', seq, changes: update.levels.map(([side, price, qty]) => [sideName(side), price, qty]) };
      for (const s of l2) if (ready(s, `l2:${sym}`)) send(s, message);
    }
    const trades = byChannel.get(`trades:${sym}`);
    if (trades !== undefined && trades.size > 0) {
      for (const [price, qty, side, taker, maker] of update.trades) {
        const message = { channel: `trades:${sym}`, type: 'trade', seq, price, qty, side: side === SIDE_BUY ? 'buy' : 'sell', taker, maker };
        for (const s of trades) if (ready(s, `trades:${sym}`)) send(s, message);
      }
    }
    const l1 = byChannel.get(`l1:${sym}`);
    if (l1 !== undefined && l1.size > 0) {
      const message = top(sym, `l1:${sym}`) as { bid: unknown; ask: unknown; status: unknown };
      const key = JSON.stringify([message.bid, message.ask, message.status]);
      if (lastTop.get(sym) !== key) {
        lastTop.set(sym, key);
        for (const s of l1) if (ready(s, `l1:${sym}`)) send(s, message);
      }
    }
    for (const [owner, event] of update.ownerEvents) {
      const subs = byChannel.get(`orders:${owner}`);
      if (subs === undefined) continue;
      for (const s of subs) if (ready(s, `orders:${owner}`)) send(s, { channel: `orders:${owner}`, type: 'event', event: JSON.parse(event) });
    }
  });

  /** The channel named, or why not. */
  const parseChannel = (s: Subscriber, channel: unknown): { kind: Kind; target: string } | string => {
    if (typeof channel !== 'string') return `field 'channel' must be a string such as "l2:AAPL"`;
    const colon = channel.indexOf(':');
    const kind = channel.slice(0, colon) as Kind;
    const target = channel.slice(colon + 1);
    if (colon < 0 || !['l1', 'l2', 'trades', 'orders'].includes(kind)) return `field 'channel': ${JSON.stringify(channel)} is none of l1:SYM, l2:SYM, trades:SYM, orders:OWNER`;
    if (kind === 'orders') {
      if (!/^[1-9][0-9]{0,15}$/.test(target)) return `field 'channel': ${JSON.stringify(target)} is not an owner (a positive integer)`;
      if (options.keysOn && String(s.key?.owner) !== target) return `field 'channel': the key ${s.key?.id ?? '-'} is owner ${s.key?.owner}'s; orders:${target} is not yours`;
    } else if (data.indexOf(target) < 0) return `field 'channel': unknown symbol ${JSON.stringify(target)}`;
    return { kind, target };
  };

  app.get('/stream', { websocket: true }, (socket, request) => {
    connections++;
    const s: Subscriber = { socket, label: `${request.socket.remoteAddress}:${request.socket.remotePort}`, key: request.apiKey, channels: new Map(), overSince: -1, frames: 0 };
    subscribers.add(s);
    socket.on('message', (raw, isBinary) => {
      s.frames++;
      const where = `connection ${s.label}, frame ${s.frames}`;
      let message: { op?: unknown; channel?: unknown };
      try {
        if (isBinary) throw new Error('a binary frame (the feed speaks JSON text)');
        message = JSON.parse(raw.toString());
        if (typeof message !== 'object' || message === null) throw new Error('not a JSON object');
      } catch (error) {
        socket.send(JSON.stringify({ type: 'error', error: `${where}: ${(error as Error).message}` }));
        return;
      }
      if (message.op !== 'subscribe' && message.op !== 'unsubscribe') {
        socket.send(JSON.stringify({ type: 'error', error: `${where}: field 'op' must be "subscribe" or "unsubscribe"` }));
        return;
      }
      const parsed = parseChannel(s, message.channel);
      if (typeof parsed === 'string') {
        socket.send(JSON.stringify({ type: 'error', error: `${where}: ${parsed}` }));
        return;
      }
      const name = message.channel as string;
      if (message.op === 'subscribe') {
        s.channels.set(name, { ...parsed, stale: false });
        let set = byChannel.get(name);
        if (set === undefined) byChannel.set(name, (set = new Set()));
        set.add(s);
        socket.send(JSON.stringify({ type: 'subscribed', channel: name }));
        start(s, name, parsed.kind, parsed.target);
      } else {
        s.channels.delete(name);
        byChannel.get(name)?.delete(s);
        socket.send(JSON.stringify({ type: 'unsubscribed', channel: name }));
      }
    });
    socket.on('close', () => detach(s));
  });

  return {
    gauges: () => [
      { name: 'matchbench_ws_subscribers', help: 'WebSocket feed connections open now.', samples: [['', subscribers.size]] },
      { name: 'matchbench_ws_connections_total', help: 'WebSocket feed connections accepted since start.', samples: [['', connections]] },
      { name: 'matchbench_ws_messages_total', help: 'Feed messages sent.', samples: [['', delivered]] },
      { name: 'matchbench_ws_conflated_total', help: 'Feed updates dropped for subscribers over the buffer threshold (conflated into a later snapshot).', samples: [['', conflated]] },
      { name: 'matchbench_ws_disconnected_total', help: 'Feed subscribers disconnected after staying over the threshold too long.', samples: [['', disconnected]] },
      { name: 'matchbench_market_data_updates_total', help: 'Book updates the market-data thread delivered.', samples: [['', data.updates]] },
    ],
    close: () => {
      clearInterval(sweep);
      for (const s of subscribers) s.socket.terminate();
    },
  };
}
