/**
 * Issue 9, item 4: per-account resource limits over the API (listResourceLimits, updateResourceLimit,
 * updateResourceCount), deployVirtualMachine refused with CloudStack's 535 when a limit would be
 * exceeded, the reservation given back when a deploy fails, and strict integer parsing of every
 * number a tenant sends. Each tenant here is a fresh account, so the tests do not share counts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT_DOMAIN_ID, AccountStore } from '../../src/store/account-store.ts';
import { TestApiClient } from '../helpers/api-client.ts';
import { errorOf, itemsOf, startApiServer, type ApiHarness } from '../helpers/api-server.ts';

type Params = Record<string, string | number | boolean>;
const GiB = 1024 ** 3;

describe('resource limits (issue 9, item 4)', () => {
  let h: ApiHarness;
  let tenants = 0;

  beforeAll(async () => {
    h = await startApiServer();
  });
  afterAll(async () => {
    await h.close();
  });

  /** A fresh user account with its own signing client. */
  async function tenant(): Promise<{ name: string; client: TestApiClient }> {
    const name = `tenant-${++tenants}`;
    const created = await new AccountStore(h.t.app.deps.db).createAccount(name, 'user');
    return { name, client: new TestApiClient(h.url, created.apiKey, created.secretKey) };
  }

  async function setLimit(account: string, resourcetype: number, max: number): Promise<void> {
    await h.admin.payload('updateResourceLimit', { account, domainid: ROOT_DOMAIN_ID, resourcetype, max });
  }

  const deployParams = (extra: Params = {}): Params => ({
    zoneid: h.t.seeded.zoneId,
    memory: 64,
    cpunumber: 1,
    disksizes: '16',
    startvm: false,
    ...extra,
  });

  async function counts(account: string): Promise<Record<string, number>> {
    const payload = await h.admin.payload('updateResourceCount', { domainid: ROOT_DOMAIN_ID, account });
    return Object.fromEntries(
      itemsOf(payload, 'resourcecount').map((c) => [
        c['resourcetypename'] as string,
        c['resourcecount'] as number,
      ]),
    );
  }

  describe('listResourceLimits', () => {
    it("shows a user its own account's limits: the max.account.* defaults, in CloudStack's shape", async () => {
      const { name, client } = await tenant();
      const payload = await client.payload('listResourceLimits');
      expect(payload['count']).toBe(5);
      expect(itemsOf(payload, 'resourcelimit')).toEqual([
        {
          account: name,
          domainid: ROOT_DOMAIN_ID,
          domain: 'ROOT',
          resourcetype: '0',
          resourcetypename: 'user_vm',
          max: 20,
        },
        {
          account: name,
          domainid: ROOT_DOMAIN_ID,
          domain: 'ROOT',
          resourcetype: '2',
          resourcetypename: 'volume',
          max: 20,
        },
        {
          account: name,
          domainid: ROOT_DOMAIN_ID,
          domain: 'ROOT',
          resourcetype: '8',
          resourcetypename: 'cpu',
          max: 40,
        },
        {
          account: name,
          domainid: ROOT_DOMAIN_ID,
          domain: 'ROOT',
          resourcetype: '9',
          resourcetypename: 'memory',
          max: 40960,
        },
        {
          account: name,
          domainid: ROOT_DOMAIN_ID,
          domain: 'ROOT',
          resourcetype: '10',
          resourcetypename: 'primary_storage',
          max: 200,
        },
      ]);
    });

    it('filters by resourcetype or resourcetypename (the name wins), and refuses unknown types', async () => {
      const { client } = await tenant();
      const one = (p: Record<string, unknown>) =>
        itemsOf(p, 'resourcelimit').map((l) => l['resourcetypename']);
      expect(one(await client.payload('listResourceLimits', { resourcetype: 9 }))).toEqual(['memory']);
      expect(
        one(await client.payload('listResourceLimits', { resourcetype: 9, resourcetypename: 'cpu' })),
      ).toEqual(['cpu']);
      const badType = await client.call('listResourceLimits', { resourcetype: 3 });
      expect(errorOf(badType, 'listResourceLimits', 431).errortext).toBe(
        'Please specify a valid resource type.',
      );
      const badName = await client.call('listResourceLimits', { resourcetypename: 'snapshot' });
      expect(errorOf(badName, 'listResourceLimits', 431).errortext).toBe(
        'Please specify a valid resource type name.',
      );
    });

    it("a user cannot read another account's limits: answered as an unknown account", async () => {
      const { client } = await tenant();
      const other = await tenant();
      const foreign = await client.call('listResourceLimits', {
        account: other.name,
        domainid: ROOT_DOMAIN_ID,
      });
      const missing = await client.call('listResourceLimits', {
        account: 'no-such',
        domainid: ROOT_DOMAIN_ID,
      });
      expect(errorOf(foreign, 'listResourceLimits', 431).errortext).toBe(
        `Unable to find account ${other.name} in domain ROOT`,
      );
      expect(errorOf(missing, 'listResourceLimits', 431).errortext).toBe(
        'Unable to find account no-such in domain ROOT',
      );
    });

    it('an admin account is unlimited; an admin may read any account', async () => {
      const own = itemsOf(await h.admin.payload('listResourceLimits'), 'resourcelimit');
      expect(own.map((l) => l['max'])).toEqual([-1, -1, -1, -1, -1]);
      const { name } = await tenant();
      await setLimit(name, 0, 7);
      const theirs = await h.admin.payload('listResourceLimits', { account: name, resourcetype: 0 });
      expect(itemsOf(theirs, 'resourcelimit')).toEqual([expect.objectContaining({ account: name, max: 7 })]);
    });
  });

  describe('updateResourceLimit', () => {
    it('stores an override the account then sees; primary storage is spoken in GiB', async () => {
      const { name, client } = await tenant();
      const res = await h.admin.payload('updateResourceLimit', {
        account: name,
        domainid: ROOT_DOMAIN_ID,
        resourcetype: 10,
        max: 3,
      });
      expect(res).toEqual({
        resourcelimit: {
          account: name,
          domainid: ROOT_DOMAIN_ID,
          domain: 'ROOT',
          resourcetype: '10',
          resourcetypename: 'primary_storage',
          max: 3,
        },
      });
      const seen = await client.payload('listResourceLimits', { resourcetype: 10 });
      expect(itemsOf(seen, 'resourcelimit')[0]?.['max']).toBe(3);
      // max absent is -1: unlimited.
      await h.admin.payload('updateResourceLimit', {
        account: name,
        domainid: ROOT_DOMAIN_ID,
        resourcetype: 10,
      });
      const after = await client.payload('listResourceLimits', { resourcetype: 10 });
      expect(itemsOf(after, 'resourcelimit')[0]?.['max']).toBe(-1);
    });

    it("refuses what CloudStack refuses, with CloudStack's texts", async () => {
      const { name } = await tenant();
      const cases: [Params, number, string][] = [
        [
          { account: name, domainid: ROOT_DOMAIN_ID, resourcetype: 0, max: -2 },
          431,
          "Please specify either '-1' for an infinite limit, or a limit that is at least '0'.",
        ],
        [
          { account: name, domainid: ROOT_DOMAIN_ID, resourcetype: 3, max: 1 },
          431,
          'Please specify valid resource type',
        ],
        [
          { account: 'admin', domainid: ROOT_DOMAIN_ID, resourcetype: 0, max: 5 },
          431,
          'Only -1 limit is supported for Root Admin accounts',
        ],
        [
          { resourcetype: 0, max: 5 },
          431,
          'AccountId or domainId have to be specified in order to update resource limit',
        ],
        [
          { domainid: ROOT_DOMAIN_ID, resourcetype: 0, max: 5 },
          531,
          `Cannot update resource limit for ROOT domain ${ROOT_DOMAIN_ID}, permission denied`,
        ],
        [
          { account: name, domainid: ROOT_DOMAIN_ID, resourcetype: 0, max: '1e3' },
          431,
          'Unable to execute API command updateresourcelimit due to invalid value 1e3 for parameter max',
        ],
      ];
      for (const [params, code, text] of cases) {
        const res = await h.admin.call('updateResourceLimit', params);
        expect(errorOf(res, 'updateResourceLimit', code).errortext, JSON.stringify(params)).toBe(text);
      }
    });
  });

  describe('deployVirtualMachine against the limits', () => {
    it('refuses the deploy of the issue (1 TiB RAM, 256 vCPUs) with 535 ResourceAllocationException', async () => {
      const { name, client } = await tenant();
      const res = await client.call(
        'deployVirtualMachine',
        deployParams({ memory: 1024 * 1024, cpunumber: 256 }),
      );
      const { errortext, body } = errorOf(res, 'deployVirtualMachine', 535);
      expect(body['cserrorcode']).toBe(4370);
      // VM count first, then CPU, as CloudStack checks them.
      expect(errortext).toBe(
        `Maximum amount of resources of Type = 'cpu' for Account Name = ${name} in Domain Id = ${ROOT_DOMAIN_ID} is exceeded: ` +
          'Account Resource Limit = 40, Current Account Resource Amount = 0, Current Account Resource Reservation = 0, ' +
          'Requested Resource Amount = 256.',
      );
      expect(await client.payload('listVirtualMachines')).toEqual({});
    });

    it('refuses memory, VM count, volume count and storage over their limits, each by name', async () => {
      const { name, client } = await tenant();
      const refusedType = async (params: Params): Promise<string> => {
        const { errortext } = errorOf(
          await client.call('deployVirtualMachine', deployParams(params)),
          'deployVirtualMachine',
          535,
        );
        return /Type = '([a-z_]+)'/.exec(errortext)?.[1] ?? errortext;
      };
      expect(await refusedType({ memory: 40961 })).toBe('memory');
      await setLimit(name, 2, 2);
      expect(await refusedType({ disksizes: '1,1,1' })).toBe('volume');
      await setLimit(name, 10, 1);
      const storage = await client.call('deployVirtualMachine', deployParams({ disksizes: '1024,1' }));
      expect(errorOf(storage, 'deployVirtualMachine', 535).errortext).toBe(
        `Maximum amount of resources of Type = 'primary_storage' for Account Name = ${name} in Domain Id = ${ROOT_DOMAIN_ID} is exceeded: ` +
          `Account Resource Limit = (1.00 GB) ${GiB}, Current Account Resource Amount = (0 bytes) 0, ` +
          `Current Account Resource Reservation = (0 bytes) 0, Requested Resource Amount = (1.00 GB) ${GiB + 1024 ** 2}.`,
      );
      await setLimit(name, 0, 1);
      expect((await client.call('deployVirtualMachine', deployParams())).status).toBe(200);
      expect(await refusedType({})).toBe('user_vm');
      expect(itemsOf(await client.payload('listVirtualMachines'), 'virtualmachine')).toHaveLength(1);
    });

    it('counts stopped VMs too, and holds an admin deploying for a tenant to that tenant limits', async () => {
      const { name, client } = await tenant();
      await setLimit(name, 8, 3);
      const first = await client.payload(
        'deployVirtualMachine',
        deployParams({ cpunumber: 2, startvm: false }),
      );
      expect((await client.waitForJob(first['jobid'] as string))['jobstatus']).toBe(1);
      const forTenant = await h.admin.call(
        'deployVirtualMachine',
        deployParams({ cpunumber: 2, account: name }),
      );
      expect(errorOf(forTenant, 'deployVirtualMachine', 535).errortext).toContain(
        "Type = 'cpu' for Account Name = " + name,
      );
      // The admin's own account has no limit.
      const own = await h.admin.call('deployVirtualMachine', deployParams({ memory: 65536, cpunumber: 64 }));
      expect(own.status, own.text).toBe(200);
    });

    it('a global default change applies to every account without an override', async () => {
      const { client } = await tenant();
      await h.admin.payload('updateConfiguration', { name: 'max.account.user.vms', value: '0' });
      try {
        expect((await client.call('deployVirtualMachine', deployParams())).status).toBe(535);
      } finally {
        await h.admin.payload('updateConfiguration', { name: 'max.account.user.vms', value: '20' });
      }
      expect((await client.call('deployVirtualMachine', deployParams())).status).toBe(200);
    });

    it('10 deploys at once with room for 3: exactly 3 pass, the others get 535', async () => {
      const { name, client } = await tenant();
      await setLimit(name, 0, 3);
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          client.call('deployVirtualMachine', deployParams({ name: `c-${i}` })),
        ),
      );
      const statuses = results.map((r) => r.status).sort();
      expect(statuses).toEqual([200, 200, 200, 535, 535, 535, 535, 535, 535, 535]);
      expect(itemsOf(await client.payload('listVirtualMachines'), 'virtualmachine')).toHaveLength(3);
      expect((await counts(name))['user_vm']).toBe(3);
    });

    it('a deploy whose disks cannot be created gives its reservation back', async () => {
      const { name, client } = await tenant();
      await setLimit(name, 0, 1);
      h.t.app.simulator.faults.add({ command: 'CreateVM', action: { kind: 'fail' }, count: 1 });
      const failed = await client.payload(
        'deployVirtualMachine',
        deployParams({ memory: 128, disksizes: '32,16' }),
      );
      expect((await client.waitForJob(failed['jobid'] as string))['jobstatus']).toBe(2);
      expect(await counts(name)).toEqual({ user_vm: 0, volume: 0, cpu: 0, memory: 0, primary_storage: 0 });
      const again = await client.payload(
        'deployVirtualMachine',
        deployParams({ memory: 128, disksizes: '32,16' }),
      );
      expect((await client.waitForJob(again['jobid'] as string))['jobstatus']).toBe(1);
      expect(await counts(name)).toEqual({
        user_vm: 1,
        volume: 2,
        cpu: 1,
        memory: 128,
        primary_storage: 48 * 1024 ** 2,
      });
    });
  });

  describe('updateResourceCount', () => {
    it('recalculates from the VM and volume rows, for one account or the whole domain', async () => {
      const { name, client } = await tenant();
      const deployed = await client.payload(
        'deployVirtualMachine',
        deployParams({ memory: 96, disksizes: '10,20' }),
      );
      await client.waitForJob(deployed['jobid'] as string);
      const payload = await h.admin.payload('updateResourceCount', {
        domainid: ROOT_DOMAIN_ID,
        account: name,
      });
      expect(payload['count']).toBe(5);
      expect(itemsOf(payload, 'resourcecount')).toEqual([
        {
          account: name,
          domainid: ROOT_DOMAIN_ID,
          domain: 'ROOT',
          resourcetype: '0',
          resourcetypename: 'user_vm',
          resourcecount: 1,
        },
        {
          account: name,
          domainid: ROOT_DOMAIN_ID,
          domain: 'ROOT',
          resourcetype: '2',
          resourcetypename: 'volume',
          resourcecount: 2,
        },
        {
          account: name,
          domainid: ROOT_DOMAIN_ID,
          domain: 'ROOT',
          resourcetype: '8',
          resourcetypename: 'cpu',
          resourcecount: 1,
        },
        {
          account: name,
          domainid: ROOT_DOMAIN_ID,
          domain: 'ROOT',
          resourcetype: '9',
          resourcetypename: 'memory',
          resourcecount: 96,
        },
        {
          account: name,
          domainid: ROOT_DOMAIN_ID,
          domain: 'ROOT',
          resourcetype: '10',
          resourcetypename: 'primary_storage',
          resourcecount: 30 * 1024 ** 2,
        },
      ]);
      // The seeded demo account: 4 VMs, 6 volumes, 9 vCPUs, 15 GiB of memory, 370 GiB of disks.
      expect(await counts('demo')).toEqual({
        user_vm: 4,
        volume: 6,
        cpu: 9,
        memory: 15360,
        primary_storage: 370 * GiB,
      });
      const domain = await h.admin.payload('updateResourceCount', {
        domainid: ROOT_DOMAIN_ID,
        resourcetype: 0,
      });
      const all = itemsOf(domain, 'resourcecount');
      expect(all).toHaveLength(1);
      expect(all[0]).not.toHaveProperty('account');
      expect(all[0]?.['resourcecount']).toBe((await h.t.app.deps.inventory.listVms()).length);
    });

    it('needs domainid, and is for admins only', async () => {
      errorOf(await h.admin.call('updateResourceCount', {}), 'updateResourceCount', 431);
      const { client } = await tenant();
      errorOf(
        await client.call('updateResourceCount', { domainid: ROOT_DOMAIN_ID }),
        'updateResourceCount',
        432,
      );
      errorOf(
        await client.call('updateResourceLimit', { domainid: ROOT_DOMAIN_ID, resourcetype: 0, max: 100 }),
        'updateResourceLimit',
        432,
      );
    });
  });

  describe('strict integer parsing', () => {
    const notIntegers = ['1e9', '0x10', ' 5', '5.0', '+5', '12abc', '99999999999999999999'];

    it('refuses memory and cpunumber that are not plain decimal integers, with 431', async () => {
      const { client } = await tenant();
      for (const bad of notIntegers) {
        for (const param of ['memory', 'cpunumber']) {
          const res = await client.call('deployVirtualMachine', deployParams({ [param]: bad }));
          expect(errorOf(res, 'deployVirtualMachine', 431).errortext, `${param}=${bad}`).toBe(
            `Unable to execute API command deployvirtualmachine due to invalid value ${bad} for parameter ${param}`,
          );
        }
      }
      expect(await client.payload('listVirtualMachines')).toEqual({});
    });

    it('refuses disksizes with any item that is not a plain positive decimal integer', async () => {
      const { client } = await tenant();
      for (const bad of [
        '1e9,0x10',
        '1024,0x10',
        '1e3',
        ' 5',
        '5.0',
        '1024, 2048',
        '1024,',
        '0',
        '-5',
        '99999999999999999999',
      ]) {
        const res = await client.call('deployVirtualMachine', deployParams({ disksizes: bad }));
        expect(errorOf(res, 'deployVirtualMachine', 431).errortext, bad).toBe(
          `Unable to execute API command deployvirtualmachine due to invalid value ${bad} for parameter disksizes`,
        );
      }
      expect(await client.payload('listVirtualMachines')).toEqual({});
    });

    it('bounds a single VM even for an admin: memory, vCPUs, disk count and size', async () => {
      const oversized: Params[] = [
        { memory: 16 },
        { memory: 1024 * 1024 + 1 },
        { cpunumber: 0 },
        { cpunumber: 257 },
        { disksizes: Array(17).fill('1').join(',') },
        { disksizes: String(64 * 1024 * 1024 + 1) },
      ];
      for (const params of oversized) {
        const res = await h.admin.call('deployVirtualMachine', deployParams(params));
        errorOf(res, 'deployVirtualMachine', 431);
      }
    });

    it('updateConfiguration stores an Integer or Long setting only as a plain in-range integer', async () => {
      for (const [name, bad] of [
        ['vmsnapshot.max', '1e3'],
        ['vmsnapshot.max', '0x10'],
        ['vmsnapshot.max', '2147483648'],
        ['vmsnapshot.max', ' 5'],
        ['max.account.memory', '99999999999999999999'],
        ['max.account.memory', '+5'],
      ] as const) {
        const res = await h.admin.call('updateConfiguration', { name, value: bad });
        expect(errorOf(res, 'updateConfiguration', 431).errortext).toBe(
          `Configuration ${name} must be a number, got ${bad}`,
        );
      }
      const ok = await h.admin.payload('updateConfiguration', { name: 'max.account.memory', value: '40960' });
      expect(ok['configuration']).toEqual(
        expect.objectContaining({ name: 'max.account.memory', value: '40960' }),
      );
    });
  });
});
