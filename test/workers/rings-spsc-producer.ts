/** SPSC stress producer: sends `count` messages (producer 0) through the ring, publishing every `publishEvery`, then closes. */
import { parentPort, workerData } from 'node:worker_threads';
import { SpscRing } from '../../engines/shared/spsc-ring.ts';
import { waitStrategyByName } from '../../engines/shared/wait-strategy.ts';
import { MESSAGE_BYTES, writeMessage } from './rings-messages.ts';

export interface SpscProducerData {
  buffer: SharedArrayBuffer;
  byteOffset: number;
  slotCount: number;
  wait: string;
  count: number;
  publishEvery: number;
}

const data = workerData as SpscProducerData;
const ring = new SpscRing(data.buffer, data.byteOffset, data.slotCount, MESSAGE_BYTES, waitStrategyByName(data.wait));
for (let seq = 0; seq < data.count; seq++) {
  const offset = ring.claim();
  if (offset < 0) throw new Error(`SPSC producer: ring closed at seq ${seq}`);
  writeMessage(ring.f64, offset / 8, 0, seq);
  if ((seq + 1) % data.publishEvery === 0) ring.publish();
}
ring.publish();
ring.close();
parentPort!.postMessage({ waits: ring.waits });
