/**
 * The REST API's shapes, described once (the README, "HTTP gateway", has the same table): which request is which
 * command, the JSON schema each body and path is validated against, the response body, and the status each outcome
 * gets. The gateway (server/http-gateway.ts) only wires these to fastify and the engine session.
 *
 *   request                                   command                 body fields (integers are ticks and lots)
 *   POST   /orders                            new                     op?, sym, id, side, type, tif?, price?, qty, owner?
 *   DELETE /orders/:sym/:id                   cancel                  (none)
 *   PATCH  /orders/:sym/:id  {"qty"}          reduce (by qty lots)    qty
 *   PATCH  /orders/:sym/:id  {"price","qty"}  modify (new price, qty) price, qty
 *
 * Fields and values are those of command NDJSON (README "Command NDJSON"), except that a field the command does not
 * have is an error here (a misspelt `qyt` is a 400, not a silently missing quantity). The schemas check types only
 * (an integer, one of the enum words, a known field set); values the engine judges (qty 0, a negative price, an id
 * that is no safe integer) go through and come back as the engine's `rejected` event, as from any client.
 *
 * Response to a command: `{"events":[…]}`, the command's events in the event NDJSON shape (their `seq` is the
 * gateway session's client sequence of that command: the engine's own sequence number is in its journal). Status:
 * 200 when the command was accepted (events may include fills and IOC/FOK cancels); when the engine rejected it,
 * the status REST uses for that reason: duplicate_id 409, unknown_order 404, invalid_qty / invalid_price /
 * invalid_command 422.
 */
import { decodeEventRecord, EVENT_BYTES } from '../engines/event-record.ts';
import { formatEvent, type Command, type MatchEvent, type RejectReason } from '../engines/types.ts';
import {
  OP_CANCEL, OP_MODIFY, OP_NEW, OP_REDUCE, RECORD_BYTES, SIDE_BUY, SIDE_NONE, SIDE_SELL, TIF_FOK, TIF_GTC, TIF_IOC, TIF_NONE, TYPE_LIMIT,
  TYPE_MARKET, TYPE_NONE, writeRecord,
} from '../workloads/workload.ts';

const integer = { type: 'integer' } as const;

export const NEW_ORDER_BODY = {
  type: 'object',
  required: ['sym', 'id', 'side', 'type', 'qty'],
  additionalProperties: false,
  properties: {
    // So that a new-order line of command NDJSON is a valid body as it is.
    op: { const: 'new' },
    sym: { type: 'string', minLength: 1 },
    id: integer,
    side: { enum: ['buy', 'sell'] },
    type: { enum: ['limit', 'market'] },
    tif: { enum: ['gtc', 'ioc', 'fok'] },
    price: integer,
    qty: integer,
    owner: integer,
  },
  // A limit order names its price; a market order's price and tif are ignored, as in command NDJSON.
  if: { properties: { type: { const: 'limit' } } },
  then: { required: ['price'] },
} as const;

export const AMEND_BODY = {
  type: 'object',
  required: ['qty'],
  additionalProperties: false,
  properties: { qty: integer, price: integer },
} as const;

/** GET /book/:sym?depth=N: the symbol, and levels a side (a string of digits: query values are never coerced). */
export const BOOK_PARAMS = { type: 'object', required: ['sym'], properties: { sym: { type: 'string', minLength: 1 } } } as const;
export const BOOK_QUERY = {
  type: 'object',
  properties: { depth: { type: 'string', pattern: '^[1-9][0-9]{0,3}$' } },
  additionalProperties: false,
} as const;
export const DEFAULT_BOOK_DEPTH = 10;

export const ORDER_PARAMS = {
  type: 'object',
  required: ['sym', 'id'],
  properties: { sym: { type: 'string', minLength: 1 }, id: { type: 'string', pattern: '^-?[0-9]{1,16}$' } },
} as const;

export interface NewOrderBody {
  readonly sym: string;
  readonly id: number;
  readonly side: 'buy' | 'sell';
  readonly type: 'limit' | 'market';
  readonly tif?: 'gtc' | 'ioc' | 'fok';
  readonly price?: number;
  readonly qty: number;
  readonly owner?: number;
}

export interface AmendBody {
  readonly qty: number;
  readonly price?: number;
}

export interface OrderParams {
  readonly sym: string;
  readonly id: string;
}

const TIF_CODES = { gtc: TIF_GTC, ioc: TIF_IOC, fok: TIF_FOK } as const;

/** A 40-byte command record, written by the encoders below; the caller submits it before encoding the next. */
export class CommandEncoder {
  readonly record = new Uint8Array(RECORD_BYTES);
  readonly #view = new DataView(this.record.buffer);
  readonly #f64 = new Float64Array(this.record.buffer);

  newOrder(symIndex: number, body: NewOrderBody): Uint8Array {
    const limit = body.type === 'limit';
    writeRecord(
      this.record, this.#view, this.#f64, 0, OP_NEW, symIndex, body.id, body.side === 'buy' ? SIDE_BUY : SIDE_SELL,
      limit ? TYPE_LIMIT : TYPE_MARKET, limit ? TIF_CODES[body.tif ?? 'gtc'] : TIF_NONE, limit ? body.price! : NaN, body.qty, body.owner ?? NaN,
    );
    return this.record;
  }

