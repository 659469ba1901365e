/**
 * The engine contract (every scenario of the command/event semantics) against every concurrent design, each driven
 * through its real cross-thread path with one producer (harness/sync-design-adapter.ts).
 *
 * Starting engine workers costs tens to hundreds of milliseconds, so each design's adapters are pooled: a scenario
 * takes an idle adapter (its books emptied by reset()) or starts a new one, and gives it back after the test.
 * Worker-based designs use spin-then-wait so idle engine threads sleep; sharded runs 2 shards (2 workers).
 */
import { afterAll, afterEach } from 'vitest';
import { DESIGNS, resolveParams } from '../engines/designs.ts';
import type { EngineDesign, ParamValue } from '../engines/engine.ts';
import { SyncDesignAdapter } from '../harness/sync-design-adapter.ts';
import { describeEngineContract } from './contract/engine-contract.ts';

const MAX_COMMANDS = 1 << 16;
const idle = new Map<string, SyncDesignAdapter[]>();
const lent: Array<{ design: string; adapter: SyncDesignAdapter }> = [];

afterEach(() => {
  for (const { design, adapter } of lent.splice(0)) idle.get(design)!.push(adapter);
});

afterAll(async () => {
  await Promise.all([...idle.values()].flat().map((adapter) => adapter.close()));
});

function testParams(design: EngineDesign): Record<string, ParamValue> {
  const params: Record<string, ParamValue> = {};
  if (design.params.some((p) => p.name === 'wait')) params['wait'] = 'spin-then-wait';
  if (design.params.some((p) => p.name === 'shards')) params['shards'] = 2;
  return params;
}

for (const design of DESIGNS) {
  const params = resolveParams(design, testParams(design));
  describeEngineContract(`design ${design.name}`, (rules) => {
    // Adapters are pooled per rule set: a design's cores hold their rules.
    const key = `${design.name} ${JSON.stringify(rules)}`;
    if (!idle.has(key)) idle.set(key, []);
    let adapter = idle.get(key)!.pop();
    if (adapter === undefined) adapter = new SyncDesignAdapter(design, params, { maxCommands: MAX_COMMANDS, risk: rules });
    else adapter.reset();
    lent.push({ design: key, adapter });
    return adapter;
  });
}
