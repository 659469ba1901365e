/**
 * The seeded synthetic workload generator and its named presets.
 *
 * One engine-in-the-loop simulation serves every preset; a preset is a parameter set (PresetParams, recorded in
 * the workload's provenance) chosen to stress one thing. Per command: pick a symbol (uniform, or Zipf-skewed
 * popularity), let that symbol's mid price take a random-walk step of one integer tick, pick a command kind by the
 * preset's weights, and build it. Every generated command is also fed to a private ReferenceEngine, whose events
 * keep an exact set of live orders, so cancels, reduces and modifies target orders that really rest (except the
 * deliberate stale cancels: an order that just left the book, the race every venue sees) and aggressive orders are
 * sized from the real opposite book. The cancel weight scales with live/target, which holds each book near its
 * target size instead of letting it grow or drain.
 *
 * Kinds: `passive` is a GTC limit placed a skewed distance from the mid but never through the opposite touch
 * (post-only in effect: it rests); `marketable` is a GTC limit priced k levels through the book with more quantity
 * than those levels (fills, then rests a new touch); `ioc`, `fok` and `market` are sized to take k levels
 * (k from takerLevels); a share of FOKs asks one lot more than the crossed levels hold, so they must fail.
 *
 * Determinism: a seed fixes every draw (workloads/prng.ts, integer arithmetic only) and the reference engine is
 * deterministic, so the same options give byte-identical records, symbol table and provenance. Ids are positive
 * safe integers with random gaps from a random large base, never dense. `ops: 'peer'` restricts the stream to what
 * the nodejs-order-book peer can express (new limit gtc/ioc/fok, new market, cancel): reduce and modify weights
 * become zero and the rest keep their proportions.
 */
import { ReferenceEngine } from '../engines/reference.ts';
import type { Command, MatchEvent, Side } from '../engines/types.ts';
import { Prng } from './prng.ts';
import { WorkloadBuilder, type Workload } from './workload.ts';

/** Bump when a change to this file changes the output for a given preset and seed. */
export const GENERATOR_VERSION = 1;

export type OpsMode = 'all' | 'peer';

/** Relative weights of the command kinds (normalized per command, after the cancel weight is scaled). */
export interface KindWeights {
  readonly passive: number;
  readonly marketable: number;
  readonly ioc: number;
  readonly fok: number;
  readonly market: number;
  readonly cancel: number;
  readonly reduce: number;
  readonly modify: number;
}

export interface PresetParams {
  /** How many symbols. */
  readonly symbols: number;
  /** Symbol choice: uniform, or Zipf, the discrete Pareto law (rank r chosen with probability ∝ 1/r: a few symbols carry most traffic). */
  readonly popularity: 'uniform' | 'zipf';
  /** One id sequence per symbol (the same id lives in many symbols at once) instead of one global sequence. */
  readonly idsPerSymbol: boolean;
  /** Starting mid of each symbol, uniform in [lo, hi] ticks. */
  readonly startMid: readonly [number, number];
  /** Chance per command on a symbol that its mid moves one tick (up or down, evenly). */
  readonly midStepChance: number;
  /** Live orders per symbol the cancel rate steers towards. */
  readonly targetLive: number;
  /** Passive orders rest 0 .. depthTicks-1 ticks from the mid, skewed towards it. */
  readonly depthTicks: number;
  /** Order sizes are 1 .. maxQty lots, skewed small. */
  readonly maxQty: number;
  readonly weights: KindWeights;
  /** Share of cancels aimed at an order that just left the book (answered unknown_order). */
  readonly staleCancelShare: number;
  /** Aggressive orders are priced at the k-th level of the opposite book, k uniform in [lo, hi]. */
  readonly takerLevels: readonly [number, number];
  /**
   * Aggressive orders are sized to take all k levels (true: sweeps), or drawn like any order size (false: most stop
   * at the first level). A marketable GTC takes the k levels and rests more; an FOK never asks for more than its
   * limit reaches, except the fokFailShare that asks for one lot more.
   */
  readonly sweepSized: boolean;
  /** Share of FOK orders sized one lot beyond what their limit can reach, so they are cancelled (reason fok). */
  readonly fokFailShare: number;
  /** Owners are drawn uniformly from 1 .. owners. */
  readonly owners: number;
}

