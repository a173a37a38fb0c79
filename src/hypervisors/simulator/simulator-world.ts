/**
 * The simulated zone(s) as one management server sees them: the VMs, their guest agents and snapshot
 * trees, and the fault rules, kept in a SimulatorPersistence (the management database on a server,
 * so that every server acts for every simulated host); plus the live timers (freeze watchdogs, slow
 * or hung guest agent calls) that `dispose()` clears.
 *
 * VMs are keyed by instance name. Their disks are on shared storage, so a stopped VM can be handled from
 * any host of its zone; a running VM only from the host it runs on.
 *
 * The world holds a copy of the rows it has read. Every command re-reads the rows it needs first
 * (`prepare`), and writes a VM back with compare-and-set on the version it read: a server that
 * raced another on the same VM is refused (nothing applied) instead of overwriting it. A fault
 * rule's count is consumed in the database before the fault fires, so exactly once across servers.
 */
import { DEFAULT_FREEZE_BUDGET_MS } from '../../core/freeze-budget.ts';
import type { AgentCommand, AgentCommandKind, PowerState, VolumeTO } from '../../core/plugin-api.ts';
import { FaultInjector, commandKindFromName, parseSimulatorValue } from './fault-injector.ts';
import type { FaultAction, FaultChange, FaultRule, FaultSite } from './fault-injector.ts';
import { CommandFailure } from '../command-failure.ts';
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
import { parseFaultRule, parseGuestAgentRecord, parseVm } from './simulator-state.ts';
import type { FreezeWindow, GuestAgentMode, SimSnapshot, SimVm } from './simulator-state.ts';
import { MemorySimulatorPersistence } from './simulator-persistence.ts';
import type { SimCommandRecord, SimObjectRow, SimulatorPersistence } from './simulator-persistence.ts';

/** A command record before its effect is stored (the world stamps `finished` at the write). */
export type CommandRecordStart = Omit<SimCommandRecord, 'finished'>;

export interface SimulatorWorldOptions {
  /** Where the zone is kept: the management database on a server; default in memory (this world alone). */
  readonly persistence?: SimulatorPersistence;
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

/**
 * Another server wrote the same simulated VM first: nothing of this command was applied, so it is
 * a refusal (`result: false`), which the caller may retry, not a broken agent.
 */
export class SimulatorConflictError extends CommandFailure {}

/** How many times a fault rule's count is re-read when other servers consume it at the same moment. */
const MAX_FAULT_RACES = 50;

export class SimulatorWorld {
  readonly faults: FaultInjector;
  readonly guestAgentTimeoutMs: number;
  readonly defaultFreezeBudgetMs: number;
  readonly clock: () => number;
  private readonly persistence: SimulatorPersistence;
  /** The rows as last read or written here, and their versions. */
  private readonly vms = new Map<string, SimVm>();
  private readonly vmVersions = new Map<string, number>();
  private readonly guestAgents = new Map<string, GuestAgentMode>();
  private readonly faultVersions = new Map<string, number>();
  private readonly watchdog: FreezeWatchdog;
  private readonly guestWaits = new ReleasableWaits();
  private readonly agents = new Map<string, SimulatorAgent>();
  /** Writes of run-time settings (fault rules, guest agent modes), in the order they were made. */
  private settingWrites: Promise<void> = Promise.resolve();
  private settingWriteError: Error | undefined;
  private settingWriteCount = 0;
  /** Per VM: the write under way, so this process's writes of one VM go one after another. */
  private readonly vmWrites = new Map<string, Promise<void>>();
  private disposed = false;

  constructor(options: SimulatorWorldOptions = {}) {
    this.clock = options.clock ?? Date.now;
    this.guestAgentTimeoutMs = options.guestAgentTimeoutMs ?? DEFAULT_GUEST_AGENT_TIMEOUT_MS;
    this.defaultFreezeBudgetMs = options.defaultFreezeBudgetMs ?? DEFAULT_FREEZE_BUDGET_MS;
    this.persistence = options.persistence ?? new MemorySimulatorPersistence();
    this.faults = new FaultInjector({ onChange: (change) => this.writeFaultChange(change) });
    this.watchdog = new FreezeWatchdog(this.clock, (vmName) => this.watchdogExpired(vmName));
  }

  /** A world that has read what its persistence holds (and thawed guests whose deadline passed). */
  static async open(options: SimulatorWorldOptions = {}): Promise<SimulatorWorld> {
    const world = new SimulatorWorld(options);
    await world.load();
    return world;
  }

