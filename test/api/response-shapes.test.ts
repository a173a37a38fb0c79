/**
 * Every command's answer against the CloudStack shapes recorded in fixtures/ (written from the
 * reference, §4.5, §6.3–§6.5): envelope names, field types, list and async shapes, errors, XML,
 * pagination, keyword / listall / tags filters, GET and POST.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMANDS } from '../../src/api/commands/index.ts';
import { signRequest } from '../../src/api/protocol/index.ts';
import { AccountStore, ROOT_DOMAIN_ID } from '../../src/store/account-store.ts';
import { TestApiClient } from '../helpers/api-client.ts';
import { bodyOf, errorOf, itemsOf, rawCall, startApiServer, type ApiHarness } from '../helpers/api-server.ts';
import { shapeProblems, type Shapes } from '../helpers/shape-check.ts';
import { SessionApiClient } from '../api-session/session-api-client.ts';

interface CommandFixture {
  kind: 'list' | 'object' | 'wrapped' | 'async' | 'async-create';
  objectName?: string;
  item?: string;
  shape?: string;
  admin?: boolean;
  jobResult?: { objectName?: string; shape: string };
}

const fixture = (name: string): unknown =>
  JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8'));
const shapes = fixture('shapes.json') as Shapes;
const commandFixtures = fixture('commands.json') as Record<string, CommandFixture>;

type Params = Record<string, string | number | boolean>;

describe('API response shapes (recorded CloudStack fixtures)', () => {
  let h: ApiHarness;
  let keysUser: TestApiClient;
  let keysUserId: string;
  const vm: Record<string, string> = {};
  let memorySnap: { id: string; jobid: string };
  let diskSnap: { id: string; jobid: string };

  const expectShape = (value: unknown, shape: string): void =>
    expect(shapeProblems(value, shape, shapes)).toEqual([]);

  async function snapshot(client: TestApiClient, params: Params): Promise<{ id: string; jobid: string }> {
    const created = await client.payload('createVMSnapshot', params);
    const job = await client.waitForJob(created['jobid'] as string);
    expect(job['jobstatus']).toBe(1);
    return { id: created['id'] as string, jobid: created['jobid'] as string };
  }

  /** A VM snapshot policy's creation parameters (a schedule that does not fire during the test). */
  const policyParams = (): Params => ({
    virtualmachineid: vm['app-1']!,
    intervaltype: 'MONTHLY',
    schedule: '00:03:28',
    timezone: 'Europe/Berlin',
    maxsnaps: 2,
  });

  /** A new VM snapshot policy, for the commands that change one. */
  async function shapePolicy(): Promise<string> {
    const created = await h.demo.payload('createVMSnapshotPolicy', policyParams());
    return (created['vmsnapshotpolicy'] as Record<string, unknown>)['id'] as string;
  }

  /** A new file pool, for the commands that change one. */
  async function shapePool(name: string): Promise<string> {
    const created = await h.admin.payload('createStoragePool', {
      zoneid: h.t.seeded.zoneId,
      name,
      url: `file:///srv/${name}`,
    });
    return (created['storagepool'] as Record<string, unknown>)['id'] as string;
  }

  beforeAll(async () => {
    h = await startApiServer();
    const vms = itemsOf(await h.demo.payload('listVirtualMachines'), 'virtualmachine');
    for (const v of vms) vm[v['name'] as string] = v['id'] as string;
    memorySnap = await snapshot(h.demo, {
      virtualmachineid: vm['web-1']!,
      snapshotmemory: true,
      description: 'shape memory',
    });
    diskSnap = await snapshot(h.demo, { virtualmachineid: vm['app-1']!, name: 'shape-disk' });
    await h.demo.waitForJob(
      (
        await h.demo.payload('createTags', {
          resourcetype: 'VMSnapshot',
          resourceids: memorySnap.id,
          'tags[0].key': 'env',
          'tags[0].value': 'prod',
        })
      )['jobid'] as string,
    );
    const other = await new AccountStore(h.t.app.deps.db).createAccount('keys-user', 'user');
    keysUser = new TestApiClient(h.url, other.apiKey, other.secretKey);
    keysUserId = other.user.id;
  });
  afterAll(async () => {
    await h.close();
  });

  /** How each command is exercised for its shape check: who calls, with what. */
  const scenarios: Record<string, () => Promise<{ client: TestApiClient; params: Params; error?: true }>> = {
    createVMSnapshot: async () => ({
      client: h.demo,
      params: { virtualmachineid: vm['db-1']!, snapshotmemory: true },
    }),
    listVMSnapshot: async () => ({ client: h.demo, params: { virtualmachineid: vm['web-1']! } }),
    revertToVMSnapshot: async () => ({ client: h.demo, params: { vmsnapshotid: memorySnap.id } }),
    deleteVMSnapshot: async () => ({ client: h.demo, params: { vmsnapshotid: diskSnap.id } }),
    // Issue 13: VM snapshot policies.
    createVMSnapshotPolicy: async () => ({
      client: h.demo,
      params: { ...policyParams(), 'tags[0].key': 'env', 'tags[0].value': 'prod' },
    }),
    updateVMSnapshotPolicy: async () => ({
      client: h.demo,
      params: { id: await shapePolicy(), cron: '15 3 * * *', keepdaily: 7 },
    }),
    listVMSnapshotPolicies: async () => {
      await shapePolicy();
      return { client: h.demo, params: {} };
    },
    deleteVMSnapshotPolicies: async () => ({ client: h.demo, params: { id: await shapePolicy() } }),
    previewVMSnapshotPolicyRetention: async () => ({
      client: h.demo,
      params: { ...policyParams(), virtualmachineid: vm['web-1']! },
    }),
    queryAsyncJobResult: async () => ({ client: h.demo, params: { jobid: memorySnap.jobid } }),
    listAsyncJobs: async () => ({ client: h.demo, params: {} }),
    listZones: async () => ({ client: h.demo, params: {} }),
    listVirtualMachines: async () => ({ client: h.demo, params: {} }),
    // A user account of its own, so the seeded accounts' VM counts stay as the other tests expect.
    deployVirtualMachine: async () => ({
      client: keysUser,
      params: { zoneid: h.t.seeded.zoneId, name: 'deployed-1', memory: 512, disksizes: '1024,2048' },
    }),
    startVirtualMachine: async () => ({ client: h.demo, params: { id: vm['batch-1']! } }),
    stopVirtualMachine: async () => ({ client: h.demo, params: { id: vm['db-1']! } }),
    listVolumes: async () => ({ client: h.demo, params: { virtualmachineid: vm['db-1']! } }),
    listHosts: async () => ({ client: h.admin, params: {} }),
    // A real KVM agent is out of reach here: only the error path (unreachable agent) is checked.
    addHost: async () => ({
      client: h.admin,
      params: { zoneid: h.t.seeded.zoneId, hypervisor: 'KVM', url: 'http://127.0.0.1:9', password: 'x' },
      error: true,
    }),
    listStoragePools: async () => ({ client: h.admin, params: {} }),
    listStorageProviders: async () => ({ client: h.admin, params: { type: 'primary' } }),
    createStoragePool: async () => ({
      client: h.admin,
      params: {
        zoneid: h.t.seeded.zoneId,
        name: 'shape-pool-create',
        url: 'file:///srv/shape-pool',
        tags: 'ssd',
      },
    }),
    updateStoragePool: async () => ({
      client: h.admin,
      params: { id: await shapePool('shape-pool-update'), tags: 'gold', enabled: false },
    }),
    deleteStoragePool: async () => ({
      client: h.admin,
      params: { id: await shapePool('shape-pool-delete') },
    }),
    listEvents: async () => ({ client: h.demo, params: {} }),
    createTags: async () => ({
      client: h.demo,
      params: {
        resourcetype: 'VMSnapshot',
        resourceids: memorySnap.id,
        'tags[0].key': 'k1',
        'tags[0].value': 'v1',
      },
    }),
    deleteTags: async () => ({
      client: h.demo,
      params: { resourcetype: 'VMSnapshot', resourceids: memorySnap.id, 'tags[0].key': 'k1' },
    }),
    listTags: async () => ({ client: h.demo, params: { resourcetype: 'VMSnapshot' } }),
    listApis: async () => ({ client: h.demo, params: {} }),
    createAccount: async () => ({ client: h.admin, params: { username: 'shape-user', email: 'a@b.c' } }),
    listAccounts: async () => ({ client: h.demo, params: {} }),
    registerUserKeys: async () => ({ client: keysUser, params: { id: keysUserId } }),
    updateUser: async () => ({ client: h.admin, params: { id: keysUserId, password: 'shape-secret' } }),
    // Issue 14: as a browser calls them, a form POST without a signature, then within the session.
    login: async () => ({
      client: new SessionApiClient(h.url),
      params: { username: 'demo', password: h.t.seeded.passwords.demo.password },
    }),
    logout: async () => ({
      client: await SessionApiClient.loggedIn(h.url, 'demo', h.t.seeded.passwords.demo.password),
      params: {},
    }),
    listConfigurations: async () => ({ client: h.admin, params: { name: 'vmsnapshot' } }),
    listManagementServers: async () => ({ client: h.admin, params: {} }),
    updateConfiguration: async () => ({ client: h.admin, params: { name: 'vmsnapshot.max', value: '10' } }),
    listResourceLimits: async () => ({ client: h.demo, params: {} }),
    updateResourceLimit: async () => ({
      client: h.admin,
      params: { account: 'keys-user', domainid: ROOT_DOMAIN_ID, resourcetype: 0, max: 20 },
    }),
    updateResourceCount: async () => ({
      client: h.admin,
      params: { domainid: ROOT_DOMAIN_ID, account: 'demo' },
    }),
    configureSimulator: async () => ({
      client: h.admin,
      params: {
        name: 'CreateVMSnapshotCommand',
        value: 'wait:0',
        virtualmachineid: vm['batch-1']!,
        count: 1,
      },
    }),
  };

  it('has a recorded shape and a scenario for every command, with the right admin flag', () => {
    for (const c of COMMANDS) {
      expect(commandFixtures[c.name], c.name).toBeDefined();
      expect(scenarios[c.name], c.name).toBeDefined();
      expect(commandFixtures[c.name]?.admin === true, `${c.name} admin flag`).toBe(c.admin === true);
      const kind = commandFixtures[c.name]?.kind;
      expect(kind === 'async' || kind === 'async-create', `${c.name} async flag`).toBe(c.async === true);
    }
  });

  async function checkJobResult(
    client: TestApiClient,
    jobId: string,
    expected: NonNullable<CommandFixture['jobResult']>,
  ) {
    const job = await client.waitForJob(jobId);
    expectShape(job, 'asyncJob');
    expect(job['jobstatus'], JSON.stringify(job)).toBe(1);
    expect(job['jobresultcode']).toBe(0);
    const result = job['jobresult'];
    if (expected.objectName === undefined) expectShape(result, expected.shape);
    else {
      expect(Object.keys(result as object)).toContain(expected.objectName);
      expectShape((result as Record<string, unknown>)[expected.objectName], expected.shape);
    }
  }

  for (const command of COMMANDS.map((c) => c.name)) {
    it(`${command}: envelope ${command.toLowerCase()}response and the recorded shape`, async () => {
      const spec = commandFixtures[command]!;
      const { client, params, error } = await scenarios[command]!();
      const res = await client.call(command, params);
      expect(res.contentType).toBe('application/json; charset=UTF-8');
      expect(Object.keys(res.json)).toEqual([`${command.toLowerCase()}response`]);
      const body = bodyOf(res, command);
      if (error === true) {
        expect(res.status).toBeGreaterThanOrEqual(400);
        expect(body['errorcode']).toBe(res.status);
        expectShape(body, 'syncError');
        return;
      }
      expect(res.status, res.text).toBe(200);
      switch (spec.kind) {
        case 'list': {
          expect(body['count'], 'scenario should list something').toBeGreaterThan(0);
          const items = body[spec.objectName!] as unknown[];
          expect(Array.isArray(items)).toBe(true);
          expect(body['count']).toBeGreaterThanOrEqual(items.length);
          for (const item of items) expectShape(item, spec.item!);
          // Only count and the array: no other key, e.g. no stray `vmsnapshot` beside `vmSnapshot`.
          expect(Object.keys(body).sort()).toEqual(['count', spec.objectName!].sort());
          break;
        }
        case 'object':
          expectShape(body, spec.shape!);
          break;
        case 'wrapped':
          expect(Object.keys(body)).toEqual([spec.objectName]);
          expectShape(body[spec.objectName!], spec.shape!);
          break;
        case 'async':
          expectShape(body, 'asyncAccepted');
          await checkJobResult(client, body['jobid'] as string, spec.jobResult!);
          break;
        case 'async-create':
          expectShape(body, 'asyncCreateAccepted');
          await checkJobResult(client, body['jobid'] as string, spec.jobResult!);
          break;
        default: {
          const unreachable: never = spec.kind;
          throw new Error(`unknown kind ${String(unreachable)}`);
        }
      }
    });
  }

  describe('list payloads', () => {
    it('an empty list is exactly {}', async () => {
      expect(await h.demo.payload('listVMSnapshot', { virtualmachineid: vm['batch-1']! })).toEqual({});
      expect(await h.demo.payload('listTags', { key: 'no-such-key' })).toEqual({});
      expect(await h.admin.payload('listVirtualMachines')).toEqual({});
    });

    it('listVMSnapshot keys its array vmSnapshot (camelCase), newest first', async () => {
      const list = await h.demo.payload('listVMSnapshot', { listall: true });
      expect(Object.keys(list).sort()).toEqual(['count', 'vmSnapshot']);
      const created = itemsOf(list, 'vmSnapshot').map((s) => s['created'] as string);
      expect([...created].sort().reverse()).toEqual(created);
    });

    it('pages with page/pagesize; count is the total before paging', async () => {
      const all = await h.demo.payload('listVirtualMachines');
      expect(all['count']).toBe(4);
      const p1 = await h.demo.payload('listVirtualMachines', { page: 1, pagesize: 3 });
      const p2 = await h.demo.payload('listVirtualMachines', { page: 2, pagesize: 3 });
      expect(p1['count']).toBe(4);
      expect(p2['count']).toBe(4);
      const ids1 = itemsOf(p1, 'virtualmachine').map((v) => v['id']);
      const ids2 = itemsOf(p2, 'virtualmachine').map((v) => v['id']);
      expect(ids1).toHaveLength(3);
      expect(ids2).toHaveLength(1);
      expect(new Set([...ids1, ...ids2]).size).toBe(4);
      const unlimited = await h.demo.payload('listVirtualMachines', { pagesize: -1 });
      expect(itemsOf(unlimited, 'virtualmachine')).toHaveLength(4);
      // A page past the end still reports the total, with no items.
      expect(await h.demo.payload('listVirtualMachines', { page: 9, pagesize: 3 })).toEqual({ count: 4 });
    });

    it('refuses inconsistent paging with 431 and CloudStack messages', async () => {
      const cases: [Params, string][] = [
        [{ page: 1 }, '"pagesize" parameter is required when "page" is specified'],
        [{ pagesize: 2 }, '"page" parameter is required when "pagesize" is specified'],
        [{ page: 1, pagesize: -1 }, "Can't specify page parameter when pagesize is -1 (Unlimited)"],
        [{ page: 1, pagesize: 501 }, "Page size can't exceed max allowed page size value: 500"],
      ];
      for (const [params, text] of cases) {
        const res = await h.demo.call('listVirtualMachines', params);
        expect(errorOf(res, 'listVirtualMachines', 431).errortext).toBe(text);
      }
    });

    it('filters by keyword', async () => {
      const vms = itemsOf(await h.demo.payload('listVirtualMachines', { keyword: 'WEB' }), 'virtualmachine');
      expect(vms.map((v) => v['name'])).toEqual(['web-1']);
      const snaps = itemsOf(await h.demo.payload('listVMSnapshot', { keyword: 'shape mem' }), 'vmSnapshot');
      expect(snaps.map((s) => s['id'])).toEqual([memorySnap.id]);
    });

    it('listall: an admin sees only its own account unless listall=true', async () => {
      expect(await h.admin.payload('listVirtualMachines')).toEqual({});
      expect(await h.admin.payload('listVMSnapshot')).toEqual({});
      const all = itemsOf(await h.admin.payload('listVirtualMachines', { listall: true }), 'virtualmachine');
      const demoVms = all.filter((v) => v['account'] === 'demo').map((v) => v['name']);
      expect(demoVms.sort()).toEqual(['app-1', 'batch-1', 'db-1', 'web-1']);
      expect(all.some((v) => v['account'] === 'admin')).toBe(false);
      const snaps = itemsOf(await h.admin.payload('listVMSnapshot', { listall: true }), 'vmSnapshot');
      expect(snaps.map((s) => s['id'])).toContain(memorySnap.id);
    });

    it('filters listVMSnapshot by tags after createTags', async () => {
      const match = await h.demo.payload('listVMSnapshot', { 'tags[0].key': 'env', 'tags[0].value': 'prod' });
      expect(itemsOf(match, 'vmSnapshot').map((s) => s['id'])).toEqual([memorySnap.id]);
      const tags = itemsOf(match, 'vmSnapshot')[0]!['tags'] as Record<string, unknown>[];
      expect(tags).toContainEqual(
        expect.objectContaining({ key: 'env', value: 'prod', resourcetype: 'VMSnapshot' }),
      );
      expect(
        await h.demo.payload('listVMSnapshot', { 'tags[0].key': 'env', 'tags[0].value': 'dev' }),
      ).toEqual({});
    });
  });

  it('deleteTags takes a key alone (any value) or a key/value pair (that value only)', async () => {
    const tag = async (command: 'createTags' | 'deleteTags', pairs: Params) => {
      const res = await h.demo.call(command, {
        resourcetype: 'VMSnapshot',
        resourceids: memorySnap.id,
        ...pairs,
      });
      expect(res.status, res.text).toBe(200);
      await h.demo.waitForJob(bodyOf(res, command)['jobid'] as string);
    };
    const keys = async () =>
      itemsOf(await h.demo.payload('listTags', { resourceid: memorySnap.id }), 'tag').map((t) => t['key']);
    await tag('createTags', {
      'tags[0].key': 'a',
      'tags[0].value': '1',
      'tags[1].key': 'b',
      'tags[1].value': '2',
    });
    await tag('deleteTags', { 'tags[0].key': 'a', 'tags[0].value': 'other' });
    expect(await keys()).toContain('a');
    await tag('deleteTags', { 'tags[0].key': 'a', 'tags[0].value': '1' });
    expect(await keys()).not.toContain('a');
    await tag('deleteTags', { 'tags[0].key': 'b' });
    expect(await keys()).not.toContain('b');
  });

  describe('errors', () => {
    it('missing parameter: 431 with CloudStack text and the full error body', async () => {
      const res = await h.demo.call('createVMSnapshot', {});
      const { errortext, body } = errorOf(res, 'createVMSnapshot', 431);
      expect(errortext).toBe(
        'Unable to execute API command createvmsnapshot due to missing parameter virtualmachineid',
      );
      expectShape(body, 'syncError');
    });

    it('invalid uuid: 431', async () => {
      const res = await h.demo.call('createVMSnapshot', { virtualmachineid: 'not-a-uuid' });
      const { errortext, body } = errorOf(res, 'createVMSnapshot', 431);
      expect(errortext).toContain('Invalid parameter virtualmachineid value=not-a-uuid');
      expectShape(body, 'syncError');
      const unknown = await h.demo.call('revertToVMSnapshot', {
        vmsnapshotid: '00000000-0000-4000-8000-000000000000',
      });
      errorOf(unknown, 'revertToVMSnapshot', 431);
    });

    it('unknown command with a valid key: 401 and the signature-failure body', async () => {
      const res = await h.demo.call('frobnicateVMSnapshot', {});
      const { body } = errorOf(res, 'frobnicateVMSnapshot', 401);
      expectShape(body, 'authError');
    });

    it('admin command with a user key: 432', async () => {
      for (const command of COMMANDS.filter((c) => c.admin === true)) {
        const res = await h.demo.call(command.name, {});
        const { body } = errorOf(res, command.name, 432);
        expectShape(body, 'syncError');
      }
    });

    it('a deleted snapshot is refused synchronously with 431', async () => {
      const res = await h.demo.call('deleteVMSnapshot', { vmsnapshotid: diskSnap.id });
      errorOf(res, 'deleteVMSnapshot', 431);
    });
  });

  describe('formats and transports', () => {
    it('XML when response is absent, with the cloud-stack-version root attribute', async () => {
      const res = await h.demo.call('listZones', {}, { format: 'xml' });
      expect(res.status).toBe(200);
      expect(res.contentType).toMatch(/^text\/xml/);
      expect(res.text).toMatch(
        /^<\?xml version="1.0" encoding="UTF-8"\?><listzonesresponse cloud-stack-version="[^"]+">/,
      );
      expect(res.text).toContain('<count>1</count><zone><id>');
      expect(res.text.endsWith('</listzonesresponse>')).toBe(true);
    });

    it('XML errors keep status == errorcode', async () => {
      const res = await h.demo.call('createVMSnapshot', {}, { format: 'xml' });
      expect(res.status).toBe(431);
      expect(res.text).toContain('<createvmsnapshotresponse cloud-stack-version=');
      expect(res.text).toContain('<errorcode>431</errorcode>');
    });

    it('POST form bodies work, with parameters merged from the query and the body', async () => {
      const signed = signRequest(
        { command: 'listVirtualMachines', response: 'json', keyword: 'db' },
        h.t.seeded.demo.apiKey,
        h.t.seeded.demo.secretKey,
      );
      const pairs = signed.split('&');
      const query = pairs.filter((p) => p.startsWith('command=') || p.startsWith('response=')).join('&');
      const body = pairs.filter((p) => !p.startsWith('command=') && !p.startsWith('response=')).join('&');
      const res = await rawCall(h.url, query, { method: 'POST', body });
      expect(res.status, res.text).toBe(200);
      expect(itemsOf(bodyOf(res, 'listVirtualMachines'), 'virtualmachine').map((v) => v['name'])).toEqual([
        'db-1',
      ]);
      const get = await h.demo.call('listVirtualMachines', { keyword: 'db' }, { method: 'GET' });
      expect(get.json).toEqual(res.json);
    });

    it('tags[0].key / tags[0].value maps work over POST', async () => {
      const created = await h.demo.call(
        'createTags',
        {
          resourcetype: 'VMSnapshot',
          resourceids: memorySnap.id,
          'tags[0].key': 'team',
          'tags[0].value': 'blue green',
        },
        { method: 'POST' },
      );
      expect(created.status, created.text).toBe(200);
      await h.demo.waitForJob(bodyOf(created, 'createTags')['jobid'] as string);
      const tags = itemsOf(await h.demo.payload('listTags', { key: 'team' }), 'tag');
      expect(tags.map((t) => [t['key'], t['value'], t['resourceid']])).toEqual([
        ['team', 'blue green', memorySnap.id],
      ]);
    });

    it('listAsyncJobs shows a job result as queryAsyncJobResult does, tags included', async () => {
      const queried = await h.demo.payload('queryAsyncJobResult', { jobid: memorySnap.jobid });
      const result = queried['jobresult'] as { vmsnapshot: { tags: Array<Record<string, unknown>> } };
      expect(result.vmsnapshot.tags.map((t) => [t['key'], t['value']])).toContainEqual(['env', 'prod']);
      const listed = itemsOf(await h.demo.payload('listAsyncJobs'), 'asyncjobs').find(
        (j) => j['jobid'] === memorySnap.jobid,
      );
      expect(listed?.['jobresult']).toEqual(queried['jobresult']);
    });
  });
});
