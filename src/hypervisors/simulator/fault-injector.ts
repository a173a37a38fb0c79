/**
 * Fault injection for simulated hosts: CloudStack's MockConfigurationVO, settable at run time.
 *
 * A rule names a command (or `*`), a scope (zone, host, VM: every given field must match) and an action:
 * `fail` answers `result:false`, `throw` makes the agent break (execute() rejects), `delay` waits and
 * then runs the command, `hang` never answers until released by `clear()` / `dispose()`. `count` is
 * the number of matches left (null = forever); a rule is removed when it reaches 0.
 *
 * The injector is the in-process copy of the rules. The world persists every change (through
 * `onChange`) in the management database, as CloudStack's rows in `mockconfiguration` are, so a
 * rule set through one server, or before a restart, is in force on every server; the world consumes
 * a `count` there with a conditional update, so a count is used exactly once across servers.
 */
import { assertNever } from '../../core/assert-never.ts';
import { randomUUID } from 'node:crypto';
import type { AgentCommand, AgentCommandKind } from '../../core/plugin-api.ts';
import { fail } from '../command-failure.ts';
import { AGENT_COMMAND_KINDS } from '../../core/plugin-api.ts';
import { ReleasableWaits } from './releasable-waits.ts';
import type { faultRuleSchema, GuestAgentMode } from './simulator-state.ts';
import type { z } from 'zod';
import { parseGuestAgentMode } from './guest-agent.ts';

export type FaultRule = z.infer<typeof faultRuleSchema>;
export type FaultAction = FaultRule['action'];
export type FaultScope = FaultRule['scope'];

/** A rule to add: the id is generated when absent, scope defaults to everywhere, count to forever. */
export interface NewFaultRule {
  readonly id?: string;
  readonly command: AgentCommandKind | '*';
  readonly scope?: FaultScope;
  readonly action: FaultAction;
  readonly count?: number | null;
}

/** Where a command runs: what a rule's scope is matched against. */
export interface FaultSite {
  readonly zoneId: string;
  readonly hostId: string;
}

/** The agent "broke" on purpose (`result:fault`): execute() rejects with this. */
export class SimulatedAgentError extends Error {
  override readonly name = 'SimulatedAgentError';
}

export const SIMULATED_FAILURE = 'Simulated failure';

/** One change to the rule list, as the world writes it: rule by rule, never the whole list over another server's. */
export type FaultChange =
  | { readonly kind: 'add'; readonly rule: FaultRule; readonly replace: boolean }
  | { readonly kind: 'remove'; readonly id: string }
  | { readonly kind: 'clear' }
  | { readonly kind: 'consume'; readonly rule: FaultRule };

export interface FaultInjectorOptions {
  readonly rules?: readonly FaultRule[];
  /** Called after every change to the rule list (add, remove, a count consumed): persist here. */
  readonly onChange?: (change: FaultChange) => void;
}

export class FaultInjector {
  private rules: FaultRule[];
  private readonly waits = new ReleasableWaits();
  private readonly onChange: (change: FaultChange) => void;

  constructor(options: FaultInjectorOptions = {}) {
    this.rules = (options.rules ?? []).map(cloneRule);
    this.onChange = options.onChange ?? (() => {});
  }

  /**
   * Adds a rule; with `replace`, it replaces every rule (and releases hung calls). The rule is checked
   * before anything changes, and the new list is persisted in one write.
   */
  add(rule: NewFaultRule, options: { readonly replace?: boolean } = {}): FaultRule {
    const count = rule.count ?? null;
    if (count !== null && (!Number.isInteger(count) || count <= 0)) {
      throw new Error(`Fault count must be a positive integer or null, got ${count}`);
    }
    const added: FaultRule = cloneRule({
      id: rule.id ?? randomUUID(),
      command: rule.command,
      scope: rule.scope ?? {},
      action: rule.action,
      count,
    });
    const kept = options.replace === true ? [] : this.rules.filter((r) => r.id !== added.id);
    this.rules = [...kept, added];
    this.onChange({ kind: 'add', rule: cloneRule(added), replace: options.replace === true });
    if (options.replace === true) this.waits.releaseHangs();
    return cloneRule(added);
  }

