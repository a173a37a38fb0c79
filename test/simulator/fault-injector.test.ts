import { afterEach, beforeEach, describe, expect, it, onTestFinished, vi } from 'vitest';
import {
  FaultInjector,
  SimulatedAgentError,
  SimulatorWorld,
  commandKindFromName,
  parseSimulatorValue,
} from '../../src/hypervisors/simulator/index.ts';
import type { SimulatorAgent } from '../../src/hypervisors/simulator/index.ts';
import { fakeMsUntilSettled, useFakeClock } from '../helpers/fake-clock.ts';
import { createSnapshot, snapshotTo, vmSpec } from './fixtures.ts';

let world: SimulatorWorld;
let host1: SimulatorAgent;
let host2: SimulatorAgent;
let zone2Host: SimulatorAgent;

beforeEach(async () => {
  world = new SimulatorWorld({ guestAgentTimeoutMs: 200 });
  host1 = world.agentFor('host-1', 'zone-1');
  host2 = world.agentFor('host-2', 'zone-1');
  zone2Host = world.agentFor('host-3', 'zone-2');
  await host1.execute({ kind: 'StartVM', vm: vmSpec('vm-a') });
  await host1.execute({ kind: 'StartVM', vm: vmSpec('vm-b') });
  await host2.execute({ kind: 'StartVM', vm: vmSpec('vm-c') });
  await zone2Host.execute({ kind: 'StartVM', vm: vmSpec('vm-z') });
});
afterEach(() => world.dispose());

const snap = (vmName: string, name = `${vmName}-s`) => createSnapshot(vmName, snapshotTo(name));

describe('fault actions', () => {
  it('fail answers result:false with "Simulated failure" or the given message, and does not run the command', async () => {
    world.faults.add({ command: 'CreateVMSnapshot', action: { kind: 'fail' }, count: 1 });
    expect(await host1.execute(snap('vm-a'))).toEqual({ result: false, details: 'Simulated failure' });
    expect(world.inspect('vm-a')?.snapshots).toEqual([]);

    world.faults.add({ command: 'StopVM', action: { kind: 'fail', message: 'libvirt went away' } });
    expect(await host1.execute({ kind: 'StopVM', vmName: 'vm-a', force: true })).toEqual({
      result: false,
      details: 'libvirt went away',
    });
    expect(world.inspect('vm-a')?.powerState).toBe('PowerOn');
  });

  it('throw makes execute() reject: the agent broke', async () => {
    world.faults.add({ command: 'RevertToVMSnapshot', action: { kind: 'throw' } });
    const revert = host1.execute({
      kind: 'RevertToVMSnapshot',
      vmName: 'vm-a',
      vmUuid: 'u',
      target: snapshotTo('s'),
      volumes: [],
    });
    await expect(revert).rejects.toBeInstanceOf(SimulatedAgentError);
    world.faults.clear();
    world.faults.add({ command: 'Ping', action: { kind: 'throw', message: 'connection reset' } });
    await expect(host1.execute({ kind: 'Ping' })).rejects.toThrow('connection reset');
  });

  it('delay waits, then runs the command normally', async () => {
    world.faults.add({ command: 'CreateVMSnapshot', action: { kind: 'delay', ms: 120 } });
    useFakeClock();
    onTestFinished(() => void vi.useRealTimers());
    const { value, ms } = await fakeMsUntilSettled(host1.execute(snap('vm-a')), 1_000);
    expect(value).toMatchObject({ result: true });
    expect(ms).toBe(120);
    expect(world.inspect('vm-a')?.snapshots).toHaveLength(1);
  });

  it('hang never answers until clear() releases it (rejecting), and the command never ran', async () => {
    world.faults.add({ command: 'DeleteVMSnapshot', action: { kind: 'hang' } });
    let settled = false;
    const hung = host1.execute({
      kind: 'DeleteVMSnapshot',
      vmName: 'vm-a',
      target: snapshotTo('s'),
      volumes: [],
    });
    hung.then(
      () => (settled = true),
      () => (settled = true),
    );
    // However long we wait, nothing answers: a minute of fake time passes without an outcome.
    useFakeClock();
    onTestFinished(() => void vi.useRealTimers());
    await vi.advanceTimersByTimeAsync(60_000);
    expect(settled).toBe(false);
    expect(world.faults.hungCalls).toBe(1);
    world.faults.clear();
    await expect(hung).rejects.toThrow('Simulated hang of DeleteVMSnapshot released');
    expect(world.faults.list()).toEqual([]);
  });

  it('hang is released by dispose() so nothing leaks', async () => {
    world.faults.add({ command: '*', action: { kind: 'hang' } });
    const hung = host1.execute({ kind: 'Ping' });
    const delayed = new FaultInjector();
    delayed.add({ command: 'Ping', action: { kind: 'delay', ms: 60_000 } });
    const action = delayed.take({ kind: 'Ping' }, { zoneId: 'z', hostId: 'h' });
    if (!action) throw new Error('expected a delay rule to match');
    const sleeping = delayed.apply(action, 'Ping');
    world.dispose();
    delayed.dispose();
    await expect(hung).rejects.toThrow('released');
    await expect(sleeping).rejects.toThrow('released');
  });
});

