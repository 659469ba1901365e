/**
 * The registry of concurrent designs: name → design, in the order the compare table lists them, plus parameter
 * resolution (defaults, validation with clear errors) and the help text that documents every parameter.
 */
import type { EngineDesign, ParamSpec, ParamValue, ParamValues } from './engine.ts';
import { channelDesign } from './channel.ts';
import { disruptorDesign } from './disruptor.ts';
import { inlineDesign } from './inline.ts';
import { mutexDesign } from './mutex.ts';
import { noopDesign } from './noop.ts';
import { shardedDesign } from './sharded.ts';

/** The matching designs: what compare, the gate and the contract suite run and what the figures compare. */
export const DESIGNS: readonly EngineDesign[] = [inlineDesign, mutexDesign, channelDesign, disruptorDesign, shardedDesign];

export const DESIGN_NAMES: readonly string[] = DESIGNS.map((d) => d.name);

/**
 * The harness floor (engines/noop.ts): runs through the same harness as a design but matches nothing, so it is kept
 * out of DESIGNS; compare measures it beside them, and producer threads find it by name like any design.
 */
export const HARNESS_FLOOR: EngineDesign = noopDesign;

export function designByName(name: string): EngineDesign {
  const design = name === HARNESS_FLOOR.name ? HARNESS_FLOOR : DESIGNS.find((d) => d.name === name);
  if (design === undefined) throw new Error(`unknown engine design ${JSON.stringify(name)}; designs: ${DESIGN_NAMES.join(', ')}`);
  return design;
}

function parseParam(design: string, spec: ParamSpec, raw: ParamValue): ParamValue {
  const where = `${design} parameter ${spec.name}`;
  if (spec.choices !== undefined) {
    const value = String(raw);
    if (!spec.choices.includes(value)) throw new Error(`${where} = ${JSON.stringify(value)}: must be one of ${spec.choices.join(', ')}`);
    return value;
  }
  const value = typeof raw === 'number' ? raw : /^-?\d+$/.test(raw.trim()) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(value)) throw new Error(`${where} = ${JSON.stringify(raw)}: must be an integer`);
  if ((spec.min !== undefined && value < spec.min) || (spec.max !== undefined && value > spec.max)) {
    throw new Error(`${where} = ${value}: must be between ${spec.min ?? '-∞'} and ${spec.max ?? '∞'}`);
  }
  if (spec.powerOfTwo === true && (value < 1 || (value & (value - 1)) !== 0)) throw new Error(`${where} = ${value}: must be a power of two`);
  return value;
}

/**
 * Every parameter of `design`: the given values (strings from the command line, or numbers) validated, the rest
 * defaulted. A given name the design does not have is an error naming the ones it does.
 */
export function resolveParams(design: EngineDesign, given: Readonly<Record<string, ParamValue>>): ParamValues {
  const resolved: Record<string, ParamValue> = {};
  for (const name of Object.keys(given)) {
    if (!design.params.some((p) => p.name === name)) {
      const known = design.params.map((p) => p.name);
      throw new Error(`${design.name} has no parameter ${JSON.stringify(name)}${known.length > 0 ? `; its parameters: ${known.join(', ')}` : ' (it takes none)'}`);
    }
  }
  for (const spec of design.params) resolved[spec.name] = parseParam(design.name, spec, given[spec.name] ?? spec.default);
  return resolved;
}

/** Lines documenting every design and its parameters, for --help. */
export function designsHelp(): string {
  const lines: string[] = [];
  for (const d of DESIGNS) {
    lines.push(`  ${d.name.padEnd(10)} ${d.tradeOff}`);
    for (const p of d.params) {
      const range = p.choices !== undefined ? p.choices.join('|') : `${p.min ?? ''}…${p.max ?? ''}${p.powerOfTwo === true ? ', power of two' : ''}`;
      lines.push(`      ${`${p.name}=${p.default}`.padEnd(22)} ${p.doc} (${range})`);
    }
  }
  return lines.join('\n');
}
