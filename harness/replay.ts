/**
 * `npm run replay -- --engine NAME --workload FILE [--events OUT.ndjson] [--json]`: replays a workload through one
 * engine and prints how many events of each kind it produced and the final book hash; `--events` writes every
 * event as canonical NDJSON (formatEvent), one per line, in processing order.
 *
 * NAME is `reference`, `fast`, or any concurrent design (engines/designs.ts), run with one producer thread through
 * the compare harness and checked for equivalence with the reference engine; their events are written in
 * workload order (with one producer that is the order every single-book design processed them in; sharded's shards
 * interleave, and are put back in command order). Every engine prints the same output for the same workload.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { endsCommand, isEvent } from '../engines/completion-record.ts';
import { decodeEventRecord, EV_F64_SEQ, EVENT_F64S } from '../engines/event-record.ts';
import { DESIGN_NAMES, designByName, resolveParams } from '../engines/designs.ts';
import { FastEngine } from '../engines/fast.ts';
import { ReferenceEngine } from '../engines/reference.ts';
import { EVENT_KINDS, formatEvent, type BookEngine, type EventKind, type MatchEvent } from '../engines/types.ts';
import { generateWorkload, findPreset } from '../workloads/generator.ts';
import { DEFAULT_SEED, resolveWorkload } from '../workloads/load.ts';
import type { Workload } from '../workloads/workload.ts';
import { formatHelp, parseArgs, runCli, UsageError, type CommandSpec, type ParsedArgs } from './cli-args.ts';
import { checkEquivalence } from './equivalence.ts';
import { eventLogViews } from './event-log.ts';
import { prepareWorkload } from './prepared-workload.ts';
import { ReferenceTraceCache } from './reference-trace.ts';
import { runOnce } from './run.ts';
import { splitWorkload } from './split.ts';

const BOOK_ENGINES = ['reference', 'fast'] as const;

const SPEC: CommandSpec = {
  command: 'npm run replay --',
  summary: 'Replay a workload through one engine: event counts by kind and the final book hash (the same for every engine).',
  details:
    `Engines: ${[...BOOK_ENGINES, ...DESIGN_NAMES].join(', ')}. Designs run with one producer thread and default parameters,\n` +
    'and their output is checked against the reference engine (a mismatch fails the command).\n' +
    'The workload is a binary or NDJSON file, a spec "preset:NAME[,seed=N][,count=N]", or --preset NAME [--seed N] [--count N].',
  options: {
    engine: { type: 'string', value: 'NAME', description: 'engine to replay through', required: true },
    workload: { type: 'string', value: 'FILE', description: 'workload file (binary or .ndjson) or preset spec' },
    preset: { type: 'string', value: 'NAME', description: 'generate the workload from this preset instead' },
    seed: { type: 'string', value: 'N', description: `preset seed (default ${DEFAULT_SEED})` },
    count: { type: 'string', value: 'N', description: "preset command count (default: the preset's)" },
    events: { type: 'string', value: 'OUT.ndjson', description: 'write every event here, one NDJSON line each, in order' },
    json: { type: 'boolean', description: 'print one JSON object {"commands","events":{kind: count},"totalEvents","bookHash"}' },
  },
};

interface ReplaySummary {
  readonly commands: number;
  readonly events: Record<EventKind, number>;
  readonly totalEvents: number;
  readonly bookHash: string;
}

/** Counts events by kind and writes them, buffered, to the events file when there is one. */
class EventOutput {
  readonly counts: Record<EventKind, number> = Object.fromEntries(EVENT_KINDS.map((k) => [k, 0])) as Record<EventKind, number>;
  total = 0;
  readonly #file: FileHandle | null;
  #pending: string[] = [];

  constructor(file: FileHandle | null) {
    this.#file = file;
  }

