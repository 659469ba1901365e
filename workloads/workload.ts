/**
 * A workload in memory: a symbol table plus N fixed-size command records in one ArrayBuffer.
 *
 * The same 40-byte record is the body of the binary workload file (workloads/binary.ts), the slot of every
 * SharedArrayBuffer ring, and what the fast core reads, so a command is encoded once and never re-parsed.
 *
 *   byte  0      1      2      3      4..7        8..15      16..23     24..31     32..39
 *       +------+------+------+------+-----------+----------+----------+----------+----------+
 *       |  op  | side | type | tif  | sym (u32) | id (f64) |price(f64)| qty (f64)|owner(f64)|
 *       +------+------+------+------+-----------+----------+----------+----------+----------+
 *
 * A clock record (op 5) uses two fields: `ts` (µs since the Unix epoch) in the price slot (OFF_TS), and NO_SYMBOL
 * as its symbol index (it names no book); the others are codes 0 and NaN.
 *
 * Numbers are f64 so that every safe integer is exact and a malformed value (fractional, missing = NaN) survives
 * until the engine rejects it. Little-endian, as typed arrays are on every platform Node supports (checked below).
 */
import type { Command, OrderType, Side, TimeInForce } from '../engines/types.ts';

export const RECORD_BYTES = 40;
export const RECORD_F64S = RECORD_BYTES / 8;
/** Byte offsets inside a record. */
export const OFF_OP = 0;
export const OFF_SIDE = 1;
export const OFF_TYPE = 2;
export const OFF_TIF = 3;
export const OFF_SYM = 4;
export const OFF_ID = 8;
export const OFF_PRICE = 16;
export const OFF_QTY = 24;
export const OFF_OWNER = 32;
/** Float64 indexes inside a record (record index × RECORD_F64S + these). */
export const F64_ID = OFF_ID / 8;
export const F64_PRICE = OFF_PRICE / 8;
export const F64_QTY = OFF_QTY / 8;
export const F64_OWNER = OFF_OWNER / 8;
/** A clock record's time: the price slot, which a clock has no other use for. */
export const OFF_TS = OFF_PRICE;
export const F64_TS = OFF_TS / 8;
/** The symbol index of a record (or event) that names no book: a clock, and a clock's reject. */
export const NO_SYMBOL = 0xffff_ffff;

export const OP_INVALID = 0;
export const OP_NEW = 1;
export const OP_CANCEL = 2;
export const OP_REDUCE = 3;
export const OP_MODIFY = 4;
export const OP_CLOCK = 5;
export const OP_NAMES = ['invalid', 'new', 'cancel', 'reduce', 'modify', 'clock'] as const;

export const SIDE_NONE = 0;
export const SIDE_BUY = 1;
export const SIDE_SELL = 2;
export const TYPE_NONE = 0;
export const TYPE_LIMIT = 1;
export const TYPE_MARKET = 2;
export const TIF_NONE = 0;
export const TIF_GTC = 1;
export const TIF_IOC = 2;
export const TIF_FOK = 3;

const SIDES: readonly (Side | undefined)[] = [undefined, 'buy', 'sell'];
const TYPES: readonly (OrderType | undefined)[] = [undefined, 'limit', 'market'];
const TIFS: readonly (TimeInForce | undefined)[] = [undefined, 'gtc', 'ioc', 'fok'];

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error('matchbench needs a little-endian platform: workload records are little-endian typed arrays');
}

/** Where a workload came from, stored in the binary header so a result can name its input exactly. */
export type Provenance = Readonly<Record<string, unknown>>;

export class Workload {
  readonly symbols: readonly string[];
  readonly count: number;
  /** count × RECORD_BYTES bytes of records. */
  readonly records: ArrayBuffer;
  readonly provenance: Provenance;
  readonly bytes: Uint8Array;
  readonly words: Uint32Array;
  readonly f64: Float64Array;

