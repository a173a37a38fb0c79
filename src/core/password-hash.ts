/**
 * Password hashing for user logins (issue 14). scrypt from node:crypto: a memory-hard KDF that is
 * built into Node, so vmsnap needs no native module (argon2 and bcrypt packages compile C code at
 * install time, which `npm ci` on a bare machine may not manage). The stored string carries the
 * algorithm, its cost parameters and a per-user salt, so the parameters can be raised later and
 * old hashes still verify:
 *
 *   scrypt$N=32768,r=8,p=3$<salt, base64url>$<key, base64url>
 *
 * N=2^15, r=8, p=3 is one of OWASP's recommended scrypt settings (32 MiB of memory per hash).
 * Comparison is constant-time; a stored string that does not parse verifies as false.
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

export interface ScryptParams {
  /** CPU/memory cost, a power of two. */
  readonly N: number;
  /** Block size. */
  readonly r: number;
  /** Parallelisation. */
  readonly p: number;
}

export const DEFAULT_SCRYPT_PARAMS: ScryptParams = { N: 2 ** 15, r: 8, p: 3 };

const SALT_BYTES = 16;
const KEY_BYTES = 32;
/**
 * Bounds on parameters read back from a stored hash: a tampered or corrupt row must not make one
 * login allocate gigabytes or spin for minutes.
 */
const MAX_N = 2 ** 20;
const MAX_R = 32;
const MAX_P = 16;

function derive(password: string, salt: Buffer, params: ScryptParams, length: number): Promise<Buffer> {
  // Node refuses more than 32 MiB by default; scrypt needs 128 * N * r bytes plus a little.
  const options: ScryptOptions = { ...params, maxmem: 256 * params.N * params.r };
  return new Promise((resolve, reject) => {
    // Asynchronous: the work runs on libuv's thread pool, not on the event loop.
    scrypt(password.normalize('NFC'), salt, length, options, (err, key) =>
      err ? reject(err) : resolve(key),
    );
  });
}

/** A new hash of `password` with a fresh random salt. */
export async function hashPassword(
  password: string,
  params: ScryptParams = DEFAULT_SCRYPT_PARAMS,
): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, params, KEY_BYTES);
  return `scrypt$N=${params.N},r=${params.r},p=${params.p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

interface ParsedHash {
  readonly params: ScryptParams;
  readonly salt: Buffer;
  readonly key: Buffer;
}

function parseHash(stored: string): ParsedHash | undefined {
  const m = /^scrypt\$N=(\d{1,8}),r=(\d{1,3}),p=(\d{1,3})\$([\w-]+)\$([\w-]+)$/.exec(stored);
  if (m === null) return undefined;
  const params = { N: Number(m[1]), r: Number(m[2]), p: Number(m[3]) };
  const powerOfTwo = params.N > 1 && (params.N & (params.N - 1)) === 0;
  if (!powerOfTwo || params.N > MAX_N || params.r < 1 || params.r > MAX_R || params.p < 1 || params.p > MAX_P)
    return undefined;
  const key = Buffer.from(m[5] ?? '', 'base64url');
  if (key.length < 16) return undefined;
  return { params, salt: Buffer.from(m[4] ?? '', 'base64url'), key };
}

/** Whether `password` matches `stored` (a string from hashPassword). */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parsed = parseHash(stored);
  if (parsed === undefined) return false;
  const key = await derive(password, parsed.salt, parsed.params, parsed.key.length);
  return timingSafeEqual(key, parsed.key);
}

let dummy: Promise<string> | undefined;

/**
 * Spends the same work as verifying a real password and returns false: a login for a user that
 * does not exist (or has no password) takes as long as one with a wrong password, so the time of
 * the answer does not tell which usernames exist.
 */
export async function verifyAgainstDummy(password: string): Promise<false> {
  dummy ??= hashPassword('vmsnap: no such user');
  await verifyPassword(password, await dummy);
  return false;
}
