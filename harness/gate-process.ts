/**
 * The gate's measuring process, and the gate's handle on one: `node harness/gate.ts --serve-runs`, run in each tree.
 *
 * Contract between versions of this code (the current tree drives the baseline commit's own copy of this process,
 * so it keeps its shape from one version to the next: fields may be added, none may change meaning). One JSON
 * object per line, requests on the process's stdin, replies on its stdout; anything for a person goes to stderr.
 *
 *   process → gate, once, after preparing the set:  {"ready":{"setKey":"<SetKey as JSON>"}}
 *   gate → process:                                 {"run":"<design>"}
 *   process → gate, per run:                        {"design":"<design>","throughput":<commands/s>,
 *                                                    "foreign":<share of the machine others used, or null>,
 *                                                    "equivalenceFailure":<first difference, or null>}
 *   gate → process:                                 end of stdin: the process exits 0
 *
 * A run is one closed-loop repetition of the design on the set's workload (warm-up included), its answer checked
 * event for event against the reference engine after the timed part. `foreign` covers the timed part only
 * (harness/gate-contention.ts). A process that cannot go on (a failed run, a bad request) says why on stderr and
 * exits non-zero.
 *
 * Why a serving process rather than one that measures its rounds and exits: the gate alternates the two trees run
 * by run, a second apart, so each pair of runs sees the machine in the same state; a process that measured all its
 * rounds at once would be paired with runs half a minute away, and this shared machine's speed wanders by more than
 * the gate's threshold over that time.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import type { EngineDesign } from '../engines/engine.ts';
import { checkEquivalence } from './equivalence.ts';
import { EventLogBuffers } from './event-log.ts';
import { ContentionProbe } from './gate-contention.ts';
import type { PreparedWorkload } from './prepared-workload.ts';
import { ReferenceTraceCache } from './reference-trace.ts';
import { runOnce } from './run.ts';
import { splitWorkload } from './split.ts';

/**
 * V8 flags of every measuring process, both trees (they are Node's flags, so the baseline's code gets them too):
 * optimize hot functions on the thread that runs them, not on a background compiler thread. With background
 * compilation, when an optimized version lands (and so what type feedback it was built on, what got inlined, which
 * loop got on-stack replaced) depends on thread timing, and one run in a fresh worker comes out one of two codes:
 * on this project's AMD EPYC VM, 14 runs of `mutex` in one process scattered between 3.6 and 6.1 M commands/s in two
 * clusters, and `inline` between 4.1 and 6.8; with these flags 4.5–5.1 and 4.9–5.8. That JIT lottery, not the
 * machine, was most of the gate's run-to-run noise. The gate judges the code a change compiles to, so it removes the
 * lottery; `compare` keeps Node's defaults, which is what a user's process gets.
 * --expose-gc and --no-memory-reducer: a process collects its run's garbage before it replies (serveRuns), never in an
 * idle-time GC later, which would land in the other process's run: the two vCPUs of this machine are not independent,
 * and a thread busy on one slowed a measured thread on the other by up to a third.
 */
export const MEASURING_NODE_FLAGS: readonly string[] = ['--no-concurrent-recompilation', '--no-concurrent-osr', '--expose-gc', '--no-memory-reducer'];

/** Exit code of a CLI refusing its arguments (harness/cli-args.ts runCli): a tree whose gate has no --serve-runs. */
const USAGE_EXIT_CODE = 2;

/** The tree's code predates this protocol (its gate refused --serve-runs): nothing to pair with, neither pass nor fail. */
export class ProtocolMismatchError extends Error {
  override readonly name = 'ProtocolMismatchError';
}

export interface RunReply {
  readonly design: string;
  readonly throughput: number;
  readonly foreign: number | null;
  readonly equivalenceFailure: string | null;
}

export interface ServedSet {
  readonly setKey: string;
  readonly workload: PreparedWorkload;
  readonly warmup: number;
  readonly designs: readonly { readonly design: EngineDesign; readonly params: Readonly<Record<string, number | string>> }[];
}

/** `global.gc`, which MEASURING_NODE_FLAGS' --expose-gc provides. */
const collectGarbage = (globalThis as { gc?: () => void }).gc;

