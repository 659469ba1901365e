/**
 * `npm run recover -- --dir DIR [--events OUT] [--json] [--truncate-torn-tail] [--ignore-snapshots] [--max-orders N]`:
 * recovery alone (journal/recovery.ts): the newest valid snapshot, then the journal after it, through the fast core.
 * Prints what it used and found — the snapshot (and any newer one rejected, with why), the segments read, the
 * commands replayed and the duplicates the session rule skipped, the sessions, the torn tail, the next sequence —
 * then the book hash, the time and the replay speed.
 *
 * It never changes the journal unless `--truncate-torn-tail` says so: then a torn tail is cut off the last segment,
 * as the engine must before it writes again. Without the flag a torn tail is only reported.
 *
 * `--events OUT` writes every event of the replayed commands as event NDJSON, `seq` being the journal sequence
 * number. A sharded journal (DIR/shard-K) writes one file per shard, `.shard-K` inserted before OUT's extension
 * (`events.ndjson` → `events.shard-0.ndjson`), since each shard has its own sequence numbers.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { extname } from 'node:path';
import { formatHelp, parseArgs, runCli, type CommandSpec } from '../harness/cli-args.ts';
import { formatEvent, type MatchEvent } from '../engines/types.ts';
import { DEFAULT_MAX_ORDERS, journalDirectories, recover, type RecoveredJournal, type Recovery } from './recovery.ts';

const SPEC: CommandSpec = {
  command: 'npm run recover --',
  summary: 'Recover an engine from its journal (newest valid snapshot + the journal after it): commands replayed, book hash, time, replay speed.',
  details:
    'DIR is a journal directory (segments NNNNNNNNNNNNNNNNNNNN.mbj, snapshots in DIR/snapshots/) or a sharded one (DIR/shard-0, DIR/shard-1, …).\n' +
    'The journal is left as it is unless --truncate-torn-tail is given.\n' +
    `Without a snapshot the core has a book per symbol and room for ${DEFAULT_MAX_ORDERS} resting orders (--max-orders); a snapshot's core keeps its own capacities.`,
  options: {
    dir: { type: 'string', value: 'DIR', description: 'the journal directory', required: true },
    events: { type: 'string', value: 'OUT', description: 'write every replayed event here as event NDJSON (sharded: one file per shard, OUT with .shard-K before its extension)' },
    json: { type: 'boolean', description: 'print one JSON object instead of text' },
    'truncate-torn-tail': { type: 'boolean', description: 'cut a torn tail off the last segment (default: only report it)' },
    'ignore-snapshots': { type: 'boolean', description: 'replay the whole journal from sequence 0, ignoring snapshots' },
    'max-orders': { type: 'string', value: 'N', description: `resting orders the core holds when no snapshot is used (default ${DEFAULT_MAX_ORDERS})` },
  },
};

/** Lines buffered before one write(2). */
const EVENT_LINES_PER_WRITE = 16_384;

/** Event NDJSON to one file per journal, buffered, written synchronously from recovery's event callback. */
class EventFiles {
  readonly paths: readonly string[];
  readonly #fds: number[];
  readonly #pending: string[][];
  count = 0;

  constructor(out: string, shards: number, sharded: boolean) {
    const extension = extname(out);
    const stem = out.slice(0, out.length - extension.length);
    this.paths = sharded ? Array.from({ length: shards }, (_, k) => `${stem}.shard-${k}${extension}`) : [out];
    this.#fds = this.paths.map((path) => openSync(path, 'w'));
    this.#pending = this.paths.map(() => []);
  }

  add(event: MatchEvent, shard: number): void {
    const pending = this.#pending[shard]!;
    pending.push(formatEvent(event));
    this.count++;
    if (pending.length >= EVENT_LINES_PER_WRITE) this.#flush(shard);
  }

