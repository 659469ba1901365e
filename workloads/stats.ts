/**
 * What is in a workload, for `npm run workload -- info`: command counts by kind, order types, symbols, value
 * ranges and how many values the engine will reject. Fed record chunks straight from the binary reader (or a
 * whole in-memory workload), so a file is summarized in one streaming pass without materializing commands.
 */
import {
  F64_ID, F64_OWNER, F64_PRICE, F64_QTY, OFF_OP, OFF_SIDE, OFF_SYM, OFF_TIF, OFF_TYPE, OP_CLOCK, OP_MODIFY, OP_NAMES, OP_NEW,
  OP_REDUCE, RECORD_BYTES, RECORD_F64S, SIDE_BUY, TIF_FOK, TIF_GTC, TIF_IOC, TYPE_LIMIT,
} from './workload.ts';

/** Smallest and largest finite value seen (null until one is). */
class Range {
  min = Infinity;
  max = -Infinity;

  add(x: number): void {
    if (!Number.isFinite(x)) return;
    if (x < this.min) this.min = x;
    if (x > this.max) this.max = x;
  }

  format(): string {
    return this.min > this.max ? 'none' : `${this.min} .. ${this.max}`;
  }
}

function isPositiveSafeInteger(x: number): boolean {
  return Number.isSafeInteger(x) && x > 0;
}

export class WorkloadStats {
  commands = 0;
  readonly byOp = new Array<number>(OP_NAMES.length).fill(0);
  readonly newOrders = { gtc: 0, ioc: 0, fok: 0, market: 0, buy: 0, sell: 0 };
  readonly ids = new Range();
  readonly prices = new Range();
  readonly quantities = new Range();
  /** Values the engine rejects: ids, quantities and prices that are not positive safe integers, bad owners. */
  readonly malformed = { id: 0, qty: 0, price: 0, owner: 0 };
  private readonly perSymbol: Float64Array;

  constructor(symbolCount: number) {
    this.perSymbol = new Float64Array(symbolCount);
  }

  /** Adds `count` records held in `bytes` (record 0 at byte 0) and `f64` (a view of the same bytes). */
  add(bytes: Uint8Array, f64: Float64Array, count: number): void {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < count; i++) {
      const base = i * RECORD_BYTES;
      const fb = i * RECORD_F64S;
      const op = bytes[base + OFF_OP]!;
      this.commands++;
      this.byOp[op]!++;
      if (op === OP_CLOCK) continue; // no book, no id: counted by op only
      this.perSymbol[view.getUint32(base + OFF_SYM, true)]!++;
      const id = f64[fb + F64_ID]!;
      this.ids.add(id);
      if (!isPositiveSafeInteger(id)) this.malformed.id++;
      const usesQty = op === OP_NEW || op === OP_REDUCE || op === OP_MODIFY;
      const usesPrice = op === OP_MODIFY || (op === OP_NEW && bytes[base + OFF_TYPE] === TYPE_LIMIT);
      if (usesQty) {
        const qty = f64[fb + F64_QTY]!;
        this.quantities.add(qty);
        if (!isPositiveSafeInteger(qty)) this.malformed.qty++;
      }
      if (usesPrice) {
        const price = f64[fb + F64_PRICE]!;
        this.prices.add(price);
        if (!isPositiveSafeInteger(price)) this.malformed.price++;
      }
      if (op === OP_NEW) {
        const tif = bytes[base + OFF_TIF];
        if (bytes[base + OFF_TYPE] !== TYPE_LIMIT) this.newOrders.market++;
        else if (tif === TIF_GTC) this.newOrders.gtc++;
        else if (tif === TIF_IOC) this.newOrders.ioc++;
        else if (tif === TIF_FOK) this.newOrders.fok++;
        if (bytes[base + OFF_SIDE] === SIDE_BUY) this.newOrders.buy++;
        else this.newOrders.sell++;
        const owner = f64[fb + F64_OWNER]!;
        if (!Number.isNaN(owner) && !isPositiveSafeInteger(owner)) this.malformed.owner++;
      }
    }
  }

  /** Human-readable summary lines; `top` symbols are listed by command count. */
  describe(symbols: readonly string[], top = 10): string[] {
    const pct = (n: number): string => (this.commands === 0 ? '0%' : `${((100 * n) / this.commands).toFixed(1)}%`);
    const lines = [`commands: ${this.commands}`];
    for (let op = 0; op < OP_NAMES.length; op++) lines.push(`  ${OP_NAMES[op]!.padEnd(8)} ${String(this.byOp[op]).padStart(10)}  ${pct(this.byOp[op]!)}`);
    const n = this.newOrders;
    lines.push(`new orders: limit gtc ${n.gtc}, limit ioc ${n.ioc}, limit fok ${n.fok}, market ${n.market}; buy ${n.buy}, sell ${n.sell}`);
    const used = [...this.perSymbol.keys()].filter((i) => this.perSymbol[i]! > 0);
    used.sort((a, b) => this.perSymbol[b]! - this.perSymbol[a]! || a - b);
    lines.push(`symbols: ${symbols.length} in the table, ${used.length} used; top ${Math.min(top, used.length)} by commands:`);
    for (const i of used.slice(0, top)) lines.push(`  ${JSON.stringify(symbols[i]).padEnd(12)} ${String(this.perSymbol[i]).padStart(10)}  ${pct(this.perSymbol[i]!)}`);
    lines.push(`id range: ${this.ids.format()}`);
    lines.push(`price range: ${this.prices.format()} ticks`);
    lines.push(`qty range: ${this.quantities.format()} lots`);
    const m = this.malformed;
    lines.push(`values the engine rejects: id ${m.id}, qty ${m.qty}, price ${m.price}, owner ${m.owner}; invalid commands ${this.byOp[0]}`);
    return lines;
  }
}
