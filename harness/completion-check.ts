/**
 * The check the harness floor (`noop`, engines/noop.ts) passes instead of the equivalence check, outside the timer:
 * each producer received exactly the completions of its own stream, each once, in the order it submitted them, and
 * no event at all. It is all `noop` promises: with no matching there is no reference output to compare with, so
 * passing it says the floor's figures count every command once, not that anything was matched.
 *
 * The verdict has the equivalence verdict's shape (results files keep one per repetition): `events` is 0 and there
 * are no sequences or book hashes.
 */
import { isEvent } from '../engines/completion-record.ts';
import { EV_F64_SEQ, EVENT_F64S } from '../engines/event-record.ts';
import { eventLogViews, type EventLogData } from './event-log.ts';
import type { EquivalenceVerdict } from './results-schema.ts';
import type { WorkloadSplit } from './split.ts';

export function checkCompletions(split: WorkloadSplit, logs: readonly EventLogData[]): EquivalenceVerdict {
  const commands = split.streams.reduce((n, s) => n + s.length, 0);
  const verdict = (failure: string | null): EquivalenceVerdict => ({ ok: failure === null, commands, events: 0, sequences: 0, bookHashes: [], failure });
  if (logs.length !== split.producers) return verdict(`${logs.length} event logs for ${split.producers} producers`);
  for (let p = 0; p < logs.length; p++) {
    const stream = split.streams[p]!;
    const { words, f64 } = eventLogViews(logs[p]!);
    const length = logs[p]!.length;
    for (let r = 0; r < length; r++) {
      if (isEvent(words, r)) return verdict(`producer ${p} log record ${r}: an event, but noop emits none`);
      const index = f64[r * EVENT_F64S + EV_F64_SEQ]!;
      if (r >= stream.length) return verdict(`producer ${p} received ${length} completions for its ${stream.length} commands (extra: command ${index})`);
      if (index !== stream[r]) {
        return verdict(`producer ${p} completion #${r} is for command ${index}; its #${r} submitted was command ${stream[r]} (lost, repeated or out of order)`);
      }
    }
    if (length < stream.length) return verdict(`producer ${p} received ${length} completions for its ${stream.length} commands; command ${stream[length]} never completed`);
  }
  return verdict(null);
}
