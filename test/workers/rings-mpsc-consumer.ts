/** MPSC stress consumer: blocking batched reads until the ring is closed, verifying every producer's sequence. */
import { parentPort, workerData } from 'node:worker_threads';
import { MpscRing } from '../../engines/shared/mpsc-ring.ts';
import { waitStrategyByName } from '../../engines/shared/wait-strategy.ts';
import { MESSAGE_BYTES, SequenceVerifier } from './rings-messages.ts';

export interface MpscConsumerData {
  buffer: SharedArrayBuffer;
  byteOffset: number;
  slotCount: number;
  wait: string;
  counts: number[];
  maxBatch: number;
}

const data = workerData as MpscConsumerData;
const ring = new MpscRing(data.buffer, data.byteOffset, data.slotCount, MESSAGE_BYTES, waitStrategyByName(data.wait));
const verifier = new SequenceVerifier(data.counts);
for (let n = ring.waitBatch(data.maxBatch); n > 0; n = ring.waitBatch(data.maxBatch)) {
  for (let k = 0; k < n; k++) verifier.accept(ring.f64, ring.slotOffset(k) / 8);
  ring.release(n);
}
parentPort!.postMessage({ report: verifier.report(), waits: ring.waits });
