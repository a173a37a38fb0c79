/**
 * The storage strategy: the design's fine-grained option. It quiesces the guest once, groups the
 * VM's volumes by storage driver, lets every driver cut its volumes at the same time (one group call
 * per driver, or per-volume fallbacks), thaws in a `finally`, and rolls back partial cuts.
 *
 * Quiesce policy (where peers fail, see reference/peers.md §1.5, §2.4, §7):
 *  - `quiesce=false` never freezes (CloudStack always does: its issue 12871).
 *  - `quiesce=true` with no reachable guest agent fails, unless the `best-effort` policy is chosen
 *    (request option `quiescePolicy` or setting `vmsnapshot.quiesce.policy`); then the snapshot is
 *    taken crash-consistent and says so in its `consistency` fact.
 *  - Freezes carry a budget (`vmsnapshot.freeze.budget`, ms): the host agent's watchdog thaws the
 *    guest after it, even if we die. A cut that outlives the budget can no longer claim consistency.
 *  - A failed thaw keeps the snapshot: the cut was taken while frozen, so its data is consistent,
 *    and the watchdog thaws the guest within the budget. It is recorded as `thaw: failed (watchdog)`.
 */
import { messageOf } from '../core/message-of.ts';
import type {
  CanHandleInput,
  DeleteResult,
  SnapshotFacts,
  DriverVolumeSnapshot,
  RevertResult,
  SnapshotOperation,
  StorageDriver,
  StorageSnapshotRef,
  StrategyContext,
  TakeResult,
  ThawOutcome,
  VmSnapshotStrategy,
  VolumeInfo,
  VolumeSnapshotRecord,
} from '../core/plugin-api.ts';
import { StrategyPriority } from '../core/plugin-api.ts';
import { freezeBudgetMs, quiesceGuest, quiescePolicy, thawGuest } from './guest-quiesce.ts';

export const STORAGE_STRATEGY_NAME = 'storage';

/** The volumes of one VM that one driver serves. */
interface DriverGroup {
  readonly driver: StorageDriver;
  readonly volumes: readonly VolumeInfo[];
}

/** What one driver did during the cut. `taken` may be non-empty even on error (partial fallback). */
interface DriverCut {
  readonly group: DriverGroup;
  readonly taken: readonly DriverVolumeSnapshot[];
  readonly error: Error | null;
  readonly needsUnquiesce: boolean;
  readonly ms: number;
}

/** Records grouped back to their drivers, for revert, delete and existence checks. */
interface DriverPlan {
  readonly driver: StorageDriver;
  readonly volumes: VolumeInfo[];
  readonly snapshots: DriverVolumeSnapshot[];
}

export class StorageVmSnapshotStrategy implements VmSnapshotStrategy {
  readonly name = STORAGE_STRATEGY_NAME;

  canHandle(input: CanHandleInput): StrategyPriority {
    if (input.type !== 'Disk' || input.volumes.length === 0) return StrategyPriority.CANT_HANDLE;
    const allSnapshot = input.volumes.every(
      (v) => input.drivers.get(v.driver)?.capabilities.canSnapshot === true,
    );
    return allSnapshot ? StrategyPriority.PLUGIN : StrategyPriority.CANT_HANDLE;
  }

