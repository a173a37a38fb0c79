/**
 * Where deployVirtualMachine puts a VM (issue 10, item 8): in a zone that mixes simulator hosts and
 * a real KVM host, `hypervisor=KVM` picks the KVM host (CloudStack's deployVirtualMachine parameter);
 * without it, the oldest Up host of the zone, as before. The choice itself, then the parameter
 * through the API.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostInfo, HostStatus, HypervisorType } from '../../src/core/plugin-api.ts';
import { pickDeployHost } from '../../src/manager/host-picker.ts';
import { errorOf, itemsOf, startApiServer, type ApiHarness } from '../helpers/api-server.ts';

function host(id: string, hypervisor: HypervisorType, status: HostStatus = 'Up', zoneId = 'z1'): HostInfo {
  return { id, name: `host-${id}`, zoneId, hypervisor, status };
}

// Store order: the seeded simulator hosts first, the KVM host added later.
const zone = [
  host('sim1', 'Simulator'),
  host('sim2', 'Simulator'),
  host('other-zone-kvm', 'KVM', 'Up', 'z2'),
  host('kvm1', 'KVM'),
];

describe('pickDeployHost', () => {
  it('hypervisor=KVM picks the Up KVM host of the zone, past the older simulator hosts', () => {
    expect(pickDeployHost(zone, { zoneId: 'z1', hypervisor: 'KVM' }).id).toBe('kvm1');
    expect(pickDeployHost(zone, { zoneId: 'z1', hypervisor: 'Simulator' }).id).toBe('sim1');
  });

  it('without hypervisor or host, the oldest Up host of the zone (unchanged)', () => {
    expect(pickDeployHost(zone, { zoneId: 'z1' }).id).toBe('sim1');
    expect(pickDeployHost([host('sim1', 'Simulator', 'Down'), ...zone.slice(1)], { zoneId: 'z1' }).id).toBe(
      'sim2',
    );
  });

  it('no Up host of that hypervisor in the zone is a parameter error naming both', () => {
    const down = zone.map((h) => (h.id === 'kvm1' ? { ...h, status: 'Down' as const } : h));
    expect(() => pickDeployHost(down, { zoneId: 'z1', hypervisor: 'KVM' })).toThrow(
      'No Up KVM host found in zone z1',
    );
  });

  it('a chosen host must be Up, in the zone, and of the hypervisor asked for', () => {
    expect(pickDeployHost(zone, { zoneId: 'z1', hostId: 'kvm1', hypervisor: 'KVM' }).id).toBe('kvm1');
    expect(() => pickDeployHost(zone, { zoneId: 'z1', hostId: 'sim2', hypervisor: 'KVM' })).toThrow(
      'Host host-sim2 is a Simulator host, not KVM',
    );
    expect(() => pickDeployHost(zone, { zoneId: 'z1', hostId: 'other-zone-kvm' })).toThrow(
      'No Up host found in zone z1',
    );
  });
});

describe('deployVirtualMachine hypervisor=… over the API', () => {
  let h: ApiHarness;
  let zoneId = '';
  beforeAll(async () => {
    h = await startApiServer();
    zoneId = String(itemsOf(await h.admin.payload('listZones'), 'zone')[0]?.['id']);
  });
  afterAll(async () => h.close());

  it('Simulator lands on a simulator host; KVM in a zone without one is a 431; Xen is not a value', async () => {
    const created = await h.admin.payload('deployVirtualMachine', {
      zoneid: zoneId,
      hypervisor: 'Simulator',
    });
    const job = await h.admin.waitForJob(String(created['jobid']));
    expect(job['jobstatus']).toBe(1);
    const [vm] = itemsOf(
      await h.admin.payload('listVirtualMachines', { id: String(created['id']) }),
      'virtualmachine',
    );
    expect(vm?.['hypervisor']).toBe('Simulator');

    const kvm = await h.admin.call('deployVirtualMachine', { zoneid: zoneId, hypervisor: 'KVM' });
    expect(errorOf(kvm, 'deployVirtualMachine', 431).errortext).toBe(
      `No Up KVM host found in zone ${zoneId}`,
    );
    const xen = await h.admin.call('deployVirtualMachine', { zoneid: zoneId, hypervisor: 'Xen' });
    expect(errorOf(xen, 'deployVirtualMachine', 431).errortext).toContain('hypervisor');
  });
});
