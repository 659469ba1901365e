/**
 * Market data of `serve --http-port`, main-thread side: starts the market-data thread (server/market-data-worker.ts),
 * keeps a mirror of every symbol's public book from its updates (price → total qty per side, a per-symbol
 * sequence number that counts the updates, and its trading status under the breaker), and hands each update to the listeners (the WebSocket feed,
 * server/market-data-feed.ts). `GET /book/:sym` reads the mirror.
 *
 * The mirror is a snapshot of the books as of the last update applied here: it lags the engine by the thread hop
 * and the batching (about a millisecond), never leads it, and is never torn (updates apply on this thread only).
 */
import type { Worker } from 'node:worker_threads';
import { startThread } from '../engines/workers/start-thread.ts';
import { l2OfCores } from '../engines/core-inspect.ts';
import type { FastCore, TradingStatus } from '../engines/fast-core.ts';
import type { SequenceLog } from '../engines/sequence-log.ts';
import type { L2Snapshot } from '../engines/types.ts';
import { SIDE_BUY } from '../workloads/workload.ts';
import type { BookUpdate, MarketDataMessage, MarketDataTask } from './market-data-worker.ts';

interface MirrorBook {
  readonly bids: Map<number, number>;
  readonly asks: Map<number, number>;
  /** Updates applied to this symbol so far (the feed's per-symbol sequence number). */
  seq: number;
  status: TradingStatus;
}

export type UpdateListener = (sym: string, update: BookUpdate, seq: number) => void;

export class MarketData {
  readonly symbols: readonly string[];
  readonly #books: MirrorBook[];
  readonly #worker: Worker;
  readonly #listeners = new Set<UpdateListener>();
  #updates = 0;

  private constructor(symbols: readonly string[], worker: Worker) {
    this.symbols = symbols;
    this.#books = symbols.map(() => ({ bids: new Map(), asks: new Map(), seq: 0, status: { state: 'trading' } }));
    this.#worker = worker;
    worker.on('message', (message: MarketDataMessage) => {
      for (const update of message.updates) this.#apply(update);
    });
  }

  /**
   * Starts the thread over the design's sequence logs and cores; call before any command is submitted (it turns
   * on the logs' publishing, and copies the cores as they are).
   */
  static start(symbols: readonly string[], logs: readonly SequenceLog[], cores: readonly FastCore[], records: SharedArrayBuffer, maxEventsPerCommand: number): MarketData {
    for (const log of logs) log.publishForJournal();
    const copies = cores.map((core) => {
      const copy = new ArrayBuffer(core.layout.totalBytes);
      new Uint8Array(copy).set(new Uint8Array(core.buffer, core.byteOffset, core.layout.totalBytes));
      return copy;
    });
    const task: MarketDataTask = { logs: logs.map((log) => log.region), records, cores: copies, maxEventsPerCommand, symbols };
    const worker = startThread(new URL('./market-data-worker.ts', import.meta.url), { workerData: task, transferList: copies });
    const data = new MarketData(symbols, worker);
    // Seed the mirror with the books as they are (a recovered engine's).
    symbols.forEach((_, sym) => {
      const { bids, asks } = l2OfCores(cores, sym, Number.MAX_SAFE_INTEGER);
      for (const [price, qty] of bids) data.#books[sym]!.bids.set(price, qty);
      for (const [price, qty] of asks) data.#books[sym]!.asks.set(price, qty);
      // One core owns the symbol (sharded: one of K); the others never saw it trade.
      data.#books[sym]!.status = cores.map((core) => core.tradingStatus(sym)).find((s) => s.state !== 'trading') ?? { state: 'trading' };
    });
    return data;
  }

  /** Index of `sym`, or -1. */
  indexOf(sym: string): number {
    return this.symbols.indexOf(sym);
  }

  /** Best `depth` levels a side, the symbol's feed sequence number they are as of, and its trading status. */
  book(sym: number, depth: number): L2Snapshot & { readonly seq: number; readonly status: TradingStatus } {
    const book = this.#books[sym]!;
    const top = (levels: Map<number, number>, descending: boolean): Array<readonly [number, number]> =>
      [...levels].sort((a, b) => (descending ? b[0] - a[0] : a[0] - b[0])).slice(0, depth);
    return { seq: book.seq, bids: top(book.bids, true), asks: top(book.asks, false), status: book.status };
  }

  onUpdate(listener: UpdateListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Updates applied since start (for /metrics). */
  get updates(): number {
    return this.#updates;
  }

  async stop(): Promise<void> {
    const exited = new Promise<void>((resolve) => this.#worker.once('exit', () => resolve()));
    this.#worker.postMessage({ type: 'stop' });
    await exited;
  }

  #apply(update: BookUpdate): void {
    // A clock's reject (no symbol) carries nothing public.
    const book = this.#books[update.sym];
    if (book === undefined) return;
    for (const [side, price, qty] of update.levels) {
      const levels = side === SIDE_BUY ? book.bids : book.asks;
      if (qty === 0) levels.delete(price);
      else levels.set(price, qty);
    }
    if (update.status !== undefined) book.status = update.status;
    // The symbol's sequence counts the updates that change its book (an owner's reject changes none).
    if (update.levels.length > 0) book.seq++;
    this.#updates++;
    const sym = this.symbols[update.sym]!;
    for (const listener of this.#listeners) listener(sym, update, book.seq);
  }
}
