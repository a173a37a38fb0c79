/**
 * Every failure point of a storage snapshot, injected through the real stack (manager, job queue,
 * storage strategy, simulator guest agent, two vendor arrays). Each case checks the final snapshot
 * state, what is left on both arrays (rollback) and that the guest ends thawed.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import type { AgentCommand, AnswerFor } from '../../src/core/plugin-api.ts';
import type { TestApp } from '../helpers/test-app.ts';
import {
  FIRST_DRIVER,
  SECOND_DRIVER,
  addVmOnDrivers,
  arrayOf,
  openTwoArrayApp,
  snapshotsOnArray,
  takeSnapshot,
  waitUntil,
  type AddedVm,
} from './array-fixtures.ts';

/** The first array answers well before the second, so "one failed after the other succeeded" is literal. */
const FIRST_LATENCY_MS = 20;
const SECOND_LATENCY_MS = 80;
/** openTestApp gives the simulated guest agent a 300 ms call timeout. */
const GUEST_AGENT_TIMEOUT_MS = 300;

let t: TestApp;
beforeAll(async () => {
  t = await openTwoArrayApp({ latencyMs: FIRST_LATENCY_MS }, { latencyMs: SECOND_LATENCY_MS });
});
afterAll(async () => {
  await t.close();
});
beforeEach(async () => {
  await setBudget(10_000);
  arrayOf(t.app, FIRST_DRIVER).clearFaults();
  arrayOf(t.app, SECOND_DRIVER).clearFaults();
});

async function setBudget(ms: number): Promise<void> {
  await t.app.deps.settings.set('vmsnapshot.freeze.budget', String(ms));
}

let vmCount = 0;
/** A fresh running VM with one volume on each array. */
function newVm(): Promise<AddedVm> {
  vmCount += 1;
  return addVmOnDrivers(t, `fp-${vmCount}`, [FIRST_DRIVER, SECOND_DRIVER]);
}

function takeCalls(): [number, number] {
  return [arrayOf(t.app, FIRST_DRIVER).callCount('take'), arrayOf(t.app, SECOND_DRIVER).callCount('take')];
}

/** Snapshots both arrays hold for the VM's volumes (volume 0 on the first, 1 on the second). */
function leftOnArrays(vm: AddedVm): string[][] {
  return [
    ...snapshotsOnArray(t.app, FIRST_DRIVER, [vm.volumeIds[0]!]),
    ...snapshotsOnArray(t.app, SECOND_DRIVER, [vm.volumeIds[1]!]),
  ];
}

function guest(vm: AddedVm): NonNullable<ReturnType<TestApp['app']['simulator']['inspect']>> {
  const view = t.app.simulator.inspect(vm.instanceName);
  if (view === undefined) throw new Error(`simulator has no VM ${vm.instanceName}`);
  return view;
}

/** Calls `onFrozen` once the simulator shows the guest frozen (the cut is then in progress). */
async function whenFrozen(vm: AddedVm, onFrozen: () => void): Promise<void> {
  await waitUntil('the guest to freeze', () => (guest(vm).frozen ? true : undefined), 5_000, 1);
  onFrozen();
}

/** Runs `after` with the answer of the first gateway command of `kind`, before the strategy sees it. */
function onAnswer(kind: AgentCommand['kind'], after: () => void): () => void {
  const gateway = t.app.deps.agents;
  const send = gateway.send.bind(gateway);
  let fired = false;
  gateway.send = async <C extends AgentCommand>(
    hostId: string,
    command: C,
    options?: { timeoutMs?: number },
  ): Promise<AnswerFor<C>> => {
    const answer = await send(hostId, command, options);
    if (!fired && command.kind === kind) {
      fired = true;
      after();
    }
    return answer;
  };
  return () => {
    gateway.send = send;
  };
}

/**
 * The freeze budgets the strategy hands the host agent from now until the test ends. "Thawed within
 * the budget" is checked as this fact plus who thawed: the watchdog firing exactly at the budget it
 * was given is proved on the fake clock (test/simulator/guest-agent.test.ts), where a busy machine
 * cannot make a timer late.
 */
function freezeBudgetsSent(): number[] {
  const budgets: number[] = [];
  const gateway = t.app.deps.agents;
  const send = gateway.send.bind(gateway);
  gateway.send = async <C extends AgentCommand>(
    hostId: string,
    command: C,
    options?: { timeoutMs?: number },
  ): Promise<AnswerFor<C>> => {
    if (command.kind === 'FreezeThaw' && command.option === 'freeze') budgets.push(command.budgetMs ?? NaN);
    return send(hostId, command, options);
  };
  onTestFinished(() => {
    gateway.send = send;
  });
  return budgets;
}

