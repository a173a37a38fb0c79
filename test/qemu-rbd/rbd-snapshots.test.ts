/**
 * Bit-exact data through real QEMU on a two-disk VM on RBD, with the real strategies, the real
 * `ceph-rbd` driver and the real QEMU host agent (in process), on a throwaway Ceph:
 *  1. write A, disk snapshot s1 (storage strategy: one group snapshot), write B, memory snapshot s2
 *     (hypervisor strategy: the agent stops the VM, Ceph cuts the group, the RAM is saved), write C,
 *     disk snapshot s3;
 *  2. a revert to s1 while QEMU runs is refused up front, nothing changes;
 *  3. revert to s1 (VM stopped): A on both disks;
 *  4. revert to s2: the VM runs again, with B on both disks;
 *  5. delete s2 (the middle one): s1 and s3 are intact (A, then C).
 * Data is written through QEMU's own block layer (HMP qemu-io) and read back by Ceph (`rbd export`).
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  StrategyPriority,
  type AgentGateway,
  type SnapshotOperation,
  type StoragePoolInfo,
  type VmInfo,
  type VmSnapshotInfo,
  type VmSnapshotType,
  type VmSpecTO,
  type VolumeInfo,
  type VolumeSnapshotRecord,
} from '../../src/core/plugin-api.ts';
import { createQemuHostAgent, type QemuHostAgent } from '../../src/hypervisors/qemu/qemu-host-agent.ts';
import { CephRbdDriver } from '../../src/storage-drivers/ceph-rbd/ceph-rbd-driver.ts';
import { HypervisorVmSnapshotStrategy } from '../../src/strategies/hypervisor-strategy.ts';
import { StorageVmSnapshotStrategy } from '../../src/strategies/storage-strategy.ts';
import { startCeph, type TestCeph } from '../helpers/ceph.ts';
import { scratchDir, writePattern } from '../qemu/helpers.ts';
import { fakeContext, type FakeContext } from '../storage/fake-strategy-context.ts';
import { describeCeph } from './rbd-fixture.ts';

const MIB = 1024 * 1024;
const A = 0xa1;
const B = 0xb2;
const C = 0xc3;

describeCeph('VM snapshots of a two-disk VM on RBD (real QEMU, real Ceph, real strategies)', () => {
  let ceph: TestCeph;
  let scratch: { dir: string; cleanup: () => void };
  let agent: QemuHostAgent;
  let ctx: FakeContext;
  const driver = new CephRbdDriver();
  const storage = new StorageVmSnapshotStrategy();
  const hypervisor = new HypervisorVmSnapshotStrategy();
  let spec: VmSpecTO;
  let vm: VmInfo;
  let volumes: VolumeInfo[];

  beforeAll(async () => {
    ceph = startCeph('rbd-qemu');
    scratch = scratchDir('rbd-snaps');
    agent = await createQemuHostAgent({
      stateDir: path.join(scratch.dir, 'state'),
      poolDir: path.join(scratch.dir, 'pool'),
      accel: 'tcg',
    });
    const gateway: AgentGateway = { send: (_host, command) => agent.execute(command) };
    ctx = fakeContext({
      gateway,
      drivers: [driver],
      settings: { 'vmsnapshot.create.wait': '600', 'vmsnapshot.memory.mode': 'host' },
    });
    const url = ceph.url();
    const pool: StoragePoolInfo = {
      id: 'ceph1',
      name: 'ceph1',
      zoneId: 'zone-1',
      provider: 'ceph-rbd',
      url,
      details: {},
      scope: 'ZONE',
      hostId: null,
      path: ceph.pool,
    };
    spec = {
      name: 'rbdsnapvm',
      uuid: randomUUID(),
      memoryMb: 64,
      cpus: 1,
      volumes: [0, 1].map((i) => ({
        id: randomUUID(),
        type: i === 0 ? ('ROOT' as const) : ('DATADISK' as const),
        path: '',
        poolId: 'ceph1',
        format: 'RAW' as const,
        size: 8 * MIB,
        deviceId: i,
        pool: { provider: 'ceph-rbd', url, path: ceph.pool },
      })),
    };
    const created = await agent.execute({ kind: 'CreateVM', vm: spec });
    if (!created.result) throw new Error(created.details);
    volumes = spec.volumes.map((v, i) => ({
      id: v.id,
      name: `disk${i}`,
      type: v.type,
      poolId: 'ceph1',
      driver: 'ceph-rbd',
      format: 'RAW',
      path: created.volumes[i]!.path,
      size: v.size,
      deviceId: v.deviceId,
      pool,
    }));
    vm = {
      id: spec.uuid,
      instanceName: spec.name,
      displayName: 'rbd-vm',
      state: 'Running',
      hostId: 'host-1',
      lastHostId: 'host-1',
      zoneId: 'zone-1',
      hypervisor: 'KVM',
      memoryMb: 64,
      cpus: 1,
    };
  }, 180_000);

  afterAll(async () => {
    await agent?.stopAll();
    ceph?.down();
    scratch?.cleanup();
  });

  const start = async (): Promise<void> => {
    const answer = await agent.execute({ kind: 'StartVM', vm: spec });
    if (!answer.result) throw new Error(answer.details);
  };
  const stop = async (): Promise<void> => {
    expect((await agent.execute({ kind: 'StopVM', vmName: spec.name, force: false })).result).toBe(true);
  };
  const write = async (pattern: number): Promise<void> => {
    const qmp = agent.runningVm(spec.name)!.qmp;
    for (const v of volumes) await writePattern(qmp, v.deviceId, pattern, '0', '1M');
  };
  /** The first MiB of every disk, read by Ceph (QEMU must be stopped, or it may hold writes). */
  const onDisks = async (): Promise<number[][]> => {
    const seen: number[][] = [];
    for (const v of volumes) {
      const out = path.join(scratch.dir, `${v.path}-${randomUUID()}.raw`);
      await ceph.rbd(['export', '--no-progress', `${ceph.pool}/${v.path}`, out]);
      seen.push([...new Set(readFileSync(out).subarray(0, MIB))]);
    }
    return seen;
  };

  const snapshots: VmSnapshotInfo[] = [];
  function op(snapshot: VmSnapshotInfo): SnapshotOperation {
    return {
      operationId: randomUUID(),
      vm,
      snapshot,
      parents: [],
      siblings: snapshots,
      volumes,
      quiesce: false,
      options: {},
    };
  }
  async function take(name: string, type: VmSnapshotType): Promise<VmSnapshotInfo> {
    const strategy = type === 'Disk' ? storage : hypervisor;
    const draft: VmSnapshotInfo = {
      id: randomUUID(),
      name: `${spec.name}_VS_${name}`,
      displayName: name,
      description: '',
      type,
      state: 'Creating',
      parentId: snapshots.at(-1)?.id ?? null,
      current: true,
      strategy: strategy.name,
      quiesce: false,
      createdAt: Date.now(),
      volumes: [],
    };
    const taken = await strategy.takeVmSnapshot(ctx, op(draft));
    const records: VolumeSnapshotRecord[] = [...taken.records];
    const ready = { ...draft, state: 'Ready' as const, volumes: records };
    snapshots.push(ready);
    return ready;
  }

  it('takes disk and memory snapshots, refuses a revert under a running QEMU, reverts bit-exact, deletes the middle one', async () => {
    const input = (type: VmSnapshotType) => ({
      vm,
      volumes,
      type,
      quiesce: false,
      drivers: new Map([[driver.name, driver]]),
    });
    // Disk-only: the storage strategy (group snapshot); the agent's qcow2 overlays are not offered.
    expect(storage.canHandle(input('Disk'))).toBe(StrategyPriority.PLUGIN);
    expect(hypervisor.canHandle(input('Disk'))).toBe(StrategyPriority.CANT_HANDLE);
    // Memory: the agent, which cuts the group and the RAM at one instant.
    expect(storage.canHandle(input('DiskAndMemory'))).toBe(StrategyPriority.CANT_HANDLE);
    expect(hypervisor.canHandle(input('DiskAndMemory'))).toBe(StrategyPriority.DEFAULT);

    await start();
    await write(A);
    const s1 = await take('s1', 'Disk');
    await write(B);
    const s2 = await take('s2', 'DiskAndMemory');
    const vmstate = agent.snapshotRecord(spec.name, s2.name)?.vmstate;
    expect(vmstate && statSync(vmstate).size).toBeGreaterThan(0);
    expect(await agent.runningVm(spec.name)!.status()).toBe('running'); // resumed after the save
    await write(C);
    const s3 = await take('s3', 'Disk');

    // QEMU has the images open: refused before anything changes.
    await expect(storage.validateRevert(ctx, op(s1))).rejects.toThrow(/open by a running VM/);
    await stop();
    expect(await onDisks()).toEqual([[C], [C]]);

    await storage.revertVmSnapshot(ctx, op(s1));
    expect(await onDisks()).toEqual([[A], [A]]);

    const reverted = await hypervisor.revertVmSnapshot(ctx, op(s2));
    expect(reverted.powerState).toBe('PowerOn');
    expect(await agent.runningVm(spec.name)!.status()).toBe('running');
    await stop();
    expect(await onDisks()).toEqual([[B], [B]]);

    expect((await hypervisor.deleteVmSnapshot(ctx, op(s2))).outcome).toBe('deleted');
    expect(agent.snapshotRecord(spec.name, s2.name)).toBeUndefined();
    const groupSnaps = JSON.parse(
      await ceph.rbd(['group', 'snap', 'ls', '--format', 'json', `${ceph.pool}/vmsnap-${spec.uuid}`]),
    ) as { snapshot: string }[];
    expect(groupSnaps.map((g) => g.snapshot)).toEqual([s1.id, s3.id]);
    await storage.revertVmSnapshot(ctx, op(s1));
    expect(await onDisks()).toEqual([[A], [A]]);
    await storage.revertVmSnapshot(ctx, op(s3));
    expect(await onDisks()).toEqual([[C], [C]]);

    // Destroy takes the group and its snapshots with the images.
    expect((await agent.execute({ kind: 'DestroyVM', vmName: spec.name })).result).toBe(true);
    const left = JSON.parse(await ceph.rbd(['ls', '--format', 'json', ceph.pool])) as string[];
    expect(left.filter((image) => volumes.some((v) => v.path === image))).toEqual([]);
  }, 300_000);
});
