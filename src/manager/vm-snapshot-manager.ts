/**
 * The VM snapshot manager: CloudStack's synchronous checks, in CloudStack's order and words, then a
 * durable job on the VM's queue. How a snapshot is taken is the strategy's business (see the worker).
 *
 * Messages follow the 4.20+ wording ("Instance Snapshot"). Unlike CloudStack, a snapshot left in
 * Allocated never blocks its VM (CloudStack issue 8424): it is not an "active task", and it can be
 * deleted. Also unlike CloudStack, access is checked as each object is loaded (./access.ts), so a
 * foreign VM or snapshot fails like a missing one before any other check can describe it.
 */
import { randomUUID } from 'node:crypto';
import type { SnapshotOptions, VmSnapshotState, VmSnapshotType } from '../core/plugin-api.ts';
import { factsFromDetails } from '../core/snapshot-facts.ts';
import { CloudRuntimeError, InvalidParameterError } from '../core/errors.ts';
import { DELETABLE_STATES, TRANSITIONAL_STATES } from '../core/vm-snapshot-state.ts';
import type { JobSubmission } from '../jobs/job-queue.ts';
import {
  SnapshotNameTakenError,
  type NewVmSnapshot,
  type StoredVmSnapshot,
} from '../store/vm-snapshot-store.ts';
import type { StoredVm } from '../store/inventory-store.ts';
import { loadOwned } from './access.ts';
import type { Caller } from './caller.ts';
import type { ManagerDeps } from './manager-deps.ts';
import { uniqueSnapshotName } from './snapshot-name.ts';

export const CMD = {
  create: 'org.apache.cloudstack.api.command.user.vmsnapshot.CreateVMSnapshotCmd',
  revert: 'org.apache.cloudstack.api.command.user.vmsnapshot.RevertToVMSnapshotCmd',
  delete: 'org.apache.cloudstack.api.command.user.vmsnapshot.DeleteVMSnapshotCmd',
  start: 'org.apache.cloudstack.api.command.user.vm.StartVMCmd',
  stop: 'org.apache.cloudstack.api.command.user.vm.StopVMCmd',
  deploy: 'org.apache.cloudstack.api.command.user.vm.DeployVMCmd',
} as const;

export const JOB_KIND = {
  create: 'vmsnapshot.create',
  revert: 'vmsnapshot.revert',
  delete: 'vmsnapshot.delete',
  start: 'vm.start',
  stop: 'vm.stop',
  deploy: 'vm.deploy',
} as const;

export interface CreateSnapshotRequest {
  readonly vmId: string;
  readonly name?: string;
  readonly description?: string;
  readonly snapshotMemory?: boolean;
  readonly quiesce?: boolean;
  /** Strategy options, typed: the API parsed them. */
  readonly options?: SnapshotOptions;
  /** A VM snapshot policy's run (issue 13): the ids it chose and persisted before creating. */
  readonly id?: string;
  readonly jobId?: string;
  readonly policyId?: string;
}

export interface Submitted {
  readonly jobId: string;
}

export class VmSnapshotManager {
  constructor(private readonly deps: ManagerDeps) {}

  /**
   * createVMSnapshot: allocate synchronously (errors are immediate), then queue the take. The
   * Allocated row and its create job commit in one transaction: a server dying between the two would
   * otherwise leave a snapshot no job ever takes (listed, counted against vmsnapshot.max).
   */
  async create(
    caller: Caller,
    req: CreateSnapshotRequest,
  ): Promise<{ snapshot: StoredVmSnapshot; jobId: string }> {
    const jobId = req.jobId ?? randomUUID();
    const snapshot = await this.allocate(caller, req, (row) =>
      this.deps.jobs.submitWith(createJob(caller, row, jobId), (tx) => this.deps.snapshots.insert(row, tx)),
    );
    await this.recordScheduled(caller, snapshot);
    return { snapshot, jobId };
  }

  /** Queues the take of an allocated snapshot (`jobId`: a policy run's chosen id). */
  async submitCreate(caller: Caller, snapshot: StoredVmSnapshot, id?: string): Promise<string> {
    const jobId = await this.deps.jobs.submit(createJob(caller, snapshot, id ?? randomUUID()));
    await this.recordScheduled(caller, snapshot);
    return jobId;
  }

