/**
 * The `Engine` interface every concurrent design implements: how commands from P producer threads reach one
 * matching core (or K of them) and how their events come back. The designs differ only in that path; all of them
 * wrap the same fast core, so a difference in the figures is a difference in the mechanism.
 *
 * A design has two halves, in the style of the Disruptor's WaitStrategy (one small interface, one small class per
 * trade-off):
 *
 *   main thread                                   producer thread p (one per producer)
 *   ───────────                                   ───────────────────────────────────
 *   design.start(options) ──► EngineSession       design.connect(init, workload)
 *     allocates shared memory (every core lives     ──► Producer
 *     in a SharedArrayBuffer the main thread          trySubmit(recordIndex)  false = back-pressure, try later
 *     made), starts engine workers                    poll(sink)              events + one completion per command
 *   session.producerInit(p) ──(postMessage)──►        flush()                 push out what trySubmit held back
 *   ... producers submit every command and see every completion ...
 *   session.sequences()   the order(s) the commands were processed in      ┐ read while the engine is idle
 *   session.cores()       this thread's views of each sequencer's core     ┘ (every submitted command completed)
 *   session.sequenceLogs()  the same logs, read live by a journaller
 *   session.close()
 *
 * Rules every design keeps (the harness and the equivalence checker rely on them):
 * - An event's `seq` is the command's index in the workload, so with one producer the events equal the reference
 *   engine's for the workload itself.
 * - A producer receives exactly the events of the commands it submitted, each command's events in the order the
 *   core emitted them and followed by one `complete(recordIndex)`; a command's events never interleave with
 *   another's (they may span several polls).
 * - Each producer's commands are processed in the order that producer submitted them.
 * - Every sequencer (whoever owns a book and decides the order) records the workload indexes it processed, in
 *   order: one sequence for single-book designs, K for `sharded`.
 * - Every core is a FastCore in a SharedArrayBuffer allocated by `start`, so the main thread can hash and inspect
 *   the books once the engine is idle, whatever thread ran them.
 * - Nothing on the hot path allocates per command (channel's postMessage allocates per batch: that is its trade-off).
 */
import type { Transferable } from 'node:worker_threads';
import type { FastCore } from './fast-core.ts';
import type { FastEngineCapacities } from './fast.ts';
import type { SequenceLog } from './sequence-log.ts';

/** The workload as every thread sees it: the symbol table plus the 40-byte command records in shared memory. */
export interface SharedWorkload {
  readonly symbols: readonly string[];
  /** count × RECORD_BYTES bytes (workloads/workload.ts). */
  readonly records: SharedArrayBuffer;
  readonly count: number;
}

export type ParamValue = number | string;
export type ParamValues = Readonly<Record<string, ParamValue>>;

/** One tunable of a design, documented where it is declared (engines/designs.ts prints these for --help). */
export interface ParamSpec {
  readonly name: string;
  readonly doc: string;
  readonly default: ParamValue;
  /** For a string parameter, the values it accepts; absent for integers. */
  readonly choices?: readonly string[];
  /** For an integer parameter, its inclusive bounds. */
  readonly min?: number;
  readonly max?: number;
  /** The integer must be a power of two (ring sizes). */
  readonly powerOfTwo?: boolean;
}

export interface EngineOptions {
  readonly workload: SharedWorkload;
  /** Producer threads that will connect, each with its own init. */
  readonly producers: number;
  /** Every parameter of the design, resolved and validated (resolveParams in engines/designs.ts). */
  readonly params: ParamValues;
  /** Capacities of each core (every sequencer gets a core this size) and the most events one command may emit. */
  readonly capacities: FastEngineCapacities;
}

/** What a design recorded: the order it processed commands in, and the state it ended in. */
export interface SequencedRun {
  /** Workload indexes in processing order, one array per sequencer (K for sharded, else 1). */
  readonly sequences: readonly Int32Array[];
  /** Final canonical book hash of each sequencer's book, same order as `sequences`. */
  readonly bookHashes: readonly string[];
}

/** A cloneable producer init plus what must be transferred with it (MessagePorts). */
export interface ProducerInit {
  readonly init: unknown;
  readonly transfer: readonly Transferable[];
}

/** One input ring of a design, as a gauge: how many of its slots hold commands the engine has not taken yet. */
export interface InputRing {
  readonly name: string;
  readonly slots: number;
  used(): number;
}

