/**
 * Start and stop of VMs, on the same per-VM queue as snapshot work, so a stop never overtakes a
 * snapshot that was asked for before it.
 *
 * A host's failure reaches these jobs already redacted (a summary with an error id, from the
 * gateway the composition root wraps: host-failure-redaction.ts), so the jobs quote it to tenants.
 */
import { randomUUID } from 'node:crypto';
import { toVolumeTO, type VmSpecTO, type VolumeInfo } from '../core/plugin-api.ts';
import { CloudRuntimeError, InvalidParameterError } from '../core/errors.ts';
import type { JobResult, RunningJob } from '../jobs/job-queue.ts';
import { insertVmRows, type StoredVm } from '../store/inventory-store.ts';
import { discardVm, markVolumesCreated, nextInstanceName } from '../store/vm-provisioning-store.ts';
import { loadOwned } from './access.ts';
import type { Caller } from './caller.ts';
import { pickDeployHost, pickHost, type DeployPlacement } from './host-picker.ts';
import { ResourceLimitManager, type ResourceAmounts } from './resource-limits.ts';
import { StoragePoolManager } from './storage-pool-manager.ts';
import type { ManagerDeps } from './manager-deps.ts';
import { CMD, JOB_KIND, type Submitted } from './vm-snapshot-manager.ts';
import type { VmSnapshotWorker } from './vm-snapshot-worker.ts';

export class VmManager {
  constructor(
    private readonly deps: ManagerDeps,
    private readonly worker: VmSnapshotWorker,
  ) {}

  register(): void {
    this.deps.jobs.handle(
      JOB_KIND.start,
      (j) => this.runStart(j),
      (j) => this.recover(j),
    );
    this.deps.jobs.handle(
      JOB_KIND.stop,
      (j) => this.runStop(j),
      (j) => this.recover(j),
    );
    // Creating the disks again is refused by the host if they exist, so recovery checks first.
    this.deps.jobs.handle(
      JOB_KIND.deploy,
      (j) => this.runDeploy(j),
      (j) => this.recoverDeploy(j),
    );
  }

  /**
   * deployVirtualMachine: the VM and its volumes are stored first (Stopped, paths unknown), then a
   * job on the VM's queue creates the disks on the host and starts it if asked.
   */
  async deploy(caller: Caller, req: DeployRequest): Promise<{ vmId: string; jobId: string }> {
    checkDeploySize(req);
    // A host-local pool chosen by storageid places the VM on that pool's host.
    const chosen = req.storageId === undefined ? undefined : await this.deps.inventory.getPool(req.storageId);
    const placeOn = req.hostId ?? chosen?.hostId ?? undefined;
    const host = pickDeployHost(await this.deps.inventory.listHosts(), {
      ...req,
      ...(placeOn !== undefined ? { hostId: placeOn } : {}),
    });
    const pool = await new StoragePoolManager(this.deps).poolForDeploy(host, req.storageId);
    const onFiles = pool.url.startsWith('file:');
    const vmId = randomUUID();
    // The limit check and the rows it counts are one transaction under the owner's lock, so two
    // concurrent deploys cannot both take the last room; the name is chosen inside it too.
    const owner = req.ownerAccountId ?? caller.accountId;
    await new ResourceLimitManager(this.deps).reserve(owner, demandOf(req), async (trx) => {
      const instanceName = await nextInstanceName(trx);
      await insertVmRows(
        trx,
        {
          id: vmId,
          instanceName,
          displayName: req.name ?? instanceName,
          state: 'Stopped',
          hostId: null,
          lastHostId: host.id,
          accountId: owner,
          zoneId: req.zoneId,
          hypervisor: host.hypervisor,
          memoryMb: req.memoryMb,
          cpus: req.cpus,
          created: Date.now(),
        },
        // Paths are the host's to choose: known once CreateVM has answered.
        req.diskSizesMb.map((sizeMb, i) => ({
          id: randomUUID(),
          name: `${i === 0 ? 'ROOT' : 'DATA'}-${instanceName}${i > 0 ? `-${i}` : ''}`,
          type: i === 0 ? 'ROOT' : 'DATADISK',
          poolId: pool.id,
          format: onFiles ? 'QCOW2' : 'RAW',
          path: '',
          size: sizeMb * 1024 * 1024,
          deviceId: i,
          state: 'Allocated',
        })),
      );
    });
    // A deploy that cannot be queued gives its reservation back.
    const jobId = await this.deps.jobs
      .submit({
        kind: JOB_KIND.deploy,
        queueKey: vmId,
        accountId: caller.accountId,
        userId: caller.userId,
        cmd: CMD.deploy,
        instanceType: 'VirtualMachine',
        instanceId: vmId,
        // Disk files go in the pool's folder; other pools travel with each volume (VolumeTO.pool).
        payload: { vmId, start: req.start, ...(onFiles ? { poolPath: pool.path } : {}) },
      })
      .catch(async (err: unknown) => {
        await this.discard(vmId);
        throw err;
      });
    return { vmId, jobId };
  }

