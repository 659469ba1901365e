/**
 * `mutex`: one book in a SharedArrayBuffer; every producer thread takes a futex-style lock, runs the fast core
 * itself, appends the command to the shared sequence log, and unlocks. The sequence is the lock order.
 *
 * Trade-off: no engine thread and no hand-off — a command costs the core plus one uncontended lock/unlock pair
 * (two atomics) — but producers serialise on the lock, and its cache lines and the whole book's cache lines bounce
 * between cores on every hand-over. Under contention a waiter spins `spins` reads, then sleeps in Atomics.wait and
 * the holder pays an Atomics.notify on unlock (engines/shared/futex-mutex.ts): good throughput while critical
 * sections are short, a long tail when a lock holder is descheduled (likely on 2 cores).
 *
 * Each producer's events go to an output region of its own in the same buffer, written by the core while the
 * producer holds the lock and read by that producer after it unlocks, so delivering events never lengthens the
 * critical section. The sequence log is the one log all producers share.
 *
 * Shared memory (RegionAllocator): the lock (its own 128 bytes), the core, one event output region per producer,
 * the sequence log.
 */
import type { EngineDesign, EngineOptions, EngineSession, EventSink, Producer, SharedWorkload } from './engine.ts';
import { CoreOutput, coreOutputBytes } from './core-output.ts';
import { FastCore } from './fast-core.ts';
import { bytesFor } from './fast-core-layout.ts';
import { SequenceLog, sequenceLogBytes } from './sequence-log.ts';
import { FutexMutex } from './shared/futex-mutex.ts';
import { FUTEX_MUTEX_BYTES } from './shared/futex-mutex-layout.ts';
import { RegionAllocator } from './shared/layout.ts';
import { slowdownHook } from './slowdown-knob.ts';

interface MutexInit {
  readonly buffer: SharedArrayBuffer;
  readonly lockAt: number;
  readonly spins: number;
  readonly coreAt: number;
  readonly outputAt: number;
  readonly sequenceAt: number;
  readonly sequenceCapacity: number;
  readonly maxEventsPerCommand: number;
}

const MAX_PRODUCERS = 64;

function start({ workload, producers, params, capacities }: EngineOptions): EngineSession {
  const regions = new RegionAllocator();
  const lockAt = regions.reserve('book lock', FUTEX_MUTEX_BYTES);
  const coreAt = regions.reserve('core', bytesFor(capacities));
  const outputAt = Array.from({ length: producers }, (_, p) => regions.reserve(`event output ${p}`, coreOutputBytes(capacities.maxEventsPerCommand)));
  const sequenceAt = regions.reserve('sequence log', sequenceLogBytes(workload.count));
  const buffer = regions.createBuffer();
  const core = FastCore.create(capacities, buffer, coreAt);
  const log = new SequenceLog(buffer, sequenceAt, workload.count);
  const init = (p: number): MutexInit => ({
    buffer, lockAt, spins: params['spins'] as number, coreAt, outputAt: outputAt[p]!, sequenceAt,
    sequenceCapacity: workload.count, maxEventsPerCommand: capacities.maxEventsPerCommand,
  });
  return {
    producerInit: (p) => ({ init: init(p), transfer: [] }),
    sequences: () => [log.snapshot()],
    sequenceLogs: () => [log],
    cores: () => [core],
    onError: () => {},
    close: async () => {},
  };
}

class MutexProducer implements Producer {
  readonly #lock: FutexMutex;
  readonly #core: FastCore;
  readonly #output: CoreOutput;
  readonly #log: SequenceLog;
  readonly #bytes: Uint8Array;
  readonly #f64: Float64Array;
  readonly #slowdown = slowdownHook('mutex');

  constructor(init: MutexInit, workload: SharedWorkload) {
    this.#lock = new FutexMutex(init.buffer, init.lockAt, init.spins);
    this.#core = FastCore.attach(init.buffer, init.coreAt);
    this.#output = new CoreOutput(this.#core, init.buffer, init.outputAt, init.maxEventsPerCommand);
    this.#log = new SequenceLog(init.buffer, init.sequenceAt, init.sequenceCapacity);
    this.#bytes = new Uint8Array(workload.records);
    this.#f64 = new Float64Array(workload.records);
  }

  /** Waits for the lock (spin, then sleep): the one design whose submit can block. */
  trySubmit(recordIndex: number): boolean {
    if (!this.#output.hasRoom()) return false;
    this.#lock.lock();
    try {
      this.#core.processRecord(this.#bytes, this.#f64, recordIndex, recordIndex);
      this.#log.append(recordIndex);
      this.#slowdown();
    } finally {
      this.#lock.unlock();
    }
    this.#output.complete(recordIndex);
    return true;
  }

  poll(sink: EventSink): number {
    return this.#output.drainTo(sink);
  }

  flush(): void {}

  close(): void {}
}

export const mutexDesign: EngineDesign = {
  name: 'mutex',
  tradeOff: 'producers run the core themselves under a futex lock: no hand-off, but they serialise and the book bounces between cores',
  params: [
    { name: 'spins', doc: 'reads of the lock word before a waiting producer sleeps in Atomics.wait', default: 100, min: 0, max: 1_000_000 },
  ],
  maxProducers: () => MAX_PRODUCERS,
  connect: (init, workload) => new MutexProducer(init as MutexInit, workload),
  start,
};