describe('counts', () => {
  it('a count is consumed per match and the rule removed at 0', async () => {
    const rule = world.faults.add({ command: 'Ping', action: { kind: 'fail' }, count: 2 });
    expect(rule.count).toBe(2);
    expect(await host1.execute({ kind: 'Ping' })).toMatchObject({ result: false });
    expect(world.faults.list()[0]?.count).toBe(1);
    expect(await host1.execute({ kind: 'Ping' })).toMatchObject({ result: false });
    expect(world.faults.list()).toEqual([]);
    expect(await host1.execute({ kind: 'Ping' })).toEqual({ result: true, hypervisor: 'Simulator' });
  });

  it('a null count lasts forever; remove() ends it', async () => {
    const rule = world.faults.add({ command: 'Ping', action: { kind: 'fail' }, count: null });
    for (let i = 0; i < 5; i += 1)
      expect(await host1.execute({ kind: 'Ping' })).toMatchObject({ result: false });
    expect(world.faults.remove(rule.id)).toBe(true);
    expect(world.faults.remove(rule.id)).toBe(false);
    expect(await host1.execute({ kind: 'Ping' })).toMatchObject({ result: true });
  });

  it('refuses a count that is not a positive integer', () => {
    expect(() => world.faults.add({ command: 'Ping', action: { kind: 'fail' }, count: 0 })).toThrow(
      'positive integer',
    );
  });

  it('a non-matching command does not consume the count', async () => {
    world.faults.add({ command: 'StopVM', action: { kind: 'fail' }, count: 1 });
    await host1.execute({ kind: 'Ping' });
    expect(world.faults.list()[0]?.count).toBe(1);
  });

  it('the first matching rule in insertion order wins', async () => {
    world.faults.add({ command: 'Ping', action: { kind: 'fail', message: 'first' }, count: 1 });
    world.faults.add({ command: '*', action: { kind: 'fail', message: 'second' }, count: 1 });
    expect(await host1.execute({ kind: 'Ping' })).toEqual({ result: false, details: 'first' });
    expect(await host1.execute({ kind: 'Ping' })).toEqual({ result: false, details: 'second' });
  });
});

describe('scopes', () => {
  it('a zone scope hits every host of the zone and no other zone', async () => {
    world.faults.add({ command: 'CreateVMSnapshot', scope: { zoneId: 'zone-1' }, action: { kind: 'fail' } });
    expect(await host1.execute(snap('vm-a'))).toMatchObject({ result: false });
    expect(await host2.execute(snap('vm-c'))).toMatchObject({ result: false });
    expect(await zone2Host.execute(snap('vm-z'))).toMatchObject({ result: true });
  });

  it('a host scope hits only that host', async () => {
    world.faults.add({ command: 'CreateVMSnapshot', scope: { hostId: 'host-2' }, action: { kind: 'fail' } });
    expect(await host1.execute(snap('vm-a'))).toMatchObject({ result: true });
    expect(await host2.execute(snap('vm-c'))).toMatchObject({ result: false });
  });

  it('a VM scope hits only that VM, and never host-wide commands', async () => {
    world.faults.add({ command: '*', scope: { vmName: 'vm-b' }, action: { kind: 'fail' } });
    expect(await host1.execute(snap('vm-a'))).toMatchObject({ result: true });
    expect(await host1.execute(snap('vm-b'))).toMatchObject({ result: false });
    expect(await host1.execute({ kind: 'StopVM', vmName: 'vm-b', force: false })).toMatchObject({
      result: false,
    });
    expect(await host1.execute({ kind: 'GetVmStates' })).toMatchObject({ result: true });
    expect(await host1.execute({ kind: 'Ping' })).toMatchObject({ result: true });
  });

  it('scope fields combine: host and VM must both match', async () => {
    world.faults.add({
      command: 'StartVM',
      scope: { hostId: 'host-2', vmName: 'vm-n' },
      action: { kind: 'fail' },
    });
    expect(await host1.execute({ kind: 'StartVM', vm: vmSpec('vm-n') })).toMatchObject({ result: true });
    await host1.execute({ kind: 'StopVM', vmName: 'vm-n', force: false });
    expect(await host2.execute({ kind: 'StartVM', vm: vmSpec('vm-n') })).toMatchObject({ result: false });
  });
});