export interface Preset {
  readonly name: string;
  /** One line: what the preset is. */
  readonly description: string;
  /** What it stresses in an engine. */
  readonly stresses: string;
  /** Commands generated when no count is given; sized so `npm run compare` stays quick on 2 cores. */
  readonly defaultCount: number;
  readonly params: PresetParams;
}

const NO_WEIGHTS: KindWeights = { passive: 0, marketable: 0, ioc: 0, fok: 0, market: 0, cancel: 0, reduce: 0, modify: 0 };

export const PRESETS: readonly Preset[] = [
  {
    name: 'balanced',
    description: 'Realistic mix near the touch on 8 symbols: passive adds around the mid, ~40% cancels, some reduces and modifies, a few marketable, IOC, FOK and market orders.',
    stresses: 'the everyday path: insert near the top of book, cancel from anywhere in a level, small fills at the touch.',
    defaultCount: 300_000,
    params: {
      symbols: 8, popularity: 'zipf', idsPerSymbol: false, startMid: [5_000, 50_000], midStepChance: 0.05,
      targetLive: 400, depthTicks: 20, maxQty: 200,
      weights: { ...NO_WEIGHTS, passive: 46, marketable: 2, ioc: 3, fok: 1, market: 2, cancel: 38, reduce: 4, modify: 4 },
      staleCancelShare: 0.02, takerLevels: [1, 3], sweepSized: false, fokFailShare: 0.3, owners: 100,
    },
  },
  {
    name: 'cancel-heavy',
    description: 'Add-then-cancel churn as in real feeds: at least 90% of orders are cancelled, very few trade.',
    stresses: 'order insertion and removal from the middle of FIFO levels (id lookup, unlink, empty-level cleanup).',
    defaultCount: 300_000,
    params: {
      symbols: 4, popularity: 'uniform', idsPerSymbol: false, startMid: [10_000, 20_000], midStepChance: 0.02,
      targetLive: 200, depthTicks: 30, maxQty: 100,
      weights: { ...NO_WEIGHTS, passive: 50, ioc: 0.5, market: 0.5, cancel: 49 },
      staleCancelShare: 0, takerLevels: [1, 1], sweepSized: false, fokFailShare: 0, owners: 100,
    },
  },
  {
    name: 'sweep',
    description: 'A ladder refilled by passive orders and swept: ~2% of commands are IOC, FOK or market orders sized to take 5 to 40 price levels (about 50 fills each).',
    stresses: 'the matching loop: many fills per command, level removal at the touch, FOK all-or-nothing checks.',
    defaultCount: 200_000,
    params: {
      symbols: 2, popularity: 'uniform', idsPerSymbol: false, startMid: [10_000, 20_000], midStepChance: 0.02,
      targetLive: 2_000, depthTicks: 60, maxQty: 100,
      weights: { ...NO_WEIGHTS, passive: 92, marketable: 0.2, ioc: 0.6, fok: 0.5, market: 0.4, cancel: 6.3 },
      staleCancelShare: 0, takerLevels: [5, 40], sweepSized: true, fokFailShare: 0.25, owners: 50,
    },
  },
  {
    name: 'many-symbols',
    description: '5000 symbols with Zipf-skewed popularity (a few hot, a long cold tail); per-symbol id sequences, so one id is live in many symbols.',
    stresses: 'symbol lookup and per-symbol state (cache misses across thousands of small books), keying orders by (symbol, id).',
    defaultCount: 300_000,
    params: {
      symbols: 5_000, popularity: 'zipf', idsPerSymbol: true, startMid: [100, 100_000], midStepChance: 0.05,
      targetLive: 20, depthTicks: 10, maxQty: 200,
      weights: { ...NO_WEIGHTS, passive: 46, marketable: 2, ioc: 3, fok: 1, market: 2, cancel: 38, reduce: 4, modify: 4 },
      staleCancelShare: 0.02, takerLevels: [1, 3], sweepSized: false, fokFailShare: 0.3, owners: 100,
    },
  },
  {
    name: 'deep-book',
    description: 'One symbol whose book grows to tens of thousands of resting orders over thousands of price levels.',
    stresses: 'large books: level search and insertion far from the touch, memory footprint, hashing and snapshotting a big book.',
    defaultCount: 200_000,
    params: {
      symbols: 1, popularity: 'uniform', idsPerSymbol: false, startMid: [50_000, 50_000], midStepChance: 0.02,
      targetLive: 40_000, depthTicks: 5_000, maxQty: 100,
      weights: { ...NO_WEIGHTS, passive: 60, marketable: 0.5, ioc: 2, fok: 0.5, market: 1, cancel: 30, reduce: 3, modify: 3 },
      staleCancelShare: 0, takerLevels: [1, 3], sweepSized: false, fokFailShare: 0.3, owners: 100,
    },
  },
];

