/**
 * `npm run replay` end to end: the reference engine, the fast core and every concurrent design (one producer)
 * print the same summary and write byte-identical event files for the same workload, whether it comes from a
 * binary file, an NDJSON file or a preset; bad usage and bad input exit non-zero with a clear message.
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DESIGN_NAMES } from '../engines/designs.ts';

const ROOT = join(import.meta.dirname, '..');
const REPLAY = join(ROOT, 'harness', 'replay.ts');
const WORKLOAD_CLI = join(ROOT, 'workloads', 'cli.ts');

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'matchbench-replay-'));
  const gen = spawnSync(process.execPath, [WORKLOAD_CLI, 'gen', '--preset', 'many-symbols', '--seed', '5', '--count', '3000', '--out', 'w.mbwl'], { cwd: dir, encoding: 'utf8' });
  expect(gen.status, gen.stderr).toBe(0);
  const ndjson = spawnSync(process.execPath, [WORKLOAD_CLI, 'to-ndjson', 'w.mbwl'], { cwd: dir, encoding: 'utf8' });
  expect(ndjson.status, ndjson.stderr).toBe(0);
  await writeFile(join(dir, 'w.ndjson'), ndjson.stdout);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function replay(...args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [REPLAY, ...args], { cwd: dir, encoding: 'utf8' }, (error, stdout, stderr) => {
      resolve({ status: error === null ? 0 : (error.code as number), stdout, stderr });
    });
  });
}

describe('replay CLI', () => {
  it('every engine gives the same summary and the same events as the reference', async () => {
    const engines = ['reference', 'fast', ...DESIGN_NAMES];
    const runs = [];
    for (const engine of engines) runs.push(await replay('--engine', engine, '--workload', 'w.mbwl', '--events', `${engine}.ndjson`, '--json'));
    const reference = runs[0]!;
    expect(reference.status, reference.stderr).toBe(0);
    const summary = JSON.parse(reference.stdout) as { commands: number; totalEvents: number; bookHash: string; events: Record<string, number> };
    expect(summary.commands).toBe(3000);
    expect(summary.bookHash).toMatch(/^[0-9a-f]{64}$/);
    const referenceEvents = await readFile(join(dir, 'reference.ndjson'), 'utf8');
    expect(referenceEvents.split('\n').filter((l) => l !== '')).toHaveLength(summary.totalEvents);
    expect(Object.values(summary.events).reduce((a, b) => a + b, 0)).toBe(summary.totalEvents);
    for (const [i, engine] of engines.entries()) {
      expect(runs[i]!.status, `${engine}: ${runs[i]!.stderr}`).toBe(0);
      expect(runs[i]!.stdout, engine).toBe(reference.stdout);
      expect(await readFile(join(dir, `${engine}.ndjson`), 'utf8'), engine).toBe(referenceEvents);
    }
  });

  it('reads NDJSON workloads and presets, and prints a readable summary', async () => {
    const fromBinary = await replay('--engine', 'fast', '--workload', 'w.mbwl');
    const fromNdjson = await replay('--engine', 'disruptor', '--workload', 'w.ndjson');
    expect(fromBinary.status, fromBinary.stderr).toBe(0);
    expect(fromNdjson.stdout).toBe(fromBinary.stdout);
    expect(fromBinary.stdout).toMatch(/^commands: 3000\nevents: \d+\n {2}rested +\d+\n[\s\S]*book hash: [0-9a-f]{64}\n$/);
    const preset = await replay('--engine', 'reference', '--preset', 'many-symbols', '--seed', '5', '--count', '3000');
    expect(preset.stdout).toBe(fromBinary.stdout);
  });

  it('rejects bad usage with exit code 2 and bad input with exit code 1, naming the problem', async () => {
    const unknown = await replay('--engine', 'nope', '--workload', 'w.mbwl');
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/unknown engine 'nope' \(known: reference, fast, inline/);
    const both = await replay('--engine', 'fast', '--workload', 'w.mbwl', '--preset', 'balanced');
    expect(both.status).toBe(2);
    expect(both.stderr).toMatch(/exactly one of --workload FILE and --preset NAME/);
    const missing = await replay('--engine', 'fast', '--workload', 'absent.mbwl');
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/absent\.mbwl: no such file/);
    const help = await replay('--help');
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/--engine NAME/);
  });
});
