/**
 * Starting a worker thread: `new Worker`, once V8's tier-up of wasm-to-JS wrappers is off for the whole process.
 * Every thread the project starts goes through here (the designs' engine workers, producers, the probe, the journal's,
 * replicator's, standby's, market data's and the server's connection threads).
 *
 * Why: each thread that loads a `.ts` module strips its types with Node's amaro, which is WebAssembly calling imported
 * JS functions. After ~1000 calls of one import V8 compiles a faster wrapper for it and frees the generic one, and
 * while other threads of the process start and end, that free sometimes fails a V8 CHECK and aborts the process:
 * SIGTRAP in `ThreadIsolation::UnregisterWasmAllocation` ← `WasmImportWrapperCache::Free` ← `WasmEngine::FreeDeadCode`
 * ← `Runtime_TierUpWasmToJSWrapper`, on a worker thread (a core dump of a test fork that vitest reported as "Worker
 * exited unexpectedly", about once per 5–10 full test suites on Node 24.21). With a budget no import reaches, the
 * generic wrappers stay and nothing is freed. Nothing measured gets slower: type stripping is start-up work, and the
 * only other Wasm (hdr-histogram-js) never calls its one import (`abort`) unless it fails.
 *
 * The flag is V8's (`node --v8-options`), which NODE_OPTIONS refuses; set at run time it applies to every Wasm
 * instance created afterwards, so to every thread started here (the main thread strips its modules before any other
 * thread exists).
 */
import { setFlagsFromString } from 'node:v8';
import { Worker, type WorkerOptions } from 'node:worker_threads';

let wrapperTierUpOff = false;

export function startThread(entry: URL | string, options: WorkerOptions): Worker {
  if (!wrapperTierUpOff) {
    setFlagsFromString(`--wasm-wrapper-tiering-budget=${2 ** 31 - 1}`);
    wrapperTierUpOff = true;
  }
  return new Worker(entry, options);
}