/** The process side: announces the set, then serves run requests from stdin until it ends. */
export async function serveRuns(set: ServedSet): Promise<void> {
  const split = splitWorkload(set.workload.shared.records, set.workload.shared.count, 1, 'round-robin');
  const traces = new ReferenceTraceCache();
  const probe = new ContentionProbe();
  const logBuffers = new EventLogBuffers();
  const reply = (message: unknown): void => {
    process.stdout.write(`${JSON.stringify(message)}\n`);
  };
  reply({ ready: { setKey: set.setKey } });
  for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
    if (line.trim() === '') continue;
    const request = JSON.parse(line) as { run?: unknown };
    const entry = set.designs.find((d) => d.design.name === request.run);
    if (entry === undefined) throw new Error(`gate measuring process: request ${line.slice(0, 80)} names no design of this set (${set.designs.map((d) => d.design.name).join(', ')})`);
    probe.start();
    const outcome = await runOnce({ design: entry.design, params: entry.params, workload: set.workload, split, mode: 'closed', rate: null, warmup: set.warmup, logBuffers });
    const foreign = probe.foreignShare() ?? null;
    const verdict = checkEquivalence({ workload: set.workload.workload, workloadKey: set.workload.identity.hash, split, logs: outcome.logs, run: outcome.sequenced, traces });
    logBuffers.give(outcome.logs);
    // Collect the run's garbage now, while the gate waits for this reply, rather than in a later idle-time GC
    // that would land in the other process's run.
    collectGarbage?.();
    reply({ design: entry.design.name, throughput: outcome.throughput, foreign, equivalenceFailure: verdict.ok ? null : verdict.failure } satisfies RunReply);
  }
}

/** The gate's side: one measuring process of one tree. */
export class MeasuringProcess {
  readonly label: string;
  readonly #child: ChildProcessByStdio<Writable, Readable, null>;
  readonly #lines: AsyncIterator<string>;
  readonly #exited: Promise<number>;

  /** Starts `node MEASURING_NODE_FLAGS <tree>/harness/gate.ts --serve-runs` with `nodeBinary` in `tree`, with `env`. */
  constructor(label: string, nodeBinary: string, tree: string, env: NodeJS.ProcessEnv) {
    this.label = label;
    this.#child = spawn(nodeBinary, [...MEASURING_NODE_FLAGS, `${tree}/harness/gate.ts`, '--serve-runs'], { cwd: tree, env, stdio: ['pipe', 'pipe', 'inherit'] });
    // 'close' also follows a failed spawn ('error'), which 'exit' does not; -1 stands for a signal or no process at all.
    this.#exited = new Promise((resolve) => {
      this.#child.once('error', (error) => process.stderr.write(`${label}: ${error.message}\n`));
      this.#child.once('close', (code, signal) => resolve(signal === null && code !== null ? code : -1));
    });
    this.#lines = createInterface({ input: this.#child.stdout, crlfDelay: Infinity })[Symbol.asyncIterator]();
  }

  /** Waits for the process's ready line; returns its set key. */
  async ready(): Promise<string> {
    const first = await this.#lines.next();
    if (first.done === true && (await this.#exited) === USAGE_EXIT_CODE) {
      throw new ProtocolMismatchError(`${this.label}: its code has no \`harness/gate.ts --serve-runs\` (it refused the option, see above), so it cannot be measured run by run beside this one; move the baseline with \`npm run gate -- --update-baseline --reason TEXT\``);
    }
    const message = (await this.#parse(first)) as { ready?: { setKey?: unknown } };
    if (typeof message.ready?.setKey !== 'string') throw new Error(`${this.label}: expected a ready line with a set key, got ${JSON.stringify(message).slice(0, 120)}`);
    return message.ready.setKey;
  }

  /** One run of `design`. */
  async run(design: string): Promise<RunReply> {
    this.#child.stdin.write(`${JSON.stringify({ run: design })}\n`);
    const reply = (await this.#next()) as Partial<RunReply>;
    if (reply.design !== design || typeof reply.throughput !== 'number' || !(reply.throughput > 0)) {
      throw new Error(`${this.label}: expected a run reply for ${design}, got ${JSON.stringify(reply).slice(0, 160)}`);
    }
    return { design, throughput: reply.throughput, foreign: typeof reply.foreign === 'number' ? reply.foreign : null, equivalenceFailure: typeof reply.equivalenceFailure === 'string' ? reply.equivalenceFailure : null };
  }

  /** Ends its stdin and waits for it to exit; a process that does not exit 0 is an error. */
  async finish(): Promise<void> {
    this.#child.stdin.end();
    const code = await this.#exited;
    if (code !== 0) throw new Error(`${this.label} exited with ${code === -1 ? 'a signal or failed to start' : `code ${code}`}`);
  }

  /** Stops it at once (on a signal, or after another process failed). */
  kill(): void {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill('SIGTERM');
  }

  async #next(): Promise<unknown> {
    return this.#parse(await this.#lines.next());
  }

  async #parse(line: IteratorResult<string>): Promise<unknown> {
    if (line.done === true) throw new Error(`${this.label} ended before answering (exit ${await this.#exited}; see its messages above)`);
    try {
      return JSON.parse(line.value) as unknown;
    } catch {
      throw new Error(`${this.label}: a line that is not JSON: ${line.value.slice(0, 120)}`);
    }
  }
}
