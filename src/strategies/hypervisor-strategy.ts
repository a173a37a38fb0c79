/**
 * The default strategy (CloudStack's DefaultVMSnapshotStrategy): sends Create / Revert / Delete VM
 * snapshot commands to the VM's host agent and copies the answered volume paths and sizes back.
 * It handles every snapshot at DEFAULT priority, so it is the fallback for everything.
 */
import { round } from '../core/round-ms.ts';
import {
  StrategyPriority,
  toVolumeTO,
  type AnswerOf,
  type CanHandleInput,
  type Consistency,
  type DeleteResult,
  type MemorySnapshotMode,
  type RevertResult,
  type SnapshotFacts,
  type SnapshotOperation,
  type StrategyContext,
  type TakeResult,
  type VmSnapshotInfo,
  type VmSnapshotStrategy,
  type VmSnapshotTO,
  type VolumeTO,
} from '../core/plugin-api.ts';

import { parseMemoryMode } from '../core/snapshot-options.ts';

export const HYPERVISOR_STRATEGY = 'hypervisor';
/** The QEMU agent runs VMs on this storage driver's pools and snapshots their memory itself. */
const RBD_PROVIDER = 'ceph-rbd';
/** The built-in folder-pool driver: its volumes are plain files the host agent snapshots itself. */
const FILE_PROVIDER = 'file';
export const MEMORY_MODE_SETTING = 'vmsnapshot.memory.mode';

type CheckAnswer = Extract<AnswerOf<'CheckVMSnapshot'>, { readonly result: true }>;

export class HypervisorVmSnapshotStrategy implements VmSnapshotStrategy {
  readonly name = HYPERVISOR_STRATEGY;

  /**
   * Everything, except disk-only snapshots of VMs on QEMU hosts with volumes that are not files: the
   * agent snapshots files with qcow2 overlays, which an RBD image cannot take, so those are the
   * storage strategy's (one group snapshot on Ceph). A memory snapshot of a VM whose volumes are all
   * on RBD is the agent's: it stops the VM, has Ceph cut the group and saves the RAM, all while the
   * VM is stopped (`rbd-memory-snapshot.ts`). Any other mix is declined rather than half-taken.
   */
  canHandle(input: CanHandleInput): StrategyPriority {
    if (input.vm.hypervisor !== 'KVM') return StrategyPriority.DEFAULT;
    // Folder pools of the built-in `file` driver are the hypervisor's own (qcow2 overlays); any other
    // provider (ceph-rbd, btrfs) snapshots through its storage driver.
    const pools = input.volumes.map((v) => (v.pool.provider === FILE_PROVIDER ? undefined : v.pool.provider));
    if (pools.every((p) => p === undefined)) return StrategyPriority.DEFAULT;
    const allRbd = pools.every((p) => p === RBD_PROVIDER);
    return input.type === 'DiskAndMemory' && allRbd ? StrategyPriority.DEFAULT : StrategyPriority.CANT_HANDLE;
  }