  remove(id: string): boolean {
    const before = this.rules.length;
    this.rules = this.rules.filter((r) => r.id !== id);
    if (this.rules.length === before) return false;
    this.onChange({ kind: 'remove', id });
    return true;
  }

  list(): readonly FaultRule[] {
    return this.rules.map(cloneRule);
  }

  /** Removes every rule and releases hung calls (they reject). */
  clear(): void {
    this.rules = [];
    this.waits.releaseHangs();
    this.onChange({ kind: 'clear' });
  }

  /** Number of calls currently hung by a `hang` rule. */
  get hungCalls(): number {
    return this.waits.pendingHangs;
  }

  /**
   * Finds the first rule (in insertion order) matching the command here, and consumes one count. The
   * consumed count is reported (onChange) before this returns, so before the fault fires. The world
   * does not use this: it consumes in the database first (`match` + `consumed`).
   */
  take(command: AgentCommand, site: FaultSite): FaultAction | null {
    const rule = this.match(command, site);
    if (!rule) return null;
    if (rule.count !== null) {
      this.consumed(rule.id);
      this.onChange({ kind: 'consume', rule: { ...rule, count: rule.count - 1 } });
    }
    return rule.action;
  }

  /** The first rule (in insertion order) matching the command here, without consuming it. */
  match(command: AgentCommand, site: FaultSite): FaultRule | null {
    const vmName = vmNameOf(command);
    const rule = this.rules.find((r) => matches(r, command.kind, site, vmName));
    return rule === undefined ? null : cloneRule(rule);
  }

  /** One count of a rule was used (already written elsewhere): the copy here follows. */
  consumed(id: string): void {
    const rule = this.rules.find((r) => r.id === id);
    if (rule?.count === null || rule === undefined) return;
    rule.count -= 1;
    if (rule.count <= 0) this.rules = this.rules.filter((r) => r !== rule);
  }

  /** The rules as read back from the database (another server may have changed them). */
  replaceRules(rules: readonly FaultRule[]): void {
    this.rules = rules.map(cloneRule);
  }

  /**
   * Carries out an action. Resolves when the command should then run normally (`delay`); `fail` is
   * a refusal (a CommandFailure, answered `result:false`); rejects for `throw` and for a
   * `hang` or `delay` released by clear()/dispose().
   */
  async apply(action: FaultAction, kind: AgentCommandKind): Promise<void> {
    switch (action.kind) {
      case 'fail':
        return fail(action.message ?? SIMULATED_FAILURE);
      case 'throw':
        throw new SimulatedAgentError(action.message ?? `Simulated fault in ${kind}`);
      case 'delay':
        if ((await this.waits.sleep(action.ms)) === 'released') {
          throw new SimulatedAgentError(`Simulated delay of ${kind} released: simulator disposed`);
        }
        return;
      case 'hang':
        await this.waits.hang();
        throw new SimulatedAgentError(`Simulated hang of ${kind} released`);
      default:
        return assertNever(action);
    }
  }

  /** Releases every hung or delayed call; rules are kept (they are durable settings). */
  dispose(): void {
    this.waits.close();
  }
}

function matches(rule: FaultRule, kind: AgentCommandKind, site: FaultSite, vmName: string | null): boolean {
  if (rule.command !== '*' && rule.command !== kind) return false;
  const { zoneId, hostId, vmName: ruleVm } = rule.scope;
  if (zoneId !== undefined && zoneId !== site.zoneId) return false;
  if (hostId !== undefined && hostId !== site.hostId) return false;
  // A VM-scoped rule never matches host-wide commands (Ping, GetVmStates, GetInventory).
  if (ruleVm !== undefined && ruleVm !== vmName) return false;
  return true;
}

