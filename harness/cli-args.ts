/**
 * The small argument parser every matchbench CLI shares (workload, replay, compare).
 *
 * Accepts `--name value`, `--name=value`, repeated `list` options, boolean switches, positionals, `--` to end
 * options, and `-h`/`--help` anywhere. Anything it does not know is a UsageError naming the option, so a typo never
 * silently becomes a default. Typed access (`string`, `integer`, `boolean`, `list`) checks the option was declared,
 * so a misspelt name in the calling code fails loudly too. `runCli` maps UsageError to exit code 2 and any other
 * error to exit code 1, printing only the message (errors here are for users, not stack traces).
 */

export interface OptionSpec {
  /** `string`: one value; `list`: may repeat, values collected in order; `boolean`: a switch without a value. */
  readonly type: 'string' | 'list' | 'boolean';
  readonly description: string;
  /** Placeholder for the value in help, e.g. FILE or N. */
  readonly value?: string;
  /** A `string` option the command cannot run without: shown in the usage line, and its absence is a UsageError. */
  readonly required?: boolean;
}

export interface PositionalSpec {
  readonly name: string;
  readonly description: string;
  readonly optional?: boolean;
}

export interface CommandSpec {
  /** How the command is invoked, e.g. "npm run workload -- gen". */
  readonly command: string;
  /** One line shown in help and in command lists. */
  readonly summary: string;
  /** Further paragraphs for --help. */
  readonly details?: string;
  readonly positionals?: readonly PositionalSpec[];
  readonly options?: Readonly<Record<string, OptionSpec>>;
}

/** One command of a CLI with several (`npm run workload -- gen`, `npm run journal -- info`). */
export interface Subcommand {
  readonly spec: CommandSpec;
  run(args: ParsedArgs): Promise<void>;
}

/**
 * Runs the subcommand `argv[0]` names with the rest of `argv`; no name or `--help` prints `topLevelHelp` (exit 2
 * when no name was given), `<name> --help` the subcommand's help, an unknown name is a UsageError.
 */
export async function runSubcommand(cli: string, subcommands: ReadonlyMap<string, Subcommand>, argv: readonly string[], topLevelHelp: string): Promise<void> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(topLevelHelp);
    if (name === undefined) process.exitCode = 2;
    return;
  }
  const sub = subcommands.get(name);
  if (sub === undefined) throw new UsageError(cli, `unknown command '${name}' (commands: ${[...subcommands.keys()].join(', ')})`);
  const args = parseArgs(rest, sub.spec);
  if (args.help) {
    process.stdout.write(formatHelp(sub.spec));
    return;
  }
  await sub.run(args);
}