  cancel(symIndex: number, id: number): Uint8Array {
    writeRecord(this.record, this.#view, this.#f64, 0, OP_CANCEL, symIndex, id, SIDE_NONE, TYPE_NONE, TIF_NONE, NaN, NaN, NaN);
    return this.record;
  }

  /** PATCH: `{qty}` reduces by qty lots, `{price, qty}` modifies to that price and quantity. */
  amend(symIndex: number, id: number, body: AmendBody): Uint8Array {
    const modify = body.price !== undefined;
    writeRecord(this.record, this.#view, this.#f64, 0, modify ? OP_MODIFY : OP_REDUCE, symIndex, id, SIDE_NONE, TYPE_NONE, TIF_NONE, modify ? body.price! : NaN, body.qty, NaN);
    return this.record;
  }
}

const REJECT_STATUS: Readonly<Record<RejectReason, number>> = {
  duplicate_id: 409,
  unknown_order: 404,
  invalid_qty: 422,
  invalid_price: 422,
  invalid_command: 422,
  // The request was well formed; the exchange refuses it now (as a broker's 403/409 would: not the client's syntax).
  halted: 409,
  risk_max_qty: 403,
  risk_max_notional: 403,
  risk_price_band: 403,
  risk_max_open_orders: 403,
};

export interface CommandResponse {
  readonly status: number;
  /** `{"events":[…]}` */
  readonly body: string;
  readonly events: readonly MatchEvent[];
}

/** The response to a command from its `count` event records. */
export function commandResponse(events: Uint8Array, count: number, symbols: readonly string[]): CommandResponse {
  const words = new Uint32Array(events.buffer, events.byteOffset, (count * EVENT_BYTES) / 4);
  const f64 = new Float64Array(events.buffer, events.byteOffset, (count * EVENT_BYTES) / 8);
  const decoded: MatchEvent[] = [];
  for (let i = 0; i < count; i++) decoded.push(decodeEventRecord(events, words, f64, i, symbols));
  const rejected = decoded.find((e) => e.ev === 'rejected');
  return {
    status: rejected === undefined ? 200 : REJECT_STATUS[rejected.reason],
    body: `{"events":[${decoded.map(formatEvent).join(',')}]}`,
    events: decoded,
  };
}

export interface RestRequest {
  readonly method: 'POST' | 'DELETE' | 'PATCH';
  readonly path: string;
  readonly body?: string;
}

/**
 * The REST request for a command, or null when REST cannot say it: an `invalid` command, a `clock` (time is the
 * server's to give: `serve` injects it), or a value that is not a
 * safe integer (NaN, 1.5: the schemas refuse those with a 400, so the engine never sees them).
 */
export function restRequestOf(command: Command): RestRequest | null {
  const integers = (...values: (number | undefined)[]): boolean => values.every((v) => v === undefined || Number.isSafeInteger(v));
  if (command.op === 'clock') return null;
  const at = `/orders/${encodeURIComponent(command.sym)}/${command.id}`;
  switch (command.op) {
    case 'new':
      if (!integers(command.id, command.qty, command.owner) || (command.type === 'limit' && !(command.price !== undefined && integers(command.price)))) return null;
      return { method: 'POST', path: '/orders', body: JSON.stringify(command) };
    case 'cancel':
      return integers(command.id) ? { method: 'DELETE', path: at } : null;
    case 'reduce':
      return integers(command.id, command.qty) ? { method: 'PATCH', path: at, body: JSON.stringify({ qty: command.qty }) } : null;
    case 'modify':
      return integers(command.id, command.price, command.qty) ? { method: 'PATCH', path: at, body: JSON.stringify({ price: command.price, qty: command.qty }) } : null;
    case 'invalid':
      return null;
  }
}

/** What ajv reports about a request part, as one line naming the field: `body/qty must be integer`. */
export interface SchemaProblem {
  readonly instancePath: string;
  readonly message?: string;
  readonly params: Record<string, unknown>;
}

export function schemaProblemText(problem: SchemaProblem, part: string): string {
  const field = `${part}${problem.instancePath}`;
  const { additionalProperty, allowedValues } = problem.params;
  if (typeof additionalProperty === 'string') return `${field}/${additionalProperty}: no such field`;
  const allowed = Array.isArray(allowedValues) ? ` (${allowedValues.map((v) => JSON.stringify(v)).join(', ')})` : '';
  return `${field} ${problem.message ?? 'is invalid'}${allowed}`;
}

/** An answer that is not the engine's: a status, its error message, and seconds for a Retry-After header. */
export interface Refusal {
  readonly status: number;
  readonly error: string;
  readonly retryAfterS?: number;
}

/** An error body: `{"error":"…"}` (what every non-command answer carries). */
export function errorBody(message: string): string {
  return JSON.stringify({ error: message });
}
