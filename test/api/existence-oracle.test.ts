/**
 * No existence oracle across tenants (issue 9, item 8): for every user command that takes an object
 * id (or an account name), user A's request on user B's object gets the byte-identical answer (status, code, text, in
 * JSON and XML) that the same request gets on an id that names nothing, apart from the id itself.
 * Before the fix, createVMSnapshot ran its name and state checks before the permission check, so A
 * learnt B's snapshot names ("already exists") and power state ("Can not Snapshot memory"), and
 * every other command answered 531 for a foreign object against 431 for a missing one.
 *
 * Refused requests never reach the job queue: no job is created for A while it probes B's objects.
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../../src/api/commands/index.ts';
import { itemsOf } from '../helpers/api-server.ts';
import { useSecondTenant, type SecondTenant } from '../helpers/second-tenant.ts';

type Params = Record<string, string | number | boolean>;

/** One request shape aimed at one of B's objects through one id parameter. */
interface Probe {
  readonly command: string;
  readonly param: string;
  readonly label: string;
  readonly target: (b: SecondTenant) => string;
  /** The request, given the probed id and the zone (public) that some commands require. */
  readonly params: (id: string, zoneId: string) => Params;
  /** A command that acts on the object must refuse; a list may answer an empty list. */
  readonly refuses: boolean;
}

const probe = (
  command: string,
  param: string,
  label: string,
  target: (b: SecondTenant) => string,
  extra: Params | ((zoneId: string) => Params) = {},
  refuses = !command.startsWith('list'),
): Probe => ({
  command,
  param,
  label,
  target,
  params: (id, zoneId) => ({ ...(typeof extra === 'function' ? extra(zoneId) : extra), [param]: id }),
  refuses,
});
const inZone = (zoneid: string): Params => ({ zoneid });

const running = (b: SecondTenant): string => b.runningVm;
const stopped = (b: SecondTenant): string => b.stoppedVm;
const snapshot = (b: SecondTenant): string => b.snapshotId;
const policy = (b: SecondTenant): string => b.policyId;
const accountName = (b: SecondTenant): string => b.accountName;
const tag = (type: string, key = 'x'): Params => ({
  resourcetype: type,
  'tags[0].key': key,
  'tags[0].value': 'y',
});

