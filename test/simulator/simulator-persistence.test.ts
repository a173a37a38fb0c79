/**
 * The simulated zone's durable rows (issue 12, item 1): a world reopened on the same persistence is a
 * restarted server; two worlds on one persistence are two management servers. On a server the
 * persistence is the management database, so every server acts for every simulated host.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MemorySimulatorPersistence, SimulatorWorld } from '../../src/hypervisors/simulator/index.ts';
import { useFakeClock } from '../helpers/fake-clock.ts';
import { createSnapshot, snapshotTo, vmSpec } from './fixtures.ts';

let persistence: MemorySimulatorPersistence;
const worlds: SimulatorWorld[] = [];

/** A new simulator process (a restarted or another management server) on the same rows. */
async function openWorld(): Promise<SimulatorWorld> {
  const world = await SimulatorWorld.open({ persistence, guestAgentTimeoutMs: 200 });
  worlds.push(world);
  return world;
}

beforeEach(() => {
  persistence = new MemorySimulatorPersistence();
});
afterEach(() => {
  for (const world of worlds.splice(0)) world.dispose();
});

describe('durable state', () => {
  it('starts empty, and writes nothing until something changes', async () => {
    const world = await openWorld();
    expect(world.vmNames()).toEqual([]);
    expect(persistence.writes).toBe(0);
  });

  it('VMs, power states, snapshot trees and current survive a new world on the same rows', async () => {
    const first = await openWorld();
    const host = first.agentFor('host-1', 'zone-1');
    await host.execute({ kind: 'StartVM', vm: vmSpec('vm-1') });
    const a = snapshotTo('a', 'DiskAndMemory');
    await host.execute(createSnapshot('vm-1', a));
    await host.execute(createSnapshot('vm-1', snapshotTo('b', 'Disk', a)));
    await host.execute({ kind: 'CreateVM', vm: vmSpec('vm-2') });
    const before = { one: first.inspect('vm-1'), two: first.inspect('vm-2') };
    first.dispose();

    const second = await openWorld();
    expect(second.inspect('vm-1')).toEqual(before.one);
    expect(second.inspect('vm-2')).toEqual(before.two);
    expect(second.inspect('vm-1')).toMatchObject({ powerState: 'PowerOn', currentSnapshot: 'b' });
    const host2 = second.agentFor('host-1', 'zone-1');
    expect(await host2.execute({ kind: 'CheckVMSnapshot', vmName: 'vm-1', target: a })).toMatchObject({
      result: true,
      exists: true,
    });
    expect(await host2.execute({ kind: 'GetVmStates' })).toEqual({
      result: true,
      vms: [
        { name: 'vm-1', powerState: 'PowerOn' },
        { name: 'vm-2', powerState: 'PowerOff' },
      ],
    });
  });

  it('the answer is durable before it returns (the row is read right after each answer)', async () => {
    const world = await openWorld();
    const host = world.agentFor('host-1', 'zone-1');
    await host.execute({ kind: 'StartVM', vm: vmSpec('vm') });
    await host.execute(createSnapshot('vm', snapshotTo('s')));
    expect((await persistence.get('vm', 'vm'))?.body).toContain('"currentSnapshot":"s"');
    await host.execute({ kind: 'StopVM', vmName: 'vm', force: false });
    expect((await persistence.get('vm', 'vm'))?.body).toContain('"powerState":"PowerOff"');
    await host.execute({ kind: 'DestroyVM', vmName: 'vm' });
    expect(await persistence.get('vm', 'vm')).toBeUndefined();
  });

  it('refuses a corrupt row with a clear error', async () => {
    await persistence.set('vm', 'vm', JSON.stringify({ name: 'vm' }));
    await expect(SimulatorWorld.open({ persistence })).rejects.toThrow('Invalid simulator state in vm vm');
  });

  it('the simulator can disagree with the database: it keeps what it did, whatever the caller believes', async () => {
    const first = await openWorld();
    const host = first.agentFor('host-1', 'zone-1');
    await host.execute({ kind: 'StartVM', vm: vmSpec('vm') });
    await host.execute(createSnapshot('vm', snapshotTo('taken-before-crash')));
    await host.execute({ kind: 'StopVM', vmName: 'vm', force: false });
    first.dispose();

    const second = await openWorld();
    const restarted = second.agentFor('host-1', 'zone-1');
    const check = await restarted.execute({
      kind: 'CheckVMSnapshot',
      vmName: 'vm',
      target: snapshotTo('taken-before-crash'),
    });
    expect(check).toMatchObject({ result: true, exists: true });
    expect(await restarted.execute({ kind: 'GetVmStates' })).toEqual({
      result: true,
      vms: [{ name: 'vm', powerState: 'PowerOff' }],
    });
    const memory = await restarted.execute(createSnapshot('vm', snapshotTo('m', 'DiskAndMemory')));
    expect(memory).toMatchObject({
      result: false,
      details: expect.stringContaining('vm is not running: vm'),
    });
  });
});