/** The VM a command is about, or null for host-wide commands. */
export function vmNameOf(command: AgentCommand): string | null {
  switch (command.kind) {
    case 'StartVM':
    case 'CreateVM':
      return command.vm.name;
    case 'CreateVMSnapshot':
    case 'RevertToVMSnapshot':
    case 'DeleteVMSnapshot':
    case 'CheckVMSnapshot':
    case 'StopVM':
    case 'FreezeThaw':
    case 'GuestPing':
    case 'DestroyVM':
      return command.vmName;
    case 'StorageSubvolumeCreate':
    case 'StorageSubvolumeSnapshot':
    case 'StorageSubvolumeList':
    case 'StorageSubvolumeRestore':
    case 'StorageSubvolumeDelete':
      return command.subvolume; // a VM's subvolume is named after the VM
    case 'GetVmStates':
    case 'GetInventory':
    case 'Ping':
    case 'StorageFsStats':
      return null;
    default:
      return assertNever(command);
  }
}

function cloneRule(rule: FaultRule): FaultRule {
  return { ...rule, scope: { ...rule.scope }, action: { ...rule.action } };
}

// ---------------------------------------------------------------------------------------------------
// CloudStack `configureSimulator` input
// ---------------------------------------------------------------------------------------------------

/** What a `configureSimulator` value asks for: a fault action, or a guest agent mode for a VM. */
export type SimulatorValue =
  | { readonly kind: 'fault'; readonly action: FaultAction }
  | { readonly kind: 'guestAgent'; readonly mode: GuestAgentMode };

/**
 * Parses CloudStack's values `result:fail`, `result:fault` (throw), `wait:<ms>`, plus vmsnap's
 * `hang` / `result:hang` and `guestagent:present|absent|slow:<ms>|hung`. `=` is accepted for `:` after
 * the key, as CloudStack's docs write both.
 */
export function parseSimulatorValue(value: string): SimulatorValue {
  const text = value.trim();
  const lower = text.toLowerCase();
  if (lower === 'hang' || lower === 'result:hang' || lower === 'result=hang') {
    return { kind: 'fault', action: { kind: 'hang' } };
  }
  const match = /^([a-z]+)\s*[:=]\s*(.*)$/i.exec(text);
  const key = match?.[1]?.toLowerCase();
  const arg = match?.[2]?.trim() ?? '';
  if (key === 'result' && arg.toLowerCase() === 'fail') return { kind: 'fault', action: { kind: 'fail' } };
  if (key === 'result' && arg.toLowerCase() === 'fault') return { kind: 'fault', action: { kind: 'throw' } };
  if (key === 'wait' && /^\d+$/.test(arg))
    return { kind: 'fault', action: { kind: 'delay', ms: Number(arg) } };
  if (key === 'guestagent') return { kind: 'guestAgent', mode: parseGuestAgentMode(arg) };
  throw new Error(
    `Unsupported simulator value '${value}': expected result:fail, result:fault, result:hang, hang, wait:<ms> ` +
      `or guestagent:present|absent|slow:<ms>|hung`,
  );
}

const CLOUDSTACK_COMMAND_NAMES: Readonly<Record<string, AgentCommandKind>> = {
  createvmsnapshotcommand: 'CreateVMSnapshot',
  reverttovmsnapshotcommand: 'RevertToVMSnapshot',
  deletevmsnapshotcommand: 'DeleteVMSnapshot',
  startcommand: 'StartVM',
  stopcommand: 'StopVM',
  freezethawvmcommand: 'FreezeThaw',
  pingcommand: 'Ping',
};

const OUR_KINDS: readonly AgentCommandKind[] = AGENT_COMMAND_KINDS;

/** Maps a CloudStack command class name (`StartCommand`) or one of our kinds to our kind; `*` = any. */
export function commandKindFromName(name: string): AgentCommandKind | '*' {
  const text = name.trim();
  if (text === '*') return '*';
  const ours = OUR_KINDS.find((k) => k.toLowerCase() === text.toLowerCase());
  if (ours) return ours;
  const mapped = CLOUDSTACK_COMMAND_NAMES[text.toLowerCase()];
  if (mapped) return mapped;
  throw new Error(`Unknown simulator command name '${name}'`);
}
