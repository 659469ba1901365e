/**
 * Any concurrent design seen as a `BookEngine`: one producer, driven from the calling thread, one command at a
 * time — submit, then poll until that command's completion arrives. This is how the engine contract (the scenario
 * suite) runs against every design: the same assertions, through the design's real path (its rings, messages,
 * locks and engine workers), with the book read back from the design's shared-memory cores.
 *
 * Slow by construction (a full round trip per command) and for tests and tools only. Commands are appended to a
 * shared record buffer of fixed capacity, encoded exactly as WorkloadBuilder encodes them; the event `seq` the
 * design reports (the record index) is checked and replaced by the `seq` the caller passed.
 */
import { decodeEventRecord } from '../engines/event-record.ts';
import { bookHashOfCores, l2OfCores } from '../engines/core-inspect.ts';
import type { EngineDesign, EngineSession, ParamValues, Producer, SharedWorkload } from '../engines/engine.ts';
import { perRecord, type RecordVisitor } from '../engines/record-visitor.ts';
import { FastCore } from '../engines/fast-core.ts';
import { defaultLadderTicks, type FastEngineCapacities } from '../engines/fast.ts';
import type { BookEngine, Command, L2Snapshot, MatchEvent } from '../engines/types.ts';
import { limitsFor, nameOrder, resolveRisk, type RiskRules } from '../risk/rules.ts';
import {
  F64_ID, F64_OWNER, F64_PRICE, F64_QTY, OFF_OP, OFF_SIDE, OFF_SYM, OFF_TIF, OFF_TYPE, RECORD_BYTES, RECORD_F64S, WorkloadBuilder,
} from '../workloads/workload.ts';

export interface SyncDesignOptions {
  /** Commands this adapter can take in its lifetime (the record buffer's size). */
  readonly maxCommands?: number;
  readonly maxSymbols?: number;
  readonly maxOrders?: number;
  /** How long one command may take to complete before process() throws. */
  readonly timeoutMs?: number;
  /** Risk rules and breaker for the design's cores (risk/rules.ts); none by default. */
  readonly risk?: RiskRules | null;
}

/** A WorkloadBuilder that also writes every record it encodes into a shared record buffer, at the same index. */
class MirroringBuilder extends WorkloadBuilder {
  readonly #bytes: Uint8Array;
  readonly #words: Uint32Array;
  readonly #f64: Float64Array;

  constructor(records: SharedArrayBuffer) {
    super();
    this.#bytes = new Uint8Array(records);
    this.#words = new Uint32Array(records);
    this.#f64 = new Float64Array(records);
  }

  override addRaw(op: number, symIndex: number, id: number, side: number, type: number, tif: number, price: number, qty: number, owner: number): void {
    const i = this.count;
    if ((i + 1) * RECORD_BYTES > this.#bytes.length) {
      throw new Error(`sync design adapter: command ${i + 1} exceeds its capacity of ${this.#bytes.length / RECORD_BYTES} commands`);
    }
    super.addRaw(op, symIndex, id, side, type, tif, price, qty, owner);
    const b = i * RECORD_BYTES;
    this.#bytes[b + OFF_OP] = op;
    this.#bytes[b + OFF_SIDE] = side;
    this.#bytes[b + OFF_TYPE] = type;
    this.#bytes[b + OFF_TIF] = tif;
    this.#words[(b + OFF_SYM) >> 2] = symIndex;
    const f = i * RECORD_F64S;
    this.#f64[f + F64_ID] = id;
    this.#f64[f + F64_PRICE] = price;
    this.#f64[f + F64_QTY] = qty;
    this.#f64[f + F64_OWNER] = owner;
  }
}

/** Collects one command's events as objects. */
class CollectingSink implements RecordVisitor {
  readonly events: MatchEvent[] = [];
  completed = -1;
  readonly #symbols: readonly string[];

  constructor(symbols: readonly string[]) {
    this.#symbols = symbols;
  }

