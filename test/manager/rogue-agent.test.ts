/**
 * Issue 9, item 7: a rogue host agent cannot take over other hosts' VMs or pools. A fake KVM agent
 * is added to the simulator zone and reports the demo account's VMs (by instance name, by uuid)
 * and the zone's shared pool as its own: nothing of theirs changes, each claim is an ERROR
 * HOST.ALERT event for the admins (once, not every heartbeat), and the tenant's next snapshot
 * command still goes to the VM's real host.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { itemsOf, startApiServer, type ApiHarness } from '../helpers/api-server.ts';
import { reportedVm, startFakeAgent, type FakeAgent } from '../helpers/fake-agent.ts';
import type { StoredVm } from '../../src/store/inventory-store.ts';

describe('a rogue agent reporting other hosts’ VMs and pools', () => {
  let h: ApiHarness;
  let fake: FakeAgent;
  let fakeHostId: string;
  const before: Record<string, StoredVm> = {};

  async function vm(name: string): Promise<StoredVm> {
    return h.t.vm(name);
  }

  async function alerts(): Promise<Record<string, unknown>[]> {
    const page = await h.admin.payload('listEvents', { type: 'HOST.ALERT', listall: true });
    return itemsOf(page, 'event');
  }

  beforeAll(async () => {
    h = await startApiServer();
    for (const name of ['app-1', 'web-1', 'db-1', 'batch-1']) before[name] = await vm(name);
    fake = await startFakeAgent();
    fake.inventory.pools.push(
      { name: 'own', path: '/var/lib/vmsnap/pool', capacityBytes: 1024 ** 4, usedBytes: 0 },
      // The simulator zone's shared pool: not the fake host's to claim.
      { name: 'grab', path: '/sim/sim-primary-1', capacityBytes: 1024 ** 4, usedBytes: 0 },
    );
    fake.inventory.vms.push(
      // app-1 is Stopped on sim-host-1, web-1 Running there: the fake claims the opposite.
      reportedVm(before['app-1']!.instanceName, 'PowerOn'),
      reportedVm(before['web-1']!.instanceName, 'PowerOff'),
      // A VM of its own is still imported.
      reportedVm('rogue-own-1', 'PowerOff'),
    );
  });

  afterAll(async () => {
    await h?.close();
    await fake?.close();
  });

  it('addHost: owned VMs keep their state and host, the shared pool is not adopted, each claim is alerted', async () => {
    const added = await h.admin.payload('addHost', {
      zoneid: h.t.seeded.zoneId,
      hypervisor: 'KVM',
      url: fake.url,
      password: 'fake-token-xxxxxxxx',
    });
    fakeHostId = String(itemsOf(added, 'host')[0]?.['id']);

    for (const name of ['app-1', 'web-1']) {
      const now = await vm(name);
      expect(now, name).toMatchObject({
        state: before[name]!.state,
        hostId: before[name]!.hostId,
        lastHostId: before[name]!.lastHostId,
      });
    }
    const pools = await h.t.app.deps.inventory.listPools();
    expect(pools.filter((p) => p.hostId === fakeHostId).map((p) => p.path)).toEqual(['/var/lib/vmsnap/pool']);
    expect((await vm('rogue-own-1')).lastHostId).toBe(fakeHostId);

    const seen = await alerts();
    expect(seen).toHaveLength(3);
    for (const e of seen)
      expect(e).toMatchObject({ level: 'ERROR', resourcetype: 'Host', resourceid: fakeHostId });
    const text = seen.map((e) => String(e['description'])).join('\n');
    expect(text).toContain(before['app-1']!.instanceName);
    expect(text).toContain(before['web-1']!.instanceName);
    expect(text).toContain('/sim/sim-primary-1');
    // The tenant does not see the admins' alerts.
    const demoSees = itemsOf(await h.demo.payload('listEvents', { type: 'HOST.ALERT' }), 'event');
    expect(demoSees).toEqual([]);
  });

  it('the tenant’s next snapshots go to the VMs’ own hosts, never to the rogue', async () => {
    for (const name of ['app-1', 'web-1']) {
      const created = await h.demo.payload('createVMSnapshot', { virtualmachineid: before[name]!.id });
      const job = await h.demo.waitForJob(String(created['jobid']));
      expect(job['jobstatus'], name).toBe(1);
    }
    expect(fake.kinds().filter((k) => k !== 'Ping' && k !== 'GetInventory')).toEqual([]);
  });

  it('heartbeat: a claim by name or by uuid changes nothing, is alerted once, and repeats are not re-alerted', async () => {
    fake.inventory.vms.push(
      reportedVm(before['batch-1']!.instanceName, 'PowerOn'),
      reportedVm('rogue-uuid-1', 'PowerOn', before['db-1']!.id),
    );
    const beats = fake.kinds().length;
    await h.t.app.heartbeat();
    expect(fake.kinds().length).toBeGreaterThan(beats);
    await h.t.app.heartbeat();

    for (const name of ['batch-1', 'db-1', 'app-1', 'web-1']) {
      const now = await vm(name);
      expect(now, name).toMatchObject({
        state: before[name]!.state,
        hostId: before[name]!.hostId,
        lastHostId: before[name]!.lastHostId,
        displayName: name,
      });
    }
    const vms = await h.t.app.deps.inventory.listVms();
    expect(vms.find((v) => v.instanceName === 'rogue-uuid-1')).toBeUndefined();
    const seen = await alerts();
    // Three from addHost, two new ones; two heartbeats did not repeat any.
    expect(seen).toHaveLength(5);
    const text = seen.map((e) => String(e['description'])).join('\n');
    expect(text).toContain(before['batch-1']!.instanceName);
    expect(text).toContain(`uuid ${before['db-1']!.id}`);
  });

  it('the host’s own VMs are still followed: a power change it reports is applied', async () => {
    const own = fake.inventory.vms.find((v) => v.name === 'rogue-own-1')!;
    fake.inventory.vms.splice(fake.inventory.vms.indexOf(own), 1, { ...own, powerState: 'PowerOn' });
    await h.t.app.heartbeat();
    expect(await vm('rogue-own-1')).toMatchObject({ state: 'Running', hostId: fakeHostId });
  });
});