  /** Reads every row again; after a restart, thaws guests whose deadline passed and re-arms the rest. */
  async load(): Promise<void> {
    await this.refreshFaults();
    for (const row of await this.persistence.list('guest-agent')) {
      this.guestAgents.set(row.name, parseGuestAgentRecord(row.body, row.name));
    }
    await this.refreshAllVms();
    await this.resumeWatchdogs();
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

  /** Sets a VM's guest agent mode here at once; durable when `settled()` resolves. */
  setGuestAgentMode(vmName: string, mode: GuestAgentMode | string): void {
    const parsed = typeof mode === 'string' ? parseGuestAgentMode(mode) : { ...mode };
    this.guestAgents.set(vmName, parsed);
    this.writeSetting(() => this.persistence.set('guest-agent', vmName, JSON.stringify(parsed)));
  }

  guestAgentMode(vmName: string): GuestAgentMode {
    return this.guestAgents.get(vmName) ?? { kind: 'present' };
  }

  /**
   * CloudStack's `configureSimulator`: adds a fault rule, or sets a VM's guest agent mode. Every part
   * of the input is checked before anything changes: a bad value with `clear` clears nothing. In
   * force here at once; `configureDurably` also waits until every server sees it.
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

  /** `configure`, answered once the change is in the database (what the API does). */
  async configureDurably(input: ConfigureSimulatorInput): Promise<ConfigureSimulatorResult> {
    const result = this.configure(input);
    await this.settled();
    return result;
  }

  /** Resolves when every setting changed here is written; rejects with the first write that failed. */
  async settled(): Promise<void> {
    await this.settingWrites;
    const failed = this.settingWriteError;
    this.settingWriteError = undefined;
    if (failed !== undefined) throw failed;
  }

  inspect(vmName: string): SimVmView | undefined {
    const vm = this.vms.get(vmName);
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

  /** Names of every VM this world has read, for diagnostics (`load()` first to see other servers'). */
  vmNames(): string[] {
    return [...this.vms.keys()];
  }

  /** Stops every timer and releases hung or waiting calls; the world answers nothing afterwards. */
  dispose(): void {
    this.disposed = true;
    this.watchdog.disarmAll();
    // Calls still reading rows reach their waits after this: those are released at once too.
    this.guestWaits.close();
    this.faults.dispose();
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  // -------------------------------------------------------------------------------------------------
  // Used by SimulatorAgent: reading the rows a command needs, consuming faults, writing VMs back.
  // -------------------------------------------------------------------------------------------------

  /** Before a command: this server's pending setting writes land, then the rows it needs are re-read. */
  async prepare(vmName: string | null): Promise<void> {
    await this.settled();
    if (vmName === null) {
      await this.refreshAllVms();
      return;
    }
    await Promise.all([this.refreshVm(vmName), this.refreshGuestAgent(vmName)]);
  }

  /**
   * The fault that applies to this command, its count consumed in the database first: a conditional
   * update from the version read, retried on a race, so each count is used by exactly one command
   * across every server (and not again after a restart).
   */
  async takeFault(command: AgentCommand, site: FaultSite): Promise<FaultAction | null> {
    for (let race = 0; race < MAX_FAULT_RACES; race += 1) {
      await this.settled();
      await this.refreshFaults();
      const rule = this.faults.match(command, site);
      if (rule === null) return null;
      if (rule.count === null) return rule.action;
      const version = this.faultVersions.get(rule.id) ?? null;
      if (version === null) continue;
      const left = rule.count - 1;
      const won =
        left === 0
          ? await this.persistence.remove('fault', rule.id, version)
          : await this.persistence.put('fault', rule.id, JSON.stringify({ ...rule, count: left }), version);
      if (won) {
        this.faults.consumed(rule.id);
        if (left === 0) this.faultVersions.delete(rule.id);
        else this.faultVersions.set(rule.id, version + 1);
        return rule.action;
      }
    }
    throw new Error(`Fault rules kept changing under ${command.kind}: try again`);
  }

  /** The live (mutable) record of a VM; call `persist()` after changing it. */
  vmRecord(vmName: string): SimVm | undefined {
    return this.vms.get(vmName);
  }

  vmRecords(): SimVm[] {
    return [...this.vms.values()];
  }

  putVm(vm: SimVm): void {
    this.vms.set(vm.name, vm);
  }

  removeVm(vmName: string): void {
    this.watchdog.disarm(vmName);
    this.vms.delete(vmName);
  }

  /**
   * Writes the VM's record (or its removal) with compare-and-set on the version read; resolves once
   * durable, so agents answer only after. Lost to another server: the record is read again and the
   * command fails with nothing applied (SimulatorConflictError). With `command`, its record is
   * stored with the VM in one transaction (finished: the time of the write).
   */
  persist(vmName: string, command?: CommandRecordStart): Promise<void> {
    const previous = this.vmWrites.get(vmName) ?? Promise.resolve();
    const write = previous
      .catch(() => undefined)
      .then(() => this.writeVm(vmName, command && { ...command, finished: this.clock() }));
    const tracked = write.finally(() => {
      if (this.vmWrites.get(vmName) === tracked) this.vmWrites.delete(vmName);
    });
    this.vmWrites.set(vmName, tracked);
    return tracked;
  }

  /** Records a command that applied without changing its VM (a delete of a snapshot already gone). */
  async recordCommand(command: CommandRecordStart): Promise<void> {
    await this.persistence.recordCommand({ ...command, finished: this.clock() });
  }

  private async writeVm(vmName: string, command?: SimCommandRecord): Promise<void> {
    const vm = this.vms.get(vmName);
    const expected = this.vmVersions.get(vmName) ?? null;
    let won: boolean;
    if (vm === undefined) {
      won = expected === null || (await this.persistence.remove('vm', vmName, expected));
      if (won) this.vmVersions.delete(vmName);
    } else {
      won = await this.persistence.put('vm', vmName, JSON.stringify(vm), expected, command);
      if (won) this.vmVersions.set(vmName, (expected ?? 0) + 1);
    }
    if (won) return;
    this.vms.delete(vmName);
    this.vmVersions.delete(vmName);
    this.applyVmRow(vmName, await this.persistence.get('vm', vmName), { writing: true });
    throw new SimulatorConflictError(
      `Simulated VM ${vmName} was changed by another management server at the same time; nothing was applied`,
    );
  }

  /** Thaws a frozen guest because it is powered off, reverted or destroyed (no agent call involved). */
  resetFreeze(vm: SimVm): void {
    if (vm.frozen) this.unfreeze(vm, 'reset');
  }

  // -------------------------------------------------------------------------------------------------
  // Reading rows back
  // -------------------------------------------------------------------------------------------------

  private async refreshVm(vmName: string): Promise<void> {
    this.applyVmRow(vmName, await this.persistence.get('vm', vmName));
  }

  private async refreshAllVms(): Promise<void> {
    const rows = await this.persistence.list('vm');
    const seen = new Set<string>();
    for (const row of rows) {
      seen.add(row.name);
      this.applyVmRow(row.name, row);
    }
    for (const name of [...this.vms.keys()]) if (!seen.has(name)) this.applyVmRow(name, undefined);
  }

  /**
   * Takes a row read back unless this copy is as new. A VM written here before and now gone was
   * destroyed by another server.
   */
  private applyVmRow(
    vmName: string,
    row: SimObjectRow | undefined,
    by: { readonly writing: boolean } = { writing: false },
  ): void {
    // A write of this VM is under way here: its object is the one being written (a newer row in
    // the database makes that write's compare-and-set fail, and the write reads the row then).
    if (this.vmWrites.has(vmName) && !by.writing) return;
    const known = this.vmVersions.get(vmName);
    if (row === undefined) {
      if (known === undefined) return;
      this.vms.delete(vmName);
      this.vmVersions.delete(vmName);
      this.watchdog.disarm(vmName);
      return;
    }
    if (known !== undefined && known >= row.version) return;
    const vm = parseVm(row.body, vmName);
    this.vms.set(vmName, vm);
    this.vmVersions.set(vmName, row.version);
    // A guest frozen through another server is thawed by whichever server's watchdog fires first.
    if (vm.frozen && vm.freezeDeadline !== null && !this.disposed)
      this.watchdog.arm(vmName, vm.freezeDeadline);
    if (!vm.frozen) this.watchdog.disarm(vmName);
  }

  private async refreshGuestAgent(vmName: string): Promise<void> {
    const writes = this.settingWriteCount;
    const row = await this.persistence.get('guest-agent', vmName);
    if (writes !== this.settingWriteCount) return; // changed here meanwhile: that is newer
    if (row === undefined) this.guestAgents.delete(vmName);
    else this.guestAgents.set(vmName, parseGuestAgentRecord(row.body, vmName));
  }

  private async refreshFaults(): Promise<void> {
    const writes = this.settingWriteCount;
    const rows = await this.persistence.list('fault');
    if (writes !== this.settingWriteCount) return;
    this.faults.replaceRules(rows.map((r) => parseFaultRule(r.body, r.name)));
    this.faultVersions.clear();
    for (const row of rows) this.faultVersions.set(row.name, row.version);
  }

  // -------------------------------------------------------------------------------------------------
  // Writing run-time settings
  // -------------------------------------------------------------------------------------------------

  private writeFaultChange(change: FaultChange): void {
    switch (change.kind) {
      case 'add': {
        const row = { name: change.rule.id, body: JSON.stringify(change.rule) };
        this.writeSetting(() =>
          change.replace
            ? this.persistence.replaceAll('fault', [row])
            : this.persistence.set('fault', row.name, row.body),
        );
        return;
      }
      case 'remove':
        this.writeSetting(() => this.persistence.remove('fault', change.id).then(() => undefined));
        return;
      case 'clear':
        this.writeSetting(() => this.persistence.replaceAll('fault', []));
        return;
      case 'consume': {
        const { rule } = change;
        this.writeSetting(() =>
          rule.count === 0
            ? this.persistence.remove('fault', rule.id).then(() => undefined)
            : this.persistence.set('fault', rule.id, JSON.stringify(rule)),
        );
        return;
      }
    }
  }

  private writeSetting(work: () => Promise<void>): void {
    this.settingWriteCount += 1;
    const run = this.settingWrites.then(work);
    this.settingWrites = run.catch((err: unknown) => {
      this.settingWriteError ??= err instanceof Error ? err : new Error(String(err));
    });
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
    this.watchdog.arm(vmName, vm.freezeDeadline);
    // The deadline is durable before the freeze is reported: any server, or a restarted one, thaws.
    await this.persist(vmName);
    return { ok: true, status: 'frozen', filesystems: vm.volumes.length };
  }

  async guestThaw(vmName: string): Promise<GuestFreezeResult> {
    const reachable = this.reachableGuest(vmName);
    if (!reachable.ok) return reachable;
    const call = await this.callGuest(vmName, 'guest-fsfreeze-thaw');
    if (!call.ok) return call;
    const vm = this.vms.get(vmName);
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
    const vm = this.vms.get(vmName);
    return { ok: true, status: vm?.frozen ? 'frozen' : 'thawed', filesystems: vm?.volumes.length ?? 0 };
  }

  /** A stopped VM or an absent agent is "not available" (an answer); a hung agent is a failure. */
  async guestPing(vmName: string): Promise<GuestPingResult> {
    const vm = this.vms.get(vmName);
    if (!vm) return { ok: false, details: `No VM by name ${vmName}` };
    if (vm.powerState !== 'PowerOn') return { ok: true, available: false };
    if (this.guestAgentMode(vmName).kind === 'absent') return { ok: true, available: false };
    const call = await this.callGuest(vmName, 'guest-ping');
    return call.ok ? { ok: true, available: true } : call;
  }

  private reachableGuest(vmName: string): { ok: true; vm: SimVm } | { ok: false; details: string } {
    const vm = this.vms.get(vmName);
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

  /**
   * The copy here is thawed at once; the write is compare-and-set, so when several servers' watchdogs
   * fire for one guest, one thaw is recorded and the others re-read it.
   */
  private watchdogExpired(vmName: string): void {
    const vm = this.vms.get(vmName);
    if (!vm?.frozen || this.disposed) return;
    this.unfreeze(vm, 'watchdog', vm.freezeDeadline ?? undefined);
    this.persist(vmName).catch(() => undefined);
  }

  /** After a restart: thaw guests whose deadline passed while no server was up, re-arm the rest. */
  private async resumeWatchdogs(): Promise<void> {
    const writes: Promise<void>[] = [];
    for (const vm of this.vms.values()) {
      if (!vm.frozen) continue;
      const deadline = vm.freezeDeadline ?? this.clock();
      if (deadline <= this.clock()) {
        // A real host agent would have thawed at the deadline while the server was down, so that
        // is when the window closes.
        this.unfreeze(vm, 'watchdog', deadline);
        writes.push(this.persist(vm.name).catch(() => undefined));
      } else {
        this.watchdog.arm(vm.name, deadline);
      }
    }
    await Promise.all(writes);
  }
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
