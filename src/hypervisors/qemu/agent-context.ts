/**
 * # What the QEMU host agent's command handlers share
 *
 * The durable state (`stateDir/qemu-agent-state.json`, atomic writes), the QEMU processes and guest
 * agent connections of the running VMs, the freeze watchdog, and the few operations every handler
 * needs: find a VM, start its QEMU (`launch`), stop it (`halt`), and persist the step a snapshot
 * operation reached (`step`).
 *
 * **Accelerator.** KVM is probed once (`kvmWorks`). Here `/dev/kvm` works for OS-less VMs but fails
 * for Linux guests (nested KVM there fails on cmpxchg16b, xrstor and int3 emulation), so VMs that boot a kernel always use TCG; OS-less VMs use KVM
 * when the probe says it works (`accel: 'auto'`).
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type {
  AgentCommand,
  AnswerOf,
  Logger,
  MemorySnapshotMode,
  VolumeAnswerTO,
} from '../../core/plugin-api.ts';
import { fail } from './agent-failure.ts';
import { AgentStateStore, type DiskRecord, type VmRecord } from './agent-state.ts';
import { FreezeWatchdog } from '../freeze-watchdog.ts';
import { GuestAgentClient } from './guest-agent-client.ts';
import type { GuestSyncOptions, PreFreezeFlush } from './guest-presync.ts';
import { secretFileOf, writeSecretFile } from './rbd-disk.ts';
import { watchdogThaw } from './guest-freeze.ts';
import { startVmProcess, type Accel, type BootImages, type RunningVm } from './vm-process.ts';

export interface QemuHostAgentOptions {
  readonly stateDir: string;
  /** Default file pool for new disks, overlays and RAM state files. */
  readonly poolDir: string;
  /** `auto`: KVM for OS-less VMs when it works, TCG for VMs that boot a kernel. */
  readonly accel?: 'auto' | Accel;
  /** VMs whose name matches `vmNamePattern` (all when absent) boot this kernel + initrd. */
  readonly guestBoot?: BootImages & { readonly vmNamePattern?: string };
  readonly defaultMemoryMode?: MemorySnapshotMode;
  /** Fault injection for tests: the RAM save's writer stalls this long before it reads. */
  readonly saveStallMs?: number;
  /** Max bandwidth of the RAM save, bytes/s (default 8 GiB/s). */
  readonly saveBandwidthBytes?: number;
  /** Guest RAM from this file (benchmark: incompressible RAM without an OS). Applied to every VM. */
  readonly ramFileFor?: (vmName: string) => string | undefined;
  readonly log?: Logger;
  /** How long a guest agent may take to answer its first request (a sync) before it counts as absent. */
  readonly guestSyncTimeoutMs?: number;
  /**
   * What flushes the guest before a quiesced snapshot's freeze (default `sync`: guest-exec `sync`,
   * which freezes nothing; see guest-presync.ts). `freeze-cycle` is the old freeze/thaw flush, kept to
   * measure against; `none` lets the freeze do the flush.
   */
  readonly preFreezeFlush?: PreFreezeFlush;
  /** The pre-freeze sync's program, deadline and poll interval (tests: a sync that never ends). */
  readonly guestSync?: GuestSyncOptions;
  /** Called after each persisted snapshot step: tests and fault injection (pause, observe, crash). */
  readonly afterStep?: (vmName: string, step: string) => Promise<void> | void;
}

/** What a command handler resolves to. */
export type Answer<K extends AgentCommand['kind']> = Promise<AnswerOf<K>>;

const silentLog: Logger = { info() {}, warn() {}, error() {}, debug() {} };

export class AgentContext {
  readonly store: AgentStateStore;
  readonly running = new Map<string, RunningVm>();
  readonly guests = new Map<string, GuestAgentClient>();
  readonly watchdog: FreezeWatchdog;
  readonly log: Logger;
  readonly runDir: string;
  kvmWorks = false;

  constructor(readonly options: QemuHostAgentOptions) {
    this.store = new AgentStateStore(options.stateDir);
    this.log = options.log ?? silentLog;
    this.runDir = path.join(options.stateDir, 'run');
    this.watchdog = new FreezeWatchdog(Date.now, (name) => {
      this.log.warn({ vm: name }, 'freeze budget exceeded: the agent thaws the guest');
      void watchdogThaw(this, name);
    });
  }

