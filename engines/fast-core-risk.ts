/**
 * The fast core's risk region (engines/fast-core-layout.ts, "risk"): the rules resolved per symbol index, each
 * symbol's breaker state and reference sub-windows, each order's owner, and the open-order count per owner. Views
 * only, like the core; the core decides when to call (engines/fast-core.ts), and the semantics are the reference
 * engine's (engines/reference.ts, "Risk rules and the breaker"), which this file must match number for number:
 * every edge is integer arithmetic on f64s holding integers (risk/rules.ts MAX_REFERENCE_PRICE).
 *
 * Trade-off: none of this costs a core without rules (it has no region, and the core tests one field per command);
 * with rules, a command pays a few loads and compares, a trading command a pass over its own fills, and an owner's
 * order a hash probe when it rests and when it leaves.
 */
import {
  BREAKER_HALTED, RG_BREAKER_ON, RG_DEFAULTS, RG_LIMIT_STATE_US, RG_MAX_OPEN_ORDERS, RG_NEXT_DEADLINE, RG_PAUSE_US, RG_WINDOW_US,
  RISK_GLOBAL_F64S, RISK_SYMBOL_F64S, RS_BREAKER_BPS, RS_BUCKETS, RS_BY_NAME, RS_COLLAR_BPS, RS_LAST_TRADE, RS_MAX_NOTIONAL,
  RS_MAX_QTY, RS_REFERENCE, RS_REFERENCE_PRICE, RS_STATE,
} from './fast-core-layout.ts';
import type { FastCoreLayout } from './fast-core-layout.ts';
import {
  REASON_HALTED, REASON_RISK_MAX_NOTIONAL, REASON_RISK_MAX_OPEN_ORDERS, REASON_RISK_MAX_QTY, REASON_RISK_PRICE_BAND,
} from './event-record.ts';
import { BREAKER_SUBWINDOWS, type ResolvedRisk, type SymbolLimits } from '../risk/rules.ts';

const U32 = 4294967296;

function ownerHash(owner: number): number {
  let h = Math.imul(owner >>> 0, 0x85ebca6b) ^ Math.imul((owner / U32) | 0, 0xc2b2ae35);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 12;
  return h;
}

export class CoreRisk {
  readonly global: Float64Array;
  /** Per symbol RISK_SYMBOL_F64S f64s at sym × RISK_SYMBOL_F64S (RS_*). */
  readonly symbol: Float64Array;
  /** Owner of each order slot (NaN: none); written when the slot is allocated. */
  readonly orderOwner: Float64Array;
  private readonly ownerKey: Float64Array;
  private readonly ownerCount: Int32Array;
  private readonly ownerMask: number;
  private readonly maxSymbols: number;
  /** Band edges of the last `band` call: [low, high]. */
  readonly edges = new Float64Array(2);
  /** Whether open orders are counted per owner: only under an owner limit (the hash probes cost every order). */
  countsOwners: boolean;

  constructor(buffer: ArrayBufferLike, byteOffset: number, layout: FastCoreLayout) {
    const s = layout.capacities.maxSymbols;
    this.maxSymbols = s;
    this.global = new Float64Array(buffer, byteOffset + layout.riskGlobal, RISK_GLOBAL_F64S);
    this.symbol = new Float64Array(buffer, byteOffset + layout.riskSymbol, s * RISK_SYMBOL_F64S);
    this.orderOwner = new Float64Array(buffer, byteOffset + layout.orderOwner, layout.capacities.maxOrders);
    this.ownerKey = new Float64Array(buffer, byteOffset + layout.ownerKey, layout.hashSlots);
    this.ownerCount = new Int32Array(buffer, byteOffset + layout.ownerCount, layout.hashSlots);
    this.ownerMask = layout.hashSlots - 1;
    this.countsOwners = this.global[RG_MAX_OPEN_ORDERS] !== 0;
  }