  close(): void {
    for (let k = 0; k < this.#fds.length; k++) {
      this.#flush(k);
      closeSync(this.#fds[k]!);
    }
  }

  #flush(shard: number): void {
    const pending = this.#pending[shard]!;
    if (pending.length === 0) return;
    writeSync(this.#fds[shard]!, `${pending.join('\n')}\n`);
    pending.length = 0;
  }
}

function millions(perSecond: number): string {
  return `${(perSecond / 1e6).toFixed(2)} M`;
}

function sessionsOf(journal: RecoveredJournal): { session: number; lastClientSequence: number }[] {
  return [...journal.sessions].sort(([a], [b]) => a - b).map(([session, lastClientSequence]) => ({ session, lastClientSequence }));
}

function journalSummary(journal: RecoveredJournal) {
  return {
    dir: journal.dir,
    design: journal.design ?? null,
    capacities: journal.core.capacities,
    snapshot: journal.snapshot ?? null,
    snapshotsRejected: journal.snapshotsRejected,
    segments: journal.segments,
    segmentsRead: journal.segmentsRead,
    fromSequence: journal.fromSequence,
    nextSequence: journal.nextSequence,
    commandsReplayed: journal.commandsReplayed,
    duplicatesSkipped: journal.duplicatesSkipped,
    sessions: sessionsOf(journal),
    tornTail: journal.tornTail ?? null,
    tornTailTruncated: journal.tornTailTruncated,
    bookHash: journal.bookHash,
    timings: journal.timings,
  };
}

function journalLines(journal: RecoveredJournal, ignoreSnapshots: boolean): string[] {
  const lines: string[] = [];
  const s = journal.snapshot;
  if (s !== undefined) lines.push(`snapshot: ${s.file} (covers sequence < ${s.sequence}, ${s.fileBytes} bytes, loaded in ${journal.timings.snapshotMs.toFixed(1)} ms)`);
  else lines.push(`snapshot: ${ignoreSnapshots ? 'ignored (--ignore-snapshots)' : 'none'}; replayed the journal from sequence 0`);
  for (const r of journal.snapshotsRejected) lines.push(`  rejected: ${r.reason}`);
  const c = journal.core.capacities;
  lines.push(`core: maxOrders ${c.maxOrders}, maxSymbols ${c.maxSymbols}, ladderTicks ${c.ladderTicks}${s === undefined ? '' : ' (from the snapshot; --max-orders applies only without one)'}`);
  lines.push(
    `journal: ${journal.segments} segment(s), ${journal.segmentsRead} read; replayed ${journal.commandsReplayed} commands from sequence ${journal.fromSequence}, ` +
      `${journal.duplicatesSkipped} duplicates skipped (session rule); next sequence ${journal.nextSequence}`,
  );
  const sessions = sessionsOf(journal);
  lines.push(`sessions: ${sessions.length}${sessions.slice(0, 20).map((e) => `\n  session ${e.session}: last client sequence ${e.lastClientSequence}`).join('')}${sessions.length > 20 ? `\n  … ${sessions.length - 20} more (--json lists all)` : ''}`);
  const t = journal.tornTail;
  lines.push(
    `torn tail: ${t === undefined ? 'none' : `${t.segment} from byte offset ${t.offset} of ${t.fileBytes}: ${t.reason} ${journal.tornTailTruncated ? '(truncated)' : '(reported only; --truncate-torn-tail cuts it)'}`}`,
  );
  return lines;
}

function timeLine(recovery: Recovery | RecoveredJournal): string {
  const t = recovery.timings;
  return (
    `time: ${t.totalMs.toFixed(1)} ms (snapshot ${t.snapshotMs.toFixed(1)} ms, replay ${t.replayMs.toFixed(1)} ms, book hash ${t.bookHashMs.toFixed(1)} ms); ` +
    `replay ${millions(t.replayCommandsPerSecond)} commands/s (${millions(t.replayCommandsPerCpuSecond)} per CPU-second)`
  );
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2), SPEC);
  if (args.help) {
    process.stdout.write(formatHelp(SPEC));
    return;
  }
  const dir = args.requiredString('dir');
  const maxOrders = args.integer('max-orders', 1);
  const ignoreSnapshots = args.boolean('ignore-snapshots');
  const eventsPath = args.string('events');
  const journals = journalDirectories(dir);
  const events = eventsPath === undefined ? undefined : new EventFiles(eventsPath, journals.dirs.length, journals.sharded);
  let recovery: Recovery;
  try {
    recovery = recover(dir, {
      ...(maxOrders === undefined ? {} : { capacities: { maxOrders } }),
      truncateTornTail: args.boolean('truncate-torn-tail'),
      ignoreSnapshots,
      ...(events === undefined ? {} : { onEvent: (event: MatchEvent, shard: number) => events.add(event, shard) }),
    });
  } finally {
    events?.close();
  }
  if (args.boolean('json')) {
    const summary = {
      dir: recovery.dir,
      sharded: recovery.sharded,
      commandsReplayed: recovery.commandsReplayed,
      duplicatesSkipped: recovery.duplicatesSkipped,
      bookHash: recovery.bookHash,
      timings: recovery.timings,
      events: events === undefined ? null : { count: events.count, files: events.paths },
      shards: recovery.shards.map(journalSummary),
    };
    process.stdout.write(`${JSON.stringify(summary)}\n`);
    return;
  }
  const lines: string[] = [];
  if (recovery.sharded) {
    lines.push(`recovered ${dir}: sharded, ${recovery.shards.length} shards, design ${recovery.shards[0]?.design ?? '(none)'}`);
    recovery.shards.forEach((shard, k) => {
      lines.push(`shard ${k} (${shard.dir}):`);
      lines.push(...[...journalLines(shard, ignoreSnapshots), `book hash: ${shard.bookHash}`, timeLine(shard)].map((line) => `  ${line.replaceAll('\n', '\n  ')}`));
    });
    lines.push(`all shards: replayed ${recovery.commandsReplayed} commands, ${recovery.duplicatesSkipped} duplicates skipped`);
  } else {
    const journal = recovery.shards[0]!;
    lines.push(`recovered ${dir}: design ${journal.design ?? '(none: no segments, no snapshot)'}`);
    lines.push(...journalLines(journal, ignoreSnapshots));
  }
  if (events !== undefined) lines.push(`events: ${events.count} written to ${events.paths.join(', ')}`);
  lines.push(`book hash: ${recovery.bookHash}`);
  lines.push(timeLine(recovery));
  process.stdout.write(`${lines.join('\n')}\n`);
}

runCli(main);