export function findPreset(name: string): Preset {
  const preset = PRESETS.find((p) => p.name === name);
  if (preset === undefined) throw new Error(`unknown preset '${name}' (known: ${PRESETS.map((p) => p.name).join(', ')})`);
  return preset;
}

export interface GenerateOptions {
  readonly preset: string;
  readonly seed: number;
  /** Defaults to the preset's defaultCount. */
  readonly count?: number;
  readonly ops?: OpsMode;
  /**
   * A `clock` before every N-th command (0 or absent: none), each 1 ms of simulated time after the previous one from
   * CLOCK_START_US, so N commands per simulated millisecond (N × 1000 commands/s). Clocks come on top of `count`.
   */
  readonly clockEvery?: number;
}

/** The generator's first clock: 2026-01-02 14:30:00 UTC (a Friday's open), µs since the Unix epoch. */
export const CLOCK_START_US = Date.UTC(2026, 0, 2, 14, 30) * 1000;

interface LiveOrder {
  readonly id: number;
  readonly side: Side;
  price: number;
  qty: number;
  /** Position in SymbolState.live. */
  slot: number;
}

/** How many recently departed ids a symbol remembers, for stale cancels. */
const DEPARTED_RING = 16;

interface SymbolState {
  readonly name: string;
  mid: number;
  nextId: number;
  readonly live: LiveOrder[];
  readonly byId: Map<number, LiveOrder>;
  readonly departed: number[];
  departedNext: number;
}

/** Four-letter tickers AAAA, AAAB, ... for generated symbol sets larger than the named list. */
function tickerName(index: number): string {
  let name = '';
  let n = index;
  for (let i = 0; i < 4; i++) {
    name = String.fromCharCode(65 + (n % 26)) + name;
    n = Math.floor(n / 26);
  }
  return name;
}

const KINDS = ['passive', 'marketable', 'ioc', 'fok', 'market', 'cancel', 'reduce', 'modify'] as const satisfies ReadonlyArray<keyof KindWeights>;

const NAMED_SYMBOLS = ['AAPL', 'MSFT', 'AMZN', 'GOOG', 'NVDA', 'META', 'TSLA', 'INTC'];

/** The simulation: symbols, their live orders (kept exact by the engine's events) and the output being built. */
class Simulation {
  private readonly rng: Prng;
  private readonly p: PresetParams;
  private readonly weights: KindWeights;
  private readonly symbols: SymbolState[];
  private readonly bySymbol = new Map<string, SymbolState>();
  /** Cumulative popularity (Zipf) for a binary search, or null for uniform. */
  private readonly cumulative: Float64Array | null;
  private readonly engine = new ReferenceEngine();
  private readonly builder = new WorkloadBuilder();
  private globalNextId: number;
  private seq = 0;
  private readonly onEvent = (event: MatchEvent): void => this.track(event);