  /** Clears all state and writes the rules (a core's `initialize`). */
  initialize(rules: ResolvedRisk): void {
    this.global.fill(0);
    this.symbol.fill(0);
    for (let sym = 0; sym < this.maxSymbols; sym++) {
      for (let k = 0; k < BREAKER_SUBWINDOWS; k++) this.symbol[sym * RISK_SYMBOL_F64S + RS_BUCKETS + 3 * k] = -1;
    }
    this.orderOwner.fill(NaN);
    this.ownerKey.fill(0);
    this.ownerCount.fill(0);
    this.global[RG_NEXT_DEADLINE] = Infinity;
    this.configure(rules);
  }

  /** Writes the rules, keeping all state (prices, breaker states, open orders): a restart under changed rules. */
  configure(rules: ResolvedRisk): void {
    const g = this.global;
    if (this.countsOwners && rules.maxOpenOrders === 0 || !this.countsOwners && rules.maxOpenOrders !== 0 && this.hasOrders()) {
      throw new Error(
        `fast core risk rules: owners.maxOpenOrders ${rules.maxOpenOrders === 0 ? 'removed from' : 'added to'} a core with resting orders ` +
          '(the core counts open orders per owner only under an owner limit): restart under the rules the journal was written with',
      );
    }
    this.countsOwners = rules.maxOpenOrders !== 0;
    writeLimits(g, RG_DEFAULTS, rules.defaults);
    g[RG_MAX_OPEN_ORDERS] = rules.maxOpenOrders;
    if (rules.breaker !== null) {
      g[RG_BREAKER_ON] = 1;
      g[RG_WINDOW_US] = rules.breaker.windowUs;
      g[RG_LIMIT_STATE_US] = rules.breaker.limitStateUs;
      g[RG_PAUSE_US] = rules.breaker.pauseUs;
    } else {
      g[RG_BREAKER_ON] = 0;
    }
    for (let sym = 0; sym < this.maxSymbols; sym++) this.setLimits(sym, rules.bySymbol[sym] ?? rules.defaults);
    this.orderByName(rules.nameOrder);
  }

  /**
   * The order a clock announces expiries in: `order` (symbol indexes by name, engines/reference.ts "Expiry"), then
   * the indexes it lacks (no symbol yet: never in a breaker state) in index order.
   */
  orderByName(order: readonly number[]): void {
    const placed = new Uint8Array(this.maxSymbols);
    let rank = 0;
    for (const sym of order) {
      this.symbol[rank++ * RISK_SYMBOL_F64S + RS_BY_NAME] = sym;
      placed[sym] = 1;
    }
    for (let sym = 0; sym < this.maxSymbols; sym++) if (placed[sym] === 0) this.symbol[rank++ * RISK_SYMBOL_F64S + RS_BY_NAME] = sym;
  }

  /** The symbol index of name rank `rank` (`orderByName`). */
  symbolAtRank(rank: number): number {
    return this.symbol[rank * RISK_SYMBOL_F64S + RS_BY_NAME]!;
  }

  /** The earliest deadline of a symbol in its limit state or pause (Infinity: none). */
  get nextDeadline(): number {
    return this.global[RG_NEXT_DEADLINE]!;
  }

  set nextDeadline(until: number) {
    this.global[RG_NEXT_DEADLINE] = until;
  }

  /** The rules as written (for a core attached to an existing region). */
  rules(): ResolvedRisk {
    const g = this.global;
    const bySymbol: SymbolLimits[] = [];
    for (let sym = 0; sym < this.maxSymbols; sym++) bySymbol.push(readLimits(this.symbol, sym * RISK_SYMBOL_F64S));
    return {
      defaults: readLimits(g, RG_DEFAULTS),
      bySymbol,
      nameOrder: Array.from({ length: this.maxSymbols }, (_, rank) => this.symbolAtRank(rank)),
      maxOpenOrders: g[RG_MAX_OPEN_ORDERS]!,
      breaker: g[RG_BREAKER_ON] === 1 ? { windowUs: g[RG_WINDOW_US]!, limitStateUs: g[RG_LIMIT_STATE_US]!, pauseUs: g[RG_PAUSE_US]! } : null,
    };
  }

