/**
 * Entry of the jitter probe's thread (harness/jitter-probe.ts): builds its histograms, warms the loop up, then
 * spins reading the clock for the task's length, recording every gap (and, in open loop, the zero-cost engine's
 * latency of every scheduled command), and posts back what it measured.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { nowNs } from './clock.ts';
import { latencyHistogram } from './histogram.ts';
import { encodeRecorded, NsRecorder, OpenLoopFloor, type ProbeOutcome, type ProbeTask } from './jitter-probe.ts';

/** Long enough for the loop to be optimised before the measured part (some 400 000 turns). */
const WARMUP_NS = 20e6;
/** Between taking the start time and the start, so the first reading is not the warm-up's last. */
const START_DELAY_NS = 1e6;

const task = workerData as ProbeTask;
const port = parentPort;
if (port === null) throw new Error('harness/jitter-probe-worker.ts must run as a worker thread');

// Built before anything is timed: a thread's first histogram compiles hdr-histogram-js's WebAssembly (~18 ms).
const gaps = new NsRecorder(latencyHistogram());
const floorRecorder = task.mode === 'open' ? new NsRecorder(latencyHistogram()) : null;

/** Spins until `endNs` (closed) or until `floor` has seen every command due (open); returns the readings taken. */
function spin(endNs: number, floor: OpenLoopFloor | null): { readings: number; lastNs: number } {
  let previous = nowNs();
  let readings = 0;
  for (;;) {
    const now = nowNs();
    readings++;
    gaps.record(now - previous);
    previous = now;
    if (floor !== null ? !floor.observe(now) : now >= endNs) return { readings, lastNs: now };
  }
}

/** In open loop, the schedule of `commands` commands from `startNs` at the task's rate; null in closed loop. */
function floorFrom(startNs: number, commands: number): OpenLoopFloor | null {
  return task.mode === 'open' ? new OpenLoopFloor(startNs, task.ratePerSecond, commands, floorRecorder!) : null;
}

// Warm-up: the same loop and recorders for WARMUP_NS, then forgotten.
const warmStart = nowNs();
spin(warmStart + WARMUP_NS, floorFrom(warmStart, task.mode === 'open' ? Math.max(1, Math.round((WARMUP_NS * task.ratePerSecond) / 1e9)) : 0));
gaps.reset();
floorRecorder?.reset();

const startNs = nowNs() + START_DELAY_NS;
while (nowNs() < startNs);
const measured = task.mode === 'open' ? spin(0, floorFrom(startNs, task.commands)) : spin(startNs + task.durationNs, null);

const gapsByDecade = gaps.finish();
const gapFigures = encodeRecorded(gaps);
floorRecorder?.finish();
const floorFigures = floorRecorder === null ? null : encodeRecorded(floorRecorder);
const outcome: ProbeOutcome = {
  mode: task.mode,
  durationNs: measured.lastNs - startNs,
  readings: measured.readings,
  gapsByDecade,
  gapHistogram: gapFigures.histogram,
  gaps: gapFigures.latency,
  floorHistogram: floorFigures?.histogram ?? null,
  floor: floorFigures?.latency ?? null,
};
port.postMessage(outcome);
