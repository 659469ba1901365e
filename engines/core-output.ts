/**
 * A core's event output as the producer side delivers it: the events of the commands processed since the last poll,
 * each command's last event flagged as such, or a completion record for a command that emitted none
 * (engines/completion-record.ts: a bit costs less than a record, measured ~5 ns a command of `inline`'s ~130 ns
 * through the harness, and the harness's event log shrinks by a record a command). Used by the designs whose
 * producer thread runs the core itself (inline, mutex) and by the harness floor (noop, whose "core" writes nothing),
 * so their producers hand events to the sink with no queue in between.
 *
 * Two places the records go, and the first poll decides which:
 * - in place (the harness's sink, which lends its event log: EventSink.storage): from the first poll on, the core
 *   writes its events straight into the sink's storage and the completions are noted as they are written, so a poll
 *   only commits them — no copy, no scan. Until that poll (a producer's first commands), they go to the region below.
 * - a region of its own (a sink that only takes copies: a durable producer's staging, the server's encoder): each
 *   poll hands the region's records to `sink.records` and empties it.
 * Either way a poll delivers the same records in the same order, and one sink is polled for the producer's lifetime.
 *
 * Room: a command may emit up to `maxEventsPerCommand` events, or a completion record, so `hasRoom` refuses a command
 * unless that much is free of the records one poll may deliver (coreOutputRecords); the producer polls, which empties
 * it. In place the bound is the same, or what the storage's buffer has left if that is less, so a poll delivers as
 * many records at most whichever way they go.
 */
import { EVENT_BYTES, EVENT_F64S } from './event-record.ts';
import { endCommand } from './completion-record.ts';
import type { EventSink, EventStorage } from './engine.ts';

/** What the output needs of the core writing into it: where its events go, and the index of the next record. */
export interface EventWriter {
  outCursor: number;
  setEventOutput(buffer: ArrayBufferLike, byteOffset: number, capacityRecords: number): void;
}

/** Records one poll may deliver: room for two worst-case commands, and never less than 4096. */
function coreOutputRecords(maxEventsPerCommand: number): number {
  return Math.max(4096, 2 * Math.max(1, maxEventsPerCommand));
}

/** Bytes of a producer's own output region (used until its first poll lends it a sink's storage, or always without one). */
export function coreOutputBytes(maxEventsPerCommand: number): number {
  return coreOutputRecords(maxEventsPerCommand) * EVENT_BYTES;
}

export class CoreOutput {
  readonly #core: EventWriter;
  /** Records one poll may deliver. */
  readonly #records: number;
  readonly #perCommand: number;
  /** The own region as bytes, for `sink.records`. */
  readonly #bytes: Uint8Array;
  /** Where records go now (the own region, or the lent storage's buffer), its records, and views of it. */
  #buffer: ArrayBufferLike;
  #capacity = 0;
  #words: Uint32Array;
  #f64: Float64Array;
  /** The storage written in place once a poll has lent one; null while records go to the own region. */
  #storage: EventStorage | null = null;
  /** The first record written since the last poll, and the bound hasRoom keeps the next one under. */
  #from = 0;
  #limit: number;
  /** Workload indexes of the commands ended since the last poll, and how many of them by a completion record. */
  readonly #completed: Int32Array;
  #completions = 0;
  #completionRecords = 0;
  /** Where the current command's records start: the record after the last command's end. */
  #commandFrom = 0;

  /** Points `core`'s event output at its own region, `buffer` from `byteOffset` (coreOutputBytes long). */
  constructor(core: EventWriter, buffer: ArrayBufferLike, byteOffset: number, maxEventsPerCommand: number) {
    this.#records = coreOutputRecords(maxEventsPerCommand);
    this.#perCommand = Math.max(1, maxEventsPerCommand);
    this.#completed = new Int32Array(this.#records);
    core.setEventOutput(buffer, byteOffset, this.#records);
    this.#core = core;
    this.#buffer = buffer;
    this.#bytes = new Uint8Array(buffer, byteOffset, this.#records * EVENT_BYTES);
    this.#words = new Uint32Array(buffer, byteOffset, (this.#records * EVENT_BYTES) / 4);
    this.#f64 = new Float64Array(buffer, byteOffset, this.#records * EVENT_F64S);
    this.#limit = this.#records;
  }

  /** Whether one more command's worst case fits before the next poll. */
  hasRoom(): boolean {
    return this.#core.outCursor + this.#perCommand <= this.#limit;
  }

  /** Ends command `recordIndex`: flags the last event the core just wrote for it, or writes its completion record. */
  complete(recordIndex: number): void {
    const core = this.#core;
    const from = this.#commandFrom;
    const events = core.outCursor - from;
    if (events === 0) this.#completionRecords++;
    core.outCursor = this.#commandFrom = from + endCommand(this.#words, this.#f64, from, events, recordIndex);
    this.#completed[this.#completions++] = recordIndex;
  }

  /** Delivers everything written since the last poll; returns the completions delivered. */
  drainTo(sink: EventSink): number {
    // One read of #core: a second one after the call kept deoptimising this function, its feedback never filled in
    // (measured: ~250 deopts inside the timed part of one 1 M/s `inline` run).
    const core = this.#core;
    const end = core.outCursor;
    const storage = this.#storage;
    if (storage !== null) {
      if (sink.storage !== storage) throw new Error('core output: polled with another sink than the one whose storage it writes into');
      if (end === this.#from) return 0;
      const completions = storage.commit(end, this.#completed, this.#completions, this.#completionRecords);
      this.#completions = 0;
      this.#completionRecords = 0;
      this.#place(storage);
      return completions;
    }
    const completions = end === 0 ? 0 : sink.records(this.#bytes, this.#words, this.#f64, 0, end);
    core.outCursor = 0;
    this.#commandFrom = 0;
    this.#completions = 0;
    this.#completionRecords = 0;
    if (sink.storage !== null) {
      this.#storage = sink.storage;
      this.#place(sink.storage);
    }
    return completions;
  }

  /**
   * Points the core at the storage's free records for the next poll (new views only for a new buffer). It asks for
   * room for one worst-case command and takes up to a poll's records of what the buffer has: a log sized for the
   * whole run (harness/event-log.ts) then needs no new chunk for its last polls.
   */
  #place(storage: EventStorage): void {
    storage.reserve(this.#perCommand);
    const buffer = storage.buffer;
    if (buffer !== this.#buffer) {
      const capacity = Math.floor(buffer.byteLength / EVENT_BYTES);
      this.#core.setEventOutput(buffer, 0, capacity);
      this.#buffer = buffer;
      this.#capacity = capacity;
      this.#words = new Uint32Array(buffer, 0, (capacity * EVENT_BYTES) / 4);
      this.#f64 = new Float64Array(buffer, 0, capacity * EVENT_F64S);
    }
    const used = storage.used;
    this.#core.outCursor = used;
    this.#from = used;
    this.#commandFrom = used;
    this.#limit = Math.min(used + this.#records, this.#capacity);
  }
}
