/**
 * LOBSTER import: real NASDAQ order flow (a LOBSTER message file, optionally its orderbook file) into a workload.
 *
 * Mapping of message types (files: workloads/lobster-files.ts):
 *   1 add          -> new GTC limit, same id (direction 1 = buy, -1 = sell; price $ x 10000 is the tick)
 *   2 partial del. -> reduce by size
 *   3 deletion     -> cancel
 *   4 execution    -> consecutive type-4 rows with the same timestamp and the same resting side become ONE aggressive
 *                     IOC limit on the other side: limit = the worst price of the rows, qty = their total
 *   5, 6           -> skipped and counted (hidden executions, cross trades: no visible resting order is touched)
 *   7              -> halt marker: skipped and counted (the book is unchanged across it)
 *
 * Synthetic ids: LOBSTER ids are checked to be below 2^50. The IOC takers get TAKER_ID_BASE + n (n = 0, 1, ...) and
 * placeholders for anonymous volume get PLACEHOLDER_ID_BASE + n: two disjoint ranges above every LOBSTER id and
 * below 2^53, so no synthetic id can ever meet a real one.
 *
 * Reconstruction. A level-N message file only holds the events that touch the top N levels, and orders resting at
 * 09:30 have no add, so the raw mapping meets ids it never saw and stale volume it cannot see leave. The import is
 * offline, so it looks ahead in both files and inserts extra commands, each counted in the stats. A step is one
 * type 1-3 message or one type-4 group; [a, b) are its rows.
 * - Seeds. An order named before any add is "unknown"; its size is the sum of all its later partial deletions,
 *   executions and its deletion size. With an orderbook file it is seeded at the first step of the run of steps,
 *   ending at its first mention, through which its price level stayed in sight (in the actual row before each step
 *   after the first): a level in sight reports every add, so the order must have rested there through that run.
 *   Seeds of one step join their levels in the order they will trade (first execution, else last mention), so orders
 *   resting before 09:30 stand ahead of every later add. Without an orderbook file an unknown order is seeded just
 *   before its first mention.
 * - Synchronisation (orderbook file only). Before each step the importer makes its book's visible levels equal the
 *   state before the step: row a-1 as far as it reaches, and beyond it (everywhere, for the first step) row b-1 with
 *   the step undone (its adds taken out, its deletions and executions put back). Deeper levels that come into sight
 *   are known this way before the step that reveals them. Missing volume becomes a placeholder at the back of its
 *   level; excess volume is taken from placeholders first, then from orders no later message names, then from orders
 *   larger than their later messages account for, then from any other order except those the step names.
 * - Named orders are brought to the size their later messages need (cut when that is exact, re-entered when too
 *   small) and to the price and side the message gives, before the message's command.
 * - Executions (only with options.repairQueues; off by default because it uses the executions being scored). Before the IOC the importer walks the queue the IOC will meet.
 *   An order ahead of a named maker at the limit price cannot be there in reality (price-time priority), so it is
 *   requeued: cancelled before the IOC and re-entered after it with its id, price, size and owner (without an
 *   orderbook file an order no later message names is taken for stale and only cancelled). An order at a better
 *   price than the limit is stale (the real taker went past it) and only cancelled. A named maker that would fill more
 *   than its row (two takers with one timestamp) is cut to its row first and its remainder re-enters after.
 * - An order whose price would cross the opposite side first removes the crossing (stale) orders.
 * The produced commands are an ordinary workload; fidelity is measured by replaying them through the reference engine
 * (workloads/fidelity.ts), never by this model.
 */
import { basename } from 'node:path';
import { ReconstructionBook, priceKey } from './lobster-book.ts';
import type { Direction, ModelLevel, ModelOrder } from './lobster-book.ts';
import {
  LOBSTER_ID_LIMIT,
  TYPE_ADD,
  TYPE_CROSS,
  TYPE_DELETE,
  TYPE_EXECUTE_HIDDEN,
  TYPE_EXECUTE_VISIBLE,
  TYPE_HALT,
  TYPE_PARTIAL_CANCEL,
  levelCount,
  levelPrice,
  levelSize,
  readMessages,
  readOrderbook,
} from './lobster-files.ts';
import type { LobsterMessages, LobsterOrderbook } from './lobster-files.ts';
import { OP_CANCEL, OP_NEW, OP_REDUCE, SIDE_BUY, SIDE_NONE, SIDE_SELL, TIF_GTC, TIF_IOC, TIF_NONE, TYPE_LIMIT, TYPE_NONE, WorkloadBuilder } from './workload.ts';
import type { Workload } from './workload.ts';

