/**
 * engines/core-output.ts: the two places a producer's records go — into the harness's event log in place (the sink
 * lends its storage) or through a region of its own copied to a sink — deliver the same records, in the same order,
 * with the same completions, across the log's chunk boundaries.
 */
import { describe, expect, it } from 'vitest';
import { CoreOutput, coreOutputBytes, type EventWriter } from '../engines/core-output.ts';
import { endsCommand, EV_COMPLETE, isEvent, recordKind } from '../engines/completion-record.ts';
import type { EventSink } from '../engines/engine.ts';
import { EV_F64_QTY, EV_F64_SEQ, EV_RESTED, EVENT_BYTES, EVENT_F64S } from '../engines/event-record.ts';
import { EventLog } from '../harness/event-log.ts';
import { LoggingSink } from '../harness/producer-loop.ts';

const MAX_EVENTS = 3;

/** A core that writes `eventsFor(index)` events for a command, each carrying the command's index and its number. */
class CountingCore implements EventWriter {
  outCursor = 0;
  #words: Uint32Array<ArrayBufferLike> = new Uint32Array(0);
  #f64: Float64Array<ArrayBufferLike> = new Float64Array(0);

  setEventOutput(buffer: ArrayBufferLike, byteOffset: number, capacityRecords: number): void {
    this.#words = new Uint32Array(buffer, byteOffset, (capacityRecords * EVENT_BYTES) / 4);
    this.#f64 = new Float64Array(buffer, byteOffset, capacityRecords * EVENT_F64S);
    this.outCursor = 0;
  }

  process(index: number): void {
    for (let e = 0; e < eventsFor(index); e++) {
      const i = this.outCursor++;
      this.#words.fill(0, (i * EVENT_BYTES) / 4, ((i + 1) * EVENT_BYTES) / 4);
      this.#words[(i * EVENT_BYTES) / 4] = EV_RESTED;
      this.#f64[i * EVENT_F64S + EV_F64_SEQ] = index;
      this.#f64[i * EVENT_F64S + EV_F64_QTY] = e + 1;
    }
  }
}

function eventsFor(index: number): number {
  return (index * 7) % (MAX_EVENTS + 1);
}

/** A sink that only takes copies, as a durable producer's staging does. */
class CopyingSink implements EventSink {
  readonly storage = null;
  readonly chunks: Uint8Array[] = [];
  readonly completed: number[] = [];
  events = 0;

  records(bytes: Uint8Array, words: Uint32Array, f64: Float64Array, from: number, to: number): number {
    this.chunks.push(bytes.slice(from * EVENT_BYTES, to * EVENT_BYTES));
    let completions = 0;
    for (let i = from; i < to; i++) {
      if (isEvent(words, i)) this.events++;
      if (!endsCommand(words, i)) continue;
      completions++;
      this.completed.push(f64[i * EVENT_F64S + EV_F64_SEQ]!);
    }
    return completions;
  }

  joined(): Uint8Array {
    const all = new Uint8Array(this.chunks.reduce((n, c) => n + c.byteLength, 0));
    let at = 0;
    for (const c of this.chunks) {
      all.set(c, at);
      at += c.byteLength;
    }
    return all;
  }
}

/** Submits `commands` commands in bursts of 1 … 9 (fewer when the output is full), polling after each burst. */
function drive(sink: EventSink, commands: number, onPoll: () => void): number {
  const core = new CountingCore();
  const output = new CoreOutput(core, new ArrayBuffer(coreOutputBytes(MAX_EVENTS)), 0, MAX_EVENTS);
  let next = 0;
  let completions = 0;
  while (next < commands) {
    const burst = 1 + (next % 9);
    const before = next;
    for (let b = 0; b < burst && next < commands && output.hasRoom(); b++) {
      core.process(next);
      output.complete(next);
      next++;
    }
    const delivered = output.drainTo(sink);
    if (next === before && delivered === 0) throw new Error(`core output: no room and nothing to deliver at command ${next}`);
    completions += delivered;
    onPoll();
  }
  return completions;
}

