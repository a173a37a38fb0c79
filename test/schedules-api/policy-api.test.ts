/**
 * Issue 13, item 1 and 2: the VM snapshot policy API over HTTP. create/list/update/delete with
 * CloudStack's 431s, tenant scoping (bob sees none of demo's policies and cannot touch them),
 * vmsnapshotpolicyid in listVMSnapshot (field and filter), and deletesnapshots.
 */
import { describe, expect, it } from 'vitest';
import { errorOf, itemsOf } from '../helpers/api-server.ts';
import { useSecondTenant } from '../helpers/second-tenant.ts';

describe('VM snapshot policy API', () => {
  const tt = useSecondTenant();

  async function demoVm(name: string): Promise<string> {
    return (await tt.h.t.vm(name)).id;
  }

  async function createHourly(
    extra: Record<string, string | number | boolean> = {},
  ): Promise<Record<string, unknown>> {
    const res = await tt.h.demo.payload('createVMSnapshotPolicy', {
      virtualmachineid: await demoVm('web-1'),
      intervaltype: 'HOURLY',
      schedule: '5',
      timezone: 'Europe/Berlin',
      keephourly: 24,
      keepdaily: 7,
      keepweekly: 4,
      'tags[0].key': 'team',
      'tags[0].value': 'ops',
      ...extra,
    });
    return res['vmsnapshotpolicy'] as Record<string, unknown>;
  }

  it('creates, lists, updates and deletes a policy, with its schedule, retention and next run', async () => {
    const p = await createHourly();
    expect(p).toMatchObject({
      virtualmachinename: 'web-1',
      intervaltype: 'HOURLY',
      schedule: '5',
      timezone: 'Europe/Berlin',
      keephourly: 24,
      keepdaily: 7,
      keepweekly: 4,
      keepmonthly: 0,
      keepyearly: 0,
      snapshotmemory: false,
      quiescevm: false,
    });
    expect(p['maxsnaps']).toBeUndefined();
    // CloudStack's date format, at minute 5 of an hour.
    expect(p['nextrun']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:05:00[+-]\d{4}$/);
    expect((p['tags'] as { key: string }[]).map((t) => t.key)).toEqual(['team']);

    const listed = itemsOf(
      await tt.h.demo.payload('listVMSnapshotPolicies', { id: p['id'] as string }),
      'vmsnapshotpolicy',
    );
    expect(listed.map((x) => x['id'])).toEqual([p['id']]);
    const byTag = itemsOf(
      await tt.h.demo.payload('listVMSnapshotPolicies', { 'tags[0].key': 'team', 'tags[0].value': 'ops' }),
      'vmsnapshotpolicy',
    );
    expect(byTag.map((x) => x['id'])).toContain(p['id']);

    const updated = (
      await tt.h.demo.payload('updateVMSnapshotPolicy', {
        id: p['id'] as string,
        cron: '0 */4 * * *',
        maxsnaps: 3,
      })
    )['vmsnapshotpolicy'] as Record<string, unknown>;
    expect(updated).toMatchObject({ cron: '0 */4 * * *', maxsnaps: 3, timezone: 'Europe/Berlin' });
    expect(updated['intervaltype']).toBeUndefined();
    expect(updated['keephourly']).toBeUndefined();

    expect(await tt.h.demo.payload('deleteVMSnapshotPolicies', { id: p['id'] as string })).toMatchObject({
      success: true,
    });
    expect(await tt.h.demo.payload('listVMSnapshotPolicies', { id: p['id'] as string })).toEqual({});
  });

  it('scopes policies to their tenant: bob lists none of them and cannot update or delete one', async () => {
    const p = await createHourly();
    const id = p['id'] as string;
    const bobList = itemsOf(
      await tt.b.client.payload('listVMSnapshotPolicies', { listall: true }),
      'vmsnapshotpolicy',
    );
    expect(bobList.map((x) => x['id'])).not.toContain(id);
    expect(await tt.b.client.payload('listVMSnapshotPolicies', { id })).toEqual({});
    const del = errorOf(
      await tt.b.client.call('deleteVMSnapshotPolicies', { id }),
      'deleteVMSnapshotPolicies',
      431,
    );
    expect(del.errortext).toBe(`Unable to find VM snapshot policy with id ${id}`);
    errorOf(
      await tt.b.client.call('updateVMSnapshotPolicy', { id, maxsnaps: 1 }),
      'updateVMSnapshotPolicy',
      431,
    );
    // Nor can bob put a policy on demo's VM: it fails like a missing VM.
    const vm = await demoVm('web-1');
    const create = errorOf(
      await tt.b.client.call('createVMSnapshotPolicy', {
        virtualmachineid: vm,
        intervaltype: 'DAILY',
        schedule: '00:01',
        timezone: 'UTC',
        maxsnaps: 1,
      }),
      'createVMSnapshotPolicy',
      431,
    );
    expect(create.errortext).toBe(`Unable to find Instance by id ${vm}`);
    // Still there for demo, and the admin sees it with listall.
    expect(
      itemsOf(await tt.h.demo.payload('listVMSnapshotPolicies', { id }), 'vmsnapshotpolicy'),
    ).toHaveLength(1);
    const adminAll = itemsOf(
      await tt.h.admin.payload('listVMSnapshotPolicies', { listall: true }),
      'vmsnapshotpolicy',
    );
    expect(adminAll.map((x) => x['id'])).toContain(id);
  });

  it('tags a policy with createTags (resource type VMSnapshotPolicy), its owner only', async () => {
    const id = (await createHourly())['id'] as string;
    const tagged = await tt.h.demo.payload('createTags', {
      resourcetype: 'VMSnapshotPolicy',
      resourceids: id,
      'tags[0].key': 'tier',
      'tags[0].value': 'gold',
    });
    expect((await tt.h.demo.waitForJob(tagged['jobid'] as string))['jobstatus']).toBe(1);
    const byTag = itemsOf(
      await tt.h.demo.payload('listVMSnapshotPolicies', { 'tags[0].key': 'tier', 'tags[0].value': 'gold' }),
      'vmsnapshotpolicy',
    );
    expect(byTag.map((p) => p['id'])).toEqual([id]);
    const foreign = await tt.b.client.call('createTags', {
      resourcetype: 'VMSnapshotPolicy',
      resourceids: id,
      'tags[0].key': 'x',
      'tags[0].value': 'y',
    });
    expect(errorOf(foreign, 'createTags', 431).errortext).toBe(
      `Unable to find resource by id ${id} and type VMSnapshotPolicy`,
    );
  });

  it.each([
    [{ intervaltype: 'YEARLY', schedule: '5', maxsnaps: 1 }, /Unsupported interval type/],
    [{ intervaltype: 'DAILY', schedule: '61:25', maxsnaps: 1 }, /Invalid schedule/],
    [
      { intervaltype: 'HOURLY', schedule: '5', cron: '0 * * * *', maxsnaps: 1 },
      /either cron or intervaltype/i,
    ],
    [{ cron: '0 * * *', maxsnaps: 1 }, /cron/i],
    [{ intervaltype: 'HOURLY', schedule: '5', maxsnaps: 0 }, /^maxSnaps should be greater than 0$/],
    [{ intervaltype: 'HOURLY', schedule: '5', maxsnaps: 11 }, /^maxSnaps exceeds limit: 10/],
    [{ intervaltype: 'HOURLY', schedule: '5', maxsnaps: 2, keepdaily: 1 }, /either maxsnaps or keephourly/],
    [{ intervaltype: 'HOURLY', schedule: '5' }, /Either maxsnaps or one of keephourly/],
    [{ intervaltype: 'HOURLY', schedule: '5', keepdaily: -1 }, /keepdaily should be 0 or greater/],
    [{ intervaltype: 'HOURLY', schedule: '5', keepdaily: 0 }, /At least one of keephourly/],
  ])('refuses %o with a 431', async (params, message) => {
    const res = await tt.h.demo.call('createVMSnapshotPolicy', {
      virtualmachineid: await demoVm('web-1'),
      timezone: 'UTC',
      ...params,
    });
    expect(errorOf(res, 'createVMSnapshotPolicy', 431).errortext).toMatch(message);
  });

  it('refuses an unknown timezone and a missing one', async () => {
    const vm = await demoVm('web-1');
    const bad = await tt.h.demo.call('createVMSnapshotPolicy', {
      virtualmachineid: vm,
      intervaltype: 'HOURLY',
      schedule: '5',
      timezone: 'Mars/Olympus',
      maxsnaps: 2,
    });
    expect(errorOf(bad, 'createVMSnapshotPolicy', 431).errortext).toMatch(/^Invalid timezone: Mars\/Olympus/);
    const missing = await tt.h.demo.call('createVMSnapshotPolicy', {
      virtualmachineid: vm,
      intervaltype: 'HOURLY',
      schedule: '5',
      maxsnaps: 2,
    });
    expect(errorOf(missing, 'createVMSnapshotPolicy', 431).errortext).toMatch(/timezone/);
  });

  it('shows vmsnapshotpolicyid on the snapshots a policy took, filters by it, and deletesnapshots deletes only those', async () => {
    const { app } = tt.h.t;
    const vm = await demoVm('db-1');
    const p = (
      await tt.h.demo.payload('createVMSnapshotPolicy', {
        virtualmachineid: vm,
        intervaltype: 'HOURLY',
        schedule: '0',
        timezone: 'UTC',
        maxsnaps: 5,
      })
    )['vmsnapshotpolicy'] as Record<string, unknown>;
    const policyId = p['id'] as string;
    const manual = await tt.h.demo.payload('createVMSnapshot', { virtualmachineid: vm, name: 'by-hand' });
    expect((await tt.h.demo.waitForJob(manual['jobid'] as string))['jobstatus']).toBe(1);
    // One run of the policy, on the scheduler's clock: the next slot after its creation.
    const slot = Math.ceil((Date.now() + 1) / 3_600_000) * 3_600_000;
    await runUntilFinal(app, slot);

    const all = itemsOf(await tt.h.demo.payload('listVMSnapshot', { virtualmachineid: vm }), 'vmSnapshot');
    const taken = all.filter((s) => s['vmsnapshotpolicyid'] === policyId);
    expect(taken).toHaveLength(1);
    expect(taken[0]!['displayname']).toBe(`auto-${policyId.slice(0, 8)}-db-1-${stamp(slot)}`);
    expect(all.find((s) => s['id'] === manual['id'])!['vmsnapshotpolicyid']).toBeUndefined();
    const filtered = itemsOf(
      await tt.h.demo.payload('listVMSnapshot', { vmsnapshotpolicyid: policyId }),
      'vmSnapshot',
    );
    expect(filtered.map((s) => s['id'])).toEqual([taken[0]!['id']]);

    const deleted = await tt.h.demo.payload('deleteVMSnapshotPolicies', {
      id: policyId,
      deletesnapshots: true,
    });
    const jobs = deleted['deletejobids'] as string[];
    expect(jobs).toHaveLength(1);
    for (const j of jobs) expect((await tt.h.demo.waitForJob(j))['jobstatus']).toBe(1);
    const left = itemsOf(await tt.h.demo.payload('listVMSnapshot', { virtualmachineid: vm }), 'vmSnapshot');
    expect(left.map((s) => s['id'])).toEqual([manual['id']]);
  });

  it('keeps the snapshots of a deleted policy by default', async () => {
    const { app } = tt.h.t;
    const vm = await demoVm('batch-1');
    const p = (
      await tt.h.demo.payload('createVMSnapshotPolicy', {
        virtualmachineid: vm,
        cron: '30 * * * *',
        timezone: 'UTC',
        maxsnaps: 2,
      })
    )['vmsnapshotpolicy'] as Record<string, unknown>;
    const slot = Math.ceil(Date.now() / 3_600_000) * 3_600_000 + 1_800_000;
    await runUntilFinal(app, slot);
    await tt.h.demo.payload('deleteVMSnapshotPolicies', { ids: p['id'] as string });
    const kept = itemsOf(
      await tt.h.demo.payload('listVMSnapshot', { vmsnapshotpolicyid: p['id'] as string }),
      'vmSnapshot',
    );
    expect(kept).toHaveLength(1);
  });
});

/** Ticks the scheduler at `slot` until no run is open; bounded. */
async function runUntilFinal(app: import('../../src/app/app.ts').App, slot: number): Promise<void> {
  await app.policyScheduler.tick(slot);
  for (let i = 0; i < 200; i++) {
    const open = await app.policyRuns.listDue(Number.MAX_SAFE_INTEGER);
    if (open.length === 0) return;
    for (const r of open) if (r.jobId !== null) await app.deps.jobs.waitFor(r.jobId).catch(() => undefined);
    await app.policyScheduler.tick(slot + 1000 * (i + 1));
  }
  throw new Error('policy runs did not finish');
}

function stamp(slot: number): string {
  const iso = new Date(slot).toISOString();
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${iso.slice(11, 13)}${iso.slice(14, 16)}Z`;
}