  private async runDeploy(job: RunningJob): Promise<JobResult> {
    const vm = await this.load(job);
    const volumes = await this.deps.inventory.volumesOf(vm.id);
    const hostId = vm.lastHostId;
    if (hostId === null) throw new CloudRuntimeError(`Instance ${vm.displayName} has no host`);
    const poolPath = job.payload['poolPath'];
    const answer = await this.deps.agents
      .send(hostId, {
        kind: 'CreateVM',
        vm: specOf(vm, volumes),
        ...(typeof poolPath === 'string' && !poolPath.startsWith('/sim/') ? { poolPath } : {}),
      })
      .catch((err: unknown) => ({
        result: false as const,
        details: err instanceof Error ? err.message : String(err),
      }));
    if (!answer.result) {
      await this.discard(vm.id);
      throw new CloudRuntimeError(`Unable to create Instance ${vm.displayName}: ${answer.details}`);
    }
    await markVolumesCreated(this.deps.db, answer.volumes);
    await this.event(job, vm, 'VM.CREATE', `created ${vm.instanceName}`);
    if (job.payload['start'] === true) return this.runStart(job);
    return { virtualmachine: vm.id };
  }

  /** A deploy cut short: if the host has the VM, finish the bookkeeping; otherwise create it now. */
  private async recoverDeploy(job: RunningJob): Promise<JobResult> {
    const vm = await this.load(job);
    const hostId = vm.lastHostId;
    if (hostId === null) throw new CloudRuntimeError(`Instance ${vm.displayName} has no host`);
    const inv = await this.deps.agents.send(hostId, { kind: 'GetInventory' });
    const onHost = inv.result ? inv.vms.find((v) => v.name === vm.instanceName) : undefined;
    if (onHost === undefined) return this.runDeploy(job);
    await markVolumesCreated(
      this.deps.db,
      onHost.volumes.map((v) => ({ id: v.id, path: v.path })),
    );
    await this.worker.resyncPowerState(vm.id);
    return { virtualmachine: vm.id };
  }

  private async discard(vmId: string): Promise<void> {
    await discardVm(this.deps.db, vmId);
  }

  async start(caller: Caller, vmId: string): Promise<Submitted> {
    const vm = await this.mustGetVm(caller, vmId, 'startvirtualmachine');
    return this.submit(caller, vm, JOB_KIND.start, CMD.start);
  }

  async stop(caller: Caller, vmId: string, forced = false): Promise<Submitted> {
    const vm = await this.mustGetVm(caller, vmId, 'stopvirtualmachine');
    return this.submit(caller, vm, JOB_KIND.stop, CMD.stop, { forced });
  }

  private async submit(
    caller: Caller,
    vm: StoredVm,
    kind: string,
    cmd: string,
    extra: Record<string, unknown> = {},
  ): Promise<Submitted> {
    const jobId = await this.deps.jobs.submit({
      kind,
      queueKey: vm.id,
      accountId: caller.accountId,
      userId: caller.userId,
      cmd,
      instanceType: 'VirtualMachine',
      instanceId: vm.id,
      payload: { vmId: vm.id, ...extra },
    });
    return { jobId };
  }

  /** The caller's VM; another account's is reported as CloudStack reports an id that names nothing. */
  private async mustGetVm(caller: Caller, vmId: string, command: string): Promise<StoredVm> {
    return loadOwned(
      caller,
      () => this.deps.inventory.getVm(vmId),
      () =>
        new InvalidParameterError(
          `Unable to execute API command ${command} due to invalid value. Invalid parameter id value=${vmId} due to ` +
            'incorrect long value format, or entity does not exist or due to incorrect parameter annotation for the ' +
            'field in api cmd class.',
        ),
    );
  }

  private async runStart(job: RunningJob): Promise<JobResult> {
    const vm = await this.load(job);
    if (vm.state === 'Running') return { virtualmachine: vm.id };
    if (vm.state !== 'Stopped')
      throw new InvalidParameterError(`Instance ${vm.displayName} is not in Stopped state`);
    const volumes = await this.deps.inventory.volumesOf(vm.id);
    const host = await pickHost(this.deps.inventory, { ...vm, state: 'Stopped', hostId: null }, volumes);
    await this.transition(vm, 'Starting', host.id);
    const answer = await this.deps.agents
      .send(host.id, { kind: 'StartVM', vm: specOf(vm, volumes) })
      .catch((err: unknown) => ({
        result: false as const,
        details: err instanceof Error ? err.message : String(err),
      }));
    const starting = await this.mustReload(vm.id);
    if (!answer.result) {
      await this.deps.inventory.setVmState(starting, 'Stopped', null);
      throw new CloudRuntimeError(`Unable to start Instance ${vm.displayName}: ${answer.details}`);
    }
    await this.deps.inventory.setVmState(starting, 'Running', host.id);
    await this.event(job, vm, 'VM.START', `started ${vm.instanceName} on ${host.name}`);
    return { virtualmachine: vm.id };
  }

