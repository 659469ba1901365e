/**
 * The engine thread of the `channel` design: owns the core, takes command batches from every producer's
 * MessagePort as 'message' events (so it sleeps in the event loop when idle), processes them in arrival order,
 * records the sequence, and posts each batch's events back to the producer that sent it.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { EVENT_BYTES } from '../event-record.ts';
import { endCommand } from '../completion-record.ts';
import { FastCore } from '../fast-core.ts';
import { SequenceLog } from '../sequence-log.ts';
import { batchIndexOffset, commandBatchCount } from '../channel-layout.ts';
import { slowdownHook } from '../slowdown-knob.ts';

export interface ChannelEngineData {
  readonly buffer: SharedArrayBuffer;
  readonly coreAt: number;
  readonly sequenceAt: number;
  readonly sequenceCapacity: number;
  readonly maxEventsPerCommand: number;
  /** The engine's end of each producer's channel, by producer. */
  readonly ports: readonly MessagePort[];
}

/** Event records the scratch output holds beyond one worst-case command: the batch is posted when it runs low. */
const SCRATCH_SLACK_RECORDS = 8192;

const data = workerData as ChannelEngineData;
const core = FastCore.attach(data.buffer, data.coreAt);
const log = new SequenceLog(data.buffer, data.sequenceAt, data.sequenceCapacity);
const perCommand = data.maxEventsPerCommand + 1;
const scratchRecords = perCommand + SCRATCH_SLACK_RECORDS;
const scratch = new ArrayBuffer(scratchRecords * EVENT_BYTES);
const scratchWords = new Uint32Array(scratch);
const scratchF64 = new Float64Array(scratch);
core.setEventOutput(scratch, 0, scratchRecords);
const slowdown = slowdownHook('channel');

function reply(port: MessagePort): void {
  const out = scratch.slice(0, core.outCursor * EVENT_BYTES);
  core.outCursor = 0;
  port.postMessage(out, [out]);
}

function onBatch(port: MessagePort, batch: ArrayBuffer): void {
  const n = commandBatchCount(batch);
  const bytes = new Uint8Array(batch);
  const f64 = new Float64Array(batch, 0, batchIndexOffset(n) / 8);
  const indexes = new Int32Array(batch, batchIndexOffset(n), n);
  for (let k = 0; k < n; k++) {
    if (core.outCursor + perCommand > scratchRecords) reply(port);
    const index = indexes[k]!;
    const from = core.outCursor;
    const events = core.processRecord(bytes, f64, k, index);
    log.append(index);
    slowdown();
    core.outCursor = from + endCommand(scratchWords, scratchF64, from, events, index);
  }
  reply(port);
}

for (const port of data.ports) port.on('message', (batch: ArrayBuffer) => onBatch(port, batch));
parentPort!.once('message', () => {
  for (const port of data.ports) port.close();
  parentPort!.close();
});
