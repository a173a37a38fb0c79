/**
 * The QEMU host agent runs VMs on RBD, with real QEMU and a real throwaway Ceph: images made at
 * CreateVM and removed at DestroyVM, attached with QEMU's rbd driver with the cephx key as a secret
 * object (never on QEMU's command line, no key file left behind), data written through QEMU landing
 * in the images bit-exact, a group snapshot rolled back with QEMU stopped and read back by a new
 * QEMU, RBD pools in the inventory, and qcow2-overlay snapshots refused for RBD VMs.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { VmSpecTO } from '../../src/core/plugin-api.ts';
import { createQemuHostAgent, type QemuHostAgent } from '../../src/hypervisors/qemu/qemu-host-agent.ts';
import { createSnap } from '../qemu/agent-fixtures.ts';
import { scratchDir, writePattern } from '../qemu/helpers.ts';
import { startCeph, type TestCeph } from '../helpers/ceph.ts';
import { describeCeph } from './rbd-fixture.ts';

const MIB = 1024 * 1024;

function rbdVm(name: string, url: string, disks = 2, pool = 'rbd'): VmSpecTO {
  return {
    name,
    uuid: randomUUID(),
    memoryMb: 64,
    cpus: 1,
    volumes: Array.from({ length: disks }, (_, i) => ({
      id: randomUUID(),
      type: i === 0 ? ('ROOT' as const) : ('DATADISK' as const),
      path: '',
      poolId: 'ceph1',
      format: 'RAW' as const,
      size: 8 * MIB,
      deviceId: i,
      pool: { provider: 'ceph-rbd', url, path: pool },
    })),
  };
}

describeCeph('QEMU agent: VMs on RBD (real QEMU, real Ceph)', () => {
  let ceph: TestCeph;
  let scratch: { dir: string; cleanup: () => void };
  let agent: QemuHostAgent;

  beforeAll(async () => {
    ceph = startCeph('rbd-agent');
    scratch = scratchDir('rbd-agent');
    agent = await createQemuHostAgent({
      stateDir: path.join(scratch.dir, 'state'),
      poolDir: path.join(scratch.dir, 'pool'),
      accel: 'tcg',
    });
  }, 180_000);

  afterAll(async () => {
    await agent?.stopAll();
    ceph?.down();
    scratch?.cleanup();
  });

  /** The first MiB of an image, read by Ceph itself (not through QEMU). */
  async function head(image: string): Promise<Buffer> {
    const out = path.join(scratch.dir, `${image}-${randomUUID()}.raw`);
    await ceph.rbd(['export', '--no-progress', `${ceph.pool}/${image}`, out]);
    return readFileSync(out).subarray(0, MIB);
  }

  async function expectPattern(image: string, pattern: number): Promise<void> {
    const bytes = await head(image);
    expect(
      bytes.every((b) => b === pattern),
      `${image} holds 0x${pattern.toString(16)}`,
    ).toBe(true);
  }

  async function write(vm: VmSpecTO, pattern: number): Promise<void> {
    const qmp = agent.runningVm(vm.name)!.qmp;
    for (const v of vm.volumes) await writePattern(qmp, v.deviceId, pattern, '0', '1M');
  }

  it('creates the images, runs QEMU on them with the key kept off argv, and removes them', async () => {
    const vm = rbdVm('rbdvm1', ceph.url(), 2, ceph.pool);
    const created = await agent.execute({ kind: 'CreateVM', vm });
    if (!created.result) throw new Error(created.details);
    const images = created.volumes.map((v) => v.path);
    expect(images).toEqual(['rbdvm1-vd0', 'rbdvm1-vd1']);
    expect(JSON.parse(await ceph.rbd(['ls', '--format', 'json', ceph.pool]))).toEqual(
      expect.arrayContaining(images),
    );

    expect((await agent.execute({ kind: 'StartVM', vm })).result).toBe(true);
    const running = agent.runningVm(vm.name)!;
    const argv = readFileSync(`/proc/${running.pid}/cmdline`, 'utf8').split('\0');
    expect(argv.join(' ')).toContain('driver=rbd');
    expect(argv.join(' ')).toContain('key-secret=');
    expect(argv.some((a) => a.includes(ceph.adminKey))).toBe(false);
    const runDir = path.join(scratch.dir, 'state', 'run');
    expect(readdirSync(runDir).filter((f) => f.endsWith('.secret') || f.endsWith('.key'))).toEqual([]);
    const blocks = (await running.qmp.execute('query-named-block-nodes')) as { drv: string }[];
    expect(blocks.filter((b) => b.drv === 'rbd')).toHaveLength(2);

    // Pattern A through QEMU, seen by Ceph once QEMU has gone.
    await write(vm, 0xa1);
    expect((await agent.execute({ kind: 'StopVM', vmName: vm.name, force: false })).result).toBe(true);
    for (const image of images) await expectPattern(image, 0xa1);

    // A group snapshot (as the ceph-rbd driver takes it), B written by a restarted QEMU, then a
    // rollback with QEMU stopped: a third QEMU reads A back on both disks.
    await ceph.rbd(['group', 'create', `${ceph.pool}/rbdvm1`]);
    for (const image of images)
      await ceph.rbd(['group', 'image', 'add', `${ceph.pool}/rbdvm1`, `${ceph.pool}/${image}`]);
    await ceph.rbd(['group', 'snap', 'create', `${ceph.pool}/rbdvm1@a`]);
    expect((await agent.execute({ kind: 'StartVM', vm })).result).toBe(true);
    await write(vm, 0xb2);
    expect((await agent.execute({ kind: 'StopVM', vmName: vm.name, force: false })).result).toBe(true);
    for (const image of images) await expectPattern(image, 0xb2);
    await ceph.rbd(['group', 'snap', 'rollback', '--no-progress', `${ceph.pool}/rbdvm1@a`]);
    expect((await agent.execute({ kind: 'StartVM', vm })).result).toBe(true);
    const qmp = agent.runningVm(vm.name)!.qmp;
    // Read through QEMU, then overwrite only disk 1: proves the restarted QEMU serves the images.
    await writePattern(qmp, 1, 0xc3, '0', '1M');
    expect((await agent.execute({ kind: 'StopVM', vmName: vm.name, force: false })).result).toBe(true);
    await expectPattern(images[0]!, 0xa1);
    await expectPattern(images[1]!, 0xc3);

    // The inventory names the RBD pool (not as a folder) and the images.
    const inv = await agent.execute({ kind: 'GetInventory' });
    if (!inv.result) throw new Error(inv.details);
    expect(inv.pools).toContainEqual(expect.objectContaining({ provider: 'ceph-rbd', path: ceph.pool }));
    expect(inv.vms.find((v) => v.name === vm.name)?.volumes.map((v) => v.path)).toEqual(images);

    await ceph.rbd(['group', 'rm', `${ceph.pool}/rbdvm1`]);
    expect((await agent.execute({ kind: 'DestroyVM', vmName: vm.name })).result).toBe(true);
    const left = JSON.parse(await ceph.rbd(['ls', '--format', 'json', ceph.pool])) as string[];
    expect(left.filter((i) => images.includes(i))).toEqual([]);
  }, 180_000);

  it('refuses qcow2-overlay snapshots of an RBD VM (they are group snapshots on Ceph)', async () => {
    const vm = rbdVm('rbdvm2', ceph.url(), 1, ceph.pool);
    expect((await agent.execute({ kind: 'CreateVM', vm })).result).toBe(true);
    const answer = await agent.execute(createSnap(vm, 's1'));
    expect(answer).toMatchObject({ result: false, details: expect.stringContaining('RBD') });
    expect(agent.snapshotRecord(vm.name, 's1')).toBeUndefined();
    expect((await agent.execute({ kind: 'DestroyVM', vmName: vm.name })).result).toBe(true);
  }, 120_000);

  it('refuses a wrong key at CreateVM, never echoing it, leaving no image and no VM behind', async () => {
    const undecodable = Buffer.alloc(28, 7).toString('base64');
    const wellFormed = execFileSync('ceph-authtool', ['--gen-print-key'], { encoding: 'utf8' }).trim();
    for (const [i, wrongKey] of [undecodable, wellFormed].entries()) {
      const vm = rbdVm(`rbdvm3-${i}`, ceph.url({ key: wrongKey }), 1, ceph.pool);
      const answer = await agent.execute({ kind: 'CreateVM', vm });
      expect(answer.result).toBe(false);
      expect(JSON.stringify(answer)).not.toContain(wrongKey);
      expect(agent.vmRecord(vm.name)).toBeUndefined();
    }
    const images = JSON.parse(await ceph.rbd(['ls', '--format', 'json', ceph.pool])) as string[];
    expect(images.some((i) => i.startsWith('rbdvm3'))).toBe(false);
  }, 120_000);
});
