/**
 * Command NDJSON (README "Command NDJSON"): one JSON object per line, read leniently and written canonically.
 *
 * Reading never loses or shifts a line. Values the engine is there to reject pass through untouched (qty 0 or 1.5,
 * id -5; a missing number reads as NaN), so the engine, not the parser, gives the reject reason. A line that cannot
 * be any command becomes `{op:'invalid', sym, id}` (sym "" / id 0 when the line has no usable value) plus a
 * diagnostic naming the line and field; it keeps its sequence number and the engine rejects it as invalid_command.
 * Such lines: not JSON, not an object, unknown or missing `op`, non-string `sym`, bad `side`/`type` (or a limit's
 * `tif`) on a new order, a non-number `id` or `owner`. A non-number `price`/`qty` reads as missing (NaN) with a
 * diagnostic. Unknown fields are ignored, as are a market order's price and tif; a limit's tif defaults to gtc.
 * Blank (whitespace-only) lines are skipped and take no sequence number; line numbers count them.
 *
 * Writing is canonical: keys in the order op, sym, id, side, type, tif, price, qty, owner; a field that is absent
 * (NaN) is omitted; -0 is written as -0 and ±Infinity as ±1e999 (JSON reads those back exactly); an invalid command
 * is `{"op":"invalid","sym":...,"id":...}`. Every command the parser can produce is written so that it parses back
 * to the same record, which is what makes binary -> NDJSON -> binary byte-identical.
 *
 * Optional header: the first non-blank line may be `{"header":"matchbench-workload","version":1,"symbols":[...],
 * "provenance":{...}}`. It takes no sequence number; it restores the symbol table order and the provenance, so a
 * binary file exported with `to-ndjson --header` converts back to the identical file. Plain command files (what
 * users write) need no header.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { basename } from 'node:path';
import { createInterface } from 'node:readline';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import type { Command, OrderType, Side, TimeInForce } from '../engines/types.ts';
import { WorkloadBuilder, type Provenance, type Workload } from './workload.ts';

export const HEADER_TAG = 'matchbench-workload';
const HEADER_VERSION = 1;
/** Diagnostics kept per file; the count is always exact. */
export const MAX_KEPT_DIAGNOSTICS = 1000;

/** A problem on one input line. `field` is null when the line as a whole is at fault (not JSON, not an object). */
export interface Diagnostic {
  readonly line: number;
  readonly field: string | null;
  readonly message: string;
}

/** "file.ndjson:12: field 'side': expected 'buy' or 'sell', got \"up\"" */
export function formatDiagnostic(file: string, d: Diagnostic): string {
  return `${file}:${d.line}: ${d.field === null ? '' : `field '${d.field}': `}${d.message}`;
}

export interface NdjsonReadResult {
  readonly workload: Workload;
  /** The first MAX_KEPT_DIAGNOSTICS diagnostics, in line order. */
  readonly diagnostics: readonly Diagnostic[];
  /** How many diagnostics there were in all. */
  readonly diagnosticCount: number;
}

function shown(value: unknown): string {
  if (value === undefined) return 'nothing (the field is missing)';
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** A line that cannot be a command: the reason, the field at fault (null: the whole line). */
class LineProblem {
  readonly field: string | null;
  readonly message: string;

  constructor(field: string | null, message: string) {
    this.field = field;
    this.message = message;
  }
}

const OPS = new Set(['new', 'cancel', 'reduce', 'modify', 'invalid', 'clock']);

/**
 * Parses one non-blank line into a command, appending any diagnostics. Exported for tests and for callers that
 * read commands from somewhere other than a file.
 */
export function parseCommandLine(text: string, line: number, diagnostics: Diagnostic[]): Command {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    diagnostics.push({ line, field: null, message: `not valid JSON: ${(error as Error).message}` });
    return { op: 'invalid', sym: '', id: 0 };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    diagnostics.push({ line, field: null, message: `expected a JSON object, got ${Array.isArray(value) ? 'an array' : shown(value)}` });
    return { op: 'invalid', sym: '', id: 0 };
  }
  const obj = value as Record<string, unknown>;
  try {
    return readCommand(obj, line, diagnostics);
  } catch (error) {
    if (!(error instanceof LineProblem)) throw error;
    diagnostics.push({ line, field: error.field, message: error.message });
    return { op: 'invalid', sym: typeof obj['sym'] === 'string' ? obj['sym'] : '', id: typeof obj['id'] === 'number' ? obj['id'] : 0 };
  }
}

