/**
 * The agent of one simulated host. It behaves like a real hypervisor (the KVM wrappers' rules and
 * messages, reference §7) rather than CloudStack's simulator, which stores nothing about snapshots:
 * it keeps each VM's power state and snapshot tree itself, in the world's rows (the management
 * database on a server, so any server can act for any simulated host).
 *
 * Every command first goes through the fault injector (fail / throw / delay / hang); then it runs, and
 * any change is persisted before the answer is returned.
 */
import { randomUUID } from 'node:crypto';
import { assertNever } from '../../core/assert-never.ts';
import type {
  AgentCommand,
  AgentCommandKind,
  AnswerFor,
  AnswerOf,
  CommandOf,
  HostTimings,
  InventoryPool,
  PowerState,
  VolumeAnswerTO,
  VolumeTO,
  VmSpecTO,
} from '../../core/plugin-api.ts';
import type { HypervisorAgent } from '../../core/plugin-api.ts';
import { fail, refusalAnswer } from '../command-failure.ts';
import { vmNameOf, type FaultInjector } from './fault-injector.ts';
import type { SimSnapshot, SimVm } from './simulator-state.ts';
import type { CommandRecordStart, SimVmView, SimulatorWorld } from './simulator-world.ts';

export interface SimulatorAgentOptions {
  readonly hostId: string;
  readonly zoneId: string;
  readonly world: SimulatorWorld;
  readonly faults: FaultInjector;
  /** Epoch ms; default the world's clock. */
  readonly clock?: () => number;
}

/** Capacity every simulated pool reports (1 TiB). */
const POOL_CAPACITY_BYTES = 1024 ** 4;

type AnyAnswer = AnswerOf<AgentCommandKind>;
/** The commands whose every execution is recorded (they change a VM's snapshot tree or state). */
type SnapshotCommand = CommandOf<'CreateVMSnapshot' | 'RevertToVMSnapshot' | 'DeleteVMSnapshot'>;

export class SimulatorAgent implements HypervisorAgent {
  readonly hostId: string;
  readonly zoneId: string;
  private readonly world: SimulatorWorld;
  private readonly faults: FaultInjector;
  private readonly clock: () => number;

  constructor(options: SimulatorAgentOptions) {
    this.hostId = options.hostId;
    this.zoneId = options.zoneId;
    this.world = options.world;
    this.faults = options.faults;
    this.clock = options.clock ?? options.world.clock;
  }

  async execute<C extends AgentCommand>(command: C): Promise<AnswerFor<C>> {
    if (this.world.isDisposed) throw new Error(`Simulated host ${this.hostId} is shut down`);
    const received = this.clock();
    try {
      const vmName = vmNameOf(command);
      // Any server may act for this host: the rows this command needs are read afresh first.
      if (command.kind !== 'Ping') await this.world.prepare(vmName);
      const action = await this.world.takeFault(command, { zoneId: this.zoneId, hostId: this.hostId });
      if (action) {
        await this.faults.apply(action, command.kind);
        // A delay let time pass: another server may have acted on the VM meanwhile.
        if (command.kind !== 'Ping') await this.world.prepare(vmName);
      }
      return await this.dispatch(command, received);
    } catch (err) {
      // A refusal is a failed answer; anything else (a `throw` fault, a bug) rejects.
      return refusalAnswer(err);
    }
  }

  /** Read-only view of a VM (power, guest agent, freeze counters, snapshot tree). */
  inspect(vmName: string): SimVmView | undefined {
    return this.world.inspect(vmName);
  }

