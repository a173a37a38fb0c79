/**
 * Against a real qemu-ga in the tiny Linux guest (TCG): quiesce around the disk cut, the freeze
 * watchdog, and a live memory snapshot whose revert brings back the guest's RAM (a tmpfs file).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { QemuHostAgent } from '../../src/hypervisors/qemu/qemu-host-agent.ts';
import { createSnap, revertSnap, vmSpec } from './agent-fixtures.ts';
import { until } from '../helpers/eventually.ts';
import { describeQemu, hasPattern, scratchDir, testGuest } from './helpers.ts';

type Ok = { result: true } & Record<string, unknown>;
function ok(answer: { result: boolean; details?: string }): Ok {
  if (!answer.result) throw new Error(`agent answered failure: ${answer.details}`);
  return answer as Ok;
}

describeQemu('QEMU host agent with qemu-ga in the tiny Linux guest', () => {
  const scratch = scratchDir('guest');
  let agent: QemuHostAgent;
  const statusInsideWindow: string[] = [];
  const vm = vmSpec('g1', 2, 192);
  let killWriterOnSave = false;

  async function waitGuest(name: string, timeoutMs = 60_000): Promise<number> {
    const started = Date.now();
    while (Date.now() - started < timeoutMs) {
      const ping = await agent.execute({ kind: 'GuestPing', vmName: name });
      if (ping.result && ping.available) return Date.now() - started;
    }
    throw new Error(`guest agent of ${name} did not answer within ${timeoutMs} ms`);
  }

  beforeAll(async () => {
    const guest = testGuest();
    agent = new QemuHostAgent({
      stateDir: path.join(scratch.dir, 'state'),
      poolDir: path.join(scratch.dir, 'pool'),
      guestBoot: guest,
      saveStallMs: 2000,
      afterStep: async (_vm, step) => {
        if (step === 'saving' && killWriterOnSave) {
          // Fault injection: the RAM file's writer dies in the middle of the save. The writer is a
          // shell that forks a subshell and `sleep` (the stall): on a loaded machine they may not
          // exist yet at the first look, so keep killing for a while, well inside the 2 s stall.
          const qemuPid = agent.runningVm('g1')!.pid;
          for (const until = Date.now() + 1000; Date.now() < until;) {
            for (const pid of descendantsOf(qemuPid)) process.kill(pid, 'SIGKILL');
            await new Promise((r) => setTimeout(r, 50));
          }
          return;
        }
        if (step !== 'frozen') return;
        const status = await agent.execute({ kind: 'FreezeThaw', vmName: 'g1', option: 'status' });
        statusInsideWindow.push(status.result ? status.status : `error: ${status.details}`);
      },
    });
    await agent.init();
    ok(await agent.execute({ kind: 'CreateVM', vm }));
    ok(await agent.execute({ kind: 'StartVM', vm }));
    const bootMs = await waitGuest('g1');
    console.log(`tiny guest (TCG): qemu-ga answered ${bootMs} ms after StartVM`);
  }, 120_000);
  afterAll(async () => {
    await agent?.stopAll();
    scratch.cleanup();
  });

  it('a quiesced disk-only snapshot freezes only around the cut: frozen inside, thawed after, no pause', async () => {
    ok(await agent.execute(createSnap(vm, 'q0', 'Disk', { quiesce: true, freezeBudgetMs: 5000 })));
    const answer = ok(
      await agent.execute(createSnap(vm, 'q1', 'Disk', { quiesce: true, freezeBudgetMs: 5000 })),
    );
    expect(statusInsideWindow).toEqual(['frozen', 'frozen']);
    expect(ok(await agent.execute({ kind: 'FreezeThaw', vmName: 'g1', option: 'status' })).status).toBe(
      'thawed',
    );
    const timings = answer.timings as {
      pauseMs: number;
      freezeMs: number;
      maxFreezeMs: number;
      frozenTotalMs: number;
      totalMs: number;
    };
    expect(timings.pauseMs).toBe(0);
    expect(timings.freezeMs).toBeGreaterThan(0);
    // Issue 15: the dirty data went out through a guest `sync` (no freeze), so the window around the
    // cut is the only freeze: the longest and the total are that one (the old flush cycle made two).
    expect(answer.details).toMatch(/over 1 freeze\(s\); guest sync before the freeze done in/);
    expect(timings.maxFreezeMs).toBeGreaterThan(0);
    expect(timings.maxFreezeMs).toBeLessThanOrEqual(timings.freezeMs + 0.01);
    expect(timings.frozenTotalMs).toBe(timings.maxFreezeMs);
    // Only around the cut: a part of the snapshot's time, not all of it (relative, so a slow shared CI
    // host cannot flip it; the 20 ms target of issue 6 is measured by bench/qemu-bench.ts).
    expect(timings.freezeMs).toBeLessThan(timings.totalMs);
    expect(answer.details).toMatch(/freeze window .* ms \(freeze .*, cut .*, thaw .*\)/);
    console.log(
      `quiesced 2-disk disk-only snapshot (TCG): freeze ${timings.freezeMs} ms, pause ${timings.pauseMs} ms`,
    );
  });

  it('the agent watchdog thaws within the budget when the caller never thaws', async () => {
    const sentAt = Date.now();
    const frozen = ok(
      await agent.execute({ kind: 'FreezeThaw', vmName: 'g1', option: 'freeze', budgetMs: 1000 }),
    );
    expect(frozen.status).toBe('frozen');
    const status = async () =>
      String(ok(await agent.execute({ kind: 'FreezeThaw', vmName: 'g1', option: 'status' })).status);
    // Thawed by the watchdog (nobody else thaws here), and not before the budget. How late a timer
    // fires on a busy host is not this code's to bound.
    await until(async () => (await status()) === 'thawed', 'the watchdog to thaw the guest', 60_000);
    expect(Date.now() - sentAt).toBeGreaterThanOrEqual(1000 - 50);
  });

  it('live memory snapshot + revert brings back guest RAM: tmpfs file from before is there, from after is gone', async () => {
    const guest = agent.guestAgent('g1')!;
    await guest.fileWrite('/dev/shm/before', 'written before the snapshot');
    const snap = ok(await agent.execute(createSnap(vm, 'mem1', 'DiskAndMemory')));
    const pauseMs = (snap.timings as { pauseMs: number }).pauseMs;
    console.log(`live memory snapshot (TCG, 192 MiB guest): pause ${pauseMs} ms`);
    await guest.fileWrite('/dev/shm/after', 'written after the snapshot');
    expect((await guest.fileRead('/dev/shm/after'))?.toString()).toBe('written after the snapshot');

    const reverted = ok(await agent.execute(revertSnap(vm, 'mem1', 'DiskAndMemory')));
    expect(reverted.powerState).toBe('PowerOn');
    expect(await agent.runningVm('g1')!.status()).toBe('running');
    await waitGuest('g1', 20_000);
    const after = agent.guestAgent('g1')!;
    expect((await after.fileRead('/dev/shm/before'))?.toString()).toBe('written before the snapshot');
    expect(await after.fileRead('/dev/shm/after')).toBeNull();
    // Disks came back too: the guest's ext4 data disk is readable and the VM still writes to it.
    await after.fileWrite('/mnt/data/post-revert', 'ok');
    expect((await after.fileRead('/mnt/data/post-revert'))?.toString()).toBe('ok');
    expect(await hasPattern(agent.runningVm('g1')!.qmp, 1, 0, '0', '64k')).toBe(true);
  });

  it('a RAM save whose writer dies: snapshot Error, partial files gone, the VM runs on its disks again', async () => {
    const pidBefore = agent.runningVm('g1')!.pid;
    const guest = agent.guestAgent('g1')!;
    await guest.fileWrite('/mnt/data/kept', 'written before the failed snapshot');
    // A freeze/thaw cycle writes the guest's dirty ext4 data to the disk (the restart below is a hard kill).
    ok(await agent.execute({ kind: 'FreezeThaw', vmName: 'g1', option: 'freeze' }));
    ok(await agent.execute({ kind: 'FreezeThaw', vmName: 'g1', option: 'thaw' }));
    const started = Date.now();
    const diskFiles = agent.vmRecord('g1')!.disks.map((d) => d.active);
    killWriterOnSave = true;
    const answer = await agent.execute(createSnap(vm, 'broken', 'DiskAndMemory'));
    killWriterOnSave = false;
    console.log(`failed save + rollback + VM restart: ${Date.now() - started} ms`);
    expect(answer.result).toBe(false);
    expect(agent.snapshotRecord('g1', 'broken')).toMatchObject({
      state: 'Error',
      disks: [],
      vmstate: expect.any(String),
    });
    expect(existsSync(agent.snapshotRecord('g1', 'broken')!.vmstate!)).toBe(false);
    expect(agent.vmRecord('g1')!.disks.map((d) => d.active)).toEqual(diskFiles);
    expect(agent.vmRecord('g1')!.pending).toBeNull();
    expect(await agent.runningVm('g1')!.status()).toBe('running');
    await waitGuest('g1', 30_000);
    // QEMU 7.2 wedges the guest when the save fails mid-write, so the agent restarted the VM (cold).
    expect(agent.runningVm('g1')!.pid).not.toBe(pidBefore);
    // The data disk kept what the guest wrote before (the overlay was merged back offline).
    expect((await agent.guestAgent('g1')!.fileRead('/mnt/data/kept'))?.toString()).toBe(
      'written before the failed snapshot',
    );
  }, 90_000);
});

/** Pids of every descendant of `pid`, from /proc (QEMU's `exec:` writer is a shell and its children). */
function descendantsOf(pid: number): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parentOf.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // exited meanwhile
    }
  }
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const parent = queue.shift()!;
    for (const [child, ppid] of parentOf) {
      if (ppid !== parent) continue;
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}
