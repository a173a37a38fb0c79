/**
 * Account isolation over HTTP: user A (the seeded `demo` account) against every command that can
 * touch user B's objects (a second account with its own VMs, snapshot, job, tag and keys). Each call
 * is refused with the 431 a missing object gets (never CloudStack's 531, which would confirm that the
 * object exists: see existence-oracle.test.ts) or answers as if B's objects did not exist; no answer
 * ever shows one of B's ids or keys that the request did not itself name, and nothing of B's changes.
 * An admin sees everything with listall=true.
 */
import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../../src/api/commands/index.ts';
import type { ApiResponse } from '../helpers/api-client.ts';
import { bodyOf, itemsOf } from '../helpers/api-server.ts';
import { useSecondTenant } from '../helpers/second-tenant.ts';

type Params = Record<string, string | number | boolean>;

/** What CloudStack answers a user who reaches for someone else's object. */
type Expected = 'refused' | 'empty' | ((res: ApiResponse) => void);

describe('account isolation: user A against user B objects', () => {
  const env = useSecondTenant();

  /** B's state as the admin sees it: VM states, snapshots, tags. Must not change under A's attempts. */
  async function bState(): Promise<unknown> {
    const vms = itemsOf(
      await env.h.admin.payload('listVirtualMachines', { account: 'bob' }),
      'virtualmachine',
    );
    const snaps = itemsOf(await env.h.admin.payload('listVMSnapshot', { account: 'bob' }), 'vmSnapshot');
    const tags = itemsOf(await env.h.admin.payload('listTags', { account: 'bob' }), 'tag');
    const policies = itemsOf(
      await env.h.admin.payload('listVMSnapshotPolicies', { account: 'bob' }),
      'vmsnapshotpolicy',
    );
    return {
      policies: policies.map((p) => [p['id'], p['maxsnaps'], p['cron']]),
      vms: vms.map((v) => [v['id'], v['state']]),
      snaps: snaps.map((s) => [s['id'], s['state'], s['current'], s['tags']]),
      tags: tags.map((t) => [t['key'], t['value'], t['resourceid']]),
    };
  }

  const matrix = (): [string, Params, Expected][] => {
    const rows: [string, Params, Expected | 'empty-or-own'][] = [
      ['listVirtualMachines', { id: env.b.runningVm }, 'empty'],
      ['listVirtualMachines', { ids: `${env.b.runningVm},${env.b.stoppedVm}` }, 'empty'],
      [
        'listVirtualMachines',
        { listall: true },
        (res) => expect(names(res, 'virtualmachine')).not.toContain('bob-web'),
      ],
      ['listVirtualMachines', { account: 'bob' }, 'refused'],
      ['deployVirtualMachine', { zoneid: env.h.t.seeded.zoneId, account: 'bob' }, 'refused'],
      ['deployVirtualMachine', { zoneid: env.h.t.seeded.zoneId, hostid: env.b.runningHost }, 'refused'],
      ['startVirtualMachine', { id: env.b.stoppedVm }, 'refused'],
      ['stopVirtualMachine', { id: env.b.runningVm }, 'refused'],
      ['stopVirtualMachine', { id: env.b.runningVm, forced: true }, 'refused'],
      ['listVolumes', { virtualmachineid: env.b.stoppedVm }, 'empty'],
      ['listVolumes', { listall: true }, (res) => expect(res.text).not.toContain('bob-')],
      ['createVMSnapshot', { virtualmachineid: env.b.runningVm, snapshotmemory: true }, 'refused'],
      ['createVMSnapshot', { virtualmachineid: env.b.stoppedVm }, 'refused'],
      ['listVMSnapshot', { vmsnapshotid: env.b.snapshotId }, 'empty'],
      ['listVMSnapshot', { vmsnapshotids: env.b.snapshotId }, 'empty'],
      ['listVMSnapshot', { virtualmachineid: env.b.runningVm }, 'empty'],
      [
        'listVMSnapshot',
        { listall: true },
        (res) => expect(names(res, 'vmSnapshot')).not.toContain('bob-snap'),
      ],
      ['listVMSnapshot', { account: 'bob' }, 'refused'],
      ['listVMSnapshot', { 'tags[0].key': 'owner', 'tags[0].value': 'bob' }, 'empty'],
      ['revertToVMSnapshot', { vmsnapshotid: env.b.snapshotId }, 'refused'],
      ['deleteVMSnapshot', { vmsnapshotid: env.b.snapshotId }, 'refused'],
      ['queryAsyncJobResult', { jobid: env.b.jobId }, 'refused'],
      ['listAsyncJobs', {}, 'empty-or-own'],
      ['listAsyncJobs', { listall: true }, 'empty-or-own'],
      ['listEvents', {}, 'empty-or-own'],
      ['listEvents', { listall: true }, 'empty-or-own'],
      ['listEvents', { account: 'bob' }, 'refused'],
      [
        'createTags',
        {
          resourcetype: 'VMSnapshot',
          resourceids: env.b.snapshotId,
          'tags[0].key': 'x',
          'tags[0].value': 'y',
        },
        'refused',
      ],
      [
        'createTags',
        { resourcetype: 'UserVm', resourceids: env.b.runningVm, 'tags[0].key': 'x', 'tags[0].value': 'y' },
        'refused',
      ],
      ['deleteTags', { resourcetype: 'VMSnapshot', resourceids: env.b.snapshotId }, 'refused'],
      [
        'deleteTags',
        { resourcetype: 'VMSnapshot', resourceids: env.b.snapshotId, 'tags[0].key': 'owner' },
        'refused',
      ],
      ['listTags', {}, 'empty-or-own'],
      ['listTags', { listall: true, resourceid: env.b.snapshotId }, 'empty'],
      ['listTags', { key: 'owner' }, 'empty'],
      ['registerUserKeys', { id: env.b.userId }, 'refused'],
      ['updateUser', { id: env.b.userId, password: 'taken-over-secret' }, 'refused'],
      ['listResourceLimits', {}, 'empty-or-own'],
      ['listResourceLimits', { account: 'bob' }, 'refused'],
      ['listAccounts', {}, (res) => expect(names(res, 'account')).toEqual(['demo'])],
      ['listAccounts', { listall: true }, (res) => expect(names(res, 'account')).toEqual(['demo'])],
      ['listAccounts', { id: env.b.accountId }, 'empty'],
      ['listAccounts', { name: 'bob' }, 'empty'],
      // Issue 13: VM snapshot policies.
      [
        'createVMSnapshotPolicy',
        {
          virtualmachineid: env.b.runningVm,
          intervaltype: 'HOURLY',
          schedule: '0',
          timezone: 'UTC',
          maxsnaps: 1,
        },
        'refused',
      ],
      ['updateVMSnapshotPolicy', { id: env.b.policyId, maxsnaps: 1 }, 'refused'],
      ['deleteVMSnapshotPolicies', { id: env.b.policyId }, 'refused'],
      ['deleteVMSnapshotPolicies', { ids: env.b.policyId, deletesnapshots: true }, 'refused'],
      ['listVMSnapshotPolicies', { id: env.b.policyId }, 'empty'],
      ['listVMSnapshotPolicies', { virtualmachineid: env.b.runningVm }, 'empty'],
      ['listVMSnapshotPolicies', { listall: true }, 'empty-or-own'],
      ['listVMSnapshotPolicies', { account: 'bob' }, 'refused'],
      ['previewVMSnapshotPolicyRetention', { id: env.b.policyId }, 'refused'],
      ['previewVMSnapshotPolicyRetention', { virtualmachineid: env.b.runningVm, maxsnaps: 1 }, 'refused'],
      ['listVMSnapshot', { vmsnapshotpolicyid: env.b.policyId }, 'empty'],
      [
        'createTags',
        {
          resourcetype: 'VMSnapshotPolicy',
          resourceids: env.b.policyId,
          'tags[0].key': 'x',
          'tags[0].value': 'y',
        },
        'refused',
      ],
    ];
    return rows.map(([c, p, e]) => [c, p, e === 'empty-or-own' ? noneOfB : e]);
  };

  const names = (res: ApiResponse, key: string): unknown[] =>
    itemsOf(bodyOf(res, key === 'vmSnapshot' ? 'listVMSnapshot' : listCommandOf(key)), key).map(
      (i) => i['name'] ?? i['displayname'],
    );
  const listCommandOf = (key: string): string =>
    ({ virtualmachine: 'listVirtualMachines', account: 'listAccounts' })[key] ?? key;
  /** A list that may hold A's own items but none of B's (checked by the leak scan). */
  const noneOfB: Expected = (res) => expect(res.status).toBe(200);

  /** B's identifiers that must never appear in an answer to A, unless A's request named them. */
  function leaks(res: ApiResponse, params: Params): string[] {
    const named = new Set(Object.values(params).flatMap((v) => String(v).split(',')));
    const secrets = [
      env.b.accountId,
      env.b.userId,
      env.b.apiKey,
      env.b.secretKey,
      env.b.runningVm,
      env.b.stoppedVm,
      env.b.snapshotId,
      env.b.jobId,
      env.b.policyId,
    ];
    return secrets.filter((s) => !named.has(s) && res.text.includes(s));
  }

  it('covers every user command that can reach another account', () => {
    const inMatrix = new Set(matrix().map(([c]) => c));
    // login and logout act on the request's own session only (test/api-session/).
    const noOwnedObjects = new Set(['listZones', 'listApis', 'login', 'logout']);
    for (const c of COMMANDS.filter((x) => x.admin !== true && !noOwnedObjects.has(x.name))) {
      expect(inMatrix.has(c.name), `${c.name} is missing from the isolation matrix`).toBe(true);
    }
  });

  it("user A's key is refused on, or blind to, every one of B's objects, and nothing of B's changes", async () => {
    const before = await bState();
    const outcomes: string[] = [];
    for (const [command, params, expected] of matrix()) {
      const res = await env.h.demo.call(command, params);
      const what = `${command} ${JSON.stringify(params)} -> ${res.status} ${res.text.slice(0, 300)}`;
      expect(leaks(res, params), what).toEqual([]);
      const body = bodyOf(res, command);
      if (expected === 'refused') {
        expect(res.status, what).toBe(431);
        expect(body['errorcode'], what).toBe(res.status);
        expect(body['errortext'], what).toEqual(expect.any(String));
      } else if (expected === 'empty') {
        expect(res.status, what).toBe(200);
        expect(body, what).toEqual({});
      } else {
        expected(res);
      }
      outcomes.push(`${command}:${res.status}`);
    }
    expect(outcomes.length).toBeGreaterThan(30);
    expect(await bState()).toEqual(before);
    // B's keys survived A's registerUserKeys attempt, and B still sees its own objects.
    const own = await env.b.client.payload('listVMSnapshot', {});
    expect(itemsOf(own, 'vmSnapshot').map((s) => s['id'])).toEqual([env.b.snapshotId]);
  });

  it("another account's object gets the not-found 431, not CloudStack's 531 permission error", async () => {
    const res = await env.h.demo.call('deleteVMSnapshot', { vmsnapshotid: env.b.snapshotId });
    expect(res.status).toBe(431);
    expect(bodyOf(res, 'deleteVMSnapshot')).toMatchObject({
      cserrorcode: 4350,
      errortext: `Unable to find the Instance Snapshot with id ${env.b.snapshotId}`,
    });
  });

  it('B in turn sees none of A’s objects', async () => {
    const vms = itemsOf(
      await env.b.client.payload('listVirtualMachines', { listall: true }),
      'virtualmachine',
    );
    expect(vms.map((v) => v['name']).sort()).toEqual(['bob-cold', 'bob-web']);
    expect(
      itemsOf(await env.b.client.payload('listAsyncJobs'), 'asyncjobs').every(
        (j) => j['accountid'] === env.b.accountId,
      ),
    ).toBe(true);
  });

  it('an admin sees every account’s objects with listall=true', async () => {
    const vms = itemsOf(
      await env.h.admin.payload('listVirtualMachines', { listall: true }),
      'virtualmachine',
    );
    expect(vms.map((v) => v['name'])).toEqual(
      expect.arrayContaining(['web-1', 'db-1', 'bob-web', 'bob-cold']),
    );
    const snaps = itemsOf(await env.h.admin.payload('listVMSnapshot', { listall: true }), 'vmSnapshot');
    expect(snaps.map((s) => s['id'])).toContain(env.b.snapshotId);
    const jobs = itemsOf(await env.h.admin.payload('listAsyncJobs', { listall: true }), 'asyncjobs');
    expect(jobs.map((j) => j['jobid'])).toContain(env.b.jobId);
    const job = await env.h.admin.payload('queryAsyncJobResult', { jobid: env.b.jobId });
    expect(job['jobstatus']).toBe(1);
    const accounts = itemsOf(await env.h.admin.payload('listAccounts', { listall: true }), 'account');
    expect(accounts.map((a) => a['name'])).toEqual(expect.arrayContaining(['admin', 'demo', 'bob']));
    const tags = itemsOf(await env.h.admin.payload('listTags', { listall: true }), 'tag');
    expect(tags.map((t) => t['resourceid'])).toContain(env.b.snapshotId);
    const events = itemsOf(await env.h.admin.payload('listEvents', { listall: true }), 'event');
    expect(events.map((e) => e['account'])).toContain('bob');
  });
});