  constructor(params: PresetParams, seed: number, ops: OpsMode) {
    this.rng = new Prng(seed);
    this.p = params;
    this.weights = ops === 'peer' ? { ...params.weights, reduce: 0, modify: 0 } : params.weights;
    this.globalNextId = 100_000_000 + this.rng.below(900_000_000);
    this.symbols = [];
    for (let i = 0; i < params.symbols; i++) {
      const name = params.symbols <= NAMED_SYMBOLS.length ? NAMED_SYMBOLS[i]! : tickerName(i);
      const state: SymbolState = {
        name, mid: this.rng.between(params.startMid[0], params.startMid[1]), nextId: params.idsPerSymbol ? 1_000 + this.rng.below(1_000) : 0,
        live: [], byId: new Map(), departed: [], departedNext: 0,
      };
      this.symbols.push(state);
      this.bySymbol.set(name, state);
    }
    if (params.popularity === 'zipf') {
      this.cumulative = new Float64Array(params.symbols);
      let total = 0;
      for (let r = 0; r < params.symbols; r++) this.cumulative[r] = total += 1 / (r + 1);
    } else {
      this.cumulative = null;
    }
  }

  run(count: number, clockEvery: number): WorkloadBuilder {
    for (let i = 0; i < count; i++) {
      // Clocks change no book, so the simulation's own engine does not need them.
      if (clockEvery > 0 && i % clockEvery === 0) this.builder.add({ op: 'clock', ts: CLOCK_START_US + (i / clockEvery) * 1000 });
      this.step();
    }
    return this.builder;
  }

  private step(): void {
    const s = this.pickSymbol();
    if (this.rng.chance(this.p.midStepChance)) {
      s.mid += this.rng.chance(0.5) ? 1 : -1;
      // Keep the whole passive ladder at positive prices.
      if (s.mid < this.p.depthTicks + 10) s.mid = this.p.depthTicks + 10;
    }
    const w = this.weights;
    const hasLive = s.live.length > 0;
    // Same order as KINDS. Without live orders there is nothing to cancel, reduce or modify.
    const weights = [
      w.passive, w.marketable, w.ioc, w.fok, w.market,
      hasLive ? w.cancel * Math.min(2, s.live.length / this.p.targetLive) : 0,
      hasLive ? w.reduce : 0,
      hasLive ? w.modify : 0,
    ];
    switch (KINDS[this.pickIndex(weights)]!) {
      case 'passive':
        return this.emit(this.passive(s));
      case 'marketable':
        return this.emit(this.aggressive(s, 'marketable'));
      case 'ioc':
        return this.emit(this.aggressive(s, 'ioc'));
      case 'fok':
        return this.emit(this.aggressive(s, 'fok'));
      case 'market':
        return this.emit(this.aggressive(s, 'market'));
      case 'cancel':
        return this.emit(this.cancel(s));
      case 'reduce':
        return this.emit(this.reduce(s));
      case 'modify':
        return this.emit(this.modify(s));
    }
  }

  /** An index drawn with probability ∝ weights[i]; rounding can never pick a zero weight. */
  private pickIndex(weights: readonly number[]): number {
    let total = 0;
    for (const weight of weights) total += weight;
    let x = this.rng.float() * total;
    let last = 0;
    for (let i = 0; i < weights.length; i++) {
      if (weights[i]! <= 0) continue;
      last = i;
      if ((x -= weights[i]!) < 0) return i;
    }
    return last;
  }

