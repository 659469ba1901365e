/** SPSC stress consumer: blocking reads until the producer closes the ring, verifying every message. */
import { parentPort, workerData } from 'node:worker_threads';
import { SpscRing } from '../../engines/shared/spsc-ring.ts';
import { waitStrategyByName } from '../../engines/shared/wait-strategy.ts';
import { MESSAGE_BYTES, SequenceVerifier } from './rings-messages.ts';

export interface SpscConsumerData {
  buffer: SharedArrayBuffer;
  byteOffset: number;
  slotCount: number;
  wait: string;
  count: number;
}

const data = workerData as SpscConsumerData;
const ring = new SpscRing(data.buffer, data.byteOffset, data.slotCount, MESSAGE_BYTES, waitStrategyByName(data.wait));
const verifier = new SequenceVerifier([data.count]);
for (let n = ring.waitAvailable(); n > 0; n = ring.waitAvailable()) {
  for (let k = 0; k < n; k++) verifier.accept(ring.f64, ring.slotOffset(k) / 8);
  ring.release(n);
}
parentPort!.postMessage({ report: verifier.report(), waits: ring.waits });
