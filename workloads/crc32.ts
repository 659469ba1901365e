/**
 * CRC-32 (IEEE 802.3, the zlib/gzip/PNG polynomial) for the binary workload trailer.
 *
 * The running CRC is Node's own `zlib.crc32` (table-driven C, no JS loop). What zlib exposes to C but Node does not
 * is `crc32_combine`: the CRC of A‖B from crc(A), crc(B) and |B|. The streaming writer needs it because it learns the
 * record count, which lives in the header, only after all records have gone to disk; combining lets it checksum the
 * records as they stream past and the final header at close, without reading the file back.
 *
 * `crc32Combine` is a port of zlib 1.3's `crc32_combine64` (multmodp / x2nmodp): appending n zero bytes to a message
 * multiplies its CRC register by x^(8n) modulo the CRC polynomial, computed by square-and-multiply in GF(2).
 */
import { crc32 as zlibCrc32 } from 'node:zlib';

/** CRC-32 of `data`, continuing from `previous` (the CRC of the bytes before it; 0 to start). */
export function crc32(data: Uint8Array, previous = 0): number {
  return zlibCrc32(data, previous);
}

/** The reflected CRC-32 polynomial. */
const POLY = 0xedb88320;
const X0 = 0x80000000;

/** a × b modulo the polynomial, both reflected (bit 31 holds x^0). */
function multModP(a: number, b: number): number {
  let m = X0;
  let p = 0;
  for (;;) {
    if (a & m) {
      p ^= b;
      if ((a & (m - 1)) === 0) break;
    }
    m >>>= 1;
    b = b & 1 ? (b >>> 1) ^ POLY : b >>> 1;
  }
  return p >>> 0;
}

/** X2N[k] = x^(2^k) modulo the polynomial. */
const X2N: number[] = [];
{
  let p = X0 >>> 1; // x^1
  X2N.push(p);
  for (let k = 1; k < 32; k++) X2N.push((p = multModP(p, p)));
}

/** x^(n × 2^k) modulo the polynomial. */
function x2nModP(n: number, k: number): number {
  let p = X0;
  while (n > 0) {
    if (n % 2 === 1) p = multModP(X2N[k & 31]!, p);
    n = Math.floor(n / 2);
    k++;
  }
  return p;
}

/** CRC-32 of A‖B given crcA = crc(A), crcB = crc(B) and lengthB = |B| in bytes. */
export function crc32Combine(crcA: number, crcB: number, lengthB: number): number {
  if (lengthB === 0) return crcA >>> 0;
  return (multModP(x2nModP(lengthB, 3), crcA >>> 0) ^ crcB) >>> 0;
}