  private pickSymbol(): SymbolState {
    if (this.cumulative === null) return this.symbols[this.rng.below(this.symbols.length)]!;
    const target = this.rng.float() * this.cumulative[this.cumulative.length - 1]!;
    let lo = 0;
    let hi = this.cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.cumulative[mid]! <= target) lo = mid + 1;
      else hi = mid;
    }
    return this.symbols[lo]!;
  }

  private emit(command: Command): void {
    this.builder.add(command);
    this.engine.process(command, this.seq++, this.onEvent);
  }

  private newId(s: SymbolState): number {
    if (this.p.idsPerSymbol) return (s.nextId += 1 + this.rng.below(8));
    return (this.globalNextId += 1 + this.rng.below(8));
  }

  private qty(): number {
    return 1 + this.rng.skewed(this.p.maxQty);
  }

  private owner(): number {
    return 1 + this.rng.below(this.p.owners);
  }

  /** A GTC limit near the mid that does not cross the opposite touch, so it rests. */
  private passive(s: SymbolState): Command {
    const side: Side = this.rng.chance(0.5) ? 'buy' : 'sell';
    const offset = this.rng.skewed(this.p.depthTicks);
    const touch = this.engine.l2(s.name, 1);
    let price: number;
    if (side === 'buy') {
      price = s.mid - offset;
      const bestAsk = touch.asks[0]?.[0];
      if (bestAsk !== undefined && price >= bestAsk) price = bestAsk - 1;
    } else {
      price = s.mid + 1 + offset;
      const bestBid = touch.bids[0]?.[0];
      if (bestBid !== undefined && price <= bestBid) price = bestBid + 1;
    }
    return { op: 'new', sym: s.name, id: this.newId(s), side, type: 'limit', tif: 'gtc', price: Math.max(1, price), qty: this.qty(), owner: this.owner() };
  }

  /** An order that takes k levels of the opposite book (k from takerLevels), priced and sized from the real book. */
  private aggressive(s: SymbolState, kind: 'marketable' | 'ioc' | 'fok' | 'market'): Command {
    const side: Side = this.rng.chance(0.5) ? 'buy' : 'sell';
    const k = this.rng.between(this.p.takerLevels[0], this.p.takerLevels[1]);
    const book = this.engine.l2(s.name, k);
    const levels = side === 'buy' ? book.asks : book.bids;
    const id = this.newId(s);
    const owner = this.owner();
    if (levels.length === 0) {
      // Nothing to take: an order at the mid meets an empty side (IOC/market cancel, FOK fails, GTC rests).
      const qty = this.qty();
      if (kind === 'market') return { op: 'new', sym: s.name, id, side, type: 'market', qty, owner };
      const tif = kind === 'marketable' ? 'gtc' : kind;
      return { op: 'new', sym: s.name, id, side, type: 'limit', tif, price: side === 'buy' ? s.mid : s.mid + 1, qty, owner };
    }
    let through = 0;
    for (let i = 0; i < levels.length - 1; i++) through += levels[i]![1];
    const last = levels[levels.length - 1]!;
    const reachable = through + last[1];
    const limit = last[0];
    // Sweep-sized orders always reach the k-th level; typical-sized ones stop wherever their size runs out.
    const size = (): number => (this.p.sweepSized ? through + this.rng.between(1, last[1]) : this.qty());
    switch (kind) {
      case 'marketable':
        return { op: 'new', sym: s.name, id, side, type: 'limit', tif: 'gtc', price: limit, qty: (this.p.sweepSized ? reachable : 0) + this.qty(), owner };
      case 'fok': {
        const qty = this.rng.chance(this.p.fokFailShare) ? reachable + 1 : Math.min(size(), reachable);
        return { op: 'new', sym: s.name, id, side, type: 'limit', tif: 'fok', price: limit, qty, owner };
      }
      case 'ioc':
        return { op: 'new', sym: s.name, id, side, type: 'limit', tif: 'ioc', price: limit, qty: size(), owner };
      case 'market':
        return { op: 'new', sym: s.name, id, side, type: 'market', qty: size(), owner };
    }
  }

  private pickLive(s: SymbolState): LiveOrder {
    return s.live[this.rng.below(s.live.length)]!;
  }

  private cancel(s: SymbolState): Command {
    if (s.departed.length > 0 && this.rng.chance(this.p.staleCancelShare)) {
      return { op: 'cancel', sym: s.name, id: s.departed[this.rng.below(s.departed.length)]! };
    }
    return { op: 'cancel', sym: s.name, id: this.pickLive(s).id };
  }

  /** Mostly a partial reduce; one in seven asks for at least the remaining qty, which removes the order. */
  private reduce(s: SymbolState): Command {
    const order = this.pickLive(s);
    const qty = order.qty > 1 && !this.rng.chance(1 / 7) ? this.rng.between(1, order.qty - 1) : order.qty + this.rng.skewed(this.p.maxQty);
    return { op: 'reduce', sym: s.name, id: order.id, qty };
  }

  /** Half keep priority (same price, qty ≤ remaining); a quarter reprice by 1-3 ticks; a quarter grow the qty. */
  private modify(s: SymbolState): Command {
    const order = this.pickLive(s);
    const roll = this.rng.below(4);
    if (roll < 2) return { op: 'modify', sym: s.name, id: order.id, price: order.price, qty: this.rng.between(1, order.qty) };
    if (roll === 2) {
      const move = this.rng.between(1, 3) * (this.rng.chance(0.5) ? 1 : -1);
      return { op: 'modify', sym: s.name, id: order.id, price: Math.max(1, order.price + move), qty: order.qty };
    }
    return { op: 'modify', sym: s.name, id: order.id, price: order.price, qty: order.qty + 1 + this.rng.skewed(this.p.maxQty) };
  }

  /** Keeps each symbol's live set equal to the engine's book. */
  private track(event: MatchEvent): void {
    const s = this.bySymbol.get(event.sym)!;
    switch (event.ev) {
      case 'rested': {
        const order: LiveOrder = { id: event.id, side: event.side, price: event.price, qty: event.qty, slot: s.live.length };
        s.live.push(order);
        s.byId.set(order.id, order);
        return;
      }
      case 'fill': {
        const maker = s.byId.get(event.maker)!;
        maker.qty -= event.qty;
        if (maker.qty === 0) this.depart(s, maker, true);
        return;
      }
      case 'cancelled': {
        const order = s.byId.get(event.id);
        if (event.reason === 'user' && order !== undefined) this.depart(s, order, true);
        return;
      }
      case 'reduced':
        s.byId.get(event.id)!.qty = event.qty;
        return;
      case 'modified': {
        const order = s.byId.get(event.id)!;
        // Same price and no larger: priority kept, the order stays. Otherwise it left and re-enters (a `rested` follows if any remains).
        if (event.price === order.price && event.qty <= order.qty) order.qty = event.qty;
        else this.depart(s, order, false);
        return;
      }
      case 'rejected':
        return;
    }
  }

  /** Drops an order from the live set; `gone` remembers its id for stale cancels (not so for a modify that re-enters). */
  private depart(s: SymbolState, order: LiveOrder, gone: boolean): void {
    const last = s.live.pop()!;
    if (last !== order) {
      s.live[order.slot] = last;
      last.slot = order.slot;
    }
    s.byId.delete(order.id);
    if (!gone) return;
    if (s.departed.length < DEPARTED_RING) s.departed.push(order.id);
    else s.departed[s.departedNext] = order.id;
    s.departedNext = (s.departedNext + 1) % DEPARTED_RING;
  }
}

/** Generates a workload; the same options always give the byte-identical workload. */
export function generateWorkload(options: GenerateOptions): Workload {
  const preset = findPreset(options.preset);
  const count = options.count ?? preset.defaultCount;
  const ops = options.ops ?? 'all';
  if (!Number.isSafeInteger(count) || count < 0) throw new Error(`count must be a non-negative integer, got ${count}`);
  const clockEvery = options.clockEvery ?? 0;
  if (!Number.isSafeInteger(clockEvery) || clockEvery < 0) throw new Error(`clock-every must be a non-negative integer, got ${clockEvery}`);
  const builder = new Simulation(preset.params, options.seed, ops).run(count, clockEvery);
  return builder.build({
    generator: 'matchbench-synthetic',
    generatorVersion: GENERATOR_VERSION,
    preset: preset.name,
    seed: options.seed,
    count,
    ops,
    // Only when set, so every workload generated without clocks keeps its provenance (and its file bytes).
    ...(clockEvery > 0 ? { clockEvery } : {}),
    params: preset.params,
  });
}
