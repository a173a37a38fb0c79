/**
 * The default strategy (CloudStack's DefaultVMSnapshotStrategy): sends Create / Revert / Delete VM
 * snapshot commands to the VM's host agent and copies the answered volume paths and sizes back.
 * It handles every snapshot at DEFAULT priority, so it is the fallback for everything.
 */
import {
  StrategyPriority,
  toVolumeTO,
  type DeleteResult,
  type MemorySnapshotMode,
  type PowerState,
  type VolumeAnswerTO,
  type RevertResult,
  type SnapshotOperation,
  type StrategyContext,
  type TakeResult,
  type VmSnapshotInfo,
  type VmSnapshotStrategy,
  type VmSnapshotTO,
  type VolumeTO,
} from '../core/plugin-api.ts';

export const HYPERVISOR_STRATEGY = 'hypervisor';

export class HypervisorVmSnapshotStrategy implements VmSnapshotStrategy {
  readonly name = HYPERVISOR_STRATEGY;

  canHandle(): StrategyPriority {
    return StrategyPriority.DEFAULT;
  }

  async takeVmSnapshot(ctx: StrategyContext, op: SnapshotOperation): Promise<TakeResult> {
    const host = await ctx.pickHost(op.vm, op.volumes);
    // Request, then the global setting; `host` leaves it to the agent's own default.
    const wanted = op.options['memoryMode'] ?? ctx.setting('vmsnapshot.memory.mode');
    const memoryMode: MemorySnapshotMode | undefined =
      wanted === 'live' || wanted === 'internal' ? wanted : undefined;
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
    const details: Record<string, string | number | boolean> = { host: host.name };
    if (answer.timings?.pauseMs !== undefined) details['pauseMs'] = round(answer.timings.pauseMs);
    if (answer.timings?.freezeMs !== undefined) details['freezeWindowMs'] = round(answer.timings.freezeMs);
    if (answer.memoryMode !== undefined && op.snapshot.type === 'DiskAndMemory')
      details['memoryMode'] = answer.memoryMode;
    details['consistency'] = consistencyOf(op);
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
      details,
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
      details: answer.timings?.pauseMs !== undefined ? { revertPauseMs: round(answer.timings.pauseMs) } : {},
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
      details: { consistency: consistencyOf(op), recovered: true },
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
      details: { recovered: true },
    };
  }

  private async check(
    ctx: StrategyContext,
    op: SnapshotOperation,
    revertRequestId?: string,
  ): Promise<{
    exists: boolean;
    volumes?: VolumeAnswerTO[];
    revertApplied?: boolean;
    powerState?: PowerState;
  }> {
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

/** With memory, disks and RAM are one instant: the guest resumes exactly there, nothing to recover. */
function consistencyOf(op: SnapshotOperation): 'application-consistent' | 'crash-consistent' {
  return op.snapshot.type === 'DiskAndMemory' || op.quiesce ? 'application-consistent' : 'crash-consistent';
}

function errorText(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
