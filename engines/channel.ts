/**
 * `channel`: producers postMessage batches of commands to one engine worker; the worker posts each batch's events
 * back the same way. Batch size is a parameter (1 = one message per command).
 *
 * Trade-off: the idiomatic Node.js way — no shared mutable state, the engine thread sleeps in its event loop when
 * idle, and it is safe by construction — paid for in per-message costs: every message is an allocation, a
 * structured-clone/transfer, a queue hand-off and an event-loop wake-up (microseconds each). Batching divides that
 * cost by the batch size and multiplies the wait of the batch's first command; a window bounds the commands in
 * flight so a fast producer cannot queue without limit.
 *
 * A producer fills a batch buffer (engines/channel-layout.ts) and posts it when full, or when the harness calls
 * flush (it has nothing more to send right now). It reads replies with receiveMessageOnPort, so its poll never
 * waits. The engine processes batches in arrival order, one sequence for all producers.
 *
 * Shared memory: only the core and the sequence log (so the main thread can check them); every command and event
 * crosses threads as a message.
 */
import { MessageChannel, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import type { EngineDesign, EngineOptions, EngineSession, EventSink, Producer, SharedWorkload } from './engine.ts';
import { EVENT_BYTES } from './event-record.ts';
import { FastCore } from './fast-core.ts';
import { bytesFor } from './fast-core-layout.ts';
import { SequenceLog, sequenceLogBytes } from './sequence-log.ts';
import { RegionAllocator } from './shared/layout.ts';
import { EngineWorkers } from './workers/engine-workers.ts';
import type { ChannelEngineData } from './workers/channel-engine.ts';
import { batchIndexOffset, commandBatchBytes } from './channel-layout.ts';
import { RECORD_BYTES, RECORD_F64S } from '../workloads/workload.ts';
import { slowdownHook } from './slowdown-knob.ts';

interface ChannelInit {
  readonly port: MessagePort;
  readonly batch: number;
  readonly window: number;
}

function start({ workload, producers, params, capacities }: EngineOptions): EngineSession {
  const regions = new RegionAllocator();
  const coreAt = regions.reserve('core', bytesFor(capacities));
  const sequenceAt = regions.reserve('sequence log', sequenceLogBytes(workload.count));
  const buffer = regions.createBuffer();
  const core = FastCore.create(capacities, buffer, coreAt);
  const log = new SequenceLog(buffer, sequenceAt, workload.count);
  const channels = Array.from({ length: producers }, () => new MessageChannel());
  const data: ChannelEngineData = {
    buffer, coreAt, sequenceAt, sequenceCapacity: workload.count, maxEventsPerCommand: capacities.maxEventsPerCommand,
    ports: channels.map((c) => c.port1),
  };
  const workers = new EngineWorkers('channel');
  const engine = workers.spawn('engine worker', new URL('./workers/channel-engine.ts', import.meta.url), data, data.ports);
  return {
    producerInit: (p) => {
      const port = channels[p]!.port2;
      const init: ChannelInit = { port, batch: params['batch'] as number, window: params['window'] as number };
      return { init, transfer: [port] };
    },
    sequences: () => [log.snapshot()],
    sequenceLogs: () => [log],
    cores: () => [core],
    onError: (listener) => workers.onError(listener),
    close: () => workers.stop(() => engine.postMessage('stop')),
  };
}

class ChannelProducer implements Producer {
  readonly #port: MessagePort;
  readonly #batchSize: number;
  readonly #window: number;
  readonly #records: Uint32Array;
  readonly #recordF64: Float64Array;
  #batch: ArrayBuffer | null = null;
  #batchWords = new Uint32Array(0);
  #batchF64 = new Float64Array(0);
  #batchIndexes = new Int32Array(0);
  #batched = 0;
  #inFlight = 0;
  /** The test knob's hook for the producer's share of the design's work (the engine thread has its own). */
  readonly #slowdown = slowdownHook('channel');

  constructor(init: ChannelInit, workload: SharedWorkload) {
    this.#port = init.port;
    this.#batchSize = init.batch;
    this.#window = init.window;
    this.#records = new Uint32Array(workload.records);
    this.#recordF64 = new Float64Array(workload.records);
  }

  trySubmit(recordIndex: number): boolean {
    if (this.#inFlight >= this.#window) return false;
    if (this.#batch === null) this.#newBatch();
    const k = this.#batched++;
    // Two words, then four f64s: the first 8 bytes are codes and a symbol index, not a number to copy as one.
    const from = (recordIndex * RECORD_BYTES) >> 2;
    const to = (k * RECORD_BYTES) >> 2;
    this.#batchWords[to] = this.#records[from]!;
    this.#batchWords[to + 1] = this.#records[from + 1]!;
    const f = recordIndex * RECORD_F64S;
    const t = k * RECORD_F64S;
    this.#batchF64[t + 1] = this.#recordF64[f + 1]!;
    this.#batchF64[t + 2] = this.#recordF64[f + 2]!;
    this.#batchF64[t + 3] = this.#recordF64[f + 3]!;
    this.#batchF64[t + 4] = this.#recordF64[f + 4]!;
    this.#batchIndexes[k] = recordIndex;
    this.#inFlight++;
    if (this.#batched === this.#batchSize) this.flush();
    this.#slowdown();
    return true;
  }

  poll(sink: EventSink): number {
    let completions = 0;
    for (let received = receiveMessageOnPort(this.#port); received !== undefined; received = receiveMessageOnPort(this.#port)) {
      const events = received.message as ArrayBuffer;
      completions += sink.records(new Uint8Array(events), new Uint32Array(events), new Float64Array(events), 0, events.byteLength / EVENT_BYTES);
    }
    this.#inFlight -= completions;
    return completions;
  }

  flush(): void {
    const batch = this.#batch;
    if (batch === null) return;
    const n = this.#batched;
    // A partial batch travels as a shorter buffer: copy its records and indexes into one of the right size.
    const message = n === this.#batchSize ? batch : packPartial(batch, n, this.#batchSize);
    this.#port.postMessage(message, [message]);
    this.#batch = null;
    this.#batched = 0;
  }

  close(): void {
    this.#port.close();
  }

  #newBatch(): void {
    const batch = new ArrayBuffer(commandBatchBytes(this.#batchSize));
    this.#batch = batch;
    this.#batchWords = new Uint32Array(batch, 0, batchIndexOffset(this.#batchSize) / 4);
    this.#batchF64 = new Float64Array(batch, 0, batchIndexOffset(this.#batchSize) / 8);
    this.#batchIndexes = new Int32Array(batch, batchIndexOffset(this.#batchSize), this.#batchSize);
  }
}

function packPartial(batch: ArrayBuffer, n: number, capacity: number): ArrayBuffer {
  const packed = new ArrayBuffer(commandBatchBytes(n));
  new Uint8Array(packed).set(new Uint8Array(batch, 0, n * RECORD_BYTES));
  new Int32Array(packed, batchIndexOffset(n), n).set(new Int32Array(batch, batchIndexOffset(capacity), n));
  return packed;
}

export const channelDesign: EngineDesign = {
  name: 'channel',
  tradeOff: 'postMessage to one engine worker and back: no shared mutable state, an idle engine sleeps, but every message costs microseconds',
  params: [
    { name: 'batch', doc: 'commands per message (1 = one message per command)', default: 128, min: 1, max: 65_536 },
    { name: 'window', doc: 'commands a producer may have in flight before it must wait for events', default: 8192, min: 1, max: 1 << 24 },
  ],
  maxProducers: () => 64,
  connect: (init, workload) => new ChannelProducer(init as ChannelInit, workload),
  start,
};
