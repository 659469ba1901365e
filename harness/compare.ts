/**
 * `npm run compare`: runs the concurrent designs over recorded workloads, checks every run's equivalence with the
 * reference engine, prints a table, and writes `results/<timestamp>-<name>.json` (harness/results-schema.ts) and an
 * HTML report of it.
 *
 * Without flags: every design, with 1 and 2 producers where it supports them, in closed loop and open loop at
 * DEFAULT_RATES, on the `balanced` preset and on the GOOG_10 LOBSTER day when its files are present (they are
 * not part of the repository) — sized to take about two minutes on a 2-core machine. Every comparison also measures
 * the floor (harness/comparison.ts): `noop` and the jitter probe at each workload and load. Exit code 1 if any run
 * fails its equivalence check (the first differing event is printed), 2 on bad usage.
 */
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { DESIGN_NAMES, DESIGNS, designByName, designsHelp, HARNESS_FLOOR, resolveParams } from '../engines/designs.ts';
import type { EngineDesign, ParamValue } from '../engines/engine.ts';
import { scoreReplay } from '../workloads/fidelity.ts';
import { findPreset, PRESETS } from '../workloads/generator.ts';
import { DEFAULT_SEED, loadWorkload, parsePresetSpec } from '../workloads/load.ts';
import { importLobster } from '../workloads/lobster.ts';
import { formatHelp, parseArgs, runCli, UsageError, type CommandSpec, type ParsedArgs } from './cli-args.ts';
import { CLOCK_DESCRIPTION } from './clock.ts';
import { runComparison, type ComparisonSettings, type Configuration } from './comparison.ts';
import { formatNs, formatRate } from './console-format.ts';
import { captureEnvironment } from './environment.ts';
import { floorOf, tailSetBy } from './floor.ts';
import { formatHarnessOverhead } from './harness-overhead.ts';
import { type PreparedWorkload, preparePreset, prepareWorkload } from './prepared-workload.ts';
import { Progress } from './progress.ts';
import { renderReport } from './report.ts';
import { RESULTS_SCHEMA, RESULTS_SCHEMA_VERSION, type FidelityFigures, type FloorResults, type LoopMode, type ResultsFile, type RunResult } from './results-schema.ts';
import { DEFAULT_GROUP_COMMANDS, DEFAULT_GROUP_WAIT_US, JOURNAL_MODES, parseJournalMode } from '../journal/journal-mode.ts';
import { parseReplicationMode, type ReplicationMode } from '../server/replicator.ts';
import { activeSlowdown } from '../engines/slowdown-knob.ts';
import { parseSplitRule } from './split.ts';
import { riskCosts } from './risk-cost.ts';
import { loadRiskRules, type NamedRisk } from '../risk/rules.ts';

const ROOT = resolve(import.meta.dirname, '..');
const LOBSTER_DIR = resolve(ROOT, '..', 'shared', 'data', 'lobster');
const DEFAULT_LOBSTER = 'GOOG_2012-06-21_34200000_57600000_message_10.csv.gz';
const DEFAULT_PRODUCERS = [1, 2];
/**
 * One load most designs keep up with on 2 cores and one most cannot, so the latency-vs-load chart shows who
 * saturates; with the floor's runs and 2 repetitions that is the ~2–2.5 minute budget (README: more loads, lower
 * loads or a third repetition cost minutes more).
 */
const DEFAULT_RATES = ['closed', '500k', '2M'];
const DEFAULT_REPEAT = 2;
const LOBSTER_MESSAGE_FILE = /_message_\d+\.csv(\.gz)?$/i;

