/**
 * How a workload is divided among P producers: a deterministic rule that gives each command to one producer and
 * keeps each producer's commands in workload order. With P > 1 the outcome depends on how the producers interleave;
 * that is allowed, because the equivalence check replays the order the design actually recorded.
 *
 * - `order` (default): command i goes to producer hash(symbol, order id) mod P. All commands about one order (its
 *   new, cancels, reduces, modifies) stay in one producer, in order, so a cancel never overtakes its order; orders
 *   of one symbol still interleave across producers. Even shares, one-symbol workloads (LOBSTER) included.
 * - `symbol`: command i goes to producer (symbol index mod P). Every book sees exactly the workload's order, but a
 *   skewed workload loads producers unevenly, and a one-symbol workload uses one producer.
 * - `round-robin`: command i goes to producer i mod P. The most interleaving: a cancel can overtake its order and be
 *   rejected, leaving the order to rest, so books grow beyond anything the workload order reaches (the harness sizes
 *   the core for it: harness/capacity.ts).
 */
import type { SplitRule } from './results-schema.ts';
import { F64_ID, OFF_SYM, RECORD_BYTES, RECORD_F64S } from '../workloads/workload.ts';

export const SPLIT_RULES: readonly SplitRule[] = ['order', 'symbol', 'round-robin'];

export interface WorkloadSplit {
  readonly rule: SplitRule;
  readonly producers: number;
  /** producerOf[i] = the producer that submits command i. */
  readonly producerOf: Uint8Array;
  /** streams[p] = the workload indexes producer p submits, in order. */
  readonly streams: readonly Int32Array[];
}

/** Largest producer count a split supports (producerOf is a byte per command). */
export const MAX_PRODUCERS = 255;

const TWO_32 = 4294967296;

/** A well-mixed 32-bit hash of (symbol index, order id); ids are any safe integers, so both halves count. */
function orderHash(sym: number, id: number): number {
  let h = Math.imul((id >>> 0) ^ Math.imul(sym, 0x9e3779b1), 0x85ebca6b) ^ Math.imul((id / TWO_32) | 0, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  return h >>> 0;
}

export function splitWorkload(records: ArrayBufferLike, count: number, producers: number, rule: SplitRule): WorkloadSplit {
  if (!Number.isInteger(producers) || producers < 1 || producers > MAX_PRODUCERS) {
    throw new Error(`producers = ${producers}: must be an integer in 1 … ${MAX_PRODUCERS}`);
  }
  const words = new Uint32Array(records, 0, (count * RECORD_BYTES) / 4);
  const f64 = new Float64Array(records, 0, count * RECORD_F64S);
  const producerOf = new Uint8Array(count);
  const sizes = new Int32Array(producers);
  for (let i = 0; i < count; i++) {
    const sym = words[(i * RECORD_BYTES + OFF_SYM) >> 2]!;
    // A malformed id (NaN, fractional) hashes like any other number: it is still one command of one producer.
    const p = rule === 'round-robin' ? i % producers
      : rule === 'symbol' ? sym % producers
      : orderHash(sym, f64[i * RECORD_F64S + F64_ID]!) % producers;
    producerOf[i] = p;
    sizes[p]!++;
  }
  const streams = Array.from(sizes, (n) => new Int32Array(n));
  const fill = new Int32Array(producers);
  for (let i = 0; i < count; i++) {
    const p = producerOf[i]!;
    streams[p]![fill[p]!++] = i;
  }
  return { rule, producers, producerOf, streams };
}

export function parseSplitRule(value: string, where: string): SplitRule {
  if ((SPLIT_RULES as readonly string[]).includes(value)) return value as SplitRule;
  throw new Error(`${where}: split rule ${JSON.stringify(value)} is not one of ${SPLIT_RULES.join(', ')}`);
}
