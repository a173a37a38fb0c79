/**
 * Test doubles for the storage strategy: a recording guest-agent gateway whose answers can be made
 * to fail or hang, a StrategyContext that records phases and checkpoints, and builders for VMs,
 * volumes and operations. Used by test/storage and bench/freeze-bench.ts.
 */
import type {
  AgentCommand,
  AgentGateway,
  AnswerFor,
  HostInfo,
  Logger,
  SnapshotOperation,
  StorageDriver,
  StrategyContext,
  VmInfo,
  VmSnapshotInfo,
  VolumeInfo,
  VolumeSnapshotRecord,
} from '../../src/core/plugin-api.ts';
import { testPoolInfo } from '../helpers/pool-info.ts';

export type AgentPresence = 'present' | 'absent' | 'unreachable';
export type CallBehaviour = 'ok' | 'fail' | 'hang' | 'throw';

export interface GuestBehaviour {
  agent: AgentPresence;
  freeze: CallBehaviour;
  thaw: CallBehaviour;
  /** Simulated agent round trip for freeze and thaw. */
  freezeDelayMs: number;
  thawDelayMs: number;
}

export interface SentCommand {
  readonly at: number;
  readonly hostId: string;
  readonly command: AgentCommand;
  readonly timeoutMs: number | undefined;
}

/**
 * One simulated guest behind a host agent. Like the real host agent, a freeze arms a watchdog that
 * thaws the guest after the freeze budget, whatever happens to the caller.
 */
export class FakeGuestGateway implements AgentGateway {
  readonly sent: SentCommand[] = [];
  frozen = false;
  /** How the guest got thawed last: by a thaw command or by the watchdog. */
  thawedBy: 'command' | 'watchdog' | null = null;
  behaviour: GuestBehaviour;
  private watchdog: NodeJS.Timeout | undefined;

  constructor(behaviour: Partial<GuestBehaviour> = {}) {
    this.behaviour = {
      agent: 'present',
      freeze: 'ok',
      thaw: 'ok',
      freezeDelayMs: 0,
      thawDelayMs: 0,
      ...behaviour,
    };
  }

  commands(kind: AgentCommand['kind'], option?: string): SentCommand[] {
    return this.sent.filter(
      (s) =>
        s.command.kind === kind &&
        (option === undefined || ('option' in s.command && s.command.option === option)),
    );
  }

  async send<C extends AgentCommand>(
    hostId: string,
    command: C,
    options?: { timeoutMs?: number },
  ): Promise<AnswerFor<C>> {
    this.sent.push({ at: Date.now(), hostId, command, timeoutMs: options?.timeoutMs });
    return (await this.answer(command)) as AnswerFor<C>;
  }

  dispose(): void {
    clearTimeout(this.watchdog);
  }

  private async answer(command: AgentCommand): Promise<unknown> {
    if (this.behaviour.agent === 'unreachable') throw new Error('host agent unreachable');
    // Only the guest-agent commands matter here; anything else is a test bug, answered as a failure.
    if (command.kind === 'GuestPing') return { result: true, available: this.behaviour.agent === 'present' };
    if (command.kind !== 'FreezeThaw')
      return { result: false, details: `fake gateway does not handle ${command.kind}` };
    if (command.option === 'freeze') return this.freeze(command.budgetMs);
    if (command.option === 'thaw') return this.thaw();
    return { result: true, status: this.frozen ? 'frozen' : 'thawed' };
  }

  private async freeze(budgetMs: number | undefined): Promise<unknown> {
    if (this.behaviour.agent !== 'present') return { result: false, details: 'guest agent not connected' };
    await sleep(this.behaviour.freezeDelayMs);
    switch (this.behaviour.freeze) {
      case 'ok':
        this.setFrozen(budgetMs);
        return { result: true, status: 'frozen', frozenFilesystems: 2 };
      case 'fail':
        return { result: false, details: 'guest-fsfreeze-freeze failed: Device or resource busy' };
      case 'throw':
        throw new Error('connection reset while freezing');
      case 'hang':
        // The guest froze but the answer never comes back (the vdsm#160 case).
        this.setFrozen(budgetMs);
        return new Promise(() => undefined);
    }
  }

  private async thaw(): Promise<unknown> {
    await sleep(this.behaviour.thawDelayMs);
    switch (this.behaviour.thaw) {
      case 'ok':
        this.frozen = false;
        this.thawedBy = 'command';
        clearTimeout(this.watchdog);
        return { result: true, status: 'thawed' };
      case 'fail':
        return { result: false, details: 'guest-fsfreeze-thaw failed' };
      case 'throw':
        throw new Error('connection reset while thawing');
      case 'hang':
        return new Promise(() => undefined);
    }
  }

