/**
 * `fast`: the fast core (engines/fast-core.ts) behind the `BookEngine` interface, so the scenario suite, the
 * differential tests and `npm run replay` drive it exactly like the reference engine.
 *
 * The adapter is the cold side of the core: it encodes each Command into one scratch record (interning symbols to
 * indexes), runs the core, and decodes the event records back into event objects with `decodeEventRecord`. That
 * allocates per event, by design: code that wants the allocation-free path (the benchmarks, the multithreaded
 * designs) calls `core.processRecord` on workload records directly, and uses this class for `bookHash` and `l2`.
 */
import { bookHashOfCores, l2OfCores } from './core-inspect.ts';
import { decodeEventRecord, EVENT_BYTES } from './event-record.ts';
import { MAX_LADDER_TICKS, MAX_ORDERS_LIMIT, MIN_LADDER_TICKS } from './fast-core-layout.ts';
import type { FastCoreCapacities } from './fast-core-layout.ts';
import { CoreCapacityError, FastCore } from './fast-core.ts';
import type { BookEngine, Command, L2Snapshot, MatchEvent } from './types.ts';
import {
  F64_ID, F64_OWNER, F64_PRICE, F64_QTY, F64_TS, NO_SYMBOL, OP_CLOCK, OFF_OP, OFF_SIDE, OFF_SYM, OFF_TIF, OFF_TYPE, OP_CANCEL, OP_INVALID, OP_MODIFY,
  OP_NEW, OP_REDUCE, RECORD_BYTES, SIDE_BUY, SIDE_NONE, SIDE_SELL, TIF_FOK, TIF_GTC, TIF_IOC, TIF_NONE, TYPE_LIMIT,
  TYPE_MARKET, TYPE_NONE,
} from '../workloads/workload.ts';
import type { Workload } from '../workloads/workload.ts';
import { limitsFor, nameOrder, resolveRisk, type RiskRules } from '../risk/rules.ts';

export interface FastEngineCapacities extends FastCoreCapacities {
  /** Event records one command may write (a sweep writes one fill per maker it touches). */
  readonly maxEventsPerCommand: number;
}

export interface FastEngineOptions {
  /** Symbol table whose indexes the core's symbol indexes follow (a workload's), extended as new symbols arrive. */
  readonly symbols?: readonly string[];
  readonly capacities?: Partial<FastEngineCapacities>;
  /** Risk rules and breaker (risk/rules.ts); none by default. */
  readonly risk?: RiskRules | null;
}

const DEFAULT_MAX_ORDERS = 1 << 16;
const DEFAULT_MAX_SYMBOLS = 256;
/**
 * Ladder slots (4 bytes each) shared out among all symbols by the default ladder width: 8 MiB of ladders gives a
 * one-symbol book (a LOBSTER file, deep-book) the full 65536 ticks and 5000 symbols 256 ticks each.
 */
const LADDER_SLOT_BUDGET = 1 << 21;
const DEFAULT_EVENTS_PER_COMMAND = 1 << 16;

/** Event records one command can need on a book of `maxOrders`: a fill against every resting order and two more, capped. */
function defaultEventsPerCommand(maxOrders: number): number {
  return Math.min(maxOrders + 2, DEFAULT_EVENTS_PER_COMMAND);
}
const MIN_FITTED_ORDERS = 1024;

/** Widest power-of-two ladder that keeps all books' ladders within the slot budget. */
export function defaultLadderTicks(maxSymbols: number): number {
  let ticks = MAX_LADDER_TICKS;
  while (ticks > MIN_LADDER_TICKS && ticks * maxSymbols > LADDER_SLOT_BUDGET) ticks /= 2;
  return ticks;
}

/**
 * Capacities fitted to a workload: one book per symbol, and an order pool (and so an id hash) sized from a dry run
 * of the workload — twice its peak of resting orders, as a power of two, at least 1024 and at most every new order.
 *
 * Why not simply "every new order": the hash is sized 2 × maxOrders, and a table sized for 150 000 orders (4 MiB)
 * when only 3 000 rest at once turns nearly every id lookup into a cache miss; measured on `balanced`, that alone
 * cost a third of the throughput. Other interleavings of the same commands (multi-producer designs) can need more: the harness sizes
 * those itself (harness/capacity.ts), and a run that still outgrows its pool gets a CoreCapacityError, never a corrupted book.
 */
