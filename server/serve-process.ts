/**
 * `npm run serve` as a child process: start it, wait for its one listening line, stop it by the pid it was started
 * with. What the crash test (server/crashtest.ts) and the tests (test/support/engine-server.ts) both do, and the one
 * place that knows the wording of the lines others read from serve: the listening line, the HTTP gateway's line,
 * the snapshot line (server/serve.ts prints them), and the exit code of a fenced primary.
 *
 * Contract: `startServe` resolves once the line is printed (with the port it names and how long that took), and
 * rejects if the process exits first or stays silent past the timeout; every started child is put in `running`, so
 * the caller can SIGKILL whatever is left on failure. `stopServe` sends SIGTERM (a clean stop) or SIGKILL (a crash)
 * to a child still running, resolves with its exit code or signal, and takes it out of `running`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import type { SnapshotTaken } from '../journal/snapshotter-thread.ts';

export const LISTENING_PREFIX = 'matchbench serve: listening on ';
const LISTENING = /^matchbench serve: listening on 127\.0\.0\.1:(\d+)$/m;
/** A standby's ready line (server/standby.ts): its replication port. After a promotion it prints the listening line. */
export const STANDBY_PREFIX = 'matchbench serve: standby, replication on ';
const STANDBY = /^matchbench serve: standby, replication on 127\.0\.0\.1:(\d+)$/m;
/** Printed just before the listening line when serve runs the HTTP gateway (`--http-port`): its port. */
export const HTTP_PREFIX = 'matchbench serve: http on ';
const HTTP = /^matchbench serve: http on 127\.0\.0\.1:(\d+)$/m;
/** Exit code of a primary that found a higher epoch on its standby (fenced: it must not take commands). */
export const EXIT_FENCED = 5;
const SERVE = join(import.meta.dirname, 'serve.ts');
const SNAPSHOT_LINE = /^serve: snapshot .* at sequence \d+: (\d+) bytes, engine paused (\d+) µs/gm;

/** The line serve logs for each snapshot it writes. */
export function snapshotLine(s: SnapshotTaken): string {
  const pause = s.final ? 'at stop, engine idle' : `engine paused ${(s.pauseNs / 1000).toFixed(0)} µs (copy ${(s.copyNs / 1000).toFixed(0)} µs)`;
  return `serve: snapshot ${s.file} at sequence ${s.sequence}: ${s.bytes} bytes, ${pause}, journal wait ${s.journalWaitMs.toFixed(1)} ms, written in ${s.writeMs.toFixed(1)} ms`;
}

/** The snapshots taken under load that serve's `output` logged (those at stop, with no pause, are left out). */
export function snapshotsLogged(output: string): Array<{ readonly bytes: number; readonly pauseUs: number }> {
  return [...output.matchAll(SNAPSHOT_LINE)].map((m) => ({ bytes: Number(m[1]), pauseUs: Number(m[2]) }));
}

export interface ServeProcess {
  readonly child: ChildProcess;
  readonly port: number;
  /** The HTTP gateway's port (`--http-port`), or null without one. */
  readonly httpPort: number | null;
  /** From spawn to the listening line, ms: Node's start, recovery, the threads. */
  readonly listeningMs: number;
  /** Its stdout and stderr so far. */
  output(): string;
}

/**
 * Starts serve and resolves at its listening line (`ready` 'listening'), or at a standby's ready line ('standby':
 * `port` is then its replication port; the listening line follows a promotion, see `waitForLine`).
 */
export async function startServe(args: readonly string[], running: Set<ChildProcess>, timeoutMs: number, ready: 'listening' | 'standby' = 'listening'): Promise<ServeProcess> {
  const line = ready === 'listening' ? LISTENING : STANDBY;
  const started = performance.now();
  const child = spawn(process.execPath, [SERVE, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let output = '';
  child.stderr!.on('data', (d: Buffer) => { output += d.toString(); });
  const port = await new Promise<number>((resolvePort, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not print its ${ready} line within ${timeoutMs / 1000} s:\n${output}`)), timeoutMs);
    child.stdout!.on('data', (d: Buffer) => {
      output += d.toString();
      const match = line.exec(output);
      if (match !== null) {
        clearTimeout(timer);
        resolvePort(Number(match[1]));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited (${code}) before its ${ready} line:\n${output}`));
    });
  });
  const http = HTTP.exec(output);
  return { child, port, httpPort: http === null ? null : Number(http[1]), listeningMs: performance.now() - started, output: () => output };
}

/** Resolves once `server`'s output (from `from` on) matches `pattern`; rejects if it exits first or after the timeout. */
export async function waitForLine(server: ServeProcess, pattern: RegExp, timeoutMs: number, from = 0): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (pattern.test(server.output().slice(from))) return performance.now();
    if (server.child.exitCode !== null || server.child.signalCode !== null) throw new Error(`serve exited (${server.child.exitCode ?? server.child.signalCode}) before printing ${pattern}:\n${server.output()}`);
    if (performance.now() > deadline) throw new Error(`serve did not print ${pattern} within ${timeoutMs / 1000} s:\n${server.output()}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

export async function stopServe(server: ServeProcess, signal: 'SIGTERM' | 'SIGKILL', running: Set<ChildProcess>): Promise<number | string> {
  const { child } = server;
  let result: number | string = child.exitCode ?? child.signalCode ?? 'unknown';
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<number | string>((r) => child.once('exit', (code, sig) => r(code ?? sig ?? 'unknown')));
    child.kill(signal);
    result = await exited;
  }
  running.delete(child);
  return result;
}
