/**
 * `disruptor`: the LMAX Disruptor's shape over SharedArrayBuffers. Producers claim slots of one multi-producer ring
 * (an atomic claim counter), copy their command into the slot and publish it with a per-slot flag; one engine
 * thread consumes every contiguous published slot as a batch, runs the core, and writes each command's events into
 * an output ring per producer. Ring sizes, the consumer's batch size and the wait strategy are parameters.
 *
 * Trade-off: the hand-off costs a few atomics and cache-line transfers per command, with no allocation, no system
 * call while both sides keep up, and natural batching under load (a consumer that falls behind takes bigger
 * batches). The price is two threads per book path that poll: with busy-spin the engine thread burns a core even
 * when idle (lowest latency; on 2 cores it competes with the producers), with spin-then-wait it sleeps in
 * Atomics.wait after a bounded spin (frees the core; a wake-up costs a futex call on each side, tens of µs).
 * The claim counter is the one line all producers fight over; the sequence is the claim order as published.
 *
 * Layout: engines/disruptor-layout.ts. Consumer: engines/workers/disruptor-consumer.ts.
 */
import type { EngineDesign, EngineOptions, EngineSession, EventSink, Producer, SharedWorkload } from './engine.ts';
import { EVENT_BYTES } from './event-record.ts';
import { FastCore } from './fast-core.ts';
import { SequenceLog } from './sequence-log.ts';
import { MpscRing } from './shared/mpsc-ring.ts';
import { SpscRing } from './shared/spsc-ring.ts';
import { WAIT_STRATEGY_NAMES, waitStrategyByName } from './shared/wait-strategy.ts';
import { allocateDisruptor, TAG_INDEX, TAG_PRODUCER, TAG_WORDS, type DisruptorLayout } from './disruptor-layout.ts';
import { EngineWorkers } from './workers/engine-workers.ts';
import type { DisruptorConsumerData } from './workers/disruptor-consumer.ts';
import { RECORD_BYTES, RECORD_F64S } from '../workloads/workload.ts';
import { slowdownHook } from './slowdown-knob.ts';

interface DisruptorInit {
  readonly layout: DisruptorLayout;
  readonly producer: number;
  readonly wait: string;
}

function start({ workload, producers, params, capacities }: EngineOptions): EngineSession {
  const layout = allocateDisruptor(producers, params['ring'] as number, params['output'] as number, capacities, workload.count);
  const core = FastCore.create(capacities, layout.buffer, layout.coreAt);
  const log = new SequenceLog(layout.buffer, layout.sequenceAt, layout.sequenceCapacity);
  const wait = params['wait'] as string;
  const input = new MpscRing(layout.buffer, layout.inputAt, layout.inputSlots, RECORD_BYTES, waitStrategyByName(wait));
  const data: DisruptorConsumerData = { layout, wait, batch: params['batch'] as number, maxEventsPerCommand: capacities.maxEventsPerCommand };
  const workers = new EngineWorkers('disruptor');
  workers.spawn('consumer', new URL('./workers/disruptor-consumer.ts', import.meta.url), data);
  return {
    producerInit: (p) => ({ init: { layout, producer: p, wait } satisfies DisruptorInit, transfer: [] }),
    sequences: () => [log.snapshot()],
    sequenceLogs: () => [log],
    cores: () => [core],
    onError: (listener) => workers.onError(listener),
    inputRings: () => [{ name: 'input', slots: layout.inputSlots, used: () => input.occupancy() }],
    close: () => workers.stop(() => input.close()),
  };
}

class DisruptorProducer implements Producer {
  readonly #input: MpscRing;
  readonly #tags: Int32Array;
  readonly #output: SpscRing;
  readonly #producer: number;
  readonly #records: Uint32Array;
  readonly #recordF64: Float64Array;
  /** The test knob's hook for the producer's share of the design's work (the engine thread has its own). */
  readonly #slowdown = slowdownHook('disruptor');

  constructor(init: DisruptorInit, workload: SharedWorkload) {
    const { layout } = init;
    const strategy = waitStrategyByName(init.wait);
    this.#input = new MpscRing(layout.buffer, layout.inputAt, layout.inputSlots, RECORD_BYTES, strategy);
    this.#tags = new Int32Array(layout.buffer, layout.tagsAt, TAG_WORDS * layout.inputSlots);
    this.#output = new SpscRing(layout.buffer, layout.outputAt[init.producer]!, layout.outputSlots, EVENT_BYTES, strategy);
    this.#producer = init.producer;
    this.#records = new Uint32Array(workload.records);
    this.#recordF64 = new Float64Array(workload.records);
  }

  trySubmit(recordIndex: number): boolean {
    const input = this.#input;
    const seq = input.tryClaim(1);
    if (seq < 0) return false;
    const offset = input.slotOffsetOf(seq);
    const slot = offset / RECORD_BYTES;
    // Two words, then four f64s: the first 8 bytes are codes and a symbol index, not a number to copy as one.
    const to = offset >> 2;
    const from = (recordIndex * RECORD_BYTES) >> 2;
    input.words[to] = this.#records[from]!;
    input.words[to + 1] = this.#records[from + 1]!;
    const t = slot * RECORD_F64S;
    const f = recordIndex * RECORD_F64S;
    input.f64[t + 1] = this.#recordF64[f + 1]!;
    input.f64[t + 2] = this.#recordF64[f + 2]!;
    input.f64[t + 3] = this.#recordF64[f + 3]!;
    input.f64[t + 4] = this.#recordF64[f + 4]!;
    this.#tags[slot * TAG_WORDS + TAG_INDEX] = recordIndex;
    this.#tags[slot * TAG_WORDS + TAG_PRODUCER] = this.#producer;
    input.publish(seq, 1);
    this.#slowdown();
    return true;
  }

  poll(sink: EventSink): number {
    const output = this.#output;
    const n = output.available();
    if (n === 0) return 0;
    // The readable slots run from the first to the ring's end, then on from slot 0: one or two runs of records.
    const first = output.slotOffset(0) / EVENT_BYTES;
    const run = Math.min(n, output.slotCount - first);
    let completions = sink.records(output.bytes, output.words, output.f64, first, first + run);
    if (run < n) completions += sink.records(output.bytes, output.words, output.f64, 0, n - run);
    output.release(n);
    return completions;
  }

  flush(): void {}

  close(): void {}
}

export const disruptorDesign: EngineDesign = {
  name: 'disruptor',
  tradeOff: 'multi-producer SharedArrayBuffer ring into one engine thread and output rings back: a few atomics per command, two polling threads',
  params: [
    { name: 'ring', doc: 'input ring slots (40-byte commands)', default: 4096, min: 2, max: 1 << 20, powerOfTwo: true },
    { name: 'output', doc: 'slots of each producer\'s output ring (48-byte event records)', default: 16_384, min: 2, max: 1 << 22, powerOfTwo: true },
    { name: 'batch', doc: 'most slots the engine takes in one batch', default: 256, min: 1, max: 1 << 20 },
    { name: 'wait', doc: 'how the engine (and a producer whose output ring is full) waits', default: 'busy-spin', choices: WAIT_STRATEGY_NAMES },
  ],
  maxProducers: () => 64,
  connect: (init, workload) => new DisruptorProducer(init as DisruptorInit, workload),
  start,
};
