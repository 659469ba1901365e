/**
 * Reading books out of one or more fast cores by symbol: the canonical book hash and L2 depth. Designs keep every
 * core in shared memory, so the main thread attaches views and reads them here once the engine is idle; a sharded
 * design passes all K cores, each owning a disjoint set of symbols, and gets the hash of the whole book.
 */
import { BookHasher } from './book-hash.ts';
import type { FastCore } from './fast-core.ts';
import type { L2Snapshot } from './types.ts';
import { SIDE_BUY, SIDE_SELL } from '../workloads/workload.ts';

/** The core holding symbol `sym` (the first with levels for it), or undefined when no core has any. */
function coreWith(cores: readonly FastCore[], sym: number): FastCore | undefined {
  for (const core of cores) if (sym < core.capacities.maxSymbols && core.levelCount(sym) > 0) return core;
  return undefined;
}

/**
 * Canonical hash (engines/book-hash.ts) of the books in `cores`, symbol indexes named by `symbols`. Throws if two
 * cores hold levels for one symbol: a sharded design must own each symbol in exactly one shard.
 */
export function bookHashOfCores(cores: readonly FastCore[], symbols: readonly string[]): string {
  const live: Array<[string, FastCore, number]> = [];
  symbols.forEach((sym, index) => {
    const holders = cores.filter((core) => index < core.capacities.maxSymbols && core.levelCount(index) > 0);
    if (holders.length > 1) throw new Error(`book hash: symbol ${JSON.stringify(sym)} has levels in ${holders.length} cores`);
    if (holders.length === 1) live.push([sym, holders[0]!, index]);
  });
  live.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const hasher = new BookHasher();
  for (const [sym, core, index] of live) {
    hasher.symbol(sym);
    for (const side of [SIDE_BUY, SIDE_SELL]) {
      const sideName = side === SIDE_BUY ? 'buy' : 'sell';
      for (let level = core.bestLevel(index, side); level !== -1; level = core.worseLevel(level)) {
        hasher.level(sideName, core.priceOf(level));
        for (let o = core.headOrder(level); o !== -1; o = core.nextOrder(o)) hasher.order(core.idOf(o), core.qtyOf(o));
      }
    }
  }
  return hasher.digest();
}

/** Aggregated depth of symbol index `sym` across `cores`, at most `depth` levels a side. */
export function l2OfCores(cores: readonly FastCore[], sym: number, depth: number): L2Snapshot {
  const core = coreWith(cores, sym);
  if (core === undefined) return { bids: [], asks: [] };
  const side = (s: number): Array<readonly [number, number]> => {
    const out: Array<readonly [number, number]> = [];
    for (let level = core.bestLevel(sym, s); level !== -1 && out.length < depth; level = core.worseLevel(level)) {
      let total = 0;
      for (let o = core.headOrder(level); o !== -1; o = core.nextOrder(o)) total += core.qtyOf(o);
      out.push([core.priceOf(level), total]);
    }
    return out;
  };
  return { bids: side(SIDE_BUY), asks: side(SIDE_SELL) };
}
