/**
 * The shared buffer of the `sharded` design (engines/sharded.ts), described once. Per shard k (K shards, P
 * producers), regions in order, each on a 128-byte boundary (RegionAllocator):
 *
 *   +---------------------------+------------------------+----------------------+-------------------------+------+----------+
 *   | shard control             | input ring (p, k)      | input tags (p, k)    | output ring (k, p)      | core | sequence |
 *   | doorbell | sleepers (128) | SPSC, R slots of 40 B, | i32 × R: workload    | SPSC, O slots of 48 B,  |      | log      |
 *   | stop (128)                | for each producer p    | index per slot       | for each producer p     |      |          |
 *   +---------------------------+------------------------+----------------------+-------------------------+------+----------+
 *
 * - doorbell: bumped (Atomics.add) by a producer after every publish into any of the shard's input rings, so the
 *   shard can wait on one word for P rings; its sleeper count belongs to the wait strategy (shared/wait-strategy.ts).
 * - stop: set by the main thread to end the shard once its rings are drained.
 * - output records: engines/event-record.ts records and completions, except that a shard marks the records of its
 *   part of a clock (its events, or its completion record when it has none) with CLOCK_PART in the flags byte
 *   (byte 3, beside EV_FLAG_ENDS_COMMAND on the part's last event), so the producer can hold them back without
 *   looking the command up; the producer clears the byte before any event reaches its sink.
 * A producer writes a slot's tag before publishing the slot, so the shard reads it under the same publication.
 */
import { EVENT_BYTES } from './event-record.ts';
import { bytesFor, type FastCoreCapacities } from './fast-core-layout.ts';
import { sequenceLogBytes } from './sequence-log.ts';
import { CACHE_LINE_PAIR, RegionAllocator } from './shared/layout.ts';
import { spscRingBytes } from './shared/spsc-ring-layout.ts';
import { RECORD_BYTES } from '../workloads/workload.ts';

/** Int32 indexes in a shard's control block. */
export const SHARD_DOORBELL = 0;
export const SHARD_STOP = CACHE_LINE_PAIR / 4;
export const SHARD_CONTROL_BYTES = 2 * CACHE_LINE_PAIR;
/** The flags bit on an output record of a shard's part of a clock (engines/event-record.ts leaves it to designs). */
export const CLOCK_PART = 1;
export const CLOCK_PART_SHIFT = 24;

export interface ShardLayout {
  readonly controlAt: number;
  /** By producer. */
  readonly inputAt: readonly number[];
  readonly tagsAt: readonly number[];
  readonly outputAt: readonly number[];
  readonly coreAt: number;
  readonly sequenceAt: number;
  readonly sequenceCapacity: number;
}

export interface ShardedLayout {
  readonly buffer: SharedArrayBuffer;
  readonly shards: readonly ShardLayout[];
  readonly inputSlots: number;
  readonly outputSlots: number;
}

/** Every shard's sequence log can hold all `commands` (a skewed workload may send them all to one shard). */
export function allocateSharded(producers: number, shardCount: number, commands: number, inputSlots: number, outputSlots: number, capacities: FastCoreCapacities): ShardedLayout {
  const regions = new RegionAllocator();
  const shards = Array.from({ length: shardCount }, (_, k): ShardLayout => {
    const perProducer = (what: string, bytes: number): number[] =>
      Array.from({ length: producers }, (_, p) => regions.reserve(`shard ${k} ${what} ${p}`, bytes));
    const controlAt = regions.reserve(`shard ${k} control`, SHARD_CONTROL_BYTES);
    const inputAt = perProducer('input ring', spscRingBytes(inputSlots, RECORD_BYTES));
    const tagsAt = perProducer('input tags', 4 * inputSlots);
    const outputAt = perProducer('output ring', spscRingBytes(outputSlots, EVENT_BYTES));
    const coreAt = regions.reserve(`shard ${k} core`, bytesFor(capacities));
    const sequenceCapacity = commands;
    const sequenceAt = regions.reserve(`shard ${k} sequence log`, sequenceLogBytes(sequenceCapacity));
    return { controlAt, inputAt, tagsAt, outputAt, coreAt, sequenceAt, sequenceCapacity };
  });
  return { buffer: regions.createBuffer(), shards, inputSlots, outputSlots };
}

/** The shard that owns symbol index `sym`. */
export function shardOf(sym: number, shards: number): number {
  return sym % shards;
}