  private async dispatch(command: AgentCommand, received: number): Promise<AnyAnswer> {
    switch (command.kind) {
      case 'CreateVMSnapshot':
        return this.createSnapshot(command, received);
      case 'RevertToVMSnapshot':
        return this.revertSnapshot(command, received);
      case 'DeleteVMSnapshot':
        return this.deleteSnapshot(command, received);
      case 'CheckVMSnapshot':
        return this.checkSnapshot(command);
      case 'StartVM':
        return this.startVm(command);
      case 'StopVM':
        return this.stopVm(command);
      case 'FreezeThaw':
        return this.freezeThaw(command);
      case 'GuestPing':
        return this.guestPing(command);
      case 'GetVmStates':
        return this.vmStates();
      case 'CreateVM':
        return this.createVm(command);
      case 'DestroyVM':
        return this.destroyVm(command);
      case 'GetInventory':
        return this.inventory();
      case 'Ping':
        return { result: true, hypervisor: 'Simulator' };
      case 'StorageFsStats':
      case 'StorageSubvolumeCreate':
      case 'StorageSubvolumeSnapshot':
      case 'StorageSubvolumeList':
      case 'StorageSubvolumeRestore':
      case 'StorageSubvolumeDelete':
        // Host-local storage (btrfs) needs a real host: simulated hosts have no file systems.
        return fail(`${command.kind}: a simulated host has no host-local storage`);
      default:
        return assertNever(command, 'Unsupported agent command');
    }
  }

  // -------------------------------------------------------------------------------------------------
  // VM snapshots
  // -------------------------------------------------------------------------------------------------

  /** The record of a snapshot command, stored with the VM's new state (see SimCommandRecord). */
  private record(cmd: SnapshotCommand, received: number): CommandRecordStart {
    return {
      id: randomUUID(),
      kind: cmd.kind,
      jobId: cmd.requestId ?? null,
      vmName: cmd.vmName,
      snapshotName: cmd.target.name,
      snapshotId: cmd.target.id,
      hostId: this.hostId,
      started: received,
    };
  }

  private async createSnapshot(
    cmd: CommandOf<'CreateVMSnapshot'>,
    received: number,
  ): Promise<AnswerOf<'CreateVMSnapshot'>> {
    const started = this.clock();
    const vm = this.localVm(cmd.vmName);
    if (!vm) fail(`Create VM Snapshot Failed due to  can not find vm: ${cmd.vmName}`);
    const memory = cmd.target.type === 'DiskAndMemory';
    if (memory && vm.powerState !== 'PowerOn') {
      fail(
        `Create VM Snapshot Failed due to  vm is not running: ${cmd.vmName} with domainState = ${domainState(vm.powerState)}`,
      );
    }
    if (vm.snapshots[cmd.target.name]) fail(duplicateSnapshot(cmd.target.name));

    const pauseMs = simulatedPauseMs(cmd, vm.memoryMb);
    // A stopped guest has nothing to flush: quiesce only applies to a running VM.
    if (!cmd.quiesce || vm.powerState !== 'PowerOn') {
      await this.recordSnapshot(cmd, received);
      // As the QEMU agent: 0 when the guest was not frozen.
      return this.createAnswer(cmd, { pauseMs, freezeMs: 0, totalMs: this.clock() - started });
    }

    const frozen = await this.world.guestFreeze(cmd.vmName, cmd.freezeBudgetMs);
    if (!frozen.ok) fail(frozen.details);
    const frozenAt = this.clock();
    let thawed: Awaited<ReturnType<SimulatorWorld['guestThaw']>>;
    try {
      await this.recordSnapshot(cmd, received);
    } finally {
      // Thaw always, also when recording failed: the guest must never stay frozen because of us.
      thawed = await this.world.guestThaw(cmd.vmName);
    }
    const freezeMs = this.clock() - frozenAt;
    const timings = { pauseMs, freezeMs, totalMs: this.clock() - started };
    if (!thawed.ok) {
      // The snapshot exists; the watchdog thaws the guest when the budget runs out.
      return { ...this.createAnswer(cmd, timings), details: `Thaw after snapshot failed: ${thawed.details}` };
    }
    return this.createAnswer(cmd, timings);
  }

  /** Adds the snapshot to the tree and makes it current; re-checked because a freeze may have waited. */
  private async recordSnapshot(cmd: CommandOf<'CreateVMSnapshot'>, received: number): Promise<void> {
    const vm = this.localVm(cmd.vmName);
    if (!vm) fail(`Create VM Snapshot Failed due to  can not find vm: ${cmd.vmName}`);
    if (vm.snapshots[cmd.target.name]) fail(duplicateSnapshot(cmd.target.name));
    // The tree must stay whole: a parent the simulator never saw (the database disagrees) becomes a root.
    const parentName = cmd.target.parent?.name ?? null;
    const snapshot: SimSnapshot = {
      id: cmd.target.id,
      name: cmd.target.name,
      type: cmd.target.type,
      description: cmd.target.description,
      parentName: parentName !== null && vm.snapshots[parentName] ? parentName : null,
      createdAt: this.clock(),
      quiesced: cmd.quiesce && vm.powerState === 'PowerOn',
      volumes: cmd.volumes.map(volumeAnswer),
    };
    vm.snapshots[snapshot.name] = snapshot;
    vm.currentSnapshot = snapshot.name;
    await this.world.persist(vm.name, this.record(cmd, received));
  }

