/**
 * What the reference engine does with one recorded sequence: its events as 48-byte event records (the format the
 * designs deliver, so the checker compares record with record), where each position's events start, and the final
 * book hash. Replaying is the slow part of a check, so traces are cached: a one-producer run records the workload
 * order every time, and its trace is computed once per workload.
 */
import { ReferenceEngine } from '../engines/reference.ts';
import { encodeEventRecord, EVENT_BYTES } from '../engines/event-record.ts';
import type { MatchEvent } from '../engines/types.ts';
import type { Workload } from '../workloads/workload.ts';
import type { RiskRules } from '../risk/rules.ts';
import { NO_SYMBOL } from '../workloads/workload.ts';

export interface ReferenceTrace {
  /** The sequence this trace replays. */
  readonly sequence: Int32Array;
  readonly words: Uint32Array;
  readonly f64: Float64Array;
  readonly bytes: Uint8Array;
  /** Events of sequence position j are records eventStart[j] … eventStart[j + 1] - 1. */
  readonly eventStart: Int32Array;
  readonly events: number;
  readonly bookHash: string;
}

/** Replays `sequence` (workload indexes) through a fresh reference engine applying `rules`. */
export function referenceTrace(workload: Workload, sequence: Int32Array, rules: RiskRules | null = null): ReferenceTrace {
  const symbolIndex = new Map<string, number>();
  workload.symbols.forEach((s, i) => symbolIndex.set(s, i));
  let buffer = new ArrayBuffer(Math.max(1024, sequence.length * 2) * EVENT_BYTES);
  let bytes = new Uint8Array(buffer);
  let words = new Uint32Array(buffer);
  let f64 = new Float64Array(buffer);
  let n = 0;
  const emit = (e: MatchEvent): void => {
    if (n * EVENT_BYTES === buffer.byteLength) {
      const next = new ArrayBuffer(buffer.byteLength * 2);
      new Uint8Array(next).set(bytes);
      buffer = next;
      bytes = new Uint8Array(next);
      words = new Uint32Array(next);
      f64 = new Float64Array(next);
    }
    const sym = e.sym === '' ? NO_SYMBOL : symbolIndex.get(e.sym);
    if (sym === undefined) throw new Error(`reference engine emitted symbol ${JSON.stringify(e.sym)}, which is not in the workload's table`);
    encodeEventRecord(bytes, words, f64, n++, e, sym);
  };
  const engine = new ReferenceEngine(rules);
  const eventStart = new Int32Array(sequence.length + 1);
  for (let j = 0; j < sequence.length; j++) {
    eventStart[j] = n;
    const index = sequence[j]!;
    engine.process(workload.command(index), index, emit);
  }
  eventStart[sequence.length] = n;
  return { sequence, words, f64, bytes, eventStart, events: n, bookHash: engine.bookHash() };
}

/** Keeps the traces of the last few sequences per workload; a sequence equal to a cached one reuses its trace. */
export class ReferenceTraceCache {
  readonly #byWorkload = new Map<string, ReferenceTrace[]>();
  readonly #keep: number;

  constructor(keepPerWorkload = 4) {
    this.#keep = keepPerWorkload;
  }

  /** `workloadKey` names the workload and the rules (a trace under other rules is another trace). */
  trace(workloadKey: string, workload: Workload, sequence: Int32Array, rules: RiskRules | null = null): ReferenceTrace {
    let list = this.#byWorkload.get(workloadKey);
    if (list === undefined) {
      list = [];
      this.#byWorkload.set(workloadKey, list);
    }
    const hit = list.find((t) => sameSequence(t.sequence, sequence));
    if (hit !== undefined) return hit;
    const trace = referenceTrace(workload, sequence.slice(), rules);
    list.unshift(trace);
    if (list.length > this.#keep) list.pop();
    return trace;
  }
}

function sameSequence(a: Int32Array, b: Int32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
