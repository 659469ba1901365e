/**
 * The engine server's session table, in shared memory so that every connection thread sees one table: a session
 * may reconnect to any producer thread (the kernel spreads connections over the threads' listeners).
 *
 *   slot i:  key (u32 session id, 0 = free) · busy (i32: 1 while a connection holds the session) ·
 *            last applied client sequence (f64)
 *
 * Open addressing with linear probing; a slot is claimed with a compare-and-exchange on its key and never freed
 * (sessions live as long as the engine state they describe). `acquire` takes the busy flag with a
 * compare-and-exchange, so exactly one connection at a time owns a session; only the owner writes its last applied
 * sequence, and the flag's atomics order those plain writes for the next owner. The table is engine state: built
 * from recovery (journal/recovery.ts sessions) before any connection, and written back into snapshots.
 */
export const DEFAULT_SESSION_SLOTS = 1 << 16;

export interface SessionTableBuffers {
  readonly keys: SharedArrayBuffer;
  readonly busy: SharedArrayBuffer;
  readonly lastApplied: SharedArrayBuffer;
}

export class SessionTable {
  readonly buffers: SessionTableBuffers;
  readonly #keys: Uint32Array;
  readonly #busy: Int32Array;
  readonly #lastApplied: Float64Array;
  readonly #mask: number;

  private constructor(buffers: SessionTableBuffers) {
    this.buffers = buffers;
    this.#keys = new Uint32Array(buffers.keys);
    this.#busy = new Int32Array(buffers.busy);
    this.#lastApplied = new Float64Array(buffers.lastApplied);
    this.#mask = this.#keys.length - 1;
  }

  static create(slots = DEFAULT_SESSION_SLOTS): SessionTable {
    if (!(slots >= 2 && (slots & (slots - 1)) === 0)) throw new Error(`session table: ${slots} slots is not a power of two >= 2`);
    return new SessionTable({ keys: new SharedArrayBuffer(4 * slots), busy: new SharedArrayBuffer(4 * slots), lastApplied: new SharedArrayBuffer(8 * slots) });
  }

  static attach(buffers: SessionTableBuffers): SessionTable {
    return new SessionTable(buffers);
  }

  /** The slot of `session`, claimed if new; throws when the table is full. */
  slotOf(session: number): number {
    const keys = this.#keys;
    let i = Math.imul(session, 0x9e3779b1) >>> 0 & this.#mask;
    for (let probe = 0; probe <= this.#mask; probe++, i = (i + 1) & this.#mask) {
      const key = Atomics.load(keys, i);
      if (key === session) return i;
      if (key === 0 && Atomics.compareExchange(keys, i, 0, session) === 0) return i;
      if (Atomics.load(keys, i) === session) return i;
    }
    throw new Error(`session table full: ${keys.length} sessions; session ${session} cannot be opened`);
  }

  /** Takes the session for one connection; false when another connection holds it. */
  acquire(slot: number): boolean {
    return Atomics.compareExchange(this.#busy, slot, 0, 1) === 0;
  }

  release(slot: number): void {
    Atomics.store(this.#busy, slot, 0);
  }

  lastApplied(slot: number): number {
    return this.#lastApplied[slot]!;
  }

  /** Only by the connection holding the session (or before any connection exists). */
  setLastApplied(slot: number, clientSequence: number): void {
    this.#lastApplied[slot] = clientSequence;
  }

  /** Every session and its last applied sequence (read while no connection writes: at a snapshot). */
  entries(): Map<number, number> {
    const out = new Map<number, number>();
    for (let i = 0; i <= this.#mask; i++) {
      const key = Atomics.load(this.#keys, i);
      if (key !== 0) out.set(key, this.#lastApplied[i]!);
    }
    return out;
  }
}