  private createAnswer(
    cmd: CommandOf<'CreateVMSnapshot'>,
    timings: HostTimings,
  ): AnswerOf<'CreateVMSnapshot'> {
    // Internal-snapshot behaviour (libvirt with memory, and the CloudStack simulator): paths unchanged.
    const volumes = cmd.volumes.map(volumeAnswer);
    if (cmd.target.type === 'DiskAndMemory') {
      return { result: true, volumes, timings, memoryMode: cmd.memoryMode ?? 'internal' };
    }
    return { result: true, volumes, timings };
  }

  private async revertSnapshot(
    cmd: CommandOf<'RevertToVMSnapshot'>,
    received: number,
  ): Promise<AnswerOf<'RevertToVMSnapshot'>> {
    const started = this.clock();
    const vm = this.localVm(cmd.vmName);
    if (!vm) fail(`No VM by name ${cmd.vmName}`);
    const snapshot = vm.snapshots[cmd.target.name];
    if (!snapshot) fail(`Cannot find vmSnapshot with name: ${cmd.target.name}`);
    this.world.resetFreeze(vm);
    // As the KVM wrapper: a disk-only snapshot has no running state to return to, so the domain is destroyed.
    vm.powerState = snapshot.type === 'DiskAndMemory' ? 'PowerOn' : 'PowerOff';
    if (vm.powerState === 'PowerOn') vm.hostId = this.hostId;
    vm.currentSnapshot = snapshot.name;
    vm.lastRevertRequest = cmd.requestId ?? null;
    await this.world.persist(vm.name, this.record(cmd, received));
    return {
      result: true,
      volumes: cmd.volumes.map(volumeAnswer),
      powerState: vm.powerState,
      timings: { totalMs: this.clock() - started },
    };
  }

  private async deleteSnapshot(
    cmd: CommandOf<'DeleteVMSnapshot'>,
    received: number,
  ): Promise<AnswerOf<'DeleteVMSnapshot'>> {
    const vm = this.localVm(cmd.vmName);
    if (!vm) fail(`No VM by name ${cmd.vmName}`);
    const snapshot = vm.snapshots[cmd.target.name];
    // As the KVM wrapper: a snapshot that is already gone counts as deleted (and it ran: recorded).
    if (!snapshot) {
      await this.world.recordCommand(this.record(cmd, received));
      return { result: true, volumes: cmd.volumes.map(volumeAnswer) };
    }
    for (const child of Object.values(vm.snapshots)) {
      if (child.parentName === snapshot.name) child.parentName = snapshot.parentName;
    }
    if (vm.currentSnapshot === snapshot.name) vm.currentSnapshot = snapshot.parentName;
    delete vm.snapshots[snapshot.name];
    await this.world.persist(vm.name, this.record(cmd, received));
    return { result: true, volumes: cmd.volumes.map(volumeAnswer) };
  }

  private async checkSnapshot(cmd: CommandOf<'CheckVMSnapshot'>): Promise<AnswerOf<'CheckVMSnapshot'>> {
    // The tree is on shared storage: any host of the zone can tell, wherever the VM runs.
    const vm = this.zoneVm(cmd.vmName);
    const exists = vm?.snapshots[cmd.target.name] !== undefined;
    if (vm === undefined) return { result: true, exists };
    return {
      result: true,
      exists,
      current: exists && vm.currentSnapshot === cmd.target.name,
      ...(cmd.revertRequestId !== undefined
        ? { revertApplied: vm.lastRevertRequest === cmd.revertRequestId }
        : {}),
      powerState: vm.powerState,
      volumes: vm.volumes.map((v) => ({ id: v.id, path: v.path, size: v.size })),
    };
  }

  // -------------------------------------------------------------------------------------------------
  // VMs
  // -------------------------------------------------------------------------------------------------

