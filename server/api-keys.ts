/**
 * Who may use the HTTP gateway (`serve --http-port N --keys FILE`): API keys stored as SHA-256 hashes, each mapped
 * to an owner, each with its own request rate. The key file, described once (the README, "API keys", has the same):
 *
 *   {
 *     "keys": [
 *       { "id": "alice-1", "sha256": "<64 hex digits: SHA-256 of the key's UTF-8 bytes>", "owner": 17,
 *         "ratePerSecond": 200, "burst": 400 }
 *     ]
 *   }
 *
 * - `id`: a name for logs (the access log names the key by it, never by the key); unique.
 * - `sha256`: the key's hash (`printf %s KEY | sha256sum`); unique. The key itself is never stored.
 * - `owner`: the owner id (a positive safe integer) every order placed with this key gets; several keys may share one.
 * - `ratePerSecond`, `burst` (optional, defaults DEFAULT_RATE_PER_SECOND and twice the rate): a token bucket per key;
 *   a request that finds it empty is answered 429 with `Retry-After` (whole seconds until a token is back).
 *
 * A file breaking any rule is refused at start with the file and the field (`keys[1].sha256: expected 64 hex
 * digits`). Authentication is `Authorization: Bearer KEY` on every request but `GET /health`; a missing or unknown
 * key is 401 (the two are told apart in the message, never which keys exist). The bucket's time is the wall clock:
 * it is the gateway's, outside the engine, and never journaled.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Refusal } from './http-api.ts';

export const DEFAULT_RATE_PER_SECOND = 1000;

export interface ApiKey {
  readonly id: string;
  readonly owner: number;
  readonly ratePerSecond: number;
  readonly burst: number;
}

/** A refusal here is 401 (who are you) or 429 (too many), with Retry-After seconds for 429. */
export type Refused = Refusal & { readonly status: 401 | 429 };

interface Bucket {
  tokens: number;
  atMs: number;
}

export class KeyRing {
  readonly #byHash: Map<string, ApiKey>;
  readonly #buckets = new Map<string, Bucket>();
  readonly #nowMs: () => number;

  private constructor(byHash: Map<string, ApiKey>, nowMs: () => number) {
    this.#byHash = byHash;
    this.#nowMs = nowMs;
  }

  get size(): number {
    return this.#byHash.size;
  }

  /** Reads and checks a key file; throws an error naming the file and the field. */
  static load(path: string, nowMs: () => number = () => performance.now()): KeyRing {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      throw new Error(`${path}: cannot read the key file: ${(error as Error).message}`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new Error(`${path}: not JSON: ${(error as Error).message}`);
    }
    return KeyRing.fromJson(parsed, path, nowMs);
  }

  static fromJson(parsed: unknown, path: string, nowMs: () => number = () => performance.now()): KeyRing {
    const fail = (field: string, problem: string): never => { throw new Error(`${path}: ${field}: ${problem}`); };
    if (typeof parsed !== 'object' || parsed === null || !Array.isArray((parsed as { keys?: unknown }).keys)) fail('keys', 'expected an object with an array "keys"');
    const entries = (parsed as { keys: unknown[] }).keys;
    if (entries.length === 0) fail('keys', 'no keys (without keys, leave --keys out: the server then runs open)');
    const byHash = new Map<string, ApiKey>();
    const ids = new Set<string>();
    entries.forEach((entry, i) => {
      const at = `keys[${i}]`;
      if (typeof entry !== 'object' || entry === null) fail(at, 'expected an object');
      const e = entry as Record<string, unknown>;
      for (const field of Object.keys(e)) if (!['id', 'sha256', 'owner', 'ratePerSecond', 'burst'].includes(field)) fail(`${at}.${field}`, 'no such field');
      if (typeof e.id !== 'string' || e.id === '') fail(`${at}.id`, 'expected a non-empty string');
      if (ids.has(e.id as string)) fail(`${at}.id`, `"${e.id}" is given twice`);
      if (typeof e.sha256 !== 'string' || !/^[0-9a-fA-F]{64}$/.test(e.sha256)) fail(`${at}.sha256`, 'expected 64 hex digits (the SHA-256 of the key)');
      const hash = (e.sha256 as string).toLowerCase();
      if (byHash.has(hash)) fail(`${at}.sha256`, 'the same key is given twice');
      if (!(typeof e.owner === 'number' && Number.isSafeInteger(e.owner) && e.owner > 0)) fail(`${at}.owner`, 'expected a positive integer');
      const rate = e.ratePerSecond ?? DEFAULT_RATE_PER_SECOND;
      if (!(typeof rate === 'number' && rate > 0 && Number.isFinite(rate))) fail(`${at}.ratePerSecond`, 'expected a positive number');
      const burst = e.burst ?? 2 * (rate as number);
      if (!(typeof burst === 'number' && burst >= 1 && Number.isFinite(burst))) fail(`${at}.burst`, 'expected a number ≥ 1');
      ids.add(e.id as string);
      byHash.set(hash, { id: e.id as string, owner: e.owner as number, ratePerSecond: rate as number, burst: burst as number });
    });
    return new KeyRing(byHash, nowMs);
  }

  /** The key an `Authorization` header names, or why not. */
  authenticate(authorization: string | undefined): ApiKey | Refused {
    if (authorization === undefined) return { status: 401, error: 'header Authorization: missing (send "Authorization: Bearer KEY")' };
    const match = /^Bearer ([!-~]+)$/.exec(authorization);
    if (match === null) return { status: 401, error: 'header Authorization: expected "Bearer KEY"' };
    const hash = createHash('sha256').update(match[1]!, 'utf8').digest('hex');
    // Looked up by its hash: how long the lookup takes says nothing about the keys that exist.
    return this.#byHash.get(hash) ?? { status: 401, error: 'header Authorization: unknown key' };
  }

  /** Takes one token from `key`'s bucket; a 429 refusal when there is none. */
  admit(key: ApiKey): Refused | null {
    const now = this.#nowMs();
    let bucket = this.#buckets.get(key.id);
    if (bucket === undefined) {
      bucket = { tokens: key.burst, atMs: now };
      this.#buckets.set(key.id, bucket);
    }
    bucket.tokens = Math.min(key.burst, bucket.tokens + ((now - bucket.atMs) * key.ratePerSecond) / 1000);
    bucket.atMs = now;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return null;
    }
    const retryAfterS = Math.max(1, Math.ceil((1 - bucket.tokens) / key.ratePerSecond));
    return { status: 429, error: `key ${key.id}: over its rate of ${key.ratePerSecond} requests/s (burst ${key.burst})`, retryAfterS };
  }
}
