/**
 * Which owner each order resting through the HTTP gateway belongs to, kept from the events the gateway's own
 * commands return, so that with API keys (server/api-keys.ts) a key can cancel, reduce or modify only its owner's
 * orders: another owner's order is answered as if it did not exist (`unknown_order`), and the command never
 * reaches the engine, so nobody can probe another owner's ids.
 *
 * Kept: an order's owner and remaining quantity from its `rested` event; fills against it as maker, `reduced`,
 * `modified` and `cancelled` events update or drop it. Limit, said plainly: the gateway sees only the events of
 * commands sent through it, so a fill by a binary-protocol client's taker is not seen, and the entry of an order
 * filled that way stays until its id rests again (then it takes the new owner): such a stale entry can only refuse
 * a command the engine would have answered `unknown_order` anyway.
 */
import type { MatchEvent } from '../engines/types.ts';

interface Resting {
  owner: number;
  qty: number;
}

export class OrderOwners {
  readonly #orders = new Map<string, Resting>();

  get size(): number {
    return this.#orders.size;
  }

  /** The owner of order `id` on `sym`, or undefined when the gateway knows of no such order. */
  ownerOf(sym: string, id: number): number | undefined {
    return this.#orders.get(`${sym}\u0000${id}`)?.owner;
  }

  /** Takes in the events of a command sent by `owner`. */
  observe(owner: number, events: readonly MatchEvent[]): void {
    for (const e of events) {
      switch (e.ev) {
        case 'rested':
          this.#orders.set(`${e.sym}\u0000${e.id}`, { owner, qty: e.qty });
          break;
        case 'fill': {
          const key = `${e.sym}\u0000${e.maker}`;
          const maker = this.#orders.get(key);
          if (maker !== undefined && (maker.qty -= e.qty) <= 0) this.#orders.delete(key);
          break;
        }
        case 'reduced':
        case 'modified': {
          const order = this.#orders.get(`${e.sym}\u0000${e.id}`);
          if (order !== undefined) order.qty = e.qty;
          break;
        }
        case 'cancelled':
          this.#orders.delete(`${e.sym}\u0000${e.id}`);
          break;
        case 'rejected':
          break;
      }
    }
  }
}