export const TAKER_ID_BASE = LOBSTER_ID_LIMIT;
export const PLACEHOLDER_ID_BASE = 2 * LOBSTER_ID_LIMIT;

export interface LobsterImportOptions {
  readonly orderbookPath?: string;
  /**
   * Repair the queue each IOC meets from the execution rows (default true; file header, "Executions"). false keeps
   * every other correction and shows what the reconstruction achieves on its own (the ablation test/lobster.test.ts runs).
   */
  readonly repairQueues?: boolean;
  /**
   * Emit a `clock` command from the rows' timestamps before the first step at least this many ms after the previous
   * clock (absent: none). LOBSTER times are seconds after midnight in New York; the date comes from the file name.
   */
  readonly clockEveryMs?: number;
}

/** How message rows map onto commands, for scoring a replay (workloads/fidelity.ts). */
export interface LobsterReplayMap {
  readonly messages: LobsterMessages;
  readonly orderbook: LobsterOrderbook | null;
  /** Index of the command message i became (all rows of a type-4 group share their IOC); -1 for skipped types. */
  readonly commandOf: Int32Array;
  /** The book after message i is the state after commands [0, commandsThrough[i]). */
  readonly commandsThrough: Int32Array;
}

export interface LobsterImport {
  readonly workload: Workload;
  readonly stats: Record<string, number>;
  readonly replay: LobsterReplayMap;
}

export async function importLobster(messagePath: string, options: LobsterImportOptions = {}): Promise<LobsterImport> {
  const symbol = symbolFromFileName(messagePath);
  const messages = await readMessages(messagePath);
  const orderbook = options.orderbookPath === undefined ? null : await readOrderbook(options.orderbookPath, messages.count, messagePath);
  const steps = planSteps(messages);
  const lookahead = lookAhead(messages, steps);
  const seedsAt = orderbook === null ? null : scheduleSeeds(messages, orderbook, steps, lookahead);
  const clockEveryMs = options.clockEveryMs ?? 0;
  const midnightUs = clockEveryMs > 0 ? newYorkMidnightUs(messagePath) : 0;
  const reconstruction = new Reconstruction(symbol, messages, orderbook, steps, lookahead, seedsAt, options.repairQueues ?? false, clockEveryMs * 1000, midnightUs);
  reconstruction.run();
  const workload = reconstruction.builder.build({
    source: 'lobster',
    symbol,
    messageFile: basename(messagePath),
    orderbookFile: options.orderbookPath === undefined ? null : basename(options.orderbookPath),
    levels: orderbook?.levels ?? levelFromFileName(messagePath),
    messages: messages.count,
    takerIdBase: TAKER_ID_BASE,
    placeholderIdBase: PLACEHOLDER_ID_BASE,
    repairQueues: options.repairQueues ?? false,
    ...(clockEveryMs > 0 ? { clockEveryMs } : {}),
    ...(messages.mpid === null ? {} : { owners: messages.mpids.join(',') }),
  });
  return {
    workload,
    stats: { ...reconstruction.stats, commands: workload.count },
    replay: { messages, orderbook, commandOf: reconstruction.commandOf, commandsThrough: reconstruction.commandsThrough },
  };
}

/** `GOOG_2012-06-21_34200000_57600000_message_10.csv.gz` -> `GOOG` (the text before the first underscore). */
export function symbolFromFileName(path: string): string {
  const name = basename(path).replace(/\.gz$/i, '').replace(/\.csv$/i, '');
  const symbol = name.split('_')[0]!;
  if (symbol === '') throw new Error(`${basename(path)}: cannot take a symbol from the file name (expected SYMBOL_date_start_end_message_LEVEL.csv)`);
  return symbol;
}

/**
 * Midnight in New York (where NASDAQ's LOBSTER times count from) of the file name's date, µs since the Unix epoch:
 * `GOOG_2012-06-21_…` → 2012-06-21 00:00 EDT = 04:00 UTC. The offset (EST or EDT) comes from the ICU time zone data.
 */