  async add(event: MatchEvent): Promise<void> {
    this.counts[event.ev]++;
    this.total++;
    if (this.#file === null) return;
    this.#pending.push(formatEvent(event));
    if (this.#pending.length >= 16_384) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.#file === null || this.#pending.length === 0) return;
    const text = `${this.#pending.join('\n')}\n`;
    this.#pending = [];
    await this.#file.write(text);
  }
}

async function loadFromArgs(args: ParsedArgs): Promise<Workload> {
  const path = args.string('workload');
  const preset = args.string('preset');
  if ((path === undefined) === (preset === undefined)) throw new UsageError(SPEC.command, 'give exactly one of --workload FILE and --preset NAME');
  if (preset !== undefined) {
    let found;
    try {
      found = findPreset(preset);
    } catch (error) {
      throw new UsageError(SPEC.command, `--preset: ${(error as Error).message}`);
    }
    return generateWorkload({ preset: found.name, seed: args.integer('seed') ?? DEFAULT_SEED, count: args.integer('count', 1) ?? found.defaultCount });
  }
  if (args.string('seed') !== undefined || args.string('count') !== undefined) throw new UsageError(SPEC.command, '--seed and --count go with --preset');
  return resolveWorkload(path!);
}

async function replayBookEngine(engine: BookEngine, workload: Workload, output: EventOutput): Promise<string> {
  const batch: MatchEvent[] = [];
  const emit = (event: MatchEvent): void => { batch.push(event); };
  for (let i = 0; i < workload.count; i++) {
    engine.process(workload.command(i), i, emit);
    for (const event of batch) await output.add(event);
    batch.length = 0;
  }
  return engine.bookHash();
}

async function replayDesign(name: string, workload: Workload, output: EventOutput): Promise<string> {
  const design = designByName(name);
  const prepared = prepareWorkload(workload, 'replay', 'replay', { kind: 'file', path: 'replay' });
  const split = splitWorkload(prepared.shared.records, workload.count, 1, 'order');
  const run = await runOnce({ design, params: resolveParams(design, {}), workload: prepared, split, mode: 'closed', rate: null, warmup: 0 });
  const verdict = checkEquivalence({
    workload: prepared.workload, workloadKey: prepared.identity.hash, split, logs: run.logs, run: run.sequenced, traces: new ReferenceTraceCache(1),
  });
  if (!verdict.ok) throw new Error(`${name} is not equivalent to the reference engine on this workload: ${verdict.failure}`);
  // One producer submits in workload order and single-book designs process in it; sharded's shards run
  // independently, so its deliveries interleave across shards. Writing commands in workload order gives every
  // design the reference's order (the checker has already matched each command's events).
  const log = run.logs[0]!;
  const { bytes, words, f64 } = eventLogViews(log);
  const firstRecord = new Int32Array(workload.count);
  const endRecord = new Int32Array(workload.count);
  let start = 0;
  for (let r = 0; r < log.length; r++) {
    if (!endsCommand(words, r)) continue;
    const index = f64[r * EVENT_F64S + EV_F64_SEQ]!;
    firstRecord[index] = start;
    endRecord[index] = r + 1;
    start = r + 1;
  }
  for (let i = 0; i < workload.count; i++) {
    for (let r = firstRecord[i]!; r < endRecord[i]!; r++) {
      if (isEvent(words, r)) await output.add(decodeEventRecord(bytes, words, f64, r, workload.symbols));
    }
  }
  return run.bookHash;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2), SPEC);
  if (args.help) {
    process.stdout.write(formatHelp(SPEC));
    return;
  }
  const engineName = args.requiredString('engine');
  const known = [...BOOK_ENGINES, ...DESIGN_NAMES];
  if (!known.includes(engineName)) throw new UsageError(SPEC.command, `--engine: unknown engine '${engineName}' (known: ${known.join(', ')})`);
  const workload = await loadFromArgs(args);
  const eventsPath = args.string('events');
  const file = eventsPath === undefined ? null : await open(eventsPath, 'w');
  const output = new EventOutput(file);
  let bookHash: string;
  try {
    if (engineName === 'reference') bookHash = await replayBookEngine(new ReferenceEngine(), workload, output);
    else if (engineName === 'fast') bookHash = await replayBookEngine(FastEngine.forWorkload(workload), workload, output);
    else bookHash = await replayDesign(engineName, workload, output);
    await output.flush();
  } finally {
    await file?.close();
  }
  const summary: ReplaySummary = { commands: workload.count, events: output.counts, totalEvents: output.total, bookHash };
  if (args.boolean('json')) {
    process.stdout.write(`${JSON.stringify(summary)}\n`);
    return;
  }
  const lines = [`commands: ${summary.commands}`, `events: ${summary.totalEvents}`];
  for (const kind of EVENT_KINDS) lines.push(`  ${kind.padEnd(10)} ${summary.events[kind]}`);
  lines.push(`book hash: ${summary.bookHash}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

runCli(main);
