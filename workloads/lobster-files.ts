/**
 * Streaming readers for LOBSTER's two CSV files, plain or gzip (detected by the gzip magic bytes, not the name).
 *
 * Message file, one event a line, no header: `time,type,order_id,size,price,direction` (6 columns), or the same plus a
 * 7th MPID column (market participant id, attributed orders). Orderbook file: line i is the book after message i, in
 * 4 x LEVEL columns `AskPrice1,AskSize1,BidPrice1,BidSize1,AskPrice2,...`; empty levels are dummies (ask price
 * 9999999999, bid price -9999999999, size 0). See LOBSTER_SampleFiles_ReadMe.txt next to the data.
 *
 * Both files are read line by line (readline over a gunzip stream) into typed column arrays that grow geometrically,
 * so a 34 MB orderbook is never one string. Every value is checked; a bad one is an error naming file, line and field.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';

export const DUMMY_ASK_PRICE = 9999999999;
export const DUMMY_BID_PRICE = -9999999999;

/** LOBSTER ids must stay below this bound: the importer's synthetic ids live above it (see workloads/lobster.ts). */
export const LOBSTER_ID_LIMIT = 2 ** 50;

export const TYPE_ADD = 1;
export const TYPE_PARTIAL_CANCEL = 2;
export const TYPE_DELETE = 3;
export const TYPE_EXECUTE_VISIBLE = 4;
export const TYPE_EXECUTE_HIDDEN = 5;
export const TYPE_CROSS = 6;
export const TYPE_HALT = 7;

const MESSAGE_FIELDS = ['time', 'type', 'order_id', 'size', 'price', 'direction', 'mpid'] as const;

/** The message file as columns; message i is line i + 1. */
export interface LobsterMessages {
  readonly path: string;
  readonly count: number;
  readonly columns: 6 | 7;
  /** Nanoseconds after midnight, read from the decimal text as an integer (never through a float). */
  readonly timeNs: Float64Array;
  readonly type: Uint8Array;
  readonly id: Float64Array;
  readonly size: Float64Array;
  readonly price: Float64Array;
  /** 1 = buy order, -1 = sell order (for executions: the side of the resting order). */
  readonly dir: Int8Array;
  /** 7-column files: 1 + index into `mpids` of the row's MPID, 0 when unattributed; null for 6-column files. */
  readonly mpid: Uint32Array | null;
  readonly mpids: readonly string[];
}

/** The orderbook file: `rows` x `4 * levels` numbers in file order, dummies kept as they are. */
export interface LobsterOrderbook {
  readonly path: string;
  readonly rows: number;
  readonly levels: number;
  readonly values: Float64Array;
}

/** Number of occupied levels of one side (1 = buy/bid, -1 = sell/ask) in row `row`: they come first, best first. */
export function levelCount(book: LobsterOrderbook, row: number, dir: 1 | -1): number {
  const width = 4 * book.levels;
  const sizeColumn = dir === 1 ? 3 : 1;
  let n = 0;
  while (n < book.levels && book.values[row * width + 4 * n + sizeColumn]! > 0) n++;
  return n;
}

export function levelPrice(book: LobsterOrderbook, row: number, dir: 1 | -1, level: number): number {
  return book.values[row * 4 * book.levels + 4 * level + (dir === 1 ? 2 : 0)]!;
}

export function levelSize(book: LobsterOrderbook, row: number, dir: 1 | -1, level: number): number {
  return book.values[row * 4 * book.levels + 4 * level + (dir === 1 ? 3 : 1)]!;
}

/** Yields the lines of a plain or gzip file; read and decompression errors name the file. */
async function* fileLines(path: string): AsyncGenerator<string> {
  const gzip = await isGzip(path);
  const raw = createReadStream(path);
  const input = gzip ? raw.pipe(createGunzip()) : raw;
  if (gzip) raw.on('error', (error) => input.destroy(error));
  const lines = createInterface({ input, crlfDelay: Infinity });
  try {
    for await (const line of lines) yield line;
  } catch (error) {
    throw new Error(`${path}: cannot read${gzip ? ' (gzip)' : ''}: ${(error as Error).message}`, { cause: error });
  }
}

async function isGzip(path: string): Promise<boolean> {
  const handle = await open(path, 'r');
  try {
    const head = Buffer.alloc(2);
    const { bytesRead } = await handle.read(head, 0, 2, 0);
    return bytesRead === 2 && head[0] === 0x1f && head[1] === 0x8b;
  } finally {
    await handle.close();
  }
}

function fail(path: string, line: number, field: string, message: string): never {
  throw new Error(`${path}:${line}: field ${field}: ${message}`);
}