  private async recordScheduled(caller: Caller, snapshot: StoredVmSnapshot): Promise<void> {
    await this.deps.events.record({
      accountId: snapshot.accountId,
      userId: caller.userId,
      type: 'VMSNAPSHOT.CREATE',
      state: 'Scheduled',
      description: `creating snapshot for VM ${snapshot.vmId}`,
      resourceType: 'VmSnapshot',
      resourceId: snapshot.id,
    });
  }

  /**
   * CloudStack's allocVMSnapshot checks A1–A15, in order. Two concurrent creates of one VM can both
   * pass the name checks; the database refuses the second insert, and that create runs the checks
   * again: its generated name moves on, a clashing display name gets CloudStack's 431.
   */
  async allocate(
    caller: Caller,
    req: CreateSnapshotRequest,
    store: (row: NewVmSnapshot) => Promise<StoredVmSnapshot> = (row) => this.deps.snapshots.insert(row),
  ): Promise<StoredVmSnapshot> {
    // Each round lets at least one of the racing creates in, so this bound is only ever reached by
    // a create losing to twenty others of the same VM at once.
    for (let attempt = 1; attempt <= 20; attempt++) {
      try {
        return await this.allocateOnce(caller, req, store);
      } catch (err) {
        if (!(err instanceof SnapshotNameTakenError)) throw err;
      }
    }
    throw new CloudRuntimeError(
      `Creating Instance Snapshot failed: too many concurrent snapshot requests for Instance:${req.vmId}, please try again later`,
    );
  }

  private async allocateOnce(
    caller: Caller,
    req: CreateSnapshotRequest,
    store: (row: NewVmSnapshot) => Promise<StoredVmSnapshot>,
  ): Promise<StoredVmSnapshot> {
    const { inventory, snapshots, settings, registry } = this.deps;
    const memory = req.snapshotMemory ?? false;
    // CloudStack checks access (A10) after the name and state checks, which tells another tenant
    // the VM's snapshot names and power state: here a foreign VM fails A1 like a missing one.
    const vm = await loadOwned(
      caller,
      () => inventory.getVm(req.vmId),
      () =>
        new InvalidParameterError(
          `Creating Instance Snapshot failed because Instance:${req.vmId} is a System VM or does not exist`,
        ),
    );
    const displayNameIn = req.name ?? '';
    if (displayNameIn.length > 255) {
      throw new InvalidParameterError(
        'Creating Instance Snapshot failed due to length of Instance Snapshot vsDisplayName should not exceed 255',
      );
    }
    const description = req.description ?? '';
    if (description.length > 255) {
      throw new InvalidParameterError(
        'Creating Instance Snapshot failed due to length of Instance Snapshot vsDescription should not exceed 255',
      );
    }
    const now = new Date();
    const existing = await snapshots.listByVm(vm.id);
    const name = uniqueSnapshotName(vm.instanceName, now, new Set(existing.map((s) => s.name)));
    const displayName = displayNameIn === '' ? name : displayNameIn;
    if (existing.some((s) => s.displayName === displayName)) {
      throw new InvalidParameterError(
        `Creating Instance Snapshot failed because Instance Snapshot with name${displayName}  already exists`,
      );
    }
    if (vm.state !== 'Running' && vm.state !== 'Stopped') {
      throw new InvalidParameterError(
        `Creating Instance Snapshot failed because Instance:${vm.id} is not in Running or Stopped state`,
      );
    }
    if (memory && vm.state !== 'Running') {
      throw new InvalidParameterError('Can not Snapshot memory when the Instance is not in Running state');
    }
    const volumes = await inventory.volumesOf(vm.id);
    const root = volumes.find((v) => v.type === 'ROOT');
    if (root === undefined)
      throw new CloudRuntimeError(`Unable to find root volume for the user Instance:${vm.id}`);
    if ((await inventory.getPool(root.poolId)) === undefined) {
      throw new CloudRuntimeError(`Unable to find root volume storage pool for the user Instance:${vm.id}`);
    }
    const type: VmSnapshotType = memory && vm.state === 'Running' ? 'DiskAndMemory' : 'Disk';
    const quiesce = req.quiesce ?? false;
    const strategy = registry.bestMatch({ vm, volumes, type, quiesce, drivers: registry.storageDrivers });
    if (strategy === undefined) {
      throw new CloudRuntimeError(
        `Can't find Instance Snapshot strategy for vmsnapshot: ${name}: no installed strategy handles a ` +
          `${type} snapshot of this Instance`,
      );
    }
    await this.checkHostReachable(vm);
    this.checkMemoryModeFits(vm, type, strategy.name, req.options?.memoryMode, existing);
    const max = settings.getNumber('vmsnapshot.max');
    if (existing.length >= max) {
      throw new CloudRuntimeError(
        `Creating Instance Snapshot failed due to a Instance can just have : ${max} Instance Snapshots. Please delete old ones`,
      );
    }
    this.checkNoActiveTasks(existing);
    return store({
      id: req.id ?? randomUUID(),
      policyId: req.policyId ?? null,
      vmId: vm.id,
      accountId: vm.accountId,
      name,
      displayName,
      description,
      type,
      strategy: strategy.name,
      quiesce,
      options: { ...(req.options ?? {}) },
      created: now.getTime(),
    });
  }