export function capacitiesForWorkload(workload: Workload, overrides: Partial<FastEngineCapacities> = {}, rules: RiskRules | null = null): FastEngineCapacities {
  const risk = rules === null ? {} : { risk: resolveRisk(rules, workload.symbols) };
  let newOrders = 0;
  for (let i = 0; i < workload.count; i++) if (workload.op(i) === OP_NEW) newOrders++;
  const maxSymbols = overrides.maxSymbols ?? Math.max(1, workload.symbols.length);
  const ladderTicks = overrides.ladderTicks ?? defaultLadderTicks(maxSymbols);
  const everyOrder = Math.min(MAX_ORDERS_LIMIT, Math.max(16, newOrders));
  let maxOrders = overrides.maxOrders;
  if (maxOrders === undefined) {
    const peak = peakRestingOrders(workload, { maxOrders: everyOrder, maxSymbols, ladderTicks, ...risk });
    let sized = MIN_FITTED_ORDERS;
    while (sized < 2 * peak) sized *= 2;
    maxOrders = Math.min(everyOrder, sized);
  }
  return {
    maxOrders,
    maxSymbols,
    ladderTicks,
    maxEventsPerCommand: overrides.maxEventsPerCommand ?? defaultEventsPerCommand(maxOrders),
    ...risk,
  };
}

/** Most orders resting at once when `workload` runs in order through a core with these capacities. */
function peakRestingOrders(workload: Workload, capacities: FastCoreCapacities): number {
  const core = FastCore.create(capacities);
  const outputRecords = defaultEventsPerCommand(capacities.maxOrders);
  core.setEventOutput(new ArrayBuffer(outputRecords * EVENT_BYTES), 0, outputRecords);
  let peak = 0;
  for (let i = 0; i < workload.count; i++) {
    core.outCursor = 0;
    core.processRecord(workload.bytes, workload.f64, i, i);
    if (core.liveOrders > peak) peak = core.liveOrders;
  }
  return peak;
}

export class FastEngine implements BookEngine {
  readonly name = 'fast';
  readonly core: FastCore;
  readonly capacities: FastEngineCapacities;
  private readonly symbolTable: string[];
  private readonly symbolIndex = new Map<string, number>();
  private readonly scratch = new ArrayBuffer(RECORD_BYTES);
  private readonly scratchBytes = new Uint8Array(this.scratch);
  private readonly scratchWords = new Uint32Array(this.scratch);
  private readonly scratchF64 = new Float64Array(this.scratch);
  private readonly outBytes: Uint8Array;
  private readonly outWords: Uint32Array;
  private readonly outF64: Float64Array;
  private readonly rules: RiskRules | null;

  constructor(options: FastEngineOptions = {}) {
    const given = options.capacities ?? {};
    const maxSymbols = given.maxSymbols ?? Math.max(DEFAULT_MAX_SYMBOLS, options.symbols?.length ?? 0);
    const maxOrders = given.maxOrders ?? DEFAULT_MAX_ORDERS;
    this.capacities = {
      maxOrders,
      maxSymbols,
      ladderTicks: given.ladderTicks ?? defaultLadderTicks(maxSymbols),
      maxEventsPerCommand: given.maxEventsPerCommand ?? defaultEventsPerCommand(maxOrders),
      ...(options.risk ? { risk: resolveRisk(options.risk, []) } : {}),
    };
    this.rules = options.risk ?? null;
    const eventsPerCommand = this.capacities.maxEventsPerCommand;
    if (!Number.isInteger(eventsPerCommand) || eventsPerCommand < 2) {
      throw new RangeError(`fast engine capacity maxEventsPerCommand = ${eventsPerCommand}: must be an integer ≥ 2`);
    }
    this.core = FastCore.create(this.capacities);
    const out = new ArrayBuffer(eventsPerCommand * EVENT_BYTES);
    this.outBytes = new Uint8Array(out);
    this.outWords = new Uint32Array(out);
    this.outF64 = new Float64Array(out);
    this.core.setEventOutput(out, 0, eventsPerCommand);
    this.symbolTable = [];
    for (const sym of options.symbols ?? []) this.intern(sym);
  }

