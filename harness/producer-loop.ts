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
 * of one poll in an Int32Array, events in the EventLog, latencies in a LatencyRecorder's slots — each written
 * through once before the start line, so no page of them is first touched (a page fault) inside the timed part.
 * The one allocation left is the clock's own (harness/clock.ts): one read per turn, fewer while waiting (spinFor).
 */
import { endsCommand, isEvent } from '../engines/completion-record.ts';
import type { EventSink, EventStorage, Producer } from '../engines/engine.ts';
import { EV_F64_SEQ, EVENT_F64S } from '../engines/event-record.ts';
import { nowNs } from './clock.ts';
import { EventLog } from './event-log.ts';
import type { LatencyRecorder } from './histogram.ts';

/** Commands submitted between two polls in closed loop. */
export const BURST = 32;

/**
 * Waiting for a due time without reading the clock. Every read allocates (performance.now() boxes its result), and
 * an open-loop producer waiting for its next command used to read it back to back: at 100 K commands/s ~100 MB/s
 * of garbage, a young-generation collection every ~40 ms inside the timed part, each a stall of 0.1–8 ms. So while
 * nothing is in flight the loop spins a calibrated count for half the time left, then reads the clock again, and
 * spins out a wait under WHOLE_SPIN_NS in one go (reading every ~50 ns would be no more punctual): a wait of W
 * costs ~log2(W / WHOLE_SPIN_NS) + 1 reads. A command is still sent only once a read shows it due; the count
 * comes from the fastest of several samples, so a spin makes a send late only when the thread runs slower than
 * calibrated, by that fraction of the last spin (measured: spins run up to ~25 % long, so a send is late by at most
 * ~60 ns, about what one more read would have cost).
 */
const WHOLE_SPIN_NS = 250;
const SPIN_SAMPLE = 20_000;
let spinState = 1;

function spin(iterations: number): void {
  let x = spinState;
  for (let i = 0; i < iterations; i++) x = Math.imul(x, 1664525) + 1013904223 | 0;
  spinState = x;
}

function spinIterationsPerNs(): number {
  let best = 0;
  for (let sample = 0; sample < 16; sample++) {
    const start = nowNs();
    spin(SPIN_SAMPLE);
    best = Math.max(best, SPIN_SAMPLE / (nowNs() - start));
  }
  return best;
}

const SPIN_PER_NS = spinIterationsPerNs();

function spinFor(ns: number): void {
  spin(Math.floor(ns * SPIN_PER_NS));
}

/**
 * The producer's sink: every record into the event log, the completions' workload indexes into `completed` for
 * #settle. It lends the log as storage (EventSink.storage), so a design whose core runs on this thread writes
 * straight into it; records from elsewhere (rings, messages) are copied in.
 */
export class LoggingSink implements EventSink, EventStorage {
  readonly log: EventLog;
  /** Workload indexes completed during the current poll. */
  readonly completed: Int32Array;
  completedCount = 0;
  events = 0;
  readonly storage: EventStorage = this;

  constructor(log: EventLog, maxCompletions: number) {
    this.log = log;
    this.completed = new Int32Array(Math.max(1, maxCompletions));
  }

  get buffer(): ArrayBuffer {
    return this.log.chunk;
  }

  get used(): number {
    return this.log.used;
  }

  reserve(records: number): void {
    this.log.reserve(records);
  }

  commit(to: number, completed: Int32Array, n: number, completionRecords: number): number {
    const records = to - this.log.used;
    this.log.commitInPlace(to);
    const mine = this.completed;
    let c = this.completedCount;
    for (let i = 0; i < n; i++) mine[c++] = completed[i]!;
    this.completedCount = c;
    this.events += records - completionRecords;
    return n;
  }

  records(bytes: Uint8Array, words: Uint32Array, f64: Float64Array, from: number, to: number): number {
    this.log.appendRecords(bytes, from, to);
    const completed = this.completed;
    const before = this.completedCount;
    let n = before;
    let events = 0;
    for (let r = from; r < to; r++) {
      if (isEvent(words, r)) events++;
      if (endsCommand(words, r)) completed[n++] = f64[r * EVENT_F64S + EV_F64_SEQ]!;
    }
    this.completedCount = n;
    this.events += events;
    return n - before;
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
    // Written now so its pages are mapped before the start line, not on a command's first send (see EventLog).
    this.#sendTime = new Float64Array(workloadCount).fill(0);
    this.#onProgress = onProgress;
  }

  /** Stream positions [from, to) in closed loop, latencies into `latencies`. */
  closed(from: number, to: number, latencies: LatencyRecorder): LoopStats {
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
        completed += this.#settle(now, latencies);
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
   * interval of 0 everything is due at once: how most of the open-loop warm-up goes).
   */
  open(from: number, to: number, t0: number, intervalNs: number, phase: number, latencies: LatencyRecorder): LoopStats {
    const producer = this.#producer;
    const sink = this.#sink;
    const total = to - from;
    let next = from;
    let completed = 0;
    let lastCompletionNs = 0;
    while (completed < total) {
      const now = nowNs();
      if (sink.completedCount > 0) {
        lastCompletionNs = now;
        completed += this.#settle(now, latencies);
      }
      const submittedTo = this.#submitDue(next, to, from, t0, intervalNs, phase, now);
      if (submittedTo > next) {
        next = submittedTo;
        producer.flush();
      }
      producer.poll(sink);
      // Nothing in flight and nothing delivered awaiting its timestamp: wait for the next due time without the clock.
      const idleNs = next < to ? t0 + (next - from + phase) * intervalNs - now : 0;
      if (idleNs > 0 && sink.completedCount === 0 && next - from === completed) spinFor(idleNs > WHOLE_SPIN_NS ? idleNs / 2 : idleNs);
    }
    return { lastCompletionNs };
  }

  /**
   * Submits stream positions from `next` on that are due by `now`, until one is not or the design refuses one;
   * returns the position after the last submitted. A method of its own so that `open` has a single loop: code for
   * one long call comes from on-stack replacement, and OSR code entered in an inner loop deopts each time that loop
   * exits (measured: ~100 deopts inside the timed part of a 500 K/s run).
   */
  #submitDue(next: number, to: number, from: number, t0: number, intervalNs: number, phase: number, now: number): number {
    const producer = this.#producer;
    const stream = this.#stream;
    const sendTime = this.#sendTime;
    while (next < to) {
      const due = t0 + (next - from + phase) * intervalNs;
      if (due > now) break;
      const index = stream[next]!;
      if (!producer.trySubmit(index)) break;
      sendTime[index] = due;
      next++;
    }
    return next;
  }

  /**
   * Records the latency of every completion of the last poll; returns how many there were. Completions sent in one
   * turn share their send time (a closed-loop burst: up to BURST commands), so they share their latency too: each run
   * of them is recorded once with its count, which is the same to the histogram as one record per command and saved
   * ~20 ns a command (measured: a closed-loop `inline` burst of 32 paid 32 slot increments for one value).
   */
  #settle(now: number, latencies: LatencyRecorder): number {
    const sink = this.#sink;
    const n = sink.completedCount;
    const sendTime = this.#sendTime;
    const completed = sink.completed;
    let k = 0;
    while (k < n) {
      const sent = sendTime[completed[k]!]!;
      let same = k + 1;
      while (same < n && sendTime[completed[same]!] === sent) same++;
      const latency = now - sent;
      latencies.recordMany(latency > 0 ? Math.round(latency) : 0, same - k);
      k = same;
    }
    sink.completedCount = 0;
    this.#completedTotal += n;
    this.#onProgress(this.#completedTotal);
    return n;
  }
}
