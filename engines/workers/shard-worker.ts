/**
 * One shard of the `sharded` design: owns the books of its symbols, drains its P single-producer input rings in
 * turn (at most a batch per ring per turn, so no producer starves another), runs each command through its core,
 * records its sequence, and writes the events and a completion into the sending producer's output ring (a clock,
 * which every shard gets, answered by each: the expiries of its own symbols, its records marked CLOCK_PART). When every
 * ring is empty it waits on the shard's doorbell word; it exits once told to stop and drained.
 */
import { workerData } from 'node:worker_threads';
import { endCommand } from '../completion-record.ts';
import { EVENT_BYTES } from '../event-record.ts';
import { attachScratch, deliverEvents } from './deliver-events.ts';
import { FastCore } from '../fast-core.ts';
import { SequenceLog } from '../sequence-log.ts';
import { SpscRing } from '../shared/spsc-ring.ts';
import { waitStrategyByName } from '../shared/wait-strategy.ts';
import { CLOCK_PART, CLOCK_PART_SHIFT, SHARD_DOORBELL, SHARD_STOP, SHARD_CONTROL_BYTES, type ShardedLayout } from '../sharded-layout.ts';
import { slowdownHook } from '../slowdown-knob.ts';
import { OFF_OP, OP_CLOCK, RECORD_BYTES } from '../../workloads/workload.ts';

export interface ShardWorkerData {
  readonly layout: ShardedLayout;
  readonly shard: number;
  readonly wait: string;
  readonly batch: number;
  readonly maxEventsPerCommand: number;
}

const { layout, shard, wait, batch, maxEventsPerCommand } = workerData as ShardWorkerData;
const own = layout.shards[shard]!;
const strategy = waitStrategyByName(wait);
const control = new Int32Array(layout.buffer, own.controlAt, SHARD_CONTROL_BYTES / 4);
const inputs = own.inputAt.map((at) => new SpscRing(layout.buffer, at, layout.inputSlots, RECORD_BYTES, strategy));
const tags = own.tagsAt.map((at) => new Int32Array(layout.buffer, at, layout.inputSlots));
const outputs = own.outputAt.map((at) => new SpscRing(layout.buffer, at, layout.outputSlots, EVENT_BYTES, strategy));
const core = FastCore.attach(layout.buffer, own.coreAt);
const log = new SequenceLog(layout.buffer, own.sequenceAt, own.sequenceCapacity);
const { words: scratchWords, f64: scratchF64 } = attachScratch(core, maxEventsPerCommand);
const slowdown = slowdownHook('sharded');
const producers = inputs.length;
const engineName = `sharded shard ${shard}`;

/** Processes up to `batch` commands from producer p's ring; returns how many. */
function drain(p: number): number {
  const input = inputs[p]!;
  const available = input.available();
  if (available === 0) return 0;
  const n = available < batch ? available : batch;
  const tag = tags[p]!;
  const output = outputs[p]!;
  for (let k = 0; k < n; k++) {
    const slot = input.slotOffset(k) / RECORD_BYTES;
    const index = tag[slot]!;
    core.outCursor = 0;
    const events = core.processRecord(input.bytes, input.f64, slot, index);
    log.append(index);
    slowdown();
    const records = endCommand(scratchWords, scratchF64, 0, events, index);
    if (input.bytes[slot * RECORD_BYTES + OFF_OP] === OP_CLOCK) {
      for (let i = 0; i < records; i++) scratchWords[(i * EVENT_BYTES) >> 2] = scratchWords[(i * EVENT_BYTES) >> 2]! | (CLOCK_PART << CLOCK_PART_SHIFT);
    }
    deliverEvents(output, scratchWords, scratchF64, records, engineName);
  }
  output.publish();
  input.release(n);
  return n;
}

for (;;) {
  const bell = Atomics.load(control, SHARD_DOORBELL);
  let processed = 0;
  for (let p = 0; p < producers; p++) processed += drain(p);
  if (processed > 0) continue;
  if (Atomics.load(control, SHARD_STOP) !== 0) break;
  strategy.waitFor(control, SHARD_DOORBELL, bell);
}
