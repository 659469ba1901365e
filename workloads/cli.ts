/**
 * `npm run workload -- <command>`: generate, inspect and convert workloads, import LOBSTER days, measure fidelity.
 *
 * Each subcommand is a CommandSpec (harness/cli-args.ts) plus a function; `--help` works on the whole CLI and on
 * each subcommand. The LOBSTER modules are imported only by the commands that use them, so the everyday commands
 * start without parsing the importer. Output files are binary unless the name ends .ndjson or .jsonl (optionally .gz). Exit codes:
 * 0 success, 1 failure (bad or corrupt input, checksum mismatch), 2 bad usage.
 */
import { stat } from 'node:fs/promises';
import { runCli, runSubcommand, UsageError, type ParsedArgs, type Subcommand } from '../harness/cli-args.ts';
import { hex32, WorkloadChecksumError, WorkloadReader, writeWorkloadFile } from './binary.ts';
import { generateWorkload, findPreset, PRESETS, type OpsMode, type Preset } from './generator.ts';
import { DEFAULT_SEED, detectWorkloadFormat, loadWorkloadFile, reportDiagnostics } from './load.ts';
import { readNdjsonFile, writeNdjson, writeNdjsonFile } from './ndjson.ts';
import { WorkloadStats } from './stats.ts';
import { RECORD_F64S, type Workload } from './workload.ts';
import type { LobsterImportOptions } from './lobster.ts';

const CLI = 'npm run workload --';
const NDJSON_OUTPUT = /\.(ndjson|jsonl)(\.gz)?$/;

const HEADER_OPTION = {
  type: 'boolean',
  description: 'NDJSON output starts with a header line carrying the symbol table and provenance, so converting back gives the identical binary file',
} as const;

function out(line = ''): void {
  process.stdout.write(`${line}\n`);
}

/** Writes a workload as binary, or as NDJSON when the name says so. Returns the format written. */
async function writeOutput(path: string, workload: Workload, header: boolean): Promise<string> {
  if (NDJSON_OUTPUT.test(path)) {
    await writeNdjsonFile(path, workload, { header });
    return path.endsWith('.gz') ? 'gzipped NDJSON' : 'NDJSON';
  }
  await writeWorkloadFile(path, workload);
  return 'binary';
}

async function describeWritten(path: string, workload: Workload, format: string): Promise<string> {
  const { size } = await stat(path);
  return `wrote ${workload.count} commands, ${workload.symbols.length} symbols to ${path} (${format}, ${size} bytes)`;
}

const presetList = PRESETS.map((p) => `  ${p.name.padEnd(13)} ${p.description}\n  ${''.padEnd(13)} stresses: ${p.stresses}\n  ${''.padEnd(13)} default count: ${p.defaultCount}`).join('\n');

const gen: Subcommand = {
  spec: {
    command: `${CLI} gen`,
    summary: 'Generate a synthetic workload from a named preset; the same preset, seed, count and ops give a byte-identical file.',
    details: `Presets:\n${presetList}\n\n--ops peer keeps only what the nodejs-order-book peer supports: new limit gtc/ioc/fok, new market, cancel.`,
    options: {
      preset: { type: 'string', value: 'NAME', required: true, description: `preset name (${PRESETS.map((p) => p.name).join(', ')})` },
      seed: { type: 'string', value: 'N', description: `PRNG seed, a non-negative integer (default ${DEFAULT_SEED})` },
      count: { type: 'string', value: 'N', description: "number of commands (default: the preset's default count)" },
      ops: { type: 'string', value: 'all|peer', description: "command kinds: all (default) or peer" },
      'clock-every': { type: 'string', value: 'N', description: 'a clock command before every N-th command, 1 ms of simulated time apart (N × 1000 commands/s; default: none)' },
      out: { type: 'string', value: 'FILE', required: true, description: 'output file: binary, or NDJSON when it ends .ndjson/.jsonl (optionally .gz)' },
      header: HEADER_OPTION,
    },
  },
  async run(args) {
    const preset = presetOrUsage(args.requiredString('preset'));
    const seed = args.integer('seed') ?? DEFAULT_SEED;
    const count = args.integer('count') ?? preset.defaultCount;
    const opsText = args.string('ops') ?? 'all';
    if (opsText !== 'all' && opsText !== 'peer') throw new UsageError(gen.spec.command, `--ops: expected 'all' or 'peer', got '${opsText}'`);
    const ops: OpsMode = opsText;
    const outPath = args.requiredString('out');
    const started = performance.now();
    const clockEvery = args.integer('clock-every', 1) ?? 0;
    const workload = generateWorkload({ preset: preset.name, seed, count, ops, clockEvery });
    const format = await writeOutput(outPath, workload, args.boolean('header'));
    out(`${await describeWritten(outPath, workload, format)} in ${(performance.now() - started).toFixed(0)} ms; preset ${preset.name}, seed ${seed}, ops ${ops}`);
  },
};

