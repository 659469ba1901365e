/**
 * Plays a power cut on a journal directory whose writer was killed (kill -9 keeps the page cache, so the files hold
 * everything written; a power cut keeps only what was fsynced). The fsync mark (journal/format.ts) says how much
 * that is; this cuts the journal back to it, in one of three ways, for a crash test (server/crashtest.ts) to then
 * recover and check that nothing acknowledged was lost:
 *
 * - `cut`: exactly the fsynced bytes stay: the mark's segment truncated to its durable length, later segments gone;
 * - `torn`: as `cut`, plus a random part (at least 1 byte, short of the whole) of the first frame written after
 *   the fsync: a write the cut tore;
 * - `flip`: as `cut`, plus the whole first frame written after the fsync with one random bit flipped outside its
 *   length word: a write that reached the disk damaged. (A flip in the length word makes the frame end elsewhere,
 *   and the reader rightly calls a frame whose length is no multiple of a record corruption, not a torn tail.)
 *
 * With nothing written after the fsync, `torn` and `flip` are `cut`. Recovery must report the torn tail of `torn`
 * and `flip` (segment, offset) and truncate it, and every command acknowledged before the kill must still be there.
 */
import { readdirSync, readFileSync, statSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Prng } from '../workloads/prng.ts';
import { readFsyncMark } from './reader.ts';
import { FRAME_HEADER_BYTES, FRAME_OFF_LENGTH, FSYNC_MARK_FILE, segmentName, sequenceOfSegmentName } from './format.ts';

export const POWER_CUTS = ['cut', 'torn', 'flip'] as const;
export type PowerCut = (typeof POWER_CUTS)[number];

export interface PowerCutOutcome {
  /** What was done (`torn`/`flip` fall back to `cut` when nothing was written after the fsync). */
  readonly kind: PowerCut;
  /** Bytes the cut took off (from the mark's segment and every later one). */
  readonly bytesLost: number;
  readonly description: string;
}

export function powerCut(dir: string, kind: PowerCut, random: Prng): PowerCutOutcome {
  const markFile = join(dir, FSYNC_MARK_FILE);
  const mark = readFsyncMark(dir);
  if (mark === undefined) throw new Error(`${markFile}: missing; a power cut needs to know what the journal fsynced`);
  let bytesLost = 0;
  for (const name of readdirSync(dir)) {
    const first = sequenceOfSegmentName(name);
    if (first !== undefined && first > mark.segment) {
      bytesLost += statSync(join(dir, name)).size;
      unlinkSync(join(dir, name));
    }
  }
  const segment = join(dir, segmentName(mark.segment));
  const bytes = readFileSync(segment);
  if (bytes.length < mark.durableLength) throw new Error(`${segment}: ${bytes.length} bytes, fewer than the ${mark.durableLength} the fsync mark ${markFile} says are on disk`);
  const after = bytes.length - mark.durableLength;
  const frameBytes = after >= FRAME_HEADER_BYTES
    ? Math.min(after, FRAME_HEADER_BYTES + new DataView(bytes.buffer, bytes.byteOffset + mark.durableLength).getUint32(FRAME_OFF_LENGTH, true))
    : after;
  const done = kind === 'cut' || frameBytes < 2 ? 'cut' : kind;
  let kept = mark.durableLength;
  let detail = '';
  if (done === 'torn') {
    kept += 1 + random.below(frameBytes - 1);
    detail = `, ${kept - mark.durableLength} of the next frame's ${frameBytes} bytes left`;
  } else if (done === 'flip') {
    kept += frameBytes;
    const at = mark.durableLength + 4 + random.below(frameBytes - 4);
    const bit = random.below(8);
    const flipped = bytes.subarray(0, kept);
    flipped[at] = flipped[at]! ^ (1 << bit);
    writeFileSync(segment, flipped);
    detail = `, the next frame (${frameBytes} bytes) kept with bit ${bit} of byte ${at} flipped`;
  }
  truncateSync(segment, kept);
  bytesLost += bytes.length - kept;
  return { kind: done, bytesLost, description: `${dir}: ${done}: ${segmentName(mark.segment)} back to its fsynced ${mark.durableLength} bytes${detail}; ${bytesLost} bytes lost` };
}
