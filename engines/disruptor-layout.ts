/**
 * The shared buffer of the `disruptor` design (engines/disruptor.ts), described once. Regions in order, each on a
 * 128-byte boundary (RegionAllocator):
 *
 *   +-----------------+--------------------+---------------------+-----+---------------------+------+--------------+
 *   | input ring      | input slot tags    | output ring 0       | ... | output ring P-1     | core | sequence log |
 *   | MPSC, R slots   | i32 × 2 × R:       | SPSC, O slots of    |     |                     |      |              |
 *   | of 40 B (one    | (workload index,   | 48 B event records  |     |                     |      |              |
 *   | command record) |  producer) per slot| (engine → producer) |     |                     |      |              |
 *   +-----------------+--------------------+---------------------+-----+---------------------+------+--------------+
 *
 * A slot's tag is written by the producer that claimed the slot, before it publishes the slot, so the consumer
 * reads the tag under the same publication as the record. Layouts of the rings themselves: shared/mpsc-ring-layout.ts
 * and shared/spsc-ring-layout.ts.
 */
import { EVENT_BYTES } from './event-record.ts';
import { bytesFor } from './fast-core-layout.ts';
import { sequenceLogBytes } from './sequence-log.ts';
import { mpscRingBytes } from './shared/mpsc-ring-layout.ts';
import { spscRingBytes } from './shared/spsc-ring-layout.ts';
import { RegionAllocator } from './shared/layout.ts';
import type { FastCoreCapacities } from './fast-core-layout.ts';
import { RECORD_BYTES } from '../workloads/workload.ts';

export const TAG_WORDS = 2;
export const TAG_INDEX = 0;
export const TAG_PRODUCER = 1;

export interface DisruptorLayout {
  readonly buffer: SharedArrayBuffer;
  readonly inputAt: number;
  readonly inputSlots: number;
  readonly tagsAt: number;
  readonly outputAt: readonly number[];
  readonly outputSlots: number;
  readonly coreAt: number;
  readonly sequenceAt: number;
  readonly sequenceCapacity: number;
}

export function allocateDisruptor(producers: number, inputSlots: number, outputSlots: number, capacities: FastCoreCapacities, commands: number): DisruptorLayout {
  const regions = new RegionAllocator();
  const inputAt = regions.reserve('input ring', mpscRingBytes(inputSlots, RECORD_BYTES));
  const tagsAt = regions.reserve('input slot tags', 4 * TAG_WORDS * inputSlots);
  const outputAt = Array.from({ length: producers }, (_, p) => regions.reserve(`output ring ${p}`, spscRingBytes(outputSlots, EVENT_BYTES)));
  const coreAt = regions.reserve('core', bytesFor(capacities));
  const sequenceAt = regions.reserve('sequence log', sequenceLogBytes(commands));
  return { buffer: regions.createBuffer(), inputAt, inputSlots, tagsAt, outputAt, outputSlots, coreAt, sequenceAt, sequenceCapacity: commands };
}
