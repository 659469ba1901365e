/**
 * Where a measurement ran, as results files record it: Node and V8 versions, CPU model, the cores this process may
 * use (os.availableParallelism()), memory, OS, and the git commit of the working tree (with whether tracked files
 * had uncommitted changes), so two results files can be compared knowing what differed.
 */
import { execFileSync } from 'node:child_process';
import { arch, availableParallelism, cpus, platform, release, totalmem } from 'node:os';
import type { Environment } from './results-schema.ts';

function git(args: readonly string[]): string | null {
  try {
    return execFileSync('git', args, { cwd: import.meta.dirname, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

export function captureEnvironment(): Environment {
  const sha = git(['rev-parse', 'HEAD']);
  const status = sha === null ? null : git(['status', '--porcelain', '--untracked-files=no']);
  return {
    node: process.version,
    v8: process.versions.v8,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    cores: availableParallelism(),
    totalMemoryBytes: totalmem(),
    os: { platform: platform(), release: release(), arch: arch() },
    gitSha: sha,
    gitDirty: status === null ? null : status !== '',
  };
}