describe('freeze fails', () => {
  it('no guest agent with the required policy: Error, nothing on either array, never frozen', async () => {
    const vm = await newVm();
    t.app.simulator.configure({ value: 'guestagent:absent', vmName: vm.instanceName });
    const before = takeCalls();

    const { snap, error } = await takeSnapshot(t, vm.id, { quiesce: true });

    expect(snap.state).toBe('Error');
    expect(error).toContain('the QEMU guest agent is not reachable');
    expect(takeCalls()).toEqual(before);
    expect(leftOnArrays(vm)).toEqual([[], []]);
    expect(guest(vm).frozen).toBe(false);
    expect(guest(vm).counters.freezes).toBe(0);
  });

  it('no guest agent with the best-effort policy: Ready, crash-consistent, marked no-guest-agent', async () => {
    const vm = await newVm();
    t.app.simulator.configure({ value: 'guestagent:absent', vmName: vm.instanceName });

    const { snap, error } = await takeSnapshot(t, vm.id, {
      quiesce: true,
      options: { quiescePolicy: 'best-effort' },
    });

    expect(error).toBe('');
    expect(snap.state).toBe('Ready');
    expect(snap.details['consistency']).toBe('no-guest-agent');
    expect(String(snap.details['quiesceNote'])).toContain('guest agent is not reachable');
    expect(snap.details['freezeWindowMs']).toBe(0);
    expect(leftOnArrays(vm).map((refs) => refs.length)).toEqual([1, 1]);
    expect(guest(vm).counters.freezes).toBe(0);
  });

  it('the freeze command fails on the host: Error, the guest is thawed, nothing on either array', async () => {
    const vm = await newVm();
    t.app.simulator.configure({
      name: 'FreezeThaw',
      value: 'result:fail',
      vmName: vm.instanceName,
      count: 1,
    });
    const before = takeCalls();

    const { snap, error } = await takeSnapshot(t, vm.id, { quiesce: true });

    expect(snap.state).toBe('Error');
    expect(error).toContain('guest agent freeze failed');
    expect(takeCalls()).toEqual(before);
    expect(leftOnArrays(vm)).toEqual([[], []]);
    expect(guest(vm).frozen).toBe(false);
  });
});

describe('one driver fails after the other succeeded', () => {
  it('Error, the other array rolled back, the guest thawed once', async () => {
    const vm = await newVm();
    const first = arrayOf(t.app, FIRST_DRIVER);
    first.clearFaults();
    arrayOf(t.app, SECOND_DRIVER).failNext({ op: 'take', count: 1, message: 'array B is out of space' });
    const deletesBefore = first.callCount('delete');
    const before = takeCalls();

    const { snap, error } = await takeSnapshot(t, vm.id, { quiesce: true });

    expect(snap.state).toBe('Error');
    expect(error).toContain(`storage driver ${SECOND_DRIVER} failed: array B is out of space`);
    expect(error).toContain('rolled back 1 volume snapshot(s)');
    // Both arrays were asked; the first one's cut succeeded and was then deleted again.
    expect(takeCalls()).toEqual([before[0] + 1, before[1] + 1]);
    expect(first.callCount('delete')).toBe(deletesBefore + 1);
    expect(leftOnArrays(vm)).toEqual([[], []]);
    expect(guest(vm).frozen).toBe(false);
    expect(guest(vm).counters).toEqual({ freezes: 1, thaws: 1, watchdogThaws: 0 });
    expect(guest(vm).lastFreezeWindow?.thawedBy).toBe('agent');
  });
});

describe('thaw fails', () => {
  const BUDGET_MS = 800;

  async function expectWatchdogThaw(vm: AddedVm, budgets: readonly number[]): Promise<void> {
    const window = await waitUntil(
      'the watchdog to thaw the guest',
      () => (guest(vm).frozen ? undefined : guest(vm).lastFreezeWindow),
      BUDGET_MS + 20_000,
    );
    expect(window?.thawedBy).toBe('watchdog');
    expect(budgets).toEqual([BUDGET_MS]);
    expect(guest(vm).counters).toMatchObject({ freezes: 1, thaws: 0, watchdogThaws: 1 });
  }

  it('the thaw answer fails: the snapshot is kept, the watchdog thaws the guest within the budget', async () => {
    await setBudget(BUDGET_MS);
    const vm = await newVm();
    const budgets = freezeBudgetsSent();
    const created = takeSnapshot(t, vm.id, { quiesce: true });
    await whenFrozen(vm, () =>
      t.app.simulator.configure({
        name: 'FreezeThaw',
        value: 'result:fail',
        vmName: vm.instanceName,
        count: 1,
      }),
    );
    const { snap, error } = await created;

    // The cut was taken while frozen: its data is consistent, so it is kept.
    expect(error).toBe('');
    expect(snap.state).toBe('Ready');
    expect(snap.details['thaw']).toBe('failed (watchdog)');
    expect(snap.details['consistency']).toBe('application-consistent');
    expect(leftOnArrays(vm).map((refs) => refs.length)).toEqual([1, 1]);
    await expectWatchdogThaw(vm, budgets);
  });

  it('the guest agent hangs after the freeze: the thaw times out, the watchdog thaws within the budget', async () => {
    await setBudget(BUDGET_MS);
    const vm = await newVm();
    const budgets = freezeBudgetsSent();
    const created = takeSnapshot(t, vm.id, { quiesce: true });
    await whenFrozen(vm, () =>
      t.app.simulator.configure({ value: 'guestagent:hung', vmName: vm.instanceName }),
    );
    const { snap, error } = await created;

    expect(error).toBe('');
    expect(snap.state).toBe('Ready');
    expect(snap.details['thaw']).toBe('failed (watchdog)');
    // The strategy gave up on the thaw after the agent's timeout, not after the whole budget
    // (relative: the budget is well over twice the timeout).
    expect(Number(snap.details['phase.thaw.ms'])).toBeGreaterThanOrEqual(GUEST_AGENT_TIMEOUT_MS - 1);
    expect(Number(snap.details['phase.thaw.ms'])).toBeLessThan(BUDGET_MS);
    await expectWatchdogThaw(vm, budgets);
  });
});