const PROBES: readonly Probe[] = [
  probe('createVMSnapshot', 'virtualmachineid', 'running VM, generated name', running),
  probe('createVMSnapshot', 'virtualmachineid', 'running VM, taken name', running, { name: 'bob-snap' }),
  probe('createVMSnapshot', 'virtualmachineid', 'running VM, free name', running, { name: 'free-name' }),
  probe('createVMSnapshot', 'virtualmachineid', 'running VM with memory', running, { snapshotmemory: true }),
  probe('createVMSnapshot', 'virtualmachineid', 'stopped VM with memory', stopped, { snapshotmemory: true }),
  probe('createVMSnapshot', 'virtualmachineid', 'stopped VM, quiesced', stopped, { quiescevm: true }),
  probe('revertToVMSnapshot', 'vmsnapshotid', 'memory snapshot of a running VM', snapshot),
  probe('deleteVMSnapshot', 'vmsnapshotid', 'Ready snapshot', snapshot),
  probe('listVMSnapshot', 'vmsnapshotid', 'by id', snapshot),
  probe('listVMSnapshot', 'vmsnapshotid', 'by id, listall', snapshot, { listall: true }),
  probe('listVMSnapshot', 'vmsnapshotids', 'by ids', snapshot),
  probe('listVMSnapshot', 'virtualmachineid', 'by VM', running),
  probe('startVirtualMachine', 'id', 'stopped VM', stopped),
  probe('startVirtualMachine', 'id', 'running VM', running),
  probe('stopVirtualMachine', 'id', 'running VM', running),
  probe('stopVirtualMachine', 'id', 'running VM, forced', running, { forced: true }),
  probe('stopVirtualMachine', 'id', 'stopped VM', stopped),
  probe('listVirtualMachines', 'id', 'by id', running),
  probe('listVirtualMachines', 'ids', 'by ids', stopped),
  probe('listVirtualMachines', 'hostid', "by B's host", (b) => b.runningHost),
  probe('listVolumes', 'id', 'ROOT volume', (b) => b.stoppedVolumes[0]!),
  probe('listVolumes', 'virtualmachineid', 'by VM', stopped),
  probe('createTags', 'resourceids', 'VMSnapshot', snapshot, tag('VMSnapshot')),
  probe('createTags', 'resourceids', 'VMSnapshot, key already set', snapshot, tag('VMSnapshot', 'owner')),
  probe('createTags', 'resourceids', 'UserVm', running, tag('UserVm')),
  probe('createTags', 'resourceids', 'Volume', (b) => b.stoppedVolumes[1]!, tag('Volume')),
  probe('deleteTags', 'resourceids', 'VMSnapshot, all tags', snapshot, { resourcetype: 'VMSnapshot' }),
  probe('deleteTags', 'resourceids', 'VMSnapshot by key', snapshot, {
    resourcetype: 'VMSnapshot',
    'tags[0].key': 'owner',
  }),
  probe('deleteTags', 'resourceids', 'UserVm', running, { resourcetype: 'UserVm' }),
  probe('listTags', 'resourceid', 'tagged snapshot', snapshot),
  probe('listTags', 'resourceid', 'tagged snapshot, listall', snapshot, { listall: true }),
  probe('queryAsyncJobResult', 'jobid', 'finished snapshot job', (b) => b.jobId),
  probe('listEvents', 'id', "one of B's events", (b) => b.eventId),
  probe('listAccounts', 'id', "B's account", (b) => b.accountId),
  probe('registerUserKeys', 'id', "B's user", (b) => b.userId),
  probe('updateUser', 'id', "B's user, new password", (b) => b.userId, { password: 'taken-over-secret' }),
  probe('deployVirtualMachine', 'hostid', "B's VM's host", (b) => b.runningHost, inZone),
  // Issue 13: VM snapshot policies.
  probe('createVMSnapshotPolicy', 'virtualmachineid', 'running VM', running, {
    intervaltype: 'HOURLY',
    schedule: '0',
    timezone: 'UTC',
    maxsnaps: 1,
  }),
  probe('updateVMSnapshotPolicy', 'id', "B's policy", policy, { maxsnaps: 1 }),
  probe('deleteVMSnapshotPolicies', 'id', "B's policy", policy),
  probe('deleteVMSnapshotPolicies', 'ids', "B's policy, with its snapshots", policy, {
    deletesnapshots: true,
  }),
  probe('listVMSnapshotPolicies', 'id', "B's policy", policy),
  probe('listVMSnapshotPolicies', 'virtualmachineid', 'by VM', running),
  probe('previewVMSnapshotPolicyRetention', 'id', "B's policy", policy, {}, true),
  probe('previewVMSnapshotPolicyRetention', 'virtualmachineid', 'running VM', running, { maxsnaps: 1 }, true),
  probe('listVMSnapshot', 'vmsnapshotpolicyid', "B's policy's snapshots", policy),
  ...[
    'listVirtualMachines',
    'listVMSnapshot',
    'listVolumes',
    'listAsyncJobs',
    'listEvents',
    'listTags',
    'listResourceLimits',
    'listVMSnapshotPolicies',
  ].map((c) => probe(c, 'account', "B's account name", accountName, {}, true)),
  probe('listAccounts', 'account', "B's account name", accountName),
  probe('listAccounts', 'name', "B's account name", accountName),
  probe('deployVirtualMachine', 'account', "B's account name", accountName, inZone),
];

/** Ids of public objects, owned by no tenant: catalogue entries, and the one domain (in every answer). */
const PUBLIC_ID_PARAMS = new Set(['zoneid', 'serviceofferingid', 'templateid', 'domainid']);
/**
 * Ids of infrastructure that no tenant owns and that only an admin may name: a user is refused the
 * parameter whatever the id, before it is looked up (deployVirtualMachine storageid).
 */
const ADMIN_ONLY_INFRA_PARAMS = new Set(['deployVirtualMachine.storageid']);
/** Parameters whose value is a list of resource ids although typed as a string. */
const RESOURCE_ID_STRINGS = new Set(['resourceids', 'resourceid']);