  private async startVm(cmd: CommandOf<'StartVM'>): Promise<AnswerOf<'StartVM'>> {
    const anyZone = this.world.vmRecord(cmd.vm.name);
    if (anyZone && anyZone.zoneId !== this.zoneId) {
      fail(`VM ${cmd.vm.name} already exists in zone ${anyZone.zoneId}`);
    }
    const known = this.zoneVm(cmd.vm.name);
    if (known?.powerState === 'PowerOn' && known.hostId !== this.hostId) {
      fail(`VM ${cmd.vm.name} is already running on host ${known.hostId}`);
    }
    const vm = known ?? this.defineVm(cmd.vm, cmd.vm.volumes);
    // The database's definition wins for the hardware; the snapshot tree stays the simulator's own.
    vm.memoryMb = cmd.vm.memoryMb;
    vm.cpus = cmd.vm.cpus;
    vm.volumes = cmd.vm.volumes.map((v) => ({ ...v }));
    vm.powerState = 'PowerOn';
    vm.hostId = this.hostId;
    this.world.putVm(vm);
    await this.world.persist(vm.name);
    return { result: true, powerState: 'PowerOn' };
  }

  private async stopVm(cmd: CommandOf<'StopVM'>): Promise<AnswerOf<'StopVM'>> {
    const vm = this.localVm(cmd.vmName);
    // As KVM: stopping a domain this host does not have succeeds.
    if (!vm) return { result: true, powerState: 'PowerOff' };
    this.world.resetFreeze(vm);
    vm.powerState = 'PowerOff';
    await this.world.persist(vm.name);
    return { result: true, powerState: 'PowerOff' };
  }

  private async createVm(cmd: CommandOf<'CreateVM'>): Promise<AnswerOf<'CreateVM'>> {
    if (this.world.vmRecord(cmd.vm.name)) fail(`VM ${cmd.vm.name} already exists`);
    const volumes = cmd.vm.volumes.map((v) => ({ ...v, path: volumePath(v, cmd.poolPath) }));
    const vm = this.defineVm(cmd.vm, volumes);
    this.world.putVm(vm);
    await this.world.persist(vm.name);
    return { result: true, volumes: volumes.map(volumeAnswer) };
  }

  private async destroyVm(cmd: CommandOf<'DestroyVM'>): Promise<AnswerOf<'DestroyVM'>> {
    const vm = this.localVm(cmd.vmName);
    if (vm) {
      this.world.resetFreeze(vm);
      this.world.removeVm(vm.name);
      await this.world.persist(vm.name);
    }
    return destroyed();
  }

  private async vmStates(): Promise<AnswerOf<'GetVmStates'>> {
    const vms = this.hostVms().map((vm) => ({ name: vm.name, powerState: vm.powerState }));
    return { result: true, vms };
  }

  private async inventory(): Promise<AnswerOf<'GetInventory'>> {
    const vms = this.hostVms().map((vm) => ({
      name: vm.name,
      uuid: vm.uuid,
      memoryMb: vm.memoryMb,
      cpus: vm.cpus,
      powerState: vm.powerState,
      volumes: vm.volumes.map((v) => ({ ...v })),
    }));
    return { result: true, vms, pools: this.pools() };
  }

  /** Every pool the zone's VMs use, as shared storage reachable from this host. */
  private pools(): InventoryPool[] {
    const used = new Map<string, number>();
    for (const vm of this.world.vmRecords()) {
      if (vm.zoneId !== this.zoneId) continue;
      for (const v of vm.volumes) used.set(v.poolId, (used.get(v.poolId) ?? 0) + v.size);
    }
    return [...used].map(([pool, usedBytes]) => ({
      name: pool,
      path: `/sim/${pool}`,
      capacityBytes: POOL_CAPACITY_BYTES,
      usedBytes,
    }));
  }

  // -------------------------------------------------------------------------------------------------
  // Guest agent
  // -------------------------------------------------------------------------------------------------

