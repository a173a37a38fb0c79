import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  SimulatorWorld,
  formatGuestAgentMode,
  parseGuestAgentMode,
} from '../../src/hypervisors/simulator/index.ts';
import type { SimulatorAgent } from '../../src/hypervisors/simulator/index.ts';
import { after, fakeMsUntilSettled, settlesAt, useFakeClock } from '../helpers/fake-clock.ts';
import { createSnapshot, snapshotTo, vmSpec } from './fixtures.ts';

const TIMEOUT_MS = 200;
let world: SimulatorWorld;
let host: SimulatorAgent;

// Timeouts, slow calls and the watchdog run on the fake clock: exact, whatever the machine's load.
beforeEach(async () => {
  useFakeClock();
  world = new SimulatorWorld({ guestAgentTimeoutMs: TIMEOUT_MS });
  host = world.agentFor('host-1', 'zone-1');
  await host.execute({ kind: 'StartVM', vm: vmSpec('vm') });
});
afterEach(() => {
  world.dispose();
  vi.useRealTimers();
});

const freeze = (budgetMs?: number) =>
  host.execute({
    kind: 'FreezeThaw',
    vmName: 'vm',
    option: 'freeze',
    ...(budgetMs === undefined ? {} : { budgetMs }),
  });
const thaw = () => host.execute({ kind: 'FreezeThaw', vmName: 'vm', option: 'thaw' });
const status = () => host.execute({ kind: 'FreezeThaw', vmName: 'vm', option: 'status' });

describe('guest agent modes', () => {
  it('present: ping, freeze, status, thaw answer at once and count', async () => {
    expect(await host.execute({ kind: 'GuestPing', vmName: 'vm' })).toEqual({
      result: true,
      available: true,
    });
    expect(await freeze(5_000)).toEqual({ result: true, status: 'frozen', frozenFilesystems: 1 });
    expect(await status()).toMatchObject({ result: true, status: 'frozen' });
    expect(world.inspect('vm')?.frozen).toBe(true);
    expect(await thaw()).toEqual({ result: true, status: 'thawed', frozenFilesystems: 1 });
    expect(await status()).toMatchObject({ result: true, status: 'thawed' });
    expect(world.inspect('vm')).toMatchObject({
      frozen: false,
      freezeDeadline: null,
      counters: { freezes: 1, thaws: 1, watchdogThaws: 0 },
      lastFreezeWindow: { thawedBy: 'agent' },
    });
  });

  it('a second freeze of a frozen guest fails', async () => {
    await freeze(5_000);
    expect(await freeze(5_000)).toEqual({
      result: false,
      details: 'guest-fsfreeze-freeze failed: vm is already frozen',
    });
  });

  it('absent: ping says unavailable, freeze fails as not connected', async () => {
    world.setGuestAgentMode('vm', 'absent');
    expect(await host.execute({ kind: 'GuestPing', vmName: 'vm' })).toEqual({
      result: true,
      available: false,
    });
    expect(await freeze()).toEqual({ result: false, details: 'QEMU guest agent is not connected' });
    expect(world.inspect('vm')?.frozen).toBe(false);
  });

  it('slow: each call takes at least the given time', async () => {
    world.setGuestAgentMode('vm', { kind: 'slow', ms: 80 });
    expect(await settlesAt(80, host.execute({ kind: 'GuestPing', vmName: 'vm' }))).toEqual({
      result: true,
      available: true,
    });
    expect(await settlesAt(80, freeze(5_000))).toMatchObject({ result: true, status: 'frozen' });
  });

  it('slow beyond the timeout times out at the timeout', async () => {
    world.setGuestAgentMode('vm', 'slow:5000');
    expect(await settlesAt(TIMEOUT_MS, freeze())).toEqual({
      result: false,
      details: `Guest agent command guest-fsfreeze-freeze timed out after ${TIMEOUT_MS} ms`,
    });
  });

  it('hung: freeze, thaw and ping time out within the configured timeout with a clear failure', async () => {
    world.setGuestAgentMode('vm', 'hung');
    const [f, t, p] = await settlesAt(
      TIMEOUT_MS,
      Promise.all([freeze(), thaw(), host.execute({ kind: 'GuestPing', vmName: 'vm' })]),
    );
    expect(f).toEqual({
      result: false,
      details: `Guest agent command guest-fsfreeze-freeze timed out after ${TIMEOUT_MS} ms`,
    });
    expect(t).toEqual({
      result: false,
      details: `Guest agent command guest-fsfreeze-thaw timed out after ${TIMEOUT_MS} ms`,
    });
    expect(p).toEqual({
      result: false,
      details: `Guest agent command guest-ping timed out after ${TIMEOUT_MS} ms`,
    });
    expect(world.inspect('vm')?.frozen).toBe(false);
  });

  it('a quiesced snapshot with a hung agent fails after the timeout and records nothing', async () => {
    world.setGuestAgentMode('vm', 'hung');
    const answer = await settlesAt(
      TIMEOUT_MS,
      host.execute(createSnapshot('vm', snapshotTo('q'), { quiesce: true })),
    );
    expect(answer).toEqual({
      result: false,
      details: `Guest agent command guest-fsfreeze-freeze timed out after ${TIMEOUT_MS} ms`,
    });
    expect(world.inspect('vm')?.snapshots).toEqual([]);
  });

  it('a stopped VM has no reachable agent', async () => {
    await host.execute({ kind: 'StopVM', vmName: 'vm', force: false });
    expect(await host.execute({ kind: 'GuestPing', vmName: 'vm' })).toEqual({
      result: true,
      available: false,
    });
    expect(await freeze()).toEqual({
      result: false,
      details: 'QEMU guest agent is not connected: vm vm is not running',
    });
  });

  it('an unknown VM fails', async () => {
    expect(await host.execute({ kind: 'GuestPing', vmName: 'ghost' })).toEqual({
      result: false,
      details: 'No VM by name ghost',
    });
    expect(await host.execute({ kind: 'FreezeThaw', vmName: 'ghost', option: 'status' })).toEqual({
      result: false,
      details: 'No VM by name ghost',
    });
  });

  it('dispose releases a hung guest agent call at once', async () => {
    world.setGuestAgentMode('vm', 'hung');
    const pending = freeze();
    world.dispose();
    expect(await pending).toMatchObject({
      result: false,
      details: expect.stringContaining('simulator disposed'),
    });
  });

  it('modes parse and format', () => {
    expect(parseGuestAgentMode('slow:15')).toEqual({ kind: 'slow', ms: 15 });
    expect(formatGuestAgentMode({ kind: 'slow', ms: 15 })).toBe('slow:15');
    expect(formatGuestAgentMode(parseGuestAgentMode(' Hung '))).toBe('hung');
  });
});