function newYorkMidnightUs(path: string): number {
  const match = /_(\d{4})-(\d{2})-(\d{2})_/.exec(basename(path));
  if (match === null) throw new Error(`${basename(path)}: clocks need the trading date in the file name (SYMBOL_YYYY-MM-DD_start_end_message_LEVEL.csv)`);
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const noonUtc = Date.UTC(year, month - 1, day, 12);
  const hourThere = Number(new Intl.DateTimeFormat('en-US', { timeZone: 'America/New_York', hour: '2-digit', hourCycle: 'h23' }).format(noonUtc));
  return (Date.UTC(year, month - 1, day) + (12 - hourThere) * 3_600_000) * 1000;
}

function levelFromFileName(path: string): number | null {
  const match = /_message_(\d+)\.csv/i.exec(basename(path));
  return match === null ? null : Number(match[1]);
}

/**
 * Steps: the units the import turns into one command each (plus corrections). A step is one message of type 1-3, or a
 * run of consecutive type-4 rows with one timestamp and one resting side. Types 5-7 are in no step.
 */
interface Steps {
  readonly count: number;
  readonly start: Int32Array;
  /** Exclusive. */
  readonly end: Int32Array;
  /** Step index of each message, -1 for skipped types. */
  readonly of: Int32Array;
}

function planSteps(m: LobsterMessages): Steps {
  const start = new Int32Array(m.count);
  const end = new Int32Array(m.count);
  const of = new Int32Array(m.count).fill(-1);
  let count = 0;
  for (let i = 0; i < m.count; ) {
    const type = m.type[i]!;
    if (type > TYPE_EXECUTE_VISIBLE) {
      i++;
      continue;
    }
    let j = i + 1;
    if (type === TYPE_EXECUTE_VISIBLE) {
      while (j < m.count && m.type[j] === TYPE_EXECUTE_VISIBLE && m.timeNs[j] === m.timeNs[i] && m.dir[j] === m.dir[i]) j++;
    }
    start[count] = i;
    end[count] = j;
    for (let k = i; k < j; k++) of[k] = count;
    count++;
    i = j;
  }
  return { count, start: start.slice(0, count), end: end.slice(0, count), of };
}

/** What later messages say about each order, computed once over the whole file (the import is offline). */
interface LookAhead {
  /** For messages of type 1-4: the index of the next message naming the same order, -1 when none. */
  readonly nextRef: Int32Array;
  /** For type 2-4: the order's size just before message i, as the sum of its mentions from i on. */
  readonly sizeBefore: Float64Array;
  /** 1 when sizeBefore is exact: the order's story ends in a deletion or an execution that was not a group's last row. */
  readonly exact: Uint8Array;
  /** 1 on the first mention (type 2-4) of an order that no add introduced: an unknown order to seed. */
  readonly unknownStart: Uint8Array;
  /** For unknown starts: seeding order among orders seeded together (first execution, else last mention). */
  readonly queueKey: Int32Array;
  readonly stats: Record<string, number>;
}

function lookAhead(m: LobsterMessages, steps: Steps): LookAhead {
  const nextRef = new Int32Array(m.count).fill(-1);
  const sizeBefore = new Float64Array(m.count);
  const exact = new Uint8Array(m.count);
  const chainHead = new Map<number, number>();
  for (let i = m.count - 1; i >= 0; i--) {
    const type = m.type[i]!;
    if (type > TYPE_EXECUTE_VISIBLE) continue;
    const id = m.id[i]!;
    if (type === TYPE_ADD) {
      nextRef[i] = chainHead.get(id) ?? -1;
      chainHead.delete(id);
      continue;
    }
    const next = type === TYPE_DELETE ? -1 : (chainHead.get(id) ?? -1);
    nextRef[i] = next;
    sizeBefore[i] = m.size[i]! + (next >= 0 ? sizeBefore[next]! : 0);
    const groupTail = i === steps.end[steps.of[i]!]! - 1;
    exact[i] = next >= 0 ? exact[next]! : type === TYPE_DELETE || (type === TYPE_EXECUTE_VISIBLE && !groupTail) ? 1 : 0;
    chainHead.set(id, i);
  }
  const unknownStart = new Uint8Array(m.count);
  const queueKey = new Int32Array(m.count).fill(-1);
  const live = new Set<number>();
  let unseenIdMessages = 0;
  let unknownOrders = 0;
  let duplicateAdds = 0;
  const added = new Set<number>();
  for (let i = 0; i < m.count; i++) {
    const type = m.type[i]!;
    if (type > TYPE_EXECUTE_VISIBLE) continue;
    const id = m.id[i]!;
    if (type === TYPE_ADD) {
      if (live.has(id)) duplicateAdds++;
      live.add(id);
      added.add(id);
      continue;
    }
    if (!added.has(id)) unseenIdMessages++;
    if (!live.has(id)) {
      unknownStart[i] = 1;
      unknownOrders++;
      let firstExecution = -1;
      let last = i;
      for (let k = i; k >= 0; k = nextRef[k]!) {
        if (firstExecution < 0 && m.type[k] === TYPE_EXECUTE_VISIBLE) firstExecution = k;
        last = k;
      }
      queueKey[i] = firstExecution >= 0 ? firstExecution : last;
    }
    if (type === TYPE_DELETE) live.delete(id);
    else live.add(id);
  }
  return { nextRef, sizeBefore, exact, unknownStart, queueKey, stats: { unseenIdMessages, unknownOrders, duplicateAdds } };
}