  async takeVmSnapshot(ctx: StrategyContext, op: SnapshotOperation): Promise<TakeResult> {
    const groups = groupByDriver(ctx, op.volumes);
    const budgetMs = freezeBudgetMs(ctx);
    const policy = quiescePolicy(ctx, op);
    const needsFreeze = op.quiesce && groups.some((g) => g.driver.capabilities.needsQuiesce);
    // Before the freeze: a volume at its driver's limit would fail the cut after the guest paid for it.
    await checkSnapshotRoom(groups, op);
    const guest = await ctx.phase('quiesce', () => quiesceGuest(ctx, op, { needsFreeze, budgetMs, policy }));

    const ref: StorageSnapshotRef = { id: op.snapshot.id, name: op.snapshot.name, vmId: op.vm.id };
    let cuts: DriverCut[] | undefined;
    let cutDoneAt: number;
    let thaw: { outcome: ThawOutcome; at: number };
    try {
      await ctx.checkpoint('snapshot', { drivers: groups.map((g) => g.driver.name).join(',') });
      cuts = await ctx.phase('snapshot', () => cutAll(groups, ref));
      cutDoneAt = Date.now();
    } finally {
      const released = cuts !== undefined && cuts.every((c) => c.error === null && !c.needsUnquiesce);
      thaw = await ctx.phase('thaw', () => thawGuest(ctx, op, guest, released, budgetMs));
    }

    const failures = cuts.filter((c) => c.error !== null);
    // Recorded after the thaw, not before it: a database write must not lengthen the freeze window.
    const taken = cuts.flatMap((c) => c.taken.map((s) => `${s.volumeId}=${s.ref}`));
    await ctx.checkpoint('snapshot-taken', { refs: taken.join(','), failed: failures.length });
    let consistency = guest.consistency;
    let note = guest.note;
    if (failures.length > 0) {
      await this.failCut(ctx, op, cuts, failures.map(describeCutFailure).join('; '));
    }
    if (guest.freezeSentAt !== null && cutDoneAt - guest.freezeSentAt > budgetMs) {
      // The watchdog may have thawed the guest before the last volume was cut.
      const why = `the cut took ${cutDoneAt - guest.freezeSentAt} ms, past the ${budgetMs} ms freeze budget`;
      if (policy === 'required')
        await this.failCut(ctx, op, cuts, `cannot guarantee a quiesced snapshot: ${why}`);
      consistency = 'quiesce-timed-out';
      note = why;
    }

    const facts: SnapshotFacts = {
      consistency,
      freezeWindowMs: guest.freezeSentAt === null ? 0 : Math.max(0, thaw.at - guest.freezeSentAt),
      drivers: groups.map((g) => g.driver.name),
      thaw: thaw.outcome,
      quiescePolicy: policy,
      ...(note !== null ? { quiesceNote: note } : {}),
      driverMs: Object.fromEntries(cuts.map((cut) => [cut.group.driver.name, cut.ms])),
    };
    return { records: toRecords(cuts), volumeUpdates: [], facts };
  }

  /** Asks every volume's driver whether it can revert (`canRevert`); refuses with what blocks it. */
  async validateRevert(ctx: StrategyContext, op: SnapshotOperation): Promise<void> {
    const plans = planFromRecords(ctx, op, 'revert');
    const refusals = (await Promise.all(plans.map((plan) => revertRefusals(plan, op)))).flat();
    if (refusals.length > 0)
      throw new Error(`Cannot revert to ${op.snapshot.displayName}: ${refusals.join('; ')}`);
  }

  async revertVmSnapshot(ctx: StrategyContext, op: SnapshotOperation): Promise<RevertResult> {
    // Checked again here: a revert must never start on one driver and be refused by another.
    await this.validateRevert(ctx, op);
    const plans = planFromRecords(ctx, op, 'revert');
    await ctx.checkpoint('revert', { drivers: plans.map((p) => p.driver.name).join(',') });
    const runs = await ctx.phase('revert', () => runPlans(plans, revertWithDriver));
    const failed = runs.filter((r) => r.error !== null);
    if (failed.length > 0) {
      const done = runs.filter((r) => r.error === null).map((r) => r.driver);
      throw new Error(
        `Revert of VM ${op.vm.displayName} to ${op.snapshot.displayName} failed: ` +
          failed.map((r) => `storage driver ${r.driver}: ${r.error?.message}`).join('; ') +
          (done.length > 0 ? `; volumes on ${done.join(', ')} were already reverted` : ''),
      );
    }
    const driverMs = Object.fromEntries(runs.map((run) => [run.driver, run.ms]));
    // Disk-only snapshots hold no memory: the VM comes back powered off (the manager stops it first).
    return { volumeUpdates: [], powerState: 'PowerOff', facts: { driverMs } };
  }

  async deleteVmSnapshot(ctx: StrategyContext, op: SnapshotOperation): Promise<DeleteResult> {
    const plans = planFromRecords(ctx, op, 'delete');
    await ctx.checkpoint('delete', { drivers: plans.map((p) => p.driver.name).join(',') });
    const runs = await ctx.phase('delete', () => runPlans(plans, deleteWithDriver));
    const failed = runs.filter((r) => r.error !== null);
    if (failed.length > 0) {
      throw new Error(
        `Delete of VM snapshot ${op.snapshot.displayName} failed: ` +
          failed.map((r) => `storage driver ${r.driver}: ${r.error?.message}`).join('; '),
      );
    }
    return { outcome: 'deleted', volumeUpdates: [] };
  }