  /** An engine sized for `workload` (see capacitiesForWorkload) whose symbol indexes are the workload's. */
  static forWorkload(workload: Workload, overrides: Partial<FastEngineCapacities> = {}, rules: RiskRules | null = null): FastEngine {
    return new FastEngine({ symbols: workload.symbols, capacities: capacitiesForWorkload(workload, overrides), risk: rules });
  }

  get symbols(): readonly string[] {
    return this.symbolTable;
  }

  process(command: Command, seq: number, emit: (event: MatchEvent) => void): void {
    this.encode(command);
    this.processRecord(this.scratchBytes, this.scratchF64, 0, seq, emit);
  }

  /**
   * Runs record `index` of a record buffer (a workload's `bytes` / `f64` views, symbol indexes as in this engine's
   * table) straight through the core as `seq`, and hands its decoded events to `emit`.
   */
  processRecord(recordBytes: Uint8Array, recordF64: Float64Array, index: number, seq: number, emit: (event: MatchEvent) => void): void {
    this.core.outCursor = 0;
    const n = this.core.processRecord(recordBytes, recordF64, index, seq);
    for (let i = 0; i < n; i++) emit(decodeEventRecord(this.outBytes, this.outWords, this.outF64, i, this.symbolTable));
  }

  bookHash(): string {
    return bookHashOfCores([this.core], this.symbolTable);
  }

  l2(sym: string, depth: number): L2Snapshot {
    const index = this.symbolIndex.get(sym);
    return index === undefined ? { bids: [], asks: [] } : l2OfCores([this.core], index, depth);
  }

  private intern(sym: string): number {
    let index = this.symbolIndex.get(sym);
    if (index === undefined) {
      index = this.symbolTable.length;
      if (index >= this.capacities.maxSymbols) {
        throw new CoreCapacityError('symbols', `fast engine: symbol ${JSON.stringify(sym)} would be symbol ${index + 1}, over maxSymbols = ${this.capacities.maxSymbols}`);
      }
      this.symbolTable.push(sym);
      this.symbolIndex.set(sym, index);
      if (this.rules !== null) this.core.setSymbolLimits(index, limitsFor(this.rules, sym), nameOrder(this.symbolTable));
    }
    return index;
  }

  /** Writes `command` into the scratch record exactly as WorkloadBuilder would (NaN = absent). */
  private encode(command: Command): void {
    const bytes = this.scratchBytes;
    const f64 = this.scratchF64;
    bytes.fill(0);
    if (command.op === 'clock') {
      bytes[OFF_OP] = OP_CLOCK;
      this.scratchWords[OFF_SYM >> 2] = NO_SYMBOL;
      f64[F64_ID] = NaN;
      f64[F64_TS] = command.ts;
      f64[F64_QTY] = NaN;
      f64[F64_OWNER] = NaN;
      return;
    }
    this.scratchWords[OFF_SYM >> 2] = this.intern(command.sym);
    f64[F64_ID] = command.id;
    f64[F64_PRICE] = NaN;
    f64[F64_QTY] = NaN;
    f64[F64_OWNER] = NaN;
    switch (command.op) {
      case 'new':
        bytes[OFF_OP] = OP_NEW;
        bytes[OFF_SIDE] = command.side === 'buy' ? SIDE_BUY : command.side === 'sell' ? SIDE_SELL : SIDE_NONE;
        bytes[OFF_TYPE] = command.type === 'limit' ? TYPE_LIMIT : command.type === 'market' ? TYPE_MARKET : TYPE_NONE;
        if (command.type === 'limit') {
          const tif = command.tif ?? 'gtc';
          bytes[OFF_TIF] = tif === 'gtc' ? TIF_GTC : tif === 'ioc' ? TIF_IOC : tif === 'fok' ? TIF_FOK : TIF_NONE;
          f64[F64_PRICE] = command.price ?? NaN;
        }
        f64[F64_QTY] = command.qty;
        f64[F64_OWNER] = command.owner ?? NaN;
        return;
      case 'cancel':
        bytes[OFF_OP] = OP_CANCEL;
        return;
      case 'reduce':
        bytes[OFF_OP] = OP_REDUCE;
        f64[F64_QTY] = command.qty;
        return;
      case 'modify':
        bytes[OFF_OP] = OP_MODIFY;
        f64[F64_PRICE] = command.price;
        f64[F64_QTY] = command.qty;
        return;
      case 'invalid':
        bytes[OFF_OP] = OP_INVALID;
        return;
    }
  }
}
