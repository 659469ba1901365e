/**
 * What a producer thread does with its share of the workload: submit it through the design's producer half, poll
 * events back, log them for the equivalence check, and time every command.
 *
 * - Closed loop: submit as fast as the design accepts (trySubmit false = back-pressure), at most BURST commands
 *   between polls. Latency runs from the send time — the turn's clock read, taken before the burst, so a command
 *   later in a burst is charged for the ones before it (an over-estimate of at most one burst).
 * - Open loop at `ratePerProducer` commands/s: command k of the measured part is due at t0 + (k + phase) × interval
 *   whatever happened before; it is submitted as soon as it is due and the design accepts it, and its latency runs
 *   from the time it was DUE, not sent (coordinated-omission correction: a stall charges every command it delayed).
 *   Producers are phase-shifted by p/P of an interval so their sends interleave evenly.
 * - Each turn of a loop reads the clock once (a read costs ~40 ns, as much as a small command): that reading is
 *   the completion time of everything the previous turn's poll delivered (nothing but the loop test ran in
 *   between) and the send time of what this turn submits.
 *
 * Nothing here allocates per command: send times live in a Float64Array indexed by workload index, completions
 * of one poll in an Int32Array, events in the EventLog (which doubles rarely).
 */
import type { Histogram } from 'hdr-histogram-js';
import type { EventSink, Producer } from '../engines/engine.ts';
import { nowNs } from './clock.ts';
import { EventLog } from './event-log.ts';

/** Commands submitted between two polls in closed loop. */
export const BURST = 32;

export class LoggingSink implements EventSink {
  readonly log: EventLog;
  /** Workload indexes completed during the current poll. */
  readonly completed: Int32Array;
  completedCount = 0;
  events = 0;

  constructor(log: EventLog, maxCompletions: number) {
    this.log = log;
    this.completed = new Int32Array(Math.max(1, maxCompletions));
  }

  event(words: Uint32Array, f64: Float64Array, record: number): void {
    this.log.appendEvent(words, f64, record);
    this.events++;
  }

  complete(recordIndex: number): void {
    this.log.appendCompletion(recordIndex);
    this.completed[this.completedCount++] = recordIndex;
  }
}

export interface LoopStats {
  /** Clock time of the last poll that delivered a completion. */
  lastCompletionNs: number;
}

export class ProducerLoop {
  readonly #producer: Producer;
  readonly #stream: Int32Array;
  readonly #sink: LoggingSink;
  readonly #sendTime: Float64Array;
  readonly #onProgress: (completed: number) => void;
  #completedTotal = 0;

  /**
   * @param stream workload indexes this producer submits, in order.
   * @param workloadCount size of the whole workload (send times are indexed by workload index).
   * @param onProgress called with the running completion count after every poll that completed something.
   */
  constructor(producer: Producer, stream: Int32Array, workloadCount: number, sink: LoggingSink, onProgress: (completed: number) => void) {
    this.#producer = producer;
    this.#stream = stream;
    this.#sink = sink;
    this.#sendTime = new Float64Array(workloadCount);
    this.#onProgress = onProgress;
  }

  /** Stream positions [from, to) in closed loop; records latencies into `histogram` when given. */
  closed(from: number, to: number, histogram: Histogram | null): LoopStats {
    const producer = this.#producer;
    const stream = this.#stream;
    const sendTime = this.#sendTime;
    const sink = this.#sink;
    const total = to - from;
    let next = from;
    let completed = 0;
    let lastCompletionNs = 0;
    while (completed < total) {
      // One clock read per turn: it timestamps what the poll just before delivered, and the burst sent next.
      const now = nowNs();
      if (sink.completedCount > 0) {
        lastCompletionNs = now;
        completed += this.#settle(now, histogram);
      }
      if (next < to) {
        let burst = 0;
        while (next < to && burst < BURST) {
          const index = stream[next]!;
          if (!producer.trySubmit(index)) break;
          sendTime[index] = now;
          next++;
          burst++;
        }
        if (burst < BURST || next === to) producer.flush();
      }
      producer.poll(sink);
    }
    return { lastCompletionNs };
  }

  /**
   * Stream positions [from, to) in open loop: position from + k is due at t0 + (k + phase) × intervalNs (with an
   * interval of 0 everything is due at once: how the open-loop code is warmed up).
   */
  open(from: number, to: number, t0: number, intervalNs: number, phase: number, histogram: Histogram | null): LoopStats {
    const producer = this.#producer;
    const stream = this.#stream;
    const sendTime = this.#sendTime;
    const sink = this.#sink;
    const total = to - from;
    let next = from;
    let completed = 0;
    let lastCompletionNs = 0;
    while (completed < total) {
      const now = nowNs();
      if (sink.completedCount > 0) {
        lastCompletionNs = now;
        completed += this.#settle(now, histogram);
      }
      if (next < to) {
        let submitted = false;
        while (next < to) {
          const due = t0 + (next - from + phase) * intervalNs;
          if (due > now) break;
          const index = stream[next]!;
          if (!producer.trySubmit(index)) break;
          sendTime[index] = due;
          next++;
          submitted = true;
        }
        if (submitted) producer.flush();
      }
      producer.poll(sink);
    }
    return { lastCompletionNs };
  }

  /** Records the latency of every completion of the last poll; returns how many there were. */
  #settle(now: number, histogram: Histogram | null): number {
    const sink = this.#sink;
    const n = sink.completedCount;
    if (histogram !== null) {
      const sendTime = this.#sendTime;
      const completed = sink.completed;
      for (let k = 0; k < n; k++) {
        const latency = now - sendTime[completed[k]!]!;
        histogram.recordValue(latency > 0 ? Math.round(latency) : 0);
      }
    }
    sink.completedCount = 0;
    this.#completedTotal += n;
    this.#onProgress(this.#completedTotal);
    return n;
  }
}