describe('a foreign object answers exactly like a missing one', () => {
  const env = useSecondTenant();

  /** A's answer, with the probed id replaced, so two answers compare byte for byte. */
  async function answer(p: Probe, id: string, format: 'json' | 'xml' = 'json'): Promise<string> {
    const res = await env.h.demo.call(p.command, p.params(id, env.h.t.seeded.zoneId), { format });
    return `${res.status} ${res.text.split(id).join('<id>')}`;
  }

  /** Jobs recorded for A since `since`: refused requests must not have queued any. */
  async function jobsOfASince(since: number): Promise<string[]> {
    const rows = await env.h.t.app.deps.db
      .selectFrom('async_jobs')
      .select(['id', 'cmd'])
      .where('account_id', '=', env.h.t.demo.accountId)
      .where('created', '>=', since)
      .execute();
    return rows.map((r) => `${r.cmd} ${r.id}`);
  }

  /** B's objects as the admin sees them. */
  async function bState(): Promise<unknown> {
    const list = async (command: string, key: string): Promise<unknown[]> =>
      itemsOf(await env.h.admin.payload(command, { account: 'bob' }), key).map((i) => [
        i['id'] ?? i['key'],
        i['state'] ?? i['value'],
        i['name'] ?? i['resourceid'],
      ]);
    return {
      vms: await list('listVirtualMachines', 'virtualmachine'),
      snapshots: await list('listVMSnapshot', 'vmSnapshot'),
      tags: await list('listTags', 'tag'),
      keys: (await env.h.admin.payload('listAccounts', { name: 'bob' }))['account'],
    };
  }

  it('probes every id (and account name) parameter of every user command', () => {
    const probed = new Set(PROBES.map((p) => `${p.command}.${p.param}`));
    const missing: string[] = [];
    for (const c of COMMANDS.filter((x) => x.admin !== true && x.name !== 'listZones')) {
      for (const [name, spec] of Object.entries(c.params)) {
        const takesId =
          spec.type === 'uuid' || spec.type === 'list' || RESOURCE_ID_STRINGS.has(name) || name === 'account';
        const key = `${c.name}.${name}`;
        if (takesId && !PUBLIC_ID_PARAMS.has(name) && !ADMIN_ONLY_INFRA_PARAMS.has(key) && !probed.has(key)) {
          missing.push(key);
        }
      }
    }
    expect(missing).toEqual([]);
  });

  it.each(PROBES.map((p) => [`${p.command} ${p.param} (${p.label})`, p] as const))('%s', async (_, p) => {
    const since = Date.now();
    const before = await bState();
    const foreign = await answer(p, p.target(env.b));
    const absent = await answer(p, randomUUID());
    expect(foreign).toBe(absent);
    if (p.refuses) expect(foreign).toMatch(/^431 /);
    else expect(foreign).toMatch(/^200 /);
    expect(await jobsOfASince(since)).toEqual([]);
    expect(await bState()).toEqual(before);
  });

  it('holds for any missing id, in JSON and XML (property)', async () => {
    const since = Date.now();
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...PROBES),
        fc.uuid(),
        fc.constantFrom('json' as const, 'xml' as const),
        async (p, absentId, format) => {
          const target = p.target(env.b);
          fc.pre(absentId !== target);
          expect(await answer(p, target, format)).toBe(await answer(p, absentId, format));
        },
      ),
      { numRuns: 60 },
    );
    expect(await jobsOfASince(since)).toEqual([]);
  });

  it("B's own requests still reach B's objects (the probes aim at real objects)", async () => {
    const own = await env.b.client.call('createVMSnapshot', {
      virtualmachineid: env.b.runningVm,
      name: 'bob-snap',
    });
    expect(own.status).toBe(431);
    expect(own.text).toContain('Instance Snapshot with namebob-snap  already exists');
    const memory = await env.b.client.call('createVMSnapshot', {
      virtualmachineid: env.b.stoppedVm,
      snapshotmemory: true,
    });
    expect(memory.text).toContain('Can not Snapshot memory when the Instance is not in Running state');
  });
});
