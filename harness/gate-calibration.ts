/**
 * The gate's frozen calibration kernel: a fixed piece of single-threaded work, shaped like matching (hash lookups
 * by order id, typed-array price levels, branchy best-price scans), that shares no code with the project.
 *
 * Why: `inline` is the reference every other design is gated against, so a slowdown of the fast core itself would
 * move inline and the other designs together and cancel out of their ratios. The gate therefore also measures
 * inline against this kernel, in the same round, on the same thread kind. Because the kernel never changes, a
 * drop of inline/calibration is a drop of the project's core, not of the machine.
 *
 * FROZEN: editing this file shifts the inline ratio of every baseline; if it must change, rerun
 * `npm run gate -- --update-baseline` in the same commit.
 */

const LEVELS = 256;
/** Live orders kept: the oldest is cancelled when a new one would exceed it, so the map stays one size. */
const LIVE = 4096;
const OPERATIONS = 400_000;

/** Runs the kernel once; returns operations per second and a checksum that keeps the work from being optimized away. */
export function runCalibration(): { readonly opsPerSecond: number; readonly checksum: number } {
  const levelQty = new Float64Array(LEVELS * 2);
  const orders = new Map<number, number>();
  let state = 0x9e3779b9;
  let checksum = 0;
  const start = performance.now();
  for (let id = 1; id <= OPERATIONS; id++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    const r = state >>> 0;
    const side = r & 1;
    const level = (r >>> 1) % LEVELS;
    orders.set(id, (level << 1) | side);
    levelQty[level * 2 + side]! += 1 + ((r >>> 11) % 100);
    // Best price on the other side: a scan like the matching loop's.
    const other = side ^ 1;
    let best = -1;
    for (let l = 0; l < LEVELS; l++) {
      if (levelQty[l * 2 + other]! > 0) {
        best = l;
        break;
      }
    }
    checksum = (checksum + best + 1) | 0;
    // Cancel one older order: the oldest when full, else a random recent one (it may already be gone).
    const victim = orders.size > LIVE ? id - LIVE : id - 1 - ((r >>> 18) % 64);
    const slot = orders.get(victim);
    if (slot !== undefined) {
      orders.delete(victim);
      const index = (slot >> 1) * 2 + (slot & 1);
      levelQty[index] = Math.max(0, levelQty[index]! - 50);
      checksum = (checksum + slot) | 0;
    }
  }
  const seconds = (performance.now() - start) / 1000;
  return { opsPerSecond: OPERATIONS / seconds, checksum };
}
