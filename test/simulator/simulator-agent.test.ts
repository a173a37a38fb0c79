import { afterEach, beforeEach, describe, expect, it, onTestFinished, vi } from 'vitest';
import { SimulatorWorld } from '../../src/hypervisors/simulator/index.ts';
import type { SimulatorAgent } from '../../src/hypervisors/simulator/index.ts';
import { fakeMsUntilSettled, useFakeClock } from '../helpers/fake-clock.ts';
import { createSnapshot, snapshotTo, vmSpec, volume } from './fixtures.ts';

let world: SimulatorWorld;
let host: SimulatorAgent;

beforeEach(() => {
  world = new SimulatorWorld({ guestAgentTimeoutMs: 200 });
  host = world.agentFor('host-1', 'zone-1');
});
afterEach(() => world.dispose());

async function runningVm(name: string): Promise<void> {
  const started = await host.execute({ kind: 'StartVM', vm: vmSpec(name) });
  expect(started).toEqual({ result: true, powerState: 'PowerOn' });
}

/** Snapshot name -> parent name, and the current snapshot, as the simulator holds them. */
function tree(vmName: string): { parents: Record<string, string | null>; current: string | null } {
  const view = world.inspect(vmName);
  if (!view) throw new Error(`no VM ${vmName}`);
  return {
    parents: Object.fromEntries(view.snapshots.map((s) => [s.name, s.parentName])),
    current: view.currentSnapshot,
  };
}

describe('host commands', () => {
  it('answers Ping as a Simulator host', async () => {
    expect(await host.execute({ kind: 'Ping' })).toEqual({ result: true, hypervisor: 'Simulator' });
  });

  it('StartVM defines an unknown VM and powers it on; StopVM powers it off', async () => {
    await runningVm('i-2-10-VM');
    expect(world.inspect('i-2-10-VM')).toMatchObject({
      powerState: 'PowerOn',
      hostId: 'host-1',
      memoryMb: 512,
    });
    expect(await host.execute({ kind: 'StopVM', vmName: 'i-2-10-VM', force: false })).toEqual({
      result: true,
      powerState: 'PowerOff',
    });
    expect(world.inspect('i-2-10-VM')?.powerState).toBe('PowerOff');
  });

  it('StartVM refuses a VM already running on another host', async () => {
    await runningVm('vm-a');
    const other = world.agentFor('host-2', 'zone-1');
    const answer = await other.execute({ kind: 'StartVM', vm: vmSpec('vm-a') });
    expect(answer).toEqual({ result: false, details: 'VM vm-a is already running on host host-1' });
  });

  it('CreateVM defines a stopped VM with volume paths on its pools', async () => {
    const spec = vmSpec('vm-new', [
      volume('vol-root', 'pool-a', 5),
      { ...volume('vol-raw', 'pool-b', 7), format: 'RAW' },
    ]);
    const answer = await host.execute({ kind: 'CreateVM', vm: spec });
    expect(answer).toEqual({
      result: true,
      volumes: [
        { id: 'vol-root', path: '/sim/pool-a/vol-root.qcow2', size: 5 },
        { id: 'vol-raw', path: '/sim/pool-b/vol-raw.raw', size: 7 },
      ],
    });
    expect(world.inspect('vm-new')?.powerState).toBe('PowerOff');
    expect(await host.execute({ kind: 'CreateVM', vm: spec })).toEqual({
      result: false,
      details: 'VM vm-new already exists',
    });
  });

  it('CreateVM honours an explicit pool path', async () => {
    const answer = await host.execute({
      kind: 'CreateVM',
      vm: vmSpec('vm-p', [volume('v1')]),
      poolPath: '/data/p1',
    });
    expect(answer).toMatchObject({ result: true, volumes: [{ id: 'v1', path: '/data/p1/v1.qcow2' }] });
  });

  it('DestroyVM removes the VM and its snapshots, and is idempotent', async () => {
    await runningVm('vm-d');
    await host.execute(createSnapshot('vm-d', snapshotTo('s1')));
    expect(await host.execute({ kind: 'DestroyVM', vmName: 'vm-d' })).toMatchObject({ result: true });
    expect(world.inspect('vm-d')).toBeUndefined();
    expect(await host.execute({ kind: 'DestroyVM', vmName: 'vm-d' })).toMatchObject({ result: true });
  });

  it('GetVmStates and GetInventory report only the VMs of this host', async () => {
    await runningVm('vm-1');
    await host.execute({ kind: 'CreateVM', vm: vmSpec('vm-2', [volume('v2', 'pool-1', 300)]) });
    const other = world.agentFor('host-2', 'zone-1');
    await other.execute({ kind: 'StartVM', vm: vmSpec('vm-3') });

    const states = await host.execute({ kind: 'GetVmStates' });
    expect(states).toEqual({
      result: true,
      vms: [
        { name: 'vm-1', powerState: 'PowerOn' },
        { name: 'vm-2', powerState: 'PowerOff' },
      ],
    });
    const inventory = await host.execute({ kind: 'GetInventory' });
    if (!inventory.result) throw new Error(inventory.details);
    expect(inventory.vms.map((v) => v.name)).toEqual(['vm-1', 'vm-2']);
    expect(inventory.pools).toEqual([
      { name: 'pool-1', path: '/sim/pool-1', capacityBytes: 1024 ** 4, usedBytes: 1_000 + 300 + 1_000 },
    ]);
  });

  it('StartVM refuses a name already used in another zone', async () => {
    await runningVm('vm-dup');
    const elsewhere = world.agentFor('host-9', 'zone-2');
    expect(await elsewhere.execute({ kind: 'StartVM', vm: vmSpec('vm-dup') })).toEqual({
      result: false,
      details: 'VM vm-dup already exists in zone zone-1',
    });
    expect(world.inspect('vm-dup')?.zoneId).toBe('zone-1');
  });

  it('a host in another zone does not see the VM', async () => {
    await runningVm('vm-z');
    const elsewhere = world.agentFor('host-9', 'zone-2');
    expect(await elsewhere.execute(createSnapshot('vm-z', snapshotTo('s')))).toEqual({
      result: false,
      details: 'Create VM Snapshot Failed due to  can not find vm: vm-z',
    });
  });
});

