/**
 * Bit-exact data checks on real QEMU with no guest OS: patterns written with qemu-io through QMP,
 * snapshot, overwrite, revert, read back. Two disks per VM, every snapshot kind, non-latest reverts.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { QemuHostAgent } from '../../src/hypervisors/qemu/qemu-host-agent.ts';
import { cutDisks, topNodes } from '../../src/hypervisors/qemu/live-block.ts';
import { createSnap, deleteSnap, revertSnap, snapTO, vmSpec } from './agent-fixtures.ts';
import { describeQemu, filePattern, hasPattern, scratchDir, writePattern } from './helpers.ts';

type Ok = { result: true } & Record<string, unknown>;

function ok(answer: { result: boolean; details?: string }): Ok {
  if (!answer.result) throw new Error(`agent answered failure: ${answer.details}`);
  return answer as Ok;
}

describeQemu('QEMU host agent: snapshots with bit-exact data (OS-less VMs)', () => {
  const scratch = scratchDir('agent');
  const poolDir = path.join(scratch.dir, 'pool');
  let agent: QemuHostAgent;

  beforeAll(async () => {
    agent = new QemuHostAgent({ stateDir: path.join(scratch.dir, 'state'), poolDir });
    await agent.init();
  });
  afterAll(async () => {
    await agent?.stopAll();
    scratch.cleanup();
  });

  const qmpOf = (name: string) => agent.runningVm(name)!.qmp;
  async function writeBoth(name: string, pattern: number, offset = '0', len = '1M') {
    await writePattern(qmpOf(name), 0, pattern, offset, len);
    await writePattern(qmpOf(name), 1, pattern + 0x80, offset, len);
  }
  async function runningHas(name: string, pattern: number, offset = '0', len = '1M') {
    return (
      (await hasPattern(qmpOf(name), 0, pattern, offset, len)) &&
      (await hasPattern(qmpOf(name), 1, pattern + 0x80, offset, len))
    );
  }
  function stoppedHas(name: string, pattern: number, offset = '0', len = '1M') {
    const vm = agent.vmRecord(name)!;
    // Disk 1 gets pattern + 0x80, except for zeros (never written).
    const of = (deviceId: number) => (deviceId === 0 || pattern === 0 ? pattern : pattern + 0x80);
    return vm.disks.every((d) => filePattern(d.active, of(d.deviceId), offset, len));
  }

  it('answers Ping with the accelerator and creates real empty disks', async () => {
    const ping = ok(await agent.execute({ kind: 'Ping' }));
    expect(ping.hypervisor).toBe('KVM');
    expect(['kvm', 'tcg']).toContain(ping.accel);
    console.log(`accelerator for OS-less VMs: ${String(ping.accel)}`);
    const vm = vmSpec('empty1');
    const created = ok(await agent.execute({ kind: 'CreateVM', vm }));
    const volumes = created.volumes as { path: string }[];
    expect(volumes).toHaveLength(2);
    for (const v of volumes) expect(existsSync(v.path)).toBe(true);
    expect(ok(await agent.execute({ kind: 'StartVM', vm })).powerState).toBe('PowerOn');
    const states = ok(await agent.execute({ kind: 'GetVmStates' }));
    expect(states.vms).toContainEqual({ name: 'empty1', powerState: 'PowerOn' });
    const inventory = ok(await agent.execute({ kind: 'GetInventory' }));
    expect((inventory.pools as { path: string }[])[0]!.path).toBe(poolDir);
    expect(ok(await agent.execute({ kind: 'GuestPing', vmName: 'empty1' })).available).toBe(false);
    ok(await agent.execute({ kind: 'DestroyVM', vmName: 'empty1' }));
    for (const v of volumes) expect(existsSync(v.path)).toBe(false);
  });

  it('disk-only snapshots of a running VM: no pause, revert to a non-latest one ends stopped', async () => {
    const vm = vmSpec('disk1');
    ok(await agent.execute({ kind: 'CreateVM', vm }));
    ok(await agent.execute({ kind: 'StartVM', vm }));
    await writeBoth('disk1', 0x11);
    const s1 = ok(await agent.execute(createSnap(vm, 's1')));
    expect(s1.timings).toMatchObject({ pauseMs: 0, freezeMs: 0 });
    const overlays = (s1.volumes as { path: string }[]).map((v) => v.path);
    expect(overlays.every((p) => existsSync(p) && p.includes('s1'))).toBe(true);
    await writeBoth('disk1', 0x22);
    ok(await agent.execute(createSnap(vm, 's2')));
    await writeBoth('disk1', 0x33);
    expect(await runningHas('disk1', 0x33)).toBe(true);

    const r1 = ok(await agent.execute(revertSnap(vm, 's1')));
    expect(r1.powerState).toBe('PowerOff');
    expect(stoppedHas('disk1', 0x11)).toBe(true);
    ok(await agent.execute({ kind: 'StartVM', vm }));
    expect(await runningHas('disk1', 0x11)).toBe(true);
    await writeBoth('disk1', 0x44); // a new branch off s1

    ok(await agent.execute(revertSnap(vm, 's2')));
    expect(stoppedHas('disk1', 0x22)).toBe(true);
    expect(stoppedHas('disk1', 0x44)).toBe(false);
    ok(await agent.execute({ kind: 'StartVM', vm }));
    expect(await runningHas('disk1', 0x22)).toBe(true);
  });

  it('disk-only snapshot of a stopped VM is taken offline with qemu-img', async () => {
    const vm = vmSpec('off1');
    ok(await agent.execute({ kind: 'CreateVM', vm }));
    ok(await agent.execute({ kind: 'StartVM', vm }));
    await writeBoth('off1', 0x51);
    ok(await agent.execute({ kind: 'StopVM', vmName: 'off1', force: false }));
    ok(await agent.execute(createSnap(vm, 'cold')));
    ok(await agent.execute({ kind: 'StartVM', vm }));
    await writeBoth('off1', 0x52);
    ok(await agent.execute(revertSnap(vm, 'cold')));
    expect(stoppedHas('off1', 0x51)).toBe(true);
    expect(
      ok(await agent.execute({ kind: 'CheckVMSnapshot', vmName: 'off1', target: snapTO('cold') })).exists,
    ).toBe(true);
  });

  it('live memory snapshot: pause from STOP/RESUME, revert ends running with disks as at the snapshot', async () => {
    const vm = vmSpec('live1');
    ok(await agent.execute({ kind: 'CreateVM', vm }));
    ok(await agent.execute({ kind: 'StartVM', vm }));
    await writeBoth('live1', 0x61);
    const since = qmpOf('live1').mark();
    const snap = ok(await agent.execute(createSnap(vm, 'm1', 'DiskAndMemory')));
    expect(snap.memoryMode).toBe('live');
    const events = qmpOf('live1').eventsSince(since);
    const stop = events.find((e) => e.event === 'STOP')!;
    const resume = events.find((e) => e.event === 'RESUME' && e.seq > stop.seq)!;
    const timings = snap.timings as { pauseMs: number };
    expect(timings.pauseMs).toBeCloseTo(resume.qemuMs - stop.qemuMs, 1);
    expect(timings.pauseMs).toBeGreaterThan(0);
    console.log(`live memory snapshot (OS-less, 64 MiB): pause ${timings.pauseMs} ms`);
    expect(agent.snapshotRecord('live1', 'm1')!.timings.pauseMs).toBe(timings.pauseMs);
    expect(await agent.runningVm('live1')!.status()).toBe('running');
    const vmstate = agent.snapshotRecord('live1', 'm1')!.vmstate!;
    expect(existsSync(vmstate)).toBe(true);

    await writeBoth('live1', 0x62);
    const reverted = ok(await agent.execute(revertSnap(vm, 'm1', 'DiskAndMemory')));
    expect(reverted.powerState).toBe('PowerOn');
    expect(await agent.runningVm('live1')!.status()).toBe('running');
    expect(await runningHas('live1', 0x61)).toBe(true);

    ok(await agent.execute(deleteSnap(vm, 'm1')));
    expect(existsSync(vmstate)).toBe(false);
    expect(await runningHas('live1', 0x61)).toBe(true);
  });

  it('internal memory snapshot (snapshot-save) and revert; mixing with external is refused (issue 811)', async () => {
    const vm = vmSpec('int1');
    ok(await agent.execute({ kind: 'CreateVM', vm }));
    ok(await agent.execute({ kind: 'StartVM', vm }));
    await writeBoth('int1', 0x71);
    const snap = ok(await agent.execute(createSnap(vm, 'i1', 'DiskAndMemory', { memoryMode: 'internal' })));
    expect(snap.memoryMode).toBe('internal');
    expect((snap.timings as { pauseMs: number }).pauseMs).toBeGreaterThan(0);
    await writeBoth('int1', 0x72);
    ok(await agent.execute(createSnap(vm, 'i2', 'DiskAndMemory', { memoryMode: 'internal' })));
    await writeBoth('int1', 0x73);
    const reverted = ok(await agent.execute(revertSnap(vm, 'i1', 'DiskAndMemory')));
    expect(reverted.powerState).toBe('PowerOn');
    expect(await runningHas('int1', 0x71)).toBe(true);

    const mixed = await agent.execute(createSnap(vm, 'ext', 'Disk'));
    expect(mixed.result).toBe(false);
    expect(!mixed.result && mixed.details).toMatch(/internal.*811/);

    ok(await agent.execute(deleteSnap(vm, 'i1')));
    expect(
      ok(await agent.execute({ kind: 'CheckVMSnapshot', vmName: 'int1', target: snapTO('i1') })).exists,
    ).toBe(false);
    expect(
      ok(await agent.execute({ kind: 'CheckVMSnapshot', vmName: 'int1', target: snapTO('i2') })).exists,
    ).toBe(true);
    ok(await agent.execute(revertSnap(vm, 'i2', 'DiskAndMemory')));
    expect(await runningHas('int1', 0x72)).toBe(true);
  });

  it('a two-disk transaction is atomic: a failure on the second disk changes neither, leaves no file', async () => {
    const vm = vmSpec('atom1');
    ok(await agent.execute({ kind: 'CreateVM', vm }));
    ok(await agent.execute({ kind: 'StartVM', vm }));
    const qmp = qmpOf('atom1');
    const before = await topNodes(qmp);
    const filesBefore = readdirSync(poolDir).sort();
    const overlay0 = path.join(poolDir, 'atom1-vd0-bad.qcow2');
    const overlay1 = path.join(poolDir, 'atom1-vd1-bad.qcow2');
    await expect(
      cutDisks(
        qmp,
        [
          { node: before.get(0)!.node, file: before.get(0)!.file, overlay: overlay0, overlayNode: 'bad0' },
          { node: 'no-such-node', file: before.get(1)!.file, overlay: overlay1, overlayNode: 'bad1' },
        ],
        new Map([
          [before.get(0)!.file, 64 * 1024 * 1024],
          [before.get(1)!.file, 64 * 1024 * 1024],
        ]),
      ),
    ).rejects.toThrow(/no-such-node/);
    expect(await topNodes(qmp)).toEqual(before);
    expect(readdirSync(poolDir).sort()).toEqual(filesBefore);
    // And the agent still snapshots the VM normally afterwards.
    await writeBoth('atom1', 0x15);
    ok(await agent.execute(createSnap(vm, 'after')));
    await writeBoth('atom1', 0x16);
    ok(await agent.execute(revertSnap(vm, 'after')));
    expect(stoppedHas('atom1', 0x15)).toBe(true);
  });

  it('deleting a snapshot in the middle of a chain merges it live, data intact; several children -> hidden', async () => {
    const vm = vmSpec('chain1');
    ok(await agent.execute({ kind: 'CreateVM', vm }));
    ok(await agent.execute({ kind: 'StartVM', vm }));
    await writeBoth('chain1', 0x11, '0', '1M');
    ok(await agent.execute(createSnap(vm, 'c1')));
    await writeBoth('chain1', 0x22, '1M', '1M');
    ok(await agent.execute(createSnap(vm, 'c2')));
    await writeBoth('chain1', 0x33, '2M', '1M');
    ok(await agent.execute(createSnap(vm, 'c3')));
    await writeBoth('chain1', 0x44, '3M', '1M');
    const c2Image = agent.snapshotRecord('chain1', 'c2')!.disks[0]!.image;
    const c3Image = agent.snapshotRecord('chain1', 'c3')!.disks[0]!.image;

    const del = ok(await agent.execute(deleteSnap(vm, 'c2')));
    expect(del.hidden).toBeUndefined();
    // c2's image absorbed its child (c3's image), whose file is gone; c3 now points at the merged file.
    expect(existsSync(c3Image)).toBe(false);
    expect(agent.snapshotRecord('chain1', 'c3')!.disks[0]!.image).toBe(c2Image);
    for (const [pattern, offset] of [
      [0x11, '0'],
      [0x22, '1M'],
      [0x33, '2M'],
      [0x44, '3M'],
    ] as const) {
      expect(await runningHas('chain1', pattern, offset, '1M')).toBe(true);
    }

    ok(await agent.execute(revertSnap(vm, 'c3')));
    expect(stoppedHas('chain1', 0x33, '2M')).toBe(true);
    expect(stoppedHas('chain1', 0x00, '3M')).toBe(true);
    ok(await agent.execute(revertSnap(vm, 'c1')));
    expect(stoppedHas('chain1', 0x11, '0')).toBe(true);
    expect(stoppedHas('chain1', 0x00, '1M')).toBe(true);

    // c1's image now has two children (the c3 line and the new branch): delete keeps it hidden.
    const hidden = ok(await agent.execute(deleteSnap(vm, 'c1')));
    expect(hidden.hidden).toBe(true);
    expect(agent.snapshotRecord('chain1', 'c1')!.state).toBe('Hidden');
    // Deleting c3 offline (VM stopped) removes the c3 line: c1's image is down to one child, so the
    // hidden c1 is merged (qemu-img commit) and gone, and the disk is back on the base file.
    const base = agent.snapshotRecord('chain1', 'c1')!.disks[0]!.image;
    ok(await agent.execute(deleteSnap(vm, 'c3')));
    expect(agent.snapshotRecord('chain1', 'c1')).toBeUndefined();
    expect(agent.vmRecord('chain1')!.disks[0]!.active).toBe(base);
    expect(stoppedHas('chain1', 0x11, '0')).toBe(true);
    expect(stoppedHas('chain1', 0x00, '1M', '3M')).toBe(true);
  });
});
