/**
 * # The QEMU/KVM host agent
 *
 * `QemuHostAgent` answers the same {@link AgentCommand} contract as the simulator, for real QEMU VMs on
 * one host, driven over QMP (`qmp-client.ts`) and the guest agent (`guest-agent-client.ts`). No libvirt.
 * This file is the entry point: start-up, shutdown and command dispatch (one operation at a time per
 * VM). Each command is handled in its own module:
 * - `vm-lifecycle.ts`: create/start/stop/destroy, VM states and inventory;
 * - `guest-freeze.ts` (+ `../freeze-watchdog.ts`): guest ping, freeze/thaw with the watchdog;
 * - `snapshot-create.ts`: taking a snapshot, dispatching to `disk-snapshot.ts` (external overlays,
 *   live transaction or offline) and `memory-snapshot.ts` (live RAM save or internal `snapshot-save`);
 *   failures roll back in `snapshot-rollback.ts`;
 * - `snapshot-revert.ts`, `snapshot-delete.ts` (merging), `snapshot-check.ts` (recovery queries);
 * - `startup-recovery.ts`: what `init()` finishes for a process that died (freezes, interrupted ops).
 * Shared state and helpers (state store, running QEMUs, launch/halt, persisted steps) are in
 * `agent-context.ts`.
 *
 * **Layout.** `stateDir/qemu-agent-state.json` (durable state, atomic writes), `stateDir/run/` (one QMP
 * socket, guest-agent socket, pidfile and serial log per VM), `poolDir/` (qcow2 disks, overlays,
 * RAM state files). QEMU runs daemonized, so VMs survive an agent restart; `init()` re-attaches.
 *
 * **Accelerator.** KVM is probed once at start (see `agent-context.ts`); `Ping` reports it and the
 * log names it at start.
 *
 * **Measured here** (2 vCPU EPYC Firecracker VM, loaded host, QEMU 7.2): see `npm run bench:qemu`.
 */
import path from 'node:path';
import type { AgentCommand, AnswerFor, AnswerOf, HypervisorAgent } from '../../core/plugin-api.ts';
import { AgentContext, type QemuHostAgentOptions } from './agent-context.ts';
import { CommandFailure } from './agent-failure.ts';
import type { Checked } from './agent-protocol/refusal.ts';
import { admitCommand } from './command-admission.ts';
import { PathConfinement } from './path-confinement.ts';
import { ensurePrivateDir } from './private-files.ts';
import type { SnapshotRecord, VmRecord } from './agent-state.ts';
import type { GuestAgentClient } from './guest-agent-client.ts';
import { freezeThaw, guestPing } from './guest-freeze.ts';
import {
  storageFsStats,
  storageSubvolumeCreate,
  storageSubvolumeDelete,
  storageSubvolumeList,
  storageSubvolumeRestore,
  storageSubvolumeSnapshot,
} from './btrfs-storage.ts';
import { checkSnapshot } from './snapshot-check.ts';
import { createSnapshot } from './snapshot-create.ts';
import { deleteSnapshot } from './snapshot-delete.ts';
import { revertSnapshot } from './snapshot-revert.ts';
import { reconcile, recoverFreezes } from './startup-recovery.ts';
import { attachVmProcess, probeKvm, type RunningVm } from './vm-process.ts';
import { createVm, destroyVm, getInventory, getVmStates, startVm, stopVm } from './vm-lifecycle.ts';

export type { QemuHostAgentOptions } from './agent-context.ts';

export class QemuHostAgent implements HypervisorAgent {
  private readonly ctx: AgentContext;
  private readonly locks = new Map<string, Promise<unknown>>();
  /** Set by `init()`: until then every command is refused. */
  private confinement: PathConfinement | null = null;

  private readonly options: QemuHostAgentOptions;

  constructor(options: QemuHostAgentOptions) {
    // Absolute from here on: every path the agent reports (disks, pools) is absolute.
    this.options = {
      ...options,
      stateDir: path.resolve(options.stateDir),
      poolDir: path.resolve(options.poolDir),
    };
    this.ctx = new AgentContext(this.options);
  }

  /** Loads state, probes KVM, re-attaches to running QEMUs and reconciles interrupted operations. */
  async init(): Promise<void> {
    const ctx = this.ctx;
    // Private (0700, tightened if they exist): they hold every VM's disks, sockets and console log.
    await ensurePrivateDir(this.options.stateDir);
    await ensurePrivateDir(ctx.runDir);
    await ensurePrivateDir(this.options.poolDir);
    this.confinement = await PathConfinement.of(this.options.poolDir, this.options.stateDir);
    await ctx.store.load();
    const accel = this.options.accel ?? 'auto';
    ctx.kvmWorks = accel === 'kvm' || (accel === 'auto' && (await probeKvm()));
    ctx.log.info(
      { accel: ctx.kvmWorks ? 'kvm' : 'tcg' },
      `QEMU agent: OS-less VMs on ${ctx.kvmWorks ? 'KVM' : 'TCG'}, VMs with a kernel on TCG`,
    );
    for (const vm of ctx.store.data.vms) {
      const attached = await attachVmProcess(ctx.runDir, vm.name);
      if (attached) ctx.adopt(vm.name, attached);
    }
    // Thaw first: a guest frozen by the dead process must not wait for the reconciliation below.
    await recoverFreezes(ctx);
    for (const vm of ctx.store.data.vms) if (vm.pending) await reconcile(ctx, vm);
  }