/** Reads the fields of a JSON object as a command; throws LineProblem for a line that cannot be one. */
function readCommand(obj: Record<string, unknown>, line: number, diagnostics: Diagnostic[]): Command {
  const op = obj['op'];
  if (typeof op !== 'string' || !OPS.has(op)) {
    throw new LineProblem('op', `expected 'new', 'cancel', 'reduce', 'modify', 'invalid' or 'clock', got ${shown(op)}`);
  }
  if (op === 'clock') {
    const ts = obj['ts'];
    if (typeof ts !== 'number') throw new LineProblem('ts', `expected a number of microseconds since the Unix epoch, got ${shown(ts)}`);
    return { op, ts };
  }
  const sym = obj['sym'];
  if (typeof sym !== 'string') throw new LineProblem('sym', `expected a string, got ${shown(sym)}`);
  const id = obj['id'];
  if (id !== undefined && typeof id !== 'number') throw new LineProblem('id', `expected a number, got ${shown(id)}`);
  const idValue = id ?? NaN;
  const number = (field: 'price' | 'qty'): number => {
    const v = obj[field];
    if (v === undefined) return NaN;
    if (typeof v === 'number') return v;
    diagnostics.push({ line, field, message: `expected a number, got ${shown(v)}; read as missing, which the engine rejects` });
    return NaN;
  };
  switch (op) {
    case 'cancel':
      return { op, sym, id: idValue };
    case 'invalid':
      return { op, sym, id: idValue };
    case 'reduce':
      return { op, sym, id: idValue, qty: number('qty') };
    case 'modify':
      return { op, sym, id: idValue, price: number('price'), qty: number('qty') };
    default: {
      const side = obj['side'];
      if (side !== 'buy' && side !== 'sell') throw new LineProblem('side', `expected 'buy' or 'sell', got ${shown(side)}`);
      const type = obj['type'];
      if (type !== 'limit' && type !== 'market') throw new LineProblem('type', `expected 'limit' or 'market', got ${shown(type)}`);
      let tif: TimeInForce = 'gtc';
      if (type === 'limit') {
        const t = obj['tif'];
        if (t !== undefined && t !== 'gtc' && t !== 'ioc' && t !== 'fok') throw new LineProblem('tif', `expected 'gtc', 'ioc' or 'fok', got ${shown(t)}`);
        tif = t ?? 'gtc';
      }
      const owner = obj['owner'];
      if (owner !== undefined && typeof owner !== 'number') throw new LineProblem('owner', `expected a number, got ${shown(owner)}`);
      return newOrder(sym, idValue, side, type, tif, type === 'limit' ? number('price') : NaN, number('qty'), owner);
    }
  }
}

function newOrder(sym: string, id: number, side: Side, type: OrderType, tif: TimeInForce, price: number, qty: number, owner: number | undefined): Command {
  if (type === 'market') {
    return owner === undefined ? { op: 'new', sym, id, side, type, qty } : { op: 'new', sym, id, side, type, qty, owner };
  }
  return owner === undefined ? { op: 'new', sym, id, side, type, tif, price, qty } : { op: 'new', sym, id, side, type, tif, price, qty, owner };
}

/** A JSON number that parses back to exactly `n` (JSON.stringify would turn -0 into 0 and ±Infinity into null). */
function jsonNumber(n: number): string {
  if (Object.is(n, -0)) return '-0';
  if (n === Infinity) return '1e999';
  if (n === -Infinity) return '-1e999';
  return String(n);
}

/** `,"key":value`, or nothing when the value is absent (undefined or NaN). */
function numberField(key: string, n: number | undefined): string {
  return n === undefined || Number.isNaN(n) ? '' : `,"${key}":${jsonNumber(n)}`;
}

/** Canonical NDJSON line for a command (no newline). */
export function formatCommand(c: Command): string {
  if (c.op === 'clock') return `{"op":"clock"${numberField('ts', c.ts)}}`;
  const head = `{"op":"${c.op}","sym":${JSON.stringify(c.sym)}${numberField('id', c.id)}`;
  switch (c.op) {
    case 'cancel':
    case 'invalid':
      return `${head}}`;
    case 'reduce':
      return `${head}${numberField('qty', c.qty)}}`;
    case 'modify':
      return `${head}${numberField('price', c.price)}${numberField('qty', c.qty)}}`;
    case 'new': {
      const limit = c.type === 'limit' ? `,"tif":"${c.tif ?? 'gtc'}"${numberField('price', c.price)}` : '';
      return `${head},"side":"${c.side}","type":"${c.type}"${limit}${numberField('qty', c.qty)}${numberField('owner', c.owner)}}`;
    }
  }
}

/** The optional first line that carries the symbol table and provenance of a workload. */
export function formatHeader(workload: Workload): string {
  return JSON.stringify({ header: HEADER_TAG, version: HEADER_VERSION, symbols: workload.symbols, provenance: workload.provenance });
}

/** Reads the header line's fields, or returns null (with a diagnostic) when it is malformed. */
function readHeader(obj: Record<string, unknown>, line: number, diagnostics: Diagnostic[]): { symbols: string[]; provenance: Provenance } | null {
  const problem = (field: string, message: string): null => {
    diagnostics.push({ line, field, message: `${message}; header ignored` });
    return null;
  };
  if (obj['version'] !== HEADER_VERSION) return problem('version', `expected ${HEADER_VERSION}, got ${shown(obj['version'])}`);
  const symbols = obj['symbols'];
  if (!Array.isArray(symbols) || !symbols.every((s) => typeof s === 'string') || new Set(symbols).size !== symbols.length) {
    return problem('symbols', 'expected an array of distinct strings');
  }
  const provenance = obj['provenance'];
  if (typeof provenance !== 'object' || provenance === null || Array.isArray(provenance)) return problem('provenance', 'expected an object');
  return { symbols: symbols as string[], provenance: provenance as Provenance };
}