  private async freezeThaw(cmd: CommandOf<'FreezeThaw'>): Promise<AnswerOf<'FreezeThaw'>> {
    if (!this.localVm(cmd.vmName)) fail(`No VM by name ${cmd.vmName}`);
    const outcome =
      cmd.option === 'freeze'
        ? await this.world.guestFreeze(cmd.vmName, cmd.budgetMs)
        : cmd.option === 'thaw'
          ? await this.world.guestThaw(cmd.vmName)
          : await this.world.guestStatus(cmd.vmName);
    if (!outcome.ok) fail(outcome.details);
    return { result: true, status: outcome.status, frozenFilesystems: outcome.filesystems };
  }

  private async guestPing(cmd: CommandOf<'GuestPing'>): Promise<AnswerOf<'GuestPing'>> {
    if (!this.localVm(cmd.vmName)) fail(`No VM by name ${cmd.vmName}`);
    const outcome = await this.world.guestPing(cmd.vmName);
    if (!outcome.ok) fail(outcome.details);
    return { result: true, available: outcome.available };
  }

  // -------------------------------------------------------------------------------------------------
  // Lookups
  // -------------------------------------------------------------------------------------------------

  private zoneVm(vmName: string): SimVm | undefined {
    const vm = this.world.vmRecord(vmName);
    return vm?.zoneId === this.zoneId ? vm : undefined;
  }

  /** A VM this host can act on: stopped anywhere in the zone (shared storage), or running here. */
  private localVm(vmName: string): SimVm | undefined {
    const vm = this.zoneVm(vmName);
    if (!vm) return undefined;
    return vm.powerState === 'PowerOff' || vm.hostId === this.hostId ? vm : undefined;
  }

  private hostVms(): SimVm[] {
    return this.world.vmRecords().filter((vm) => vm.zoneId === this.zoneId && vm.hostId === this.hostId);
  }

  private defineVm(spec: VmSpecTO, volumes: readonly VolumeTO[]): SimVm {
    return {
      name: spec.name,
      uuid: spec.uuid,
      zoneId: this.zoneId,
      hostId: this.hostId,
      memoryMb: spec.memoryMb,
      cpus: spec.cpus,
      powerState: 'PowerOff',
      volumes: volumes.map((v) => ({ ...v })),
      frozen: false,
      frozenAt: null,
      freezeDeadline: null,
      snapshots: {},
      currentSnapshot: null,
      counters: { freezes: 0, thaws: 0, watchdogThaws: 0 },
      lastFreezeWindow: null,
    };
  }
}

function destroyed(): AnswerOf<'DestroyVM'> {
  return { result: true };
}

function volumeAnswer(volume: { id: string; path: string; size: number }): VolumeAnswerTO {
  return { id: volume.id, path: volume.path, size: volume.size };
}

function volumePath(volume: VolumeTO, poolPath: string | undefined): string {
  const ext = volume.format === 'RAW' ? 'raw' : 'qcow2';
  return `${poolPath ?? `/sim/${volume.poolId}`}/${volume.id}.${ext}`;
}

/** Simulated RAM bandwidth of an internal memory snapshot, which pauses the VM for the whole save. */
const SIMULATED_RAM_SAVE_MB_PER_MS = 4;
/** Simulated pause of a live memory snapshot: the final copy of dirty pages only. */
const SIMULATED_LIVE_PAUSE_MS = 5;

/**
 * How long the simulated VM is paused by a take, reported (never slept) so `pausems` means the same
 * as on QEMU hosts: 0 for a disk-only snapshot; for memory, a deterministic figure of the mode and the
 * VM's memory (internal saves all RAM while paused, live only the last dirty pages).
 */
export function simulatedPauseMs(cmd: CommandOf<'CreateVMSnapshot'>, memoryMb: number): number {
  if (cmd.target.type !== 'DiskAndMemory') return 0;
  if (cmd.memoryMode === 'live') return SIMULATED_LIVE_PAUSE_MS;
  return Math.round((memoryMb / SIMULATED_RAM_SAVE_MB_PER_MS) * 100) / 100;
}

/** libvirt's name of the domain state, as the KVM wrapper prints it. */
function domainState(power: PowerState): string {
  return power === 'PowerOn' ? 'VIR_DOMAIN_RUNNING' : 'VIR_DOMAIN_SHUTOFF';
}

/** libvirt's error for a snapshot name already taken, wrapped as the KVM agent wraps libvirt errors. */
function duplicateSnapshot(name: string): string {
  return `Create VM snapshot failed due to operation failed: domain snapshot '${name}' already exists`;
}
