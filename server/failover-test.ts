/**
 * `npm run failover-test -- --design NAME --replication sync|async [--kills N] [--pauses N] [--journal MODE] [--connections C]
 * [--rate R] [--seed S] [--heartbeat-ms T] [--json]`: two engine servers, a primary and its hot standby
 * (server/replicator.ts, server/standby.ts), on 127.0.0.1. N times: kill -9 the current primary under load, let the
 * standby promote itself, restart the dead one as the new standby on its own directory (it rejoins: catches up, or
 * discards a tail the new epoch never had), wait until it is in sync, continue. The load client
 * (server/load.ts, `--connect A,B --retry`) fails over to the other address and resumes its sessions there.
 *
 * At the end, with both stopped cleanly:
 *   (a)–(d) of server/survivor-check.ts on the last primary's journal: every acknowledged command is there (sync:
 *       0 lost, ever; async: counted), nothing twice, a valid interleaving whose reference replay gives its
 *       recovered book hash, and every client got exactly the reference's events;
 *   (e) both nodes' journals hold the same records, and the standby's recovered book hash is the reference's too.
 *
 * A standby may also promote itself with no kill, when it took a live primary for dead (a stall of the primary past
 * the timeout: the two-node limit, README "Hot standby and failover"). The old primary must then exit fenced without
 * taking another command; its node rejoins as the standby, the run goes on, and the checks above hold the same. Such
 * promotions are counted and printed, not failed: acknowledged commands must survive them too. `--pauses N` makes N
 * of them on purpose: SIGSTOP the primary (a long GC pause, a descheduled VM) until the standby has promoted, then
 * SIGCONT it; the schedule of kills and pauses comes from the seed.
 *
 * Failover time: the kill → the first acknowledgement any client receives afterwards (from the new primary),
 * p50/p99/max; promotion time: the kill → the standby's listening line. Lag (async): the primaries' per-second
 * maxima of commands sequenced and not yet held by the standby. A kill comes a random 200–700 ms after the new
 * standby is in sync and every unfinished connection was acknowledged again; moments come from a seeded PRNG
 * (printed; `--seed` replays the schedule, the machine's timing still varies). Everything runs in a temporary
 * directory, servers are stopped by the pid they were started with, also on failure.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { designByName } from '../engines/designs.ts';
import { formatHelp, parseArgs, runCli, UsageError, type CommandSpec } from '../harness/cli-args.ts';
import { splitWorkload } from '../harness/split.ts';
import { JOURNAL_RECORD_BYTES } from '../journal/format.ts';
import { JOURNAL_MODES, parseJournalMode } from '../journal/journal-mode.ts';
import { journalRecordBytes } from '../journal/reader.ts';
import { journalDirectories, recover } from '../journal/recovery.ts';
import { generateWorkload } from '../workloads/generator.ts';
import { Prng } from '../workloads/prng.ts';
import { freePort } from './free-port.ts';
import { runLoad } from './load.ts';
import { parseReplicationMode, REPLICATION_MODES, type ReplicationMode } from './replicator.ts';
import { EXIT_FENCED, startServe, stopServe, waitForLine, type ServeProcess } from './serve-process.ts';
import { checkSurvivors } from './survivor-check.ts';

const SESSION_BASE = 2000;
const START_TIMEOUT_MS = 60_000;
/** How long a new standby may take to catch up and a promotion to happen, ms. */
const IN_SYNC_TIMEOUT_MS = 60_000;
const PROMOTION_TIMEOUT_MS = 15_000;
/** The checkpoint interval the servers hash at: small, so every run checks the standby's book many times. */
const HASH_EVERY = 5_000;
const IN_SYNC_LINE = /^serve: replication: standby \S+ in sync/m;
const LISTENING_LINE = /^matchbench serve: listening on /m;
const PROMOTION_LINE = /^serve: standby promotes itself: .*$/m;
const LAG_LINE = /^serve: replication lag \(\w+\): max (\d+) commands, ([\d.]+) ms/gm;

