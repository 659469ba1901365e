/**
 * The survivors of a crash or failover test, checked against the reference engine (server/crashtest.ts,
 * server/failover-test.ts): given the journal a server recovers from (or a new primary serves from), the load
 * client's acknowledgements and the events it received,
 *
 *   (a) every acknowledged command is in the journal (`lost` lists those that are not);
 *   (b) nothing is applied twice: no (session, client sequence) twice in the journal;
 *   (c) the journal is a valid interleaving of the clients' streams (each session's client sequences 1, 2, 3 … in
 *       order, each the command the client sent), and replaying it through the reference engine gives the book
 *       hash recovery gives (`npm run recover`'s);
 *   (d) every client received exactly the reference's events for its commands, once.
 *
 * A check that fails adds a line to `problems` naming the journal, the sequence and the session.
 */
import { readFileSync } from 'node:fs';
import { ReferenceEngine } from '../engines/reference.ts';
import { formatEvent } from '../engines/types.ts';
import { splitWorkload } from '../harness/split.ts';
import { JOURNAL_RECORD_BYTES, REC_OFF_CLIENT_SEQUENCE, REC_OFF_SESSION } from '../journal/format.ts';
import { readJournal } from '../journal/reader.ts';
import { journalDirectories, recover } from '../journal/recovery.ts';
import { decodeRecord, OFF_OP, OP_CLOCK, RECORD_BYTES, type Workload } from '../workloads/workload.ts';

export interface SurvivorInputs {
  /** The journal directory to check (a sharded one too). */
  readonly dir: string;
  readonly workload: Workload;
  readonly connections: number;
  /** Connection c used session sessionBase + c. */
  readonly sessionBase: number;
  /** The load client's --acks and --events files. */
  readonly acksPath: string;
  readonly eventsPath: string;
}

export interface Acknowledged {
  readonly conn: number;
  readonly cseq: number;
  readonly seq: number;
}

export interface Survivors {
  readonly acknowledged: readonly Acknowledged[];
  readonly lost: readonly Acknowledged[];
  readonly duplicates: number;
  readonly eventMismatches: number;
  readonly problems: string[];
  /** The reference engine's book hash after replaying the journal. */
  readonly referenceHash: string;
  /** Records in the journal (duplicates included). */
  readonly journalRecords: number;
}

export function checkSurvivors(inputs: SurvivorInputs): Survivors {
  const { dir, workload, connections, acksPath, eventsPath } = inputs;
  const { sessionBase } = inputs;
  let journalRecords = 0;
  const split = splitWorkload(workload.records, workload.count, connections, 'order');
  const acked = readFileSync(acksPath, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Acknowledged);
  const problems: string[] = [];
  const seen = new Map<number, Set<number>>();
  let duplicates = 0;
  const engine = new ReferenceEngine();
  const record = new Uint8Array(RECORD_BYTES);
  const recordF64 = new Float64Array(record.buffer);
  const referenceEvents = new Map<number, string[]>();
  const { sharded, dirs: journals } = journalDirectories(dir);
  for (const journal of journals) {
    const lastInJournal = new Map<number, number>();
    readJournal(journal, (frame) => {
      const view = new DataView(frame.records.buffer, frame.records.byteOffset, frame.records.byteLength);
      for (let j = 0; j < frame.count; j++) {
        journalRecords++;
        const at = j * JOURNAL_RECORD_BYTES;
        const session = view.getUint32(at + REC_OFF_SESSION, true);
        const cseq = view.getFloat64(at + REC_OFF_CLIENT_SEQUENCE, true);
        if (session === 0) {
          // The server's own clock (server/connection-worker.ts): no client sent it, and it changes no book.
          if (frame.records[at + OFF_OP] !== OP_CLOCK && problems.length < 5) {
            problems.push(`journal ${journal} sequence ${frame.firstSequence + j}: session 0 holds op ${frame.records[at + OFF_OP]}, and only the server's clocks have no session`);
          }
          continue;
        }
        const set = seen.get(session) ?? new Set<number>();
        seen.set(session, set);
        if (set.has(cseq)) {
          duplicates++;
          continue;
        }
        set.add(cseq);
        const index = split.streams[session - sessionBase]?.[cseq - 1];
        if (index === undefined) {
          problems.push(`journal ${journal} sequence ${frame.firstSequence + j}: session ${session} client sequence ${cseq} was never sent`);
          continue;
        }
        // One sequencer: a session's client sequences follow each other; a shard's journal holds an increasing subset.
        const last = lastInJournal.get(session) ?? 0;
        if ((sharded ? cseq <= last : cseq !== last + 1) && problems.length < 5) {
          problems.push(`journal ${journal} sequence ${frame.firstSequence + j}: session ${session} client sequence ${cseq} after ${last} (not an interleaving of the clients' streams)`);
        }
        lastInJournal.set(session, cseq);
        record.set(frame.records.subarray(at, at + RECORD_BYTES));
        for (let b = 0; b < RECORD_BYTES; b++) {
          if (record[b] !== workload.bytes[index * RECORD_BYTES + b]) {
            problems.push(`journal ${journal} sequence ${frame.firstSequence + j}: the command differs from the client's command ${index} at byte ${b}`);
            break;
          }
        }
        const lines: string[] = [];
        engine.process(decodeRecord(record, recordF64, 0, workload.symbols), index, (e) => lines.push(formatEvent(e)));
        referenceEvents.set(index, lines);
      }
    });
  }
  for (const [session, set] of seen) {
    for (let cseq = 1; cseq <= set.size; cseq++) {
      if (!set.has(cseq)) {
        problems.push(`session ${session}: the journal holds ${set.size} of its commands but not client sequence ${cseq} (a gap)`);
        break;
      }
    }
  }
  const present = (a: { conn: number; cseq: number }): boolean => seen.get(sessionBase + a.conn)?.has(a.cseq) ?? false;
  const lost = acked.filter((a) => !present(a));
  const recovered = recover(dir, { ignoreSnapshots: false });
  if (recovered.bookHash !== engine.bookHash()) problems.push(`recovered book hash ${recovered.bookHash.slice(0, 16)}… differs from the reference replay's ${engine.bookHash().slice(0, 16)}…`);
  // (d) the client's events, per command, against the reference's.
  const received = new Map<number, string[]>();
  for (const line of readFileSync(eventsPath, 'utf8').split('\n')) {
    if (line === '') continue;
    const seq = (JSON.parse(line) as { seq: number }).seq;
    const list = received.get(seq) ?? [];
    list.push(line);
    received.set(seq, list);
  }
  let eventMismatches = 0;
  for (const a of acked) {
    if (!present(a)) continue;
    const want = referenceEvents.get(a.seq) ?? [];
    const got = received.get(a.seq) ?? [];
    if (want.length !== got.length || want.some((l, i) => l !== got[i])) {
      if (eventMismatches++ < 3) problems.push(`command ${a.seq} (connection ${a.conn}, client sequence ${a.cseq}): the client received ${got.length} events, the reference gives ${want.length}${got[0] !== want[0] ? ` (first: ${got[0]} vs ${want[0]})` : ''}`);
    }
  }
  return { acknowledged: acked, lost, duplicates, eventMismatches, problems, referenceHash: engine.bookHash(), journalRecords };
}