describe('CreateVMSnapshot', () => {
  it('records the snapshot under its parent, makes it current, echoes volumes unchanged', async () => {
    await runningVm('vm');
    const s1 = snapshotTo('vm_VS_1', 'DiskAndMemory');
    const vols = [volume('vm-root', 'pool-1', 4096), volume('vm-data', 'pool-1', 8192)];
    const first = await host.execute(createSnapshot('vm', s1, { volumes: vols }));
    expect(first).toMatchObject({
      result: true,
      memoryMode: 'internal',
      volumes: [
        { id: 'vm-root', path: '/db/pool-1/vm-root', size: 4096 },
        { id: 'vm-data', path: '/db/pool-1/vm-data', size: 8192 },
      ],
    });
    if (!first.result) throw new Error(first.details);
    expect(first.timings?.totalMs).toBeGreaterThanOrEqual(0);
    // Not quiesced: no freeze, reported as 0 (issue 10, item 14).
    expect(first.timings?.freezeMs).toBe(0);

    await host.execute(createSnapshot('vm', snapshotTo('vm_VS_2', 'Disk', s1)));
    expect(tree('vm')).toEqual({ parents: { vm_VS_1: null, vm_VS_2: 'vm_VS_1' }, current: 'vm_VS_2' });
    const stored = world.inspect('vm')?.snapshots[0];
    expect(stored).toMatchObject({ id: 'id-vm_VS_1', type: 'DiskAndMemory', volumes: first.volumes });
  });

  it('refuses a memory snapshot of a stopped VM with the KVM text (two spaces)', async () => {
    await host.execute({ kind: 'CreateVM', vm: vmSpec('vm-off') });
    const answer = await host.execute(createSnapshot('vm-off', snapshotTo('m', 'DiskAndMemory')));
    expect(answer).toEqual({
      result: false,
      details:
        'Create VM Snapshot Failed due to  vm is not running: vm-off with domainState = VIR_DOMAIN_SHUTOFF',
    });
    expect(world.inspect('vm-off')?.snapshots).toEqual([]);
  });

  it('takes a disk snapshot of a stopped VM', async () => {
    await host.execute({ kind: 'CreateVM', vm: vmSpec('vm-off') });
    expect(await host.execute(createSnapshot('vm-off', snapshotTo('d')))).toMatchObject({ result: true });
    expect(tree('vm-off').current).toBe('d');
  });

  it('fails for an unknown VM and for a duplicate name', async () => {
    expect(await host.execute(createSnapshot('ghost', snapshotTo('s')))).toEqual({
      result: false,
      details: 'Create VM Snapshot Failed due to  can not find vm: ghost',
    });
    await runningVm('vm');
    await host.execute(createSnapshot('vm', snapshotTo('s')));
    const duplicate = await host.execute(createSnapshot('vm', snapshotTo('s')));
    expect(duplicate).toEqual({
      result: false,
      details: "Create VM snapshot failed due to operation failed: domain snapshot 's' already exists",
    });
  });

  it('a running VM is only reachable from its own host', async () => {
    await runningVm('vm');
    const other = world.agentFor('host-2', 'zone-1');
    const answer = await other.execute(createSnapshot('vm', snapshotTo('s')));
    expect(answer).toEqual({
      result: false,
      details: 'Create VM Snapshot Failed due to  can not find vm: vm',
    });
  });

  it('a parent the simulator never saw becomes a root instead of a dangling link', async () => {
    await runningVm('vm');
    await host.execute(createSnapshot('vm', snapshotTo('child', 'Disk', snapshotTo('unknown-parent'))));
    expect(tree('vm').parents).toEqual({ child: null });
  });

  it('with quiesce, freezes and thaws through the guest agent and reports the freeze window', async () => {
    await runningVm('vm');
    world.setGuestAgentMode('vm', 'slow:30');
    const answer = await host.execute(createSnapshot('vm', snapshotTo('q'), { quiesce: true }));
    if (!answer.result) throw new Error(answer.details);
    // The thaw call itself takes 30 ms while the guest is frozen.
    expect(answer.timings?.freezeMs).toBeGreaterThanOrEqual(25);
    expect(answer.timings?.totalMs).toBeGreaterThanOrEqual(answer.timings?.freezeMs ?? 0);
    const view = world.inspect('vm');
    expect(view).toMatchObject({ frozen: false, counters: { freezes: 1, thaws: 1, watchdogThaws: 0 } });
    expect(view?.lastFreezeWindow?.thawedBy).toBe('agent');
    expect(view?.snapshots[0]?.quiesced).toBe(true);
  });

  it('with quiesce and no guest agent, fails and records nothing', async () => {
    await runningVm('vm');
    world.setGuestAgentMode('vm', 'absent');
    const answer = await host.execute(createSnapshot('vm', snapshotTo('q'), { quiesce: true }));
    expect(answer).toEqual({ result: false, details: 'QEMU guest agent is not connected' });
    expect(world.inspect('vm')?.snapshots).toEqual([]);
  });

  it('without quiesce never touches the guest agent, even a hung one', async () => {
    await runningVm('vm');
    world.setGuestAgentMode('vm', 'hung');
    useFakeClock();
    onTestFinished(() => void vi.useRealTimers());
    // Touching the hung agent would take its 200 ms timeout; on the fake clock no time passes at all.
    const { value, ms } = await fakeMsUntilSettled(
      host.execute(createSnapshot('vm', snapshotTo('nq'))),
      1_000,
    );
    expect(value).toMatchObject({ result: true });
    expect(ms).toBe(0);
    expect(world.inspect('vm')?.counters.freezes).toBe(0);
  });
});

