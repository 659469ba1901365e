/**
 * Entry of the thread that runs the fast core alone for the harness-overhead measurement (harness/harness-overhead.ts):
 * attaches the core the main thread made, replays the warm-up commands, then times the rest — each command straight
 * off the shared records into the core, its events left in the output region, which is rewound per command. This is
 * everything `inline` does per command minus the harness: no producer loop, event log, latency records or polls.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { FastCore } from '../engines/fast-core.ts';
import { nowNs } from './clock.ts';

export interface CoreAloneTask {
  readonly buffer: SharedArrayBuffer;
  readonly coreAt: number;
  readonly outputAt: number;
  readonly outputRecords: number;
  readonly records: SharedArrayBuffer;
  readonly count: number;
  readonly warmup: number;
}

export interface CoreAloneReport {
  /** Timed commands (warm-up excluded) and the events the core wrote for them. */
  readonly commands: number;
  readonly events: number;
  readonly elapsedNs: number;
}

const task = workerData as CoreAloneTask;
const port = parentPort;
if (port === null) throw new Error('harness/core-alone-worker.ts must run as a worker thread');

const core = FastCore.attach(task.buffer, task.coreAt);
core.setEventOutput(task.buffer, task.outputAt, task.outputRecords);
const bytes = new Uint8Array(task.records);
const f64 = new Float64Array(task.records);

function replay(from: number, to: number): number {
  let events = 0;
  for (let i = from; i < to; i++) {
    core.outCursor = 0;
    events += core.processRecord(bytes, f64, i, i);
  }
  return events;
}

replay(0, task.warmup);
const start = nowNs();
const events = replay(task.warmup, task.count);
const report: CoreAloneReport = { commands: task.count - task.warmup, events, elapsedNs: nowNs() - start };
port.postMessage(report);