  constructor(symbols: readonly string[], records: ArrayBuffer, provenance: Provenance) {
    if (records.byteLength % RECORD_BYTES !== 0) {
      throw new Error(`workload records: ${records.byteLength} bytes is not a multiple of the ${RECORD_BYTES}-byte record`);
    }
    this.symbols = symbols;
    this.records = records;
    this.count = records.byteLength / RECORD_BYTES;
    this.provenance = provenance;
    this.bytes = new Uint8Array(records);
    this.words = new Uint32Array(records);
    this.f64 = new Float64Array(records);
  }

  op(i: number): number {
    return this.bytes[i * RECORD_BYTES + OFF_OP]!;
  }

  symIndex(i: number): number {
    return this.words[(i * RECORD_BYTES + OFF_SYM) >> 2]!;
  }

  /** Materializes record i as a command object (allocates: for tests, NDJSON and the reference engine). */
  command(i: number): Command {
    return decodeRecord(this.bytes, this.f64, i, this.symbols);
  }

  *commands(): IterableIterator<Command> {
    for (let i = 0; i < this.count; i++) yield this.command(i);
  }
}

/** Decodes the record at index `i` of a record buffer (viewed as bytes and f64s) into a command object. */
export function decodeRecord(bytes: Uint8Array, f64: Float64Array, i: number, symbols: readonly string[]): Command {
  const base = i * RECORD_BYTES;
  const op = bytes[base + OFF_OP]!;
  if (op === OP_CLOCK) return { op: 'clock', ts: f64[i * RECORD_F64S + F64_TS]! };
  const symIndex = bytes[base + OFF_SYM]! | (bytes[base + OFF_SYM + 1]! << 8) | (bytes[base + OFF_SYM + 2]! << 16) | (bytes[base + OFF_SYM + 3]! << 24);
  // An invalid command may name no symbol (serve turns a client's clock into one).
  if (op === OP_INVALID && symIndex >>> 0 === NO_SYMBOL) return { op: 'invalid', sym: '', id: f64[i * RECORD_F64S + F64_ID]! };
  const sym = symbols[symIndex >>> 0];
  if (sym === undefined) throw new Error(`record ${i}: symbol index ${symIndex >>> 0} is outside the symbol table of ${symbols.length}`);
  const fb = i * RECORD_F64S;
  const id = f64[fb + F64_ID]!;
  switch (op) {
    case OP_NEW: {
      const side = SIDES[bytes[base + OFF_SIDE]!];
      const type = TYPES[bytes[base + OFF_TYPE]!];
      const tif = TIFS[bytes[base + OFF_TIF]!];
      if (side === undefined || type === undefined) throw new Error(`record ${i}: new order with side code ${bytes[base + OFF_SIDE]} / type code ${bytes[base + OFF_TYPE]}`);
      const price = f64[fb + F64_PRICE]!;
      const owner = f64[fb + F64_OWNER]!;
      const qty = f64[fb + F64_QTY]!;
      if (type === 'market') {
        return Number.isNaN(owner) ? { op: 'new', sym, id, side, type, qty } : { op: 'new', sym, id, side, type, qty, owner };
      }
      const base2 = { op: 'new', sym, id, side, type, tif: tif ?? 'gtc', price, qty } as const;
      return Number.isNaN(owner) ? base2 : { ...base2, owner };
    }
    case OP_CANCEL:
      return { op: 'cancel', sym, id };
    case OP_REDUCE:
      return { op: 'reduce', sym, id, qty: f64[fb + F64_QTY]! };
    case OP_MODIFY:
      return { op: 'modify', sym, id, price: f64[fb + F64_PRICE]!, qty: f64[fb + F64_QTY]! };
    case OP_INVALID:
      return { op: 'invalid', sym, id };
    default:
      throw new Error(`record ${i}: unknown op code ${op}`);
  }
}

/**
 * Writes record `i` of a buffer (viewed as bytes, a DataView and f64s) from its fields: codes as the OP_/SIDE_/TYPE_/
 * TIF_ constants, NaN where a field is absent (stored as the canonical NaN, as workloads/binary.ts requires).
 */