  /** Sets one symbol's limits; a symbol with no breaker reference yet takes its configured referencePrice. */
  setLimits(sym: number, limits: SymbolLimits): void {
    const r = sym * RISK_SYMBOL_F64S;
    writeLimits(this.symbol, r, limits);
    if (this.symbol[r + RS_REFERENCE] === 0) this.symbol[r + RS_REFERENCE] = limits.referencePrice;
  }

  /**
   * The risk reject reason for a valid new order or modify (halted, then the README's order), or 0.
   * `price` is NaN for a market order; `restingOwner` the owner of a new GTC limit order (NaN otherwise).
   */
  rejection(sym: number, price: number, qty: number, restingOwner: number): number {
    const s = this.symbol;
    const r = sym * RISK_SYMBOL_F64S;
    if (s[r + RS_STATE] === BREAKER_HALTED) return REASON_HALTED;
    const maxQty = s[r + RS_MAX_QTY]!;
    if (maxQty !== 0 && qty > maxQty) return REASON_RISK_MAX_QTY;
    if (price === price) {
      const maxNotional = s[r + RS_MAX_NOTIONAL]!;
      if (maxNotional !== 0 && price * qty > maxNotional) return REASON_RISK_MAX_NOTIONAL;
      const collar = s[r + RS_COLLAR_BPS]!;
      const ref = s[r + RS_LAST_TRADE] || s[r + RS_REFERENCE_PRICE]!;
      if (collar !== 0 && ref !== 0) {
        const half = Math.floor((ref * collar) / 10_000);
        if (price < ref - half || price > ref + half) return REASON_RISK_PRICE_BAND;
      }
    }
    const maxOpen = this.global[RG_MAX_OPEN_ORDERS]!;
    if (maxOpen !== 0 && restingOwner === restingOwner && this.openOrders(restingOwner) >= maxOpen) return REASON_RISK_MAX_OPEN_ORDERS;
    return 0;
  }

  /** Whether `sym` has a band now (engine time `time`); if so its edges are in `edges`. */
  band(sym: number, time: number): boolean {
    const s = this.symbol;
    const r = sym * RISK_SYMBOL_F64S;
    const bps = s[r + RS_BREAKER_BPS]!;
    if (bps === 0 || this.global[RG_BREAKER_ON] !== 1) return false;
    const mean = this.windowMean(r, time);
    const ref = mean >= 0 ? mean : s[r + RS_REFERENCE]!;
    if (ref === 0) return false;
    const half = Math.floor((ref * bps) / 10_000);
    this.edges[0] = ref - half;
    this.edges[1] = ref + half;
    return true;
  }

  /** A trade at `price` in `sym` at engine time `time`. */
  recordTrade(sym: number, price: number, time: number): void {
    const s = this.symbol;
    const r = sym * RISK_SYMBOL_F64S;
    s[r + RS_LAST_TRADE] = price;
    if (this.global[RG_BREAKER_ON] !== 1) return;
    const current = Math.floor(time / (this.global[RG_WINDOW_US]! / BREAKER_SUBWINDOWS));
    const b = r + RS_BUCKETS + 3 * (current % BREAKER_SUBWINDOWS);
    if (s[b] !== current) {
      s[b] = current;
      s[b + 1] = 0;
      s[b + 2] = 0;
    }
    s[b + 1] = s[b + 1]! + price;
    s[b + 2] = s[b + 2]! + 1;
    // What the reference stays at once the window empties: the mean as of this trade.
    s[r + RS_REFERENCE] = this.windowMean(r, time);
  }

