/** The shared CLI argument parser (harness/cli-args.ts): every accepted form, and an error naming each misuse. */
import { describe, expect, it } from 'vitest';
import { formatHelp, parseArgs, UsageError, type CommandSpec } from '../harness/cli-args.ts';

const SPEC: CommandSpec = {
  command: 'npm run tool -- run',
  summary: 'Runs things.',
  details: 'More about running.',
  positionals: [
    { name: 'INPUT', description: 'the input file' },
    { name: 'EXTRA', description: 'an optional second file', optional: true },
  ],
  options: {
    out: { type: 'string', value: 'FILE', description: 'where to write' },
    seed: { type: 'string', value: 'N', description: 'a seed' },
    engine: { type: 'list', value: 'NAME', description: 'an engine' },
    json: { type: 'boolean', description: 'print JSON' },
  },
};

/** The same command with --out required. */
const SPEC_OUT_REQUIRED: CommandSpec = { ...SPEC, options: { ...SPEC.options, out: { type: 'string', value: 'FILE', required: true, description: 'where to write' } } };

function usageError(argv: string[], spec = SPEC): string {
  try {
    parseArgs(argv, spec);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as Error).message;
  }
  throw new Error(`no UsageError for ${argv.join(' ')}`);
}

describe('parseArgs', () => {
  it('reads --flag value, --flag=value, repeated lists, switches and positionals in any order', () => {
    const args = parseArgs(['--engine', 'a', 'in.bin', '--out=o.txt', '--json', '--engine=b', 'more.bin'], SPEC);
    expect(args.help).toBe(false);
    expect(args.positional('INPUT')).toBe('in.bin');
    expect(args.positional('EXTRA')).toBe('more.bin');
    expect(args.string('out')).toBe('o.txt');
    expect(args.list('engine')).toEqual(['a', 'b']);
    expect(args.boolean('json')).toBe(true);
    expect(args.string('seed')).toBeUndefined();
    expect(args.integer('seed')).toBeUndefined();
  });

  it('absent options read as absent; an optional positional may be missing', () => {
    const args = parseArgs(['in.bin'], SPEC);
    expect(args.boolean('json')).toBe(false);
    expect(args.list('engine')).toEqual([]);
    expect(args.positional('EXTRA')).toBeUndefined();
  });

  it('-- ends the options: what follows is positional even if it looks like a flag', () => {
    const args = parseArgs(['--json', '--', '--weird-name'], SPEC);
    expect(args.positional('INPUT')).toBe('--weird-name');
  });

  it('--help or -h anywhere asks for help, even next to mistakes', () => {
    expect(parseArgs(['--bogus', '-h'], SPEC).help).toBe(true);
    expect(parseArgs(['x', '--help'], SPEC).help).toBe(true);
    expect(parseArgs(['--', '--help'], SPEC).help).toBe(false);
  });

  it('integers: accepted forms and an error naming the option and value', () => {
    expect(parseArgs(['x', '--seed', '1_000'], SPEC).integer('seed')).toBe(1000);
    expect(parseArgs(['x', '--seed=0'], SPEC).integer('seed')).toBe(0);
    expect(() => parseArgs(['x', '--seed', '-4'], SPEC).integer('seed')).toThrow("--seed: expected an integer >= 0, got '-4'");
    expect(() => parseArgs(['x', '--seed', '1.5'], SPEC).integer('seed')).toThrow("--seed: expected an integer >= 0, got '1.5'");
    expect(() => parseArgs(['x', '--seed', '12'], SPEC).integer('seed', 1, 10)).toThrow("--seed: expected an integer in [1, 10], got '12'");
    expect(() => parseArgs(['x', '--seed', '99999999999999999'], SPEC).integer('seed')).toThrow(UsageError);
  });

  it('names every misuse', () => {
    expect(usageError(['x', '--colour', 'red'])).toBe("unknown option '--colour' (known: --out, --seed, --engine, --json)");
    expect(usageError(['x', '--colour=red'])).toBe("unknown option '--colour' (known: --out, --seed, --engine, --json)");
    expect(usageError(['x', '-v'])).toBe("unknown option '-v' (known: --out, --seed, --engine, --json)");
    expect(usageError(['x', '--json=yes'])).toBe("option --json is a switch and takes no value, got '--json=yes'");
    expect(usageError(['x', '--out'])).toBe('option --out needs a value (FILE)');
    expect(usageError(['x', '--out', '--json'])).toBe("option --out needs a value (FILE), got option '--json'");
    expect(usageError(['x', '--out', 'a', '--out', 'b'])).toBe("option --out given twice ('a' and 'b')");
    expect(usageError(['a', 'b', 'c'])).toBe("unexpected argument 'c'");
    expect(usageError([])).toBe('missing INPUT (the input file)');
    expect(usageError(['x'], SPEC_OUT_REQUIRED)).toBe('missing --out FILE (where to write)');
    expect(parseArgs(['x', '--out', 'o.txt'], SPEC_OUT_REQUIRED).requiredString('out')).toBe('o.txt');
    expect(parseArgs(['--help'], SPEC_OUT_REQUIRED).help).toBe(true);
  });

  it('a UsageError carries the command, for the "see --help" hint', () => {
    let caught: unknown = null;
    try {
      parseArgs([], SPEC);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(UsageError);
    expect((caught as UsageError).command).toBe('npm run tool -- run');
  });

  it('asking for an undeclared option is a programming error, not a usage error', () => {
    const args = parseArgs(['x'], SPEC);
    expect(() => args.string('json')).toThrow('option --json is not declared as string');
    expect(() => args.boolean('verbose')).toThrow('option --verbose is not declared as boolean');
    expect(() => args.positional('OTHER')).toThrow("positional 'OTHER' is not declared");
    expect(() => args.requiredString('out')).toThrow('option --out is not declared required');
  });
});

describe('formatHelp', () => {
  it('shows usage, summary, details, arguments and every option', () => {
    const help = formatHelp(SPEC_OUT_REQUIRED);
    expect(help.split('\n')[0]).toBe('Usage: npm run tool -- run INPUT [EXTRA] --out FILE [options]');
    for (const text of ['Runs things.', 'More about running.', 'INPUT', 'the input file', '--out FILE', '--engine NAME', 'an engine (repeatable)', '--json', '-h, --help']) {
      expect(help).toContain(text);
    }
  });
});