describe('core output', () => {
  it('in place into the event log and copied to a sink, the records and completions are the same, across chunks', () => {
    // 30 000 commands write ~75 000 records: a small first chunk (16 commands' worth), then chunks of 65 536.
    const commands = 30_000;
    const copying = new CopyingSink();
    expect(drive(copying, commands, () => {})).toBe(commands);

    const log = new EventLog(16);
    const logging = new LoggingSink(log, 4096);
    const completed: number[] = [];
    const delivered = drive(logging, commands, () => {
      for (let i = 0; i < logging.completedCount; i++) completed.push(logging.completed[i]!);
      logging.completedCount = 0;
    });
    expect(delivered).toBe(commands);
    expect(completed).toStrictEqual(copying.completed);
    expect(completed).toStrictEqual(Array.from({ length: commands }, (_, i) => i));
    const expected = copying.joined();
    const records = expected.byteLength / EVENT_BYTES;
    expect(logging.events).toBe(copying.events);
    const data = log.finish();
    expect(data.length).toBe(records);
    // Compared as one Buffer (a 3.6 MB typed-array diff would take vitest seconds); the first differing record is named.
    const got = Buffer.from(data.buffer, 0, records * EVENT_BYTES);
    const differs = got.findIndex((byte, i) => byte !== expected[i]!);
    expect(differs === -1 ? 'same' : `differs at record ${Math.floor(differs / EVENT_BYTES)}`).toBe('same');
  });

  it("ends a command with events by flagging its last event, and one with none by a completion record", () => {
    const commands = 500;
    const copying = new CopyingSink();
    drive(copying, commands, () => {});
    const all = copying.joined();
    const words = new Uint32Array(all.buffer);
    const f64 = new Float64Array(all.buffer);
    let r = 0;
    for (let index = 0; index < commands; index++) {
      const n = eventsFor(index);
      for (let e = 0; e < n; e++, r++) {
        expect(recordKind(words, r)).toBe(EV_RESTED);
        expect(f64[r * EVENT_F64S + EV_F64_SEQ]).toBe(index);
        expect(endsCommand(words, r)).toBe(e === n - 1);
      }
      if (n === 0) {
        expect(recordKind(words, r)).toBe(EV_COMPLETE);
        expect(f64[r * EVENT_F64S + EV_F64_SEQ]).toBe(index);
        r++;
      }
    }
    expect(r).toBe(all.byteLength / EVENT_BYTES);
    expect(copying.events).toBe(Array.from({ length: commands }, (_, i) => eventsFor(i)).reduce((a, b) => a + b, 0));
  });

  it('a log sized for the run is written in place to its last record, with no chunk after the first', () => {
    const commands = 2000;
    const copying = new CopyingSink();
    drive(copying, commands, () => {});
    const records = copying.joined().byteLength / EVENT_BYTES;
    const log = new EventLog(commands);
    const first = log.chunk;
    const logging = new LoggingSink(log, 4096);
    drive(logging, commands, () => (logging.completedCount = 0));
    expect(records).toBeLessThan(first.byteLength / EVENT_BYTES);
    expect(log.chunk).toBe(first);
    expect(log.finish().buffer).toBe(first);
  });

  it('refuses a poll with another sink once it writes into one sink\'s storage', () => {
    const core = new CountingCore();
    const output = new CoreOutput(core, new ArrayBuffer(coreOutputBytes(MAX_EVENTS)), 0, MAX_EVENTS);
    const logging = new LoggingSink(new EventLog(100), 4096);
    output.drainTo(logging);
    core.process(1);
    output.complete(1);
    expect(() => output.drainTo(new LoggingSink(new EventLog(100), 4096))).toThrow(/another sink/);
  });

  it('the event log refuses a commit outside the records it lent', () => {
    const log = new EventLog(16);
    log.reserve(8);
    const free = log.chunk.byteLength / EVENT_BYTES;
    expect(() => log.commitInPlace(free + 1)).toThrow(RangeError);
    log.commitInPlace(5);
    expect(() => log.commitInPlace(4)).toThrow(/records written in place up to 4, but the chunk's free records are 5 to/);
    expect(log.length).toBe(5);
  });
});
