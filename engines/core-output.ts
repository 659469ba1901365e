/**
 * A core's event output region as the producer side reads it: the events of the commands processed since the last
 * poll, each command's events followed by its completion record (engines/completion-record.ts). Used by the
 * designs whose producer thread runs the core itself (inline, mutex), so their producers hand events to the sink
 * straight from shared memory with no queue in between.
 *
 * Room: a command may emit up to `maxEventsPerCommand` events plus its completion, so `hasRoom` refuses a command
 * unless that much is free; the producer polls, which empties the region.
 */
import { EVENT_BYTES, EVENT_F64S } from './event-record.ts';
import { writeCompletionRecord } from './completion-record.ts';
import type { FastCore } from './fast-core.ts';
import type { EventSink } from './engine.ts';

/** Records to reserve for one producer's output: room for two worst-case commands, and never less than 4096. */
function coreOutputRecords(maxEventsPerCommand: number): number {
  return Math.max(4096, 2 * (maxEventsPerCommand + 1));
}

export function coreOutputBytes(maxEventsPerCommand: number): number {
  return coreOutputRecords(maxEventsPerCommand) * EVENT_BYTES;
}

export class CoreOutput {
  readonly #core: FastCore;
  readonly #bytes: Uint8Array;
  readonly #words: Uint32Array;
  readonly #f64: Float64Array;
  readonly #records: number;
  readonly #perCommand: number;

  /** Points `core`'s event output at the region and keeps views of it. */
  constructor(core: FastCore, buffer: SharedArrayBuffer, byteOffset: number, maxEventsPerCommand: number) {
    this.#records = coreOutputRecords(maxEventsPerCommand);
    this.#perCommand = maxEventsPerCommand + 1;
    core.setEventOutput(buffer, byteOffset, this.#records);
    this.#core = core;
    this.#bytes = new Uint8Array(buffer, byteOffset, this.#records * EVENT_BYTES);
    this.#words = new Uint32Array(buffer, byteOffset, (this.#records * EVENT_BYTES) / 4);
    this.#f64 = new Float64Array(buffer, byteOffset, this.#records * EVENT_F64S);
  }

  /** Whether one more command's worst case fits before the next poll. */
  hasRoom(): boolean {
    return this.#core.outCursor + this.#perCommand <= this.#records;
  }

  /** Appends the completion record of `recordIndex` after the events the core just wrote. */
  complete(recordIndex: number): void {
    writeCompletionRecord(this.#words, this.#f64, this.#core.outCursor++, recordIndex);
  }

  /** Delivers everything written since the last drain and empties the region; returns completions delivered. */
  drainTo(sink: EventSink): number {
    // One read of #core: a second one after the call kept deoptimising this function, its feedback never filled in
    // (measured: ~250 deopts inside the timed part of one 1 M/s `inline` run).
    const core = this.#core;
    const end = core.outCursor;
    if (end === 0) return 0;
    const completions = sink.records(this.#bytes, this.#words, this.#f64, 0, end);
    core.outCursor = 0;
    return completions;
  }
}
