/**
 * Entry of a producer worker thread: connects to the design, replays its warm-up share in closed loop, meets the
 * other producers at the start line (harness/run-control.ts), replays the measured share in closed or open loop,
 * and posts back its figures, its encoded latency histogram and its event log (transferred, not copied).
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { SharedWorkload } from '../engines/engine.ts';
import { designByName } from '../engines/designs.ts';
import { DurableAcknowledgements } from './durable-acknowledgements.ts';
import { nowNs } from './clock.ts';
import { EventLog } from './event-log.ts';
import { encodeHistogram, LatencyRecorder, latencyHistogram } from './histogram.ts';
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
  /** Durable flags by workload index when acknowledgements wait for the journal (journal/journaller-thread.ts). */
  readonly durable: SharedArrayBuffer | null;
  /** A reused buffer for the event log's first chunk (harness/event-log.ts EventLogBuffers), transferred; or null. */
  readonly logBuffer: ArrayBuffer | null;
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

/** Calls the warm-up is split into, and how many of its last commands the open loop paces at the measured rate. */
const WARMUP_CALLS = 8;
const PACED_WARMUP_COMMANDS = 2000;

const task = workerData as ProducerTask;
const port = parentPort;
if (port === null) throw new Error('harness/producer-worker.ts must run as a worker thread');

const control = controlViews(task.control);
const connected = designByName(task.design).connect(task.init, task.workload);
const producer = task.durable === null ? connected : new DurableAcknowledgements(connected, new Uint8Array(task.durable), task.stream.length);
const log = new EventLog(task.stream.length, task.logBuffer ?? undefined);
const sink = new LoggingSink(log, task.stream.length);
const progress = progressWord(task.producer);
const loop = new ProducerLoop(producer, task.stream, task.workload.count, sink, (completed) => Atomics.store(control.i32, progress, completed));

// Built before the start line: a thread's first histogram compiles hdr-histogram-js's WebAssembly (~18 ms here),
// which inside the timed part would stall the first commands and lengthen every run by that much.
const latencies = new LatencyRecorder(latencyHistogram());

// Warm up the loop the measured part runs, recording included, so that the timed call enters code optimised for
// every path it takes. In several calls: code for one long call comes only from on-stack replacement, which deopts
// on leaving an inner loop (measured: 10–16 deopts inside the timed part of a 1 M/s run). The open loop's last calls
// go at the measured rate, so its waiting path has type feedback too; the others take everything at once (quick).
const intervalNs = (1e9 * task.producers) / task.rate;
const phase = task.producer / task.producers;
const pacedFrom = Math.max(0, task.warmup - PACED_WARMUP_COMMANDS);
const chunk = Math.max(1, Math.ceil(task.warmup / WARMUP_CALLS));
for (let from = 0; from < task.warmup;) {
  const to = Math.min(task.warmup, from + chunk, from < pacedFrom ? pacedFrom : task.warmup);
  if (task.mode === 'closed') loop.closed(from, to, latencies);
  else loop.open(from, to, nowNs(), from < pacedFrom ? 0 : intervalNs, phase, latencies);
  from = to;
}
latencies.reset();

Atomics.add(control.i32, CONTROL_READY, 1);
Atomics.notify(control.i32, CONTROL_READY);
while (Atomics.load(control.i32, CONTROL_GO) === 0) Atomics.wait(control.i32, CONTROL_GO, 0, 100);
const t0 = control.f64[CONTROL_START_F64]!;
while (nowNs() < t0);

const eventsBefore = sink.events;
const stats = task.mode === 'closed'
  ? loop.closed(task.warmup, task.stream.length, latencies)
  : loop.open(task.warmup, task.stream.length, t0, intervalNs, phase, latencies);

const histogram = latencies.finish();
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