  /**
   * Recovery of a take cut short by a crash: every volume's piece found on its driver -> the snapshot
   * is complete (recorded crash-consistent: whether the guest was still frozen at the cut is not
   * known); some pieces only -> they are deleted and the take counts as failed.
   */
  async reconcileTake(ctx: StrategyContext, op: SnapshotOperation): Promise<TakeResult | null> {
    const groups = groupByDriver(ctx, op.volumes);
    const ref: StorageSnapshotRef = { id: op.snapshot.id, name: op.snapshot.name, vmId: op.vm.id };
    const found: {
      driver: StorageDriver;
      pieces: readonly DriverVolumeSnapshot[];
      volumes: readonly VolumeInfo[];
    }[] = [];
    for (const g of groups) {
      if (g.driver.findVmSnapshot === undefined) {
        ctx.log.warn(
          { driver: g.driver.name, snapshot: op.snapshot.name },
          'driver cannot find pieces of an interrupted snapshot',
        );
        return null;
      }
      found.push({
        driver: g.driver,
        pieces: await g.driver.findVmSnapshot(g.volumes, ref),
        volumes: g.volumes,
      });
    }
    const complete = found.every((f) => f.volumes.every((v) => f.pieces.some((p) => p.volumeId === v.id)));
    if (!complete) {
      for (const f of found) {
        for (const piece of f.pieces) {
          const volume = f.volumes.find((v) => v.id === piece.volumeId);
          if (volume !== undefined) await f.driver.deleteVolumeSnapshot(volume, piece);
        }
      }
      return null;
    }
    return {
      records: found.flatMap((f) =>
        f.pieces.map((p) => {
          const volume = f.volumes.find((v) => v.id === p.volumeId);
          return {
            volumeId: p.volumeId,
            driver: f.driver.name,
            path: volume?.path ?? '',
            size: p.size ?? volume?.size ?? 0,
            ref: p.ref,
          };
        }),
      ),
      volumeUpdates: [],
      facts: {
        consistency: 'crash-consistent',
        drivers: found.map((f) => f.driver.name),
        recovered: true,
      },
    };
  }

  async snapshotExists(ctx: StrategyContext, op: SnapshotOperation): Promise<boolean> {
    const records = op.snapshot.volumes;
    if (records.length === 0 || records.some((r) => r.ref === null)) return false;
    const plans = planFromRecords(ctx, op, 'delete');
    const checks = plans.flatMap((plan) =>
      plan.volumes.map(async (volume, i) => {
        const refs = await plan.driver.listVolumeSnapshots(volume);
        return refs.includes(plan.snapshots[i]!.ref);
      }),
    );
    return (await Promise.all(checks)).every(Boolean);
  }

  /** Rolls back every volume snapshot the cut produced, then throws: the manager marks the snapshot Error. */
  private async failCut(
    ctx: StrategyContext,
    op: SnapshotOperation,
    cuts: readonly DriverCut[],
    why: string,
  ): Promise<never> {
    await ctx.checkpoint('rollback');
    const leftovers = await ctx.phase('rollback', () => rollBack(cuts));
    const count = cuts.reduce((n, c) => n + c.taken.length, 0);
    const rollback =
      leftovers.length === 0
        ? `rolled back ${count} volume snapshot(s)`
        : `rollback failed, volume snapshots left on storage: ${leftovers.join('; ')}`;
    ctx.log.error(
      { vm: op.vm.instanceName, snapshot: op.snapshot.name, err: why, leftovers },
      'storage snapshot failed',
    );
    throw new Error(
      `VM snapshot ${op.snapshot.displayName} of VM ${op.vm.displayName} failed: ${why}; ${rollback}`,
    );
  }
}

// ---------------------------------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------------
// The cut
// ---------------------------------------------------------------------------------------------------

function groupByDriver(ctx: StrategyContext, volumes: readonly VolumeInfo[]): DriverGroup[] {
  const groups = new Map<string, { driver: StorageDriver; volumes: VolumeInfo[] }>();
  for (const volume of volumes) {
    const existing = groups.get(volume.driver);
    if (existing) {
      existing.volumes.push(volume);
      continue;
    }
    const driver = requireDriver(ctx, volume.driver);
    if (!driver.capabilities.canSnapshot) {
      throw new Error(`Storage driver ${driver.name} of volume ${volume.name} cannot take snapshots`);
    }
    groups.set(volume.driver, { driver, volumes: [volume] });
  }
  return [...groups.values()];
}

/** Every driver at once: the freeze window is the slowest driver, not their sum. */
async function cutAll(groups: readonly DriverGroup[], ref: StorageSnapshotRef): Promise<DriverCut[]> {
  const started = Date.now();
  const settled = await Promise.allSettled(groups.map((group) => cutWithDriver(group, ref)));
  return settled.map((result, i) =>
    result.status === 'fulfilled'
      ? result.value
      : {
          group: groups[i]!,
          taken: [],
          error: toError(result.reason),
          needsUnquiesce: true,
          ms: Date.now() - started,
        },
  );
}