const SPEC: CommandSpec = {
  command: 'npm run failover-test --',
  summary: 'kill -9 the primary of a primary/standby pair N times under load; check that acknowledged commands survive exactly once across every failover.',
  details: `Replication: ${REPLICATION_MODES.join(', ')} (sync promises 0 lost). Journal modes: ${JOURNAL_MODES.filter((m) => m !== 'none').join(', ')}. The seed is printed; --seed replays the kill schedule.`,
  options: {
    design: { type: 'string', value: 'NAME', description: 'the design both servers run', required: true },
    replication: { type: 'string', value: 'MODE', description: 'sync or async (default sync)' },
    kills: { type: 'string', value: 'N', description: 'kill -9 the primary this many times (default 5)' },
    pauses: { type: 'string', value: 'N', description: 'also pause the primary (SIGSTOP) this many times until the standby promotes, then let it run into its fencing (default 0)' },
    journal: { type: 'string', value: 'MODE', description: 'journal mode of both nodes (default group)' },
    connections: { type: 'string', value: 'C', description: 'client connections, one session each (default 2)' },
    rate: { type: 'string', value: 'R', description: 'offered commands/s of the client (default 5000)' },
    seed: { type: 'string', value: 'S', description: 'seed of the kill moments and the workload (default: random, printed)' },
    'heartbeat-ms': { type: 'string', value: 'T', description: 'heartbeat interval of both nodes (default 50; a standby promotes after 3 missed)' },
    json: { type: 'boolean', description: 'print one JSON object' },
  },
};

