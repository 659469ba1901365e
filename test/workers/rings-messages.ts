/**
 * Test messages for the ring stress tests and the verifier that checks them: each 48-byte message (the size of an
 * event record slot) carries (producerId, localSeq) and four payload words derived from both, so a reader that sees
 * a half-written slot (a torn read) or a slot from the previous lap gets a payload that does not match.
 */
export const MESSAGE_BYTES = 48;
const F_PRODUCER = 0;
const F_SEQ = 1;
const F_PAYLOAD = 2;
const PAYLOAD_WORDS = 4;

function payloadWord(producerId: number, seq: number, j: number): number {
  return producerId * 1_000_003 + seq * (j + 2) + j;
}

/** Writes message (producerId, seq) at f64 index `at` (a slot's byte offset / 8). */
export function writeMessage(f64: Float64Array, at: number, producerId: number, seq: number): void {
  f64[at + F_PRODUCER] = producerId;
  f64[at + F_SEQ] = seq;
  for (let j = 0; j < PAYLOAD_WORDS; j++) f64[at + F_PAYLOAD + j] = payloadWord(producerId, seq, j);
}

export interface VerifierReport {
  received: number;
  /** Messages whose localSeq was not the next one expected from their producer (duplicated, reordered or after a gap). */
  outOfOrder: number;
  /** Messages with an unknown producer or a payload that does not match their (producerId, localSeq). */
  corrupt: number;
  /** Messages each producer sent that never arrived (by the highest sequence seen in order). */
  missing: number;
  firstError: string | null;
}

/** Checks that every producer's messages arrive complete, once each, in that producer's order. */
export class SequenceVerifier {
  readonly #expected: readonly number[];
  readonly #next: number[];
  #received = 0;
  #outOfOrder = 0;
  #corrupt = 0;
  #firstError: string | null = null;

  /** @param expectedCounts messages each producer (index = producerId) sends. */
  constructor(expectedCounts: readonly number[]) {
    this.#expected = expectedCounts;
    this.#next = expectedCounts.map(() => 0);
  }

  accept(f64: Float64Array, at: number): void {
    this.#received++;
    const producerId = f64[at + F_PRODUCER]!;
    const seq = f64[at + F_SEQ]!;
    const next = this.#next[producerId];
    if (next === undefined) {
      this.#fail('corrupt', `message ${this.#received - 1}: unknown producer ${producerId} (seq ${seq})`);
      return;
    }
    for (let j = 0; j < PAYLOAD_WORDS; j++) {
      const got = f64[at + F_PAYLOAD + j]!;
      const want = payloadWord(producerId, seq, j);
      if (got !== want) {
        this.#fail('corrupt', `producer ${producerId} seq ${seq}: payload word ${j} is ${got}, expected ${want} (torn read?)`);
        return;
      }
    }
    if (seq !== next) {
      this.#fail('outOfOrder', `producer ${producerId}: got seq ${seq}, expected ${next}`);
      if (seq < next) return;
    }
    this.#next[producerId] = seq + 1;
  }

  report(): VerifierReport {
    let missing = 0;
    this.#expected.forEach((count, producerId) => {
      const got = this.#next[producerId]!;
      if (got < count) {
        missing += count - got;
        if (this.#firstError === null) this.#firstError = `producer ${producerId}: only ${got} of ${count} messages arrived`;
      }
    });
    return { received: this.#received, outOfOrder: this.#outOfOrder, corrupt: this.#corrupt, missing, firstError: this.#firstError };
  }

  #fail(kind: 'corrupt' | 'outOfOrder', message: string): void {
    if (kind === 'corrupt') this.#corrupt++;
    else this.#outOfOrder++;
    if (this.#firstError === null) this.#firstError = message;
  }
}