describe('durable run-time settings', () => {
  it('fault rules and their remaining counts survive a restart', async () => {
    const first = await openWorld();
    first.faults.add({
      id: 'f1',
      command: 'CreateVMSnapshot',
      scope: { hostId: 'host-1' },
      action: { kind: 'fail' },
      count: 2,
    });
    const host = first.agentFor('host-1', 'zone-1');
    await host.execute({ kind: 'StartVM', vm: vmSpec('vm') });
    expect(await host.execute(createSnapshot('vm', snapshotTo('s')))).toMatchObject({ result: false });
    first.dispose();

    const second = await openWorld();
    expect(second.faults.list()).toEqual([
      {
        id: 'f1',
        command: 'CreateVMSnapshot',
        scope: { hostId: 'host-1' },
        action: { kind: 'fail' },
        count: 1,
      },
    ]);
    const again = second.agentFor('host-1', 'zone-1');
    expect(await again.execute(createSnapshot('vm', snapshotTo('s')))).toEqual({
      result: false,
      details: 'Simulated failure',
    });
    expect(await again.execute(createSnapshot('vm', snapshotTo('s')))).toMatchObject({ result: true });
    second.dispose();
    expect((await openWorld()).faults.list()).toEqual([]);
  });

  it('guest agent modes survive a restart', async () => {
    const first = await openWorld();
    first.setGuestAgentMode('vm', 'slow:42');
    await first.settled();
    expect((await openWorld()).guestAgentMode('vm')).toEqual({ kind: 'slow', ms: 42 });
  });
});

describe('several management servers on one simulated zone', () => {
  it('a VM created through one server is snapshotted, reverted and checked through another', async () => {
    const a = await openWorld();
    const b = await openWorld();
    await a.agentFor('host-1', 'zone-1').execute({ kind: 'StartVM', vm: vmSpec('vm') });
    // Before issue 12 each server had its own world: B answered "can not find vm".
    const onB = b.agentFor('host-1', 'zone-1');
    expect(await onB.execute(createSnapshot('vm', snapshotTo('s')))).toMatchObject({ result: true });
    const onA = a.agentFor('host-1', 'zone-1');
    expect(
      await onA.execute({ kind: 'CheckVMSnapshot', vmName: 'vm', target: snapshotTo('s') }),
    ).toMatchObject({ result: true, exists: true, current: true });
    expect(
      await onA.execute({ kind: 'DeleteVMSnapshot', vmName: 'vm', target: snapshotTo('s'), volumes: [] }),
    ).toMatchObject({ result: true });
    expect(
      await onB.execute({ kind: 'CheckVMSnapshot', vmName: 'vm', target: snapshotTo('s') }),
    ).toMatchObject({ result: true, exists: false });
  });

  it('a VM destroyed through one server is gone for the other', async () => {
    const a = await openWorld();
    const b = await openWorld();
    await a.agentFor('host-1', 'zone-1').execute({ kind: 'CreateVM', vm: vmSpec('vm') });
    await b.agentFor('host-1', 'zone-1').execute({ kind: 'DestroyVM', vmName: 'vm' });
    expect(await a.agentFor('host-1', 'zone-1').execute({ kind: 'GetVmStates' })).toEqual({
      result: true,
      vms: [],
    });
    expect(a.inspect('vm')).toBeUndefined();
  });

  it('two servers writing one VM at once never lose a write: what answered success is in the row', async () => {
    const a = await openWorld();
    const b = await openWorld();
    await a.agentFor('host-1', 'zone-1').execute({ kind: 'CreateVM', vm: vmSpec('vm') });
    const names = ['a1', 'b1', 'a2', 'b2', 'a3', 'b3'];
    const answers = await Promise.all(
      names.map(async (name) => {
        const world = name.startsWith('a') ? a : b;
        return world
          .agentFor('host-1', 'zone-1')
          .execute(createSnapshot('vm', snapshotTo(name)))
          .then((r) => ({
            name,
            ok: r.result,
            conflict: !r.result && (r.details ?? '').includes('changed by another management server'),
          }));
      }),
    );
    const row = await persistence.get('vm', 'vm');
    const stored = Object.keys((JSON.parse(row?.body ?? '{}') as { snapshots: object }).snapshots).sort();
    expect(stored).toEqual(
      answers
        .filter((x) => x.ok)
        .map((x) => x.name)
        .sort(),
    );
    // The servers did race, and the losers were refused (result false), with nothing applied.
    expect(answers.filter((x) => x.conflict).length).toBeGreaterThan(0);
    expect(answers.every((x) => x.ok || x.conflict)).toBe(true);
    // A loser read the winner's row: its next command sees every stored snapshot.
    await a.agentFor('host-1', 'zone-1').execute({ kind: 'GetVmStates' });
    expect(
      a
        .inspect('vm')
        ?.snapshots.map((x) => x.name)
        .sort(),
    ).toEqual(stored);
  });

  it('a count=1 fault is consumed exactly once, whichever servers race for it', async () => {
    const servers = [await openWorld(), await openWorld(), await openWorld()];
    for (const [i, world] of servers.entries()) {
      await world.agentFor(`host-${i}`, 'zone-1').execute({ kind: 'CreateVM', vm: vmSpec(`vm-${i}`) });
    }
    servers[0]?.configure({ name: 'CreateVMSnapshotCommand', value: 'result:fail', count: 2 });
    await servers[0]?.settled();
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, n) => {
        const i = n % 3;
        const world = servers[i] as SimulatorWorld;
        return world.agentFor(`host-${i}`, 'zone-1').execute(createSnapshot(`vm-${i}`, snapshotTo(`s${n}`)));
      }),
    );
    expect(answers.filter((r) => !r.result)).toHaveLength(2);
    expect(await persistence.list('fault')).toEqual([]);
  });

  it('a fault rule set through one server is in force on the others', async () => {
    const a = await openWorld();
    const b = await openWorld();
    await a.configureDurably({ name: 'StartCommand', value: 'result:fail' });
    expect(await b.agentFor('host-1', 'zone-1').execute({ kind: 'StartVM', vm: vmSpec('vm') })).toMatchObject(
      { result: false, details: 'Simulated failure' },
    );
    a.faults.clear();
    await a.settled();
    expect(await b.agentFor('host-1', 'zone-1').execute({ kind: 'StartVM', vm: vmSpec('vm') })).toMatchObject(
      { result: true },
    );
  });

  it('a guest agent mode set through one server applies to calls through another', async () => {
    const a = await openWorld();
    const b = await openWorld();
    await a.agentFor('host-1', 'zone-1').execute({ kind: 'StartVM', vm: vmSpec('vm') });
    await a.configureDurably({ value: 'guestagent:absent', vmName: 'vm' });
    expect(await b.agentFor('host-1', 'zone-1').execute({ kind: 'GuestPing', vmName: 'vm' })).toEqual({
      result: true,
      available: false,
    });
  });
});

