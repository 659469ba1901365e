/**
 * `npm run journal -- info|verify|to-ndjson DIR`: look into a write-ahead journal (format: journal/format.ts).
 *
 *   info DIR       segments, records, frames, fsync batches (synced frames), sessions, sequence range, torn tail,
 *                  the fsync mark
 *   verify DIR     reads every frame and checks every CRC and rule; exit 0 when the journal is intact or ends in a
 *                  torn tail (what recovery truncates, named with its segment and offset), 1 on corruption
 *   to-ndjson DIR  the journaled commands in sequence order as command NDJSON (the workload format, header line
 *                  first), to --out FILE or stdout
 *
 * None of them changes the journal: only recovery truncates a torn tail.
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { runCli, runSubcommand, type Subcommand } from '../harness/cli-args.ts';
import { formatCommand, formatHeader } from '../workloads/ndjson.ts';
import { decodeRecord, RECORD_BYTES, Workload } from '../workloads/workload.ts';
import { JOURNAL_RECORD_BYTES, segmentName } from './format.ts';
import { readFsyncMark, readJournal, recordSender, type JournalScan } from './reader.ts';

const CLI = 'npm run journal --';

const dirPositional = [{ name: 'DIR', description: 'journal directory (segment files NNNNNNNNNNNNNNNNNNNN.mbj)' }] as const;

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

function tornText(scan: JournalScan): string {
  const t = scan.tornTail;
  return t === undefined ? 'none' : `${t.segment} from byte offset ${t.offset} of ${t.fileBytes}: ${t.reason} (recovery truncates it)`;
}

const info: Subcommand = {
  spec: {
    command: `${CLI} info`,
    summary: 'segments, records, fsync batches, sessions, sequence range, torn tail',
    positionals: dirPositional,
    options: { json: { type: 'boolean', description: 'one JSON object instead of text' } },
  },
  async run(args) {
    const sessions = new Map<number, { records: number; lastClientSequence: number }>();
    const scan = readJournal(args.positional('DIR')!, (frame) => {
      for (let i = 0; i < frame.count; i++) {
        const { session, clientSequence } = recordSender(frame.records, i);
        const entry = sessions.get(session) ?? { records: 0, lastClientSequence: 0 };
        entry.records++;
        entry.lastClientSequence = Math.max(entry.lastClientSequence, clientSequence);
        sessions.set(session, entry);
      }
    });
    const summary = {
      dir: scan.dir,
      design: scan.design ?? null,
      segments: scan.segments.length,
      records: scan.records,
      frames: scan.frames,
      fsyncBatches: scan.syncedFrames,
      firstSequence: scan.firstSequence ?? null,
      nextSequence: scan.nextSequence,
      symbols: scan.symbols.length,
      sessions: [...sessions].sort(([a], [b]) => a - b).map(([session, s]) => ({ session, ...s })),
      tornTail: scan.tornTail ?? null,
      fsyncMark: readFsyncMark(scan.dir) ?? null,
    };
    if (args.boolean('json')) {
      out(JSON.stringify(summary));
      return;
    }
    out(`journal ${scan.dir}: design ${scan.design ?? '(none: no segments)'}, ${scan.segments.length} segment(s), ${scan.symbols.length} symbols`);
    out(`records: ${scan.records}, sequence ${scan.firstSequence ?? 0} to ${scan.nextSequence - 1} (next ${scan.nextSequence})`);
    out(`frames: ${scan.frames}, of which fsynced before acknowledgement: ${scan.syncedFrames}`);
    out(`sessions: ${sessions.size}${[...sessions].sort(([a], [b]) => a - b).slice(0, 20).map(([id, s]) => `\n  session ${id}: ${s.records} records, last client sequence ${s.lastClientSequence}`).join('')}${sessions.size > 20 ? `\n  … ${sessions.size - 20} more (--json lists all)` : ''}`);
    out(`CRC: every frame checked, all valid; torn tail: ${tornText(scan)}`);
    const mark = summary.fsyncMark;
    out(`fsync mark: ${mark === null ? 'none' : `segment ${segmentName(mark.segment)} on disk through byte ${mark.durableLength}, every record below sequence ${mark.nextSequence} fsynced`}`);
  },
};

const verify: Subcommand = {
  spec: {
    command: `${CLI} verify`,
    summary: 'check every frame (CRC-32C, sequence, records); exit 1 on corruption',
    details: 'A torn tail at the end of the last segment is what a crash leaves of a write in progress: it is reported (segment, offset) and the journal still verifies, since recovery truncates it. Anything else that does not check out is corruption: exit 1, with the segment, the byte offset and the field.',
    positionals: dirPositional,
  },
  async run(args) {
    const scan = readJournal(args.positional('DIR')!);
    out(`verified: ${scan.records} records in ${scan.frames} frames over ${scan.segments.length} segment(s), every CRC-32C valid; torn tail: ${tornText(scan)}`);
  },
};

const toNdjson: Subcommand = {
  spec: {
    command: `${CLI} to-ndjson`,
    summary: 'the journaled commands in sequence order, as command NDJSON',
    positionals: dirPositional,
    options: { out: { type: 'string', value: 'FILE', description: 'write here instead of stdout' } },
  },
  async run(args) {
    const dir = args.positional('DIR')!;
    const commands = new ArrayBuffer(RECORD_BYTES);
    const bytes = new Uint8Array(commands);
    const f64 = new Float64Array(commands);
    const lines: string[] = [];
    const scan = readJournal(dir, (frame) => {
      for (let i = 0; i < frame.count; i++) {
        bytes.set(frame.records.subarray(i * JOURNAL_RECORD_BYTES, i * JOURNAL_RECORD_BYTES + RECORD_BYTES));
        lines.push(formatCommand(decodeRecord(bytes, f64, 0, frame.header.symbols)));
      }
    });
    const target = args.string('out');
    const stream = target === undefined ? process.stdout : createWriteStream(target);
    const write = async (text: string): Promise<void> => {
      if (!stream.write(text)) await once(stream, 'drain');
    };
    // The header line names the symbol table, so the output loads as a workload (workloads/ndjson.ts).
    await write(`${formatHeader(new Workload(scan.symbols, new ArrayBuffer(0), { source: 'journal', dir }))}\n`);
    for (let i = 0; i < lines.length; i += 4096) await write(`${lines.slice(i, i + 4096).join('\n')}\n`);
    if (target !== undefined) {
      stream.end();
      await once(stream, 'finish');
    }
  },
};

const SUBCOMMANDS: ReadonlyMap<string, Subcommand> = new Map([
  ['info', info],
  ['verify', verify],
  ['to-ndjson', toNdjson],
]);

const TOP_LEVEL_HELP = `Usage: ${CLI} <command> DIR [options]\n\nLook into a matchbench write-ahead journal.\n\nCommands:\n${[...SUBCOMMANDS].map(([n, s]) => `  ${n.padEnd(9)}  ${s.spec.summary}`).join('\n')}\n`;

runCli(() => runSubcommand(CLI, SUBCOMMANDS, process.argv.slice(2), TOP_LEVEL_HELP));