/** The named preset, or a UsageError naming the known presets. */
function presetOrUsage(name: string): Preset {
  try {
    return findPreset(name);
  } catch (error) {
    throw new UsageError(gen.spec.command, (error as Error).message);
  }
}

const info: Subcommand = {
  spec: {
    command: `${CLI} info`,
    summary: 'Summarize a workload file: commands by kind, order types, symbols, id/price/qty ranges, provenance, checksum verdict.',
    details: 'Exits 1 when the checksum does not match (the summary is still printed) or the file is malformed.',
    positionals: [{ name: 'FILE', description: 'binary or NDJSON workload file' }],
  },
  async run(args) {
    const path = args.positional('FILE')!;
    const format = await detectWorkloadFormat(path);
    const { size } = await stat(path);
    out(`file: ${path} (${format === 'binary' ? 'binary' : format === 'ndjson' ? 'NDJSON' : 'gzipped NDJSON'}, ${size} bytes)`);
    if (format !== 'binary') {
      const result = await readNdjsonFile(path, format === 'ndjson-gzip');
      reportDiagnostics(path, result);
      const stats = new WorkloadStats(result.workload.symbols.length);
      stats.add(result.workload.bytes, result.workload.f64, result.workload.count);
      for (const line of stats.describe(result.workload.symbols)) out(line);
      out(`provenance: ${JSON.stringify(result.workload.provenance)}`);
      out(`diagnostics: ${result.diagnosticCount}`);
      out('checksum: none (NDJSON carries no checksum)');
      return;
    }
    const reader = await WorkloadReader.open(path);
    try {
      const { header } = reader;
      out(`format version: ${header.version}; records start at byte ${header.recordsOffset}`);
      const stats = new WorkloadStats(header.symbols.length);
      let mismatch: WorkloadChecksumError | null = null;
      try {
        for await (const chunk of reader.chunks()) stats.add(chunk.bytes, new Float64Array(chunk.bytes.buffer, chunk.bytes.byteOffset, chunk.count * RECORD_F64S), chunk.count);
      } catch (error) {
        if (!(error instanceof WorkloadChecksumError)) throw error;
        mismatch = error;
      }
      for (const line of stats.describe(header.symbols)) out(line);
      out(`provenance: ${JSON.stringify(header.provenance)}`);
      if (mismatch !== null) {
        out(`checksum: MISMATCH (trailer ${hex32(mismatch.expected)}, computed ${hex32(mismatch.actual)})`);
        throw mismatch;
      }
      out(`checksum: CRC-32 ${hex32(reader.checksum!)} ok`);
    } finally {
      await reader.close();
    }
  },
};

const toNdjson: Subcommand = {
  spec: {
    command: `${CLI} to-ndjson`,
    summary: 'Write a workload as canonical command NDJSON to stdout.',
    positionals: [{ name: 'FILE', description: 'binary or NDJSON workload file' }],
    options: { header: HEADER_OPTION },
  },
  async run(args) {
    const { workload } = await loadWorkloadFile(args.positional('FILE')!);
    try {
      await writeNdjson(workload, process.stdout, { header: args.boolean('header') });
    } catch (error) {
      // The reader went away (`| head`): not a failure of ours.
      if ((error as NodeJS.ErrnoException).code !== 'EPIPE') throw error;
    }
  },
};

const fromNdjson: Subcommand = {
  spec: {
    command: `${CLI} from-ndjson`,
    summary: 'Convert command NDJSON (plain or .gz) to a binary workload; malformed lines become invalid commands and are reported as file:line diagnostics on stderr.',
    positionals: [{ name: 'FILE', description: 'NDJSON file (.gz is gunzipped)' }],
    options: {
      out: { type: 'string', value: 'FILE', required: true, description: 'output file: binary, or NDJSON when it ends .ndjson/.jsonl (optionally .gz)' },
      header: HEADER_OPTION,
    },
  },
  async run(args) {
    const path = args.positional('FILE')!;
    const outPath = args.requiredString('out');
    const format = await detectWorkloadFormat(path);
    if (format === 'binary') throw new Error(`${path}: this is a binary workload already (use 'to-ndjson' to convert it to NDJSON)`);
    const result = await readNdjsonFile(path, format === 'ndjson-gzip');
    reportDiagnostics(path, result);
    const written = await writeOutput(outPath, result.workload, args.boolean('header'));
    out(`${await describeWritten(outPath, result.workload, written)}; ${result.diagnosticCount} diagnostics`);
  },
};

