/**
 * A sink that takes delivered records one at a time. `perRecord(visitor)` is the EventSink (engines/engine.ts) that
 * walks each run of records a design delivers and calls the visitor per record: for sinks that do something per
 * event anyway (the server encodes a frame per event, the synchronous adapter decodes one), where copying a run in
 * one go, as the harness's event log does, would buy nothing.
 */
import { endsCommand, isEvent } from './completion-record.ts';
import type { EventSink } from './engine.ts';
import { EV_F64_SEQ, EVENT_F64S } from './event-record.ts';

export interface RecordVisitor {
  /** Event record `record` of a buffer viewed as u32 words and f64s; only valid during the call. */
  event(words: Uint32Array, f64: Float64Array, record: number): void;
  /** Every event of command `recordIndex` has been delivered. */
  complete(recordIndex: number): void;
}

export function perRecord(visitor: RecordVisitor): EventSink {
  return {
    records(_bytes, words, f64, from, to) {
      let completions = 0;
      for (let r = from; r < to; r++) {
        // A flagged last event is both: the event first, then its command's completion.
        if (isEvent(words, r)) visitor.event(words, f64, r);
        if (endsCommand(words, r)) {
          visitor.complete(f64[r * EVENT_F64S + EV_F64_SEQ]!);
          completions++;
        }
      }
      return completions;
    },
    storage: null,
  };
}
