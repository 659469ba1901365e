/**
 * Test support for the engine server: start `server/serve.ts` as a child process (server/serve-process.ts) in a
 * temporary directory, wait for its one "listening" line, stop it by the pid it was started with (SIGTERM, or SIGKILL to simulate a crash), and a
 * minimal protocol client that sends a workload's commands on one session and collects what comes back. Every
 * started server is killed in `stopAll` (call it in afterEach/afterAll), also when a test fails.
 */
import type { ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { decodeEventRecord } from '../../engines/event-record.ts';
import { formatEvent } from '../../engines/types.ts';
import { ReferenceEngine } from '../../engines/reference.ts';
import { decodeRecord, type Workload } from '../../workloads/workload.ts';
import {
  encodeCommand, encodeHello, FRAME_ACK, FRAME_ERROR, FRAME_EVENT, FRAME_NONE, FRAME_WELCOME, FrameReader, errorCodeName, ProtocolError,
} from '../../server/protocol.ts';
import { startServe, stopServe, type ServeProcess } from '../../server/serve-process.ts';

const running = new Set<ChildProcess>();

export type StartedServer = ServeProcess;

export function startServer(args: readonly string[]): Promise<StartedServer> {
  return startServe(args, running, 30_000);
}

/** Starts `serve --standby …` and resolves at its ready line (`port` is its replication port). */
export function startStandby(args: readonly string[]): Promise<StartedServer> {
  return startServe(args, running, 30_000, 'standby');
}

/** Stops a server by its pid: SIGTERM (clean) or SIGKILL (a crash); resolves with its exit code or signal. */
export function stopServer(server: StartedServer, signal: 'SIGTERM' | 'SIGKILL'): Promise<number | string> {
  return stopServe(server, signal, running);
}

export function stopAll(): void {
  for (const child of running) if (child.exitCode === null) child.kill('SIGKILL');
  running.clear();
}

/** The reference engine's events for the workload, as event NDJSON lines (seq = workload index). */
export function referenceLines(workload: Workload): string[] {
  const engine = new ReferenceEngine();
  const f64 = new Float64Array(workload.records);
  const lines: string[] = [];
  for (let i = 0; i < workload.count; i++) engine.process(decodeRecord(workload.bytes, f64, i, workload.symbols), i, (e) => lines.push(formatEvent(e)));
  return lines;
}

export interface SessionOutcome {
  /** Event lines of acknowledged commands, in the order received, seq = workload index. */
  readonly lines: string[];
  readonly acked: number;
  readonly lastApplied: number;
  readonly error: string | null;
}

/**
 * One connection on `session`: HELLO with `lastAcknowledged`, then commands lastApplied + 1 … `upTo` of the workload
 * (client sequence k = workload index k − 1); resolves when `upTo` is acknowledged, the connection closes, or after
 * `stopAfterAcks` acknowledgements (then it closes the connection itself). A command's events count only with its ACK.
 */
export async function runSession(port: number, workload: Workload, session: number, lastAcknowledged: number, upTo: number, stopAfterAcks = Infinity): Promise<SessionOutcome> {
  const reader = FrameReader.atClient(`test session ${session}`, { session, lastAcknowledged, symbolCount: workload.symbols.length });
  const scratch = new Uint8Array(48);
  const words = new Uint32Array(scratch.buffer);
  const f64 = new Float64Array(scratch.buffer);
  const lines: string[] = [];
  let pending: string[] = [];
  let acked = 0;
  let lastApplied = -1;
  let error: string | null = null;
  const socket = connect({ host: '127.0.0.1', port });
  return new Promise((resolveSession) => {
    const finish = (): void => resolveSession({ lines, acked, lastApplied, error });
    socket.on('connect', () => {
      const hello = new Uint8Array(24);
      encodeHello(hello, 0, session, lastAcknowledged);
      socket.write(hello);
    });
    socket.on('data', (chunk: Buffer) => {
      try {
        reader.push(chunk);
        for (let type = reader.next(); type !== FRAME_NONE; type = reader.next()) {
          if (type === FRAME_WELCOME) {
            lastApplied = reader.lastApplied;
            const from = Math.max(lastApplied, 0);
            if (upTo > from) {
              const commands = new Uint8Array(56 * (upTo - from));
              let at = 0;
              for (let i = from; i < upTo; i++) at = encodeCommand(commands, at, i + 1, workload.bytes, i * 40);
              socket.write(commands);
            }
            if (lastAcknowledged === upTo) socket.end();
          } else if (type === FRAME_EVENT) {
            scratch.set(reader.bytes.subarray(reader.recordOffset, reader.recordOffset + 48));
            const event = decodeEventRecord(scratch, words, f64, 0, workload.symbols);
            pending.push(formatEvent({ ...event, seq: event.seq - 1 }));
          } else if (type === FRAME_ACK) {
            lines.push(...pending);
            pending = [];
            acked++;
            if (reader.lastAcknowledged === upTo || acked >= stopAfterAcks) socket.end();
          } else if (type === FRAME_ERROR) {
            error = `${errorCodeName(reader.errorCode)}: ${reader.errorMessage}`;
          }
        }
      } catch (failure) {
        if (!(failure instanceof ProtocolError)) throw failure;
        error = failure.message;
        socket.destroy();
      }
    });
    socket.on('error', (failure) => { error ??= failure.message; });
    socket.on('close', finish);
  });
}
