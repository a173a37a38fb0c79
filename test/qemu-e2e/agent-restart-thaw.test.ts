/**
 * The freeze watchdog survives the agent: a guest frozen through the agent is thawed even when the
 * agent process is SIGKILLed while it is frozen. The freeze and its deadline are persisted before the
 * freeze goes out; the restarted agent re-arms the watchdog for what is left of the budget, thaws at
 * once when the deadline passed, and thaws at once a guest that one of its own snapshots froze (that
 * snapshot died with the process and is rolled back).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { createSnap, snapTO, vmSpec } from '../qemu/agent-fixtures.ts';
import { describeQemu, scratchDir, testGuest } from '../qemu/helpers.ts';
import {
  freezeStatus,
  persistedVm,
  quitAllVms,
  spawnAgent,
  stopProcess,
  waitFor,
  waitGuestAgent,
  type AgentProcess,
} from './e2e-helpers.ts';

/**
 * How late a thaw may be seen after its deadline: the status is read through the TCG guest's agent,
 * which answers in tens of ms when quiet but took over a second with the whole suite and a busy loop
 * sharing the two vCPUs. Thawing early is checked separately, to the deadline.
 */
const SLACK_MS = 2000;

describeQemu('agent restart while a guest is frozen (real agent process, tiny guest)', () => {
  const scratch = scratchDir('e2e-thaw');
  const children: ChildProcess[] = [];
  const vm = vmSpec('thaw1', 1, 128);
  let env: Record<string, string>;
  let agent: AgentProcess;

  async function restart(extra: Record<string, string> = {}): Promise<AgentProcess> {
    const next = await spawnAgent(scratch.dir, { ...env, ...extra });
    children.push(next.child);
    agent = next;
    return next;
  }

  beforeAll(async () => {
    const guest = testGuest();
    env = { VMSNAP_AGENT_GUEST_KERNEL: guest.kernel, VMSNAP_AGENT_GUEST_INITRD: guest.initrd };
    await restart();
    expect((await agent.client.execute({ kind: 'CreateVM', vm })).result).toBe(true);
    expect((await agent.client.execute({ kind: 'StartVM', vm })).result).toBe(true);
    const bootMs = await waitGuestAgent(agent.client, 'thaw1');
    console.log(`tiny guest (TCG): qemu-ga answered ${bootMs} ms after StartVM`);
  }, 120_000);

  afterAll(async () => {
    for (const child of children) await stopProcess(child, 'SIGKILL');
    await quitAllVms(scratch.dir);
    scratch.cleanup();
  });

  it('SIGKILL before the deadline: the restarted agent re-arms the watchdog and thaws at the deadline', async () => {
    const budgetMs = 4000;
    const sentAt = Date.now();
    const frozen = await agent.client.execute({
      kind: 'FreezeThaw',
      vmName: 'thaw1',
      option: 'freeze',
      budgetMs,
    });
    expect(frozen).toMatchObject({ result: true, status: 'frozen' });
    const record = persistedVm(scratch.dir, 'thaw1')?.freeze;
    expect(record?.owner).toBe('caller');
    expect(record!.deadline! - sentAt).toBeGreaterThanOrEqual(budgetMs);
    expect(record!.deadline! - sentAt).toBeLessThanOrEqual(budgetMs + 500);

    await stopProcess(agent.child, 'SIGKILL');
    const restarted = await restart();
    const restartMs = Date.now() - sentAt;
    console.log(`agent SIGKILLed and restarted ${restartMs} ms after the freeze`);
    expect(Date.now()).toBeLessThan(record!.deadline!);
    // Still frozen: the restart must not cut a caller's freeze short (its snapshot may be in progress).
    expect(await freezeStatus(restarted.client, 'thaw1')).toBe('frozen');
    await waitFor(
      'the re-armed watchdog to thaw',
      async () => ((await freezeStatus(restarted.client, 'thaw1')) === 'thawed' ? true : undefined),
      budgetMs + SLACK_MS,
      50,
    );
    const thawedAt = Date.now();
    expect(thawedAt).toBeGreaterThanOrEqual(record!.deadline! - 50);
    expect(thawedAt - sentAt).toBeLessThan(budgetMs + SLACK_MS);
    console.log(`frozen ${thawedAt - sentAt} ms for a budget of ${budgetMs} ms across a SIGKILL`);
    expect(restarted.output()).toMatch(/watchdog re-armed/);
    await waitFor(
      'the cleared freeze record',
      () => (persistedVm(scratch.dir, 'thaw1')?.freeze ? undefined : true),
      2000,
    );
  });

  it('SIGKILL and back after the deadline: the guest is thawed before the agent serves', async () => {
    const budgetMs = 1500;
    const sentAt = Date.now();
    const frozen = await agent.client.execute({
      kind: 'FreezeThaw',
      vmName: 'thaw1',
      option: 'freeze',
      budgetMs,
    });
    expect(frozen).toMatchObject({ result: true, status: 'frozen' });
    await stopProcess(agent.child, 'SIGKILL');
    // Nothing watches the guest now: it stays frozen past its deadline until an agent is back.
    await new Promise((r) => setTimeout(r, Math.max(0, sentAt + budgetMs + 300 - Date.now())));
    const restarted = await restart();
    expect(await freezeStatus(restarted.client, 'thaw1')).toBe('thawed');
    expect(restarted.output()).toMatch(/thawing it now/);
    expect(persistedVm(scratch.dir, 'thaw1')?.freeze ?? null).toBeNull();
  });

  it('SIGKILL inside a quiesced snapshot: thawed at once on restart, the snapshot rolled back', async () => {
    // Fault injection: the agent holds the freeze 60 s after freezing (the budget is 30 s), so the kill
    // always lands inside the snapshot's freeze window.
    await stopProcess(agent.child, 'SIGTERM');
    const holding = await restart({ VMSNAP_AGENT_PAUSE_AFTER_STEP: 'frozen:60000' });
    const pending = holding.client.execute(
      createSnap(vm, 'cut-short', 'Disk', { quiesce: true, freezeBudgetMs: 30_000 }),
    );
    pending.catch(() => undefined);
    await waitFor(
      'the snapshot freeze',
      async () => ((await freezeStatus(holding.client, 'thaw1')) === 'frozen' ? true : undefined),
      20_000,
    );
    expect(persistedVm(scratch.dir, 'thaw1')?.freeze?.owner).toBe('snapshot');
    const killedAt = Date.now();
    await stopProcess(holding.child, 'SIGKILL');
    await expect(pending).rejects.toThrow();

    const restarted = await restart();
    expect(await freezeStatus(restarted.client, 'thaw1')).toBe('thawed');
    console.log(`snapshot freeze ended ${Date.now() - killedAt} ms after the SIGKILL (restart included)`);
    const state = persistedVm(scratch.dir, 'thaw1');
    expect(state?.freeze ?? null).toBeNull();
    expect(state?.snapshots.find((s) => s.name === 'cut-short')).toMatchObject({ state: 'Error' });
    const check = await restarted.client.execute({
      kind: 'CheckVMSnapshot',
      vmName: 'thaw1',
      target: snapTO('cut-short'),
    });
    expect(check).toMatchObject({ result: true, exists: false, current: false, powerState: 'PowerOn' });
    // The guest still works: a second quiesced snapshot freezes and thaws normally.
    const again = await restarted.client.execute(
      createSnap(vm, 'after-restart', 'Disk', { quiesce: true, freezeBudgetMs: 5000 }),
    );
    expect(again.result).toBe(true);
    expect(await freezeStatus(restarted.client, 'thaw1')).toBe('thawed');
  });
});
