/**
 * A thin adapter that replays a workload through `nodejs-order-book` (the JavaScript order book users would pick
 * today), for bench/core.ts: one `OrderBook` per symbol, commands translated before the timer starts, so the timed
 * loop measures the peer's book and not our translation.
 *
 * The peer speaks limit GTC/IOC/FOK, market and cancel, with string ids, so only workloads of those commands fit
 * (the generator's `ops: 'peer'` mode). Anything else is refused by name, never silently dropped. The peer keys ids
 * per book, like matchbench, so a per-symbol id sequence works unchanged.
 */
import { OrderBook } from 'nodejs-order-book';
import type { Workload } from '../workloads/workload.ts';
import { OP_CANCEL, OP_NEW, SIDE_BUY, TIF_FOK, TIF_IOC, TYPE_LIMIT, TYPE_MARKET } from '../workloads/workload.ts';

type PeerSide = Parameters<OrderBook['market']>[0]['side'];
type PeerLimit = Parameters<OrderBook['limit']>[0];
type PeerMarket = Parameters<OrderBook['market']>[0];
type PeerTif = NonNullable<PeerLimit['timeInForce']>;

const KIND_LIMIT = 0;
const KIND_MARKET = 1;
const KIND_CANCEL = 2;

/** One workload, translated into the peer's call arguments. */
export interface PeerScript {
  readonly symbols: number;
  readonly kinds: Uint8Array;
  readonly books: Uint32Array;
  readonly limits: ReadonlyArray<PeerLimit | undefined>;
  readonly markets: ReadonlyArray<PeerMarket | undefined>;
  readonly ids: ReadonlyArray<string | undefined>;
}

/** Translates every record; throws at the first command the peer cannot express. */
export function peerScript(workload: Workload): PeerScript {
  const n = workload.count;
  const kinds = new Uint8Array(n);
  const books = new Uint32Array(n);
  const limits: Array<PeerLimit | undefined> = new Array<PeerLimit | undefined>(n).fill(undefined);
  const markets: Array<PeerMarket | undefined> = new Array<PeerMarket | undefined>(n).fill(undefined);
  const ids: Array<string | undefined> = new Array<string | undefined>(n).fill(undefined);
  for (let i = 0; i < n; i++) {
    const base = i * 40;
    const op = workload.bytes[base]!;
    const id = workload.f64[i * 5 + 1]!;
    books[i] = workload.symIndex(i);
    if (op === OP_CANCEL) {
      kinds[i] = KIND_CANCEL;
      ids[i] = String(id);
      continue;
    }
    const type = workload.bytes[base + 2]!;
    if (op !== OP_NEW || (type !== TYPE_LIMIT && type !== TYPE_MARKET)) {
      throw new Error(`nodejs-order-book adapter: record ${i} is a ${workload.command(i).op} command; the peer only takes new limit/market orders and cancels (generate with ops 'peer')`);
    }
    const side = (workload.bytes[base + 1] === SIDE_BUY ? 'buy' : 'sell') as PeerSide;
    const size = workload.f64[i * 5 + 3]!;
    if (type === TYPE_MARKET) {
      kinds[i] = KIND_MARKET;
      markets[i] = { side, size };
    } else {
      const tifCode = workload.bytes[base + 3]!;
      const timeInForce = (tifCode === TIF_IOC ? 'IOC' : tifCode === TIF_FOK ? 'FOK' : 'GTC') as PeerTif;
      kinds[i] = KIND_LIMIT;
      limits[i] = { id: String(id), side, size, price: workload.f64[i * 5 + 2]!, timeInForce };
    }
  }
  return { symbols: workload.symbols.length, kinds, books, limits, markets, ids };
}

/** Fresh, empty books for one run of a script. */
export function peerBooks(script: PeerScript): OrderBook[] {
  return Array.from({ length: script.symbols }, () => new OrderBook());
}

/**
 * Runs commands [from, to) of a script against `books`; returns how many orders the peer reported done (fully
 * filled or cancelled), so the work cannot be optimised away and runs can be sanity-checked against each other.
 */
export function runPeer(script: PeerScript, books: readonly OrderBook[], from: number, to: number): number {
  let done = 0;
  const { kinds, limits, markets, ids } = script;
  for (let i = from; i < to; i++) {
    const book = books[script.books[i]!]!;
    const kind = kinds[i];
    if (kind === KIND_LIMIT) done += book.limit(limits[i]!).done.length;
    else if (kind === KIND_MARKET) done += book.market(markets[i]!).done.length;
    else if (book.cancel(ids[i]!) !== undefined) done++;
  }
  return done;
}
