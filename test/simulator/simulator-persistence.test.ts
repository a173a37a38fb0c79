import type {
  DirtySet,
  SimulatorStateData,
  SimulatorStateStore,
} from '../../src/hypervisors/simulator/simulator-state.ts';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SimulatorWorld } from '../../src/hypervisors/simulator/index.ts';
import { useFakeClock } from '../helpers/fake-clock.ts';
import { createSnapshot, snapshotTo, tempDir, vmSpec } from './fixtures.ts';

let dir: string;
let cleanup: () => void;
let path: string;
const worlds: SimulatorWorld[] = [];

/** A new simulator process on the same state file. */
function openWorld(): SimulatorWorld {
  const world = new SimulatorWorld({ path, guestAgentTimeoutMs: 200 });
  worlds.push(world);
  return world;
}

beforeEach(() => {
  ({ dir, cleanup } = tempDir());
  path = join(dir, 'simulator', 'world.json');
});
afterEach(() => {
  for (const world of worlds.splice(0)) world.dispose();
  cleanup();
});

describe('durable state', () => {
  it('starts empty when no file exists, and writes nothing until something changes', () => {
    const world = openWorld();
    expect(world.vmNames()).toEqual([]);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('VMs, power states, snapshot trees and current survive a new world on the same file', async () => {
    const first = openWorld();
    const host = first.agentFor('host-1', 'zone-1');
    await host.execute({ kind: 'StartVM', vm: vmSpec('vm-1') });
    const a = snapshotTo('a', 'DiskAndMemory');
    await host.execute(createSnapshot('vm-1', a));
    await host.execute(createSnapshot('vm-1', snapshotTo('b', 'Disk', a)));
    await host.execute({ kind: 'CreateVM', vm: vmSpec('vm-2') });
    const before = { one: first.inspect('vm-1'), two: first.inspect('vm-2') };
    first.dispose();

    const second = openWorld();
    expect(second.inspect('vm-1')).toEqual(before.one);
    expect(second.inspect('vm-2')).toEqual(before.two);
    expect(second.inspect('vm-1')).toMatchObject({ powerState: 'PowerOn', currentSnapshot: 'b' });
    // And the restarted simulator acts on that state.
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

  it('the file is replaced atomically: no temp file is left and it is always valid JSON', async () => {
    const world = openWorld();
    const host = world.agentFor('host-1', 'zone-1');
    await host.execute({ kind: 'StartVM', vm: vmSpec('vm') });
    for (let i = 0; i < 5; i += 1) await host.execute(createSnapshot('vm', snapshotTo(`s${i}`)));
    expect(readdirSync(join(dir, 'simulator'))).toEqual(['world.json']);
    const saved = JSON.parse(readFileSync(path, 'utf8')) as { vms: Record<string, { snapshots: object }> };
    expect(Object.keys(saved.vms['vm']?.snapshots ?? {})).toHaveLength(5);
  });

  it('the answer is durable before it returns (read the file right after each answer)', async () => {
    const world = openWorld();
    const host = world.agentFor('host-1', 'zone-1');
    await host.execute({ kind: 'StartVM', vm: vmSpec('vm') });
    await host.execute(createSnapshot('vm', snapshotTo('s')));
    expect(readFileSync(path, 'utf8')).toContain('"currentSnapshot":"s"');
    await host.execute({ kind: 'StopVM', vmName: 'vm', force: false });
    expect(readFileSync(path, 'utf8')).toContain('"powerState":"PowerOff"');
  });

  it('the SQLite store keeps one row per VM, writes only what changed, and commits answers of one tick together', async () => {
    const dbPath = join(dir, 'simulator', 'world.db');
    const world = new SimulatorWorld({ path: dbPath });
    const host = world.agentFor('host-1', 'zone-1');
    for (const n of ['a', 'b', 'c']) await host.execute({ kind: 'StartVM', vm: vmSpec(n) });
    const store = (world as unknown as { store: SimulatorStateStore }).store;
    const saves: { vms: string[] }[] = [];
    const original = store.save.bind(store);
    store.save = (data: SimulatorStateData, dirty?: DirtySet) => {
      saves.push({ vms: [...(dirty?.vms ?? [])] });
      original(data, dirty);
    };
    // Three answers in flight at once share one durable write that names only their VMs.
    await Promise.all(['a', 'b', 'c'].map((n) => host.execute(createSnapshot(n, snapshotTo(`s-${n}`)))));
    expect(saves).toHaveLength(1);
    expect(saves[0]?.vms.sort()).toEqual(['a', 'b', 'c']);
    await host.execute({ kind: 'StopVM', vmName: 'b', force: false });
    expect(saves.at(-1)?.vms).toEqual(['b']);
    world.dispose();
    const reopened = new SimulatorWorld({ path: dbPath });
    expect(reopened.inspect('a')?.currentSnapshot).toBe('s-a');
    expect(reopened.inspect('b')?.powerState).toBe('PowerOff');
    expect(reopened.vmNames().sort()).toEqual(['a', 'b', 'c']);
    reopened.dispose();
  });

  it('refuses a corrupt state file with a clear error', () => {
    openWorld().setGuestAgentMode('vm', 'absent');
    writeFileSync(
      path,
      JSON.stringify({ version: 1, vms: { vm: { name: 'vm' } }, guestAgents: {}, faults: [] }),
    );
    expect(() => new SimulatorWorld({ path })).toThrow(`Invalid simulator state in ${path}`);
  });

  it('the simulator can disagree with the database: it keeps what it did, whatever the caller believes', async () => {
    // A management server takes a snapshot, then "crashes" before recording it and restarts.
    const first = openWorld();
    const host = first.agentFor('host-1', 'zone-1');
    await host.execute({ kind: 'StartVM', vm: vmSpec('vm') });
    await host.execute(createSnapshot('vm', snapshotTo('taken-before-crash')));
    await host.execute({ kind: 'StopVM', vmName: 'vm', force: false });
    first.dispose();

    // The database still believes there is no snapshot and the VM runs: the simulator says otherwise.
    const second = openWorld();
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
    // A memory snapshot the database thinks is fine is refused: the VM is not running here.
    const memory = await restarted.execute(createSnapshot('vm', snapshotTo('m', 'DiskAndMemory')));
    expect(memory).toMatchObject({
      result: false,
      details: expect.stringContaining('vm is not running: vm'),
    });
  });
});

describe('durable run-time settings', () => {
  it('fault rules and their remaining counts survive a restart', async () => {
    const first = openWorld();
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

    const second = openWorld();
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
    expect(openWorld().faults.list()).toEqual([]);
  });

  it('guest agent modes survive a restart', async () => {
    openWorld().setGuestAgentMode('vm', 'slow:42');
    expect(openWorld().guestAgentMode('vm')).toEqual({ kind: 'slow', ms: 42 });
  });
});

describe('freeze watchdog across a restart', () => {
  // Time passes on the fake clock (timers and Date; the state file's I/O stays real).
  beforeEach(() => useFakeClock());
  afterEach(() => vi.useRealTimers());

  async function frozenVm(budgetMs: number): Promise<void> {
    const world = openWorld();
    const host = world.agentFor('host-1', 'zone-1');
    await host.execute({ kind: 'StartVM', vm: vmSpec('vm') });
    const frozen = await host.execute({ kind: 'FreezeThaw', vmName: 'vm', option: 'freeze', budgetMs });
    expect(frozen).toMatchObject({ result: true, status: 'frozen' });
    // The process dies: its timers are gone, the deadline is in the file.
    world.dispose();
  }

  it('a guest whose deadline passed while the simulator was down is thawed on load', async () => {
    await frozenVm(150);
    vi.advanceTimersByTime(150); // down until the deadline
    const restarted = openWorld();
    expect(restarted.inspect('vm')).toMatchObject({
      frozen: false,
      freezeDeadline: null,
      counters: { freezes: 1, thaws: 0, watchdogThaws: 1 },
      lastFreezeWindow: { thawedBy: 'watchdog' },
    });
    // The thaw on load is itself durable.
    expect(openWorld().inspect('vm')?.counters.watchdogThaws).toBe(1);
  });

  it('a guest still within its budget stays frozen on load and the remaining time is re-armed', async () => {
    await frozenVm(300);
    vi.advanceTimersByTime(100); // down for a third of the budget
    const restarted = openWorld();
    expect(restarted.inspect('vm')?.frozen).toBe(true);
    await vi.advanceTimersByTimeAsync(199);
    expect(restarted.inspect('vm')?.frozen).toBe(true);
    await vi.advanceTimersByTimeAsync(1); // the deadline: re-armed for what was left, not a new budget
    expect(restarted.inspect('vm')).toMatchObject({ frozen: false, counters: { watchdogThaws: 1 } });
  });
});