function percentile(values: readonly number[], q: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** The last lines of a server's output, for an error message. */
function tail(output: string, lines = 40): string {
  return output.trimEnd().split('\n').slice(-lines).join('\n');
}

/** Resolves with a server's exit code (or signal) once it exits; rejects after `timeoutMs`. */
function exitOf(server: ServeProcess, timeoutMs: number): Promise<number | string> {
  const { child } = server;
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode ?? child.signalCode!);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve (pid ${child.pid}) did not exit within ${timeoutMs / 1000} s:\n${server.output()}`)), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(code ?? signal ?? 'unknown');
    });
  });
}

/** Every record of a (possibly sharded) journal, per shard, as one byte string each. */
function journalRecords(dir: string): Buffer[] {
  return journalDirectories(dir).dirs.map(journalRecordBytes);
}

/** Where two nodes' journals first differ: the journal and the record's sequence. */
function firstDifference(a: readonly Buffer[], b: readonly Buffer[]): string {
  for (let k = 0; k < Math.max(a.length, b.length); k++) {
    const [x, y] = [a[k] ?? Buffer.alloc(0), b[k] ?? Buffer.alloc(0)];
    const records = Math.min(x.length, y.length) / JOURNAL_RECORD_BYTES;
    for (let r = 0; r < records; r++) {
      const at = r * JOURNAL_RECORD_BYTES;
      if (x.compare(y, at, at + JOURNAL_RECORD_BYTES, at, at + JOURNAL_RECORD_BYTES) !== 0) return `journal ${k} first differs at sequence ${r}`;
    }
    if (x.length !== y.length) return `journal ${k} agrees up to sequence ${records}, where the shorter one ends`;
  }
  return 'they hold different numbers of journals';
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
  let replication: ReplicationMode;
  try {
    replication = parseReplicationMode(args.string('replication') ?? 'sync', '--replication');
  } catch (error) {
    throw new UsageError(SPEC.command, (error as Error).message);
  }
  let mode;
  try {
    mode = parseJournalMode(args.string('journal') ?? 'group', '--journal');
  } catch (error) {
    throw new UsageError(SPEC.command, (error as Error).message);
  }
  if (mode === 'none') throw new UsageError(SPEC.command, '--journal: replication needs a journal (async, group or sync)');
  const kills = args.integer('kills', 0, 10_000) ?? 5;
  const connections = args.integer('connections', 1, 64) ?? 2;
  const rate = args.integer('rate', 100, 10_000_000) ?? 5_000;
  const seed = args.integer('seed') ?? Math.floor(Math.random() * 1e9);
  const heartbeatMs = args.integer('heartbeat-ms', 1, 10_000) ?? 50;
  const random = new Prng(seed);
  const pauses = args.integer('pauses', 0, 10_000) ?? 0;
  const faults: Array<'kill' | 'pause'> = [...Array<'kill'>(kills).fill('kill'), ...Array<'pause'>(pauses).fill('pause')];
  for (let i = faults.length - 1; i > 0; i--) {
    const j = random.below(i + 1);
    [faults[i], faults[j]] = [faults[j]!, faults[i]!];
  }
  const uptimesMs = faults.map(() => 200 + random.below(500));
  // A kill cycle (promotion, the clients' backoff, the dead node's restart and catch-up) measured 1.5–3 s on the
  // 2-vCPU machine; the load runs past the last one. With fewer commands the kills left are reported as not made.
  const count = Math.ceil(rate * (uptimesMs.reduce((a, b) => a + b, 0) / 1000 + 4 * faults.length + 2)) + 1000;
  const workload = generateWorkload({ preset: 'balanced', seed, count });
  const cpu = cpus()[0]?.model ?? 'unknown';
  process.stderr.write(`failover-test: ${designName}, replication ${replication}, journal ${mode}, ${kills} kills, ${pauses} pauses, ${connections} connection(s), ${count} commands at ${rate}/s, heartbeat ${heartbeatMs} ms, seed ${seed}\n`);

  const root = mkdtempSync(join(tmpdir(), 'matchbench-failover-'));
  const running = new Set<ChildProcess>();
  try {
    const nodes = await Promise.all([0, 1].map(async (i) => ({ dir: join(root, `node-${i}`), port: await freePort(), replicationPort: await freePort() })));
    const common = ['--design', designName, '--journal', mode, '--symbols-from', `preset:balanced,seed=${seed},count=${count}`, '--capacity', String(Math.max(1 << 16, count + 1000)),
      '--replication', replication, '--heartbeat-ms', String(heartbeatMs), '--hash-every', String(HASH_EVERY), ...(designName === 'mutex' ? ['--producers', String(Math.min(2, connections))] : [])];
    const peer = (i: number): string => `127.0.0.1:${nodes[1 - i]!.replicationPort}`;
    const primaryArgs = (i: number): string[] => [...common, '--dir', nodes[i]!.dir, '--port', String(nodes[i]!.port), '--replicate-to', peer(i)];
    const standbyArgs = (i: number): string[] => [...common, '--dir', nodes[i]!.dir, '--port', String(nodes[i]!.port), '--standby', '--listen-replication', String(nodes[i]!.replicationPort), '--replicate-to', peer(i)];

    const outputs: string[] = [];
    // Every process plays one role change at most (a standby promoted once; a dead or fenced primary comes back as a
    // new process), so each one's whole output is read for its lines.
    let standby = await startServe(standbyArgs(1), running, START_TIMEOUT_MS, 'standby');
    let primary = await startServe(primaryArgs(0), running, START_TIMEOUT_MS);
    let primaryIndex = 0;
    await waitForLine(primary, IN_SYNC_LINE, IN_SYNC_TIMEOUT_MS);

    const eventsPath = join(root, 'events.ndjson');
    const acksPath = join(root, 'acks.ndjson');
    const acks = new Array<number>(connections).fill(0);
    let killedAt = -1;
    let firstAckAfterKill = -1;
    const load = runLoad({
      addresses: nodes.map((n) => ({ host: '127.0.0.1', port: n.port })), workload, connections, rate, window: 256, eventsPath, acksPath, retry: true,
      sessionBase: SESSION_BASE, timeoutMs: 120_000 + faults.length * 10_000, log: () => {},
      onAcknowledged: (c) => {
        acks[c]!++;
        if (killedAt >= 0 && firstAckAfterKill < 0) firstAckAfterKill = performance.now();
      },
    });
    let loadDone = false;
    void load.then(() => { loadDone = true; });
    const perConnection = splitWorkload(workload.records, workload.count, connections, 'order').streams.map((s) => s.length);
    const failoverMs: number[] = [];
    const promotionMs: number[] = [];
    const rejoinMs: number[] = [];
    const promotionsWithoutKill: string[] = [];

    /** The standby takes the primary's place; the old primary's node comes back as the new standby. */
    async function swapRoles(): Promise<number> {
      const restartedAt = performance.now();
      const rejoined = await startServe(standbyArgs(primaryIndex), running, START_TIMEOUT_MS, 'standby');
      primary = standby;
      standby = rejoined;
      primaryIndex = 1 - primaryIndex;
      return restartedAt;
    }

    /**
     * Waits until the pair is whole (the primary says its standby is in sync). A standby may promote itself with no
     * kill: it took a live primary for dead (a stall past the timeout: the two-node limit, README "Hot standby").
     * Then the old primary, fenced at its next contact, must exit without taking another command; its node rejoins
     * as the standby, and the checks at the end hold as after a kill.
     */
    async function whole(): Promise<void> {
      const deadline = performance.now() + IN_SYNC_TIMEOUT_MS;
      for (;;) {
        const promotion = PROMOTION_LINE.exec(standby.output());
        if (promotion !== null) {
          const exit = await exitOf(primary, PROMOTION_TIMEOUT_MS);
          if (exit !== EXIT_FENCED) throw new Error(`the standby promoted itself with no kill (${promotion[0]}), and the old primary did not exit fenced (${exit}):\n${primary.output()}`);
          running.delete(primary.child);
          outputs.push(primary.output());
          promotionsWithoutKill.push(promotion[0]);
          process.stderr.write(`failover-test: a promotion without a kill: ${promotion[0]}; the old primary exited fenced (${EXIT_FENCED}); it rejoins as the standby\n`);
          await waitForLine(standby, LISTENING_LINE, PROMOTION_TIMEOUT_MS);
          await swapRoles();
          continue;
        }
        if (IN_SYNC_LINE.test(primary.output())) return;
        if (primary.child.exitCode !== null || primary.child.signalCode !== null) {
          // A fenced primary exits at once; the standby's promotion line may still be on its way.
          if (primary.child.exitCode === EXIT_FENCED) {
            await waitForLine(standby, PROMOTION_LINE, PROMOTION_TIMEOUT_MS);
            continue;
          }
          throw new Error(`the primary exited (${primary.child.exitCode ?? primary.child.signalCode}) while waiting for its standby to be in sync:\n${primary.output()}`);
        }
        if (performance.now() > deadline) {
          throw new Error(`the primary did not print ${IN_SYNC_LINE} within ${IN_SYNC_TIMEOUT_MS / 1000} s:\n${tail(primary.output())}\nits standby:\n${tail(standby.output())}`);
        }
        await new Promise((r) => setTimeout(r, 2));
      }
    }

    let killed = 0;
    let paused = 0;
    for (const [f, uptime] of uptimesMs.entries()) {
      // The pair is whole again (the standby in sync), and every unfinished connection was acknowledged since.
      await whole();
      const seen = [...acks];
      const back = Date.now() + 15_000;
      while (!loadDone && Date.now() < back && acks.some((n, c) => n === seen[c] && n < perConnection[c]!)) await new Promise((r) => setTimeout(r, 5));
      await new Promise((r) => setTimeout(r, uptime));
      if (loadDone) break;
      // A promotion of its own meanwhile: made whole first, this fault comes after.
      if (PROMOTION_LINE.test(standby.output())) await whole();
      if (faults[f] === 'pause') {
        // Stopped until the standby has promoted; on waking it meets the higher epoch and exits (`whole` sees to it).
        process.kill(primary.child.pid!, 'SIGSTOP');
        try {
          await waitForLine(standby, LISTENING_LINE, PROMOTION_TIMEOUT_MS);
        } finally {
          process.kill(primary.child.pid!, 'SIGCONT');
        }
        paused++;
        await whole();
        continue;
      }
      firstAckAfterKill = -1;
      killedAt = performance.now();
      await stopServe(primary, 'SIGKILL', running);
      outputs.push(primary.output());
      killed++;
      const promotedAt = await waitForLine(standby, LISTENING_LINE, PROMOTION_TIMEOUT_MS);
      promotionMs.push(promotedAt - killedAt);
      const restartedAt = await swapRoles();
      const ackDeadline = performance.now() + PROMOTION_TIMEOUT_MS;
      while (firstAckAfterKill < 0 && !loadDone && performance.now() < ackDeadline) await new Promise((r) => setTimeout(r, 1));
      if (firstAckAfterKill >= 0) failoverMs.push(firstAckAfterKill - killedAt);
      killedAt = -1;
      await whole();
      rejoinMs.push(performance.now() - restartedAt);
    }
    const report = await load;
    // A promotion of its own after the last kill: the pair is made whole before the checks.
    await whole();
    // A clean stop: the primary drains to its standby and says so (the standby then does not promote).
    await stopServe(primary, 'SIGTERM', running);
    await stopServe(standby, 'SIGTERM', running);
    outputs.push(primary.output(), standby.output());
    const all = outputs.join('\n');
    const lagCommands = [...all.matchAll(LAG_LINE)].map((m) => Number(m[1]));
    const lagMs = [...all.matchAll(LAG_LINE)].map((m) => Number(m[2]));

    const primaryDir = nodes[primaryIndex]!.dir;
    const standbyDir = nodes[1 - primaryIndex]!.dir;
    const survivors = checkSurvivors({ dir: primaryDir, workload, connections, sessionBase: SESSION_BASE, acksPath, eventsPath });
    const problems = [...survivors.problems];
    const a = journalRecords(primaryDir);
    const b = journalRecords(standbyDir);
    const journalsAgree = a.length === b.length && a.every((bytes, k) => bytes.equals(b[k]!));
    if (!journalsAgree) problems.push(`the two nodes' journals differ: ${a.map((x) => x.length / JOURNAL_RECORD_BYTES).join('/')} records on the primary, ${b.map((x) => x.length / JOURNAL_RECORD_BYTES).join('/')} on the standby; ${firstDifference(a, b)}`);
    const standbyHash = recover(standbyDir).bookHash;
    if (standbyHash !== survivors.referenceHash) problems.push(`the standby's recovered book hash ${standbyHash.slice(0, 16)}… differs from the reference replay's ${survivors.referenceHash.slice(0, 16)}…`);
    if (killed < kills || paused < pauses) problems.push(`only ${killed} of the ${kills} kills and ${paused} of the ${pauses} pauses were made before the load ended (raise --rate or lower --kills)`);
    if (failoverMs.length < killed && replication === 'sync') problems.push(`${killed - failoverMs.length} failovers saw no acknowledgement within ${PROMOTION_TIMEOUT_MS / 1000} s`);
    const lost = survivors.lost.length;
    const ok = problems.length === 0 && survivors.duplicates === 0 && survivors.eventMismatches === 0 && (replication === 'async' || (lost === 0 && report.ok));
    const ms = (values: readonly number[]): { p50: number; p99: number; max: number } => ({ p50: percentile(values, 0.5), p99: percentile(values, 0.99), max: Math.max(0, ...values) });
    const summary = {
      design: designName, replication, journal: mode, seed, kills: killed, pauses: paused, connections, commands: count, rate, heartbeatMs,
      acknowledged: survivors.acknowledged.length, lost, duplicates: survivors.duplicates, eventMismatches: survivors.eventMismatches,
      journalsAgree, promotionsWithoutKill: promotionsWithoutKill.length, clientOk: report.ok, clientFailures: report.failures, reconnects: report.reconnects,
      failoverMs: ms(failoverMs), promotionMs: ms(promotionMs), rejoinMs: ms(rejoinMs),
      lag: { secondsReported: lagCommands.length, commands: ms(lagCommands), ms: ms(lagMs) },
      problems, ok, environment: { cpu, cores: cpus().length, node: process.version },
    };
    if (args.boolean('json')) process.stdout.write(`${JSON.stringify(summary)}\n`);
    else {
      const f = summary.failoverMs;
      process.stdout.write(
        `failover-test ${designName} replication ${replication} journal ${mode} (seed ${seed}, ${cpu}): ${killed} kills, ${paused} pauses, ${summary.acknowledged} of ${count} acknowledged, ` +
          `${lost} lost, ${survivors.duplicates} duplicated, ${survivors.eventMismatches} with wrong events, journals ${journalsAgree ? 'agree' : 'DIFFER'}, ${report.reconnects} reconnects, ${promotionsWithoutKill.length} promotion(s) without a kill; ` +
          `failover (kill → first acknowledgement) p50 ${f.p50.toFixed(0)} ms, p99 ${f.p99.toFixed(0)} ms, max ${f.max.toFixed(0)} ms; ` +
          `promotion p50 ${summary.promotionMs.p50.toFixed(0)} ms; rejoin (restart → in sync) p50 ${summary.rejoinMs.p50.toFixed(0)} ms; ` +
          `lag per second max: p50 ${summary.lag.commands.p50} / max ${summary.lag.commands.max} commands, max ${summary.lag.ms.max.toFixed(1)} ms: ${ok ? 'PASS' : 'FAIL'}\n`,
      );
      for (const p of [...problems, ...report.failures.map((x) => `client: ${x}`)]) process.stdout.write(`  ${p}\n`);
    }
    if (!ok) process.exitCode = 1;
  } finally {
    for (const child of running) if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  }
}

runCli(main);
