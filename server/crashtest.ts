/**
 * `npm run crashtest -- --design NAME --journal MODE [--kills N] [--connections C] [--seed S] [--rate R]
 * [--snapshot-every N] [--power-loss F] [--json]`:
 * kill -9 the engine server N times at random moments under load, restart it on the same directory and port each
 * time, let the load client (server/load.ts, `--retry`) resume its sessions, and check the survivors. A fraction F
 * of the kills (group and sync; default half) is also a power cut: before the restart the journal is cut back to
 * its fsync mark, or torn inside, or bit-flipped in, the frame after it (journal/power-cut.ts). The server snapshots
 * every N sequence numbers (default 50,000), so restarts recover from a snapshot taken under load plus the journal.
 *
 *   (a) every command acknowledged before a kill is in the journal the server recovers from (group and sync
 *       promise 0 lost, ever; async and none count what they lost — the client then stops on SESSION_AHEAD);
 *   (b) nothing applied twice: no (session, client sequence) twice in the journal;
 *   (c) the journal is a valid interleaving of the clients' streams (each session's client sequences 1, 2, 3 …
 *       in order, each the command the client sent), and replaying it through the reference engine gives the
 *       recovered book hash (`npm run recover`'s);
 *   (d) every client received exactly the reference's events for its commands, once.
 *
 * A kill comes a random 150–600 ms after every unfinished connection was acknowledged again by the restarted
 * server (so every kill lands under load, whatever the client's backoff). Moments come from a seeded PRNG (printed, `--seed` replays a run's schedule; the machine's timing still varies).
 * Everything runs in a temporary directory on 127.0.0.1 and is removed afterwards; the server is stopped by the
 * pid it was started with, also on failure. Reports kills, acknowledged, lost, duplicates, recovery time (restart to
 * listening, p50/max), the power cuts, the snapshots' pauses and size, and the verdict; exit 0 only when every
 * check passes for what the mode promises.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { designByName } from '../engines/designs.ts';
import { formatHelp, parseArgs, runCli, UsageError, type CommandSpec } from '../harness/cli-args.ts';
import { splitWorkload } from '../harness/split.ts';
import { acknowledgesDurable, JOURNAL_MODES, parseJournalMode } from '../journal/journal-mode.ts';
import { POWER_CUTS, powerCut, type PowerCut } from '../journal/power-cut.ts';
import { journalDirectories } from '../journal/recovery.ts';
import { generateWorkload } from '../workloads/generator.ts';
import { Prng } from '../workloads/prng.ts';

import { freePort } from './free-port.ts';
import { checkSurvivors } from './survivor-check.ts';
import { snapshotsLogged, startServe, stopServe } from './serve-process.ts';
import { runLoad } from './load.ts';

const SESSION_BASE = 1000;
/** A restart recovers the whole journal after the last snapshot before it listens. */
const SERVE_START_TIMEOUT_MS = 60_000;
const DEFAULT_SNAPSHOT_EVERY = 50_000;
const DEFAULT_POWER_LOSS = 0.5;

const SPEC: CommandSpec = {
  command: 'npm run crashtest --',
  summary: 'kill -9 the engine server N times under load, restart it, let the clients resume, and check that acknowledged commands survive exactly once.',
  details: `Journal modes: ${JOURNAL_MODES.join(', ')} (group and sync promise 0 lost). The seed is printed; --seed replays the kill schedule.`,
  options: {
    design: { type: 'string', value: 'NAME', description: 'the design to serve', required: true },
    journal: { type: 'string', value: 'MODE', description: 'journal mode (default group)' },
    kills: { type: 'string', value: 'N', description: 'kill -9 this many times (default 10)' },
    connections: { type: 'string', value: 'C', description: 'client connections, one session each (default 1)' },
    seed: { type: 'string', value: 'S', description: 'seed of the kill moments and the workload (default: random, printed)' },
    rate: { type: 'string', value: 'R', description: 'offered commands/s of the client (default 5000)' },
    'snapshot-every': { type: 'string', value: 'N', description: `the server snapshots every N sequence numbers (default ${DEFAULT_SNAPSHOT_EVERY}; 0: at clean stops only)` },
    'power-loss': { type: 'string', value: 'F', description: `fraction of kills that are also power cuts (group and sync; default ${DEFAULT_POWER_LOSS}; 0 for async and none)` },
    json: { type: 'boolean', description: 'print one JSON object' },
  },
};