  /** revertToVMSnapshot: CloudStack's checks C1–C8 (access, C4, with C1), then queue the revert. */
  async revert(caller: Caller, snapshotId: string): Promise<Submitted> {
    const { snap, vm } = await loadRevertTarget(this.deps, snapshotId, caller);
    this.checkNoActiveTasks(await this.deps.snapshots.listByVm(vm.id));
    checkRevertAllowed(vm, snap);
    const jobId = await this.deps.jobs.submit({
      kind: JOB_KIND.revert,
      queueKey: vm.id,
      accountId: caller.accountId,
      userId: caller.userId,
      cmd: CMD.revert,
      instanceType: 'VmSnapshot',
      instanceId: snap.id,
      payload: { snapshotId: snap.id, vmId: vm.id },
    });
    return { jobId };
  }

  /** deleteVMSnapshot: checks D1–D4, then queue the delete. Allocated rows may be deleted too. */
  async delete(caller: Caller, snapshotId: string): Promise<Submitted> {
    const snap = await loadOwned(
      caller,
      () => this.deps.snapshots.get(snapshotId),
      () => snapshotNotFound(snapshotId),
    );
    checkDeletable(snap);
    const others = await this.deps.snapshots.listByVm(snap.vmId);
    const firstExpunging = others.find((s) => s.state === 'Expunging');
    const retryingStuckDelete = firstExpunging?.id === snap.id;
    if (!retryingStuckDelete) this.checkNoActiveTasks(others);
    const jobId = await this.deps.jobs.submit({
      kind: JOB_KIND.delete,
      queueKey: snap.vmId,
      accountId: caller.accountId,
      userId: caller.userId,
      cmd: CMD.delete,
      instanceType: 'VmSnapshot',
      instanceId: snap.id,
      payload: { snapshotId: snap.id, vmId: snap.vmId },
    });
    return { jobId };
  }

  /**
   * vmsnap: a running VM's host must be reachable. Checked here, before a row exists, because the
   * take would only fail on the host and leave an Error snapshot to delete by hand.
   */
  private async checkHostReachable(vm: StoredVm): Promise<void> {
    if (vm.state !== 'Running' || vm.hostId === null) return;
    const host = await this.deps.inventory.getHost(vm.hostId);
    if (host === undefined || (host.status !== 'Down' && host.status !== 'Disconnected')) return;
    throw new CloudRuntimeError(
      `Creating Instance Snapshot failed because the host of Instance:${vm.id} is ${host.status}, please try again when it is Up`,
    );
  }

  /**
   * vmsnap: a QEMU host refuses an internal memory snapshot (snapshot-save) on top of external
   * snapshots it took (disk snapshots and live memory snapshots): merging those overlays can lose
   * the internal one (virt-manager issue 811). Refused here, with the same advice, when the mode
   * is known (the request or the setting; `host` leaves it to the agent, which then refuses late).
   */
  private checkMemoryModeFits(
    vm: StoredVm,
    type: VmSnapshotType,
    strategy: string,
    requested: string | undefined,
    existing: readonly StoredVmSnapshot[],
  ): void {
    if (vm.hypervisor !== 'KVM' || type !== 'DiskAndMemory') return;
    const mode = requested ?? this.deps.settings.get('vmsnapshot.memory.mode');
    if (mode !== 'internal') return;
    const onHost = existing.filter((s) => s.strategy === strategy && ON_HOST_STATES.includes(s.state));
    const external = onHost.some(
      (s) => s.type === 'Disk' || factsFromDetails(s.details).memoryMode === 'live',
    );
    if (!external) return;
    throw new InvalidParameterError(
      `Creating Instance Snapshot failed because Instance:${vm.id} has external snapshots; an internal memory ` +
        'snapshot (memorymode=internal) on top of them can be lost when they are merged. Delete them first or use memorymode=live',
    );
  }