  private async runStop(job: RunningJob): Promise<JobResult> {
    const vm = await this.load(job);
    if (vm.state === 'Stopped') return { virtualmachine: vm.id };
    if (vm.state !== 'Running' || vm.hostId === null) {
      throw new InvalidParameterError(`Instance ${vm.displayName} is not in Running state`);
    }
    const hostId = vm.hostId;
    await this.transition(vm, 'Stopping', hostId);
    const answer = await this.deps.agents
      .send(hostId, { kind: 'StopVM', vmName: vm.instanceName, force: job.payload['forced'] === true })
      .catch((err: unknown) => ({
        result: false as const,
        details: err instanceof Error ? err.message : String(err),
      }));
    const stopping = await this.mustReload(vm.id);
    if (!answer.result) {
      await this.deps.inventory.setVmState(stopping, 'Running', hostId);
      throw new CloudRuntimeError(`Unable to stop Instance ${vm.displayName}: ${answer.details}`);
    }
    await this.deps.inventory.setVmState(stopping, 'Stopped', null);
    await this.event(job, vm, 'VM.STOP', `stopped ${vm.instanceName}`);
    return { virtualmachine: vm.id };
  }

  /** A start or stop cut short by a crash: the host knows whether the VM runs. */
  private async recover(job: RunningJob): Promise<JobResult> {
    const vm = await this.load(job);
    if (vm.state === 'Starting' || vm.state === 'Stopping') {
      const fresh = await this.mustReload(vm.id);
      // Settle the transitional state first, so the resync below reads a stable row.
      await this.deps.inventory.setVmState(
        fresh,
        fresh.state === 'Starting' ? 'Stopped' : 'Running',
        fresh.hostId,
      );
    }
    await this.worker.resyncPowerState(vm.id);
    const after = await this.mustReload(vm.id);
    const wanted = job.kind === JOB_KIND.start ? 'Running' : 'Stopped';
    if (after.state !== wanted) {
      throw new CloudRuntimeError(
        `Instance ${vm.displayName} is ${after.state} after a management server restart`,
      );
    }
    return { virtualmachine: vm.id };
  }

  private async transition(vm: StoredVm, state: 'Starting' | 'Stopping', hostId: string): Promise<void> {
    if (!(await this.deps.inventory.setVmState(vm, state, hostId))) {
      throw new CloudRuntimeError(`Instance ${vm.displayName} was changed concurrently`);
    }
  }

  private async load(job: RunningJob): Promise<StoredVm> {
    return this.mustReload(String(job.payload['vmId']));
  }

  private async mustReload(vmId: string): Promise<StoredVm> {
    const vm = await this.deps.inventory.getVm(vmId);
    if (vm === undefined) throw new CloudRuntimeError(`Instance ${vmId} is not found`);
    return vm;
  }

  private async event(job: RunningJob, vm: StoredVm, type: string, description: string): Promise<void> {
    await this.deps.events.record({
      accountId: vm.accountId,
      userId: job.userId,
      type,
      state: 'Completed',
      description,
      resourceType: 'VirtualMachine',
      resourceId: vm.id,
    });
  }
}

export interface DeployRequest extends DeployPlacement {
  readonly name?: string;
  readonly memoryMb: number;
  readonly cpus: number;
  /** Disk sizes in MiB, ROOT first. */
  readonly diskSizesMb: readonly number[];
  readonly start: boolean;
  /** Admins may deploy for another account. */
  readonly ownerAccountId?: string;
  /** The pool for all the VM's volumes (admin; deployVirtualMachine storageid). */
  readonly storageId?: string;
}

/** Sanity bounds on one VM, whatever the account's limits (admins have none). */
const MAX_MEMORY_MB = 1024 * 1024;
const MAX_CPUS = 256;
const MAX_DISKS = 16;
const MAX_DISK_MB = 64 * 1024 * 1024;

function checkDeploySize(req: DeployRequest): void {
  const within = (n: number, min: number, max: number): boolean =>
    Number.isSafeInteger(n) && n >= min && n <= max;
  if (!within(req.memoryMb, 32, MAX_MEMORY_MB))
    throw new InvalidParameterError(`Invalid memory ${req.memoryMb} MiB`);
  if (!within(req.cpus, 1, MAX_CPUS)) throw new InvalidParameterError(`Invalid cpunumber ${req.cpus}`);
  const sizes = req.diskSizesMb;
  if (!within(sizes.length, 1, MAX_DISKS) || !sizes.every((d) => within(d, 1, MAX_DISK_MB))) {
    throw new InvalidParameterError(
      `disksizes must list 1 to ${MAX_DISKS} sizes in MiB (1 to ${MAX_DISK_MB} each), ROOT first`,
    );
  }
}

/** What a deploy takes from its owner's limits. */
function demandOf(req: DeployRequest): ResourceAmounts {
  return {
    user_vm: 1,
    cpu: req.cpus,
    memory: req.memoryMb,
    volume: req.diskSizesMb.length,
    primary_storage: req.diskSizesMb.reduce((sum, mb) => sum + mb * 1024 * 1024, 0),
  };
}

function specOf(vm: StoredVm, volumes: readonly VolumeInfo[]): VmSpecTO {
  return {
    name: vm.instanceName,
    uuid: vm.id,
    memoryMb: vm.memoryMb,
    cpus: vm.cpus,
    volumes: volumes.map(toVolumeTO),
  };
}