const LOBSTER_OPTIONS = {
  orderbook: { type: 'string', value: 'OB', description: "the message file's LOBSTER orderbook file (plain or .gz): used to reconcile volume the messages do not show" },
  'repair-queues': {
    type: 'boolean',
    description: 'before each aggressive order, requeue orders standing ahead of the makers LOBSTER names (uses the answer: fidelity becomes ~100% by construction)',
  },
  'clock-ms': { type: 'string', value: 'T', description: "a clock command from the rows' timestamps (New York time, the file name's date) whenever T ms have passed since the last one (default: none)" },
} as const;

function lobsterOptions(args: ParsedArgs): LobsterImportOptions {
  const orderbookPath = args.string('orderbook');
  const repairQueues = args.boolean('repair-queues');
  const clockEveryMs = args.integer('clock-ms', 1);
  return { repairQueues, ...(orderbookPath === undefined ? {} : { orderbookPath }), ...(clockEveryMs === undefined ? {} : { clockEveryMs }) };
}

const importLobsterCommand: Subcommand = {
  spec: {
    command: `${CLI} import-lobster`,
    summary: 'Import a LOBSTER message file (6- or 7-column, plain or .gz) as a workload of real NASDAQ order flow.',
    details: 'Type 1 -> new GTC limit, 2 -> reduce, 3 -> cancel, same-timestamp type-4 runs -> one IOC limit; 5, 6, 7 skipped and counted.',
    positionals: [{ name: 'MSG', description: 'LOBSTER message file' }],
    options: {
      ...LOBSTER_OPTIONS,
      out: { type: 'string', value: 'FILE', required: true, description: 'output file: binary, or NDJSON when it ends .ndjson/.jsonl (optionally .gz)' },
      header: HEADER_OPTION,
    },
  },
  async run(args) {
    const outPath = args.requiredString('out');
    const started = performance.now();
    const { importLobster } = await import('./lobster.ts');
    const { workload, stats } = await importLobster(args.positional('MSG')!, lobsterOptions(args));
    const format = await writeOutput(outPath, workload, args.boolean('header'));
    out(`${await describeWritten(outPath, workload, format)} in ${(performance.now() - started).toFixed(0)} ms`);
    for (const [key, value] of Object.entries(stats)) out(`  ${key}: ${value}`);
  },
};

function share(part: { matched: number; total: number }): string {
  return part.total === 0 ? 'n/a (none)' : `${((100 * part.matched) / part.total).toFixed(2)}% (${part.matched} of ${part.total})`;
}

const fidelity: Subcommand = {
  spec: {
    command: `${CLI} fidelity`,
    summary: "Replay a LOBSTER import through the reference engine and report the share of LOBSTER's visible executions reproduced exactly and, with an orderbook file, the share of messages after which the top-N book matches.",
    positionals: [{ name: 'MSG', description: 'LOBSTER message file' }],
    options: {
      ...LOBSTER_OPTIONS,
      json: { type: 'boolean', description: 'print exactly {"executions":{"matched":M,"total":T},"book":{"matched":M,"total":T}|null} on stdout' },
    },
  },
  async run(args) {
    const { measureFidelity } = await import('./fidelity.ts');
    const result = await measureFidelity(args.positional('MSG')!, lobsterOptions(args));
    const { executions, book } = result;
    if (args.boolean('json')) {
      const bookJson = book === null ? null : { matched: book.matched, total: book.total };
      out(JSON.stringify({ executions: { matched: executions.matched, total: executions.total }, book: bookJson }));
      return;
    }
    out(`executions reproduced exactly: ${share(executions)}`);
    out(`book matches after message:    ${book === null ? 'not measured (no --orderbook file)' : share(book)}`);
  },
};

const SUBCOMMANDS: ReadonlyMap<string, Subcommand> = new Map([
  ['gen', gen],
  ['info', info],
  ['to-ndjson', toNdjson],
  ['from-ndjson', fromNdjson],
  ['import-lobster', importLobsterCommand],
  ['fidelity', fidelity],
]);

function topLevelHelp(): string {
  const width = Math.max(...[...SUBCOMMANDS.keys()].map((k) => k.length));
  const lines = [
    `Usage: ${CLI} <command> [arguments] [options]`,
    '',
    'Generate, inspect and convert matchbench workloads (binary .mbwl or command NDJSON).',
    '',
    'Commands:',
    ...[...SUBCOMMANDS].map(([name, sub]) => `  ${name.padEnd(width)}  ${sub.spec.summary}`),
    '',
    `Run '${CLI} <command> --help' for a command's arguments and options.`,
  ];
  return `${lines.join('\n')}\n`;
}

runCli(() => runSubcommand(CLI, SUBCOMMANDS, process.argv.slice(2), topLevelHelp()));