/**
 * The visible state before a step, per side, from the orderbook file: levels best first, and how far they reach.
 * Prices worse than `boundKey` (see priceKey) are unknown; -Infinity means the whole side is known.
 */
class SideTarget {
  readonly prices: number[] = [];
  readonly sizes: number[] = [];
  /** The first `observed` levels are row a-1's; the rest were inferred from the row after the step. */
  observed = 0;
  boundKey = -Infinity;

  clear(): void {
    this.prices.length = 0;
    this.sizes.length = 0;
    this.observed = 0;
    this.boundKey = -Infinity;
  }
}

/** Computes the visible state before each step (see the file header, "Synchronisation"). */
class Targets {
  readonly bids = new SideTarget();
  readonly asks = new SideTarget();
  private readonly m: LobsterMessages;
  private readonly book: LobsterOrderbook;
  private readonly steps: Steps;

  constructor(m: LobsterMessages, book: LobsterOrderbook, steps: Steps) {
    this.m = m;
    this.book = book;
    this.steps = steps;
  }

  side(dir: Direction): SideTarget {
    return dir === 1 ? this.bids : this.asks;
  }

  /**
   * Row a-1 as far as it reaches; beyond it (everywhere, for the first step) row b-1 with the step undone: the step's
   * additions taken out, its deletions and executions put back.
   */
  load(step: number): void {
    const { m, book } = this;
    const a = this.steps.start[step]!;
    const b = this.steps.end[step]!;
    for (const dir of [1, -1] as const) {
      const target = this.side(dir);
      target.clear();
      let edgeKey = Infinity;
      if (a > 0) {
        const n = levelCount(book, a - 1, dir);
        for (let k = 0; k < n; k++) {
          target.prices.push(levelPrice(book, a - 1, dir, k));
          target.sizes.push(levelSize(book, a - 1, dir, k));
        }
        target.observed = n;
        if (n < book.levels) continue;
        edgeKey = priceKey(dir, target.prices[n - 1]!);
      }
      const first = target.prices.length;
      const after = levelCount(book, b - 1, dir);
      for (let k = 0; k < after; k++) {
        const price = levelPrice(book, b - 1, dir, k);
        if (priceKey(dir, price) >= edgeKey) continue;
        target.prices.push(price);
        target.sizes.push(levelSize(book, b - 1, dir, k));
      }
      for (let i = a; i < b; i++) {
        if (m.dir[i] !== dir || priceKey(dir, m.price[i]!) >= edgeKey) continue;
        undo(target, first, dir, m.price[i]!, m.type[i] === TYPE_ADD ? -m.size[i]! : m.size[i]!);
      }
      target.boundKey = after < book.levels ? -Infinity : Math.min(edgeKey, priceKey(dir, levelPrice(book, b - 1, dir, after - 1)));
    }
  }
}

/** Adds `delta` to the target's level at `price` among levels [first, end), keeping them best first and positive. */
function undo(target: SideTarget, first: number, dir: Direction, price: number, delta: number): void {
  const key = priceKey(dir, price);
  let k = first;
  while (k < target.prices.length && priceKey(dir, target.prices[k]!) > key) k++;
  if (k < target.prices.length && target.prices[k] === price) {
    target.sizes[k]! += delta;
  } else {
    target.prices.splice(k, 0, price);
    target.sizes.splice(k, 0, delta);
  }
  if (target.sizes[k]! <= 0) {
    target.prices.splice(k, 1);
    target.sizes.splice(k, 1);
  }
}

/**
 * For each unknown order, the step at which to seed it: the first step of the run of consecutive steps, ending at
 * its first mention, whose state before the step holds its price level, where each step after the first must see the
 * level in the actual row before it (a level seen only through the row after a step was hidden until then, and may
 * have changed unseen). Unknown orders that no run covers are seeded just in time instead.
 */
