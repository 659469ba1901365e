/**
 * The completion record: a 48-byte record in the event-record format (engines/event-record.ts) with kind
 * EV_COMPLETE, written by a design after the last event of each command, so the client knows the command is done
 * even when it produced no event it can recognise as last. Only `kind` and `seq` (the command's workload index)
 * are set; every other field is 0.
 *
 * Kind 0xff is outside the event kinds (1 … 9), so decodeEventRecord rejects a completion record instead of
 * turning it into an event.
 */
import { EV_F64_ID, EV_F64_MAKER, EV_F64_PRICE, EV_F64_QTY, EV_F64_SEQ, EVENT_BYTES, EVENT_F64S } from './event-record.ts';

export const EV_COMPLETE = 0xff;

/** Writes a completion record for workload index `seq` at record index `i` (word 0 holds kind, reason, side, pad). */
export function writeCompletionRecord(words: Uint32Array, f64: Float64Array, i: number, seq: number): void {
  const w = (i * EVENT_BYTES) >> 2;
  words[w] = EV_COMPLETE;
  words[w + 1] = 0;
  const f = i * EVENT_F64S;
  f64[f + EV_F64_SEQ] = seq;
  f64[f + EV_F64_ID] = 0;
  f64[f + EV_F64_MAKER] = 0;
  f64[f + EV_F64_PRICE] = 0;
  f64[f + EV_F64_QTY] = 0;
}

/** The kind byte of record `i`, read from its first u32 word (little-endian: kind is the low byte). */
export function recordKind(words: Uint32Array, i: number): number {
  return words[(i * EVENT_BYTES) >> 2]! & 0xff;
}
