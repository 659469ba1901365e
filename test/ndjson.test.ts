/** Command NDJSON: lenient reading that never loses a line, diagnostics that name line and field, canonical writing. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Command } from '../engines/types.ts';
import { formatCommand, formatDiagnostic, MAX_KEPT_DIAGNOSTICS, parseCommandLine, parseNdjson, readNdjsonFile, type Diagnostic } from '../workloads/ndjson.ts';
import { workloadFromCommands } from '../workloads/workload.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'matchbench-ndjson-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function parseOne(line: string): { command: Command; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = [];
  return { command: parseCommandLine(line, 1, diagnostics), diagnostics };
}

describe('the README examples', () => {
  const examples: Array<[string, Command]> = [
    [
      '{"op":"new","sym":"AAPL","id":17,"side":"buy","type":"limit","tif":"gtc","price":1500025,"qty":100,"owner":3}',
      { op: 'new', sym: 'AAPL', id: 17, side: 'buy', type: 'limit', tif: 'gtc', price: 1500025, qty: 100, owner: 3 },
    ],
    ['{"op":"new","sym":"AAPL","id":18,"side":"sell","type":"market","qty":50}', { op: 'new', sym: 'AAPL', id: 18, side: 'sell', type: 'market', qty: 50 }],
    ['{"op":"cancel","sym":"AAPL","id":17}', { op: 'cancel', sym: 'AAPL', id: 17 }],
    ['{"op":"reduce","sym":"AAPL","id":17,"qty":10}', { op: 'reduce', sym: 'AAPL', id: 17, qty: 10 }],
    ['{"op":"modify","sym":"AAPL","id":17,"price":1500030,"qty":80}', { op: 'modify', sym: 'AAPL', id: 17, price: 1500030, qty: 80 }],
  ];
  for (const [line, command] of examples) {
    it(`${command.op}: parses without diagnostics and is written back as the same text`, () => {
      const { command: parsed, diagnostics } = parseOne(line);
      expect(diagnostics).toEqual([]);
      expect(parsed).toEqual(command);
      expect(formatCommand(parsed)).toBe(line);
    });
  }
});

describe('lenient values', () => {
  it('passes values the engine rejects through untouched; a missing number is NaN', () => {
    expect(parseOne('{"op":"new","sym":"A","id":-5,"side":"buy","type":"limit","price":0,"qty":1.5}').command).toEqual({
      op: 'new', sym: 'A', id: -5, side: 'buy', type: 'limit', tif: 'gtc', price: 0, qty: 1.5,
    });
    const missing = parseOne('{"op":"new","sym":"A","side":"sell","type":"limit","tif":"ioc"}');
    expect(missing.diagnostics).toEqual([]);
    expect(missing.command).toEqual({ op: 'new', sym: 'A', id: NaN, side: 'sell', type: 'limit', tif: 'ioc', price: NaN, qty: NaN });
    expect(parseOne('{"op":"reduce","sym":"A","id":1,"qty":0}').command).toEqual({ op: 'reduce', sym: 'A', id: 1, qty: 0 });
  });

  it("ignores unknown fields and a market order's price and tif, even a bad tif", () => {
    const { command, diagnostics } = parseOne('{"op":"new","sym":"A","id":1,"side":"buy","type":"market","tif":"day","price":"x","qty":5,"venue":"X"}');
    expect(diagnostics).toEqual([]);
    expect(command).toEqual({ op: 'new', sym: 'A', id: 1, side: 'buy', type: 'market', qty: 5 });
  });

  it('reads a non-number price or qty as missing, with a diagnostic', () => {
    const { command, diagnostics } = parseOne('{"op":"modify","sym":"A","id":1,"price":null,"qty":"80"}');
    expect(command).toEqual({ op: 'modify', sym: 'A', id: 1, price: NaN, qty: NaN });
    expect(diagnostics.map((d) => formatDiagnostic('f.ndjson', d))).toEqual([
      "f.ndjson:1: field 'price': expected a number, got null; read as missing, which the engine rejects",
      'f.ndjson:1: field \'qty\': expected a number, got "80"; read as missing, which the engine rejects',
    ]);
  });
});

describe('lines that cannot be a command', () => {
  const cases: Array<[string, string, Command, string]> = [
    ['not json', 'x', { op: 'invalid', sym: '', id: 0 }, "f.ndjson:1: not valid JSON: Unexpected token 'x', \"x\" is not valid JSON"],
    ['an array', '[1]', { op: 'invalid', sym: '', id: 0 }, 'f.ndjson:1: expected a JSON object, got an array'],
    ['a number', '42', { op: 'invalid', sym: '', id: 0 }, 'f.ndjson:1: expected a JSON object, got 42'],
    ['null', 'null', { op: 'invalid', sym: '', id: 0 }, 'f.ndjson:1: expected a JSON object, got null'],
    ['missing op', '{"sym":"A","id":3}', { op: 'invalid', sym: 'A', id: 3 }, "f.ndjson:1: field 'op': expected 'new', 'cancel', 'reduce', 'modify', 'invalid' or 'clock', got nothing (the field is missing)"],
    ['unknown op', '{"op":"amend","sym":"A","id":3}', { op: 'invalid', sym: 'A', id: 3 }, "f.ndjson:1: field 'op': expected 'new', 'cancel', 'reduce', 'modify', 'invalid' or 'clock', got \"amend\""],
    ['non-string sym', '{"op":"cancel","sym":5,"id":3}', { op: 'invalid', sym: '', id: 3 }, "f.ndjson:1: field 'sym': expected a string, got 5"],
    ['missing sym', '{"op":"cancel","id":3}', { op: 'invalid', sym: '', id: 3 }, "f.ndjson:1: field 'sym': expected a string, got nothing (the field is missing)"],
    ['non-number id', '{"op":"cancel","sym":"A","id":"3"}', { op: 'invalid', sym: 'A', id: 0 }, 'f.ndjson:1: field \'id\': expected a number, got "3"'],
    ['bad side', '{"op":"new","sym":"A","id":3,"side":"up","type":"limit","price":1,"qty":1}', { op: 'invalid', sym: 'A', id: 3 }, "f.ndjson:1: field 'side': expected 'buy' or 'sell', got \"up\""],
    ['missing type', '{"op":"new","sym":"A","id":3,"side":"buy","price":1,"qty":1}', { op: 'invalid', sym: 'A', id: 3 }, "f.ndjson:1: field 'type': expected 'limit' or 'market', got nothing (the field is missing)"],
    ['bad tif on a limit', '{"op":"new","sym":"A","id":3,"side":"buy","type":"limit","tif":"day","price":1,"qty":1}', { op: 'invalid', sym: 'A', id: 3 }, "f.ndjson:1: field 'tif': expected 'gtc', 'ioc' or 'fok', got \"day\""],
    ['non-number owner', '{"op":"new","sym":"A","id":3,"side":"buy","type":"limit","price":1,"qty":1,"owner":null}', { op: 'invalid', sym: 'A', id: 3 }, "f.ndjson:1: field 'owner': expected a number, got null"],
  ];
  for (const [name, line, command, message] of cases) {
    it(`${name}: an invalid command and one diagnostic naming the line${message.includes('field') ? ' and field' : ''}`, () => {
      const result = parseOne(line);
      expect(result.command).toEqual(command);
      expect(result.diagnostics.map((d) => formatDiagnostic('f.ndjson', d))).toEqual([message]);
    });
  }

  it('no line is lost and sequence numbers do not shift; blank lines take none but count for line numbers', () => {
    const text = [
      '{"op":"cancel","sym":"A","id":1}',
      '',
      '   ',
      'garbage',
      '{"op":"new","sym":"B","id":2,"side":"left","type":"limit","price":1,"qty":1}',
      '{"op":"cancel","sym":"A","id":3}',
      '',
    ].join('\r\n');
    const { workload, diagnostics, diagnosticCount } = parseNdjson(text);
    expect([...workload.commands()]).toEqual([
      { op: 'cancel', sym: 'A', id: 1 },
      { op: 'invalid', sym: '', id: 0 },
      { op: 'invalid', sym: 'B', id: 2 },
      { op: 'cancel', sym: 'A', id: 3 },
    ]);
    expect(diagnosticCount).toBe(2);
    expect(diagnostics.map((d) => [d.line, d.field])).toEqual([
      [4, null],
      [5, 'side'],
    ]);
  });

  it('keeps the first diagnostics and counts them all', () => {
    const { workload, diagnostics, diagnosticCount } = parseNdjson('nope\n'.repeat(MAX_KEPT_DIAGNOSTICS + 5));
    expect(workload.count).toBe(MAX_KEPT_DIAGNOSTICS + 5);
    expect(diagnostics.length).toBe(MAX_KEPT_DIAGNOSTICS);
    expect(diagnosticCount).toBe(MAX_KEPT_DIAGNOSTICS + 5);
  });

  it('a byte-order mark before the first line is ignored', () => {
    expect([...parseNdjson('\uFEFF{"op":"cancel","sym":"A","id":1}\n').workload.commands()]).toEqual([{ op: 'cancel', sym: 'A', id: 1 }]);
  });
});

describe('canonical export', () => {
  it('writes keys in the fixed order and omits absent fields', () => {
    expect(formatCommand({ op: 'new', sym: 'A', id: 1, side: 'sell', type: 'limit', tif: 'fok', price: NaN, qty: 2, owner: 9 })).toBe(
      '{"op":"new","sym":"A","id":1,"side":"sell","type":"limit","tif":"fok","qty":2,"owner":9}',
    );
    expect(formatCommand({ op: 'invalid', sym: '', id: 0 })).toBe('{"op":"invalid","sym":"","id":0}');
    expect(formatCommand({ op: 'cancel', sym: 'A "quoted"', id: NaN })).toBe('{"op":"cancel","sym":"A \\"quoted\\""}');
  });

  it('writes -0 and infinities so that JSON reads them back exactly', () => {
    const line = formatCommand({ op: 'modify', sym: 'A', id: -0, price: Infinity, qty: -Infinity });
    expect(line).toBe('{"op":"modify","sym":"A","id":-0,"price":1e999,"qty":-1e999}');
    const back = parseOne(line).command;
    expect(back.op === 'modify' && Object.is(back.id, -0)).toBe(true);
    expect(back).toEqual({ op: 'modify', sym: 'A', id: -0, price: Infinity, qty: -Infinity });
  });

  /** Any JSON object with command-like fields, well- or ill-formed. */
  const value = fc.oneof(
    fc.integer(),
    fc.double(),
    fc.constantFrom(0, -0, 1.5, Number.MAX_SAFE_INTEGER + 2, 1e21, -1e-7),
    fc.string({ maxLength: 4 }),
    fc.constant(null),
    fc.boolean(),
  );
  const field = (choices: readonly unknown[]) => fc.option(fc.oneof(fc.constantFrom(...choices), value), { nil: undefined });
  const commandish = fc.record(
    {
      op: field(['new', 'cancel', 'reduce', 'modify', 'invalid']),
      sym: field(['AAPL', '', 'Ünï 🚀', 'a"b\\c']),
      id: field([1, 17, -5]),
      side: field(['buy', 'sell']),
      type: field(['limit', 'market']),
      tif: field(['gtc', 'ioc', 'fok']),
      price: field([1500025]),
      qty: field([100]),
      owner: field([3]),
    },
    { requiredKeys: [] },
  );

  it('parse -> export -> parse gives the identical record for anything the parser produces', () => {
    fc.assert(
      fc.property(fc.array(commandish, { maxLength: 20 }), (objects) => {
        const text = objects.map((o) => JSON.stringify(o)).join('\n');
        const first = parseNdjson(text).workload;
        const exported = [...first.commands()].map(formatCommand).join('\n');
        const second = parseNdjson(exported);
        expect(second.diagnosticCount).toBe(0);
        expect(second.workload.symbols).toEqual(first.symbols);
        expect(Buffer.from(second.workload.records).equals(Buffer.from(first.records))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});

describe('files', () => {
  it('reads a gzipped file the same as a plain one', async () => {
    const text = '{"op":"cancel","sym":"A","id":1}\n{"op":"reduce","sym":"B","id":2,"qty":3}\n';
    await writeFile(join(dir, 'plain.ndjson'), text);
    await writeFile(join(dir, 'zipped.ndjson.gz'), gzipSync(text));
    const plain = (await readNdjsonFile(join(dir, 'plain.ndjson'))).workload;
    const zipped = (await readNdjsonFile(join(dir, 'zipped.ndjson.gz'))).workload;
    expect([...zipped.commands()]).toEqual([...plain.commands()]);
    expect(plain.count).toBe(2);
  });

  it('a header line restores symbol order and provenance; a malformed header is reported and skipped', () => {
    const header = '{"header":"matchbench-workload","version":1,"symbols":["Z","A"],"provenance":{"preset":"x"}}';
    const good = parseNdjson(`${header}\n{"op":"cancel","sym":"A","id":1}\n`);
    expect(good.workload.symbols).toEqual(['Z', 'A']);
    expect(good.workload.provenance).toEqual({ preset: 'x' });
    expect(good.workload.count).toBe(1);
    const bad = parseNdjson('{"header":"matchbench-workload","version":2,"symbols":[],"provenance":{}}\n{"op":"cancel","sym":"A","id":1}\n');
    expect(bad.workload.count).toBe(1);
    expect(bad.diagnostics).toEqual([{ line: 1, field: 'version', message: 'expected 1, got 2; header ignored' }]);
  });

  it('a header line anywhere but first is an invalid command, not a header', () => {
    const later = parseNdjson(`{"op":"cancel","sym":"A","id":1}\n{"header":"matchbench-workload","version":1,"symbols":[],"provenance":{}}\n`);
    expect(later.workload.count).toBe(2);
    expect(later.workload.command(1)).toEqual({ op: 'invalid', sym: '', id: 0 });
    expect(later.diagnostics[0]?.field).toBe('op');
  });

  it('exports what workloadFromCommands stored, field for field', () => {
    const commands: Command[] = [
      { op: 'new', sym: 'A', id: 1, side: 'buy', type: 'market', qty: 3, owner: 2 },
      { op: 'new', sym: 'A', id: 2, side: 'sell', type: 'limit', price: 5, qty: 1 },
    ];
    const lines = [...workloadFromCommands(commands).commands()].map(formatCommand);
    expect(lines).toEqual([
      '{"op":"new","sym":"A","id":1,"side":"buy","type":"market","qty":3,"owner":2}',
      '{"op":"new","sym":"A","id":2,"side":"sell","type":"limit","tif":"gtc","price":5,"qty":1}',
    ]);
  });
});