/** The main-thread half of a started design. */
export interface EngineSession {
  /** The init producer `p` (0-based) hands to its design's `connect`. Called once per producer. */
  producerInit(p: number): ProducerInit;
  /** Workload indexes each sequencer processed so far, in order (copies). Read only while the engine is idle. */
  sequences(): readonly Int32Array[];
  /**
   * This thread's views of each sequencer's log, in the order of `sequences()`: a journaller reads them while the
   * engine runs, after `publishForJournal()` on each (engines/sequence-log.ts), called before any command is submitted.
   */
  sequenceLogs(): readonly SequenceLog[];
  /** This thread's views of each sequencer's core, in the order of `sequences()`. Read only while idle. */
  cores(): readonly FastCore[];
  /** Registers a listener for a failure inside the design (an engine worker that threw or exited early). */
  onError(listener: (error: Error) => void): void;
  /**
   * The design's shared-memory input rings, for an occupancy gauge (`serve`'s /metrics); absent for designs whose
   * input is no ring (inline runs on the producer's thread, mutex takes a lock, channel posts messages).
   */
  inputRings?(): readonly InputRing[];
  /** Stops every worker the design started. Safe to call twice, and after a failure. */
  close(): Promise<void>;
}

/**
 * Receives what `Producer.poll` delivers: event records (engines/event-record.ts) and completion records, each
 * command's events in order, ended by a flag on the last or by a completion record after them (engines/
 * completion-record.ts). Implemented by the harness; designs only call
 * it. A design hands over the records that lie next to each other in one buffer in one call (a whole output region,
 * a ring up to its wrap, a message), so the harness's event log copies a poll's records in one go rather than one
 * call and seven stores per record; a sink that works a record at a time wraps a RecordVisitor
 * (engines/record-visitor.ts).
 */
export interface EventSink {
  /**
   * Records [from, to) of a buffer viewed as bytes, u32 words and f64s (the same memory, record 0 at index 0).
   * Only valid during the call: copy what you keep. Returns how many commands they end (endsCommand).
   */
  records(bytes: Uint8Array, words: Uint32Array, f64: Float64Array, from: number, to: number): number;
  /**
   * The sink's own record storage, lent to a producer that runs the core on its own thread (inline, mutex:
   * engines/core-output.ts), whose core then writes its events there in place: nothing is copied and no record is
   * scanned for completions. Null for a sink that only takes copies through `records`.
   */
  readonly storage: EventStorage | null;
}

/**
 * Record storage written in place (EventSink.storage): `buffer` from record `used` on, up to the buffer's end (at
 * least `records` of them after `reserve(records)`), then handed over by `commit`. The producer re-reads `buffer`
 * after every `reserve` (it changes when the storage starts a new one) and writes nothing between a `commit` and the
 * next `reserve`.
 */
export interface EventStorage {
  /** The buffer being written. */
  readonly buffer: ArrayBuffer;
  /** Index of its first record not yet committed: where the next record goes. */
  readonly used: number;
  /** Makes room for at least `records` records from `used` on (starting a new buffer when this one is short of it). */
  reserve(records: number): void;
  /**
   * Takes records [used, to) of `buffer`, written in place, as delivered (what `records` would have been given);
   * `completed[0, n)` are the workload indexes of the commands they end (engines/completion-record.ts), in order,
   * and `completionRecords` of them are completion records (the rest are events). Returns n.
   */
  commit(to: number, completed: Int32Array, n: number, completionRecords: number): number;
}

/** The producer-thread half of a design. */
export interface Producer {
  /**
   * Submits workload record `recordIndex`; false when the design cannot take it now (ring full, window full,
   * output not yet polled). Never waits for the engine, except `mutex`, whose producers wait for the lock.
   */
  trySubmit(recordIndex: number): boolean;
  /** Delivers every event and completion that has arrived; returns the number of completions delivered. */
  poll(sink: EventSink): number;
  /** Sends anything `trySubmit` accepted but held back (a partial batch). The harness calls it when it pauses. */
  flush(): void;
  /** Releases this producer's resources; the session is still closed by the main thread. */
  close(): void;
}

/** Builds the producer half inside a producer thread from the init `EngineSession.producerInit` made. */
export type ConnectProducer = (init: unknown, workload: SharedWorkload) => Producer;

export interface EngineDesign {
  readonly name: string;
  /** One line: what this design trades for what. */
  readonly tradeOff: string;
  readonly params: readonly ParamSpec[];
  /** The most producer threads this design supports with these parameters (1 for inline). */
  maxProducers(params: ParamValues): number;
  /** The producer half; a producer thread finds it through the registry (engines/designs.ts) by name. */
  readonly connect: ConnectProducer;
  /** Allocates the design's shared memory and starts its workers; producers may submit at once (rings buffer). */
  start(options: EngineOptions): EngineSession;
}
