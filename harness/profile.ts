/**
 * `npm run profile -- --engine NAME [--tool cpu-prof|0x|clinic-doctor|clinic-flame] [compare flags...]`
 *
 * Profiles one design's hot path by running `npm run compare` for that design alone under a profiler. Every other
 * flag (--preset, --workload, --producers, --param, --repeat, --rate) goes to compare unchanged; without --rate
 * and --producers it profiles the closed loop with one producer (the hot path at full speed, nothing else).
 *
 * Tools, and what each sees:
 * - cpu-prof (default): `node --cpu-prof` writes one V8 profile per thread, workers included, which is the only
 *   way to see a worker-based design's engine loop. Each profile becomes a flame graph (0x --visualize-cpu-profile)
 *   and the hottest functions by self time are printed per thread.
 * - 0x: sampled flame graph of the MAIN thread only; every design runs its engine and producers in worker threads,
 *   so this shows the harness's orchestration, not the hot loop.
 * - clinic-doctor / clinic-flame: clinic's event-loop, GC and CPU diagnosis / flame graph (main thread);
 *   run with NO_INSIGHT=1 so clinic does not try to phone home. clinic doctor preloads its sampler through
 *   NODE_OPTIONS, and Node runs preloads in every worker thread too: each worker's sampler would truncate and
 *   interleave into the main thread's data file ("Decoded message is not valid"). So the main thread, before it
 *   starts any worker, points the workers' copy of NODE_CLINIC_DOCTOR_DATA_PATH at a scratch directory
 *   (WORKER_SAMPLES_TO, an --import of a data: URL).
 *
 * The profilers spawn `node` from PATH, so node_modules/.bin (where the pinned Node 24 lives) goes first on the
 * child's PATH. Everything is written under reports/profiles/<time>-<engine>-<tool>/ and the paths are printed.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { basename, delimiter, join, relative, resolve } from 'node:path';

const TOOLS = ['cpu-prof', '0x', 'clinic-doctor', 'clinic-flame'] as const;
type Tool = (typeof TOOLS)[number];

const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'node_modules', '.bin');
const COMPARE = join(ROOT, 'harness', 'compare.ts');

interface ProfileArgs {
  readonly engine: string;
  readonly tool: Tool;
  /** Passed to compare as they are. */
  readonly compareArgs: readonly string[];
}

export function parseProfileArgs(argv: readonly string[]): ProfileArgs {
  let engine: string | undefined;
  let tool: Tool = 'cpu-prof';
  const compareArgs: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--engine' || arg === '--tool') {
      const value = argv[++i];
      if (value === undefined) throw new Error(`profile: ${arg} needs a value`);
      if (arg === '--engine') engine = value;
      else if ((TOOLS as readonly string[]).includes(value)) tool = value as Tool;
      else throw new Error(`profile: --tool ${value} is not one of ${TOOLS.join(', ')}`);
    } else if (arg === '--engines') {
      throw new Error('profile: name one design with --engine NAME (profiles of several designs would mix)');
    } else {
      compareArgs.push(arg);
    }
  }
  if (engine === undefined) throw new Error(`profile: --engine NAME is required\n${USAGE}`);
  const given = (flag: string): boolean => compareArgs.some((a) => a === flag || a.startsWith(`${flag}=`));
  if (!given('--rate')) compareArgs.push('--rate', 'closed');
  if (!given('--producers')) compareArgs.push('--producers', '1');
  return { engine, tool, compareArgs };
}

const USAGE = `usage: npm run profile -- --engine NAME [--tool ${TOOLS.join('|')}] [compare flags: --preset, --workload, --producers, --param k=v, --repeat ...]`;

/** One function's share of a thread's samples. */
export interface HotFunction {
  readonly name: string;
  /** file:line, relative to the project when inside it. */
  readonly where: string;
  readonly selfPercent: number;
}

export interface ThreadProfile {
  readonly file: string;
  /** Total sampled time, ms. */
  readonly sampledMs: number;
  /** The project source file with the most self time: names what this thread was (engine worker, producer...). */
  readonly mainSource: string;
  readonly hot: readonly HotFunction[];
}

interface CpuProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
}

interface CpuProfile {
  readonly nodes: readonly CpuProfileNode[];
  readonly samples?: readonly number[];
  readonly timeDeltas?: readonly number[];
  readonly startTime: number;
  readonly endTime: number;
}