const SPEC: CommandSpec = {
  command: 'npm run compare --',
  summary: 'Compare the engine designs: throughput and latency over recorded workloads, every run checked event for event against the reference engine.',
  details:
    `Without flags: every design, 1 and 2 producers (where supported), closed loop and open loop at ${DEFAULT_RATES.slice(1).join(', ')} commands/s, on the\n` +
    `balanced preset and the GOOG_10 LOBSTER day (if ${LOBSTER_DIR} has it), ${DEFAULT_REPEAT} interleaved repetitions.\n` +
    'Every comparison also measures the floor at each workload and load: the noop harness floor and the jitter probe.\n\n' +
    `Designs and their parameters (--param NAME=VALUE or --param DESIGN.NAME=VALUE; a comma list sweeps):\n${designsHelp()}\n\n` +
    `Presets: ${PRESETS.map((p) => p.name).join(', ')}. Rates take k/M suffixes (100k, 1M); "closed" is the closed loop.\n` +
    'Writes results/<timestamp>-<name>.json and reports/<timestamp>-<name>.html.',
  options: {
    engines: { type: 'list', value: 'A,B', description: `designs to run (default: all: ${DESIGN_NAMES.join(', ')})` },
    workload: { type: 'list', value: 'FILE', description: 'workload: binary or NDJSON file, "preset:NAME[,seed=N][,count=N]", or a LOBSTER message file' },
    preset: { type: 'list', value: 'NAME', description: 'generated workload from a preset (with --seed, --count)' },
    seed: { type: 'string', value: 'N', description: `seed for --preset (default ${DEFAULT_SEED})` },
    count: { type: 'string', value: 'N', description: "commands for --preset (default: the preset's)" },
    producers: { type: 'list', value: 'N,M', description: `producer threads; a list runs each (default ${DEFAULT_PRODUCERS.join(',')}; designs skip counts they do not support)` },
    rate: { type: 'list', value: 'R,S', description: `loop modes: "closed" and/or open-loop offered rates in commands/s (default ${DEFAULT_RATES.join(',')})` },
    repeat: { type: 'string', value: 'N', description: `repetitions per configuration, interleaved (default ${DEFAULT_REPEAT})` },
    param: { type: 'list', value: 'K=V', description: 'design parameter, NAME=V for every design that has it or DESIGN.NAME=V; V may be a comma list' },
    split: { type: 'string', value: 'RULE', description: 'how producers share the workload: order (default: by symbol and order id), symbol or round-robin' },
    warmup: { type: 'string', value: 'N', description: 'warm-up commands per producer (default: 10% of its share, at most 50000)' },
    journal: { type: 'list', value: 'MODE', description: `journal modes, each a dimension: ${JOURNAL_MODES.join(', ')} (default none); see README "The write-ahead journal"` },
    'snapshot-every': { type: 'list', value: 'N', description: 'journaled runs also snapshot every core under load at every multiple of N sequence numbers, a dimension (0: no snapshots; e.g. 0,50000); the engine pauses for the copy (README "Snapshots and recovery")' },
    replication: { type: 'list', value: 'MODE', description: 'journaled runs with a hot standby on a thread of this process, over loopback, a dimension: off, async, sync (default off); see README "Hot standby and failover"' },
    risk: { type: 'string', value: 'FILE', description: 'also run every configuration with these risk rules and breaker (README "Risk rules and the breaker"), a dimension: without and with, so the cost of the checks is one ratio' },
    'journal-dir': { type: 'string', value: 'DIR', description: "where each journaled run's journal is made and deleted (default: the OS temporary directory): its disk sets the fsync figures" },
    'group-commands': { type: 'string', value: 'N', description: `group mode: fsync once a frame holds N commands (default ${DEFAULT_GROUP_COMMANDS})` },
    'group-wait-us': { type: 'string', value: 'T', description: `group mode: ... or once its first command waited T µs (default ${DEFAULT_GROUP_WAIT_US})` },
    name: { type: 'string', value: 'NAME', description: 'name in the results file name (default "default" without flags, else "compare")' },
    json: { type: 'boolean', description: 'print the results file to stdout instead of the table' },
  },
};

function commaList(values: readonly string[]): string[] {
  return values.flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');
}

/** "500k" → 500000, "1M" → 1000000, "250000" → 250000. */
function parseRate(text: string): number {
  const match = /^(\d+(?:\.\d+)?)([kKmM]?)$/.exec(text);
  const value = match === null ? NaN : Number(match[1]) * (match[2] === '' ? 1 : match[2]!.toLowerCase() === 'k' ? 1e3 : 1e6);
  if (!(value > 0) || !Number.isFinite(value)) throw new UsageError(SPEC.command, `--rate: '${text}' is neither "closed" nor a positive rate like 100k or 1M`);
  return value;
}