  private setFrozen(budgetMs: number | undefined): void {
    this.frozen = true;
    clearTimeout(this.watchdog);
    if (budgetMs === undefined) return;
    this.watchdog = setTimeout(() => {
      this.frozen = false;
      this.thawedBy = 'watchdog';
    }, budgetMs);
  }
}

export interface FakeContext extends StrategyContext {
  readonly phases: { name: string; ms: number }[];
  readonly checkpoints: {
    step: string;
    data: Readonly<Record<string, string | number | boolean>> | undefined;
  }[];
  readonly warnings: string[];
}

export const TEST_HOST: HostInfo = {
  id: 'host-1',
  name: 'kvm1',
  zoneId: 'zone-1',
  hypervisor: 'KVM',
  status: 'Up',
};

export function fakeContext(options: {
  gateway: AgentGateway;
  drivers: readonly StorageDriver[];
  settings?: Record<string, string>;
  host?: HostInfo | null;
}): FakeContext {
  const settings: Record<string, string> = {
    'vmsnapshot.freeze.budget': '10000',
    'vmsnapshot.quiesce.policy': 'required',
    ...options.settings,
  };
  const warnings: string[] = [];
  const note = (obj: object | string, msg?: string): void => {
    warnings.push(msg ?? (typeof obj === 'string' ? obj : JSON.stringify(obj)));
  };
  const quiet = (): void => undefined;
  const log: Logger = { info: quiet, debug: quiet, warn: note, error: note };
  const ctx: FakeContext = {
    agents: options.gateway,
    phases: [],
    checkpoints: [],
    warnings,
    log,
    async pickHost() {
      if (options.host === null) throw new Error('no Up host can reach the VM');
      return options.host ?? TEST_HOST;
    },
    storageDriver: (name) => options.drivers.find((d) => d.name === name),
    setting(name) {
      const value = settings[name];
      if (value === undefined) throw new Error(`unknown setting ${name}`);
      return value;
    },
    numberSetting: (name) => Number(ctx.setting(name)),
    async phase(name, fn) {
      const started = Date.now();
      try {
        return await fn();
      } finally {
        ctx.phases.push({ name, ms: Date.now() - started });
      }
    },
    async checkpoint(step, data) {
      ctx.checkpoints.push({ step, data });
    },
  };
  return ctx;
}

export function makeVm(overrides: Partial<VmInfo> = {}): VmInfo {
  return {
    id: 'vm-1',
    instanceName: 'i-2-10-VM',
    displayName: 'web1',
    state: 'Running',
    hostId: TEST_HOST.id,
    lastHostId: TEST_HOST.id,
    zoneId: 'zone-1',
    hypervisor: 'KVM',
    memoryMb: 1024,
    cpus: 1,
    ...overrides,
  };
}

/** `count` volumes on `driver`, ids `<prefix>-0..n`. */
export function makeVolumes(driver: string, count: number, prefix = driver): VolumeInfo[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `${prefix}-vol-${i}`,
    name: `${prefix}-disk-${i}`,
    type: i === 0 ? 'ROOT' : 'DATADISK',
    poolId: `${driver}-pool`,
    driver,
    pool: testPoolInfo(driver),
    format: 'RAW',
    path: `/${driver}/${prefix}-vol-${i}`,
    size: 1 << 30,
    deviceId: i,
  }));
}

let snapshotSeq = 0;

export function makeSnapshot(overrides: Partial<VmSnapshotInfo> = {}): VmSnapshotInfo {
  snapshotSeq += 1;
  return {
    id: `vmsnap-${snapshotSeq}`,
    name: `i-2-10-VM_VS_2026010100000${snapshotSeq}`,
    displayName: `snap${snapshotSeq}`,
    description: '',
    type: 'Disk',
    state: 'Creating',
    parentId: null,
    current: false,
    strategy: 'storage',
    quiesce: true,
    createdAt: Date.now(),
    volumes: [],
    ...overrides,
  };
}

export function makeOp(
  volumes: readonly VolumeInfo[],
  overrides: Partial<Omit<SnapshotOperation, 'volumes'>> = {},
): SnapshotOperation {
  const snapshot = overrides.snapshot ?? makeSnapshot({ quiesce: overrides.quiesce ?? true });
  return {
    operationId: 'job-1',
    vm: makeVm(),
    snapshot,
    parents: [],
    siblings: [],
    volumes,
    quiesce: true,
    options: {},
    ...overrides,
  };
}

/** The same operation, now that the snapshot carries the records the strategy returned. */
export function withRecords(op: SnapshotOperation, records: readonly VolumeSnapshotRecord[]): VmSnapshotInfo {
  return { ...op.snapshot, state: 'Ready', volumes: records };
}

export function sleep(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}
