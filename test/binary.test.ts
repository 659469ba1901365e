/** The binary workload format: round trips, binary <-> NDJSON identity, and a clear error for every kind of damage. */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 as zlibCrc32 } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readWorkloadFile, WorkloadChecksumError, WorkloadFormatError, WorkloadReader, WorkloadWriter, writeWorkloadFile } from '../workloads/binary.ts';
import { crc32Combine } from '../workloads/crc32.ts';
import { generateWorkload, PRESETS } from '../workloads/generator.ts';
import { parseNdjson, readNdjsonFile, writeNdjsonFile } from '../workloads/ndjson.ts';
import { OP_CANCEL, RECORD_BYTES, Workload, WorkloadBuilder, workloadFromCommands } from '../workloads/workload.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'matchbench-binary-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Commands of every shape the NDJSON parser can produce, including the malformed values the engine rejects. */
const MALFORMED_NDJSON = [
  '{"op":"new","sym":"AAPL","id":17,"side":"buy","type":"limit","tif":"gtc","price":1500025,"qty":100,"owner":3}',
  '{"op":"new","sym":"AAPL","id":18,"side":"sell","type":"market","qty":50}',
  '{"op":"new","sym":"AAPL","id":19,"side":"sell","type":"limit","price":1500030,"qty":0}',
  '{"op":"new","sym":"AAPL","id":20,"side":"sell","type":"limit","tif":"fok","qty":1.5}',
  '{"op":"new","sym":"MSFT","id":-5,"side":"buy","type":"limit","tif":"ioc","price":-0,"qty":1e999,"owner":-1}',
  '{"op":"new","sym":"MSFT","side":"buy","type":"market"}',
  '{"op":"cancel","sym":"AAPL","id":17}',
  '{"op":"cancel","sym":"AAPL"}',
  '{"op":"reduce","sym":"AAPL","id":17,"qty":-1e999}',
  '{"op":"reduce","sym":"AAPL","id":17}',
  '{"op":"modify","sym":"AAPL","id":17,"price":1.25,"qty":"80"}',
  '{"op":"invalid","sym":"AAPL","id":4}',
  '{"op":"invalid","sym":""}',
  'not json at all',
  '[1,2,3]',
  '{"op":"explode","sym":"AAPL","id":21}',
  '{"op":"new","sym":7,"id":22,"side":"buy","type":"limit","price":1,"qty":1}',
  '{"op":"new","sym":"Ünïcødé 🚀","id":23,"side":"up","type":"limit","price":1,"qty":1}',
  '{"op":"new","sym":"AAPL","id":"24","side":"buy","type":"limit","price":1,"qty":1}',
  '{"op":"new","sym":"AAPL","id":25,"side":"buy","type":"limit","price":1,"qty":1,"owner":"x"}',
  '{"op":"new","sym":"AAPL","id":9007199254740993,"side":"buy","type":"stop","price":1,"qty":1}',
].join('\n');

function malformedWorkload(): Workload {
  const result = parseNdjson(MALFORMED_NDJSON, { source: 'test', case: 'malformed' });
  expect(result.workload.count).toBe(21);
  return result.workload;
}

async function fileBytes(name: string, workload: Workload): Promise<Buffer> {
  const path = join(dir, name);
  await writeWorkloadFile(path, workload);
  return readFile(path);
}

/** binary -> NDJSON (with header) -> binary must give the identical file. */
async function expectNdjsonRoundTripIdentical(name: string, workload: Workload): Promise<void> {
  const original = await fileBytes(`${name}.mbwl`, workload);
  const fromFile = await readWorkloadFile(join(dir, `${name}.mbwl`));
  const ndjsonPath = join(dir, `${name}.ndjson`);
  await writeNdjsonFile(ndjsonPath, fromFile, { header: true });
  const parsed = await readNdjsonFile(ndjsonPath);
  expect(parsed.diagnosticCount).toBe(0);
  const again = await fileBytes(`${name}.again.mbwl`, parsed.workload);
  expect(again.equals(original)).toBe(true);
}

