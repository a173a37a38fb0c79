/**
 * The shared state of every simulated host in a zone (or several zones): one durable file holding the
 * VMs, their guest agents and snapshot trees, and the fault rules; plus the live timers (freeze
 * watchdogs, slow or hung guest agent calls) that `dispose()` clears.
 *
 * VMs are keyed by instance name. Their disks are on shared storage, so a stopped VM can be handled from
 * any host of its zone; a running VM only from the host it runs on.
 *
 * One process must own a given state file at a time: the world keeps the state in memory and rewrites
 * the whole file on each change.
 */
import { DEFAULT_FREEZE_BUDGET_MS } from '../../core/freeze-budget.ts';
import type { AgentCommandKind, PowerState, VolumeTO } from '../../core/plugin-api.ts';
import { FaultInjector, commandKindFromName, parseSimulatorValue } from './fault-injector.ts';
import type { FaultRule } from './fault-injector.ts';
import { FreezeWatchdog } from '../freeze-watchdog.ts';
import {
  DEFAULT_GUEST_AGENT_TIMEOUT_MS,
  GUEST_AGENT_NOT_CONNECTED,
  callGuestAgent,
  formatGuestAgentMode,
  parseGuestAgentMode,
} from './guest-agent.ts';
import type { GuestAgentCommand, GuestAgentModeText, GuestCallResult } from './guest-agent.ts';
import { ReleasableWaits } from './releasable-waits.ts';
import { SimulatorAgent } from './simulator-agent.ts';
import { JsonFileStateStore, MemoryStateStore, SqliteStateStore, emptyState } from './simulator-state.ts';
import type {
  FreezeWindow,
  GuestAgentMode,
  SimSnapshot,
  SimVm,
  SimulatorStateData,
  SimulatorStateStore,
} from './simulator-state.ts';

export interface SimulatorWorldOptions {
  /**
   * The state file: `*.db` keeps one SQLite row per VM (what the server uses), any other name one JSON
   * file. Absent (and no `store`): in memory only.
   */
  readonly path?: string;
  /** A custom store; wins over `path`. */
  readonly store?: SimulatorStateStore;
  /** fsync each write (default true); tests on tmpfs may turn it off. */
  readonly fsync?: boolean;
  /** Host-side timeout of every guest agent call (default 10 s, as the KVM agent). */
  readonly guestAgentTimeoutMs?: number;
  /** Watchdog budget of a freeze that names none (default 10 s). */
  readonly defaultFreezeBudgetMs?: number;
  /** Epoch ms; default Date.now. */
  readonly clock?: () => number;
}

/** A `configureSimulator` call: CloudStack's name/value/count with a zone, host or VM scope. */
export interface ConfigureSimulatorInput {
  /** Command class name (`CreateVMSnapshotCommand`), one of our kinds, or `*`; ignored for guestagent values. */
  readonly name?: string;
  readonly value: string;
  readonly zoneId?: string;
  readonly hostId?: string;
  readonly vmName?: string;
  readonly count?: number | null;
  /** Replace every fault rule by this one (a fault value only); nothing changes if the input is bad. */
  readonly clear?: boolean;
}

export type ConfigureSimulatorResult =
  | { readonly kind: 'fault'; readonly rule: FaultRule }
  | { readonly kind: 'guestAgent'; readonly vmName: string; readonly mode: GuestAgentModeText };

/** Read-only view of one simulated VM, for tests and diagnostics. */
export interface SimVmView {
  readonly name: string;
  readonly uuid: string;
  readonly zoneId: string;
  readonly hostId: string | null;
  readonly powerState: PowerState;
  readonly memoryMb: number;
  readonly cpus: number;
  readonly volumes: readonly VolumeTO[];
  readonly guestAgent: GuestAgentModeText;
  readonly frozen: boolean;
  readonly freezeDeadline: number | null;
  readonly counters: { readonly freezes: number; readonly thaws: number; readonly watchdogThaws: number };
  readonly lastFreezeWindow: Readonly<FreezeWindow> | null;
  /** Oldest first. */
  readonly snapshots: readonly Readonly<SimSnapshot>[];
  readonly currentSnapshot: string | null;
}

export type GuestFreezeResult =
  | { readonly ok: true; readonly status: 'frozen' | 'thawed'; readonly filesystems: number }
  | { readonly ok: false; readonly details: string };
