/**
 * The engine server's wire protocol (server/protocol.ts): every frame type round trips, any chunking of a stream
 * decodes to the same frames, and every malformed frame is a ProtocolError naming its frame, offset and field.
 */
import { describe, expect, it } from 'vitest';
import { EV_FILL, EV_F64_SEQ, EVENT_BYTES, writeEventRecord } from '../engines/event-record.ts';
import {
  ACK_FRAME_BYTES, COMMAND_FRAME_BYTES, COMMAND_OFF_CLIENT_SEQUENCE, COMMAND_OFF_RECORD, encodeAck, encodeCommand, encodeError,
  encodeEvent, encodeHello, encodeWelcome, ERR_BAD_FIELD, ERR_BAD_LENGTH, ERR_BAD_RECORD, ERR_BAD_SEQUENCE, ERR_BAD_TYPE,
  ERR_BAD_VERSION, ERR_OUT_OF_ORDER, ERR_SESSION_AHEAD, ERROR_CODES, errorCodeName, EVENT_FRAME_BYTES, EVENT_OFF_RECORD,
  FRAME_ACK, FRAME_COMMAND, FRAME_ERROR, FRAME_EVENT, FRAME_HELLO, FRAME_NONE, FRAME_WELCOME, frameBytes, FrameReader,
  HELLO_FRAME_BYTES, HELLO_OFF_VERSION, MAX_PAYLOAD_BYTES, MAX_TEXT_BYTES, OFF_LENGTH, OFF_RESERVED, OFF_TYPE,
  ProtocolError, WELCOME_OFF_DESIGN,
} from '../server/protocol.ts';
import { generateWorkload } from '../workloads/generator.ts';
import { F64_QTY, OFF_OP, OP_CANCEL, RECORD_BYTES, workloadFromCommands } from '../workloads/workload.ts';

const workload = generateWorkload({ preset: 'balanced', seed: 9, count: 200 });
const SYMBOLS = workload.symbols.length;
const CONNECTION = '127.0.0.1:53122';

/** A frame as the tests compare it: the reader's getters and record bytes, copied out. */
type Decoded = Record<string, number | string | number[]>;

function decodeCurrent(reader: FrameReader, type: number): Decoded {
  const frame: Decoded = { type, number: reader.frameNumber, offset: reader.frameOffset };
  if (type === FRAME_HELLO) Object.assign(frame, { session: reader.session, lastAcknowledged: reader.lastAcknowledged });
  if (type === FRAME_WELCOME) Object.assign(frame, { session: reader.session, lastApplied: reader.lastApplied, design: reader.design });
  if (type === FRAME_COMMAND || type === FRAME_EVENT || type === FRAME_ACK) frame.clientSequence = reader.clientSequence;
  if (type === FRAME_COMMAND || type === FRAME_EVENT) {
    frame.record = [...reader.bytes.subarray(reader.recordOffset, reader.recordOffset + (type === FRAME_COMMAND ? RECORD_BYTES : EVENT_BYTES))];
    expect(reader.recordOffset % 8).toBe(0);
  }
  if (type === FRAME_ERROR) Object.assign(frame, { code: reader.errorCode, message: reader.errorMessage });
  return frame;
}

/** Drains what is buffered, then feeds `chunks` in order, draining after each; a server's reader accepts the HELLO with `lastApplied`. */
function readAll(reader: FrameReader, chunks: readonly Uint8Array[], lastApplied = 0): Decoded[] {
  const frames: Decoded[] = [];
  const drain = (): void => {
    for (let type = reader.next(); type !== FRAME_NONE; type = reader.next()) {
      frames.push(decodeCurrent(reader, type));
      if (type === FRAME_HELLO) reader.acceptSession(lastApplied);
    }
  };
  drain();
  for (const chunk of chunks) {
    reader.push(chunk);
    drain();
  }
  reader.end();
  return frames;
}