/** Self time per function of a V8 .cpuprofile, hottest first (idle, GC and program markers included as V8 names them). */
export function summarizeCpuProfile(path: string, top: number): ThreadProfile {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  if (!Array.isArray(profile.nodes) || !Array.isArray(profile.samples)) throw new Error(`${path}: not a V8 .cpuprofile (no nodes/samples)`);
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfByKey = new Map<string, { name: string; where: string; samples: number }>();
  const selfBySource = new Map<string, number>();
  for (const id of profile.samples) {
    const frame = byId.get(id)?.callFrame;
    if (frame === undefined) throw new Error(`${path}: sample refers to unknown node ${id}`);
    const where = frame.url === '' ? '' : `${shortUrl(frame.url)}:${frame.lineNumber + 1}`;
    const name = frame.functionName === '' ? '(anonymous)' : frame.functionName;
    const key = `${name} ${where}`;
    const entry = selfByKey.get(key) ?? { name, where, samples: 0 };
    entry.samples++;
    selfByKey.set(key, entry);
    if (frame.url.startsWith('file://') && frame.url.includes(ROOT) && !frame.url.includes('node_modules')) {
      const source = shortUrl(frame.url);
      selfBySource.set(source, (selfBySource.get(source) ?? 0) + 1);
    }
  }
  const total = profile.samples.length;
  const hot = [...selfByKey.values()]
    .sort((a, b) => b.samples - a.samples)
    .slice(0, top)
    .map((e) => ({ name: e.name, where: e.where, selfPercent: total === 0 ? 0 : (100 * e.samples) / total }));
  const mainSource = [...selfBySource.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? '(no project code sampled)';
  return { file: path, sampledMs: (profile.endTime - profile.startTime) / 1000, mainSource, hot };
}

function shortUrl(url: string): string {
  const path = url.startsWith('file://') ? new URL(url).pathname : url;
  return path.startsWith(ROOT) ? relative(ROOT, path) : path;
}

/** ES module source run by --import in every thread: in the main thread, sends workers' clinic samples elsewhere. */
function workerSamplesTo(dir: string): string {
  const code = `import{isMainThread}from'node:worker_threads';if(isMainThread)process.env.NODE_CLINIC_DOCTOR_DATA_PATH=${JSON.stringify(dir)};`;
  return `--import=data:text/javascript,${encodeURIComponent(code)}`;
}

function run(command: string, args: readonly string[], env: NodeJS.ProcessEnv): void {
  console.log(`$ ${[command, ...args].join(' ')}`);
  const result = spawnSync(command, args, { stdio: 'inherit', env, cwd: ROOT });
  if (result.error !== undefined) throw new Error(`profile: could not start ${command}: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`profile: ${basename(command)} exited with ${result.status ?? result.signal}`);
}

function stamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-');
}

async function main(argv: readonly string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(USAGE);
    return;
  }
  const args = parseProfileArgs(argv);
  const out = join(ROOT, 'reports', 'profiles', `${stamp()}-${args.engine}-${args.tool}`);
  mkdirSync(out, { recursive: true });
  const env = { ...process.env, PATH: `${BIN}${delimiter}${process.env['PATH'] ?? ''}`, NO_INSIGHT: '1' };
  const target = [COMPARE, '--engines', args.engine, ...args.compareArgs];
  switch (args.tool) {
    case 'cpu-prof': {
      run(join(BIN, 'node'), ['--cpu-prof', `--cpu-prof-dir=${out}`, ...target], env);
      const profiles = readdirSync(out).filter((f) => f.endsWith('.cpuprofile')).sort();
      if (profiles.length === 0) throw new Error(`profile: node wrote no .cpuprofile into ${out}`);
      for (const name of profiles) {
        const file = join(out, name);
        const summary = summarizeCpuProfile(file, 8);
        // CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile: thread 0 is the main thread.
        const thread = name.split('.')[4] ?? name;
        const html = join(out, `flamegraph-thread-${thread}.html`);
        run(join(BIN, '0x'), ['--visualize-cpu-profile', file, '--output-html', html, '--title', `${args.engine}: thread ${thread} (${summary.mainSource})`, '--quiet'], env);
        console.log(`\nthread ${thread} (${thread === '0' ? 'main' : 'worker'}, mostly ${summary.mainSource}), ${summary.sampledMs.toFixed(0)} ms sampled`);
        console.log(`  flame graph: ${relative(ROOT, html)}`);
        for (const h of summary.hot) console.log(`  ${h.selfPercent.toFixed(1).padStart(5)} %  ${h.name}  ${h.where}`);
      }
      break;
    }
    case '0x':
      run(join(BIN, '0x'), ['--output-dir', out, '--output-html', join(out, 'flamegraph.html'), '--', 'node', ...target], env);
      console.log('note: 0x samples the main thread only; the designs run their engines in workers (use --tool cpu-prof for those).');
      break;
    case 'clinic-doctor': {
      const scratch = join(out, 'worker-samples-discarded');
      const nodeOptions = [workerSamplesTo(scratch), process.env['NODE_OPTIONS'] ?? ''].join(' ').trim();
      run(join(BIN, 'clinic'), ['doctor', '--open=false', '--dest', out, '--', 'node', ...target], { ...env, NODE_OPTIONS: nodeOptions });
      rmSync(scratch, { recursive: true, force: true });
      break;
    }
    case 'clinic-flame':
      run(join(BIN, 'clinic'), ['flame', '--open=false', '--dest', out, '--', 'node', ...target], env);
      break;
  }
  console.log(`\nprofile written under ${relative(ROOT, out)}/`);
}

if (import.meta.main) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    console.error((error as Error).message);
    process.exit(1);
  });
}
