/**
 * Issue 15, item 3, against a real qemu-ga in the tiny Linux guest (TCG): every freeze of a quiesced
 * snapshot is counted (the old freeze/thaw flush cycle shows up in the longest freeze and the total),
 * and the pre-freeze `sync`'s fault paths: guest-exec disabled in qemu-ga, a sync that never ends, and
 * a qemu-ga that stops answering during the sync. In each, the snapshot is taken or fails cleanly and
 * the guest is left thawed.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { VmSpecTO } from '../../src/core/plugin-api.ts';
import { QemuHostAgent, type QemuHostAgentOptions } from '../../src/hypervisors/qemu/qemu-host-agent.ts';
import { QmpTimeoutError } from '../../src/hypervisors/qemu/qmp-client.ts';
import { until } from '../helpers/eventually.ts';
import { createSnap, vmSpec } from './agent-fixtures.ts';
import { describeQemu, scratchDir, testGuest } from './helpers.ts';

type Timings = { freezeMs: number; maxFreezeMs: number; frozenTotalMs: number };
type Ok = { result: true; details?: string; timings: Timings };
function ok(answer: { result: boolean; details?: string }): Ok {
  if (!answer.result) throw new Error(`agent answered failure: ${answer.details}`);
  return answer as unknown as Ok;
}

describeQemu('QEMU host agent: freeze accounting and the pre-freeze sync (tiny Linux guest)', () => {
  const scratch = scratchDir('freeze-flush');
  const agents = new Map<string, QemuHostAgent>();
  const vms = new Map<string, VmSpecTO>();
  let stopGuestAgentAtCut = false;

  async function boot(name: string, options: Partial<QemuHostAgentOptions>, append?: string) {
    const guest = testGuest();
    const agent = new QemuHostAgent({
      stateDir: path.join(scratch.dir, name, 'state'),
      poolDir: path.join(scratch.dir, name, 'pool'),
      guestBoot: { ...guest, ...(append ? { append } : {}) },
      ...options,
    });
    await agent.init();
    agents.set(name, agent);
    const vm = vmSpec(name, 2, 128);
    vms.set(name, vm);
    ok(await agent.execute({ kind: 'CreateVM', vm }));
    ok(await agent.execute({ kind: 'StartVM', vm }));
    await until(
      async () => {
        const ping = await agent.execute({ kind: 'GuestPing', vmName: name });
        return ping.result && ping.available;
      },
      `qemu-ga of ${name} to answer`,
      { timeoutMs: 150_000 },
    );
  }

  async function status(name: string): Promise<string> {
    const answer = await agents.get(name)!.execute({ kind: 'FreezeThaw', vmName: name, option: 'status' });
    return answer.result ? String(answer.status) : `error: ${answer.details}`;
  }

  beforeAll(async () => {
    await Promise.all([
      boot('fcycle', { preFreezeFlush: 'freeze-cycle' }),
      boot('noexec', {}, 'console=ttyS0 quiet panic=-1 vmsnap.qga_block=guest-exec,guest-exec-status'),
      boot('hang', {
        // A sync that never ends, and a short deadline for it.
        guestSync: { command: ['sleep', '600'], timeoutMs: 500, requestTimeoutMs: 4000 },
        guestSyncTimeoutMs: 30_000,
        afterStep: async (vmName, step) => {
          if (step !== 'cutting' || !stopGuestAgentAtCut) return;
          // Fault injection: qemu-ga stops (SIGSTOP from a child it started, which resumes it
          // later) after the snapshot's ping and before its sync. Wait until it answers nothing.
          const guest = agents.get(vmName)!.guestAgent(vmName)!;
          // On a starved guest the child can stop qemu-ga before qemu-ga sends the exec's answer:
          // then this exec times out, which is the fault wanted. The wait below is the check.
          await guest
            .exec('sh', ['-c', 'kill -STOP $PPID; sleep 20; kill -CONT $PPID'])
            .catch((error: unknown) => {
              if (!(error instanceof QmpTimeoutError)) throw error;
            });
          await until(async () => !(await guest.ping(300)), 'qemu-ga to stop');
        },
      }),
    ]);
  }, 200_000);
  afterAll(async () => {
    for (const agent of agents.values()) await agent.stopAll();
    scratch.cleanup();
  });

  it('the old freeze/thaw flush cycle is counted: two freezes, the total above the longest', async () => {
    const answer = ok(
      await agents
        .get('fcycle')!
        .execute(createSnap(vms.get('fcycle')!, 'c1', 'Disk', { quiesce: true, freezeBudgetMs: 5000 })),
    );
    expect(answer.details).toMatch(/over 2 freeze\(s\); flush freeze\/thaw before it/);
    const t = answer.timings;
    // Two disjoint intervals, each > 0: the sum is above either, so above the longest.
    expect(t.frozenTotalMs).toBeGreaterThan(t.maxFreezeMs);
    expect(t.frozenTotalMs).toBeGreaterThan(t.freezeMs);
    expect(await status('fcycle')).toBe('thawed');
  });

  it('guest-exec disabled in qemu-ga: the sync is refused, the snapshot is taken with one freeze, thawed', async () => {
    const answer = ok(
      await agents
        .get('noexec')!
        .execute(createSnap(vms.get('noexec')!, 'n1', 'Disk', { quiesce: true, freezeBudgetMs: 5000 })),
    );
    expect(answer.details).toMatch(
      /over 1 freeze\(s\); guest sync before the freeze refused in .* ms: .*disabled/,
    );
    expect(answer.timings.frozenTotalMs).toBe(answer.timings.maxFreezeMs);
    expect(await status('noexec')).toBe('thawed');
    expect(agents.get('noexec')!.vmRecord('noexec')!.freeze ?? null).toBeNull();
  });

  it('a sync that does not finish by its deadline: the freeze goes ahead, snapshot taken, thawed', async () => {
    const answer = ok(
      await agents
        .get('hang')!
        .execute(createSnap(vms.get('hang')!, 'h1', 'Disk', { quiesce: true, freezeBudgetMs: 5000 })),
    );
    expect(answer.details).toMatch(/over 1 freeze\(s\); guest sync before the freeze timed-out in/);
    expect(await status('hang')).toBe('thawed');
    expect(agents.get('hang')!.vmRecord('hang')!.freeze ?? null).toBeNull();
  });

  it('qemu-ga stops answering during the sync: the snapshot fails before any freeze, nothing left behind', async () => {
    const agent = agents.get('hang')!;
    const record = agent.vmRecord('hang')!;
    const disksBefore = record.disks.map((d) => d.active);
    const poolBefore = readdirSync(path.join(scratch.dir, 'hang', 'pool')).sort();
    stopGuestAgentAtCut = true;
    const answer = await agent.execute(
      createSnap(vms.get('hang')!, 'h2', 'Disk', { quiesce: true, freezeBudgetMs: 5000 }),
    );
    stopGuestAgentAtCut = false;
    expect(answer.result).toBe(false);
    expect(!answer.result && answer.details).toMatch(
      /^cannot quiesce hang: its guest agent stopped answering during the pre-freeze sync/,
    );
    // No freeze was recorded or armed, the overlays were dropped, the VM runs on its disks.
    expect(record.freeze ?? null).toBeNull();
    expect(agent.vmRecord('hang')!.pending).toBeNull();
    expect(agent.vmRecord('hang')!.disks.map((d) => d.active)).toEqual(disksBefore);
    expect(readdirSync(path.join(scratch.dir, 'hang', 'pool')).sort()).toEqual(poolBefore);
    expect(await agent.runningVm('hang')!.status()).toBe('running');
    // qemu-ga comes back (its stopper resumes it): the guest was never frozen, and snapshots work.
    await until(async () => (await status('hang')) === 'thawed', 'qemu-ga back, thawed', {
      timeoutMs: 90_000,
    });
    ok(
      await agent.execute(
        createSnap(vms.get('hang')!, 'h3', 'Disk', { quiesce: true, freezeBudgetMs: 5000 }),
      ),
    );
    expect(await status('hang')).toBe('thawed');
  }, 150_000);
});
