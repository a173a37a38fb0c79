/**
 * The freeze watchdog survives the agent: a guest frozen through the agent is thawed even when the
 * agent process is SIGKILLed while it is frozen. The freeze and its deadline are persisted before the
 * freeze goes out; the restarted agent re-arms the watchdog for what is left of the budget, thaws at
 * once when the deadline passed, and thaws at once a guest that one of its own snapshots froze (that
 * snapshot died with the process and is rolled back).
 */
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { createSnap, snapTO, vmSpec } from '../qemu/agent-fixtures.ts';
import { until } from '../helpers/eventually.ts';
import { describeQemu, scratchDir, testGuest } from '../qemu/helpers.ts';
import {
  freezeStatus,
  persistedVm,
  quitAllVms,
  spawnAgent,
  stopProcess,
  waitGuestAgent,
  type AgentProcess,
} from './e2e-helpers.ts';

/**
 * The first test's freeze budget, as a multiple of how long the agent took to start last time: the
 * SIGKILL, the restart and a freeze-status query through the guest agent must all land before the
 * deadline. On the busy CI machine a restart took over 4 s (a fixed 4 s budget failed there), and
 * under a CPU burner 4 starts were not always enough for restart plus query, so: 10 starts, never
 * less than 10 s (the test then waits for the thaw at the deadline, so this is its length too).
 */
const BUDGET_PER_START = 10;
const MIN_BUDGET_MS = 10_000;

/** The re-armed watchdog's log line, with what was left of the budget when the agent re-armed it. */
function rearmedLeftMs(output: string): number | undefined {
  for (const line of output.split('\n')) {
    if (!line.includes('watchdog re-armed')) continue;
    const left = (JSON.parse(line) as { leftMs?: unknown }).leftMs;
    if (typeof left === 'number') return left;
  }
  return undefined;
}

describeQemu('agent restart while a guest is frozen (real agent process, tiny guest)', () => {
  const scratch = scratchDir('e2e-thaw');
  const children: ChildProcess[] = [];
  const vm = vmSpec('thaw1', 1, 128);
  let env: Record<string, string>;
  let agent: AgentProcess;
  /** How long the last agent start took (spawn to listening). */
  let lastStartMs = 0;

  async function restart(extra: Record<string, string> = {}): Promise<AgentProcess> {
    const started = Date.now();
    const next = await spawnAgent(scratch.dir, { ...env, ...extra });
    lastStartMs = Date.now() - started;
    children.push(next.child);
    agent = next;
    return next;
  }

  /**
   * Each test starts from a running agent and a thawed guest, whatever the test before it left
   * behind: a failure in one must not fail the next ones in a chain.
   */
  beforeEach(async () => {
    if (agent.child.exitCode !== null || agent.child.signalCode !== null) await restart();
    await until(
      async () => (await freezeStatus(agent.client, 'thaw1')) === 'thawed',
      'a thawed guest',
      60_000,
    );
  });

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
    const budgetMs = Math.max(MIN_BUDGET_MS, BUDGET_PER_START * lastStartMs);
    const sentAt = Date.now();
    const frozen = await agent.client.execute({
      kind: 'FreezeThaw',
      vmName: 'thaw1',
      option: 'freeze',
      budgetMs,
    });
    const answeredAt = Date.now();
    expect(frozen).toMatchObject({ result: true, status: 'frozen' });
    const record = persistedVm(scratch.dir, 'thaw1')?.freeze;
    expect(record?.owner).toBe('caller');
    // The deadline is the budget from a moment inside the call (whatever the call took).
    expect(record!.deadline! - sentAt).toBeGreaterThanOrEqual(budgetMs);
    expect(record!.deadline! - answeredAt).toBeLessThanOrEqual(budgetMs);

    await stopProcess(agent.child, 'SIGKILL');
    const restarted = await restart();
    const restartMs = Date.now() - sentAt;
    console.log(`agent SIGKILLed and restarted ${restartMs} ms after the freeze (budget ${budgetMs} ms)`);
    expect(Date.now(), 'the restart must land before the deadline').toBeLessThan(record!.deadline!);
    // Still frozen: the restart must not cut a caller's freeze short (its snapshot may be in progress).
    expect(await freezeStatus(restarted.client, 'thaw1')).toBe('frozen');
    const leftMs = rearmedLeftMs(restarted.output());
    expect(leftMs, 'the restarted agent logs "watchdog re-armed"').toBeDefined();
    await until(
      async () => (await freezeStatus(restarted.client, 'thaw1')) === 'thawed',
      'the re-armed watchdog to thaw',
      budgetMs + 60_000,
    );
    const thawedAt = Date.now();
    // Not early: the caller's freeze is held to its deadline.
    expect(thawedAt).toBeGreaterThanOrEqual(record!.deadline! - 50);
    // Re-armed for what was left, not for a fresh budget: a fresh one would thaw at
    // armedAt + budget, later than this by the whole restart (relative, so load cannot flip it).
    const armedAt = record!.deadline! - leftMs!;
    expect(thawedAt).toBeLessThan(armedAt + budgetMs);
    console.log(`frozen ${thawedAt - sentAt} ms for a budget of ${budgetMs} ms across a SIGKILL`);
    await until(() => !persistedVm(scratch.dir, 'thaw1')?.freeze, 'the cleared freeze record');
  }, 180_000);

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
    await until(() => Date.now() > sentAt + budgetMs + 300, 'the freeze deadline to pass');
    const restarted = await restart();
    expect(await freezeStatus(restarted.client, 'thaw1')).toBe('thawed');
    expect(restarted.output()).toMatch(/thawing it now/);
    expect(persistedVm(scratch.dir, 'thaw1')?.freeze ?? null).toBeNull();
  }, 180_000);

  it('SIGKILL inside a quiesced snapshot: thawed at once on restart, the snapshot rolled back', async () => {
    // Fault injection: the agent holds the freeze 60 s after freezing (the budget is 30 s), so the kill
    // always lands inside the snapshot's freeze window.
    await stopProcess(agent.child, 'SIGTERM');
    const holding = await restart({ VMSNAP_AGENT_PAUSE_AFTER_STEP: 'frozen:60000' });
    const pending = holding.client.execute(
      createSnap(vm, 'cut-short', 'Disk', { quiesce: true, freezeBudgetMs: 30_000 }),
    );
    pending.catch(() => undefined);
    await until(
      async () => (await freezeStatus(holding.client, 'thaw1')) === 'frozen',
      'the snapshot freeze',
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
  }, 180_000);
});