async function cutWithDriver(group: DriverGroup, ref: StorageSnapshotRef): Promise<DriverCut> {
  const { driver, volumes } = group;
  const started = Date.now();
  const done = (
    taken: readonly DriverVolumeSnapshot[],
    error: Error | null,
    needsUnquiesce = true,
  ): DriverCut => ({
    group,
    taken,
    error,
    needsUnquiesce,
    ms: Date.now() - started,
  });
  if (driver.takeVmSnapshot) {
    try {
      const result = await driver.takeVmSnapshot(volumes, ref);
      const missing = volumes.filter((v) => !result.volumes.some((s) => s.volumeId === v.id));
      const error =
        missing.length > 0
          ? new Error(`no snapshot returned for ${missing.map((v) => v.name).join(', ')}`)
          : null;
      return done(result.volumes, error, result.needsUnquiesce);
    } catch (err) {
      return done([], toError(err));
    }
  }
  const settled = await Promise.allSettled(volumes.map((volume) => driver.takeVolumeSnapshot(volume, ref)));
  const taken = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const errors = settled.flatMap((s, i) =>
    s.status === 'rejected' ? [`${volumes[i]!.name}: ${messageOf(s.reason)}`] : [],
  );
  return done(taken, errors.length > 0 ? new Error(errors.join('; ')) : null);
}

/** Deletes what the cut produced; returns what could not be deleted (for the error message). */
async function rollBack(cuts: readonly DriverCut[]): Promise<string[]> {
  const plans = cuts
    .filter((c) => c.taken.length > 0)
    .map((c) => ({
      driver: c.group.driver,
      snapshots: [...c.taken],
      volumes: c.taken.map((s) => c.group.volumes.find((v) => v.id === s.volumeId)!),
    }));
  const runs = await runPlans(plans, deleteWithDriver);
  return runs
    .filter((r) => r.error !== null)
    .map((r) => `${r.driver}: ${r.refs.join(', ')} (${r.error?.message})`);
}

function toRecords(cuts: readonly DriverCut[]): VolumeSnapshotRecord[] {
  return cuts.flatMap((cut) =>
    cut.group.volumes.map((volume) => {
      const snapshot = cut.taken.find((s) => s.volumeId === volume.id);
      return {
        volumeId: volume.id,
        driver: cut.group.driver.name,
        path: volume.path,
        size: snapshot?.size ?? volume.size,
        ref: snapshot?.ref ?? null,
      };
    }),
  );
}

function describeCutFailure(cut: DriverCut): string {
  return `storage driver ${cut.group.driver.name} failed: ${cut.error?.message ?? 'unknown error'}`;
}

// ---------------------------------------------------------------------------------------------------
// Revert, delete and existence: the records say which driver holds what
// ---------------------------------------------------------------------------------------------------

function planFromRecords(
  ctx: StrategyContext,
  op: SnapshotOperation,
  purpose: 'revert' | 'delete',
): DriverPlan[] {
  const plans = new Map<string, DriverPlan>();
  for (const record of op.snapshot.volumes) {
    if (record.ref === null) {
      if (purpose === 'revert') {
        throw new Error(
          `Cannot revert to ${op.snapshot.displayName}: volume ${record.volumeId} has no storage snapshot`,
        );
      }
      continue; // Nothing was stored for it: nothing to delete.
    }
    const volume = op.volumes.find((v) => v.id === record.volumeId);
    if (!volume && purpose === 'revert') {
      throw new Error(
        `Cannot revert to ${op.snapshot.displayName}: volume ${record.volumeId} is no longer attached to VM ${op.vm.displayName}`,
      );
    }
    let plan = plans.get(record.driver);
    if (!plan) {
      plan = { driver: requireDriver(ctx, record.driver), volumes: [], snapshots: [] };
      plans.set(record.driver, plan);
    }
    plan.volumes.push(volume ?? detachedVolume(record));
    plan.snapshots.push({ volumeId: record.volumeId, ref: record.ref, size: record.size });
  }
  return [...plans.values()];
}

