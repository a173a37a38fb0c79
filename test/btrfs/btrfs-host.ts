/**
 * A QEMU host agent on a real btrfs, with the `btrfs` driver talking to it the way the server does:
 * through an {@link AgentGateway}, every answer parsed by the agent protocol's answer schemas.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type {
  AgentCommand,
  AgentGateway,
  AnswerFor,
  StoragePoolInfo,
  VmSpecTO,
  VolumeInfo,
} from '../../src/core/plugin-api.ts';
import { parseAgentAnswer } from '../../src/hypervisors/qemu/agent-protocol/answers.ts';
import { QemuHostAgent } from '../../src/hypervisors/qemu/qemu-host-agent.ts';
import { BtrfsStorageDriver } from '../../src/storage-drivers/btrfs/index.ts';
import { mountBtrfs, type MountedBtrfs } from '../helpers/btrfs.ts';

export const HOST_ID = 'host-btrfs-1';
export const MIB = 1024 * 1024;

export interface BtrfsHost {
  readonly fs: MountedBtrfs;
  readonly agent: QemuHostAgent;
  readonly agents: AgentGateway;
  readonly driver: BtrfsStorageDriver;
  readonly pool: StoragePoolInfo;
  /** Defines a VM with `disks` empty qcow2 disks in its subvolume on the pool (CreateVM). */
  createVm(name: string, disks: number, sizeMiB?: number): Promise<{ spec: VmSpecTO; volumes: VolumeInfo[] }>;
  close(): Promise<void>;
}

export interface BtrfsHostOptions {
  /** Boot VMs with this kernel and initrd (the tiny guest with qemu-ga), e.g. to time guest freezes. */
  readonly guestBoot?: { readonly kernel: string; readonly initrd: string };
  /** RAM of the VMs createVm defines; default 64 MiB (OS-less). */
  readonly memoryMb?: number;
}

export async function openBtrfsHost(label: string, options: BtrfsHostOptions = {}): Promise<BtrfsHost> {
  const fs = mountBtrfs(label);
  const stateDir = mkdtempSync(path.join(os.tmpdir(), `vmsnap-btrfs-state-${label}-`));
  // The agent's pool root is the mount: the pool folder (and every Storage* path) must be inside it.
  const agent = new QemuHostAgent({
    stateDir,
    poolDir: fs.mount,
    ...(options.guestBoot !== undefined ? { guestBoot: options.guestBoot } : {}),
  });
  await agent.init();
  const agents: AgentGateway = {
    async send<C extends AgentCommand>(hostId: string, command: C): Promise<AnswerFor<C>> {
      if (hostId !== HOST_ID) throw new Error(`unknown host ${hostId}`);
      const parsed = parseAgentAnswer(command.kind, await agent.execute(command));
      if (!parsed.ok) throw new Error(`bad answer to ${command.kind}: ${parsed.field} ${parsed.error}`);
      return parsed.value;
    },
  };
  const pool: StoragePoolInfo = {
    id: randomUUID(),
    name: 'btrfs-pool',
    zoneId: randomUUID(),
    provider: 'btrfs',
    url: `file://${fs.poolPath}`,
    details: {},
    scope: 'HOST',
    hostId: HOST_ID,
    path: fs.poolPath,
  };
  return {
    fs,
    agent,
    agents,
    driver: new BtrfsStorageDriver(agents),
    pool,
    createVm: (name, disks, sizeMiB = 16) =>
      createVm(agent, pool, name, disks, sizeMiB, options.memoryMb ?? 64),
    close: async () => {
      await agent.stopAll();
      fs.unmount();
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

async function createVm(
  agent: QemuHostAgent,
  pool: StoragePoolInfo,
  name: string,
  disks: number,
  sizeMiB: number,
  memoryMb: number,
): Promise<{ spec: VmSpecTO; volumes: VolumeInfo[] }> {
  const spec: VmSpecTO = {
    name,
    uuid: randomUUID(),
    memoryMb,
    cpus: 1,
    volumes: Array.from({ length: disks }, (_, i) => ({
      id: randomUUID(),
      type: i === 0 ? ('ROOT' as const) : ('DATADISK' as const),
      path: '',
      poolId: pool.id,
      format: 'QCOW2' as const,
      size: sizeMiB * MIB,
      deviceId: i,
      pool: { provider: 'btrfs', url: pool.url, path: pool.path },
    })),
  };
  const answer = await agent.execute({ kind: 'CreateVM', vm: spec, poolPath: pool.path });
  if (!answer.result) throw new Error(`CreateVM ${name}: ${answer.details}`);
  const volumes: VolumeInfo[] = spec.volumes.map((v) => {
    const created = answer.volumes.find((a) => a.id === v.id)!;
    return {
      id: v.id,
      name: `${name}-disk-${v.deviceId}`,
      type: v.type,
      poolId: pool.id,
      driver: 'btrfs',
      format: 'QCOW2',
      path: created.path,
      size: created.size,
      deviceId: v.deviceId,
      pool,
    };
  });
  const withPaths = { ...spec, volumes: spec.volumes.map((v, i) => ({ ...v, path: volumes[i]!.path })) };
  return { spec: withPaths, volumes };
}
