/**
 * Copies an engine thread's records for one command (the fast core's scratch output, ended by endCommand in
 * engines/completion-record.ts) into a
 * producer's output ring, waiting for space: the one hand-back path the ring-based designs (disruptor, sharded) share.
 * Field by field rather than a byte copy, because the ring's views and the scratch views are separate typed arrays.
 */
import { EVENT_BYTES, EVENT_F64S } from '../event-record.ts';
import type { FastCore } from '../fast-core.ts';
import type { SpscRing } from '../shared/spsc-ring.ts';

/**
 * Points `core`'s event output at a thread-local scratch buffer with room for one command's events plus its
 * completion record, and returns the views deliverEvents copies from (start-up, once per engine thread).
 */
export function attachScratch(core: FastCore, maxEventsPerCommand: number): { readonly words: Uint32Array; readonly f64: Float64Array } {
  const scratch = new ArrayBuffer((maxEventsPerCommand + 1) * EVENT_BYTES);
  core.setEventOutput(scratch, 0, maxEventsPerCommand + 1);
  return { words: new Uint32Array(scratch), f64: new Float64Array(scratch) };
}

export function deliverEvents(ring: SpscRing, scratchWords: Uint32Array, scratchF64: Float64Array, count: number, engineName: string): void {
  const words = ring.words;
  const f64 = ring.f64;
  for (let e = 0; e < count; e++) {
    const offset = ring.claim();
    if (offset < 0) throw new Error(`${engineName}: an output ring was closed while the engine still had events for it`);
    const tw = offset >> 2;
    const tf = offset >> 3;
    const sw = e * (EVENT_BYTES / 4);
    const sf = e * EVENT_F64S;
    words[tw] = scratchWords[sw]!;
    words[tw + 1] = scratchWords[sw + 1]!;
    f64[tf + 1] = scratchF64[sf + 1]!;
    f64[tf + 2] = scratchF64[sf + 2]!;
    f64[tf + 3] = scratchF64[sf + 3]!;
    f64[tf + 4] = scratchF64[sf + 4]!;
    f64[tf + 5] = scratchF64[sf + 5]!;
  }
}