describe('RevertToVMSnapshot', () => {
  it('to a memory snapshot leaves the VM running, to a disk snapshot stopped; the target becomes current', async () => {
    await runningVm('vm');
    const mem = snapshotTo('mem', 'DiskAndMemory');
    await host.execute(createSnapshot('vm', mem));
    await host.execute(createSnapshot('vm', snapshotTo('disk', 'Disk', mem)));
    await host.execute({ kind: 'StopVM', vmName: 'vm', force: false });

    const toMemory = await host.execute({
      kind: 'RevertToVMSnapshot',
      vmName: 'vm',
      vmUuid: 'u',
      target: mem,
      volumes: [],
    });
    expect(toMemory).toMatchObject({ result: true, powerState: 'PowerOn' });
    expect(world.inspect('vm')).toMatchObject({ powerState: 'PowerOn', currentSnapshot: 'mem' });

    const toDisk = await host.execute({
      kind: 'RevertToVMSnapshot',
      vmName: 'vm',
      vmUuid: 'u',
      target: snapshotTo('disk'),
      volumes: [volume('vm-root')],
    });
    expect(toDisk).toMatchObject({ result: true, powerState: 'PowerOff', volumes: [{ id: 'vm-root' }] });
    expect(world.inspect('vm')).toMatchObject({ powerState: 'PowerOff', currentSnapshot: 'disk' });
  });

  it('fails for an unknown VM and an unknown snapshot', async () => {
    const revert = (vmName: string, name: string) =>
      host.execute({
        kind: 'RevertToVMSnapshot',
        vmName,
        vmUuid: 'u',
        target: snapshotTo(name),
        volumes: [],
      });
    expect(await revert('ghost', 's')).toEqual({ result: false, details: 'No VM by name ghost' });
    await runningVm('vm');
    expect(await revert('vm', 'nope')).toEqual({
      result: false,
      details: 'Cannot find vmSnapshot with name: nope',
    });
  });
});

