/** `npm run workload -- ...` end to end: each subcommand as a user runs it, exit codes, and errors on stderr. */
import { execFile, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const CLI = join(import.meta.dirname, '..', 'workloads', 'cli.ts');

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'matchbench-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs the CLI with the Node that runs the tests (the pinned Node 24: npm puts node_modules/.bin first). */
function workload(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [CLI, ...args], { cwd: dir, encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** The same, without blocking, so independent runs overlap. */
function workloadAsync(...args: string[]): Promise<{ status: number | null; stdout: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { cwd: dir, encoding: 'utf8' }, (error, stdout) => {
      resolve({ status: error === null ? 0 : (error.code as number | null), stdout });
    });
  });
}

describe('workload CLI', () => {
  it('runs on Node 24', () => {
    expect(process.versions.node.split('.')[0]).toBe('24');
  });

  it('gen writes a binary file and info summarizes it with a checksum verdict', () => {
    const gen = workload('gen', '--preset', 'balanced', '--seed', '3', '--count', '2000', '--out', 'a.mbwl');
    expect(gen.stderr).toBe('');
    expect(gen.status).toBe(0);
    expect(gen.stdout).toMatch(/^wrote 2000 commands, 8 symbols to a\.mbwl \(binary, \d+ bytes\)/);
    const info = workload('info', 'a.mbwl');
    expect(info.status).toBe(0);
    expect(info.stdout).toContain('commands: 2000');
    expect(info.stdout).toMatch(/ {2}invalid +0 /);
    expect(info.stdout).toMatch(/new orders: limit gtc \d+, limit ioc \d+, limit fok \d+, market \d+/);
    expect(info.stdout).toContain('symbols: 8 in the table, 8 used');
    expect(info.stdout).toContain('"preset":"balanced","seed":3,"count":2000');
    expect(info.stdout).toMatch(/checksum: CRC-32 0x[0-9a-f]{8} ok/);
  });

  it('the same gen twice gives the identical file', async () => {
    expect(workload('gen', '--preset=sweep', '--seed=9', '--count=3000', '--out=s1.mbwl')).toMatchObject({ status: 0, stderr: '' });
    expect(workload('gen', '--preset', 'sweep', '--seed', '9', '--count', '3000', '--out', 's2.mbwl')).toMatchObject({ status: 0, stderr: '' });
    expect((await readFile(join(dir, 's1.mbwl'))).equals(await readFile(join(dir, 's2.mbwl')))).toBe(true);
  });

  it('to-ndjson --header then from-ndjson gives back the identical binary file', async () => {
    workload('gen', '--preset', 'many-symbols', '--count', '1500', '--out', 'm.mbwl');
    const exported = workload('to-ndjson', '--header', 'm.mbwl');
    expect(exported.status).toBe(0);
    const lines = exported.stdout.trimEnd().split('\n');
    expect(lines.length).toBe(1 + 1500);
    await writeFile(join(dir, 'm.ndjson'), exported.stdout);
    const back = workload('from-ndjson', 'm.ndjson', '--out', 'm2.mbwl');
    expect(back.status).toBe(0);
    expect(back.stdout).toContain('; 0 diagnostics');
    expect((await readFile(join(dir, 'm2.mbwl'))).equals(await readFile(join(dir, 'm.mbwl')))).toBe(true);
  });

  it('gen to an .ndjson name writes command NDJSON', async () => {
    expect(workload('gen', '--preset', 'cancel-heavy', '--count', '50', '--out', 'c.ndjson').status).toBe(0);
    const text = await readFile(join(dir, 'c.ndjson'), 'utf8');
    expect(text.trimEnd().split('\n').map((l) => JSON.parse(l).op)).toHaveLength(50);
  });

  it('from-ndjson reports malformed lines as file:line diagnostics and keeps them as invalid commands', async () => {
    await writeFile(join(dir, 'bad.ndjson'), '{"op":"cancel","sym":"A","id":1}\n{"op":"new","sym":"A","id":2,"side":"up","type":"limit","price":1,"qty":1}\n');
    const result = workload('from-ndjson', 'bad.ndjson', '--out', 'bad.mbwl');
    expect(result.status).toBe(0);
    expect(result.stderr).toBe('bad.ndjson:2: field \'side\': expected \'buy\' or \'sell\', got "up"\n');
    expect(result.stdout).toContain('wrote 2 commands');
    expect(result.stdout).toContain('; 1 diagnostics');
    const info = workload('info', 'bad.mbwl');
    expect(info.stdout).toMatch(/ {2}invalid +1 /);
  });

  it('info on a corrupted file prints the summary, reports the mismatch and exits 1', async () => {
    workload('gen', '--preset', 'deep-book', '--count', '500', '--out', 'd.mbwl');
    const bytes = await readFile(join(dir, 'd.mbwl'));
    bytes[bytes.length - 100]! ^= 0x10;
    await writeFile(join(dir, 'd-bad.mbwl'), bytes);
    const info = workload('info', 'd-bad.mbwl');
    expect(info.status).toBe(1);
    expect(info.stdout).toContain('commands: 500');
    expect(info.stdout).toMatch(/checksum: MISMATCH \(trailer 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}\)/);
    expect(info.stderr).toMatch(/^error: d-bad\.mbwl: CRC-32 mismatch/);
  });

  it('a truncated file is an error naming the byte offset', async () => {
    const bytes = await readFile(join(dir, 'a.mbwl'));
    await writeFile(join(dir, 'short.mbwl'), bytes.subarray(0, bytes.length - 57));
    const result = workload('to-ndjson', 'short.mbwl');
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/^error: short\.mbwl: truncated record 1998 at byte offset \d+: expected 40 bytes, got 27/);
  });

  it('usage errors exit 2 and name the problem', () => {
    const unknownPreset = workload('gen', '--preset', 'nope', '--out', 'x.mbwl');
    expect(unknownPreset.status).toBe(2);
    expect(unknownPreset.stderr).toContain("error: unknown preset 'nope' (known: balanced, cancel-heavy, sweep, many-symbols, deep-book)");
    const unknownFlag = workload('gen', '--preset', 'balanced', '--colour', 'red');
    expect(unknownFlag.status).toBe(2);
    expect(unknownFlag.stderr).toContain("error: unknown option '--colour'");
    expect(unknownFlag.stderr).toContain("Run 'npm run workload -- gen --help' for usage.");
    expect(workload('frobnicate').stderr).toContain("error: unknown command 'frobnicate'");
    expect(workload('info').stderr).toContain('error: missing FILE');
  });

  it('a missing input file exits 1 and names it', () => {
    const result = workload('info', 'nowhere.mbwl');
    expect(result.status).toBe(1);
    expect(result.stderr).toBe('error: nowhere.mbwl: no such file\n');
  });

  it('--help works for the CLI and for each command', async () => {
    const commands = ['gen', 'info', 'to-ndjson', 'from-ndjson', 'import-lobster', 'fidelity'];
    const [top, ...helps] = await Promise.all([workloadAsync('--help'), ...commands.map((command) => workloadAsync(command, '--help'))]);
    expect(top!.status).toBe(0);
    commands.forEach((command, i) => {
      expect(top!.stdout).toContain(`  ${command}`);
      expect(helps[i]!.status).toBe(0);
      expect(helps[i]!.stdout).toContain(`Usage: npm run workload -- ${command}`);
    });
    expect(helps[0]!.stdout).toContain('deep-book');
  });

  describe('LOBSTER commands on a three-message fixture', () => {
    const message = 'TEST_2012-06-21_34200000_57600000_message_1.csv';
    const orderbook = 'TEST_2012-06-21_34200000_57600000_orderbook_1.csv';

    beforeAll(async () => {
      // Buy 100 @ $100 rests, sell 50 @ $101 rests, then the sell is executed in full.
      await writeFile(join(dir, message), '34200.001,1,1,100,1000000,1\n34200.002,1,2,50,1010000,-1\n34200.003,4,2,50,1010000,-1\n');
      await writeFile(join(dir, orderbook), '9999999999,0,1000000,100\n1010000,50,1000000,100\n9999999999,0,1000000,100\n');
    });

    it('import-lobster writes the workload and prints its stats', async () => {
      const result = workload('import-lobster', message, '--orderbook', orderbook, '--out', 'l.ndjson');
      expect(result.status).toBe(0);
      expect(result.stdout).toContain('wrote 3 commands, 1 symbols to l.ndjson');
      const ops = (await readFile(join(dir, 'l.ndjson'), 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l));
      expect(ops.map((c) => `${c.op}/${c.tif}`)).toEqual(['new/gtc', 'new/gtc', 'new/ioc']);
    });

    it('fidelity --json prints exactly the documented object', () => {
      expect(workload('fidelity', message, '--orderbook', orderbook, '--json').stdout).toBe('{"executions":{"matched":1,"total":1},"book":{"matched":3,"total":3}}\n');
      expect(workload('fidelity', message, '--json').stdout).toBe('{"executions":{"matched":1,"total":1},"book":null}\n');
    });

    it('fidelity without --json prints a human summary', () => {
      const result = workload('fidelity', message, '--orderbook', orderbook);
      expect(result.stdout).toContain('executions reproduced exactly: 100.00% (1 of 1)');
      expect(result.stdout).toContain('book matches after message:    100.00% (3 of 3)');
    });
  });
});