interface ParamChoice {
  readonly design: string | null;
  readonly name: string;
  readonly values: readonly string[];
}

function parseParamFlags(flags: readonly string[], designs: readonly EngineDesign[]): ParamChoice[] {
  return flags.map((flag) => {
    const eq = flag.indexOf('=');
    if (eq <= 0) throw new UsageError(SPEC.command, `--param: '${flag}' is not NAME=VALUE or DESIGN.NAME=VALUE`);
    const key = flag.slice(0, eq);
    const dot = key.indexOf('.');
    const design = dot < 0 ? null : key.slice(0, dot);
    const name = dot < 0 ? key : key.slice(dot + 1);
    const values = commaList([flag.slice(eq + 1)]);
    if (values.length === 0) throw new UsageError(SPEC.command, `--param ${flag}: no value`);
    const targets = designs.filter((d) => (design === null || d.name === design) && d.params.some((p) => p.name === name));
    if (targets.length === 0) {
      throw new UsageError(SPEC.command, `--param ${flag}: ${design === null ? 'no selected design' : `design '${design}' (if selected)`} has a parameter '${name}'`);
    }
    return { design, name, values };
  });
}

/** Every parameter combination a design runs with: the cartesian product of the values given for its parameters. */
function paramSets(design: EngineDesign, choices: readonly ParamChoice[]): Array<Record<string, ParamValue>> {
  let sets: Array<Record<string, ParamValue>> = [{}];
  for (const choice of choices) {
    if ((choice.design !== null && choice.design !== design.name) || !design.params.some((p) => p.name === choice.name)) continue;
    sets = sets.flatMap((set) => choice.values.map((value) => ({ ...set, [choice.name]: value })));
  }
  return sets;
}

interface LoadedInput {
  readonly prepared: PreparedWorkload;
  readonly fidelity: FidelityFigures | null;
}

async function lobsterInput(messagePath: string): Promise<LoadedInput> {
  const orderbookPath = messagePath.replace(/_message_/i, '_orderbook_');
  const hasOrderbook = orderbookPath !== messagePath && existsSync(orderbookPath);
  const imported = await importLobster(messagePath, hasOrderbook ? { orderbookPath } : {});
  const id = basename(messagePath).replace(/\.csv(\.gz)?$/i, '').replace(/_\d{4}-\d\d-\d\d_\d+_\d+_message_/, '_');
  const prepared = prepareWorkload(imported.workload, id, id, { kind: 'lobster', messageFile: messagePath, orderbookFile: hasOrderbook ? orderbookPath : null });
  const fidelity = scoreReplay(imported);
  return { prepared, fidelity: { workload: id, executions: fidelity.executions, book: fidelity.book } };
}

async function loadInputs(args: ParsedArgs, progress: Progress): Promise<LoadedInput[]> {
  const files = [...args.list('workload')];
  const presets = commaList(args.list('preset'));
  const seed = args.integer('seed') ?? DEFAULT_SEED;
  const count = args.integer('count', 1);
  const inputs: LoadedInput[] = [];
  const ids = new Set<string>();
  const add = (input: LoadedInput): void => {
    if (ids.has(input.prepared.identity.id)) throw new UsageError(SPEC.command, `workload '${input.prepared.identity.id}' given twice`);
    ids.add(input.prepared.identity.id);
    inputs.push(input);
  };
  if (files.length === 0 && presets.length === 0) {
    presets.push('balanced');
    const lobster = join(LOBSTER_DIR, DEFAULT_LOBSTER);
    if (existsSync(lobster)) files.push(lobster);
    else progress.line(`note: ${lobster} not found; the default comparison runs without the LOBSTER workload`);
  }
  for (const name of presets) {
    let preset;
    try {
      preset = findPreset(name);
    } catch (error) {
      throw new UsageError(SPEC.command, `--preset: ${(error as Error).message}`);
    }
    const n = count ?? preset.defaultCount;
    progress.line(`workload: generating preset ${preset.name} (seed ${seed}, ${n} commands)`);
    add({ prepared: preparePreset({ preset: preset.name, seed, count: n }), fidelity: null });
  }
  for (const file of files) {
    const spec = parsePresetSpec(file);
    if (spec !== null) {
      const n = spec.count ?? findPreset(spec.preset).defaultCount;
      progress.line(`workload: generating ${file}`);
      add({ prepared: preparePreset({ preset: spec.preset, seed: spec.seed, count: n }, `${spec.preset}-s${spec.seed}-n${n}`), fidelity: null });
    } else if (LOBSTER_MESSAGE_FILE.test(file)) {
      progress.line(`workload: importing LOBSTER ${file}`);
      add(await lobsterInput(file));
    } else {
      progress.line(`workload: loading ${file}`);
      const id = basename(file).replace(/\.(bin|mbwl|ndjson|jsonl)(\.gz)?$/i, '');
      add({ prepared: prepareWorkload(await loadWorkload(file), id, id, { kind: 'file', path: file }), fidelity: null });
    }
  }
  return inputs;
}

