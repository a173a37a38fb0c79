/**
 * loadOwned (src/manager/access.ts): the one place where access is checked, as the object is
 * loaded. A foreign object must be indistinguishable from a missing one.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidParameterError } from '../../src/core/errors.ts';
import { loadOwned } from '../../src/manager/access.ts';
import type { Caller } from '../../src/manager/caller.ts';

const caller = (accountId: string, isAdmin: boolean): Caller => ({
  accountId,
  accountName: accountId,
  userId: `u-${accountId}`,
  isAdmin,
});

/** What loadOwned does with `found`: the object, or the error's class, code and text. */
async function outcome(c: Caller, found: { accountId: string } | undefined): Promise<unknown> {
  const notFound = (): InvalidParameterError => new InvalidParameterError('Unable to find thing 42');
  try {
    return { ok: await loadOwned(c, () => Promise.resolve(found), notFound) };
  } catch (err) {
    const e = err as InvalidParameterError;
    return { err: [e.constructor.name, e.errorCode, e.csErrorCode, e.message] };
  }
}

describe('loadOwned', () => {
  it('gives an owner or an admin the object, and anyone else exactly the missing answer', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('a', 'b', 'c'),
        fc.constantFrom('a', 'b', 'c'),
        fc.boolean(),
        async (callerAccount, owner, isAdmin) => {
          const c = caller(callerAccount, isAdmin);
          const object = { accountId: owner };
          const got = await outcome(c, object);
          if (isAdmin || callerAccount === owner) expect(got).toEqual({ ok: object });
          else expect(got).toEqual(await outcome(c, undefined));
        },
      ),
    );
  });

  it('answers a missing object with the error it is given', async () => {
    expect(await outcome(caller('a', true), undefined)).toEqual({
      err: ['InvalidParameterError', 431, 4350, 'Unable to find thing 42'],
    });
  });
});