describe('configureSimulator input', () => {
  it('parses CloudStack values and vmsnap extensions', () => {
    expect(parseSimulatorValue('result:fail')).toEqual({ kind: 'fault', action: { kind: 'fail' } });
    expect(parseSimulatorValue('result=fault')).toEqual({ kind: 'fault', action: { kind: 'throw' } });
    expect(parseSimulatorValue('wait:5000')).toEqual({ kind: 'fault', action: { kind: 'delay', ms: 5000 } });
    expect(parseSimulatorValue('hang')).toEqual({ kind: 'fault', action: { kind: 'hang' } });
    expect(parseSimulatorValue('result:hang')).toEqual({ kind: 'fault', action: { kind: 'hang' } });
    expect(parseSimulatorValue('guestagent:slow:250')).toEqual({
      kind: 'guestAgent',
      mode: { kind: 'slow', ms: 250 },
    });
    expect(parseSimulatorValue('guestagent:hung')).toEqual({ kind: 'guestAgent', mode: { kind: 'hung' } });
    expect(() => parseSimulatorValue('wait:soon')).toThrow('Unsupported simulator value');
    expect(() => parseSimulatorValue('guestagent:sleepy')).toThrow('Unsupported guest agent mode');
  });

  it('maps CloudStack command class names and our kinds', () => {
    expect(commandKindFromName('CreateVMSnapshotCommand')).toBe('CreateVMSnapshot');
    expect(commandKindFromName('RevertToVMSnapshotCommand')).toBe('RevertToVMSnapshot');
    expect(commandKindFromName('DeleteVMSnapshotCommand')).toBe('DeleteVMSnapshot');
    expect(commandKindFromName('StartCommand')).toBe('StartVM');
    expect(commandKindFromName('StopCommand')).toBe('StopVM');
    expect(commandKindFromName('FreezeThawVMCommand')).toBe('FreezeThaw');
    expect(commandKindFromName('GuestPing')).toBe('GuestPing');
    expect(commandKindFromName('*')).toBe('*');
    expect(() => commandKindFromName('MigrateCommand')).toThrow(
      "Unknown simulator command name 'MigrateCommand'",
    );
  });

  it('world.configure adds a scoped, counted rule that takes effect', async () => {
    const result = world.configure({
      name: 'CreateVMSnapshotCommand',
      value: 'result:fail',
      hostId: 'host-1',
      count: 1,
    });
    expect(result).toMatchObject({
      kind: 'fault',
      rule: { command: 'CreateVMSnapshot', scope: { hostId: 'host-1' }, action: { kind: 'fail' }, count: 1 },
    });
    expect(await host1.execute(snap('vm-a'))).toEqual({ result: false, details: 'Simulated failure' });
    expect(await host1.execute(snap('vm-a'))).toMatchObject({ result: true });
  });

  it('world.configure sets a guest agent mode for a VM, and needs the VM name', async () => {
    expect(world.configure({ value: 'guestagent:absent', vmName: 'vm-a' })).toEqual({
      kind: 'guestAgent',
      vmName: 'vm-a',
      mode: 'absent',
    });
    expect(world.inspect('vm-a')?.guestAgent).toBe('absent');
    expect(await host1.execute({ kind: 'GuestPing', vmName: 'vm-a' })).toEqual({
      result: true,
      available: false,
    });
    expect(() => world.configure({ value: 'guestagent:hung' })).toThrow('needs a VM name');
  });
});
