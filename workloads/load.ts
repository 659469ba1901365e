/**
 * Loading a workload from wherever it is named: a binary file, an NDJSON file (plain or gzipped), or a preset spec.
 *
 * The format is decided by the first bytes (binary magic "MBWL", gzip 1f 8b), then by the name (.ndjson, .jsonl,
 * .ndjson.gz, .jsonl.gz), then by content that starts like JSON ("{" after any blank lines); anything else is an
 * error naming the file and what it starts with. NDJSON diagnostics go to stderr as file:line messages (the first
 * few, then a count), so a malformed line is visible however the workload was loaded.
 */
import { open } from 'node:fs/promises';
import { readWorkloadFile, startsWithBinaryMagic } from './binary.ts';
import { generateWorkload, findPreset, type OpsMode } from './generator.ts';
import { formatDiagnostic, readNdjsonFile, type NdjsonReadResult } from './ndjson.ts';
import type { Workload } from './workload.ts';

export type WorkloadFormat = 'binary' | 'ndjson' | 'ndjson-gzip';

/** Diagnostics printed per file before the rest are only counted. */
const PRINTED_DIAGNOSTICS = 20;
const NDJSON_NAME = /\.(ndjson|jsonl)$/;
const NDJSON_GZIP_NAME = /\.(ndjson|jsonl)\.gz$/;

/** Decides how to read `path` from its first bytes and its name. */
export async function detectWorkloadFormat(path: string): Promise<WorkloadFormat> {
  const head = new Uint8Array(64);
  let length: number;
  try {
    const handle = await open(path, 'r');
    try {
      length = (await handle.read(head, 0, head.length, 0)).bytesRead;
    } finally {
      await handle.close();
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`${path}: no such file`);
    throw error;
  }
  const first = head.subarray(0, length);
  if (startsWithBinaryMagic(first)) return 'binary';
  if (first[0] === 0x1f && first[1] === 0x8b) return 'ndjson-gzip';
  if (NDJSON_GZIP_NAME.test(path)) return 'ndjson-gzip';
  if (NDJSON_NAME.test(path)) return 'ndjson';
  const text = new TextDecoder().decode(first).replace(/^\uFEFF/, '').trimStart();
  if (text.startsWith('{') || (length > 0 && text === '')) return 'ndjson';
  const shown = [...first.subarray(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
  throw new Error(`${path}: not a workload: ${length === 0 ? 'the file is empty' : `it starts with bytes ${shown}`} (expected a binary workload starting "MBWL", or command NDJSON named .ndjson/.jsonl, optionally .gz)`);
}

/** Prints NDJSON diagnostics to stderr: the first few in full, then how many more there were. */
export function reportDiagnostics(file: string, result: NdjsonReadResult, write: (line: string) => void = (line) => process.stderr.write(`${line}\n`)): void {
  const shown = result.diagnostics.slice(0, PRINTED_DIAGNOSTICS);
  for (const d of shown) write(formatDiagnostic(file, d));
  if (result.diagnosticCount > shown.length) write(`${file}: ... and ${result.diagnosticCount - shown.length} more diagnostics (${result.diagnosticCount} in all)`);
}

export interface LoadedWorkload {
  readonly workload: Workload;
  readonly format: WorkloadFormat;
  /** NDJSON only: how many lines had diagnostics (0 for binary). */
  readonly diagnosticCount: number;
}

/** Loads a binary or NDJSON workload file, reporting NDJSON diagnostics to stderr, and says which it was. */
export async function loadWorkloadFile(path: string): Promise<LoadedWorkload> {
  const format = await detectWorkloadFormat(path);
  if (format === 'binary') return { workload: await readWorkloadFile(path), format, diagnosticCount: 0 };
  const result = await readNdjsonFile(path, format === 'ndjson-gzip');
  reportDiagnostics(path, result);
  return { workload: result.workload, format, diagnosticCount: result.diagnosticCount };
}

/** Loads a binary or NDJSON workload file (see loadWorkloadFile). */
export async function loadWorkload(path: string): Promise<Workload> {
  return (await loadWorkloadFile(path)).workload;
}

export interface PresetSpec {
  readonly preset: string;
  readonly seed: number;
  readonly count?: number;
  readonly ops: OpsMode;
}

export const PRESET_SPEC_PREFIX = 'preset:';
/** Seed used by a preset spec that names none. */
export const DEFAULT_SEED = 1;

/**
 * Parses "preset:NAME[,seed=N][,count=N][,ops=all|peer]" (e.g. "preset:sweep,seed=7,count=50000"), or returns
 * null when `spec` does not start with "preset:" (it is then a file path).
 */
export function parsePresetSpec(spec: string): PresetSpec | null {
  if (!spec.startsWith(PRESET_SPEC_PREFIX)) return null;
  const [name = '', ...options] = spec.slice(PRESET_SPEC_PREFIX.length).split(',');
  findPreset(name);
  let seed = DEFAULT_SEED;
  let count: number | undefined;
  let ops: OpsMode = 'all';
  for (const option of options) {
    const eq = option.indexOf('=');
    const key = eq < 0 ? option : option.slice(0, eq);
    const value = eq < 0 ? '' : option.slice(eq + 1);
    const integer = (): number => {
      if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) throw new Error(`workload spec '${spec}': ${key} must be a non-negative integer, got '${value}'`);
      return Number(value);
    };
    if (key === 'seed') seed = integer();
    else if (key === 'count') count = integer();
    else if (key === 'ops' && (value === 'all' || value === 'peer')) ops = value;
    else if (key === 'ops') throw new Error(`workload spec '${spec}': ops must be 'all' or 'peer', got '${value}'`);
    else throw new Error(`workload spec '${spec}': unknown option '${key}' (known: seed, count, ops)`);
  }
  return count === undefined ? { preset: name, seed, ops } : { preset: name, seed, count, ops };
}

/** A workload named by a preset spec (generated in memory) or by a file path (loaded). */
export async function resolveWorkload(spec: string): Promise<Workload> {
  const preset = parsePresetSpec(spec);
  return preset === null ? loadWorkload(spec) : generateWorkload(preset);
}