export type GuestPingResult =
  { readonly ok: true; readonly available: boolean } | { readonly ok: false; readonly details: string };

export class SimulatorWorld {
  readonly faults: FaultInjector;
  readonly guestAgentTimeoutMs: number;
  readonly defaultFreezeBudgetMs: number;
  readonly clock: () => number;
  private readonly store: SimulatorStateStore;
  private readonly state: SimulatorStateData;
  private readonly watchdog: FreezeWatchdog;
  private readonly guestWaits = new ReleasableWaits();
  private readonly agents = new Map<string, SimulatorAgent>();
  private disposed = false;
  private pendingFlush: Promise<void> | undefined;
  private readonly dirtyVms = new Set<string>();
  private dirtyMeta = false;

  constructor(options: SimulatorWorldOptions = {}) {
    this.clock = options.clock ?? Date.now;
    this.guestAgentTimeoutMs = options.guestAgentTimeoutMs ?? DEFAULT_GUEST_AGENT_TIMEOUT_MS;
    this.defaultFreezeBudgetMs = options.defaultFreezeBudgetMs ?? DEFAULT_FREEZE_BUDGET_MS;
    this.store =
      options.store ??
      (options.path === undefined
        ? new MemoryStateStore()
        : options.path.endsWith('.db')
          ? new SqliteStateStore(options.path)
          : new JsonFileStateStore(options.path, options.fsync ?? true));
    this.state = this.store.load() ?? emptyState();
    this.faults = new FaultInjector({
      rules: this.state.faults,
      onChange: (rules) => {
        this.state.faults = [...rules];
        this.persistNow();
      },
    });
    this.watchdog = new FreezeWatchdog(this.clock, (vmName) => this.watchdogExpired(vmName));
    this.resumeWatchdogs();
  }

  /** The agent of one simulated host (one per host id, created on first use). */
  agentFor(hostId: string, zoneId: string): SimulatorAgent {
    const existing = this.agents.get(hostId);
    if (existing) {
      if (existing.zoneId !== zoneId)
        throw new Error(`Simulated host ${hostId} is in zone ${existing.zoneId}, not ${zoneId}`);
      return existing;
    }
    const agent = new SimulatorAgent({ hostId, zoneId, world: this, faults: this.faults, clock: this.clock });
    this.agents.set(hostId, agent);
    return agent;
  }

  setGuestAgentMode(vmName: string, mode: GuestAgentMode | string): void {
    this.state.guestAgents[vmName] = typeof mode === 'string' ? parseGuestAgentMode(mode) : { ...mode };
    this.persistNow();
  }

  guestAgentMode(vmName: string): GuestAgentMode {
    return this.state.guestAgents[vmName] ?? { kind: 'present' };
  }

  /**
   * CloudStack's `configureSimulator`: adds a fault rule, or sets a VM's guest agent mode. Every part
   * of the input is checked before anything changes: a bad value with `clear` clears nothing.
   */
  configure(input: ConfigureSimulatorInput): ConfigureSimulatorResult {
    const parsed = parseSimulatorValue(input.value);
    if (parsed.kind === 'guestAgent') {
      if (input.vmName === undefined) throw new Error('A guestagent value needs a VM name');
      if (input.clear === true) this.faults.clear();
      this.setGuestAgentMode(input.vmName, parsed.mode);
      return { kind: 'guestAgent', vmName: input.vmName, mode: formatGuestAgentMode(parsed.mode) };
    }
    const command: AgentCommandKind | '*' = commandKindFromName(input.name ?? '*');
    const scope = { zoneId: input.zoneId, hostId: input.hostId, vmName: input.vmName };
    const definedScope = Object.fromEntries(Object.entries(scope).filter(([, v]) => v !== undefined));
    const rule = this.faults.add(
      { command, scope: definedScope, action: parsed.action, count: input.count ?? null },
      { replace: input.clear === true },
    );
    return { kind: 'fault', rule };
  }