function pad(text: string, width: number, right = false): string {
  return right ? text.padStart(width) : text.padEnd(width);
}

function modeText(r: { readonly mode: LoopMode; readonly offeredRate: number | null }): string {
  return r.mode === 'closed' ? 'closed' : `open ${formatRate(r.offeredRate!)}/s`;
}

function alignedTable(header: readonly string[], rows: readonly (readonly string[])[], numeric: ReadonlySet<number>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => pad(c, widths[i]!, numeric.has(i))).join('  ');
  return [line(header), widths.map((w) => '─'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/**
 * The final table: one row per configuration, with commands per CPU-second and cores busy, the floor's p99 and
 * p99.9 at the same load (jitter probe / noop), and which floor sets the design's tail when one does.
 */
export function formatTable(runs: readonly RunResult[], floor: FloorResults): string {
  const header = ['design', 'params', 'workload', 'P', 'mode', 'journal', 'risk', 'cmd/s median', 'min–max', 'cmd/CPU-s', 'cores', 'p50', 'p99', 'p99.9', 'max',
    'floor p99 probe/noop', 'floor p99.9', 'tail set by', '× inline', 'equivalence'];
  const pair = (a: number | undefined, b: number | undefined): string => `${a === undefined ? '-' : formatNs(a)} / ${b === undefined ? '-' : formatNs(b)}`;
  const rows = runs.map((r) => {
    const defaults = designByName(r.engine).params;
    const params = Object.entries(r.params).filter(([k, v]) => defaults.find((p) => p.name === k)?.default !== v).map(([k, v]) => `${k}=${v}`).join(',');
    const t = r.summary.throughput;
    const l = r.summary.latency;
    const f = floorOf(floor, r);
    return [
      r.engine, params === '' ? '-' : params, r.workload, String(r.producers), modeText(r), journalText(r), r.risk ?? '-',
      formatRate(t.median), `${formatRate(t.min)}–${formatRate(t.max)}`, formatRate(r.summary.cpu.commandsPerCpuSecond), r.summary.cpu.coresBusy.toFixed(2),
      formatNs(l.p50Ns), formatNs(l.p99Ns), formatNs(l.p99_9Ns), formatNs(l.maxNs),
      pair(f.machine?.p99Ns, f.harness?.p99Ns), pair(f.machine?.p99_9Ns, f.harness?.p99_9Ns), tailSetBy(r, f) ?? '-',
      r.summary.ratioToInline === null ? '-' : r.summary.ratioToInline.toFixed(2),
      r.summary.equivalent ? `ok (${r.repetitions.length}/${r.repetitions.length})` : `FAILED (${r.repetitions.filter((x) => !x.equivalence.ok).length}/${r.repetitions.length})`,
    ];
  });
  return alignedTable(header, rows, new Set([3, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 18]));
}

/** With --risk: each design's throughput under the rules over without them, same session. */
export function formatRiskCostTable(runs: readonly RunResult[]): string {
  const costs = riskCosts(runs);
  if (costs.length === 0) return '';
  const rows = costs.map((c) => [
    c.engine, c.workload, String(c.producers), c.mode === 'closed' ? 'closed' : `open@${formatRate(c.offeredRate!)}`, c.rules,
    formatRate(c.withoutRules), formatRate(c.withRules), c.ratio.toFixed(3),
  ]);
  return `risk-check cost (median throughput with rules ÷ without, same session):\n${alignedTable(['design', 'workload', 'P', 'mode', 'rules', 'without cmd/s', 'with cmd/s', 'ratio'], rows, new Set([2, 5, 6, 7]))}\n\n`;
}

/** The journal mode, with the disk's fsync p99 and the longest snapshot pause beside it when there were any. */
function journalText(r: RunResult): string {
  if (r.journal === undefined) return 'none';
  const fsync = r.summary.fsync;
  const pause = r.summary.snapshotPause;
  const figures = [
    ...(fsync == null ? [] : [`fsync p99 ${formatNs(fsync.p99Ns)}`]),
    ...(pause == null ? [] : [`${pause.count} snapshots, pause max ${formatNs(pause.maxNs)}`]),
  ];
  const replication = r.repetitions.map((rep) => rep.journal?.replication).filter((x) => x !== undefined);
  if (r.journal.replication !== undefined) {
    const lag = Math.max(0, ...replication.map((x) => x.lagUs.p99));
    figures.push(`standby ${r.journal.replication}${r.journal.replication === 'async' ? `, lag p99 ${formatNs(lag * 1000)}` : ''}`);
  }
  return figures.length === 0 ? r.journal.mode : `${r.journal.mode} (${figures.join('; ')})`;
}

/** The floor's own table: the jitter probe and noop at every workload and load, with the probe's large gaps per second. */
export function formatFloorTable(floor: FloorResults): string {
  const header = ['floor', 'workload', 'P', 'mode', 'p50', 'p99', 'p99.9', 'max', 'cmd/CPU-s', 'gaps/s 10µs–1ms', 'gaps/s ≥1ms', 'check'];
  const perSecond = (n: number, ns: number): string => (ns === 0 ? '-' : (n / (ns / 1e9)).toFixed(1));
  const rows = [
    ...floor.machine.map((m) => {
      const l = m.summary.latency;
      const d = m.summary.gapsByDecade;
      return ['machine (jitter probe)', m.workload, '-', modeText(m), formatNs(l.p50Ns), formatNs(l.p99Ns), formatNs(l.p99_9Ns), formatNs(l.maxNs), '-',
        perSecond(d.from10to100us + d.from100usTo1ms, m.summary.durationNs), perSecond(d.from1to10ms + d.atLeast10ms, m.summary.durationNs), '-'];
    }),
    ...floor.harness.map((h) => {
      const l = h.summary.latency;
      return ['harness (noop)', h.workload, String(h.producers), modeText(h), formatNs(l.p50Ns), formatNs(l.p99Ns), formatNs(l.p99_9Ns), formatNs(l.maxNs),
        formatRate(h.summary.cpu.commandsPerCpuSecond), '-', '-', h.summary.equivalent ? 'completions ok' : 'completions FAILED'];
    }),
  ];
  return alignedTable(header, rows, new Set([2, 4, 5, 6, 7, 8, 9, 10]));
}

function timestamp(date: Date): string {
  return date.toISOString().replace(/\.\d+Z$/, 'Z').replaceAll(':', '-');
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const args = parseArgs(argv, SPEC);
  if (args.help) {
    process.stdout.write(formatHelp(SPEC));
    return;
  }
  const started = new Date();
  const progress = new Progress();
  const engineNames = commaList(args.list('engines'));
  let designs: EngineDesign[];
  try {
    designs = engineNames.length === 0 ? [...DESIGNS] : engineNames.map((name) => designByName(name));
  } catch (error) {
    throw new UsageError(SPEC.command, `--engines: ${(error as Error).message}`);
  }
  if (designs.includes(HARNESS_FLOOR)) throw new UsageError(SPEC.command, `--engines: ${HARNESS_FLOOR.name} is the harness floor, measured in every comparison; it is not a design to select`);
  const producerCounts = commaList(args.list('producers')).map((p) => {
    const n = Number(p);
    if (!Number.isInteger(n) || n < 1 || n > 64) throw new UsageError(SPEC.command, `--producers: '${p}' is not an integer in 1 … 64`);
    return n;
  });
  const modes: Array<{ mode: LoopMode; rate: number | null }> = (commaList(args.list('rate')).length > 0 ? commaList(args.list('rate')) : DEFAULT_RATES)
    .map((r) => (r === 'closed' ? { mode: 'closed' as const, rate: null } : { mode: 'open' as const, rate: parseRate(r) }));
  const repeat = args.integer('repeat', 1, 1000) ?? DEFAULT_REPEAT;
  let split;
  try {
    split = parseSplitRule(args.string('split') ?? 'order', '--split');
  } catch (error) {
    throw new UsageError(SPEC.command, (error as Error).message);
  }
  const choices = parseParamFlags(args.list('param'), designs);
  const settings: ComparisonSettings = { repeat, split, warmupFraction: 0.1, warmupMax: 50_000, warmup: args.integer('warmup') ?? null };

  let journalModes;
  try {
    journalModes = [...new Set(commaList(args.list('journal')).map((m) => parseJournalMode(m, '--journal')))];
  } catch (error) {
    throw new UsageError(SPEC.command, (error as Error).message);
  }
  if (journalModes.length === 0) journalModes = ['none' as const];
  const journalDir = resolve(args.string('journal-dir') ?? tmpdir());
  if (journalModes.some((m) => m !== 'none') && !(existsSync(journalDir) && statSync(journalDir).isDirectory())) {
    throw new UsageError(SPEC.command, `--journal-dir: '${journalDir}' is not a directory`);
  }
  const groupCommands = args.integer('group-commands', 1, 1 << 20) ?? DEFAULT_GROUP_COMMANDS;
  const groupWaitUs = args.integer('group-wait-us', 0, 1_000_000) ?? DEFAULT_GROUP_WAIT_US;
  const snapshotFlags = commaList(args.list('snapshot-every'));
  const snapshotEvery = snapshotFlags.length === 0 ? [0] : [...new Set(snapshotFlags.map((v) => {
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < 0) throw new UsageError(SPEC.command, `--snapshot-every: '${v}' is not an integer ≥ 0`);
    return n;
  }))];
  if (snapshotEvery.some((n) => n > 0) && !journalModes.some((m) => m !== 'none')) throw new UsageError(SPEC.command, '--snapshot-every: snapshots are taken beside a journal; give --journal async, group or sync too');
  let replications: Array<ReplicationMode | 'off'>;
  try {
    replications = [...new Set(commaList(args.list('replication')))].map((r) => (r === 'off' ? 'off' : parseReplicationMode(r, '--replication (or off)')));
  } catch (error) {
    throw new UsageError(SPEC.command, (error as Error).message);
  }
  if (replications.length === 0) replications = ['off'];
  if (replications.some((r) => r !== 'off') && !journalModes.some((m) => m !== 'none')) throw new UsageError(SPEC.command, '--replication: a standby follows the journal; give --journal async, group or sync too');
  const journals = journalModes.flatMap((mode) => (mode === 'none' ? [undefined]
    : snapshotEvery.flatMap((every) => replications.map((replication) => ({
      mode, groupCommands, groupWaitUs, dir: journalDir, ...(every === 0 ? {} : { snapshotEvery: every }),
      ...(replication === 'off' ? {} : { replication }),
    })))));

  const riskFile = args.string('risk');
  let risks: Array<NamedRisk | undefined> = [undefined];
  if (riskFile !== undefined) {
    let rules;
    try {
      rules = loadRiskRules(riskFile);
    } catch (error) {
      throw new UsageError(SPEC.command, `--risk: ${(error as Error).message}`);
    }
    if (replications.some((r) => r !== 'off')) throw new UsageError(SPEC.command, '--risk with --replication: the standby thread does not take rules yet; run them separately');
    risks = [undefined, { name: basename(riskFile).replace(/\.json$/i, ''), rules }];
  }

  const inputs = await loadInputs(args, progress);
  const configurations: Configuration[] = [];
  for (const input of inputs) {
    for (const design of designs) {
      for (const given of paramSets(design, choices)) {
        let params;
        try {
          params = resolveParams(design, given);
        } catch (error) {
          throw new UsageError(SPEC.command, `--param: ${(error as Error).message}`);
        }
        const counts = producerCounts.length > 0 ? producerCounts : DEFAULT_PRODUCERS;
        for (const producers of counts.filter((p) => p <= design.maxProducers(params))) {
          for (const { mode, rate } of modes) {
            for (const journal of journals) {
              for (const risk of risks) {
                configurations.push({
                  design, params, workload: input.prepared, producers, mode, rate, ...(journal === undefined ? {} : { journal }), ...(risk === undefined ? {} : { risk }),
                });
              }
            }
          }
        }
      }
    }
  }
  if (configurations.length === 0) throw new UsageError(SPEC.command, 'nothing to run: no selected design supports the requested producer counts');

  const { runs, floor, harnessOverhead } = await runComparison(configurations, settings, progress);
  const name = args.string('name') ?? (argv.length === 0 ? 'default' : 'compare');
  if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new UsageError(SPEC.command, `--name: '${name}' may only use letters, digits, '.', '_' and '-'`);
  const slowdown = activeSlowdown();
  const results: ResultsFile = {
    schema: RESULTS_SCHEMA,
    version: RESULTS_SCHEMA_VERSION,
    name,
    createdAt: started.toISOString(),
    argv,
    environment: captureEnvironment(),
    settings: {
      repeat, warmupCommands: settings.warmup ?? settings.warmupMax, order: 'interleaved', clock: CLOCK_DESCRIPTION, split,
      injectedSlowdown: slowdown.length === 0 ? null : slowdown.map((s) => ({ design: s.design, fraction: s.fraction })),
    },
    workloads: inputs.map((i) => i.prepared.identity),
    runs,
    floor,
    harnessOverhead,
    fidelity: inputs.flatMap((i) => (i.fidelity === null ? [] : [i.fidelity])),
    allEquivalent: runs.every((r) => r.summary.equivalent),
  };
  const stamp = timestamp(started);
  mkdirSync(join(ROOT, 'results'), { recursive: true });
  const resultsPath = join(ROOT, 'results', `${stamp}-${name}.json`);
  writeFileSync(resultsPath, `${JSON.stringify(results, null, 1)}\n`);
  const reportPath = join(ROOT, 'reports', `${stamp}-${name}.html`);
  let reportLine: string;
  try {
    await renderReport([results], reportPath);
    reportLine = `report:  ${reportPath}`;
  } catch (error) {
    reportLine = `report:  not written (${(error as Error).message})`;
  }

  if (args.boolean('json')) process.stdout.write(`${JSON.stringify(results)}\n`);
  else process.stdout.write(`\n${formatTable(runs, floor)}\n\n${formatRiskCostTable(runs)}${formatFloorTable(floor)}\n\n`);
  for (const o of harnessOverhead) process.stderr.write(`${formatHarnessOverhead(o)}\n`);
  process.stderr.write(`results: ${resultsPath}\n${reportLine}\n`);
  for (const f of results.fidelity) {
    const book = f.book === null ? '' : `, book ${(100 * f.book.matched / f.book.total).toFixed(1)}% of messages`;
    process.stderr.write(`LOBSTER fidelity ${f.workload}: executions ${(100 * f.executions.matched / f.executions.total).toFixed(1)}%${book}\n`);
  }
  const failed = [...runs, ...floor.harness].filter((r) => !r.summary.equivalent);
  if (failed.length > 0) {
    for (const r of failed) {
      const first = r.repetitions.find((x) => !x.equivalence.ok)!;
      const check = r.engine === HARNESS_FLOOR.name ? 'COMPLETION CHECK' : 'EQUIVALENCE';
      process.stderr.write(`${check} FAILED: ${r.id} (repetition ${first.order}): ${first.equivalence.failure}\n`);
    }
    process.exitCode = 1;
  }
}

runCli(main);
