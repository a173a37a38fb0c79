/**
 * # VM lifecycle on a QEMU host: create, start, stop, destroy, states and inventory
 *
 * A VM is a record in the agent state plus qcow2 disks in its pool (`poolDir/`). QEMU runs
 * daemonized, so VMs survive an agent restart (`init()` re-attaches). Destroy removes every file of
 * the VM's disk chains and RAM state files.
 */
import { existsSync } from 'node:fs';
import { rm, statfs } from 'node:fs/promises';
import path from 'node:path';
import type {
  AnswerOf,
  CommandOf,
  InventoryPool,
  InventoryVm,
  VmSpecTO,
  VolumePoolTO,
  VolumeTO,
} from '../../core/plugin-api.ts';
import { volumeAnswer, type AgentContext, type Answer } from './agent-context.ts';
import { fail } from './agent-failure.ts';
import type { DiskRecord } from './agent-state.ts';
import { ensurePrivateDir } from './private-files.ts';
import * as img from './qemu-img.ts';
import { removeRbdImages } from './rbd-memory-snapshot.ts';
import { btrfsDiskDir, dropVmSubvolume } from './btrfs-storage.ts';
import { createImage, isRbdPool, monHost, RBD_PROVIDER, rbdDiskOf, removeImage } from './rbd-disk.ts';

export async function createVm(ctx: AgentContext, command: CommandOf<'CreateVM'>): Answer<'CreateVM'> {
  const spec = command.vm;
  if (ctx.store.vm(spec.name)) fail(`VM ${spec.name} already exists on this host`);
  // Admitted inside the pool root (command-admission.ts); a new folder there is private too.
  const poolDir = command.poolPath ?? ctx.options.poolDir;
  await ensurePrivateDir(poolDir);
  // A btrfs pool's VM keeps its disks in its own subvolume (btrfs-storage.ts).
  const diskDir = (await btrfsDiskDir(spec.name, spec.volumes, poolDir)) ?? poolDir;
  const disks: DiskRecord[] = [];
  try {
    for (const volume of spec.volumes) {
      if (isRbdPool(volume.pool)) {
        disks.push(await createRbdDisk(ctx, spec.name, volume, volume.pool));
        continue;
      }
      const file = path.isAbsolute(volume.path)
        ? volume.path
        : path.join(diskDir, `${spec.name}-vd${volume.deviceId}.qcow2`);
      if (existsSync(file)) fail(`disk file ${file} already exists`);
      await img.create(file, Math.max(volume.size, 1024 * 1024));
      disks.push({
        volumeId: volume.id,
        deviceId: volume.deviceId,
        type: volume.type,
        size: Math.max(volume.size, 1024 * 1024),
        active: file,
        backing: { [file]: null },
      });
    }
  } catch (error) {
    await Promise.all(disks.map((d) => removeDisk(ctx, d)));
    throw error;
  }
  ctx.store.data.vms.push({
    name: spec.name,
    uuid: spec.uuid,
    memoryMb: spec.memoryMb,
    cpus: spec.cpus,
    poolDir,
    disks,
    accel: null,
    snapshots: [],
    pending: null,
  });
  await ctx.store.save();
  return { result: true, volumes: disks.map(volumeAnswer) };
}

export async function startVm(ctx: AgentContext, spec: VmSpecTO): Answer<'StartVM'> {
  const vm = ctx.requireVm(spec.name);
  if (!ctx.running.has(vm.name)) await ctx.launch(vm, false);
  return { result: true, powerState: 'PowerOn' };
}

export async function stopVm(ctx: AgentContext, name: string, force: boolean): Answer<'StopVM'> {
  ctx.requireVm(name);
  await ctx.halt(name, force);
  return { result: true, powerState: 'PowerOff' };
}