  async takeVmSnapshot(ctx: StrategyContext, op: SnapshotOperation): Promise<TakeResult> {
    const host = await ctx.pickHost(op.vm, op.volumes);
    const memoryMode = memoryModeOf(ctx, op);
    const answer = await ctx
      .phase('hypervisor', () =>
        ctx.agents.send(
          host.id,
          {
            kind: 'CreateVMSnapshot',
            vmName: op.vm.instanceName,
            vmUuid: op.vm.id,
            target: toTO(op.snapshot, op.parents, op.quiesce),
            volumes: volumeTOs(op),
            quiesce: op.quiesce,
            ...(memoryMode !== undefined ? { memoryMode } : {}),
            freezeBudgetMs: ctx.numberSetting('vmsnapshot.freeze.budget'),
            requestId: op.operationId,
          },
          { timeoutMs: ctx.numberSetting('vmsnapshot.create.wait') * 1000 },
        ),
      )
      .catch((err: unknown) => {
        throw new Error(`Creating VM snapshot: ${op.snapshot.name} failed: ${errorText(err)}`);
      });
    if (!answer.result)
      throw new Error(`Creating VM snapshot: ${op.snapshot.name} failed due to ${answer.details}`);
    const byId = new Map(answer.volumes.map((v) => [v.id, v]));
    const { pauseMs, freezeMs, maxFreezeMs, frozenTotalMs } = answer.timings ?? {};
    const facts: SnapshotFacts = {
      host: host.name,
      ...(pauseMs !== undefined ? { pauseMs: round(pauseMs) } : {}),
      ...(freezeMs !== undefined ? { freezeWindowMs: round(freezeMs) } : {}),
      // Every freeze of the take (a host that reports only the window froze only then).
      ...(maxFreezeMs !== undefined ? { maxFreezeMs: round(maxFreezeMs) } : {}),
      ...(frozenTotalMs !== undefined ? { frozenTotalMs: round(frozenTotalMs) } : {}),
      ...(answer.memoryMode !== undefined && op.snapshot.type === 'DiskAndMemory'
        ? { memoryMode: answer.memoryMode }
        : {}),
      consistency: consistencyOf(op),
    };
    return {
      // The snapshot keeps the chain position each volume had when it was taken.
      records: op.volumes.map((v) => ({
        volumeId: v.id,
        driver: v.driver,
        path: v.path,
        size: byId.get(v.id)?.size ?? v.size,
        ref: op.snapshot.name,
      })),
      volumeUpdates: answer.volumes.map((v) => ({ volumeId: v.id, path: v.path, size: v.size })),
      facts,
    };
  }

  async revertVmSnapshot(ctx: StrategyContext, op: SnapshotOperation): Promise<RevertResult> {
    const host = await ctx.pickHost(op.vm, op.volumes);
    const fail = (why: string): Error =>
      new Error(`Revert VM: ${op.vm.instanceName} to snapshot: ${op.snapshot.name} failed due to ${why}`);
    const answer = await ctx
      .phase('hypervisor', () =>
        ctx.agents.send(
          host.id,
          {
            kind: 'RevertToVMSnapshot',
            vmName: op.vm.instanceName,
            vmUuid: op.vm.id,
            target: toTO(op.snapshot, op.parents, true),
            volumes: volumeTOs(op),
            requestId: op.operationId,
          },
          { timeoutMs: ctx.numberSetting('vmsnapshot.create.wait') * 1000 },
        ),
      )
      .catch((err: unknown) => {
        throw fail(errorText(err));
      });
    if (!answer.result) throw fail(answer.details);
    return {
      volumeUpdates: answer.volumes.map((v) => ({ volumeId: v.id, path: v.path, size: v.size })),
      powerState: answer.powerState,
      facts: answer.timings?.pauseMs !== undefined ? { revertPauseMs: round(answer.timings.pauseMs) } : {},
    };
  }

  async deleteVmSnapshot(ctx: StrategyContext, op: SnapshotOperation): Promise<DeleteResult> {
    const host = await ctx.pickHost(op.vm, op.volumes);
    const fail = (why: string): Error =>
      new Error(`Delete vm snapshot ${op.snapshot.name} of vm ${op.vm.instanceName} failed due to ${why}`);
    const answer = await ctx
      .phase('hypervisor', () =>
        ctx.agents.send(
          host.id,
          {
            kind: 'DeleteVMSnapshot',
            vmName: op.vm.instanceName,
            target: toTO(op.snapshot, op.parents, op.quiesce),
            volumes: volumeTOs(op),
            requestId: op.operationId,
          },
          { timeoutMs: ctx.numberSetting('vmsnapshot.create.wait') * 1000 },
        ),
      )
      .catch((err: unknown) => {
        throw fail(errorText(err));
      });
    if (!answer.result) throw fail(answer.details);
    return {
      outcome: answer.hidden === true ? 'hidden' : 'deleted',
      volumeUpdates: answer.volumes.map((v) => ({ volumeId: v.id, path: v.path, size: v.size })),
    };
  }

  async snapshotExists(ctx: StrategyContext, op: SnapshotOperation): Promise<boolean> {
    return (await this.check(ctx, op)).exists;
  }

