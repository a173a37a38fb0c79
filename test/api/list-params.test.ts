/**
 * Issue 10, item 10: list parameters are checked, not ignored. An unknown `domainid` is refused
 * (431) instead of answering an empty list, and `domainid=ROOT` lists the domain (every account, for
 * an admin); `page` must be 1 or more; listEvents refuses a date or level it cannot read, and its
 * `username` is the user who acted; createAccount makes a user without keys, registerUserKeys
 * gives them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT_DOMAIN_ID } from '../../src/store/account-store.ts';
import { TestApiClient } from '../helpers/api-client.ts';
import { bodyOf, errorOf, itemsOf, startApiServer, type ApiHarness } from '../helpers/api-server.ts';

const UNKNOWN_DOMAIN = '6d1e0c2a-58a4-4b7e-9d0f-3c1f6a1e2b40';

describe('list parameters', () => {
  let h: ApiHarness;

  beforeAll(async () => {
    h = await startApiServer();
  });
  afterAll(async () => {
    await h.close();
  });

  const ids = (payload: Record<string, unknown>, key: string): string[] =>
    itemsOf(payload, key)
      .map((i) => i['id'] as string)
      .sort();

  it('refuses an unknown domainid with 431 on every list, for admins and users alike', async () => {
    for (const [client, command] of [
      [h.admin, 'listVirtualMachines'],
      [h.demo, 'listVirtualMachines'],
      [h.demo, 'listVMSnapshot'],
      [h.admin, 'listEvents'],
      [h.demo, 'listAsyncJobs'],
      [h.demo, 'listTags'],
      [h.admin, 'listHosts'],
    ] as const) {
      const res = await client.call(command, { domainid: UNKNOWN_DOMAIN });
      const { errortext } = errorOf(res, command, 431);
      expect(errortext).toContain(`Invalid parameter domainid value=${UNKNOWN_DOMAIN}`);
    }
  });

  it('domainid=ROOT lists the domain: every account for an admin, its own account for a user', async () => {
    const all = ids(await h.admin.payload('listVirtualMachines', { listall: true }), 'virtualmachine');
    const own = ids(await h.admin.payload('listVirtualMachines'), 'virtualmachine');
    expect(all.length).toBeGreaterThan(own.length);
    for (const isrecursive of [undefined, true, false]) {
      const params = { domainid: ROOT_DOMAIN_ID, ...(isrecursive === undefined ? {} : { isrecursive }) };
      expect(ids(await h.admin.payload('listVirtualMachines', params), 'virtualmachine')).toEqual(all);
      const demoOwn = ids(await h.demo.payload('listVirtualMachines'), 'virtualmachine');
      expect(ids(await h.demo.payload('listVirtualMachines', params), 'virtualmachine')).toEqual(demoOwn);
    }
  });

  it('refuses page 0 and negative pages (431) instead of reading page 1', async () => {
    for (const page of [0, -1]) {
      const res = await h.demo.call('listVirtualMachines', { page, pagesize: 2 });
      expect(errorOf(res, 'listVirtualMachines', 431).errortext).toBe(
        `Unable to execute API command listvirtualmachines due to invalid value ${page} for parameter page`,
      );
    }
    const first = await h.demo.call('listVirtualMachines', { page: 1, pagesize: 2 });
    expect(first.status).toBe(200);
  });

  it('listEvents refuses a start or end date it cannot read, and a level that is not one', async () => {
    for (const [name, value] of <[string, string][]>[
      ['startdate', 'yesterday'],
      ['startdate', '2024-02-30'],
      ['enddate', '2024-13-01'],
      ['startdate', '2024-01-02T03:04'],
    ]) {
      const res = await h.admin.call('listEvents', { [name]: value });
      expect(errorOf(res, 'listEvents', 431).errortext).toBe(
        `Unable to parse date ${value} for command listevents, please pass dates in the format mentioned in the api documentation`,
      );
    }
    const res = await h.admin.call('listEvents', { level: 'LOUD' });
    expect(errorOf(res, 'listEvents', 431).errortext).toContain('LOUD');
    const badJobDate = await h.demo.call('listAsyncJobs', { startdate: 'soon' });
    errorOf(badJobDate, 'listAsyncJobs', 431);
  });

  it('listEvents filters by the dates it reads: a day alone covers that whole day', async () => {
    const snap = await h.demo.payload('createVMSnapshot', { virtualmachineid: (await h.t.vm('app-1')).id });
    expect((await h.demo.waitForJob(snap['jobid'] as string))['jobstatus']).toBe(1);
    const all = itemsOf(await h.admin.payload('listEvents', { listall: true, pagesize: -1 }), 'event');
    expect(all.length).toBeGreaterThan(0);
    // The day of the newest event, taken from the event itself (no dependence on the clock now).
    const day = (all[0]!['created'] as string).slice(0, 10);
    const thatDay = all.filter((e) => (e['created'] as string).startsWith(day));
    const byDay = await h.admin.payload('listEvents', { listall: true, startdate: day, enddate: day });
    expect(byDay['count']).toBe(thatDay.length);
    const future = await h.admin.payload('listEvents', { listall: true, startdate: '2999-01-01 00:00:00' });
    expect(itemsOf(future, 'event')).toEqual([]);
  });

  it('listEvents names the user who acted, not the owner of the resource', async () => {
    const vm = await h.t.vm('web-1');
    expect(vm.accountId).toBe(h.t.demo.accountId);
    const stop = await h.admin.payload('stopVirtualMachine', { id: vm.id });
    expect((await h.admin.waitForJob(stop['jobid'] as string))['jobstatus']).toBe(1);
    const events = itemsOf(
      await h.admin.payload('listEvents', { listall: true, type: 'VM.STOP' }),
      'event',
    ).filter((e) => e['resourceid'] === vm.id);
    expect(events.length).toBeGreaterThan(0);
    for (const e of events) {
      expect(e['account']).toBe('demo');
      expect(e['username']).toBe('admin');
    }
  });

  it('createAccount returns no API key; registerUserKeys returns a working key pair', async () => {
    const created = await h.admin.payload('createAccount', { username: 'carol', email: 'c@example.com' });
    const account = created['account'] as { user: Record<string, unknown>[] };
    const user = account.user[0]!;
    expect(user).not.toHaveProperty('apikey');
    expect(user).not.toHaveProperty('secretkey');
    const keys = bodyOf(
      await h.admin.call('registerUserKeys', { id: user['id'] as string }),
      'registerUserKeys',
    )['userkeys'] as { apikey: string; secretkey: string };
    const carol = new TestApiClient(h.url, keys.apikey, keys.secretkey);
    const listed = itemsOf(await carol.payload('listAccounts'), 'account');
    expect(listed.map((a) => a['name'])).toEqual(['carol']);
  });
});