  /** Floor of the mean trade price in the window of the symbol record at `r` at `time`, or -1 when it has none. */
  private windowMean(r: number, time: number): number {
    const s = this.symbol;
    const current = Math.floor(time / (this.global[RG_WINDOW_US]! / BREAKER_SUBWINDOWS));
    let sum = 0;
    let count = 0;
    for (let k = 0; k < BREAKER_SUBWINDOWS; k++) {
      const b = r + RS_BUCKETS + 3 * k;
      const bucket = s[b]!;
      if (bucket > current - BREAKER_SUBWINDOWS && bucket <= current) {
        sum += s[b + 1]!;
        count += s[b + 2]!;
      }
    }
    return count > 0 ? Math.floor(sum / count) : -1;
  }

  get limitStateUs(): number {
    return this.global[RG_LIMIT_STATE_US]!;
  }

  get pauseUs(): number {
    return this.global[RG_PAUSE_US]!;
  }

  private hasOrders(): boolean {
    for (let o = 0; o < this.orderOwner.length; o++) if (this.orderOwner[o] === this.orderOwner[o]) return true;
    return false;
  }

  // ── open orders per owner ─────────────────────────────────────────────────────────────────────────────────────

  openOrders(owner: number): number {
    const i = this.ownerSlot(owner);
    return this.ownerKey[i] === owner ? this.ownerCount[i]! : 0;
  }

  /** Order slot `o` was allocated for `owner` (NaN: none) and rests. */
  ownerRests(o: number, owner: number): void {
    this.orderOwner[o] = owner;
    if (owner !== owner || !this.countsOwners) return;
    const i = this.ownerSlot(owner);
    this.ownerKey[i] = owner;
    this.ownerCount[i] = this.ownerCount[i]! + 1;
  }

  /** Order slot `o` left the book. */
  ownerLeaves(o: number): void {
    const owner = this.orderOwner[o]!;
    if (owner !== owner) return;
    this.orderOwner[o] = NaN;
    if (!this.countsOwners) return;
    const i = this.ownerSlot(owner);
    const left = this.ownerCount[i]! - 1;
    if (left > 0) {
      this.ownerCount[i] = left;
      return;
    }
    this.removeOwner(i);
  }

  /** The entry holding `owner`, or the empty entry where it would go. The table never fills: ≤ maxOrders owners rest. */
  private ownerSlot(owner: number): number {
    const mask = this.ownerMask;
    let i = ownerHash(owner) & mask;
    while (this.ownerKey[i] !== 0 && this.ownerKey[i] !== owner) i = (i + 1) & mask;
    return i;
  }

  /** Backward-shift deletion, as the core's id hash (no tombstones). */
  private removeOwner(hole: number): void {
    const mask = this.ownerMask;
    const keys = this.ownerKey;
    let j = hole;
    for (;;) {
      j = (j + 1) & mask;
      const key = keys[j]!;
      if (key === 0) break;
      const home = ownerHash(key) & mask;
      if (j > hole ? home <= hole || home > j : home <= hole && home > j) {
        keys[hole] = key;
        this.ownerCount[hole] = this.ownerCount[j]!;
        hole = j;
      }
    }
    keys[hole] = 0;
    this.ownerCount[hole] = 0;
  }
}

function writeLimits(into: Float64Array, at: number, limits: SymbolLimits): void {
  into[at + RS_MAX_QTY] = limits.maxQty;
  into[at + RS_MAX_NOTIONAL] = limits.maxNotional;
  into[at + RS_COLLAR_BPS] = limits.collarBps;
  into[at + RS_REFERENCE_PRICE] = limits.referencePrice;
  into[at + RS_BREAKER_BPS] = limits.breakerBps;
}

function readLimits(from: Float64Array, at: number): SymbolLimits {
  return {
    maxQty: from[at + RS_MAX_QTY]!,
    maxNotional: from[at + RS_MAX_NOTIONAL]!,
    collarBps: from[at + RS_COLLAR_BPS]!,
    referencePrice: from[at + RS_REFERENCE_PRICE]!,
    breakerBps: from[at + RS_BREAKER_BPS]!,
  };
}
