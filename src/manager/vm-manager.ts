/**
 * Start and stop of VMs, on the same per-VM queue as snapshot work, so a stop never overtakes a
 * snapshot that was asked for before it.
 */
import { CloudRuntimeError, InvalidParameterError } from '../core/errors.ts';
import type { JobResult, RunningJob } from '../jobs/job-queue.ts';
import type { StoredVm } from '../store/inventory-store.ts';
import { checkAccess, type Caller } from './caller.ts';
import { pickHost } from './host-picker.ts';
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

  private async mustGetVm(caller: Caller, vmId: string, command: string): Promise<StoredVm> {
    const vm = await this.deps.inventory.getVm(vmId);
    if (vm === undefined) {
      throw new InvalidParameterError(
        `Unable to execute API command ${command} due to invalid value. Invalid parameter id value=${vmId} due to ` +
          'incorrect long value format, or entity does not exist or due to incorrect parameter annotation for the ' +
          'field in api cmd class.',
      );
    }
    checkAccess(caller, vm.accountId, vm.id);
    return vm;
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
      .send(host.id, {
        kind: 'StartVM',
        vm: {
          name: vm.instanceName,
          uuid: vm.id,
          memoryMb: vm.memoryMb,
          cpus: vm.cpus,
          volumes: volumes.map((v) => ({
            id: v.id,
            type: v.type,
            path: v.path,
            poolId: v.poolId,
            format: v.format,
            size: v.size,
            deviceId: v.deviceId,
          })),
        },
      })
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