const serverReader = (): FrameReader => FrameReader.atServer(CONNECTION, SYMBOLS);
const clientReader = (lastAcknowledged = 0): FrameReader => FrameReader.atClient(CONNECTION, { session: 7, lastAcknowledged, symbolCount: SYMBOLS });

/** A client's stream: HELLO then n COMMANDs from last acknowledged + 1, carrying the workload's records in turn. */
function clientStream(n: number, lastAcknowledged = 0): Uint8Array {
  const out = new Uint8Array(HELLO_FRAME_BYTES + n * COMMAND_FRAME_BYTES);
  let at = encodeHello(out, 0, 7, lastAcknowledged);
  for (let i = 0; i < n; i++) at = encodeCommand(out, at, lastAcknowledged + i + 1, workload.bytes, (i % workload.count) * RECORD_BYTES);
  expect(at).toBe(out.length);
  return out;
}

/** 48-byte event records with distinct contents (their `seq` is what encodeEvent replaces). */
const events = new Uint8Array(3 * EVENT_BYTES);
for (let i = 0; i < 3; i++) writeEventRecord(events, new Uint32Array(events.buffer), new Float64Array(events.buffer), i, EV_FILL, 0, 1 + (i % 2), i, 999, 10 + i, 20 + i, 100.5 + i, 3 + i);

/** A server's stream: WELCOME, two commands' EVENTs and ACKs (3 and 4), then an ERROR. */
function serverStream(): Uint8Array {
  const out = new Uint8Array(4096);
  let at = encodeWelcome(out, 0, 7, SYMBOLS, 4, 'disruptor ✓');
  at = encodeEvent(out, at, 3, events, 0);
  at = encodeEvent(out, at, 3, events, EVENT_BYTES);
  at = encodeAck(out, at, 3);
  at = encodeEvent(out, at, 4, events, 2 * EVENT_BYTES);
  at = encodeAck(out, at, 4);
  at = encodeError(out, at, ERR_SESSION_AHEAD, 'shutting down: é');
  return out.subarray(0, at);
}

/** The ProtocolError `run` throws. */
function protocolError(run: () => unknown): ProtocolError {
  try {
    run();
  } catch (error) {
    if (error instanceof ProtocolError) return error;
    throw error;
  }
  throw new Error('expected a ProtocolError, nothing was thrown');
}

/** Reads `stream` whole at the server and returns the error it raises. */
const serverError = (stream: Uint8Array, lastApplied = 0): ProtocolError => protocolError(() => readAll(serverReader(), [stream], lastApplied));
const clientError = (stream: Uint8Array, lastAcknowledged = 2): ProtocolError => protocolError(() => readAll(clientReader(lastAcknowledged), [stream]));

const f64At = (bytes: Uint8Array, at: number, value: number): void => new DataView(bytes.buffer, bytes.byteOffset).setFloat64(at, value, true);
const u32At = (bytes: Uint8Array, at: number, value: number): void => new DataView(bytes.buffer, bytes.byteOffset).setUint32(at, value, true);