describe('freeze watchdog', () => {
  it('thaws the guest when the budget runs out and no thaw comes', async () => {
    expect(await freeze(150)).toMatchObject({ result: true, status: 'frozen' });
    const deadline = world.inspect('vm')?.freezeDeadline;
    expect(deadline).toBe(Date.now() + 150);
    await vi.advanceTimersByTimeAsync(149);
    expect(world.inspect('vm')?.frozen).toBe(true);
    await vi.advanceTimersByTimeAsync(1);
    const view = world.inspect('vm');
    expect(view).toMatchObject({
      frozen: false,
      freezeDeadline: null,
      counters: { freezes: 1, thaws: 0, watchdogThaws: 1 },
    });
    expect(view?.lastFreezeWindow?.thawedBy).toBe('watchdog');
    expect(view?.lastFreezeWindow?.ms).toBe(150);
    expect(await status()).toMatchObject({ status: 'thawed' });
  });

  it('a thaw in time disarms the watchdog', async () => {
    await freeze(150);
    await thaw();
    await vi.advanceTimersByTimeAsync(200);
    expect(world.inspect('vm')?.counters).toEqual({ freezes: 1, thaws: 1, watchdogThaws: 0 });
  });

  it('a hung thaw does not leave the guest frozen: the watchdog still thaws it', async () => {
    await freeze(250);
    world.setGuestAgentMode('vm', 'hung');
    expect(await after(TIMEOUT_MS, thaw())).toMatchObject({ result: false });
    expect(world.inspect('vm')?.frozen).toBe(true);
    await vi.advanceTimersByTimeAsync(250 - TIMEOUT_MS);
    expect(world.inspect('vm')).toMatchObject({ frozen: false, counters: { watchdogThaws: 1 } });
  });

  it('a freeze without a budget uses the default budget', async () => {
    const short = new SimulatorWorld({ defaultFreezeBudgetMs: 100 });
    try {
      const agent = short.agentFor('h', 'z');
      await agent.execute({ kind: 'StartVM', vm: vmSpec('v') });
      await agent.execute({ kind: 'FreezeThaw', vmName: 'v', option: 'freeze' });
      await vi.advanceTimersByTimeAsync(99);
      expect(short.inspect('v')?.frozen).toBe(true);
      await vi.advanceTimersByTimeAsync(1);
      expect(short.inspect('v')).toMatchObject({ frozen: false, counters: { watchdogThaws: 1 } });
    } finally {
      short.dispose();
    }
  });

  it('stopping a frozen VM thaws it first', async () => {
    await freeze(5_000);
    await host.execute({ kind: 'StopVM', vmName: 'vm', force: true });
    expect(world.inspect('vm')).toMatchObject({
      frozen: false,
      powerState: 'PowerOff',
      lastFreezeWindow: { thawedBy: 'reset' },
    });
  });

  it('the snapshot freeze budget reaches the watchdog when the thaw hangs', async () => {
    world.setGuestAgentMode('vm', 'present');
    // Freeze answers, then the agent hangs before the thaw: the snapshot is kept, the watchdog thaws.
    const original = world.guestThaw.bind(world);
    world.guestThaw = async (vmName: string) => {
      world.setGuestAgentMode(vmName, 'hung');
      return original(vmName);
    };
    // The thaw times out after the guest agent timeout; the watchdog fires at the 300 ms budget.
    const { value: answer, ms } = await fakeMsUntilSettled(
      host.execute(createSnapshot('vm', snapshotTo('q'), { quiesce: true, freezeBudgetMs: 300 })),
      1_000,
    );
    expect(ms).toBe(TIMEOUT_MS);
    expect(answer).toMatchObject({
      result: true,
      details: expect.stringContaining('Thaw after snapshot failed'),
    });
    expect(world.inspect('vm')?.frozen).toBe(true);
    await vi.advanceTimersByTimeAsync(300 - TIMEOUT_MS);
    expect(world.inspect('vm')).toMatchObject({ frozen: false, counters: { watchdogThaws: 1 } });
  });
});
