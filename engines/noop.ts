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
 * Any number of producers: each has its own output (written in place into its event log) and nothing is shared, so
 * two producers measure the harness's cost when two producer threads share the machine, as the designs' 2-producer
 * runs do.
 */
import type { EngineDesign, EngineSession, Producer, EventSink } from './engine.ts';
import { CoreOutput, coreOutputBytes, type EventWriter } from './core-output.ts';

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

/** The core that writes nothing: where its events would go is all CoreOutput needs of it. */
class NoEvents implements EventWriter {
  outCursor = 0;
  setEventOutput(): void {}
}

class NoopProducer implements Producer {
  /** Inline's output path (engines/core-output.ts), so the floor pays what inline's submit and poll pay beside the core. */
  readonly #output = new CoreOutput(new NoEvents(), new ArrayBuffer(coreOutputBytes(0)), 0, 0);

  trySubmit(recordIndex: number): boolean {
    if (!this.#output.hasRoom()) return false;
    this.#output.complete(recordIndex);
    return true;
  }

  poll(sink: EventSink): number {
    return this.#output.drainTo(sink);
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