  /** CloudStack's hasActiveVMSnapshotTasks, minus Allocated (issue 8424). */
  private checkNoActiveTasks(snaps: readonly StoredVmSnapshot[]): void {
    if (snaps.some((s) => TRANSITIONAL_STATES.includes(s.state))) {
      throw new InvalidParameterError(
        'There are other active Instance Snapshot tasks on the Instance, please try again later',
      );
    }
  }
}

/** The create job of a snapshot, under a chosen id (a policy run's, or a fresh one). */
function createJob(
  caller: Caller,
  snapshot: { readonly id: string; readonly vmId: string },
  id: string,
): JobSubmission & { readonly id: string } {
  return {
    id,
    kind: JOB_KIND.create,
    queueKey: snapshot.vmId,
    accountId: caller.accountId,
    userId: caller.userId,
    cmd: CMD.create,
    instanceType: 'VmSnapshot',
    instanceId: snapshot.id,
    payload: { snapshotId: snapshot.id, vmId: snapshot.vmId },
  };
}

/**
 * D3, checked by the API call and again by the job: the state allows a delete. One list and one
 * message, CloudStack's orchestration wording (which names its list) with ours.
 */
export function checkDeletable(snap: StoredVmSnapshot): void {
  if (DELETABLE_STATES.includes(snap.state)) return;
  throw new InvalidParameterError(
    `Can't delete the Instance Snapshot ${snap.id} due to it is not in [${DELETABLE_STATES.join(', ')}]States`,
  );
}

/** States in which a snapshot's data is on its host (Allocated never got there; Error is rolled back). */
const ON_HOST_STATES: readonly VmSnapshotState[] = ['Creating', 'Ready', 'Reverting', 'Expunging', 'Hidden'];

/** D1 and C1: no such snapshot, or (the same answer) another account's. */
function snapshotNotFound(snapshotId: string): InvalidParameterError {
  return new InvalidParameterError(`Unable to find the Instance Snapshot with id ${snapshotId}`);
}

/**
 * Revert checks C1–C2, repeated when the job runs: the snapshot and its VM still exist. With a
 * caller (the API request), a foreign snapshot fails C1 like a missing one, before C2 can say
 * anything about its VM; the job runs without one, as its submitter was checked.
 */
export async function loadRevertTarget(
  deps: ManagerDeps,
  snapshotId: string,
  caller?: Caller,
): Promise<{ snap: StoredVmSnapshot; vm: StoredVm }> {
  const load = (): Promise<StoredVmSnapshot | undefined> => deps.snapshots.get(snapshotId);
  const snap =
    caller === undefined ? await load() : await loadOwned(caller, load, () => snapshotNotFound(snapshotId));
  if (snap === undefined) throw snapshotNotFound(snapshotId);
  const vm = await deps.inventory.getVm(snap.vmId);
  if (vm === undefined) {
    throw new InvalidParameterError(
      `Revert Instance to Snapshot: ${snap.id} failed due to Instance: ${snap.vmId} is not found`,
    );
  }
  return { snap, vm };
}

/** Revert checks C5–C8: the VM's power state must not change, and the snapshot must be Ready. */
export function checkRevertAllowed(vm: StoredVm, snap: StoredVmSnapshot): void {
  if (vm.state !== 'Running' && vm.state !== 'Stopped') {
    throw new InvalidParameterError(
      'Instance Snapshot reverting failed because the Instance is not in Running or Stopped state.',
    );
  }
  if (vm.state === 'Running' && snap.type === 'Disk') {
    throw new InvalidParameterError(
      'Reverting to the Instance Snapshot is not allowed for running Instances as this would result in an ' +
        'Instance state change. For running Instances only Snapshots with memory can be reverted. In order to ' +
        'revert to a Snapshot without memory you need to first stop the Instance.',
    );
  }
  if (vm.state === 'Stopped' && snap.type === 'DiskAndMemory') {
    throw new InvalidParameterError(
      'Reverting to the Instance Snapshot is not allowed for stopped Instances when the Snapshot contains memory ' +
        'as this would result in an Instance state change. In order to revert to a Snapshot with memory you need ' +
        'to first start the Instance.',
    );
  }
  if (snap.state !== 'Ready') {
    throw new InvalidParameterError(
      'Instance Snapshot reverting failed because the Instance Snapshot is not in Created state.',
    );
  }
}