export function writeRecord(
  bytes: Uint8Array, view: DataView, f64: Float64Array, i: number,
  op: number, symIndex: number, id: number, side: number, type: number, tif: number, price: number, qty: number, owner: number,
): void {
  const base = i * RECORD_BYTES;
  bytes[base + OFF_OP] = op;
  bytes[base + OFF_SIDE] = side;
  bytes[base + OFF_TYPE] = type;
  bytes[base + OFF_TIF] = tif;
  view.setUint32(base + OFF_SYM, symIndex, true);
  const fb = i * RECORD_F64S;
  f64[fb + F64_ID] = id;
  f64[fb + F64_PRICE] = price;
  f64[fb + F64_QTY] = qty;
  f64[fb + F64_OWNER] = owner;
}

/**
 * Builds a workload one command at a time, growing its buffer geometrically, interning symbols in first-seen order.
 */
export class WorkloadBuilder {
  private readonly symbolIndex = new Map<string, number>();
  private readonly symbols: string[] = [];
  private buffer = new ArrayBuffer(RECORD_BYTES * 1024);
  private bytes = new Uint8Array(this.buffer);
  private f64 = new Float64Array(this.buffer);
  private view = new DataView(this.buffer);
  private n = 0;

  get count(): number {
    return this.n;
  }

  /** Symbol index for `sym`, adding it to the table if new. */
  intern(sym: string): number {
    let index = this.symbolIndex.get(sym);
    if (index === undefined) {
      index = this.symbols.length;
      this.symbols.push(sym);
      this.symbolIndex.set(sym, index);
    }
    return index;
  }

  add(command: Command): void {
    if (command.op === 'clock') {
      this.addRaw(OP_CLOCK, NO_SYMBOL, NaN, SIDE_NONE, TYPE_NONE, TIF_NONE, command.ts, NaN, NaN);
      return;
    }
    this.addRaw(
      command.op === 'new' ? OP_NEW : command.op === 'cancel' ? OP_CANCEL : command.op === 'reduce' ? OP_REDUCE : command.op === 'modify' ? OP_MODIFY : OP_INVALID,
      this.intern(command.sym),
      command.id,
      command.op === 'new' ? (command.side === 'buy' ? SIDE_BUY : SIDE_SELL) : SIDE_NONE,
      command.op === 'new' ? (command.type === 'limit' ? TYPE_LIMIT : TYPE_MARKET) : TYPE_NONE,
      command.op === 'new' && command.type === 'limit' ? TIFS.indexOf(command.tif ?? 'gtc') : TIF_NONE,
      command.op === 'modify' ? command.price : command.op === 'new' && command.type === 'limit' ? (command.price ?? NaN) : NaN,
      command.op === 'new' || command.op === 'reduce' || command.op === 'modify' ? command.qty : NaN,
      command.op === 'new' ? (command.owner ?? NaN) : NaN,
    );
  }

  /** Appends one record from its fields (codes as the OP_/SIDE_/TYPE_/TIF_ constants; NaN = absent). */
  addRaw(op: number, symIndex: number, id: number, side: number, type: number, tif: number, price: number, qty: number, owner: number): void {
    if (this.n * RECORD_BYTES === this.buffer.byteLength) this.grow();
    writeRecord(this.bytes, this.view, this.f64, this.n, op, symIndex, id, side, type, tif, price, qty, owner);
    this.n++;
  }

  build(provenance: Provenance): Workload {
    return new Workload(this.symbols.slice(), this.buffer.slice(0, this.n * RECORD_BYTES), provenance);
  }

  private grow(): void {
    const next = new ArrayBuffer(this.buffer.byteLength * 2);
    new Uint8Array(next).set(this.bytes);
    this.buffer = next;
    this.bytes = new Uint8Array(next);
    this.f64 = new Float64Array(next);
    this.view = new DataView(next);
  }
}

export function workloadFromCommands(commands: Iterable<Command>, provenance: Provenance = { source: 'commands' }): Workload {
  const builder = new WorkloadBuilder();
  for (const command of commands) builder.add(command);
  return builder.build(provenance);
}