const INTEGER = /^-?\d+$/;
const TIME = /^(\d+)(?:\.(\d+))?$/;

function integerField(text: string, path: string, line: number, field: string): number {
  const value = Number(text);
  if (!INTEGER.test(text) || !Number.isSafeInteger(value)) fail(path, line, field, `expected an integer, got ${JSON.stringify(text)}`);
  return value;
}

function timeField(text: string, path: string, line: number): number {
  const match = TIME.exec(text);
  if (match === null) fail(path, line, 'time (column 1)', `expected seconds after midnight like 34200.015105074, got ${JSON.stringify(text)}`);
  const fraction = (match[2] ?? '').slice(0, 9).padEnd(9, '0');
  const ns = Number(match[1]) * 1e9 + Number(fraction);
  if (!Number.isSafeInteger(ns)) fail(path, line, 'time (column 1)', `${text} seconds is out of range`);
  return ns;
}

/** MPID texts that mean "not attributed". */
const UNATTRIBUTED = new Set(['', '0', 'null', 'NULL', 'NaN', 'nan']);

export async function readMessages(path: string): Promise<LobsterMessages> {
  let capacity = 1 << 14;
  let timeNs = new Float64Array(capacity);
  let type = new Uint8Array(capacity);
  let id = new Float64Array(capacity);
  let size = new Float64Array(capacity);
  let price = new Float64Array(capacity);
  let dir = new Int8Array(capacity);
  let mpid = new Uint32Array(capacity);
  const mpids: string[] = [];
  const mpidIndex = new Map<string, number>();
  let columns: 6 | 7 | undefined;
  let n = 0;
  let line = 0;
  for await (const text of fileLines(path)) {
    line++;
    if (text.trim() === '') continue;
    const cells = text.split(',');
    if (columns === undefined) {
      if (cells.length !== 6 && cells.length !== 7) fail(path, line, 'count', `expected 6 columns (time,type,order_id,size,price,direction) or 7 (plus MPID), got ${cells.length}`);
      columns = cells.length;
    } else if (cells.length !== columns) {
      fail(path, line, 'count', `expected ${columns} columns like the first line, got ${cells.length}`);
    }
    if (n === capacity) {
      capacity *= 2;
      timeNs = grown(timeNs, new Float64Array(capacity));
      type = grown(type, new Uint8Array(capacity));
      id = grown(id, new Float64Array(capacity));
      size = grown(size, new Float64Array(capacity));
      price = grown(price, new Float64Array(capacity));
      dir = grown(dir, new Int8Array(capacity));
      mpid = grown(mpid, new Uint32Array(capacity));
    }
    const field = (column: number): string => `${MESSAGE_FIELDS[column]} (column ${column + 1})`;
    timeNs[n] = timeField(cells[0]!.trim(), path, line);
    const t = integerField(cells[1]!.trim(), path, line, field(1));
    if (t < TYPE_ADD || t > TYPE_HALT) fail(path, line, field(1), `expected an event type 1..7, got ${t}`);
    const orderId = integerField(cells[2]!.trim(), path, line, field(2));
    const shares = integerField(cells[3]!.trim(), path, line, field(3));
    const ticks = integerField(cells[4]!.trim(), path, line, field(4));
    const direction = integerField(cells[5]!.trim(), path, line, field(5));
    if (direction !== 1 && direction !== -1) fail(path, line, field(5), `expected 1 (buy) or -1 (sell), got ${direction}`);
    if (t <= TYPE_EXECUTE_VISIBLE) {
      if (orderId <= 0 || orderId >= LOBSTER_ID_LIMIT) fail(path, line, field(2), `expected an order id in 1..2^50-1, got ${orderId}`);
      if (shares <= 0) fail(path, line, field(3), `expected a positive number of shares, got ${shares}`);
      if (ticks <= 0) fail(path, line, field(4), `expected a positive price (dollars x 10000), got ${ticks}`);
    } else if (t === TYPE_EXECUTE_HIDDEN) {
      if (shares <= 0) fail(path, line, field(3), `expected a positive number of shares, got ${shares}`);
      if (ticks <= 0) fail(path, line, field(4), `expected a positive price (dollars x 10000), got ${ticks}`);
    }
    type[n] = t;
    id[n] = orderId;
    size[n] = shares;
    price[n] = ticks;
    dir[n] = direction;
    if (columns === 7) {
      const name = cells[6]!.trim().replace(/^"(.*)"$/, '$1');
      if (/[^A-Za-z0-9 ._-]/.test(name)) fail(path, line, field(6), `expected a market participant id like NSDQ, got ${JSON.stringify(name)}`);
      if (UNATTRIBUTED.has(name)) {
        mpid[n] = 0;
      } else {
        let index = mpidIndex.get(name);
        if (index === undefined) {
          index = mpids.length + 1;
          mpids.push(name);
          mpidIndex.set(name, index);
        }
        mpid[n] = index;
      }
    }
    n++;
  }
  if (columns === undefined) throw new Error(`${path}: the message file has no rows`);
  return {
    path,
    count: n,
    columns,
    timeNs: timeNs.slice(0, n),
    type: type.slice(0, n),
    id: id.slice(0, n),
    size: size.slice(0, n),
    price: price.slice(0, n),
    dir: dir.slice(0, n),
    mpid: columns === 7 ? mpid.slice(0, n) : null,
    mpids,
  };
}

