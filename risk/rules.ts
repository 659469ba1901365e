/**
 * Pre-trade risk rules and the circuit breaker's parameters: the `--risk FILE` JSON, validated once, then resolved
 * per symbol for an engine. The semantics live in the engines (engines/reference.ts is the oracle, the fast core
 * follows it); this module only says what a rule file may contain and what each symbol's limits are.
 *
 *   {
 *     "symbols": {                                   per-symbol limits; "*" applies to every symbol, a named
 *       "*":    { "maxQty": 10000, "collarPercent": 10 },   entry overrides "*" field by field
 *       "GOOG": { "maxNotional": 50000000, "referencePrice": 5800000, "breakerPercent": 10 }
 *     },
 *     "owners":  { "maxOpenOrders": 100 },           resting orders per owner, over all symbols
 *     "breaker": { "bandPercent": 5, "windowSeconds": 300, "limitStateSeconds": 15, "pauseSeconds": 300 }
 *   }
 *
 * Every section and field is optional; an absent field is no rule. Quantities, prices and notionals are positive
 * safe integers (lots, ticks, ticks × lots); percentages are numbers in (0, 100] with at most two decimals, held as
 * integer basis points so every band edge is integer arithmetic. A breaker section turns the breaker on for every
 * symbol at `bandPercent` (default 5, the plan's tier 1); a symbol's `breakerPercent` overrides it for that symbol.
 * Defaults (the LULD plan's): 5 % band, reference over the last 300 s, 15 s limit state, 5 min pause.
 *
 * An unknown field, a wrong type or a value out of range is an error that names the file and the field's path.
 */
import { readFileSync } from 'node:fs';

/** One symbol's limits; 0 means "no such rule" (the fast core stores them as f64s where 0 is the cleared value). */
export interface SymbolLimits {
  readonly maxQty: number;
  readonly maxNotional: number;
  /** Price collar half-width, basis points of the reference price (last trade, else `referencePrice`). */
  readonly collarBps: number;
  /** Reference price before the first trade, for the collar and the breaker. */
  readonly referencePrice: number;
  /** Breaker band half-width, basis points of the breaker's reference (the window's mean trade price). */
  readonly breakerBps: number;
}

export interface BreakerTiming {
  /** The reference price is the mean trade price over this many µs, kept as BREAKER_SUBWINDOWS sub-windows. */
  readonly windowUs: number;
  readonly limitStateUs: number;
  readonly pauseUs: number;
}

export interface RiskRules {
  /** Limits per symbol name; "*" for every symbol. Already merged: a named entry holds "*"'s fields it did not set. */
  readonly symbols: Readonly<Record<string, SymbolLimits>>;
  /** Most resting orders one owner may have (0: no limit). */
  readonly maxOpenOrders: number;
  /** Null when the file has no breaker section (no symbol gets a breaker). */
  readonly breaker: BreakerTiming | null;
}

/** Rules with the name results and reports show them by (the rule file's base name). */
export interface NamedRisk {
  readonly name: string;
  readonly rules: RiskRules;
}

/** The reference window is kept as this many equal sub-windows of windowUs / BREAKER_SUBWINDOWS each. */
export const BREAKER_SUBWINDOWS = 10;
export const DEFAULT_BAND_PERCENT = 5;
export const DEFAULT_WINDOW_SECONDS = 300;
export const DEFAULT_LIMIT_STATE_SECONDS = 15;
export const DEFAULT_PAUSE_SECONDS = 300;
/** Band edges are ref ± floor(ref × bps / 10 000): exact while ref × 10 000 stays a safe integer. */
export const MAX_REFERENCE_PRICE = Math.floor(Number.MAX_SAFE_INTEGER / 10_000);

export const NO_LIMITS: SymbolLimits = { maxQty: 0, maxNotional: 0, collarBps: 0, referencePrice: 0, breakerBps: 0 };

/** The limits of `sym` under `rules` (a named entry, else "*", else none). */
export function limitsFor(rules: RiskRules, sym: string): SymbolLimits {
  return rules.symbols[sym] ?? rules.symbols['*'] ?? NO_LIMITS;
}

/** Per symbol index, for a core whose symbol indexes follow `symbols`: "*" for indexes past the table. */
export interface ResolvedRisk {
  readonly defaults: SymbolLimits;
  readonly bySymbol: readonly SymbolLimits[];
  /** Symbol indexes in code-unit order of their names: the order a clock announces breaker expiries in. */
  readonly nameOrder: readonly number[];
  readonly maxOpenOrders: number;
  readonly breaker: BreakerTiming | null;
}

/**
 * Code-unit order of symbol names (the book hash's, engines/book-hash.ts): the order a clock announces breaker
 * expiries in, on every engine and design.
 */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The indexes of `symbols` in name order (`compareNames`). */
export function nameOrder(symbols: readonly string[]): number[] {
  return symbols.map((_, i) => i).sort((a, b) => compareNames(symbols[a]!, symbols[b]!));
}

export function resolveRisk(rules: RiskRules, symbols: readonly string[]): ResolvedRisk {
  return {
    defaults: rules.symbols['*'] ?? NO_LIMITS,
    bySymbol: symbols.map((sym) => limitsFor(rules, sym)),
    nameOrder: nameOrder(symbols),
    maxOpenOrders: rules.maxOpenOrders,
    breaker: rules.breaker,
  };
}

class RuleError extends Error {}

function fail(where: string, message: string): never {
  throw new RuleError(`${where}: ${message}`);
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function onlyKeys(where: string, obj: Record<string, unknown>, allowed: readonly string[]): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) fail(`${where}.${key}`, `unknown field (allowed: ${allowed.join(', ')})`);
  }
}