  /** The host has the snapshot: keep the chain position the volumes had, adopt the host's paths. */
  async reconcileTake(ctx: StrategyContext, op: SnapshotOperation): Promise<TakeResult | null> {
    const answer = await this.check(ctx, op);
    if (!answer.exists) return null;
    return {
      records: op.volumes.map((v) => ({
        volumeId: v.id,
        driver: v.driver,
        path: v.path,
        size: v.size,
        ref: op.snapshot.name,
      })),
      volumeUpdates: (answer.volumes ?? []).map((v) => ({ volumeId: v.id, path: v.path, size: v.size })),
      facts: { consistency: consistencyOf(op), recovered: true },
    };
  }

  /**
   * The revert completed when the host says it applied this very request. (`current` alone cannot
   * tell: the snapshot may have been current before the revert.) Hosts that cannot say: unknown.
   */
  async reconcileRevert(ctx: StrategyContext, op: SnapshotOperation): Promise<RevertResult | null> {
    const answer = await this.check(ctx, op, op.operationId);
    if (answer.revertApplied !== true || answer.powerState === undefined) return null;
    return {
      volumeUpdates: (answer.volumes ?? []).map((v) => ({ volumeId: v.id, path: v.path, size: v.size })),
      powerState: answer.powerState,
      facts: { recovered: true },
    };
  }

  /**
   * The delete completed when the host no longer has the snapshot: its volumes as the host has them
   * now, and no second DeleteVMSnapshot for the same job (issue 12's chaos test found one).
   */
  async reconcileDelete(ctx: StrategyContext, op: SnapshotOperation): Promise<DeleteResult | null> {
    const answer = await this.check(ctx, op);
    if (answer.exists) return null;
    return {
      outcome: 'deleted',
      volumeUpdates: (answer.volumes ?? []).map((v) => ({ volumeId: v.id, path: v.path, size: v.size })),
    };
  }

  private async check(
    ctx: StrategyContext,
    op: SnapshotOperation,
    revertRequestId?: string,
  ): Promise<CheckAnswer> {
    const host = await ctx.pickHost(op.vm, op.volumes);
    const answer = await ctx.agents.send(host.id, {
      kind: 'CheckVMSnapshot',
      vmName: op.vm.instanceName,
      target: toTO(op.snapshot, op.parents, op.quiesce),
      ...(revertRequestId !== undefined ? { revertRequestId } : {}),
    });
    if (!answer.result) throw new Error(`cannot check snapshot ${op.snapshot.name}: ${answer.details}`);
    return answer;
  }
}

/** CloudStack's VMSnapshotTO: the snapshot with its parent chain up to the root. */
export function toTO(
  snap: VmSnapshotInfo,
  parents: readonly VmSnapshotInfo[],
  quiesce: boolean,
): VmSnapshotTO {
  const chain = [snap, ...parents];
  let parent: VmSnapshotTO | null = null;
  for (let i = chain.length - 1; i >= 0; i--) {
    const s = chain[i]!;
    parent = {
      id: s.id,
      name: s.name,
      type: s.type,
      description: s.description,
      current: s.current,
      quiesce: i === 0 ? quiesce : s.quiesce,
      createdAt: i === 0 && s.state === 'Creating' ? null : s.createdAt,
      parent,
    };
  }
  if (parent === null) throw new Error('unreachable: empty snapshot chain');
  return parent;
}

function volumeTOs(op: SnapshotOperation): VolumeTO[] {
  return op.volumes.map(toVolumeTO);
}

/**
 * The request's mode (typed, checked by the API), else the setting's; the setting's `host` leaves
 * it to the agent's own default.
 */
function memoryModeOf(ctx: StrategyContext, op: SnapshotOperation): MemorySnapshotMode | undefined {
  if (op.options.memoryMode !== undefined) return op.options.memoryMode;
  const setting = ctx.setting(MEMORY_MODE_SETTING);
  return setting === 'host' || setting === ''
    ? undefined
    : parseMemoryMode(setting, `setting ${MEMORY_MODE_SETTING}`);
}

/** With memory, disks and RAM are one instant: the guest resumes exactly there, nothing to recover. */
function consistencyOf(
  op: SnapshotOperation,
): Extract<Consistency, 'application-consistent' | 'crash-consistent'> {
  return op.snapshot.type === 'DiskAndMemory' || op.quiesce ? 'application-consistent' : 'crash-consistent';
}

function errorText(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}