function percentile(values: readonly number[], q: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2), SPEC);
  if (args.help) {
    process.stdout.write(formatHelp(SPEC));
    return;
  }
  const designName = args.string('design')!;
  try {
    designByName(designName);
  } catch (error) {
    throw new UsageError(SPEC.command, `--design: ${(error as Error).message}`);
  }
  let mode;
  try {
    mode = parseJournalMode(args.string('journal') ?? 'group', '--journal');
  } catch (error) {
    throw new UsageError(SPEC.command, (error as Error).message);
  }
  const kills = args.integer('kills', 0, 100_000) ?? 10;
  const connections = args.integer('connections', 1, 64) ?? 1;
  const seed = args.integer('seed') ?? Math.floor(Math.random() * 1e9);
  const rate = args.integer('rate', 100, 10_000_000) ?? 5_000;
  const snapshotEvery = args.integer('snapshot-every', 0, 2 ** 40) ?? DEFAULT_SNAPSHOT_EVERY;
  const powerLossFlag = args.string('power-loss');
  const powerLoss = powerLossFlag === undefined ? (acknowledgesDurable(mode) ? DEFAULT_POWER_LOSS : 0) : Number(powerLossFlag);
  if (!(powerLoss >= 0 && powerLoss <= 1)) throw new UsageError(SPEC.command, `--power-loss: '${powerLossFlag}' is not a fraction from 0 to 1`);
  if (powerLoss > 0 && !acknowledgesDurable(mode)) throw new UsageError(SPEC.command, `--power-loss: journal ${mode} does not fsync before acknowledging, so a power cut would take back acknowledged commands by design; use group or sync`);
  if (snapshotEvery > 0 && mode === 'none') throw new UsageError(SPEC.command, '--snapshot-every: journal none keeps no journal to snapshot beside (pass --snapshot-every 0)');
  const random = new Prng(seed);
  // Each kill comes 150–600 ms after the clients are back; the load runs past the last one (a restart and the
  // client's backoff take a second or two).
  const uptimesMs = Array.from({ length: kills }, () => 150 + random.below(450));
  // A kill cycle (restart with recovery of the whole journal, the clients' backoff, the uptime) measured 2.5–4 s on
  // the 2-vCPU machine; with fewer commands the load ends early and the kills left are reported as not made.
  const count = Math.ceil(rate * (uptimesMs.reduce((a, b) => a + b, 0) / 1000 + 4 * kills + 1)) + 1000;
  const workload = generateWorkload({ preset: 'balanced', seed, count });
  process.stderr.write(`crashtest: ${designName}, journal ${mode}, ${kills} kills (power cuts: ${powerLoss}), ${connections} connection(s), ${count} commands at ${rate}/s, snapshots every ${snapshotEvery}, seed ${seed}\n`);

  const root = mkdtempSync(join(tmpdir(), 'matchbench-crashtest-'));
  const running = new Set<ChildProcess>();
  try {
    const dir = join(root, 'journal');
    const port = await freePort();
    const serveArgs = ['--design', designName, '--journal', mode, '--dir', dir, '--port', String(port), '--symbols-from', `preset:balanced,seed=${seed},count=${count}`,
      '--capacity', String(Math.max(1 << 16, count + 1000)), ...(designName === 'mutex' ? ['--producers', String(Math.min(2, connections))] : []),
      ...(snapshotEvery > 0 ? ['--snapshot-every', String(snapshotEvery)] : [])];
    const serverOutputs: string[] = [];
    const powerCuts: Record<PowerCut, number> = { cut: 0, torn: 0, flip: 0 };
    let powerCutBytes = 0;
    let server = await startServe(serveArgs, running, SERVE_START_TIMEOUT_MS);
    const recoveryMs: number[] = [];
    const eventsPath = join(root, 'events.ndjson');
    const acksPath = join(root, 'acks.ndjson');
    const acks = new Array<number>(connections).fill(0);
    const load = runLoad({
      addresses: [{ host: '127.0.0.1', port }], workload, connections, rate, window: 256, eventsPath, acksPath, retry: true,
      sessionBase: SESSION_BASE, timeoutMs: 120_000 + kills * 5_000, log: () => {}, onAcknowledged: (c) => { acks[c]!++; },
    });
    let loadDone = false;
    void load.then(() => { loadDone = true; });
    let killed = 0;
    const perConnection = splitWorkload(workload.records, workload.count, connections, 'order').streams.map((s) => s.length);
    for (const uptime of uptimesMs) {
      // Under load: every unfinished connection has been acknowledged since the restart (it found the new server
      // through its backoff), then the random uptime.
      const seen = [...acks];
      const back = Date.now() + 15_000;
      while (!loadDone && Date.now() < back && acks.some((n, c) => n === seen[c] && n < perConnection[c]!)) await new Promise((r) => setTimeout(r, 5));
      await new Promise((r) => setTimeout(r, uptime));
      if (loadDone) break;
      await stopServe(server, 'SIGKILL', running);
      serverOutputs.push(server.output());
      killed++;
      if (powerLoss > 0 && random.chance(powerLoss)) {
        const kind = POWER_CUTS[random.below(POWER_CUTS.length)]!;
        for (const journal of journalDirectories(dir).dirs) {
          const outcome = powerCut(journal, kind, random);
          powerCuts[outcome.kind]++;
          powerCutBytes += outcome.bytesLost;
        }
      }
      server = await startServe(serveArgs, running, SERVE_START_TIMEOUT_MS);
      recoveryMs.push(server.listeningMs);
    }
    const report = await load;
    await stopServe(server, 'SIGTERM', running);
    serverOutputs.push(server.output());
    const snapshots = snapshotsLogged(serverOutputs.join('\n'));
    const pausesUs = snapshots.map((s) => s.pauseUs);

    // The survivors, checked against the reference engine.
    const survivors = checkSurvivors({ dir, workload, connections, sessionBase: SESSION_BASE, acksPath, eventsPath });
    const { acknowledged: acked, lost, duplicates, eventMismatches, problems } = survivors;
    const durableMode = acknowledgesDurable(mode);
    if (killed < kills) problems.push(`only ${killed} of the ${kills} kills were made before the load ended (raise --rate or lower --kills)`);
    const ok = problems.length === 0 && duplicates === 0 && eventMismatches === 0 && (!durableMode || (lost.length === 0 && report.ok));
    const summary = {
      design: designName, journal: mode, seed, kills: killed, connections, commands: count, acknowledged: acked.length, lost: lost.length, duplicates,
      eventMismatches, clientOk: report.ok, clientFailures: report.failures, reconnects: report.reconnects,
      recoveryMs: { p50: percentile(recoveryMs, 0.5), max: Math.max(0, ...recoveryMs) },
      powerCuts: { ...powerCuts, bytesLost: powerCutBytes },
      snapshots: { every: snapshotEvery, taken: pausesUs.length, pauseUs: { p50: percentile(pausesUs, 0.5), max: Math.max(0, ...pausesUs) }, bytes: snapshots.at(-1)?.bytes ?? 0 },
      problems, ok,
      environment: { cpu: cpus()[0]?.model ?? 'unknown', node: process.version },
    };
    if (args.boolean('json')) process.stdout.write(`${JSON.stringify(summary)}\n`);
    else {
      process.stdout.write(
        `crashtest ${designName} journal ${mode} (seed ${seed}, ${summary.environment.cpu}): ${killed} kills, ${acked.length} of ${count} acknowledged, ` +
          `${lost.length} lost, ${duplicates} duplicated, ${eventMismatches} with wrong events, ${report.reconnects} reconnects; ` +
          `restart to listening p50 ${summary.recoveryMs.p50.toFixed(0)} ms, max ${summary.recoveryMs.max.toFixed(0)} ms; ` +
          `power cuts: ${powerCuts.cut} cut to the fsync mark, ${powerCuts.torn} torn, ${powerCuts.flip} bit-flipped (${powerCutBytes} bytes lost); ` +
          `${pausesUs.length} snapshots under load, engine paused p50 ${summary.snapshots.pauseUs.p50} µs, max ${summary.snapshots.pauseUs.max} µs, ${summary.snapshots.bytes} bytes: ${ok ? 'PASS' : 'FAIL'}\n`,
      );
      for (const p of [...problems, ...report.failures.map((f) => `client: ${f}`)]) process.stdout.write(`  ${p}\n`);
    }
    if (!ok) process.exitCode = 1;
  } finally {
    for (const child of running) if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  }
}

runCli(main);