function positiveInteger(where: string, x: unknown, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof x !== 'number' || !Number.isSafeInteger(x) || x <= 0 || x > max) fail(where, `must be a positive integer up to ${max}, got ${JSON.stringify(x)}`);
  return x;
}

function percentBps(where: string, x: unknown): number {
  if (typeof x !== 'number' || !Number.isFinite(x) || x <= 0 || x > 100) fail(where, `must be a percentage in (0, 100], got ${JSON.stringify(x)}`);
  const bps = Math.round(x * 100);
  if (Math.abs(bps - x * 100) > 1e-6) fail(where, `at most two decimals (basis points), got ${x}`);
  return bps;
}

const SYMBOL_FIELDS = ['maxQty', 'maxNotional', 'collarPercent', 'referencePrice', 'breakerPercent'] as const;

function symbolLimits(where: string, x: unknown, base: SymbolLimits, breakerBps: number): SymbolLimits {
  if (!isObject(x)) fail(where, `must be an object of ${SYMBOL_FIELDS.join(', ')}`);
  onlyKeys(where, x, SYMBOL_FIELDS);
  return {
    maxQty: x['maxQty'] === undefined ? base.maxQty : positiveInteger(`${where}.maxQty`, x['maxQty']),
    maxNotional: x['maxNotional'] === undefined ? base.maxNotional : positiveInteger(`${where}.maxNotional`, x['maxNotional']),
    collarBps: x['collarPercent'] === undefined ? base.collarBps : percentBps(`${where}.collarPercent`, x['collarPercent']),
    referencePrice: x['referencePrice'] === undefined ? base.referencePrice : positiveInteger(`${where}.referencePrice`, x['referencePrice'], MAX_REFERENCE_PRICE),
    breakerBps: x['breakerPercent'] === undefined ? (base.breakerBps || breakerBps) : percentBps(`${where}.breakerPercent`, x['breakerPercent']),
  };
}

function seconds(where: string, x: unknown, fallback: number): number {
  if (x === undefined) return fallback;
  return positiveInteger(where, x, 1e9);
}

/** Validates a parsed rule file; errors name `file` and the field's JSON path. */
export function parseRiskRules(json: unknown, file: string): RiskRules {
  try {
    if (!isObject(json)) fail(file, 'must be a JSON object with optional "symbols", "owners", "breaker"');
    onlyKeys(file, json, ['symbols', 'owners', 'breaker']);
    let breaker: BreakerTiming | null = null;
    let bandBps = 0;
    const b = json['breaker'];
    if (b !== undefined) {
      if (!isObject(b)) fail(`${file}: breaker`, 'must be an object');
      onlyKeys(`${file}: breaker`, b, ['bandPercent', 'windowSeconds', 'limitStateSeconds', 'pauseSeconds']);
      bandBps = b['bandPercent'] === undefined ? DEFAULT_BAND_PERCENT * 100 : percentBps(`${file}: breaker.bandPercent`, b['bandPercent']);
      breaker = {
        windowUs: seconds(`${file}: breaker.windowSeconds`, b['windowSeconds'], DEFAULT_WINDOW_SECONDS) * 1e6,
        limitStateUs: seconds(`${file}: breaker.limitStateSeconds`, b['limitStateSeconds'], DEFAULT_LIMIT_STATE_SECONDS) * 1e6,
        pauseUs: seconds(`${file}: breaker.pauseSeconds`, b['pauseSeconds'], DEFAULT_PAUSE_SECONDS) * 1e6,
      };
    }
    const symbols: Record<string, SymbolLimits> = {};
    const s = json['symbols'];
    if (s !== undefined && !isObject(s)) fail(`${file}: symbols`, 'must be an object keyed by symbol name ("*": every symbol)');
    const star = s?.['*'] === undefined ? { ...NO_LIMITS, breakerBps: bandBps } : symbolLimits(`${file}: symbols["*"]`, s['*'], NO_LIMITS, bandBps);
    symbols['*'] = star;
    for (const [name, entry] of Object.entries(s ?? {})) {
      if (name === '*') continue;
      if (name === '') fail(`${file}: symbols`, 'a symbol name is empty');
      symbols[name] = symbolLimits(`${file}: symbols[${JSON.stringify(name)}]`, entry, star, bandBps);
    }
    if (breaker === null) {
      for (const [name, limits] of Object.entries(symbols)) {
        if (limits.breakerBps !== 0) fail(`${file}: symbols[${JSON.stringify(name)}].breakerPercent`, 'needs a "breaker" section (its timing)');
      }
    }
    let maxOpenOrders = 0;
    const o = json['owners'];
    if (o !== undefined) {
      if (!isObject(o)) fail(`${file}: owners`, 'must be an object');
      onlyKeys(`${file}: owners`, o, ['maxOpenOrders']);
      if (o['maxOpenOrders'] !== undefined) maxOpenOrders = positiveInteger(`${file}: owners.maxOpenOrders`, o['maxOpenOrders'], 2 ** 31 - 1);
    }
    return { symbols, maxOpenOrders, breaker };
  } catch (error) {
    if (error instanceof RuleError) throw new Error(`risk rules ${error.message}`);
    throw error;
  }
}

/** Reads and validates a rule file. */
export function loadRiskRules(path: string): RiskRules {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new Error(`risk rules ${path}: cannot read (${(error as Error).message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new Error(`risk rules ${path}: not JSON (${(error as Error).message})`);
  }
  return parseRiskRules(json, path);
}