describe('binary round trip', () => {
  it('reads back exactly the records, symbols and provenance written', async () => {
    const workload = generateWorkload({ preset: 'balanced', seed: 3, count: 5_000 });
    const path = join(dir, 'round.mbwl');
    await writeWorkloadFile(path, workload);
    const back = await readWorkloadFile(path);
    expect(back.symbols).toEqual(workload.symbols);
    expect(back.provenance).toEqual(workload.provenance);
    expect(Buffer.from(back.records).equals(Buffer.from(workload.records))).toBe(true);
  });

  it('round-trips an empty workload', async () => {
    const empty = new WorkloadBuilder().build({ source: 'empty' });
    const path = join(dir, 'empty.mbwl');
    await writeWorkloadFile(path, empty);
    const back = await readWorkloadFile(path);
    expect(back.count).toBe(0);
    expect(back.symbols).toEqual([]);
  });

  for (const preset of PRESETS) {
    it(`binary -> NDJSON -> binary is byte-identical for preset ${preset.name}`, async () => {
      await expectNdjsonRoundTripIdentical(preset.name, generateWorkload({ preset: preset.name, seed: 11, count: 4_000 }));
    });
  }

  it('binary -> NDJSON -> binary is byte-identical for a stream of malformed commands', async () => {
    await expectNdjsonRoundTripIdentical('malformed', malformedWorkload());
  });

  it('without the header line, records and symbol table still survive NDJSON exactly', async () => {
    const workload = malformedWorkload();
    const path = join(dir, 'plain.ndjson.gz');
    await writeNdjsonFile(path, workload, { header: false });
    const back = (await readNdjsonFile(path)).workload;
    expect(back.symbols).toEqual(workload.symbols);
    expect(Buffer.from(back.records).equals(Buffer.from(workload.records))).toBe(true);
    expect(back.provenance).toEqual({ source: 'ndjson', file: 'plain.ndjson.gz' });
  });

  it('keeps a symbol no record uses, and the table order, through NDJSON with the header', async () => {
    const builder = new WorkloadBuilder();
    builder.intern('ZZZ');
    builder.add({ op: 'cancel', sym: 'AAA', id: 1 });
    await expectNdjsonRoundTripIdentical('unused-symbol', builder.build({ source: 'test' }));
  });

  it('a writer fed in uneven batches gives the same file as writing the whole workload', async () => {
    const workload = generateWorkload({ preset: 'sweep', seed: 5, count: 40_000 });
    const whole = await fileBytes('whole.mbwl', workload);
    const path = join(dir, 'batches.mbwl');
    const writer = await WorkloadWriter.create(path, workload.symbols, workload.provenance);
    const batches = [1, 0, 7, 16_385, 3, 20_000];
    let at = 0;
    for (const n of batches) {
      await writer.append(workload.bytes.subarray(at * RECORD_BYTES, (at + n) * RECORD_BYTES));
      at += n;
    }
    await writer.append(workload.bytes.subarray(at * RECORD_BYTES));
    await writer.close();
    expect((await readFile(path)).equals(whole)).toBe(true);
  });

  it('stores any NaN as the canonical NaN, so the file reads back', async () => {
    const zero = Number('0');
    const workload = workloadFromCommands([{ op: 'reduce', sym: 'A', id: 1, qty: zero / zero }]);
    // A computed NaN need not be JS's canonical NaN (on x86 it has the sign bit set); qty's high word is u32[7].
    new Uint32Array(workload.records)[7] = 0xfff80123;
    await writeWorkloadFile(join(dir, 'nan.mbwl'), workload);
    const back = await readWorkloadFile(join(dir, 'nan.mbwl'));
    expect(new Uint32Array(back.records)[7]).toBe(0x7ff80000);
    expect(Number.isNaN(back.f64[3])).toBe(true);
  });
});

describe('crc32Combine', () => {
  it('equals the CRC of the concatenation', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ maxLength: 3000 }), (a, b) => {
        const joined = new Uint8Array([...a, ...b]);
        expect(crc32Combine(zlibCrc32(a), zlibCrc32(b), b.length)).toBe(zlibCrc32(joined));
      }),
    );
  });
});