  /** Stops watchdogs and closes sockets; QEMU processes keep running. */
  async close(): Promise<void> {
    this.ctx.watchdog.disarmAll();
    for (const vm of this.ctx.running.values()) vm.qmp.close();
    for (const guest of this.ctx.guests.values()) guest.close();
    this.ctx.running.clear();
    this.ctx.guests.clear();
  }

  /** Stops every VM (tests, host shutdown). */
  async stopAll(): Promise<void> {
    for (const vm of [...this.ctx.running.values()]) await vm.stop(true);
    await this.close();
  }

  /** The QMP connection of a running VM (tests and benchmarks use it for qemu-io and events). */
  runningVm(name: string): RunningVm | undefined {
    return this.ctx.running.get(name);
  }

  /** The guest agent client of a running VM (tests write guest files through it). */
  guestAgent(name: string): GuestAgentClient | undefined {
    return this.ctx.guests.get(name);
  }

  snapshotRecord(vmName: string, snapshotName: string): SnapshotRecord | undefined {
    return this.ctx.store.vm(vmName)?.snapshots.find((s) => s.name === snapshotName);
  }

  vmRecord(vmName: string): VmRecord | undefined {
    return this.ctx.store.vm(vmName);
  }

  /** Every VM of this host's state (tests compare the pool's files with what they refer to). */
  vmRecords(): readonly VmRecord[] {
    return this.ctx.store.data.vms;
  }

  /**
   * Checks a command as received (schema, then where its paths lead) without running it; the
   * refusal names the field. Nothing is touched either way.
   */
  async admit(body: unknown): Promise<Checked<AgentCommand>> {
    if (!this.confinement) return { ok: false, field: '(agent)', error: 'the agent is not initialised' };
    return admitCommand(this.confinement, body);
  }

  /** Runs a command once {@link admit} lets it through; a refusal is a failed answer naming the field. */
  async execute<C extends AgentCommand>(command: C): Promise<AnswerFor<C>> {
    const admitted = await this.admit(command);
    if (!admitted.ok) return { result: false, details: admitted.error };
    try {
      return await this.dispatch(admitted.value);
    } catch (error) {
      const details = error instanceof Error ? error.message : String(error);
      if (!(error instanceof CommandFailure))
        this.ctx.log.warn({ command: command.kind, err: error }, 'QEMU agent command failed');
      return { result: false, details };
    }
  }

  private async dispatch(command: AgentCommand): Promise<AnswerOf<AgentCommand['kind']>> {
    const ctx = this.ctx;
    switch (command.kind) {
      case 'Ping':
        return { result: true, hypervisor: 'KVM', accel: ctx.kvmWorks ? 'kvm' : 'tcg' };
      case 'GetVmStates':
        return getVmStates(ctx);
      case 'GetInventory':
        return getInventory(ctx);
      case 'GuestPing':
        return guestPing(ctx, command.vmName);
      case 'FreezeThaw':
        return freezeThaw(ctx, command);
      case 'CreateVM':
        return this.locked(command.vm.name, () => createVm(ctx, command));
      case 'StartVM':
        return this.locked(command.vm.name, () => startVm(ctx, command.vm));
      case 'StopVM':
        return this.locked(command.vmName, () => stopVm(ctx, command.vmName, command.force));
      case 'DestroyVM':
        return this.locked(command.vmName, () => destroyVm(ctx, command.vmName));
      case 'CreateVMSnapshot':
        return this.locked(command.vmName, () => createSnapshot(ctx, command));
      case 'RevertToVMSnapshot':
        return this.locked(command.vmName, () => revertSnapshot(ctx, command));
      case 'DeleteVMSnapshot':
        return this.locked(command.vmName, () => deleteSnapshot(ctx, command));
      case 'CheckVMSnapshot':
        // Behind the VM's lock: a recovering server asking about a snapshot still being taken here
        // (its first request died with it) gets the outcome, not a premature "does not exist".
        return this.locked(command.vmName, () => checkSnapshot(ctx, command));
      case 'StorageFsStats':
        return storageFsStats(command);
      case 'StorageSubvolumeCreate':
        return this.locked(command.subvolume, () => storageSubvolumeCreate(command));
      case 'StorageSubvolumeSnapshot':
        // Under the VM's lock (the subvolume is named after it): its QMP stop/cont is ours alone.
        return this.locked(command.subvolume, () => storageSubvolumeSnapshot(ctx, command));
      case 'StorageSubvolumeList':
        return this.locked(command.subvolume, () => storageSubvolumeList(ctx, command));
      case 'StorageSubvolumeRestore':
        return this.locked(command.subvolume, () => storageSubvolumeRestore(ctx, command));
      case 'StorageSubvolumeDelete':
        return this.locked(command.subvolume, () => storageSubvolumeDelete(ctx, command));
      default: {
        const never: never = command;
        return { result: false, details: `unknown command ${(never as { kind: string }).kind}` };
      }
    }
  }

  /** One operation at a time per VM. */
  private locked<T>(vmName: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(vmName) ?? Promise.resolve();
    const next = previous.then(fn, fn);
    this.locks.set(
      vmName,
      next.catch(() => undefined),
    );
    return next;
  }
}

/** Creates and initialises an agent. */
export async function createQemuHostAgent(options: QemuHostAgentOptions): Promise<QemuHostAgent> {
  const agent = new QemuHostAgent(options);
  await agent.init();
  return agent;
}
