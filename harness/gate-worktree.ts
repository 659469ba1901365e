/**
 * The baseline's code as a runnable tree: the commit results/baseline.json names, checked out in a temporary git
 * worktree beside the current one, with its dependencies installed.
 *
 * Contract: `checkOutBaseline` either returns a tree whose `harness/gate.ts --serve-runs` can run, or throws
 * BaselineUnavailableError when this clone cannot have it without fetching (a shallow clone, a commit from another
 * repository, no git): the gate fetches nothing from outside and says so rather than judging. `remove()` deletes the
 * tree and its worktree entry; it is safe to call more than once.
 *
 * Dependencies: when the baseline's package-lock.json is byte-identical to the current one, the tree links the
 * current node_modules (the same packages, installed once); otherwise `npm ci` installs the baseline's own, from the
 * npm registry, into the temporary tree.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The baseline commit is not in this clone: neither a pass nor a regression. */
export class BaselineUnavailableError extends Error {
  override readonly name = 'BaselineUnavailableError';
}

export interface BaselineTree {
  readonly dir: string;
  /** How its dependencies were provided, for the log. */
  readonly dependencies: 'linked' | 'installed';
  remove(): void;
}

function git(repo: string, args: readonly string[]): { ok: boolean; out: string; err: string } {
  const r = spawnSync('git', ['-C', repo, ...args], { encoding: 'utf8' });
  if (r.error !== undefined) return { ok: false, out: '', err: r.error.message };
  return { ok: r.status === 0, out: r.stdout.trim(), err: r.stderr.trim() };
}

/** The top of the git work tree holding `dir`, or a BaselineUnavailableError. */
export function repositoryRoot(dir: string): string {
  const top = git(dir, ['rev-parse', '--show-toplevel']);
  if (!top.ok) throw new BaselineUnavailableError(`${dir} is not in a git work tree (${top.err || 'git failed'}): the gate measures the baseline commit's code, which needs the repository's history`);
  return top.out;
}

/** Throws BaselineUnavailableError unless `commit` is a commit object in the repository at `repo`. */
export function requireCommit(repo: string, commit: string): void {
  if (git(repo, ['cat-file', '-e', `${commit}^{commit}`]).ok) return;
  const shallow = git(repo, ['rev-parse', '--is-shallow-repository']).out === 'true';
  throw new BaselineUnavailableError(
    `the baseline commit ${commit} (results/baseline.json) is not in this clone` +
      (shallow ? ' (it is a shallow clone: `git fetch --unshallow` brings the history)' : ' (is it a commit of another repository?)') +
      '; the gate fetches nothing by itself',
  );
}

/** Checks `commit` out in a temporary worktree of `repo` and provides its dependencies; `log` gets progress lines. */
export function checkOutBaseline(repo: string, commit: string, log: (line: string) => void): BaselineTree {
  requireCommit(repo, commit);
  git(repo, ['worktree', 'prune']); // entries of trees a killed gate run left behind
  const dir = mkdtempSync(join(tmpdir(), 'matchbench-gate-baseline-'));
  let removed = false;
  const remove = (): void => {
    if (removed) return;
    removed = true;
    git(repo, ['worktree', 'remove', '--force', dir]);
    rmSync(dir, { recursive: true, force: true });
    git(repo, ['worktree', 'prune']);
  };
  try {
    const added = git(repo, ['worktree', 'add', '--detach', '--quiet', dir, commit]);
    if (!added.ok) throw new Error(`git worktree add ${dir} ${commit} failed: ${added.err}`);
    const lockfile = 'package-lock.json';
    const sameLock = existsSync(join(dir, lockfile)) && readFileSync(join(dir, lockfile)).equals(readFileSync(join(repo, lockfile)));
    if (sameLock && existsSync(join(repo, 'node_modules'))) {
      symlinkSync(join(repo, 'node_modules'), join(dir, 'node_modules'), 'dir');
      return { dir, dependencies: 'linked', remove };
    }
    log(`baseline ${commit.slice(0, 10)}: its package-lock.json differs from the current one; installing its dependencies (npm ci)`);
    execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: dir, stdio: ['ignore', 'inherit', 'inherit'] });
    return { dir, dependencies: 'installed', remove };
  } catch (error) {
    remove();
    throw error;
  }
}
