/**
 * xoshiro128** (Blackman & Vigna), seeded through splitmix32: the generator's only source of randomness.
 *
 * Math.random cannot be seeded, so a workload could never be regenerated. This PRNG is 32-bit integer arithmetic
 * only (Math.imul, shifts), and the helpers below use only exact float operations (no log/pow/sqrt), so a seed gives
 * the same numbers on every platform and Node version.
 */

function splitmix32(state: number): { value: number; state: number } {
  const next = (state + 0x9e3779b9) | 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return { value: (z ^ (z >>> 16)) >>> 0, state: next };
}

export class Prng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /** `seed` is any non-negative safe integer; both of its 32-bit halves feed the state. */
  constructor(seed: number) {
    if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`PRNG seed must be a non-negative safe integer, got ${seed}`);
    let state = (seed >>> 0) ^ Math.imul(Math.floor(seed / 0x1_0000_0000), 0x27d4eb2d);
    const words: number[] = [];
    for (let i = 0; i < 4; i++) {
      const out = splitmix32(state);
      state = out.state;
      words.push(out.value);
    }
    [this.s0, this.s1, this.s2, this.s3] = words as [number, number, number, number];
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** Next 32 random bits as an unsigned integer. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform in [0, 1), with 32 bits of resolution. */
  float(): number {
    return this.nextU32() / 0x1_0000_0000;
  }

  /** Uniform integer in [0, n), n ≤ 2^32. */
  below(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** Uniform integer in [lo, hi]. */
  between(lo: number, hi: number): number {
    return lo + this.below(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.float() < p;
  }

  /**
   * An integer in [0, max) skewed towards 0 (density ∝ -ln x, the product of two uniforms): most values near 0,
   * a long thin tail. Used for distances from the touch and order sizes.
   */
  skewed(max: number): number {
    return Math.floor(this.float() * this.float() * max);
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
