/**
 * `inline`: the fast core called on the producer's own thread — no queue, no lock, no second thread.
 *
 * Trade-off: the fastest a command can possibly go (the ceiling every other design is compared with, and the
 * measure of what the harness itself costs), bought by giving up concurrency entirely: exactly one producer, and
 * that producer stalls for the whole of every command's matching. The sequence is simply submission order.
 *
 * Shared memory (one SharedArrayBuffer, laid out by RegionAllocator): the core, the producer's event output
 * region, the sequence log. The main thread only allocates and, once idle, reads it.
 */
import type { EngineDesign, EngineOptions, EngineSession, Producer, SharedWorkload, EventSink } from './engine.ts';
import { CoreOutput, coreOutputBytes } from './core-output.ts';
import { FastCore } from './fast-core.ts';
import { bytesFor } from './fast-core-layout.ts';
import { SequenceLog, sequenceLogBytes } from './sequence-log.ts';
import { RegionAllocator } from './shared/layout.ts';
import { slowdownHook } from './slowdown-knob.ts';

interface InlineInit {
  readonly buffer: SharedArrayBuffer;
  readonly coreAt: number;
  readonly outputAt: number;
  readonly sequenceAt: number;
  readonly sequenceCapacity: number;
  readonly maxEventsPerCommand: number;
}

function start({ workload, producers, capacities }: EngineOptions): EngineSession {
  if (producers !== 1) throw new Error(`inline runs on its one producer's thread; ${producers} producers requested`);
  const regions = new RegionAllocator();
  const coreAt = regions.reserve('core', bytesFor(capacities));
  const outputAt = regions.reserve('event output', coreOutputBytes(capacities.maxEventsPerCommand));
  const sequenceAt = regions.reserve('sequence log', sequenceLogBytes(workload.count));
  const buffer = regions.createBuffer();
  const core = FastCore.create(capacities, buffer, coreAt);
  const log = new SequenceLog(buffer, sequenceAt, workload.count);
  const init: InlineInit = { buffer, coreAt, outputAt, sequenceAt, sequenceCapacity: workload.count, maxEventsPerCommand: capacities.maxEventsPerCommand };
  return {
    producerInit: () => ({ init, transfer: [] }),
    sequences: () => [log.snapshot()],
    sequenceLogs: () => [log],
    cores: () => [core],
    onError: () => {},
    close: async () => {},
  };
}

class InlineProducer implements Producer {
  readonly #core: FastCore;
  readonly #output: CoreOutput;
  readonly #log: SequenceLog;
  readonly #bytes: Uint8Array;
  readonly #f64: Float64Array;
  readonly #slowdown = slowdownHook('inline');

  constructor(init: InlineInit, workload: SharedWorkload) {
    this.#core = FastCore.attach(init.buffer, init.coreAt);
    this.#output = new CoreOutput(this.#core, init.buffer, init.outputAt, init.maxEventsPerCommand);
    this.#log = new SequenceLog(init.buffer, init.sequenceAt, init.sequenceCapacity);
    this.#bytes = new Uint8Array(workload.records);
    this.#f64 = new Float64Array(workload.records);
  }

  trySubmit(recordIndex: number): boolean {
    if (!this.#output.hasRoom()) return false;
    this.#core.processRecord(this.#bytes, this.#f64, recordIndex, recordIndex);
    this.#log.append(recordIndex);
    this.#slowdown();
    this.#output.complete(recordIndex);
    return true;
  }

  poll(sink: EventSink): number {
    return this.#output.drainTo(sink);
  }

  flush(): void {}

  close(): void {}
}

export const inlineDesign: EngineDesign = {
  name: 'inline',
  tradeOff: 'the core on the producer thread: the ceiling and the harness baseline, with no concurrency at all (one producer)',
  params: [],
  maxProducers: () => 1,
  connect: (init, workload) => new InlineProducer(init as InlineInit, workload),
  start,
};