describe('damaged files', () => {
  let good: Buffer;
  let recordsOffset: number;
  const path = (name: string): string => join(dir, name);

  beforeAll(async () => {
    good = await fileBytes('good.mbwl', generateWorkload({ preset: 'balanced', seed: 9, count: 100 }));
    const reader = await WorkloadReader.open(path('good.mbwl'));
    recordsOffset = reader.header.recordsOffset;
    await reader.close();
  });

  async function errorFor(name: string, bytes: Uint8Array): Promise<WorkloadFormatError> {
    await writeFile(path(name), bytes);
    const error = await readWorkloadFile(path(name)).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(WorkloadFormatError);
    return error as WorkloadFormatError;
  }

  it('a file cut inside the header names the field and offset', async () => {
    const error = await errorFor('cut-header.mbwl', good.subarray(0, 12));
    expect(error.message).toBe(`${path('cut-header.mbwl')}: truncated header: field 'record count' at byte offset 8: expected 8 bytes, got 4 (the file has 12 bytes)`);
  });

  it('a file cut inside a record names the record, its offset, expected and got', async () => {
    const cut = recordsOffset + 37 * RECORD_BYTES + 13;
    const error = await errorFor('cut-record.mbwl', good.subarray(0, cut));
    expect(error.message).toContain(`truncated record 37 at byte offset ${recordsOffset + 37 * RECORD_BYTES}: expected 40 bytes, got 13`);
    expect(error.message).toContain('the header says 100 records');
  });

  it('a file missing its trailer says so', async () => {
    const error = await errorFor('cut-trailer.mbwl', good.subarray(0, good.length - 2));
    expect(error.message).toContain(`truncated CRC-32 trailer at byte offset ${good.length - 4}: expected 4 bytes, got 2`);
  });

  it('extra bytes after the trailer are an error', async () => {
    const error = await errorFor('long.mbwl', Buffer.concat([good, Buffer.from([0])]));
    expect(error.message).toContain(`1 unexpected bytes after the CRC-32 trailer, from byte offset ${good.length}`);
  });

  it('a flipped bit in a record is a checksum mismatch with both values', async () => {
    const bad = Buffer.from(good);
    bad[recordsOffset + 50 * RECORD_BYTES + 8]! ^= 0x01; // lowest byte of record 50's id
    const error = await errorFor('flipped.mbwl', bad);
    expect(error).toBeInstanceOf(WorkloadChecksumError);
    const { expected, actual } = error as WorkloadChecksumError;
    expect(expected).toBe(good.readUInt32LE(good.length - 4));
    expect(actual).toBe(zlibCrc32(bad.subarray(0, bad.length - 4)));
    expect(error.message).toMatch(/CRC-32 mismatch: the trailer at byte offset \d+ says 0x[0-9a-f]{8}, the file's bytes give 0x[0-9a-f]{8}/);
  });

  it('a flipped bit in the provenance is a checksum mismatch too', async () => {
    const bad = Buffer.from(good);
    const at = bad.indexOf('"preset"');
    bad[at + 1] = 'q'.charCodeAt(0);
    expect(await errorFor('flipped-header.mbwl', bad)).toBeInstanceOf(WorkloadChecksumError);
  });

  it('bad magic', async () => {
    const bad = Buffer.from(good);
    bad.write('MBWX', 0);
    const error = await errorFor('magic.mbwl', bad);
    expect(error.message).toBe(`${path('magic.mbwl')}: bad magic at byte offset 0: expected "MBWL" (4d 42 57 4c), got 4d 42 57 58: not a matchbench binary workload`);
  });

  it('unsupported version', async () => {
    const bad = Buffer.from(good);
    bad.writeUInt16LE(3, 4);
    const error = await errorFor('version.mbwl', bad);
    expect(error.message).toBe(`${path('version.mbwl')}: unsupported version 3 at byte offset 4: this reader knows versions 1 and 2`);
  });

  it('unknown flags', async () => {
    const bad = Buffer.from(good);
    bad.writeUInt16LE(0x0004, 6);
    expect((await errorFor('flags.mbwl', bad)).message).toContain('unsupported flags 0x0004 at byte offset 6');
  });

  it('a file whose writer never closed', async () => {
    const name = path('unfinished.mbwl');
    const writer = await WorkloadWriter.create(name, ['A'], { source: 'test' });
    await writer.append(workloadFromCommands([{ op: 'cancel', sym: 'A', id: 1 }]).bytes);
    // No close(): simulate a crash by reading what is on disk.
    const onDisk = await readFile(name);
    await writer.abort();
    const error = await errorFor('unfinished-copy.mbwl', onDisk);
    expect(error.message).toContain('record count at byte offset 8 is the unfinished marker: the writer never closed this file');
  });

  it('a symbol index out of range names the record and its offset', async () => {
    const bad = Buffer.from(good);
    bad.writeUInt32LE(99, recordsOffset + 42 * RECORD_BYTES + 4);
    const error = await errorFor('symbol.mbwl', bad);
    expect(error.message).toBe(
      `${path('symbol.mbwl')}: record 42 at byte offset ${recordsOffset + 42 * RECORD_BYTES}: field 'sym': symbol index 99 is out of range (the symbol table has 8 symbols)`,
    );
  });

  it('a non-canonical record names the field', async () => {
    const bad = Buffer.from(good);
    const at = recordsOffset + 3 * RECORD_BYTES;
    bad[at] = OP_CANCEL;
    bad[at + 1] = 0;
    bad[at + 2] = 0;
    bad[at + 3] = 0;
    const error = await errorFor('canonical.mbwl', bad);
    expect(error.message).toMatch(/record 3 at byte offset \d+: field 'price': a cancel record has no price, so it must be NaN, got \d+/);
  });

  it('the writer refuses a record the reader would refuse', async () => {
    const builder = new WorkloadBuilder();
    builder.addRaw(OP_CANCEL, 0, 1, 0, 0, 0, 100, NaN, NaN);
    const workload = new Workload(['A'], builder.build({}).records, {});
    await expect(writeWorkloadFile(path('refused.mbwl'), workload)).rejects.toThrow(`${path('refused.mbwl')}: record 0: field 'price': a cancel record has no price, so it must be NaN, got 100`);
  });
});

describe('clock records (format version 2)', () => {
  const withClocks = (): Workload =>
    workloadFromCommands(
      [
        { op: 'clock', ts: 1_764_700_000_000_000 },
        { op: 'new', sym: 'AAPL', id: 1, side: 'buy', type: 'limit', tif: 'gtc', price: 100, qty: 5 },
        { op: 'clock', ts: 1_764_700_000_001_000 },
        { op: 'clock', ts: 0.5 },
        { op: 'cancel', sym: 'AAPL', id: 1 },
      ],
      { source: 'test', case: 'clocks' },
    );

  it('a file without clocks stays version 1; one with a clock is version 2 and reads back record for record', async () => {
    expect((await fileBytes('no-clock.mbwl', malformedWorkload())).readUInt16LE(4)).toBe(1);
    const workload = withClocks();
    const bytes = await fileBytes('clocks.mbwl', workload);
    expect(bytes.readUInt16LE(4)).toBe(2);
    const back = await readWorkloadFile(join(dir, 'clocks.mbwl'));
    expect(Buffer.from(back.records).equals(Buffer.from(workload.records))).toBe(true);
    expect([...back.commands()]).toEqual([...workload.commands()]);
    expect(back.symbols).toEqual(['AAPL']);
    await expectNdjsonRoundTripIdentical('clocks-ndjson', workload);
  });

  it('a clock record in a version-1 file is refused, naming the record, its offset and the field', async () => {
    const bytes = Buffer.from(await fileBytes('clocks-v1.mbwl', withClocks()));
    bytes.writeUInt16LE(1, 4);
    await writeFile(join(dir, 'clocks-v1.mbwl'), bytes);
    const error = await readWorkloadFile(join(dir, 'clocks-v1.mbwl')).then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(WorkloadFormatError);
    expect((error as Error).message).toMatch(/clocks-v1\.mbwl: record 0 at byte offset \d+: field 'op': a clock record \(op 5\) in a version-1 file/);
  });

  it('a clock record must name no symbol', async () => {
    const workload = withClocks();
    new DataView(workload.records).setUint32(4, 0, true);
    const error = await writeWorkloadFile(join(dir, 'clock-sym.mbwl'), workload).then(() => null, (e: unknown) => e);
    expect((error as Error).message).toContain("record 0: field 'sym': a clock names no symbol, so it must be 0xffffffff, got 0");
  });
});