/** A detached volume still has snapshots on its driver; deleting them needs only its identity. */
function detachedVolume(record: VolumeSnapshotRecord): VolumeInfo {
  return {
    id: record.volumeId,
    name: record.volumeId,
    type: 'DATADISK',
    poolId: '',
    driver: record.driver,
    format: 'RAW',
    path: record.path,
    size: record.size,
    deviceId: -1,
    // Unknown once detached: drivers that need the connection find it by the volume's id.
    pool: {
      id: '',
      name: '',
      zoneId: '',
      provider: record.driver,
      url: '',
      details: {},
      scope: 'ZONE',
      hostId: null,
      path: '',
    },
  };
}

/**
 * What keeps one driver's volumes from reverting, one entry per refused volume: the driver's
 * reason and its blockers, named as the VM snapshots that own them where known.
 */
async function revertRefusals(plan: DriverPlan, op: SnapshotOperation): Promise<string[]> {
  const checks = await Promise.all(
    plan.volumes.map((volume, i) => plan.driver.canRevert(volume, plan.snapshots[i]!)),
  );
  return checks.flatMap((check, i) => {
    if (check.ok) return [];
    const blockers = check.blockers.map((ref) => snapshotNameOf(ref, op));
    return [
      `volume ${plan.volumes[i]!.name} on storage driver ${plan.driver.name}: ${check.reason}` +
        (blockers.length > 0 ? `; blocked by: ${blockers.join(', ')}` : ''),
    ];
  });
}

/** Refuses a take that would put a volume past its driver's `maxSnapshotsPerVolume`. */
async function checkSnapshotRoom(groups: readonly DriverGroup[], op: SnapshotOperation): Promise<void> {
  const limited = groups.filter((g) => g.driver.capabilities.maxSnapshotsPerVolume !== null);
  const full = await Promise.all(
    limited.flatMap(({ driver, volumes }) =>
      volumes.map(async (volume) => {
        const max = driver.capabilities.maxSnapshotsPerVolume ?? Infinity;
        const held = (await driver.listVolumeSnapshots(volume)).length;
        return held >= max
          ? [
              `volume ${volume.name} already has ${held} of the ${max} snapshots storage driver ${driver.name} keeps`,
            ]
          : [];
      }),
    ),
  );
  const problems = full.flat();
  if (problems.length > 0) {
    throw new Error(
      `VM snapshot ${op.snapshot.displayName} of VM ${op.vm.displayName} refused: ${problems.join('; ')}; ` +
        'delete older snapshots first',
    );
  }
}

/** A blocking ref shown as the VM snapshot that owns it, when we know it. */
function snapshotNameOf(ref: string, op: SnapshotOperation): string {
  const owner = op.siblings.find((s) => s.volumes.some((v) => v.ref === ref));
  return owner ? `${owner.displayName} (${ref})` : ref;
}

interface PlanRun {
  readonly driver: string;
  readonly refs: readonly string[];
  readonly error: Error | null;
  readonly ms: number;
}

/** Runs one step per driver, all drivers at once; never throws. */
async function runPlans(
  plans: readonly DriverPlan[],
  step: (plan: DriverPlan) => Promise<void>,
): Promise<PlanRun[]> {
  return Promise.all(
    plans.map(async (plan) => {
      const started = Date.now();
      const error = await step(plan).then(
        () => null,
        (err: unknown) => toError(err),
      );
      return {
        driver: plan.driver.name,
        refs: plan.snapshots.map((s) => s.ref),
        error,
        ms: Date.now() - started,
      };
    }),
  );
}

async function revertWithDriver({ driver, volumes, snapshots }: DriverPlan): Promise<void> {
  if (driver.revertVmSnapshot) return driver.revertVmSnapshot(volumes, snapshots);
  await allOrFirstError(volumes.map((volume, i) => driver.revertVolumeSnapshot(volume, snapshots[i]!)));
}

async function deleteWithDriver({ driver, volumes, snapshots }: DriverPlan): Promise<void> {
  if (driver.deleteVmSnapshot) return driver.deleteVmSnapshot(volumes, snapshots);
  await allOrFirstError(volumes.map((volume, i) => driver.deleteVolumeSnapshot(volume, snapshots[i]!)));
}

/** Like Promise.all, but waits for every call to settle before reporting, so none runs on unseen. */
async function allOrFirstError(calls: readonly Promise<void>[]): Promise<void> {
  const settled = await Promise.allSettled(calls);
  const failed = settled.find((s) => s.status === 'rejected');
  if (failed) throw toError(failed.reason);
}

// ---------------------------------------------------------------------------------------------------

function requireDriver(ctx: StrategyContext, name: string): StorageDriver {
  const driver = ctx.storageDriver(name);
  if (!driver) throw new Error(`Storage driver ${name} is not loaded`);
  return driver;
}

function toError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}
