/**
 * Deleting external snapshots of a running VM once QEMU has been restarted (issue 10, items 7 and
 * 18), OS-less VMs with two disks, data checked bit for bit.
 *
 * After a restart QEMU opens the backing files itself and names their nodes `#block<n>`; a live
 * merge must not build its job id from such a name. A merge that fails must not block the VM, and a
 * retried delete must finish it.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { QemuHostAgent } from '../../src/hypervisors/qemu/qemu-host-agent.ts';
import { createSnap, deleteSnap, revertSnap, snapTO, vmSpec } from './agent-fixtures.ts';
import { describeQemu, hasPattern, scratchDir, writePattern } from './helpers.ts';

type Ok = { result: true } & Record<string, unknown>;

function ok(answer: { result: boolean; details?: string }): Ok {
  if (!answer.result) throw new Error(`agent answered failure: ${answer.details}`);
  return answer as Ok;
}

describeQemu('QEMU host agent: deleting snapshots after a QEMU restart', () => {
  const scratch = scratchDir('agent-merge');
  const poolDir = path.join(scratch.dir, 'pool');
  /** Fault injection: the persisted step `step` of `vm` throws once, after `pass` such steps went by. */
  let failAt: { vm: string; step: string; pass: number } | undefined;
  let agent: QemuHostAgent;

  beforeAll(async () => {
    agent = new QemuHostAgent({
      stateDir: path.join(scratch.dir, 'state'),
      poolDir,
      afterStep: (vmName, step) => {
        if (failAt?.vm !== vmName || failAt.step !== step) return;
        if (failAt.pass-- > 0) return;
        failAt = undefined;
        throw new Error(`injected failure at step ${step}`);
      },
    });
    await agent.init();
  });
  afterAll(async () => {
    await agent?.stopAll();
    scratch.cleanup();
  });

  const qmpOf = (name: string) => agent.runningVm(name)!.qmp;
  async function writeBoth(name: string, pattern: number, offset: string) {
    await writePattern(qmpOf(name), 0, pattern, offset, '1M');
    await writePattern(qmpOf(name), 1, pattern + 0x80, offset, '1M');
  }
  /** Disk 1 holds pattern + 0x80, except zeros (never written). */
  async function runningHas(name: string, pattern: number, offset: string) {
    return (
      (await hasPattern(qmpOf(name), 0, pattern, offset, '1M')) &&
      (await hasPattern(qmpOf(name), 1, pattern === 0 ? 0 : pattern + 0x80, offset, '1M'))
    );
  }
  /** Every file in the pool belongs to the VM's recorded disk trees (no orphan left behind). */
  function orphans(name: string): string[] {
    const vm = agent.vmRecord(name)!;
    const known = new Set(vm.disks.flatMap((d) => [d.active, ...Object.keys(d.backing)]));
    return readdirSync(poolDir)
      .map((f) => path.join(poolDir, f))
      .filter((f) => path.basename(f).startsWith(`${name}-`) && !known.has(f));
  }

  it('item 7: two disk snapshots, stop, start, delete the older one: merged live, data intact', async () => {
    const vm = vmSpec('restart1');
    ok(await agent.execute({ kind: 'CreateVM', vm }));
    ok(await agent.execute({ kind: 'StartVM', vm }));
    await writeBoth('restart1', 0x11, '0');
    ok(await agent.execute(createSnap(vm, 's1')));
    await writeBoth('restart1', 0x22, '1M');
    ok(await agent.execute(createSnap(vm, 's2')));
    await writeBoth('restart1', 0x33, '2M');
    ok(await agent.execute({ kind: 'StopVM', vmName: 'restart1', force: false }));
    ok(await agent.execute({ kind: 'StartVM', vm }));

    ok(await agent.execute(deleteSnap(vm, 's1')));
    expect(agent.snapshotRecord('restart1', 's1')).toBeUndefined();
    expect(await runningHas('restart1', 0x11, '0')).toBe(true);
    expect(await runningHas('restart1', 0x22, '1M')).toBe(true);
    expect(await runningHas('restart1', 0x33, '2M')).toBe(true);
    // s2 still reverts to its own point.
    ok(await agent.execute(revertSnap(vm, 's2')));
    ok(await agent.execute({ kind: 'StartVM', vm }));
    expect(await runningHas('restart1', 0x22, '1M')).toBe(true);
    expect(await runningHas('restart1', 0x00, '2M')).toBe(true);
    expect(orphans('restart1')).toEqual([]);
  });

  it('item 18: a failed merge of a Hidden snapshot leaves the VM usable; retrying the delete finishes it', async () => {
    const vm = vmSpec('hidden1');
    ok(await agent.execute({ kind: 'CreateVM', vm }));
    ok(await agent.execute({ kind: 'StartVM', vm }));
    await writeBoth('hidden1', 0x41, '0');
    ok(await agent.execute(createSnap(vm, 's1')));
    await writeBoth('hidden1', 0x42, '1M');
    ok(await agent.execute(createSnap(vm, 's2')));
    ok(await agent.execute({ kind: 'StopVM', vmName: 'hidden1', force: false }));
    ok(await agent.execute(revertSnap(vm, 's1')));
    expect(ok(await agent.execute(deleteSnap(vm, 's1'))).hidden).toBe(true);
    ok(await agent.execute(createSnap(vm, 's3')));
    ok(await agent.execute({ kind: 'StartVM', vm }));
    await writeBoth('hidden1', 0x43, '2M');

    // Deleting s2 leaves s1's image one child, so s1's merge runs after s2's own one: it fails.
    failAt = { vm: 'hidden1', step: 'merging', pass: 1 };
    const failed = await agent.execute(deleteSnap(vm, 's2'));
    expect(failed.result).toBe(false);
    expect(failAt).toBeUndefined(); // the failure hit s1's merge
    expect(agent.vmRecord('hidden1')!.pending).toBeNull();
    expect(agent.snapshotRecord('hidden1', 's1')!.state).toBe('Hidden');
    // The VM still takes snapshots.
    ok(await agent.execute(createSnap(vm, 's4')));
    await writeBoth('hidden1', 0x44, '3M');
    // The retried delete finishes the pending merge.
    ok(await agent.execute(deleteSnap(vm, 's2')));
    expect(agent.snapshotRecord('hidden1', 's1')).toBeUndefined();
    expect(
      ok(await agent.execute({ kind: 'CheckVMSnapshot', vmName: 'hidden1', target: snapTO('s1') })).exists,
    ).toBe(false);
    for (const [pattern, offset] of [
      [0x41, '0'],
      [0x00, '1M'], // the revert to s1 dropped it
      [0x43, '2M'],
      [0x44, '3M'],
    ] as const) {
      expect(await runningHas('hidden1', pattern, offset), `${pattern} at ${offset}`).toBe(true);
    }
    expect(orphans('hidden1')).toEqual([]);
    ok(await agent.execute(revertSnap(vm, 's4')));
    ok(await agent.execute({ kind: 'StartVM', vm }));
    expect(await runningHas('hidden1', 0x43, '2M')).toBe(true);
    expect(await runningHas('hidden1', 0x00, '3M')).toBe(true);
    ok(await agent.execute(revertSnap(vm, 's3')));
    ok(await agent.execute({ kind: 'StartVM', vm }));
    expect(await runningHas('hidden1', 0x41, '0')).toBe(true);
    expect(await runningHas('hidden1', 0x00, '2M')).toBe(true);
    expect(orphans('hidden1')).toEqual([]);
  });
});