function scheduleSeeds(m: LobsterMessages, book: LobsterOrderbook, steps: Steps, ahead: LookAhead): Map<number, number[]> {
  const targets = new Targets(m, book, steps);
  const runs = new Map<number, { start: number; last: number }>();
  const seedsAt = new Map<number, number[]>();
  for (let step = 0; step < steps.count; step++) {
    targets.load(step);
    for (const dir of [1, -1] as const) {
      const target = targets.side(dir);
      for (let k = 0; k < target.prices.length; k++) {
        const key = dir * target.prices[k]!;
        const run = runs.get(key);
        if (run !== undefined && run.last === step - 1 && k < target.observed) run.last = step;
        else runs.set(key, { start: step, last: step });
      }
    }
    for (let i = steps.start[step]!; i < steps.end[step]!; i++) {
      if (ahead.unknownStart[i] !== 1) continue;
      const run = runs.get(m.dir[i]! * m.price[i]!);
      if (run === undefined || run.last !== step) continue;
      let list = seedsAt.get(run.start);
      if (list === undefined) seedsAt.set(run.start, (list = []));
      list.push(i);
    }
  }
  for (const list of seedsAt.values()) list.sort((x, y) => ahead.queueKey[x]! - ahead.queueKey[y]!);
  return seedsAt;
}

/** Runs the steps in order, emitting each step's corrections and command into the builder and the model book. */
class Reconstruction {
  readonly builder = new WorkloadBuilder();
  readonly commandOf: Int32Array;
  readonly commandsThrough: Int32Array;
  readonly stats: Record<string, number>;
  private readonly symIndex: number;
  private readonly book = new ReconstructionBook();
  private readonly m: LobsterMessages;
  private readonly orderbook: LobsterOrderbook | null;
  private readonly steps: Steps;
  private readonly ahead: LookAhead;
  private readonly seedsAt: Map<number, number[]> | null;
  private readonly targets: Targets | null;
  /** Orders the current step names: synchronisation never takes volume from them. */
  private readonly named = new Set<number>();
  private readonly repairQueues: boolean;
  /** A clock before a step at least this many µs after the last clock; 0: none. */
  private readonly clockEveryUs: number;
  /** µs since the Unix epoch of the rows' midnight. */
  private readonly midnightUs: number;
  private lastClockUs = -Infinity;
  private takers = 0;
  private placeholders = 0;

  constructor(symbol: string, m: LobsterMessages, orderbook: LobsterOrderbook | null, steps: Steps, ahead: LookAhead, seedsAt: Map<number, number[]> | null, repairQueues: boolean, clockEveryUs: number, midnightUs: number) {
    this.symIndex = this.builder.intern(symbol);
    this.repairQueues = repairQueues;
    this.clockEveryUs = clockEveryUs;
    this.midnightUs = midnightUs;
    this.m = m;
    this.orderbook = orderbook;
    this.steps = steps;
    this.ahead = ahead;
    this.seedsAt = seedsAt;
    this.targets = orderbook === null ? null : new Targets(m, orderbook, steps);
    this.commandOf = new Int32Array(m.count).fill(-1);
    this.commandsThrough = new Int32Array(m.count);
    const typeCount = (t: number): number => m.type.reduce((n, x) => (x === t ? n + 1 : n), 0);
    this.stats = {
      messages: m.count,
      adds: typeCount(TYPE_ADD),
      partialCancels: typeCount(TYPE_PARTIAL_CANCEL),
      deletes: typeCount(TYPE_DELETE),
      visibleExecutions: typeCount(TYPE_EXECUTE_VISIBLE),
      hiddenExecutions: typeCount(TYPE_EXECUTE_HIDDEN),
      crossTrades: typeCount(TYPE_CROSS),
      haltMarkers: typeCount(TYPE_HALT),
      skipped: typeCount(TYPE_EXECUTE_HIDDEN) + typeCount(TYPE_CROSS) + typeCount(TYPE_HALT),
      takers: 0,
      ...ahead.stats,
      seeded: 0,
      seededJustInTime: 0,
      placeholders: 0,
      placeholderVolume: 0,
      staleCancelled: 0,
      staleVolumeRemoved: 0,
      namedTrimmed: 0,
      namedReentered: 0,
      namedTakenForSync: 0,
      unresolvedExcess: 0,
      requeued: 0,
      staleCancelledAtExecution: 0,
      makersSplit: 0,
      crossingCancelled: 0,
    };
  }