  event(words: Uint32Array, f64: Float64Array, record: number): void {
    const bytes = new Uint8Array(words.buffer, words.byteOffset, words.length * 4);
    this.events.push(decodeEventRecord(bytes, words, f64, record, this.#symbols));
  }

  complete(recordIndex: number): void {
    if (this.completed !== -1) throw new Error(`sync design adapter: completion of ${recordIndex} after that of ${this.completed} in one round trip`);
    this.completed = recordIndex;
  }
}

export class SyncDesignAdapter implements BookEngine {
  readonly name: string;
  readonly #session: EngineSession;
  readonly #producer: Producer;
  readonly #records: SharedArrayBuffer;
  #builder: MirroringBuilder;
  readonly #symbols: string[] = [];
  /** Commands submitted over the adapter's life (across resets): the design's sequence logs hold maxCommands. */
  #lifetimeCommands = 0;
  readonly #maxCommands: number;
  readonly #timeoutMs: number;
  #closed = false;
  #failure: Error | null = null;
  readonly #rules: RiskRules | null;

  constructor(design: EngineDesign, params: ParamValues, options: SyncDesignOptions = {}) {
    const maxCommands = options.maxCommands ?? 4096;
    const maxSymbols = options.maxSymbols ?? 64;
    const maxOrders = options.maxOrders ?? 4096;
    this.name = design.name;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    const records = new SharedArrayBuffer(maxCommands * RECORD_BYTES);
    this.#records = records;
    this.#maxCommands = maxCommands;
    this.#builder = new MirroringBuilder(records);
    const workload: SharedWorkload = { symbols: this.#symbols, records, count: maxCommands };
    this.#rules = options.risk ?? null;
    const capacities: FastEngineCapacities = {
      maxOrders, maxSymbols, ladderTicks: defaultLadderTicks(maxSymbols), maxEventsPerCommand: maxOrders + 2,
      // Symbols arrive one by one: every index starts with "*", and process() sets a named symbol's own limits.
      ...(this.#rules === null ? {} : { risk: resolveRisk(this.#rules, []) }),
    };
    this.#session = design.start({ workload, producers: 1, params, capacities });
    this.#session.onError((error) => { this.#failure ??= error; });
    const { init } = this.#session.producerInit(0);
    this.#producer = design.connect(init, workload);
  }

  process(command: Command, seq: number, emit: (event: MatchEvent) => void): void {
    if (this.#closed) throw new Error(`${this.name} adapter: process() after close()`);
    if (command.op !== 'clock' && this.#symbols.length === this.#builder.intern(command.sym)) {
      this.#symbols.push(command.sym);
      // Between commands the design is idle, so the main thread may write a core's limits.
      if (this.#rules !== null) for (const core of this.#session.cores()) core.setSymbolLimits(this.#symbols.length - 1, limitsFor(this.#rules, command.sym), nameOrder(this.#symbols));
    }
    if (this.#lifetimeCommands === this.#maxCommands) {
      throw new Error(`${this.name} adapter: ${this.#maxCommands} commands submitted over its life (resets included), its capacity`);
    }
    const index = this.#builder.count;
    this.#builder.add(command);
    this.#lifetimeCommands++;
    const collected = new CollectingSink(this.#symbols);
    const sink = perRecord(collected);
    const deadline = performance.now() + this.#timeoutMs;
    let submitted = false;
    while (collected.completed === -1) {
      if (!submitted) {
        submitted = this.#producer.trySubmit(index);
        if (submitted) this.#producer.flush();
      }
      this.#producer.poll(sink);
      if (this.#failure !== null) throw this.#failure;
      if (performance.now() > deadline) {
        // Engine worker errors arrive through this thread's event loop, which this loop blocks: they surface on
        // the next call or in close().
        throw new Error(`${this.name} adapter: command ${index} did not complete within ${this.#timeoutMs} ms`);
      }
    }
    if (collected.completed !== index) throw new Error(`${this.name} adapter: expected the completion of command ${index}, got ${collected.completed}`);
    for (const event of collected.events) {
      if (event.seq !== index) throw new Error(`${this.name} adapter: command ${index} produced an event with seq ${event.seq}`);
      emit({ ...event, seq });
    }
  }

  bookHash(): string {
    return bookHashOfCores(this.#session.cores(), this.#symbols);
  }

  l2(sym: string, depth: number): L2Snapshot {
    const index = this.#symbols.indexOf(sym);
    return index < 0 ? { bids: [], asks: [] } : l2OfCores(this.#session.cores(), index, depth);
  }

  /** The order the design processed commands in, per sequencer (record indexes = 0-based command count). */
  sequences(): readonly Int32Array[] {
    return this.#session.sequences();
  }

  /**
   * Empties every book so the adapter (and its running design) can serve as a fresh engine: reinitialises each
   * core in place, which the engine threads see through their own views of the same memory, and restarts the
   * command numbering and symbol table. Only while idle, which an adapter always is between calls.
   */
  reset(): void {
    if (this.#closed) throw new Error(`${this.name} adapter: reset() after close()`);
    for (const core of this.#session.cores()) FastCore.create(core.capacities, core.buffer, core.byteOffset);
    this.#builder = new MirroringBuilder(this.#records);
    this.#symbols.length = 0;
  }

  /** Stops the design; rejects with the first failure an engine worker reported, if any. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#producer.close();
    await this.#session.close();
    if (this.#failure !== null) throw this.#failure;
  }
}