describe('round trips', () => {
  it('HELLO and COMMAND frames decode to what was encoded, at the server', () => {
    const frames = readAll(serverReader(), [clientStream(50, 10)], 10);
    expect(frames[0]).toEqual({ type: FRAME_HELLO, number: 1, offset: 0, session: 7, lastAcknowledged: 10 });
    expect(frames.length).toBe(51);
    for (let i = 0; i < 50; i++) {
      expect(frames[i + 1]).toEqual({
        type: FRAME_COMMAND, number: i + 2, offset: HELLO_FRAME_BYTES + i * COMMAND_FRAME_BYTES, clientSequence: 11 + i,
        record: [...workload.bytes.subarray(i * RECORD_BYTES, (i + 1) * RECORD_BYTES)],
      });
    }
  });

  it('WELCOME, EVENT, ACK and ERROR frames decode to what was encoded, at the client', () => {
    const reader = clientReader(2);
    const frames = readAll(reader, [serverStream()]);
    const record = (i: number): number[] => {
      const copy = events.slice(i * EVENT_BYTES, (i + 1) * EVENT_BYTES);
      f64At(copy, EV_F64_SEQ * 8, i < 2 ? 3 : 4);
      return [...copy];
    };
    expect(frames.map(({ number, offset, ...rest }) => rest)).toEqual([
      { type: FRAME_WELCOME, session: 7, lastApplied: 4, design: 'disruptor ✓' },
      { type: FRAME_EVENT, clientSequence: 3, record: record(0) },
      { type: FRAME_EVENT, clientSequence: 3, record: record(1) },
      { type: FRAME_ACK, clientSequence: 3 },
      { type: FRAME_EVENT, clientSequence: 4, record: record(2) },
      { type: FRAME_ACK, clientSequence: 4 },
      { type: FRAME_ERROR, code: ERR_SESSION_AHEAD, message: 'shutting down: é' },
    ]);
    expect(reader.lastAcknowledged).toBe(4);
  });

  it('encoders write exactly frameBytes(type) at the offset, touching nothing else', () => {
    const cases: [number, string, (t: Uint8Array, at: number) => number][] = [
      [FRAME_HELLO, '', (t, at) => encodeHello(t, at, 0xffff_ffff, 0)],
      [FRAME_COMMAND, '', (t, at) => encodeCommand(t, at, 1, workload.bytes, 0)],
      [FRAME_WELCOME, 'x'.repeat(MAX_TEXT_BYTES), (t, at) => encodeWelcome(t, at, 1, 0, 0, 'x'.repeat(MAX_TEXT_BYTES))],
      [FRAME_EVENT, '', (t, at) => encodeEvent(t, at, 1, events, 0)],
      [FRAME_ACK, '', (t, at) => encodeAck(t, at, 2 ** 53 - 1)],
      [FRAME_ERROR, '', (t, at) => encodeError(t, at, 1, '')],
    ];
    for (const [type, text, encode] of cases) {
      const target = new Uint8Array(MAX_PAYLOAD_BYTES + 64).fill(0xee);
      const end = encode(target, 16);
      expect(end - 16).toBe(frameBytes(type, text));
      expect((end - 16) % 8).toBe(0);
      expect(target[OFF_TYPE + 16]).toBe(type);
      expect(target.subarray(0, 16).every((b) => b === 0xee) && target.subarray(end).every((b) => b === 0xee)).toBe(true);
      expect(() => encode(new Uint8Array(end - 17), 0)).toThrow(RangeError);
    }
  });

  it('an ERROR message too long is cut at a character boundary, a design name too long is refused', () => {
    const target = new Uint8Array(2048);
    const end = encodeError(target, 0, 5, 'é'.repeat(MAX_TEXT_BYTES));
    const reader = clientReader();
    reader.push(target.subarray(0, end));
    expect(reader.next()).toBe(FRAME_ERROR);
    expect(reader.errorMessage).toBe('é'.repeat(MAX_TEXT_BYTES / 2));
    expect(() => encodeWelcome(target, 0, 1, 0, 0, 'x'.repeat(MAX_TEXT_BYTES + 1))).toThrow(/longer than 1000 bytes/);
  });

  it('encoders refuse values the reader would refuse', () => {
    const target = new Uint8Array(256);
    expect(() => encodeHello(target, 0, 0, 0)).toThrow(RangeError);
    expect(() => encodeHello(target, 0, 1, 1.5)).toThrow(RangeError);
    expect(() => encodeCommand(target, 0, 0, workload.bytes, 0)).toThrow(RangeError);
    expect(() => encodeAck(target, 0, NaN)).toThrow(RangeError);
    expect(() => encodeError(target, 0, 0x10000, '')).toThrow(RangeError);
  });

  it('the error-code table has unique codes and names', () => {
    expect(new Set(ERROR_CODES.map((e) => e.code)).size).toBe(ERROR_CODES.length);
    expect(new Set(ERROR_CODES.map((e) => e.name)).size).toBe(ERROR_CODES.length);
    expect(errorCodeName(ERR_BAD_RECORD)).toBe('BAD_RECORD');
    expect(errorCodeName(999)).toBe('code 999');
  });
});

