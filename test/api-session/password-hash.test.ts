/**
 * Issue 14, item 2: passwords are hashed with a real KDF (scrypt) with a per-user salt and its
 * parameters stored in the hash, compared in constant time. The module did not exist before.
 */
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_SCRYPT_PARAMS,
  hashPassword,
  verifyAgainstDummy,
  verifyPassword,
} from '../../src/core/password-hash.ts';

// Cheap parameters where the cost is not what is tested: scrypt is slow by design.
const CHEAP = { N: 1024, r: 8, p: 1 };

describe('password hashing', () => {
  it('stores no clear text, carries algorithm, parameters and salt, and verifies', async () => {
    const hash = await hashPassword('correct horse battery staple');
    expect(hash).not.toContain('correct horse');
    const { N, r, p } = DEFAULT_SCRYPT_PARAMS;
    expect(hash).toMatch(new RegExp(`^scrypt\\$N=${N},r=${r},p=${p}\\$[\\w-]{22}\\$[\\w-]{43}$`));
    expect(N).toBeGreaterThanOrEqual(2 ** 15);
    expect(await verifyPassword('correct horse battery staple', hash)).toBe(true);
    expect(await verifyPassword('correct horse battery stapl', hash)).toBe(false);
  });

  it('salts per hash: one password gives two different hashes, each verifying', async () => {
    const a = await hashPassword('same', CHEAP);
    const b = await hashPassword('same', CHEAP);
    expect(a).not.toBe(b);
    expect(a.split('$')[2]).not.toBe(b.split('$')[2]);
    expect(await verifyPassword('same', a)).toBe(true);
    expect(await verifyPassword('same', b)).toBe(true);
  });

  it('verifies with the parameters stored in the hash, not the current defaults', async () => {
    const hash = await hashPassword('pw', CHEAP);
    expect(hash.startsWith('scrypt$N=1024,r=8,p=1$')).toBe(true);
    expect(await verifyPassword('pw', hash)).toBe(true);
  });

  it('a malformed, tampered or oversized stored hash verifies as false, never throws', async () => {
    const hash = await hashPassword('pw', CHEAP);
    const [alg, , salt, key] = hash.split('$');
    for (const bad of [
      '',
      'pw',
      `${alg}$N=1000,r=8,p=1$${salt}$${key}`, // N not a power of two
      `${alg}$N=${2 ** 24},r=8,p=1$${salt}$${key}`, // would allocate 16 GiB
      `${alg}$N=1024,r=8,p=1$${salt}$`,
      `bcrypt$N=1024,r=8,p=1$${salt}$${key}`,
      `${alg}$N=1024,r=8,p=1$${salt}$${key?.slice(1)}A`,
    ]) {
      expect(await verifyPassword('pw', bad), bad).toBe(false);
    }
  });

  it('the dummy verification (unknown users) always fails', async () => {
    expect(await verifyAgainstDummy('vmsnap: no such user')).toBe(false);
  });
});
