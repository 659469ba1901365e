/**
 * The journal check of a run with a journal: outside anything timed, after the journaller closed its segments, the
 * journal(s) must hold exactly what each sequencer decided — record s of journal k is the command at position s of
 * sequencer k's sequence, carrying the sender the harness gave it (session = producer + 1, client sequence =
 * position in that producer's stream + 1), byte for byte, with no torn tail and nothing after. A journal that
 * drops, doubles, reorders or garbles a command fails the run, like an equivalence failure.
 */
import { join } from 'node:path';
import { JOURNAL_RECORD_BYTES, REC_OFF_CLIENT_SEQUENCE, REC_OFF_SESSION } from '../journal/format.ts';
import { journalRecordBytes, readJournal } from '../journal/reader.ts';
import { RECORD_BYTES } from '../workloads/workload.ts';
import type { WorkloadSplit } from './split.ts';

/** Sessions and client sequences by workload index, as the harness's producers send them. */
export function sendersOfSplit(split: WorkloadSplit, count: number): { sessions: SharedArrayBuffer; clientSequences: SharedArrayBuffer } {
  const sessions = new SharedArrayBuffer(4 * count);
  const clientSequences = new SharedArrayBuffer(8 * count);
  const s = new Uint32Array(sessions);
  const c = new Float64Array(clientSequences);
  split.streams.forEach((stream, p) => stream.forEach((index, k) => {
    s[index] = p + 1;
    c[index] = k + 1;
  }));
  return { sessions, clientSequences };
}

export interface JournalVerdict {
  readonly ok: boolean;
  /** Records read back, all journals. */
  readonly records: number;
  readonly failure: string | null;
}

export function checkJournal(dirs: readonly string[], sequences: readonly Int32Array[], split: WorkloadSplit, commands: Uint8Array): JournalVerdict {
  let records = 0;
  const fail = (failure: string): JournalVerdict => ({ ok: false, records, failure });
  if (dirs.length !== sequences.length) return fail(`journal: ${dirs.length} journals for ${sequences.length} sequencers`);
  for (let k = 0; k < dirs.length; k++) {
    const sequence = sequences[k]!;
    let problem: string | null = null;
    const scan = readJournal(dirs[k]!, (frame) => {
      if (problem !== null) return;
      const view = new DataView(frame.records.buffer, frame.records.byteOffset, frame.records.byteLength);
      for (let j = 0; j < frame.count && problem === null; j++) {
        const s = frame.firstSequence + j;
        const at = j * JOURNAL_RECORD_BYTES;
        const session = view.getUint32(at + REC_OFF_SESSION, true);
        const clientSequence = view.getFloat64(at + REC_OFF_CLIENT_SEQUENCE, true);
        const index = split.streams[session - 1]?.[clientSequence - 1];
        if (index === undefined) problem = `record ${s} of ${dirs[k]} has sender session ${session} client sequence ${clientSequence}, which no producer sent`;
        else if (sequence[s] !== index) problem = `record ${s} of ${dirs[k]} is workload command ${index}; the sequencer's position ${s} is ${sequence[s] ?? 'past its end'}`;
        else {
          for (let b = 0; b < RECORD_BYTES; b++) {
            if (frame.records[at + b] !== commands[index * RECORD_BYTES + b]) {
              problem = `record ${s} of ${dirs[k]} (workload command ${index}) differs from the workload at byte ${b}`;
              break;
            }
          }
        }
      }
    });
    if (problem !== null) return fail(`journal: ${problem}`);
    if (scan.tornTail !== undefined) return fail(`journal: ${dirs[k]} ends in a torn tail after a clean stop (${scan.tornTail.segment} at byte ${scan.tornTail.offset}: ${scan.tornTail.reason})`);
    if (scan.records !== sequence.length) return fail(`journal: ${dirs[k]} holds ${scan.records} records; its sequencer processed ${sequence.length}`);
    records += scan.records;
  }
  return { ok: true, records, failure: null };
}

/**
 * A run with a hot standby (`compare --replication`): after the primary's journal passed `checkJournal`, the
 * standby's journal (one per shard, as the primary's) must hold exactly the same records, byte for byte: what it
 * acknowledged is what the primary sequenced, none missing, none extra.
 */
export function checkStandbyJournal(primaryDirs: readonly string[], standbyDir: string, records: number): JournalVerdict {
  const standbyDirs = primaryDirs.length === 1 ? [standbyDir] : primaryDirs.map((_, k) => join(standbyDir, `shard-${k}`));
  for (let k = 0; k < primaryDirs.length; k++) {
    const primary = journalRecordBytes(primaryDirs[k]!);
    const standby = journalRecordBytes(standbyDirs[k]!);
    if (!primary.equals(standby)) {
      let at = 0;
      while (at < Math.min(primary.length, standby.length) && primary[at] === standby[at]) at++;
      const record = Math.floor(at / JOURNAL_RECORD_BYTES);
      return {
        ok: false, records,
        failure: `standby journal ${standbyDirs[k]}: ${standby.length / JOURNAL_RECORD_BYTES} records where the primary's has ${primary.length / JOURNAL_RECORD_BYTES}; they first differ at record ${record}`,
      };
    }
  }
  return { ok: true, records, failure: null };
}
