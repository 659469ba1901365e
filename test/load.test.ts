/** Loading a workload by name: format detection (magic bytes, then name, then content) and preset specs. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeWorkloadFile } from '../workloads/binary.ts';
import { generateWorkload } from '../workloads/generator.ts';
import { detectWorkloadFormat, loadWorkload, loadWorkloadFile, parsePresetSpec, resolveWorkload } from '../workloads/load.ts';
import { workloadFromCommands } from '../workloads/workload.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'matchbench-load-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const LINE = '{"op":"cancel","sym":"A","id":1}\n';

describe('detectWorkloadFormat', () => {
  it('trusts the magic bytes over the name', async () => {
    await writeWorkloadFile(join(dir, 'really-binary.ndjson'), workloadFromCommands([{ op: 'cancel', sym: 'A', id: 1 }]));
    expect(await detectWorkloadFormat(join(dir, 'really-binary.ndjson'))).toBe('binary');
    await writeFile(join(dir, 'zipped.data'), gzipSync(LINE));
    expect(await detectWorkloadFormat(join(dir, 'zipped.data'))).toBe('ndjson-gzip');
  });

  it('falls back to the name, then to content that starts like JSON', async () => {
    await writeFile(join(dir, 'odd.jsonl'), 'garbage\n');
    expect(await detectWorkloadFormat(join(dir, 'odd.jsonl'))).toBe('ndjson');
    await writeFile(join(dir, 'commands.txt'), `\n  ${LINE}`);
    expect(await detectWorkloadFormat(join(dir, 'commands.txt'))).toBe('ndjson');
  });

  it('a file cut inside the magic is still binary, so reading it reports the truncation', async () => {
    await writeFile(join(dir, 'cut.mbwl'), 'MB');
    expect(await detectWorkloadFormat(join(dir, 'cut.mbwl'))).toBe('binary');
    await expect(loadWorkload(join(dir, 'cut.mbwl'))).rejects.toThrow("truncated header: field 'magic' at byte offset 0: expected 4 bytes, got 2");
  });

  it('anything else is an error naming the file and its first bytes', async () => {
    await writeFile(join(dir, 'image.png'), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a]));
    await expect(detectWorkloadFormat(join(dir, 'image.png'))).rejects.toThrow(`${join(dir, 'image.png')}: not a workload: it starts with bytes 89 50 4e 47 0d 0a`);
    await writeFile(join(dir, 'empty.bin'), '');
    await expect(detectWorkloadFormat(join(dir, 'empty.bin'))).rejects.toThrow('the file is empty');
    await expect(detectWorkloadFormat(join(dir, 'missing.bin'))).rejects.toThrow(`${join(dir, 'missing.bin')}: no such file`);
  });
});

describe('loadWorkload', () => {
  it('loads NDJSON and binary alike, and says which it was', async () => {
    const original = generateWorkload({ preset: 'balanced', seed: 2, count: 500 });
    await writeWorkloadFile(join(dir, 'w.mbwl'), original);
    await writeFile(join(dir, 'w.ndjson.gz'), gzipSync([...original.commands()].map((c) => JSON.stringify(c)).join('\n')));
    const binary = await loadWorkloadFile(join(dir, 'w.mbwl'));
    const ndjson = await loadWorkloadFile(join(dir, 'w.ndjson.gz'));
    expect(binary.format).toBe('binary');
    expect(ndjson.format).toBe('ndjson-gzip');
    expect(ndjson.diagnosticCount).toBe(0);
    expect([...ndjson.workload.commands()]).toEqual([...binary.workload.commands()]);
  });
});

describe('preset specs', () => {
  it('parses a name with optional seed, count and ops', () => {
    expect(parsePresetSpec('preset:sweep')).toEqual({ preset: 'sweep', seed: 1, ops: 'all' });
    expect(parsePresetSpec('preset:sweep,seed=7,count=500,ops=peer')).toEqual({ preset: 'sweep', seed: 7, count: 500, ops: 'peer' });
    expect(parsePresetSpec('results/sweep.mbwl')).toBeNull();
  });

  it('names what is wrong with a bad spec', () => {
    expect(() => parsePresetSpec('preset:nope')).toThrow("unknown preset 'nope'");
    expect(() => parsePresetSpec('preset:sweep,seed=x')).toThrow("workload spec 'preset:sweep,seed=x': seed must be a non-negative integer, got 'x'");
    expect(() => parsePresetSpec('preset:sweep,ops=most')).toThrow("ops must be 'all' or 'peer', got 'most'");
    expect(() => parsePresetSpec('preset:sweep,speed=9')).toThrow("unknown option 'speed' (known: seed, count, ops)");
  });

  it('resolveWorkload generates a preset spec exactly as the generator does', async () => {
    const resolved = await resolveWorkload('preset:cancel-heavy,seed=3,count=800');
    const generated = generateWorkload({ preset: 'cancel-heavy', seed: 3, count: 800 });
    expect(Buffer.from(resolved.records).equals(Buffer.from(generated.records))).toBe(true);
  });
});
