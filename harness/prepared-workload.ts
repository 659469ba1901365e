/**
 * A workload made ready for a run: its records copied once into a SharedArrayBuffer that every producer and engine
 * thread views without copying, its content hash (the identity results files record), and the fast-core
 * capacities it needs.
 */
import { createHash } from 'node:crypto';
import type { SharedWorkload } from '../engines/engine.ts';
import { capacitiesForWorkload, type FastEngineCapacities } from '../engines/fast.ts';
import { generateWorkload } from '../workloads/generator.ts';
import { Workload } from '../workloads/workload.ts';
import type { WorkloadIdentity, WorkloadSource } from './results-schema.ts';

export interface PreparedWorkload {
  /** The main thread's view (over the shared records). */
  readonly workload: Workload;
  readonly shared: SharedWorkload;
  readonly identity: WorkloadIdentity;
  readonly capacities: FastEngineCapacities;
}

/** sha256 (hex) over the symbol table (JSON) and the raw records. */
export function workloadHash(workload: Workload): string {
  const hash = createHash('sha256');
  hash.update(JSON.stringify(workload.symbols));
  hash.update(workload.bytes);
  return hash.digest('hex');
}

export function prepareWorkload(workload: Workload, id: string, name: string, source: WorkloadSource): PreparedWorkload {
  const records = new SharedArrayBuffer(workload.records.byteLength);
  new Uint8Array(records).set(workload.bytes);
  // Workload types its buffer as ArrayBuffer; it only builds typed-array views over it, which a SAB supports.
  const onShared = new Workload(workload.symbols, records as unknown as ArrayBuffer, workload.provenance);
  const identity: WorkloadIdentity = {
    id, name, hash: workloadHash(workload), commands: workload.count, symbols: workload.symbols.length, source,
    provenance: workload.provenance,
  };
  return {
    workload: onShared,
    shared: { symbols: workload.symbols, records, count: workload.count },
    identity,
    capacities: capacitiesForWorkload(workload),
  };
}

/** A generated preset (seeded, `count` commands), prepared under `id` and recorded as its source. */
export function preparePreset(spec: { readonly preset: string; readonly seed: number; readonly count: number }, id: string = spec.preset): PreparedWorkload {
  const { preset, seed, count } = spec;
  return prepareWorkload(generateWorkload({ preset, seed, count }), id, preset, { kind: 'preset', preset, seed, count });
}