describe('freeze watchdog across a restart and across servers', () => {
  beforeEach(() => useFakeClock());
  afterEach(() => vi.useRealTimers());

  async function frozenVm(budgetMs: number): Promise<void> {
    const world = await openWorld();
    const host = world.agentFor('host-1', 'zone-1');
    await host.execute({ kind: 'StartVM', vm: vmSpec('vm') });
    const frozen = await host.execute({ kind: 'FreezeThaw', vmName: 'vm', option: 'freeze', budgetMs });
    expect(frozen).toMatchObject({ result: true, status: 'frozen' });
    // The server dies: its timers are gone, the deadline is in the row.
    world.dispose();
  }

  it('a guest whose deadline passed while no server was up is thawed on load', async () => {
    await frozenVm(150);
    vi.advanceTimersByTime(150);
    const restarted = await openWorld();
    expect(restarted.inspect('vm')).toMatchObject({
      frozen: false,
      freezeDeadline: null,
      counters: { freezes: 1, thaws: 0, watchdogThaws: 1 },
      lastFreezeWindow: { thawedBy: 'watchdog' },
    });
    expect((await openWorld()).inspect('vm')?.counters.watchdogThaws).toBe(1);
  });

  it('a guest still within its budget stays frozen on load and the remaining time is re-armed', async () => {
    await frozenVm(300);
    vi.advanceTimersByTime(100);
    const restarted = await openWorld();
    expect(restarted.inspect('vm')?.frozen).toBe(true);
    await vi.advanceTimersByTimeAsync(199);
    expect(restarted.inspect('vm')?.frozen).toBe(true);
    await vi.advanceTimersByTimeAsync(1);
    expect(restarted.inspect('vm')).toMatchObject({ frozen: false, counters: { watchdogThaws: 1 } });
  });

  it('a guest frozen through a server that died is thawed by another server that had read it', async () => {
    const other = await openWorld();
    await frozenVm(300);
    // The other server reads the VM when it next acts on the host (here a heartbeat).
    await other.agentFor('host-1', 'zone-1').execute({ kind: 'GetVmStates' });
    await vi.advanceTimersByTimeAsync(300);
    const row = JSON.parse((await persistence.get('vm', 'vm'))?.body ?? '{}') as {
      frozen: boolean;
      counters: { watchdogThaws: number };
    };
    expect(row).toMatchObject({ frozen: false, counters: { watchdogThaws: 1 } });
  });
});