/** Reads an orderbook file that must have exactly `expectedRows` rows (one per message). */
export async function readOrderbook(path: string, expectedRows: number, messagePath: string): Promise<LobsterOrderbook> {
  let width = 0;
  let values = new Float64Array(0);
  let row = 0;
  let line = 0;
  for await (const text of fileLines(path)) {
    line++;
    if (text.trim() === '') continue;
    if (width === 0) {
      const columns = text.split(',').length;
      if (columns < 4 || columns % 4 !== 0) fail(path, line, 'count', `expected 4 x LEVEL columns (AskPrice1,AskSize1,BidPrice1,BidSize1,...), got ${columns}`);
      width = columns;
      values = new Float64Array(expectedRows * width);
    }
    if (row === expectedRows) throw new Error(`${path}:${line}: the orderbook has more rows than the ${expectedRows} messages of ${messagePath} (row i is the book after message i)`);
    const base = row * width;
    if (!parseIntegers(text, values, base, width)) {
      const cells = text.split(',');
      if (cells.length !== width) fail(path, line, 'count', `expected ${width} columns like the first line, got ${cells.length}`);
      for (let column = 0; column < width; column++) values[base + column] = integerField(cells[column]!.trim(), path, line, orderbookField(column));
    }
    for (let level = 0; level < width / 4; level++) {
      checkLevel(values, base, path, line, level, -1);
      checkLevel(values, base, path, line, level, 1);
    }
    row++;
  }
  if (row !== expectedRows) throw new Error(`${path}: the orderbook has ${row} rows but ${messagePath} has ${expectedRows} messages (row i is the book after message i)`);
  return { path, rows: row, levels: width / 4, values };
}

function orderbookField(column: number): string {
  const names = ['AskPrice', 'AskSize', 'BidPrice', 'BidSize'];
  return `${names[column % 4]}${Math.floor(column / 4) + 1} (column ${column + 1})`;
}

/**
 * The fast path for a line of plain integers (no spaces, at most 15 digits, so every value is exact): parses it into
 * out[base, base + width) and returns true, or returns false so the caller re-reads the line cell by cell to report.
 */
function parseIntegers(text: string, out: Float64Array, base: number, width: number): boolean {
  let column = 0;
  let value = 0;
  let digits = 0;
  let negative = false;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 44;
    if (c >= 48 && c <= 57) {
      value = value * 10 + (c - 48);
      digits++;
    } else if (c === 44) {
      if (digits === 0 || digits > 15 || column === width) return false;
      out[base + column++] = negative ? -value : value;
      value = 0;
      digits = 0;
      negative = false;
    } else if (c === 45 && digits === 0 && !negative) {
      negative = true;
    } else {
      return false;
    }
  }
  return column === width;
}

/** Checks one level of one side of a parsed orderbook line: size, the dummy rule, and that levels get worse. */
function checkLevel(values: Float64Array, base: number, path: string, line: number, level: number, dir: 1 | -1): void {
  const priceColumn = 4 * level + (dir === 1 ? 2 : 0);
  const name = dir === 1 ? 'Bid' : 'Ask';
  const price = values[base + priceColumn]!;
  const size = values[base + priceColumn + 1]!;
  if (size < 0) fail(path, line, orderbookField(priceColumn + 1), `expected a size >= 0, got ${size}`);
  if (size === 0) return;
  if (price <= 0 || price === DUMMY_ASK_PRICE) fail(path, line, orderbookField(priceColumn), `a level with size ${size} needs a real positive price, got ${price}`);
  if (level === 0) return;
  const better = values[base + priceColumn - 4]!;
  if (values[base + priceColumn - 3] === 0) fail(path, line, orderbookField(priceColumn + 1), `an occupied level after an empty ${name} level ${level}`);
  if (dir === 1 ? price >= better : price <= better) fail(path, line, orderbookField(priceColumn), `${price} is not worse than level ${level}'s ${better}`);
}

function grown<T extends Float64Array | Uint8Array | Int8Array | Uint32Array>(old: T, next: T): T {
  next.set(old);
  return next;
}
