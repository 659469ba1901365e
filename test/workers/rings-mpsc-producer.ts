/**
 * MPSC stress producer: sends `count` messages tagged `producerId`, claiming `claimSize` slots at a time with the
 * blocking claim (Atomics.add), publishing each batch at once. Does not close the ring: other producers share it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { MpscRing } from '../../engines/shared/mpsc-ring.ts';
import { waitStrategyByName } from '../../engines/shared/wait-strategy.ts';
import { MESSAGE_BYTES, writeMessage } from './rings-messages.ts';

export interface MpscProducerData {
  buffer: SharedArrayBuffer;
  byteOffset: number;
  slotCount: number;
  wait: string;
  producerId: number;
  count: number;
  claimSize: number;
}

const data = workerData as MpscProducerData;
const ring = new MpscRing(data.buffer, data.byteOffset, data.slotCount, MESSAGE_BYTES, waitStrategyByName(data.wait));
for (let seq = 0; seq < data.count;) {
  const n = Math.min(data.claimSize, data.count - seq);
  const first = ring.claim(n);
  if (first < 0) throw new Error(`MPSC producer ${data.producerId}: ring closed at seq ${seq}`);
  for (let i = 0; i < n; i++) writeMessage(ring.f64, ring.slotOffsetOf(first + i) / 8, data.producerId, seq + i);
  ring.publish(first, n);
  seq += n;
}
parentPort!.postMessage({ waits: ring.waits });
