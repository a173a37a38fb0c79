/**
 * Issue 9, item 4: the limit check on deploy is atomic. Concurrent deploys for one account, straight
 * into the manager (no HTTP in between to spread them out), on SQLite and on PostgreSQL (several
 * pooled connections, so the transactions really overlap): exactly as many pass as the limit has
 * room for, and the rest are refused with ResourceAllocationError, leaving no rows behind.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Caller } from '../../src/manager/caller.ts';
import { ResourceAllocationError } from '../../src/core/errors.ts';
import { ResourceLimitManager, resourceTypeByOrdinal } from '../../src/manager/resource-limits.ts';
import { AccountStore } from '../../src/store/account-store.ts';
import { createTempDatabase, postgresUnavailable, type TempDatabase } from '../helpers/postgres.ts';
import { openTestApp, type TestApp } from '../helpers/test-app.ts';

async function tenant(t: TestApp, name: string): Promise<Caller> {
  const created = await new AccountStore(t.app.deps.db).createAccount(name, 'user');
  return { accountId: created.account.id, accountName: name, userId: created.user.id, isAdmin: false };
}

/** `attempts` deploys at once for a tenant whose limit of `type` is `limit`; how many got through. */
async function raceDeploys(
  t: TestApp,
  name: string,
  type: 0 | 8 | 9,
  limit: number,
  attempts: number,
): Promise<{ passed: number; refused: number; vms: number }> {
  const caller = await tenant(t, name);
  const limits = new ResourceLimitManager(t.app.deps);
  const owner = await limits.resolveOwner(caller, undefined, undefined, 'updateResourceLimit');
  await limits.update(owner, resourceTypeByOrdinal(type)!, limit);
  const results = await Promise.allSettled(
    Array.from({ length: attempts }, (_, i) =>
      t.app.vmManager.deploy(caller, {
        zoneId: t.seeded.zoneId,
        name: `${name}-${i}`,
        memoryMb: 64,
        cpus: 2,
        diskSizesMb: [8],
        start: false,
      }),
    ),
  );
  const refused = results.filter((r) => r.status === 'rejected');
  for (const r of refused) expect(r.reason).toBeInstanceOf(ResourceAllocationError);
  const vms = (await t.app.deps.inventory.listVms()).filter((v) => v.accountId === caller.accountId);
  return { passed: results.length - refused.length, refused: refused.length, vms: vms.length };
}

function reservationSuite(open: () => Promise<TestApp>): void {
  let t: TestApp;
  beforeAll(async () => {
    t = await open();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('10 concurrent deploys with room for 3 VMs: exactly 3 pass', async () => {
    expect(await raceDeploys(t, 'race-vms', 0, 3, 10)).toEqual({ passed: 3, refused: 7, vms: 3 });
  });

  it('a deploy whose job cannot be queued gives its reservation back', async () => {
    const caller = await tenant(t, 'queue-down');
    const submit = vi.spyOn(t.app.deps.jobs, 'submit').mockRejectedValueOnce(new Error('queue down'));
    try {
      await expect(
        t.app.vmManager.deploy(caller, {
          zoneId: t.seeded.zoneId,
          memoryMb: 64,
          cpus: 1,
          diskSizesMb: [8],
          start: false,
        }),
      ).rejects.toThrow('queue down');
    } finally {
      submit.mockRestore();
    }
    const limits = new ResourceLimitManager(t.app.deps);
    const owner = await limits.resolveOwner(caller, undefined, undefined, 'updateResourceCount');
    expect((await limits.counts(owner)).map((c) => c.count)).toEqual([0, 0, 0, 0, 0]);
  });

  it('12 concurrent 2-vCPU deploys with room for 9 vCPUs: exactly 4 pass', async () => {
    expect(await raceDeploys(t, 'race-cpus', 8, 9, 12)).toEqual({ passed: 4, refused: 8, vms: 4 });
  });
}

describe('deploy reservations on SQLite', () => {
  reservationSuite(() => openTestApp());
});

const skipReason = postgresUnavailable();
describe.skipIf(skipReason !== undefined)(`deploy reservations on PostgreSQL ${skipReason ?? ''}`, () => {
  let db: TempDatabase;
  beforeAll(async () => {
    db = await createTempDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });
  reservationSuite(() => openTestApp({ databaseUrl: db.url }));
});