  run(): void {
    const { m, steps } = this;
    // The state before the first step holds from the first row on, also after leading skipped rows.
    if (steps.count > 0) {
      this.clock(steps.start[0]!);
      this.prepare(0);
    }
    let done = this.builder.count;
    for (let i = 0; i < m.count; i++) {
      const step = steps.of[i]!;
      if (step >= 0 && steps.start[step] === i) {
        if (step > 0) {
          this.clock(i);
          this.prepare(step);
        }
        this.apply(step);
      }
      if (step >= 0) done = this.builder.count;
      this.commandsThrough[i] = done;
    }
  }

  /** The clock of row i's time, when clocks are on and it is `clockEveryUs` past the last one. */
  private clock(i: number): void {
    if (this.clockEveryUs === 0) return;
    // timeNs is an integer count of ns after midnight (< 86,400 × 10^9, exact in an f64).
    const ts = this.midnightUs + Math.floor(this.m.timeNs[i]! / 1000);
    if (ts - this.lastClockUs < this.clockEveryUs) return;
    this.builder.add({ op: 'clock', ts });
    this.lastClockUs = ts;
  }

  /** Everything before a step's own command: seeds, named orders made ready, synchronisation. */
  private prepare(step: number): void {
    const { m } = this;
    const a = this.steps.start[step]!;
    const b = this.steps.end[step]!;
    const type = m.type[a]!;
    this.named.clear();
    for (let i = a; i < b; i++) if (type !== TYPE_ADD) this.named.add(m.id[i]!);
    const seeds = this.seedsAt?.get(step);
    if (seeds !== undefined) for (const i of seeds) this.seed(i, false);
    if (type === TYPE_ADD) {
      const existing = this.book.get(m.id[a]!);
      if (existing !== undefined) this.cancel(existing);
    } else {
      this.prepareNamedOrders(a, b);
    }
    if (this.targets !== null) {
      this.targets.load(step);
      this.removeExcess(1);
      this.removeExcess(-1);
      this.addMissing(1);
      this.addMissing(-1);
      // Synchronisation may have had to cancel a named order that crossed the visible book; bring it back.
      if (type !== TYPE_ADD) this.prepareNamedOrders(a, b);
    }
  }

  /** A step's own command (and, for executions, the requeueing around it). */
  private apply(step: number): void {
    const { m, ahead } = this;
    const a = this.steps.start[step]!;
    const b = this.steps.end[step]!;
    const type = m.type[a]!;
    switch (type) {
      case TYPE_ADD: {
        const dir = m.dir[a]! as Direction;
        this.removeCrossing(dir, m.price[a]!);
        this.commandOf[a] = this.builder.count;
        const owner = m.mpid === null || m.mpid[a] === 0 ? NaN : m.mpid[a]!;
        this.submit(m.id[a]!, dir, m.price[a]!, m.size[a]!, true, ahead.nextRef[a]!, false, owner);
        return;
      }
      case TYPE_PARTIAL_CANCEL: {
        const order = this.book.get(m.id[a]!)!;
        this.commandOf[a] = this.builder.count;
        this.reduce(order, m.size[a]!);
        order.nextRef = ahead.nextRef[a]!;
        return;
      }
      case TYPE_DELETE:
        this.commandOf[a] = this.builder.count;
        this.cancel(this.book.get(m.id[a]!)!);
        return;
      default:
        this.execute(a, b);
    }
  }

  /** Seeds the unknown order first named by message i, with the size its later messages account for. */
  private seed(i: number, justInTime: boolean): void {
    const { m } = this;
    const dir = m.dir[i]! as Direction;
    this.removeCrossing(dir, m.price[i]!);
    this.submit(m.id[i]!, dir, m.price[i]!, this.ahead.sizeBefore[i]!, true, i, false, NaN);
    this.stats.seeded!++;
    if (justInTime) this.stats.seededJustInTime!++;
  }

  /** prepareNamed for the first mention of each order in messages [a, b) (later mentions need less than the first). */
  private prepareNamedOrders(a: number, b: number): void {
    for (let i = a; i < b; i++) {
      let first = true;
      for (let k = a; k < i; k++) if (this.m.id[k] === this.m.id[i]) first = false;
      if (first) this.prepareNamed(i);
    }
  }

