/**
 * Entry of a producer worker thread: connects to the design, replays its warm-up share in closed loop, meets the
 * other producers at the start line (harness/run-control.ts), replays the measured share in closed or open loop,
 * and posts back its figures, its encoded latency histogram and its event log (transferred, not copied).
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { SharedWorkload } from '../engines/engine.ts';
import { designByName } from '../engines/designs.ts';
import { nowNs } from './clock.ts';
import { EventLog } from './event-log.ts';
import { encodeHistogram, latencyHistogram } from './histogram.ts';
import { LoggingSink, ProducerLoop } from './producer-loop.ts';
import { CONTROL_GO, CONTROL_READY, CONTROL_START_F64, controlViews, progressWord } from './run-control.ts';
import type { LoopMode } from './results-schema.ts';

export interface ProducerTask {
  readonly design: string;
  readonly init: unknown;
  readonly workload: SharedWorkload;
  readonly producer: number;
  readonly producers: number;
  /** Workload indexes this producer submits, in order; the first `warmup` are the warm-up. */
  readonly stream: Int32Array;
  readonly warmup: number;
  readonly mode: LoopMode;
  /** Offered commands/s of all producers together (open loop). */
  readonly rate: number;
  readonly control: SharedArrayBuffer;
}

export interface ProducerReport {
  /** Measured commands (warm-up excluded) and the events they produced. */
  readonly commands: number;
  readonly events: number;
  readonly lastCompletionNs: number;
  readonly histogram: string;
  /** The whole event log (warm-up included): what the equivalence checker compares. */
  readonly log: { readonly buffer: ArrayBuffer; readonly length: number };
}

const task = workerData as ProducerTask;
const port = parentPort;
if (port === null) throw new Error('harness/producer-worker.ts must run as a worker thread');

const control = controlViews(task.control);
const producer = designByName(task.design).connect(task.init, task.workload);
const log = new EventLog(task.stream.length * 3);
const sink = new LoggingSink(log, task.stream.length);
const progress = progressWord(task.producer);
const loop = new ProducerLoop(producer, task.stream, task.workload.count, sink, (completed) => Atomics.store(control.i32, progress, completed));

// Built before the start line: a thread's first histogram compiles hdr-histogram-js's WebAssembly (~18 ms here),
// which inside the timed part would stall the first commands and lengthen every run by that much.
const histogram = latencyHistogram();

// Warm up the loop the measured part runs, so its code is optimised before the clock starts.
if (task.mode === 'closed') loop.closed(0, task.warmup, null);
else loop.open(0, task.warmup, nowNs(), 0, 0, null);

Atomics.add(control.i32, CONTROL_READY, 1);
Atomics.notify(control.i32, CONTROL_READY);
while (Atomics.load(control.i32, CONTROL_GO) === 0) Atomics.wait(control.i32, CONTROL_GO, 0, 100);
const t0 = control.f64[CONTROL_START_F64]!;
while (nowNs() < t0);

const eventsBefore = sink.events;
const stats = task.mode === 'closed'
  ? loop.closed(task.warmup, task.stream.length, histogram)
  : loop.open(task.warmup, task.stream.length, t0, (1e9 * task.producers) / task.rate, task.producer / task.producers, histogram);

const finished = log.finish();
const report: ProducerReport = {
  commands: task.stream.length - task.warmup,
  events: sink.events - eventsBefore,
  lastCompletionNs: stats.lastCompletionNs,
  histogram: encodeHistogram(histogram),
  log: finished,
};
histogram.destroy();
producer.close();
port.postMessage(report, [finished.buffer]);