describe('chunking', () => {
  it('a client stream split at every byte decodes to the same frames', () => {
    const stream = clientStream(6);
    const whole = readAll(serverReader(), [stream]);
    for (let split = 0; split <= stream.length; split++) {
      expect(readAll(serverReader(), [stream.subarray(0, split), stream.subarray(split)])).toEqual(whole);
    }
    expect(readAll(serverReader(), [...stream].map((b) => Uint8Array.of(b)))).toEqual(whole);
  });

  it('a server stream split at every byte, and at many pairs of points, decodes to the same frames', () => {
    const stream = serverStream();
    const whole = readAll(clientReader(2), [stream]);
    for (let split = 0; split <= stream.length; split++) {
      expect(readAll(clientReader(2), [stream.subarray(0, split), stream.subarray(split)])).toEqual(whole);
    }
    for (let a = 0; a <= stream.length; a += 3) {
      for (let b = a; b <= stream.length; b += 5) {
        expect(readAll(clientReader(2), [stream.subarray(0, a), stream.subarray(a, b), stream.subarray(b)])).toEqual(whole);
      }
    }
  });

  it('keeps stream offsets and alignment through buffer compaction and growth', () => {
    const stream = clientStream(5_000);
    const expectOffsets = (frames: Decoded[]): void => {
      expect(frames.length).toBe(5_001);
      frames.slice(1).forEach((frame, i) => expect(frame.offset).toBe(HELLO_FRAME_BYTES + i * COMMAND_FRAME_BYTES));
    };
    const chunks: Uint8Array[] = [];
    for (let at = 0; at < stream.length; at += 1_001) chunks.push(stream.subarray(at, at + 1_001));
    expectOffsets(readAll(serverReader(), chunks));
    // Pushing everything before draining makes the reader grow past its first buffer.
    const reader = serverReader();
    for (const chunk of chunks) reader.push(chunk);
    expectOffsets(readAll(reader, []));
  });

  it('a chunk that is not 8-aligned in its own buffer still yields aligned records', () => {
    const stream = clientStream(3);
    const odd = new Uint8Array(stream.length + 3);
    odd.set(stream, 3);
    expect(readAll(serverReader(), [odd.subarray(3)])).toEqual(readAll(serverReader(), [stream]));
  });
});