/** Turns lines into a workload: feed every physical line in order with `line`, then `finish`. */
export class NdjsonParser {
  private readonly builder = new WorkloadBuilder();
  private readonly diagnostics: Diagnostic[] = [];
  private diagnosticCount = 0;
  private lineNumber = 0;
  private sawContent = false;
  private headerProvenance: Provenance | null = null;
  private readonly scratch: Diagnostic[] = [];

  /** Physical lines fed so far. */
  get lines(): number {
    return this.lineNumber;
  }

  line(raw: string): void {
    this.lineNumber++;
    const text = this.lineNumber === 1 && raw.startsWith('\uFEFF') ? raw.slice(1) : raw;
    if (text.trim() === '') return;
    if (!this.sawContent) {
      this.sawContent = true;
      if (this.tryHeader(text)) return;
    }
    this.builder.add(parseCommandLine(text, this.lineNumber, this.scratch));
    this.keep();
  }

  finish(defaultProvenance: Provenance): NdjsonReadResult {
    return {
      workload: this.builder.build(this.headerProvenance ?? defaultProvenance),
      diagnostics: this.diagnostics,
      diagnosticCount: this.diagnosticCount,
    };
  }

  /** Consumes the line if it is a header line (an object tagged `"header":"matchbench-workload"`). */
  private tryHeader(text: string): boolean {
    if (!text.includes(HEADER_TAG)) return false;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return false;
    }
    if (typeof value !== 'object' || value === null || (value as Record<string, unknown>)['header'] !== HEADER_TAG) return false;
    const header = readHeader(value as Record<string, unknown>, this.lineNumber, this.scratch);
    if (header !== null) {
      for (const sym of header.symbols) this.builder.intern(sym);
      this.headerProvenance = header.provenance;
    }
    this.keep();
    return true;
  }

  private keep(): void {
    for (const d of this.scratch) {
      this.diagnosticCount++;
      if (this.diagnostics.length < MAX_KEPT_DIAGNOSTICS) this.diagnostics.push(d);
    }
    this.scratch.length = 0;
  }
}

/** Parses NDJSON text held in memory (tests, small inputs). */
export function parseNdjson(text: string, provenance: Provenance = { source: 'ndjson' }): NdjsonReadResult {
  const parser = new NdjsonParser();
  const lines = text.split('\n');
  // A final newline ends the last line rather than starting an empty one.
  if (lines.at(-1) === '') lines.pop();
  for (const line of lines) parser.line(line.endsWith('\r') ? line.slice(0, -1) : line);
  return parser.finish(provenance);
}

function isGzipName(path: string): boolean {
  return path.endsWith('.gz');
}

/** Streams an NDJSON file (gunzipping it when `gzip` is set, by default when the name ends .gz) into a workload. */
export async function readNdjsonFile(path: string, gzip = isGzipName(path)): Promise<NdjsonReadResult> {
  const file = createReadStream(path);
  const input = gzip ? file.pipe(createGunzip()) : file;
  file.on('error', (error) => input.destroy(error));
  const parser = new NdjsonParser();
  try {
    for await (const line of createInterface({ input, crlfDelay: Infinity })) parser.line(line);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error(`${path}: no such file`);
    throw new Error(`${path}: ${gzip ? 'gunzip' : 'read'} failed after line ${parser.lines}: ${(error as Error).message}`);
  }
  return parser.finish({ source: 'ndjson', file: basename(path) });
}

/** Canonical NDJSON of a workload in chunks of about 64 KiB, optionally after the header line. */
function* ndjsonChunks(workload: Workload, header: boolean): Generator<string> {
  let chunk = header ? `${formatHeader(workload)}\n` : '';
  for (let i = 0; i < workload.count; i++) {
    chunk += `${formatCommand(workload.command(i))}\n`;
    if (chunk.length >= 65_536) {
      yield chunk;
      chunk = '';
    }
  }
  if (chunk !== '') yield chunk;
}

export interface NdjsonWriteOptions {
  /** Write the header line first (symbol table and provenance), for an exact round trip back to binary. */
  readonly header: boolean;
}

/** Writes canonical NDJSON to a stream (stdout, say), respecting backpressure; leaves the stream open. */
export async function writeNdjson(workload: Workload, out: Writable, options: NdjsonWriteOptions): Promise<void> {
  await pipeline(Readable.from(ndjsonChunks(workload, options.header)), out, { end: false });
}

/** Writes canonical NDJSON to a file, gzipped when the name ends .gz. */
export async function writeNdjsonFile(path: string, workload: Workload, options: NdjsonWriteOptions): Promise<void> {
  const source = Readable.from(ndjsonChunks(workload, options.header));
  if (isGzipName(path)) await pipeline(source, createGzip(), createWriteStream(path));
  else await pipeline(source, createWriteStream(path));
}
