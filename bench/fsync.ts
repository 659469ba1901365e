/**
 * `npm run bench:fsync [-- --dir DIR] [--frames N] [--batches 1,16,256,4096] [--seconds S] [--json]`
 *
 * What this disk's fsync costs the journal: the physical limit under the `group` and `sync` journal modes. For each
 * batch size B it writes frames of B journal records (56 bytes each) through the real JournalWriter
 * (journal/writer.ts), fsyncing after every frame as `group` does (B = 1 is `sync`: an fsync per command), and
 * records each frame's write + fsync time in an HDR histogram. Reported per batch size: fsync p50 / p99 / p99.9 / max
 * and the records per second that many fsyncs allow, i.e. the ceiling of durable acknowledgements with that batch.
 *
 * Bounded: at most N frames or S seconds per batch size, whichever ends first. The journal goes to a fresh temporary
 * directory (or under --dir, to measure another disk) and is removed afterwards, also on failure.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatHelp, parseArgs, runCli, UsageError, type CommandSpec } from '../harness/cli-args.ts';
import { captureEnvironment } from '../harness/environment.ts';
import { latencyHistogram, LatencyRecorder, percentilesOf } from '../harness/histogram.ts';
import { JournalWriter } from '../journal/writer.ts';
import { generateWorkload } from '../workloads/generator.ts';

const SPEC: CommandSpec = {
  command: 'npm run bench:fsync --',
  summary: "This disk's fsync latency through the journal writer, per batch size (the limit of the group and sync journal modes).",
  options: {
    dir: { type: 'string', value: 'DIR', description: 'make the temporary journal under DIR (default: the OS temporary directory)' },
    frames: { type: 'string', value: 'N', description: 'at most N frames per batch size (default 2000)' },
    seconds: { type: 'string', value: 'S', description: 'at most S seconds per batch size (default 5)' },
    batches: { type: 'string', value: 'B,B,...', description: 'records per frame (default 1,16,256,4096)' },
    json: { type: 'boolean', description: 'print one JSON object' },
  },
};

function positiveInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(SPEC.command, `--${name}: '${value}' is not a positive integer`);
  return n;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2), SPEC);
  if (args.help) {
    process.stdout.write(formatHelp(SPEC));
    return;
  }
  const maxFrames = positiveInt('frames', args.string('frames'), 2000);
  const seconds = positiveInt('seconds', args.string('seconds'), 5);
  const batches = (args.string('batches') ?? '1,16,256,4096').split(',').map((b) => positiveInt('batches', b, 1));
  const largest = Math.max(...batches);
  const workload = generateWorkload({ preset: 'balanced', seed: 1, count: largest });
  // Built before anything is timed: the first build compiles the WebAssembly.
  const recorders = batches.map(() => new LatencyRecorder(latencyHistogram()));
  const root = mkdtempSync(join(args.string('dir') ?? tmpdir(), 'matchbench-fsync-'));
  const rows: { batch: number; frames: number; p50Us: number; p99Us: number; p999Us: number; maxUs: number; durableRecordsPerSecond: number }[] = [];
  try {
    for (let b = 0; b < batches.length; b++) {
      const batch = batches[b]!;
      const writer = JournalWriter.create({ dir: join(root, `batch-${batch}`), design: 'bench', symbols: workload.symbols, firstSequence: 0, maxFrameRecords: batch, segmentBytes: 1 << 30 });
      const words = new Uint32Array(workload.records);
      for (let k = 0; k < batch; k++) writer.putRecord(k, words, k, 1, k + 1);
      const recorder = recorders[b]!;
      const deadline = performance.now() + seconds * 1000;
      let frames = 0;
      let busyNs = 0;
      while (frames < maxFrames && performance.now() < deadline) {
        const start = process.hrtime.bigint();
        writer.writeFrame(batch, true);
        const ns = Number(process.hrtime.bigint() - start);
        recorder.record(ns);
        busyNs += ns;
        frames++;
      }
      writer.close();
      recorder.finish();
      const p = percentilesOf(recorder.histogram);
      rows.push({ batch, frames, p50Us: p.p50Ns / 1000, p99Us: p.p99Ns / 1000, p999Us: p.p99_9Ns / 1000, maxUs: p.maxNs / 1000, durableRecordsPerSecond: (batch * frames) / (busyNs / 1e9) });
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  const environment = captureEnvironment();
  if (args.boolean('json')) {
    process.stdout.write(`${JSON.stringify({ environment, directory: args.string('dir') ?? tmpdir(), rows })}\n`);
    return;
  }
  console.log(`fsync through the journal writer, under ${args.string('dir') ?? tmpdir()} (${environment.cpuModel}, ${environment.os.platform} ${environment.os.release})`);
  console.log('records/frame   frames   write+fsync p50      p99    p99.9      max   durable records/s (ceiling)');
  for (const r of rows) {
    const us = (v: number): string => `${v.toFixed(0)} µs`.padStart(9);
    console.log(`${String(r.batch).padStart(13)} ${String(r.frames).padStart(8)} ${us(r.p50Us)}${us(r.p99Us)}${us(r.p999Us)}${us(r.maxUs)}   ${Math.round(r.durableRecordsPerSecond).toLocaleString('en-US').padStart(12)}`);
  }
}

runCli(main);