describe('the guest agent hangs at the freeze', () => {
  it('hung from the start: Error (required), never frozen, nothing on either array', async () => {
    const vm = await newVm();
    t.app.simulator.configure({ value: 'guestagent:hung', vmName: vm.instanceName });
    const before = takeCalls();

    const { snap, error } = await takeSnapshot(t, vm.id, { quiesce: true });

    expect(snap.state).toBe('Error');
    expect(error).toContain('guest-ping timed out');
    expect(takeCalls()).toEqual(before);
    expect(leftOnArrays(vm)).toEqual([[], []]);
    expect(guest(vm)).toMatchObject({ frozen: false, counters: { freezes: 0 } });
  });

  it('answers the ping, then hangs on the freeze: Error (required), never left frozen', async () => {
    const vm = await newVm();
    const restore = onAnswer('GuestPing', () =>
      t.app.simulator.configure({ value: 'guestagent:hung', vmName: vm.instanceName }),
    );
    const before = takeCalls();
    try {
      const { snap, error } = await takeSnapshot(t, vm.id, { quiesce: true });

      expect(snap.state).toBe('Error');
      expect(error).toContain('guest-fsfreeze-freeze timed out');
      expect(takeCalls()).toEqual(before);
      expect(leftOnArrays(vm)).toEqual([[], []]);
      expect(guest(vm)).toMatchObject({ frozen: false, counters: { freezes: 0 } });
    } finally {
      restore();
    }
  });

  it('a freeze that lands after the strategy gave up is thawed within the budget', async () => {
    // The agent answers the freeze after 250 ms, past the 200 ms budget the strategy waits for:
    // the guest freezes late, and must still be thawed (by the late thaw or the watchdog).
    const budgetMs = 200;
    await setBudget(budgetMs);
    const vm = await newVm();
    const budgets = freezeBudgetsSent();
    const restore = onAnswer('GuestPing', () =>
      t.app.simulator.configure({ value: 'guestagent:slow:250', vmName: vm.instanceName }),
    );
    try {
      const { snap, error } = await takeSnapshot(t, vm.id, { quiesce: true });
      expect(snap.state).toBe('Error');
      expect(error).toContain('guest agent freeze did not complete');
      expect(leftOnArrays(vm)).toEqual([[], []]);
    } finally {
      restore();
    }
    const window = await waitUntil(
      'the late freeze to be thawed',
      () => (guest(vm).frozen ? undefined : guest(vm).lastFreezeWindow),
      budgetMs + 20_000,
    );
    expect(guest(vm).counters.freezes).toBe(1);
    expect(window).toBeDefined();
    expect(budgets).toEqual([budgetMs]);
  });

  it('a host agent that delays the freeze past the thaw: the watchdog still thaws within the budget', async () => {
    // The host holds the freeze 300 ms before running it; the strategy gives up at 200 ms and its
    // thaw overtakes the freeze (nothing to thaw yet). Only the watchdog armed by the late freeze
    // can end it.
    const budgetMs = 200;
    await setBudget(budgetMs);
    const vm = await newVm();
    const budgets = freezeBudgetsSent();
    t.app.simulator.configure({ name: 'FreezeThaw', value: 'wait:300', vmName: vm.instanceName, count: 1 });

    const { snap, error } = await takeSnapshot(t, vm.id, { quiesce: true });
    expect(snap.state).toBe('Error');
    expect(error).toContain('guest agent freeze did not complete');
    expect(leftOnArrays(vm)).toEqual([[], []]);

    const window = await waitUntil(
      'the watchdog to thaw the late freeze',
      () => (guest(vm).counters.freezes === 1 && !guest(vm).frozen ? guest(vm).lastFreezeWindow : undefined),
      budgetMs + 20_000,
    );
    expect(window?.thawedBy).toBe('watchdog');
    expect(budgets).toEqual([budgetMs]);
  });
});
