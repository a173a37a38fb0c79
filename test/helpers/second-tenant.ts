/**
 * A second tenant, "bob", beside the seeded `demo` account, for the isolation tests: its own keys, a
 * running VM with a memory snapshot (tagged), a stopped VM with a data disk, and so a finished job,
 * volumes, tags and events that user A (demo) must not be able to see or touch.
 */
import { afterAll, beforeAll, expect } from 'vitest';
import { TestApiClient } from './api-client.ts';
import { itemsOf, startApiServer, type ApiHarness } from './api-server.ts';
import { createVms } from './vm-factory.ts';

export interface SecondTenant {
  readonly client: TestApiClient;
  readonly accountId: string;
  /** `bob`. */
  readonly accountName: string;
  readonly userId: string;
  readonly apiKey: string;
  readonly secretKey: string;
  readonly runningVm: string;
  readonly runningHost: string;
  readonly stoppedVm: string;
  /** The stopped VM's volumes, ROOT first. */
  readonly stoppedVolumes: readonly string[];
  /** The running VM's snapshot (DiskAndMemory, Ready), display name `bob-snap`, tagged owner=bob. */
  readonly snapshotId: string;
  readonly snapshotName: string;
  /** The finished job that took the snapshot. */
  readonly jobId: string;
  /** One of bob's events. */
  readonly eventId: string;
  /** A VM snapshot policy on bob's running VM (issue 13), whose slots never come in a test run. */
  readonly policyId: string;
}

export async function addSecondTenant(h: ApiHarness): Promise<SecondTenant> {
  const created = await h.admin.payload('createAccount', { username: 'bob', email: 'bob@example.com' });
  const account = created['account'] as { id: string; user: { id: string }[] };
  const userId = account.user[0]!.id;
  const keys = (await h.admin.payload('registerUserKeys', { id: userId }))['userkeys'] as {
    apikey: string;
    secretkey: string;
  };
  const client = new TestApiClient(h.url, keys.apikey, keys.secretkey);
  const [running, stopped] = await createVms(h.t.app, account.id, [
    { displayName: 'bob-web', running: true },
    { displayName: 'bob-cold', running: false, dataDisks: 1 },
  ]);
  const snapshotName = 'bob-snap';
  const snap = await client.payload('createVMSnapshot', {
    virtualmachineid: running!.id,
    snapshotmemory: true,
    name: snapshotName,
  });
  const job = await client.waitForJob(snap['jobid'] as string);
  expect(job['jobstatus']).toBe(1);
  const tagged = await client.payload('createTags', {
    resourcetype: 'VMSnapshot',
    resourceids: snap['id'] as string,
    'tags[0].key': 'owner',
    'tags[0].value': 'bob',
  });
  expect((await client.waitForJob(tagged['jobid'] as string))['jobstatus']).toBe(1);
  // Cron for 29 February: its latest slot is before the policy existed, its next years away.
  const policy = await client.payload('createVMSnapshotPolicy', {
    virtualmachineid: running!.id,
    cron: '0 0 29 2 *',
    timezone: 'UTC',
    maxsnaps: 2,
  });
  const events = itemsOf(await client.payload('listEvents'), 'event');
  expect(events.length).toBeGreaterThan(0);
  return {
    client,
    accountId: account.id,
    accountName: 'bob',
    userId,
    apiKey: keys.apikey,
    secretKey: keys.secretkey,
    runningVm: running!.id,
    runningHost: running!.hostId,
    stoppedVm: stopped!.id,
    stoppedVolumes: stopped!.volumeIds,
    snapshotId: snap['id'] as string,
    snapshotName,
    jobId: snap['jobid'] as string,
    eventId: events[0]!['id'] as string,
    policyId: (policy['vmsnapshotpolicy'] as { id: string }).id,
  };
}

/** A server with both tenants: `h` (seeded admin and demo) and `b`, bob. */
export interface TwoTenants {
  readonly h: ApiHarness;
  readonly b: SecondTenant;
}

/**
 * In a describe: an API server with the second tenant added, started before its tests (beforeAll
 * hooks registered after this call run after the tenant exists) and closed after them. Read `h`
 * and `b` inside hooks and tests only.
 */
export function useSecondTenant(): TwoTenants {
  let h: ApiHarness | undefined;
  let b: SecondTenant | undefined;
  beforeAll(async () => {
    h = await startApiServer();
    b = await addSecondTenant(h);
  });
  afterAll(async () => {
    await h?.close();
  });
  const must = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('useSecondTenant: read h and b inside tests and hooks only');
    return value;
  };
  return {
    get h() {
      return must(h);
    },
    get b() {
      return must(b);
    },
  };
}