describe('DeleteVMSnapshot and CheckVMSnapshot', () => {
  it('re-parents children to the deleted snapshot parent and moves current to the parent', async () => {
    await runningVm('vm');
    const a = snapshotTo('a');
    const b = snapshotTo('b', 'Disk', a);
    await host.execute(createSnapshot('vm', a));
    await host.execute(createSnapshot('vm', b));
    await host.execute(createSnapshot('vm', snapshotTo('c1', 'Disk', b)));
    await host.execute(createSnapshot('vm', snapshotTo('c2', 'Disk', b)));
    await host.execute({ kind: 'RevertToVMSnapshot', vmName: 'vm', vmUuid: 'u', target: b, volumes: [] });

    const answer = await host.execute({
      kind: 'DeleteVMSnapshot',
      vmName: 'vm',
      target: b,
      volumes: [volume('vm-root')],
    });
    expect(answer).toMatchObject({ result: true, volumes: [{ id: 'vm-root' }] });
    expect(tree('vm')).toEqual({ parents: { a: null, c1: 'a', c2: 'a' }, current: 'a' });
  });

  it('deleting the root current snapshot leaves no current one', async () => {
    await runningVm('vm');
    await host.execute(createSnapshot('vm', snapshotTo('only')));
    await host.execute({ kind: 'DeleteVMSnapshot', vmName: 'vm', target: snapshotTo('only'), volumes: [] });
    expect(tree('vm')).toEqual({ parents: {}, current: null });
  });

  it('a snapshot that does not exist counts as deleted; an unknown VM fails', async () => {
    await runningVm('vm');
    const missing = await host.execute({
      kind: 'DeleteVMSnapshot',
      vmName: 'vm',
      target: snapshotTo('gone'),
      volumes: [],
    });
    expect(missing).toEqual({ result: true, volumes: [] });
    const ghost = await host.execute({
      kind: 'DeleteVMSnapshot',
      vmName: 'ghost',
      target: snapshotTo('x'),
      volumes: [],
    });
    expect(ghost).toEqual({ result: false, details: 'No VM by name ghost' });
  });

  it('CheckVMSnapshot says whether one given revert request was applied, not merely which snapshot is current', async () => {
    await runningVm('vm');
    const s = snapshotTo('s', 'DiskAndMemory');
    await host.execute(createSnapshot('vm', s));
    // `s` is current already: a revert that never reached the host must not look applied.
    const before = await host.execute({
      kind: 'CheckVMSnapshot',
      vmName: 'vm',
      target: s,
      revertRequestId: 'job-9',
    });
    expect(before).toMatchObject({ result: true, current: true, revertApplied: false });
    await host.execute({
      kind: 'RevertToVMSnapshot',
      vmName: 'vm',
      vmUuid: 'u',
      target: s,
      volumes: [],
      requestId: 'job-9',
    });
    const after = await host.execute({
      kind: 'CheckVMSnapshot',
      vmName: 'vm',
      target: s,
      revertRequestId: 'job-9',
    });
    expect(after).toMatchObject({ result: true, revertApplied: true, powerState: 'PowerOn' });
    const other = await host.execute({
      kind: 'CheckVMSnapshot',
      vmName: 'vm',
      target: s,
      revertRequestId: 'job-10',
    });
    expect(other).toMatchObject({ revertApplied: false });
  });

  it('CheckVMSnapshot tells whether the snapshot exists, from any host of the zone', async () => {
    await runningVm('vm');
    await host.execute(createSnapshot('vm', snapshotTo('s')));
    const other = world.agentFor('host-2', 'zone-1');
    expect(
      await other.execute({ kind: 'CheckVMSnapshot', vmName: 'vm', target: snapshotTo('s') }),
    ).toMatchObject({
      result: true,
      exists: true,
      current: true,
      powerState: 'PowerOn',
    });
    expect(
      await host.execute({ kind: 'CheckVMSnapshot', vmName: 'vm', target: snapshotTo('t') }),
    ).toMatchObject({
      result: true,
      exists: false,
    });
    expect(
      await host.execute({ kind: 'CheckVMSnapshot', vmName: 'ghost', target: snapshotTo('s') }),
    ).toMatchObject({
      result: true,
      exists: false,
    });
  });
});

describe('world lifecycle', () => {
  it('a disposed world answers nothing', async () => {
    world.dispose();
    await expect(host.execute({ kind: 'Ping' })).rejects.toThrow('Simulated host host-1 is shut down');
  });

  it('agentFor returns one agent per host and refuses a zone change', () => {
    expect(world.agentFor('host-1', 'zone-1')).toBe(host);
    expect(() => world.agentFor('host-1', 'zone-2')).toThrow(
      'Simulated host host-1 is in zone zone-1, not zone-2',
    );
  });

  it('inspect returns a frozen copy that cannot change the simulator', async () => {
    await runningVm('vm');
    const view = world.inspect('vm');
    expect(Object.isFrozen(view)).toBe(true);
    expect(() => {
      (view as { powerState: string }).powerState = 'PowerOff';
    }).toThrow(TypeError);
    expect(world.inspect('vm')?.powerState).toBe('PowerOn');
  });
});