describe('malformed frames', () => {
  /** The stream with its COMMAND number k (1-based) changed by `edit` (given the frame's byte offset). */
  function withCommand(k: number, edit: (stream: Uint8Array, at: number) => void): { stream: Uint8Array; at: number } {
    const stream = clientStream(5);
    const at = HELLO_FRAME_BYTES + (k - 1) * COMMAND_FRAME_BYTES;
    edit(stream, at);
    return { stream, at };
  }

  it('names the connection, frame, byte offset and field in the message', () => {
    const { stream, at } = withCommand(3, (s, a) => {
      s[a + COMMAND_OFF_RECORD + OFF_OP] = OP_CANCEL;
    });
    const error = serverError(stream);
    expect(error.message).toMatch(new RegExp(`^connection 127\\.0\\.0\\.1:53122, frame 4 at byte ${at}: COMMAND record field "`));
    expect(error).toMatchObject({ connection: CONNECTION, frame: 4, offset: at, code: ERR_BAD_RECORD });
  });

  it.each([
    ['a length not a multiple of 8', (s: Uint8Array, a: number) => u32At(s, a + OFF_LENGTH, 44), 'length', ERR_BAD_LENGTH, /not a multiple of 8/],
    ['a length above the maximum', (s: Uint8Array, a: number) => u32At(s, a + OFF_LENGTH, 0xffff_fff8), 'length', ERR_BAD_LENGTH, /above the maximum 1024/],
    ['a length not the COMMAND size', (s: Uint8Array, a: number) => u32At(s, a + OFF_LENGTH, 40), 'length', ERR_BAD_LENGTH, /a COMMAND payload is 48 bytes/],
    ['an unknown type', (s: Uint8Array, a: number) => { s[a + OFF_TYPE] = 9; }, 'type', ERR_BAD_TYPE, /unknown frame type 9 \(known: 1 HELLO, 2 COMMAND/],
    ['a server → client type', (s: Uint8Array, a: number) => { s[a + OFF_TYPE] = FRAME_EVENT; }, 'type', ERR_BAD_TYPE, /EVENT \(type 4\) travels server → client/],
    ['a second HELLO', (s: Uint8Array, a: number) => { s[a + OFF_TYPE] = FRAME_HELLO; u32At(s, a, 16); }, 'type', ERR_OUT_OF_ORDER, /a second HELLO/],
    ['a reserved header byte', (s: Uint8Array, a: number) => { s[a + OFF_RESERVED + 2] = 1; }, 'reserved', ERR_BAD_FIELD, /must be 0/],
    ['a fractional client sequence', (s: Uint8Array, a: number) => f64At(s, a + COMMAND_OFF_CLIENT_SEQUENCE, 3.5), 'client sequence', ERR_BAD_FIELD, /3\.5, expected an integer ≥ 1/],
    ['a client sequence of 0', (s: Uint8Array, a: number) => f64At(s, a + COMMAND_OFF_CLIENT_SEQUENCE, 0), 'client sequence', ERR_BAD_FIELD, /expected an integer ≥ 1/],
    ['a skipped client sequence', (s: Uint8Array, a: number) => f64At(s, a + COMMAND_OFF_CLIENT_SEQUENCE, 4), 'client sequence', ERR_BAD_SEQUENCE, /4, expected 3 \(the previous \+ 1\)/],
    ['a repeated client sequence', (s: Uint8Array, a: number) => f64At(s, a + COMMAND_OFF_CLIENT_SEQUENCE, 2), 'client sequence', ERR_BAD_SEQUENCE, /2, expected 3/],
    ['a record with an unknown op', (s: Uint8Array, a: number) => { s[a + COMMAND_OFF_RECORD + OFF_OP] = 9; }, 'record.op', ERR_BAD_RECORD, /unknown op code 9/],
    ['a record with a symbol out of range', (s: Uint8Array, a: number) => u32At(s, a + COMMAND_OFF_RECORD + 4, SYMBOLS), 'record.sym', ERR_BAD_RECORD, /out of range/],
  ])('COMMAND 3 with %s', (_what, edit, field, code, message) => {
    const { stream, at } = withCommand(3, edit);
    const error = serverError(stream);
    expect(error).toMatchObject({ frame: 4, offset: at, field, code });
    expect(error.message).toMatch(message);
  });

  it('a cancel record with a qty breaks the canonical rules (field record.qty)', () => {
    const cancel = workloadFromCommands([{ op: 'cancel', sym: workload.symbols[0]!, id: 5 }]);
    new Float64Array(cancel.records)[F64_QTY] = 10;
    const stream = clientStream(1);
    stream.set(cancel.bytes.subarray(0, RECORD_BYTES), HELLO_FRAME_BYTES + COMMAND_OFF_RECORD);
    const error = serverError(stream);
    expect(error).toMatchObject({ frame: 2, offset: HELLO_FRAME_BYTES, field: 'record.qty', code: ERR_BAD_RECORD });
    expect(error.message).toBe('connection 127.0.0.1:53122, frame 2 at byte 24: COMMAND record field "qty": a cancel record has no qty, so it must be NaN, got 10');
  });

  it('the first COMMAND must be the WELCOME\'s last applied + 1', () => {
    const stream = clientStream(3);
    expect(readAll(serverReader(), [stream], 0).length).toBe(4);
    const error = serverError(stream, 1);
    expect(error).toMatchObject({ frame: 2, offset: HELLO_FRAME_BYTES, field: 'client sequence', code: ERR_BAD_SEQUENCE });
    expect(error.message).toMatch(/1, expected 2 \(the WELCOME's last applied 1 \+ 1\)/);
  });

  it('HELLO must come first, with version 1, session ≥ 1 and an integer last acknowledged', () => {
    const commandFirst = clientStream(2).subarray(HELLO_FRAME_BYTES);
    expect(serverError(commandFirst)).toMatchObject({ frame: 1, offset: 0, field: 'type', code: ERR_OUT_OF_ORDER });
    const edits: [(s: Uint8Array) => void, string, number][] = [
      [(s) => { s[HELLO_OFF_VERSION] = 2; }, 'version', ERR_BAD_VERSION],
      // A later version's HELLO may be longer: the version is checked first, so it gets BAD_VERSION, not BAD_LENGTH.
      [(s) => { s[HELLO_OFF_VERSION] = 2; u32At(s, OFF_LENGTH, 24); }, 'version', ERR_BAD_VERSION],
      [(s) => { u32At(s, OFF_LENGTH, 24); }, 'length', ERR_BAD_LENGTH],
      [(s) => { s[10] = 1; }, 'reserved', ERR_BAD_FIELD],
      [(s) => { u32At(s, 12, 0); }, 'session', ERR_BAD_FIELD],
      [(s) => { f64At(s, 16, -1); }, 'last acknowledged', ERR_BAD_FIELD],
    ];
    for (const [edit, field, code] of edits) {
      const stream = new Uint8Array(64);
      encodeHello(stream, 0, 7, 0);
      edit(stream);
      expect(serverError(stream)).toMatchObject({ frame: 1, offset: 0, field, code });
    }
  });

  it('a stream that ends inside a frame is an error at end()', () => {
    const stream = clientStream(2);
    for (const cut of [HELLO_FRAME_BYTES + 3, HELLO_FRAME_BYTES + 20]) {
      const error = serverError(stream.subarray(0, cut));
      expect(error).toMatchObject({ frame: 2, offset: HELLO_FRAME_BYTES, field: 'length', code: ERR_BAD_LENGTH });
      expect(error.message).toMatch(cut === HELLO_FRAME_BYTES + 3 ? /after 3 of the header's 8 bytes/ : /after 20 of the frame's 56 bytes/);
    }
  });

  it('a bad length is reported as soon as the header arrives, without waiting for the payload', () => {
    const reader = serverReader();
    const header = new Uint8Array(8);
    u32At(header, OFF_LENGTH, MAX_PAYLOAD_BYTES + 8);
    header[OFF_TYPE] = FRAME_COMMAND;
    reader.push(header);
    const error = protocolError(() => reader.next());
    expect(error).toMatchObject({ frame: 1, offset: 0, field: 'length' });
    // The first error is final.
    expect(protocolError(() => reader.next())).toBe(error);
    expect(protocolError(() => reader.push(header))).toBe(error);
  });

  it('the server must accept the session before reading COMMANDs', () => {
    const reader = serverReader();
    reader.push(clientStream(1));
    expect(reader.next()).toBe(FRAME_HELLO);
    expect(() => reader.next()).toThrow(/before acceptSession/);
    reader.acceptSession(0);
    expect(reader.next()).toBe(FRAME_COMMAND);
    expect(() => reader.acceptSession(0)).toThrow(/once, after the HELLO/);
  });
});

describe('malformed server frames, at the client', () => {
  const frameAt = (index: number): number => {
    const sizes = [frameBytes(FRAME_WELCOME, 'disruptor ✓'), EVENT_FRAME_BYTES, EVENT_FRAME_BYTES, ACK_FRAME_BYTES, EVENT_FRAME_BYTES, ACK_FRAME_BYTES];
    return sizes.slice(0, index).reduce((a, b) => a + b, 0);
  };

  it('rejects client → server types', () => {
    const stream = clientStream(1);
    expect(clientError(stream)).toMatchObject({ frame: 1, offset: 0, field: 'type', code: ERR_BAD_TYPE });
  });

  it('checks the WELCOME against the HELLO', () => {
    expect(clientError(serverStream(), 5)).toMatchObject({ frame: 1, field: 'last applied', code: ERR_BAD_SEQUENCE });
    expect(protocolError(() => readAll(FrameReader.atClient(CONNECTION, { session: 8, lastAcknowledged: 2, symbolCount: SYMBOLS }), [serverStream()])))
      .toMatchObject({ frame: 1, field: 'session', code: ERR_BAD_FIELD });
    expect(protocolError(() => readAll(FrameReader.atClient(CONNECTION, { session: 7, lastAcknowledged: 2, symbolCount: SYMBOLS + 1 }), [serverStream()])))
      .toMatchObject({ frame: 1, field: 'symbol count', code: ERR_BAD_FIELD });
  });

  it('checks the WELCOME text: length, padding, UTF-8', () => {
    const edits: [(s: Uint8Array) => void, string, number][] = [
      [(s) => { s[frameAt(1) - 1] = 1; }, 'padding', ERR_BAD_FIELD],
      [(s) => { s[WELCOME_OFF_DESIGN] = 0xff; }, 'design', ERR_BAD_FIELD],
      [(s) => { s[WELCOME_OFF_DESIGN - 2] = 30; }, 'length', ERR_BAD_LENGTH],
      [(s) => { u32At(s, WELCOME_OFF_DESIGN - 2, 0xffff); }, 'design length', ERR_BAD_FIELD],
    ];
    for (const [edit, field, code] of edits) {
      const stream = serverStream().slice();
      edit(stream);
      expect(clientError(stream)).toMatchObject({ frame: 1, offset: 0, field, code });
    }
  });

  it('EVENTs and ACKs continue from the last acknowledged, in order', () => {
    expect(clientError(serverStream(), 1)).toMatchObject({ frame: 2, offset: frameAt(1), field: 'event.seq', code: ERR_BAD_SEQUENCE });
    const ackFirst = serverStream().slice();
    f64At(ackFirst, frameAt(3) + 8, 4);
    expect(clientError(ackFirst)).toMatchObject({ frame: 4, offset: frameAt(3), field: 'client sequence', code: ERR_BAD_SEQUENCE });
    const badKind = serverStream().slice();
    badKind[frameAt(4) + EVENT_OFF_RECORD] = 0;
    expect(clientError(badKind)).toMatchObject({ frame: 5, offset: frameAt(4), field: 'event.kind', code: ERR_BAD_RECORD });
    // The breaker's kinds (limit 7, halted 8, resumed 9) are events a client reads; 10 is none.
    badKind[frameAt(4) + EVENT_OFF_RECORD] = 10;
    expect(clientError(badKind)).toMatchObject({ frame: 5, offset: frameAt(4), field: 'event.kind', code: ERR_BAD_RECORD });
  });

  it('nothing before the WELCOME but an ERROR, nothing after an ERROR', () => {
    const stream = serverStream();
    expect(clientError(stream.subarray(frameAt(1)))).toMatchObject({ frame: 1, offset: 0, field: 'type', code: ERR_OUT_OF_ORDER });
    const errorOnly = stream.subarray(frameAt(6));
    expect(readAll(clientReader(2), [errorOnly])).toMatchObject([{ type: FRAME_ERROR, code: ERR_SESSION_AHEAD }]);
    const twice = new Uint8Array(errorOnly.length * 2);
    twice.set(errorOnly);
    twice.set(errorOnly, errorOnly.length);
    expect(clientError(twice)).toMatchObject({ frame: 2, offset: errorOnly.length, field: 'type', code: ERR_OUT_OF_ORDER });
    const welcomeTwice = new Uint8Array(frameAt(1) * 2);
    welcomeTwice.set(stream.subarray(0, frameAt(1)));
    welcomeTwice.set(stream.subarray(0, frameAt(1)), frameAt(1));
    expect(clientError(welcomeTwice)).toMatchObject({ frame: 2, field: 'type', code: ERR_OUT_OF_ORDER });
  });
});