  /** See {@link QemuHostAgentOptions.guestSyncTimeoutMs}. */
  get guestSyncTimeoutMs(): number {
    // 30 s: a guest on a busy host (TCG, or a CPU-starved vCPU) can take well over 10 s to answer
    // its first request; an absent agent still fails after one wait, with the wait in the message.
    return this.options.guestSyncTimeoutMs ?? 30_000;
  }

  requireVm(name: string): VmRecord {
    return this.store.vm(name) ?? fail(`VM ${name} is not defined on this host`);
  }

  /** Tracks a QEMU process (started or re-attached) and connects to its guest agent. */
  adopt(name: string, vm: RunningVm): void {
    this.running.set(name, vm);
    this.guests.set(
      name,
      new GuestAgentClient(vm.paths.qga, { timeoutMs: 5000, syncTimeoutMs: this.guestSyncTimeoutMs }),
    );
    vm.qmp.onClose(() => {
      // QEMU exited (guest poweroff, crash, kill): forget it unless a newer process replaced it.
      if (this.running.get(name) === vm) {
        this.running.delete(name);
        this.guests.get(name)?.close();
        this.guests.delete(name);
      }
    });
  }

  /** Starts the VM's QEMU on its active disks; `incoming` waits for a RAM state (memory revert). */
  async launch(vm: VmRecord, incoming: boolean): Promise<RunningVm> {
    const accel = this.accelFor(vm.name);
    const boot = this.bootFor(vm.name);
    const ramFile = this.options.ramFileFor?.(vm.name);
    const disks = vm.disks.map((d) => ({
      deviceId: d.deviceId,
      file: d.active,
      ...(d.rbd ? { rbd: { ...d.rbd, secretFile: secretFileOf(this.runDir, vm.name, d.deviceId) } } : {}),
    }));
    const secrets = disks.flatMap((d) => (d.rbd ? [d.rbd] : []));
    let proc: RunningVm;
    try {
      await Promise.all(secrets.map((rbd) => writeSecretFile(rbd.secretFile, rbd)));
      proc = await startVmProcess({
        name: vm.name,
        uuid: vm.uuid,
        memoryMb: vm.memoryMb,
        cpus: vm.cpus,
        disks,
        runDir: this.runDir,
        accel,
        ...(boot ? { boot } : {}),
        ...(ramFile ? { ramFile } : {}),
        incoming,
      });
    } finally {
      // QEMU read the keys when it created the secret objects: they need not stay on disk.
      await Promise.all(secrets.map((rbd) => rm(rbd.secretFile, { force: true })));
    }
    if (vm.accel !== accel) {
      vm.accel = accel;
      await this.store.save();
    }
    this.log.info({ vm: vm.name, accel, pid: proc.pid }, `started VM ${vm.name} on ${accel.toUpperCase()}`);
    this.adopt(vm.name, proc);
    return proc;
  }

  /** Stops the VM's QEMU (if any); a stopped guest is not frozen any more. */
  async halt(name: string, force = true): Promise<void> {
    this.watchdog.disarm(name);
    const record = this.store.vm(name);
    if (record) record.freeze = null; // persisted with the next save: a stopped guest is not frozen
    const vm = this.running.get(name);
    if (!vm) return;
    this.running.delete(name);
    this.guests.get(name)?.close();
    this.guests.delete(name);
    await vm.stop(force);
  }

  /** Persists the step reached, then lets tests / fault injection act. */
  async step(vm: VmRecord, step: string): Promise<void> {
    if (vm.pending) vm.pending.step = step;
    await this.store.save();
    await this.options.afterStep?.(vm.name, step);
  }

  /** A step inside the freeze window or the pause: not persisted (an fsync would lengthen it). */
  async transientStep(vm: VmRecord, step: string): Promise<void> {
    await this.options.afterStep?.(vm.name, step);
  }

  private accelFor(vmName: string): Accel {
    return this.bootFor(vmName) || !this.kvmWorks ? 'tcg' : 'kvm';
  }

  private bootFor(vmName: string): BootImages | undefined {
    const boot = this.options.guestBoot;
    if (!boot) return undefined;
    if (boot.vmNamePattern && !new RegExp(boot.vmNamePattern).test(vmName)) return undefined;
    return boot;
  }
}

export function volumeAnswer(disk: DiskRecord): VolumeAnswerTO {
  return { id: disk.volumeId, path: disk.active, size: disk.size };
}