/** Bad command-line usage: the message says what and where; the CLI exits 2 and points at --help. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  readonly command: string;

  constructor(command: string, message: string) {
    super(message);
    this.command = command;
  }
}

export class ParsedArgs {
  readonly help: boolean;
  readonly positionals: readonly string[];
  private readonly spec: CommandSpec;
  private readonly values: ReadonlyMap<string, readonly string[]>;
  private readonly switches: ReadonlySet<string>;

  constructor(spec: CommandSpec, help: boolean, positionals: readonly string[], values: ReadonlyMap<string, readonly string[]>, switches: ReadonlySet<string>) {
    this.spec = spec;
    this.help = help;
    this.positionals = positionals;
    this.values = values;
    this.switches = switches;
  }

  /** The positional called `name` in the spec (undefined when optional and absent). */
  positional(name: string): string | undefined {
    const index = (this.spec.positionals ?? []).findIndex((p) => p.name === name);
    if (index < 0) throw new Error(`${this.spec.command}: positional '${name}' is not declared`);
    return this.positionals[index];
  }

  string(name: string): string | undefined {
    this.declared(name, 'string');
    return this.values.get(name)?.[0];
  }

  /** A string option declared `required` (parseArgs has already refused a command line without it). */
  requiredString(name: string): string {
    if (this.spec.options?.[name]?.required !== true) throw new Error(`${this.spec.command}: option --${name} is not declared required`);
    return this.string(name)!;
  }

  list(name: string): readonly string[] {
    this.declared(name, 'list');
    return this.values.get(name) ?? [];
  }

  boolean(name: string): boolean {
    this.declared(name, 'boolean');
    return this.switches.has(name);
  }

  /** A string option read as an integer in [min, max]; undefined when absent. */
  integer(name: string, min = 0, max = Number.MAX_SAFE_INTEGER): number | undefined {
    const raw = this.string(name);
    if (raw === undefined) return undefined;
    const value = Number(raw.replaceAll('_', ''));
    if (!/^-?[\d_]+$/.test(raw) || !Number.isSafeInteger(value) || value < min || value > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer in [${min}, ${max}]`;
      throw new UsageError(this.spec.command, `--${name}: expected ${range}, got '${raw}'`);
    }
    return value;
  }

  private declared(name: string, type: OptionSpec['type']): void {
    const option = this.spec.options?.[name];
    if (option === undefined || option.type !== type) throw new Error(`${this.spec.command}: option --${name} is not declared as ${type}`);
  }
}

/** Parses `argv` (without the node and script paths) against `spec`. */
export function parseArgs(argv: readonly string[], spec: CommandSpec): ParsedArgs {
  const options = spec.options ?? {};
  const declaredPositionals = spec.positionals ?? [];
  const fail = (message: string): UsageError => new UsageError(spec.command, message);
  const positionals: string[] = [];
  const values = new Map<string, string[]>();
  const switches = new Set<string>();
  const end = argv.indexOf('--');
  const optionArgs = end < 0 ? argv : argv.slice(0, end);
  if (optionArgs.includes('--help') || optionArgs.includes('-h')) return new ParsedArgs(spec, true, [], values, switches);
  for (let i = 0; i < optionArgs.length; i++) {
    const arg = optionArgs[i]!;
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.startsWith('--') ? arg.slice(2, eq < 0 ? undefined : eq) : '';
    const option = options[name];
    if (option === undefined) {
      const known = Object.keys(options).map((o) => `--${o}`).join(', ');
      throw fail(`unknown option '${eq < 0 ? arg : arg.slice(0, eq)}'${known === '' ? ' (this command takes none)' : ` (known: ${known})`}`);
    }
    if (option.type === 'boolean') {
      if (eq >= 0) throw fail(`option --${name} is a switch and takes no value, got '${arg}'`);
      switches.add(name);
      continue;
    }
    let value: string;
    if (eq >= 0) {
      value = arg.slice(eq + 1);
    } else {
      const next = optionArgs[i + 1];
      if (next === undefined || next.startsWith('--')) throw fail(`option --${name} needs a value (${option.value ?? 'VALUE'})${next === undefined ? '' : `, got option '${next}'`}`);
      value = next;
      i++;
    }
    const seen = values.get(name);
    if (seen === undefined) values.set(name, [value]);
    else if (option.type === 'list') seen.push(value);
    else throw fail(`option --${name} given twice ('${seen[0]}' and '${value}')`);
  }
  if (end >= 0) positionals.push(...argv.slice(end + 1));
  if (positionals.length > declaredPositionals.length) {
    throw fail(`unexpected argument '${positionals[declaredPositionals.length]}'${declaredPositionals.length === 0 ? ' (this command takes none)' : ''}`);
  }
  const missing = declaredPositionals.slice(positionals.length).find((p) => p.optional !== true);
  if (missing !== undefined) throw fail(`missing ${missing.name} (${missing.description})`);
  for (const [name, option] of Object.entries(options)) {
    if (option.required === true && !values.has(name)) throw fail(`missing --${name} ${option.value ?? 'VALUE'} (${option.description})`);
  }
  return new ParsedArgs(spec, false, positionals, values, switches);
}

/** The --help text for a command. */
export function formatHelp(spec: CommandSpec): string {
  const options = Object.entries(spec.options ?? {});
  const positionals = spec.positionals ?? [];
  const label = (name: string, option: OptionSpec): string => `--${name}${option.type === 'boolean' ? '' : ` ${option.value ?? 'VALUE'}`}`;
  const required = options.filter(([, option]) => option.required === true);
  const usage = [
    spec.command,
    ...positionals.map((p) => (p.optional === true ? `[${p.name}]` : p.name)),
    ...required.map(([name, option]) => label(name, option)),
    ...(options.length > required.length ? ['[options]'] : []),
  ].join(' ');
  const rows: Array<[string, string]> = [
    ...positionals.map((p): [string, string] => [p.name, p.description]),
    ...options.map(([name, option]): [string, string] => [label(name, option), `${option.description}${option.type === 'list' ? ' (repeatable)' : ''}`]),
    ['-h, --help', 'show this help'],
  ];
  const width = Math.max(...rows.map(([left]) => left.length));
  const lines = [`Usage: ${usage}`, '', spec.summary];
  if (spec.details !== undefined) lines.push('', spec.details);
  lines.push('', ...rows.map(([left, right]) => `  ${left.padEnd(width)}  ${right}`));
  return `${lines.join('\n')}\n`;
}

/**
 * Runs a CLI entry point: exit code 0 on success, 2 on a UsageError (message plus a pointer to --help), 1 on any
 * other error (its message only). Sets process.exitCode rather than exiting, so pending output is flushed.
 */
export function runCli(main: () => Promise<void>): void {
  main().catch((error: unknown) => {
    if (error instanceof UsageError) {
      process.stderr.write(`error: ${error.message}\nRun '${error.command} --help' for usage.\n`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  });
}