  /** Before message i (type 2-4) names an order: make it live, at the message's price and side, with the size it needs. */
  private prepareNamed(i: number): void {
    const { m, ahead } = this;
    let order = this.book.get(m.id[i]!);
    if (order !== undefined && (order.dir !== m.dir[i] || order.price !== m.price[i])) {
      this.cancel(order);
      order = undefined;
    }
    const need = ahead.sizeBefore[i]!;
    if (order === undefined) {
      this.seed(i, true);
      return;
    }
    order.nextRef = i;
    if (order.size < need) {
      this.cancel(order);
      this.submit(order.id, order.dir, order.price, need, true, i, false, order.owner);
      this.stats.namedReentered!++;
    } else if (order.size > need && ahead.exact[i] === 1) {
      this.reduce(order, order.size - need);
      this.stats.namedTrimmed!++;
    }
  }

  /** Synchronisation, first half: visible levels of this side hold no more than the target (file header). */
  private removeExcess(dir: Direction): void {
    const target = this.targets!.side(dir);
    const levels = this.book.levels(dir);
    const inRange: ModelLevel[] = [];
    for (let j = levels.length - 1; j >= 0 && levels[j]!.key >= target.boundKey; j--) inRange.push(levels[j]!);
    let t = 0;
    for (const level of inRange) {
      while (t < target.prices.length && priceKey(dir, target.prices[t]!) > level.key) t++;
      const want = t < target.prices.length && target.prices[t] === level.price ? target.sizes[t]! : 0;
      if (level.total > want) this.takeFromLevel(level, level.total - want);
    }
  }

  /** Synchronisation, second half: visible levels of this side hold no less than the target. */
  private addMissing(dir: Direction): void {
    const target = this.targets!.side(dir);
    for (let k = 0; k < target.prices.length; k++) {
      const price = target.prices[k]!;
      const have = this.book.level(dir, price)?.total ?? 0;
      if (have < target.sizes[k]!) this.addPlaceholder(dir, price, target.sizes[k]! - have);
    }
  }

  private addPlaceholder(dir: Direction, price: number, size: number): void {
    this.removeCrossing(dir, price);
    this.submit(PLACEHOLDER_ID_BASE + this.placeholders++, dir, price, size, true, -1, true, NaN);
    this.stats.placeholders!++;
    this.stats.placeholderVolume! += size;
  }

  /** Takes `excess` volume out of a level, in the order of the file header ("Synchronisation"). */
  private takeFromLevel(level: ModelLevel, excess: number): void {
    const orders: ModelOrder[] = [];
    for (let o = level.head; o !== null; o = o.next) if (!this.named.has(o.id)) orders.push(o);
    let left = excess;
    const take = (order: ModelOrder, qty: number): void => {
      const q = Math.min(qty, left, order.size);
      if (q <= 0) return;
      const whole = q === order.size;
      if (whole) this.cancel(order);
      else this.reduce(order, q);
      left -= q;
      if (!order.placeholder) {
        this.stats.staleVolumeRemoved! += q;
        if (whole) this.stats.staleCancelled!++;
      }
    };
    for (const o of orders) if (o.placeholder && left > 0) take(o, o.size);
    const unnamed = orders.filter((o) => !o.placeholder && o.nextRef < 0);
    const exactFit = unnamed.find((o) => o.size === left);
    if (exactFit !== undefined) take(exactFit, exactFit.size);
    for (const o of unnamed) if (left > 0 && this.book.get(o.id) === o) take(o, o.size);
    const named = orders.filter((o) => !o.placeholder && o.nextRef >= 0);
    for (const pass of [1, 0]) {
      for (const o of named) {
        if (left <= 0 || this.book.get(o.id) !== o || this.ahead.exact[o.nextRef] !== pass) continue;
        const surplus = o.size - this.ahead.sizeBefore[o.nextRef]!;
        if (surplus > 0) take(o, surplus);
      }
    }
    for (let k = named.length - 1; k >= 0 && left > 0; k--) {
      const o = named[k]!;
      if (this.book.get(o.id) !== o) continue;
      this.stats.namedTakenForSync!++;
      take(o, o.size);
    }
    this.stats.unresolvedExcess! += left;
  }

  /** Removes orders on the other side that an order of `dir` at `price` would trade with (they must be stale). */
  private removeCrossing(dir: Direction, price: number): void {
    const opposite = this.book.levels(dir === 1 ? -1 : 1);
    for (;;) {
      const best = opposite[opposite.length - 1];
      if (best === undefined || (dir === 1 ? best.price > price : best.price < price)) return;
      this.stats.crossingCancelled!++;
      this.cancel(best.head!);
    }
  }