export async function destroyVm(ctx: AgentContext, name: string): Answer<'DestroyVM'> {
  const vm = ctx.requireVm(name);
  await ctx.halt(name);
  const files = new Set<string>();
  for (const disk of vm.disks) for (const file of Object.keys(disk.backing)) files.add(file);
  for (const snap of vm.snapshots) if (snap.vmstate) files.add(snap.vmstate);
  await Promise.all([...files].map((f) => rm(f, { force: true })));
  // RBD images go too, with the VM's group and every snapshot of them (`rbd rm` refuses otherwise).
  await removeRbdImages(ctx, vm);
  await dropVmSubvolume(vm.poolDir, name); // on a btrfs pool: the VM's subvolume and its snapshots
  ctx.store.data.vms = ctx.store.data.vms.filter((v) => v !== vm);
  await ctx.store.save();
  // plugin-api's DestroyVM payload is Record<string, never>, which makes `result` never: cast.
  return { result: true } as unknown as AnswerOf<'DestroyVM'>;
}

export async function getVmStates(ctx: AgentContext): Answer<'GetVmStates'> {
  return {
    result: true,
    vms: ctx.store.data.vms.map((vm) => ({
      name: vm.name,
      powerState: ctx.running.has(vm.name) ? 'PowerOn' : 'PowerOff',
    })),
  };
}

export async function getInventory(ctx: AgentContext): Answer<'GetInventory'> {
  const vms: InventoryVm[] = ctx.store.data.vms.map((vm) => ({
    name: vm.name,
    uuid: vm.uuid,
    memoryMb: vm.memoryMb,
    cpus: vm.cpus,
    powerState: ctx.running.has(vm.name) ? 'PowerOn' : 'PowerOff',
    volumes: vm.disks.map((d) => ({
      id: d.volumeId,
      type: d.type,
      path: d.active,
      poolId: d.rbd ? d.rbd.pool : vm.poolDir,
      format: d.rbd ? 'RAW' : 'QCOW2',
      size: d.size,
      deviceId: d.deviceId,
    })),
  }));
  const fs = await statfs(ctx.options.poolDir);
  const capacityBytes = fs.blocks * fs.bsize;
  return {
    result: true,
    vms,
    pools: [
      {
        name: path.basename(ctx.options.poolDir),
        path: ctx.options.poolDir,
        capacityBytes,
        usedBytes: capacityBytes - fs.bavail * fs.bsize,
      },
      ...rbdPoolsOf(ctx),
    ],
  };
}

/** An RBD image for the volume, named by the volume's path or `<vm>-vd<device id>`. */
async function createRbdDisk(
  ctx: AgentContext,
  vmName: string,
  volume: VolumeTO,
  pool: VolumePoolTO,
): Promise<DiskRecord> {
  const size = Math.max(volume.size, 1024 * 1024);
  const rbd = rbdDiskOf(pool, volume.path === '' ? `${vmName}-vd${volume.deviceId}` : volume.path);
  await createImage(rbd, size, ctx.runDir);
  return {
    volumeId: volume.id,
    deviceId: volume.deviceId,
    type: volume.type,
    size,
    active: rbd.image,
    backing: {},
    rbd,
  };
}

async function removeDisk(ctx: AgentContext, disk: DiskRecord): Promise<void> {
  if (disk.rbd) await removeImage(disk.rbd, ctx.runDir).catch(() => undefined);
  else await rm(disk.active, { force: true });
}

/**
 * The RBD pools this host's VMs use, once each (by monitors and pool name). Capacity is the storage
 * driver's to report (`ceph df` through the pool's provider): a host sees only its own images, so
 * it reports 0 rather than a guess.
 */
function rbdPoolsOf(ctx: AgentContext): InventoryPool[] {
  const pools = new Map<string, InventoryPool>();
  for (const vm of ctx.store.data.vms) {
    for (const disk of vm.disks) {
      if (!disk.rbd) continue;
      const name = `rbd:${monHost(disk.rbd)}/${disk.rbd.pool}`;
      pools.set(name, { name, path: disk.rbd.pool, provider: RBD_PROVIDER, capacityBytes: 0, usedBytes: 0 });
    }
  }
  return [...pools.values()];
}
