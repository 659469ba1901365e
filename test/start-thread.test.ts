import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');
const SOURCE_DIRS = ['bench', 'engines', 'harness', 'journal', 'server', 'workloads', 'test', 'scripts'];
/** Allowed raw `new Worker`: the helper itself, and endThread's tests, whose threads are eval'd JS (no `.ts` to strip). */
const RAW_WORKER_ALLOWED = new Set(['engines/workers/start-thread.ts', 'test/end-thread.test.ts', 'test/start-thread.test.ts']);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => join(entry.parentPath, entry.name));
}

describe('startThread', () => {
  it('is how every thread that loads TypeScript is started (so no thread tiers up the wasm-to-JS wrappers)', () => {
    const raw: string[] = [];
    for (const dir of SOURCE_DIRS) {
      let files: string[];
      try {
        files = sourceFiles(join(ROOT, dir));
      } catch {
        continue; // a directory this tree does not have
      }
      for (const file of files) {
        const name = relative(ROOT, file);
        if (RAW_WORKER_ALLOWED.has(name)) continue;
        readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
          if (/\bnew Worker\(/.test(line)) raw.push(`${name}:${i + 1}: ${line.trim()}`);
        });
      }
    }
    expect(raw).toEqual([]);
  });
});
