/**
 * The engine thread of the `disruptor` design: the single consumer of the input ring. It takes every contiguous
 * published slot (up to the batch size) at once, runs each command through the core, records the sequence, copies
 * the events (the last flagged as the command's end, or a completion record when there is none:
 * engines/completion-record.ts) into the output ring of the producer that sent the command, publishes the
 * output rings once per batch, and releases the input slots. Exits when the input ring is closed and drained.
 */
import { workerData } from 'node:worker_threads';
import { endCommand } from '../completion-record.ts';
import { EVENT_BYTES } from '../event-record.ts';
import { attachScratch, deliverEvents } from './deliver-events.ts';
import { FastCore } from '../fast-core.ts';
import { SequenceLog } from '../sequence-log.ts';
import { MpscRing } from '../shared/mpsc-ring.ts';
import { SpscRing } from '../shared/spsc-ring.ts';
import { waitStrategyByName } from '../shared/wait-strategy.ts';
import { TAG_INDEX, TAG_PRODUCER, TAG_WORDS, type DisruptorLayout } from '../disruptor-layout.ts';
import { slowdownHook } from '../slowdown-knob.ts';
import { RECORD_BYTES } from '../../workloads/workload.ts';

export interface DisruptorConsumerData {
  readonly layout: DisruptorLayout;
  readonly wait: string;
  readonly batch: number;
  readonly maxEventsPerCommand: number;
}

const { layout, wait, batch, maxEventsPerCommand } = workerData as DisruptorConsumerData;
const strategy = waitStrategyByName(wait);
const input = new MpscRing(layout.buffer, layout.inputAt, layout.inputSlots, RECORD_BYTES, strategy);
const tags = new Int32Array(layout.buffer, layout.tagsAt, TAG_WORDS * layout.inputSlots);
const outputs = layout.outputAt.map((at) => new SpscRing(layout.buffer, at, layout.outputSlots, EVENT_BYTES, strategy));
const core = FastCore.attach(layout.buffer, layout.coreAt);
const log = new SequenceLog(layout.buffer, layout.sequenceAt, layout.sequenceCapacity);
const { words: scratchWords, f64: scratchF64 } = attachScratch(core, maxEventsPerCommand);
const slowdown = slowdownHook('disruptor');

for (;;) {
  const n = input.waitBatch(batch);
  if (n === 0) break;
  for (let k = 0; k < n; k++) {
    const slot = input.slotOffset(k) / RECORD_BYTES;
    const index = tags[slot * TAG_WORDS + TAG_INDEX]!;
    const producer = tags[slot * TAG_WORDS + TAG_PRODUCER]!;
    core.outCursor = 0;
    const events = core.processRecord(input.bytes, input.f64, slot, index);
    log.append(index);
    slowdown();
    deliverEvents(outputs[producer]!, scratchWords, scratchF64, endCommand(scratchWords, scratchF64, 0, events, index), 'disruptor');
  }
  for (let p = 0; p < outputs.length; p++) outputs[p]!.publish();
  input.release(n);
}