  /** A type-4 group [a, b): requeue what stands ahead of the named makers, one IOC, then the requeued orders. */
  private execute(a: number, b: number): void {
    const { m, ahead } = this;
    const restingDir = m.dir[a]! as Direction;
    const pending = new Map<number, number>();
    let total = 0;
    let limit = m.price[a]!;
    for (let i = a; i < b; i++) {
      total += m.size[i]!;
      if (priceKey(restingDir, m.price[i]!) < priceKey(restingDir, limit)) limit = m.price[i]!;
      pending.set(m.id[i]!, (pending.get(m.id[i]!) ?? 0) + m.size[i]!);
    }
    const reenter = this.repairQueues ? this.clearTheWay(restingDir, limit, total, pending) : [];
    const command = this.builder.count;
    for (let i = a; i < b; i++) this.commandOf[i] = command;
    this.submit(TAKER_ID_BASE + this.takers++, restingDir === 1 ? -1 : 1, limit, total, false, -1, false, NaN);
    this.stats.takers!++;
    for (let i = a; i < b; i++) {
      const maker = this.book.get(m.id[i]!);
      if (maker !== undefined) maker.nextRef = ahead.nextRef[i]!;
    }
    for (const { order, size } of reenter) this.submit(order.id, order.dir, order.price, size, true, order.nextRef, order.placeholder, order.owner);
  }

  /**
   * Walks the queue an IOC of `total` up to `limit` will meet and makes it meet exactly the named makers (`pending`:
   * id -> quantity): what stands ahead of them at the limit price is cancelled, to re-enter after the IOC; what stands
   * at a better price is stale and only cancelled; a maker that would fill more than its row is cut to the row and
   * its remainder re-enters. Returns the re-entries, remainders first (they kept their place in reality).
   */
  private clearTheWay(restingDir: Direction, limit: number, total: number, pending: Map<number, number>): Array<{ order: ModelOrder; size: number }> {
    const inTheWay: ModelOrder[] = [];
    const split: Array<{ order: ModelOrder; row: number }> = [];
    const limitKey = priceKey(restingDir, limit);
    let left = total;
    const levels = this.book.levels(restingDir);
    for (let j = levels.length - 1; j >= 0 && left > 0 && levels[j]!.key >= limitKey; j--) {
      for (let o = levels[j]!.head; o !== null && left > 0; o = o.next) {
        const row = pending.get(o.id);
        if (row === undefined) {
          inTheWay.push(o);
          continue;
        }
        pending.delete(o.id);
        const splits = o.size > row && left > row;
        if (splits) split.push({ order: o, row });
        left -= Math.min(left, splits ? row : o.size);
      }
    }
    const reenter: Array<{ order: ModelOrder; size: number }> = [];
    for (const { order, row } of split) {
      reenter.push({ order, size: order.size - row });
      this.reduce(order, order.size - row);
      this.stats.makersSplit!++;
    }
    for (const order of inTheWay) {
      // Without an orderbook file to vouch for its volume, an order no later message names is taken for stale.
      const stale = order.level.key > limitKey || (this.orderbook === null && order.nextRef < 0);
      if (stale) {
        this.stats.staleCancelledAtExecution!++;
      } else {
        reenter.push({ order, size: order.size });
        this.stats.requeued!++;
      }
      this.cancel(order);
    }
    return reenter;
  }

  private submit(id: number, dir: Direction, price: number, size: number, rest: boolean, nextRef: number, placeholder: boolean, owner: number): void {
    this.builder.addRaw(OP_NEW, this.symIndex, id, dir === 1 ? SIDE_BUY : SIDE_SELL, TYPE_LIMIT, rest ? TIF_GTC : TIF_IOC, price, size, owner);
    this.book.submit(id, dir, price, size, rest, nextRef, placeholder, owner);
  }

  private cancel(order: ModelOrder): void {
    this.builder.addRaw(OP_CANCEL, this.symIndex, order.id, SIDE_NONE, TYPE_NONE, TIF_NONE, NaN, NaN, NaN);
    this.book.cancel(order);
  }

  private reduce(order: ModelOrder, qty: number): void {
    this.builder.addRaw(OP_REDUCE, this.symIndex, order.id, SIDE_NONE, TYPE_NONE, TIF_NONE, NaN, qty, NaN);
    this.book.reduce(order, qty);
  }
}
