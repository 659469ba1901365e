/**
 * `noop`: the harness floor, not a design. Each command is acknowledged on the producer's own thread through the
 * same submit → completion record → poll → sink path `inline` uses, with no matching and no book at all.
 *
 * Trade-off: it measures what the harness alone costs a command (the producer loop, the clock reads, writing and
 * draining one completion record, the event log, the latency histogram) on this machine, so a design's latency can
 * be read against it; in exchange it produces no events, so it cannot pass the event-for-event equivalence check.
 * Its own check (harness/completion-check.ts) is that every command completed exactly once, in its producer's order.
 * It is registered apart from the designs (engines/designs.ts: HARNESS_FLOOR) so the gate, the contract suite and
 * every "all designs" loop leave it out.
 *
 * Any number of producers: each has its own output region and nothing is shared, so two producers measure the
 * harness's cost when two producer threads share the machine, as the designs' 2-producer runs do.
 */
import type { EngineDesign, EngineSession, Producer, EventSink } from './engine.ts';
import { writeCompletionRecord } from './completion-record.ts';
import { EVENT_BYTES } from './event-record.ts';

/** Completion records one producer holds between polls: the same size as a core's output region (core-output.ts). */
const OUTPUT_RECORDS = 4096;
/** As many producers as compare accepts. */
const MAX_PRODUCERS = 64;

function start(): EngineSession {
  return {
    producerInit: () => ({ init: null, transfer: [] }),
    // No sequencer and no book: nothing was sequenced, so there is nothing to replay or hash.
    sequences: () => [],
    sequenceLogs: () => [],
    cores: () => [],
    onError: () => {},
    close: async () => {},
  };
}

class NoopProducer implements Producer {
  readonly #bytes: Uint8Array;
  readonly #words: Uint32Array;
  readonly #f64: Float64Array;
  #used = 0;

  constructor() {
    const buffer = new ArrayBuffer(OUTPUT_RECORDS * EVENT_BYTES);
    this.#bytes = new Uint8Array(buffer);
    this.#words = new Uint32Array(buffer);
    this.#f64 = new Float64Array(buffer);
  }

  trySubmit(recordIndex: number): boolean {
    if (this.#used === OUTPUT_RECORDS) return false;
    writeCompletionRecord(this.#words, this.#f64, this.#used++, recordIndex);
    return true;
  }

  /** Drains the way CoreOutput.drainTo does (the whole region in one call), so the floor pays what inline's poll pays. */
  poll(sink: EventSink): number {
    const end = this.#used;
    if (end === 0) return 0;
    const completions = sink.records(this.#bytes, this.#words, this.#f64, 0, end);
    if (completions !== end) throw new Error(`noop: ${end - completions} of the ${end} records of its output are not completion records`);
    this.#used = 0;
    return completions;
  }

  flush(): void {}

  close(): void {}
}

export const noopDesign: EngineDesign = {
  name: 'noop',
  tradeOff: 'the harness floor, not a design: every command acknowledged on the producer thread with no matching (no events)',
  params: [],
  maxProducers: () => MAX_PRODUCERS,
  connect: () => new NoopProducer(),
  start,
};