  inspect(vmName: string): SimVmView | undefined {
    const vm = this.state.vms[vmName];
    if (!vm) return undefined;
    const copy = structuredClone(vm);
    return deepFreeze({
      name: copy.name,
      uuid: copy.uuid,
      zoneId: copy.zoneId,
      hostId: copy.hostId,
      powerState: copy.powerState,
      memoryMb: copy.memoryMb,
      cpus: copy.cpus,
      volumes: copy.volumes,
      guestAgent: formatGuestAgentMode(this.guestAgentMode(vmName)),
      frozen: copy.frozen,
      freezeDeadline: copy.freezeDeadline,
      counters: copy.counters,
      lastFreezeWindow: copy.lastFreezeWindow,
      snapshots: Object.values(copy.snapshots).sort((a, b) => a.createdAt - b.createdAt),
      currentSnapshot: copy.currentSnapshot,
    });
  }

  /** Names of every VM the world knows, for diagnostics. */
  vmNames(): string[] {
    return Object.keys(this.state.vms);
  }

  /** Stops every timer and releases hung or waiting calls; the world answers nothing afterwards. */
  dispose(): void {
    this.disposed = true;
    this.watchdog.disarmAll();
    this.guestWaits.releaseAll();
    this.faults.dispose();
    this.flushNow();
    this.store.close?.();
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  // -------------------------------------------------------------------------------------------------
  // Used by SimulatorAgent: the live records and their persistence.
  // -------------------------------------------------------------------------------------------------

  /** The live (mutable) record of a VM; call `persist()` after changing it. */
  vmRecord(vmName: string): SimVm | undefined {
    return this.state.vms[vmName];
  }

  vmRecords(): SimVm[] {
    return Object.values(this.state.vms);
  }

  putVm(vm: SimVm): void {
    this.state.vms[vm.name] = vm;
  }

  removeVm(vmName: string): void {
    this.watchdog.disarm(vmName);
    delete this.state.vms[vmName];
  }

  /**
   * Group commit: marks `vmName` (or the world's own settings) changed and resolves once a write that
   * includes the change is durable. Agents await it before answering; the many answers of one tick
   * share one write.
   */
  persist(vmName?: string): Promise<void> {
    this.markDirty(vmName);
    if (this.pendingFlush === undefined) {
      this.pendingFlush = new Promise<void>((resolve, reject) => {
        setImmediate(() => {
          this.pendingFlush = undefined;
          try {
            this.flushNow();
            resolve();
          } catch (err) {
            reject(err instanceof Error ? err : new Error(String(err)));
          }
        });
      });
    }
    return this.pendingFlush;
  }

  /** Writes every pending change now (synchronous callers: configure, watchdog, start-up). */
  persistNow(vmName?: string): void {
    this.markDirty(vmName);
    this.flushNow();
  }

  private markDirty(vmName: string | undefined): void {
    if (vmName === undefined) this.dirtyMeta = true;
    else this.dirtyVms.add(vmName);
  }

  private flushNow(): void {
    if (this.dirtyVms.size === 0 && !this.dirtyMeta) return;
    const dirty = { vms: new Set(this.dirtyVms), meta: this.dirtyMeta };
    this.dirtyVms.clear();
    this.dirtyMeta = false;
    this.store.save(this.state, dirty);
  }

  /** Thaws a frozen guest because it is powered off, reverted or destroyed (no agent call involved). */
  resetFreeze(vm: SimVm): void {
    if (vm.frozen) this.unfreeze(vm, 'reset');
  }

  // -------------------------------------------------------------------------------------------------
  // The simulated guest agent (freeze, thaw, status, ping) and its watchdog.
  // -------------------------------------------------------------------------------------------------

  async guestFreeze(vmName: string, budgetMs?: number): Promise<GuestFreezeResult> {
    const reachable = this.reachableGuest(vmName);
    if (!reachable.ok) return reachable;
    if (reachable.vm.frozen)
      return { ok: false, details: `guest-fsfreeze-freeze failed: ${vmName} is already frozen` };
    const call = await this.callGuest(vmName, 'guest-fsfreeze-freeze');
    if (!call.ok) return call;
    // The call took time: the VM may have been stopped, destroyed or frozen by someone else meanwhile.
    const after = this.reachableGuest(vmName);
    if (!after.ok) return after;
    const vm = after.vm;
    if (vm.frozen) return { ok: false, details: `guest-fsfreeze-freeze failed: ${vmName} is already frozen` };
    const now = this.clock();
    vm.frozen = true;
    vm.frozenAt = now;
    vm.freezeDeadline = now + (budgetMs ?? this.defaultFreezeBudgetMs);
    vm.counters.freezes += 1;
    // The deadline is durable before the freeze is reported: a restarted simulator still thaws.
    this.persistNow(vmName);
    this.watchdog.arm(vmName, vm.freezeDeadline);
    return { ok: true, status: 'frozen', filesystems: vm.volumes.length };
  }

  async guestThaw(vmName: string): Promise<GuestFreezeResult> {
    const reachable = this.reachableGuest(vmName);
    if (!reachable.ok) return reachable;
    const call = await this.callGuest(vmName, 'guest-fsfreeze-thaw');
    if (!call.ok) return call;
    const vm = this.state.vms[vmName];
    const thawed = vm?.frozen ? vm.volumes.length : 0;
    if (vm?.frozen) {
      this.unfreeze(vm, 'agent');
      await this.persist(vmName);
    }
    return { ok: true, status: 'thawed', filesystems: thawed };
  }

  async guestStatus(vmName: string): Promise<GuestFreezeResult> {
    const reachable = this.reachableGuest(vmName);
    if (!reachable.ok) return reachable;
    const call = await this.callGuest(vmName, 'guest-fsfreeze-status');
    if (!call.ok) return call;
    const vm = this.state.vms[vmName];
    return { ok: true, status: vm?.frozen ? 'frozen' : 'thawed', filesystems: vm?.volumes.length ?? 0 };
  }

  /** A stopped VM or an absent agent is "not available" (an answer); a hung agent is a failure. */
  async guestPing(vmName: string): Promise<GuestPingResult> {
    const vm = this.state.vms[vmName];
    if (!vm) return { ok: false, details: `No VM by name ${vmName}` };
    if (vm.powerState !== 'PowerOn') return { ok: true, available: false };
    if (this.guestAgentMode(vmName).kind === 'absent') return { ok: true, available: false };
    const call = await this.callGuest(vmName, 'guest-ping');
    return call.ok ? { ok: true, available: true } : call;
  }

  private reachableGuest(vmName: string): { ok: true; vm: SimVm } | { ok: false; details: string } {
    const vm = this.state.vms[vmName];
    if (!vm) return { ok: false, details: `No VM by name ${vmName}` };
    if (vm.powerState !== 'PowerOn') {
      return { ok: false, details: `${GUEST_AGENT_NOT_CONNECTED}: vm ${vmName} is not running` };
    }
    return { ok: true, vm };
  }

  private callGuest(vmName: string, command: GuestAgentCommand): Promise<GuestCallResult> {
    return callGuestAgent(this.guestAgentMode(vmName), command, this.guestAgentTimeoutMs, this.guestWaits);
  }

  /** `at`: when the thaw happened (a simulated host outlives the server: its watchdog fired on time). */
  private unfreeze(vm: SimVm, by: FreezeWindow['thawedBy'], at?: number): void {
    const now = at ?? this.clock();
    const frozenAt = vm.frozenAt ?? now;
    vm.lastFreezeWindow = { frozenAt, thawedAt: now, ms: now - frozenAt, thawedBy: by };
    vm.frozen = false;
    vm.frozenAt = null;
    vm.freezeDeadline = null;
    if (by === 'agent') vm.counters.thaws += 1;
    if (by === 'watchdog') vm.counters.watchdogThaws += 1;
    this.watchdog.disarm(vm.name);
  }

  private watchdogExpired(vmName: string): void {
    const vm = this.state.vms[vmName];
    if (!vm?.frozen || this.disposed) return;
    this.unfreeze(vm, 'watchdog');
    this.persistNow(vmName);
  }

  /** After a restart: thaw guests whose deadline passed while the process was down, re-arm the rest. */
  private resumeWatchdogs(): void {
    let changed = false;
    for (const vm of Object.values(this.state.vms)) {
      if (!vm.frozen) continue;
      const deadline = vm.freezeDeadline ?? this.clock();
      if (deadline <= this.clock()) {
        // The simulated host lives in the server's process; a real host agent would have thawed
        // at the deadline while the server was down, so that is when the window closes.
        this.unfreeze(vm, 'watchdog', deadline);
        this.markDirty(vm.name);
        changed = true;
      } else {
        this.watchdog.arm(vm.name, deadline);
      }
    }
    if (changed) this.flushNow();
  }
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
