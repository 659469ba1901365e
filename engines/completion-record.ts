/**
 * How a design tells its client that a command is done, so the client knows even when the command produced no
 * event it could recognise as last. Two forms, and a design may use either for any command:
 *
 * - the last event flagged: the command's last event record has EV_FLAG_ENDS_COMMAND in its flags byte
 *   (engines/event-record.ts); its `seq` names the command. Nothing follows it. What every design writes for a
 *   command with events (`endCommand`): setting one bit costs less than a record, a ring-based design hands one
 *   slot less per command across threads, and the log the harness keeps for the equivalence check holds one record
 *   less per command.
 * - a completion record: a 48-byte record in the event-record format with kind EV_COMPLETE. Only `kind` and `seq`
 *   (the command's workload index) are set; every other field is 0. What a command with no events gets.
 *
 * Kind 0xff is outside the event kinds (1 … 9), so decodeEventRecord rejects a completion record instead of
 * turning it into an event. A reader walks records with `isEvent` (an event, flagged or not) and `endsCommand`
 * (the record after which command `seq` has all its events); a flagged event is both.
 */
import { EV_F64_ID, EV_F64_MAKER, EV_F64_PRICE, EV_F64_QTY, EV_F64_SEQ, EV_FLAG_ENDS_COMMAND, EV_OFF_FLAGS, EVENT_BYTES, EVENT_F64S } from './event-record.ts';

export const EV_COMPLETE = 0xff;

/** The flag as a bit of word 0 (little-endian: the flags byte is its high byte). */
const ENDS_COMMAND_BIT = EV_FLAG_ENDS_COMMAND << (8 * EV_OFF_FLAGS);

/** Writes a completion record for workload index `seq` at record index `i` (word 0 holds kind, reason, side, flags). */
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

/** Flags event record `i` as the last of its command. */
export function flagEndsCommand(words: Uint32Array, i: number): void {
  const w = (i * EVENT_BYTES) >> 2;
  words[w] = words[w]! | ENDS_COMMAND_BIT;
}

/**
 * Ends command `seq`, whose `events` event records start at record `from`: flags the last, or writes a completion
 * record at `from` when there is none. Returns the command's records (events, or 1).
 */
export function endCommand(words: Uint32Array, f64: Float64Array, from: number, events: number, seq: number): number {
  if (events === 0) {
    writeCompletionRecord(words, f64, from, seq);
    return 1;
  }
  flagEndsCommand(words, from + events - 1);
  return events;
}

/** The kind byte of record `i`, read from its first u32 word (little-endian: kind is the low byte). */
export function recordKind(words: Uint32Array, i: number): number {
  return words[(i * EVENT_BYTES) >> 2]! & 0xff;
}

/** Whether record `i` is an event (flagged or not), not a completion record. */
export function isEvent(words: Uint32Array, i: number): boolean {
  return (words[(i * EVENT_BYTES) >> 2]! & 0xff) !== EV_COMPLETE;
}

/** Whether record `i` ends its command (`seq`): a completion record, or an event flagged as its command's last. */
export function endsCommand(words: Uint32Array, i: number): boolean {
  const word = words[(i * EVENT_BYTES) >> 2]!;
  return (word & 0xff) === EV_COMPLETE || (word & ENDS_COMMAND_BIT) !== 0;
}
