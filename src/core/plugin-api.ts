/**
 * vmsnap plugin contracts: the one file a vendor reads to write a plugin.
 *
 * Three extension points, each a small interface with declared capabilities:
 *  - {@link VmSnapshotStrategy}: the coarse contract. Takes, reverts and deletes a whole VM snapshot
 *    any way it likes (hypervisor snapshot, array snapshot, guest flush + volume snapshots ...).
 *  - {@link StorageDriver}: the fine-grained contract. Snapshots all of a VM's volumes on its pools in
 *    one call; the built-in storage strategy quiesces the guest once around every driver.
 *  - {@link HypervisorAgent}: a host agent answering {@link AgentCommand}s (the simulator, the QEMU agent).
 *
 * A plugin module default-exports a {@link VmsnapPlugin} that declares the {@link PLUGIN_API_VERSION}
 * it was built for; vmsnap loads it from config by module name or path, checks the version and calls
 * `register`. Import it as `vmsnap/plugin-api` (the package export). This file imports nothing, so a
 * plugin package can depend on it alone.
 */

/**
 * The contract's major version. A plugin declares the version it was built for (`apiVersion`); the
 * loader refuses a plugin of another major version. Raised on every breaking change to this file.
 */
export const PLUGIN_API_VERSION = 1;

// ---------------------------------------------------------------------------------------------------
// Domain views handed to plugins (read-only snapshots of the database rows)
// ---------------------------------------------------------------------------------------------------

export type HypervisorType = 'Simulator' | 'KVM';
export type VmState = 'Running' | 'Stopped' | 'Starting' | 'Stopping' | 'Error' | 'Destroyed';
export type PowerState = 'PowerOn' | 'PowerOff';
export type VmSnapshotType = 'Disk' | 'DiskAndMemory';
export type VmSnapshotState =
  'Allocated' | 'Creating' | 'Ready' | 'Reverting' | 'Expunging' | 'Removed' | 'Error' | 'Hidden';
export type VolumeType = 'ROOT' | 'DATADISK';
export type VolumeFormat = 'QCOW2' | 'RAW';
export type HostStatus = 'Up' | 'Down' | 'Disconnected' | 'Maintenance';

export interface VmInfo {
  readonly id: string;
  readonly instanceName: string;
  readonly displayName: string;
  readonly state: VmState;
  readonly hostId: string | null;
  readonly lastHostId: string | null;
  readonly zoneId: string;
  readonly hypervisor: HypervisorType;
  readonly memoryMb: number;
  readonly cpus: number;
}

export interface HostInfo {
  readonly id: string;
  readonly name: string;
  readonly zoneId: string;
  readonly hypervisor: HypervisorType;
  readonly status: HostStatus;
}

export type PoolScope = 'ZONE' | 'HOST';

/**
 * A primary storage pool as drivers see it. `url` and `details` may hold credentials (a cephx key):
 * never log them or put them in an error message.
 */
export interface StoragePoolInfo {
  readonly id: string;
  readonly name: string;
  readonly zoneId: string;
  /** The name of the storage driver that serves the pool (createStoragePool `provider`). */
  readonly provider: string;
  /** e.g. `rbd://user:key@mon1:6789,mon2/pool`, `file:///var/lib/vmsnap/pool`. */
  readonly url: string;
  readonly details: Readonly<Record<string, string>>;
  readonly scope: PoolScope;
  /** The host of a HOST-scoped pool; null for ZONE scope. */
  readonly hostId: string | null;
  /** What the provider's `validatePool` returned at creation (e.g. the RBD pool name, a folder). */
  readonly path: string;
}

export interface PoolStats {
  readonly capacityBytes: number;
  readonly usedBytes: number;
}

/** A pool an operator asks to create (createStoragePool), before it has an id. */
export interface PoolSpec {
  readonly name: string;
  readonly zoneId: string;
  readonly url: string;
  readonly details: Readonly<Record<string, string>>;
  readonly scope: PoolScope;
  readonly hostId: string | null;
}

/**
 * Declared by drivers that provide primary storage: an operator creates a pool on one with
 * `createStoragePool provider=<driver name>`, and `listStorageProviders type=primary` lists it.
 */
export interface StorageProvider {
  /** One line for `listStorageProviders`. */
  readonly description: string;
  /** The URL schemes the provider accepts, without `:` (e.g. `rbd`, `file`). */
  readonly urlSchemes: readonly string[];
  /**
   * Reaches the storage, checks the pool exists and the credentials work; throws an Error with a
   * clear, credential-free message otherwise. Creates nothing on failure. Returns the pool's `path`
   * (kept on the pool) and its capacity.
   */
  validatePool(spec: PoolSpec): Promise<{ readonly path: string; readonly capacityBytes: number }>;
  /** Current capacity and use, for `listStoragePools`. */
  poolStats(pool: StoragePoolInfo): Promise<PoolStats>;
}

export interface VolumeInfo {
  readonly id: string;
  readonly name: string;
  readonly type: VolumeType;
  readonly poolId: string;
  /** Name of the storage driver that serves the volume's pool (= `pool.provider`). */
  readonly driver: string;
  readonly format: VolumeFormat;
  readonly path: string;
  readonly size: number;
  readonly deviceId: number;
  /** The volume's pool, with its connection (url, details). */
  readonly pool: StoragePoolInfo;
}

/** What a snapshot recorded about one volume: its path or the driver's own reference. */
export interface VolumeSnapshotRecord {
  readonly volumeId: string;
  readonly driver: string;
  readonly path: string;
  readonly size: number;
  /** Driver-specific reference (array snapshot id, overlay file ...). */
  readonly ref: string | null;
}

export interface VmSnapshotInfo {
  readonly id: string;
  /** Generated name `<instance name>_VS_<yyyyMMddHHmmss UTC>`; hypervisors use it as the tag. */
  readonly name: string;
  readonly displayName: string;
  readonly description: string;
  readonly type: VmSnapshotType;
  readonly state: VmSnapshotState;
  readonly parentId: string | null;
  readonly current: boolean;
  /** Name of the strategy that took (or is taking) the snapshot. */
  readonly strategy: string | null;
  readonly quiesce: boolean;
  readonly createdAt: number;
  readonly volumes: readonly VolumeSnapshotRecord[];
}

// ---------------------------------------------------------------------------------------------------
// Hypervisor agent: commands and answers (a discriminated union, checked exhaustively by agents)
// ---------------------------------------------------------------------------------------------------

/** The snapshot as sent to a host: CloudStack's VMSnapshotTO, parents chained up to the root. */
export interface VmSnapshotTO {
  readonly id: string;
  readonly name: string;
  readonly type: VmSnapshotType;
  readonly description: string;
  readonly current: boolean;
  readonly quiesce: boolean;
  readonly createdAt: number | null;
  readonly parent: VmSnapshotTO | null;
}

export interface VolumeTO {
  readonly id: string;
  readonly type: VolumeType;
  readonly path: string;
  readonly poolId: string;
  readonly format: VolumeFormat;
  readonly size: number;
  readonly deviceId: number;
  /**
   * How a host reaches a volume that is not a file on one of its pools (e.g. an RBD image): the
   * pool's provider, url (may hold a key: never log it) and path. Absent for `file:` pools.
   */
  readonly pool?: VolumePoolTO;
}

/** The connection of a non-file pool, as a host agent gets it with a volume. */
export interface VolumePoolTO {
  readonly provider: string;
  readonly url: string;
  readonly path: string;
}

export interface VmSpecTO {
  readonly name: string;
  readonly uuid: string;
  readonly memoryMb: number;
  readonly cpus: number;
  readonly volumes: readonly VolumeTO[];
}

/** How a memory snapshot is taken on hosts that offer both ways (QEMU). */
export const MEMORY_SNAPSHOT_MODES = ['live', 'internal'] as const;
export type MemorySnapshotMode = (typeof MEMORY_SNAPSHOT_MODES)[number];

export type AgentCommand =
  | {
      readonly kind: 'CreateVMSnapshot';
      readonly vmName: string;
      readonly vmUuid: string;
      readonly target: VmSnapshotTO;
      readonly volumes: readonly VolumeTO[];
      readonly quiesce: boolean;
      readonly memoryMode?: MemorySnapshotMode;
      /** Guest freeze budget in ms when quiescing: the agent thaws on its own after it. */
      readonly freezeBudgetMs?: number;
      /** The job that sent it (a host may log it; the simulator records it per command). */
      readonly requestId?: string;
    }
  | {
      readonly kind: 'RevertToVMSnapshot';
      readonly vmName: string;
      readonly vmUuid: string;
      readonly target: VmSnapshotTO;
      readonly volumes: readonly VolumeTO[];
      /** Remembered by the host once the revert is applied, so recovery can ask about it. */
      readonly requestId?: string;
    }
  | {
      readonly kind: 'DeleteVMSnapshot';
      readonly vmName: string;
      readonly target: VmSnapshotTO;
      readonly volumes: readonly VolumeTO[];
      /** The job that sent it (a host may log it; the simulator records it per command). */
      readonly requestId?: string;
    }
  | {
      readonly kind: 'CheckVMSnapshot';
      readonly vmName: string;
      readonly target: VmSnapshotTO;
      /** Ask whether the revert with this `requestId` was applied (answer `revertApplied`). */
      readonly revertRequestId?: string;
    }
  | { readonly kind: 'StartVM'; readonly vm: VmSpecTO }
  | { readonly kind: 'StopVM'; readonly vmName: string; readonly force: boolean }
  | {
      readonly kind: 'FreezeThaw';
      readonly vmName: string;
      readonly option: 'freeze' | 'thaw' | 'status';
      /** For `freeze`: the agent's watchdog thaws the guest after this many ms. */
      readonly budgetMs?: number;
    }
  | { readonly kind: 'GuestPing'; readonly vmName: string }
  | { readonly kind: 'GetVmStates' }
  /** Define a new VM on the host and create its disks (empty, no OS needed). */
  | { readonly kind: 'CreateVM'; readonly vm: VmSpecTO; readonly poolPath?: string }
  | { readonly kind: 'DestroyVM'; readonly vmName: string }
  /** What the host has: used when a host is added and on every heartbeat. */
  | { readonly kind: 'GetInventory' }
  | { readonly kind: 'Ping' }
  /**
   * Host-local storage (the `btrfs` driver): `poolPath` is the pool's folder on the host (inside the
   * agent's pool root), `subvolume` the VM's folder `<poolPath>/vms/<subvolume>` that holds its disk
   * files, `snapshot` a read-only copy of it kept as `<poolPath>/snaps/<subvolume>@<snapshot>`.
   */
  | { readonly kind: 'StorageFsStats'; readonly poolPath: string }
  | { readonly kind: 'StorageSubvolumeCreate'; readonly poolPath: string; readonly subvolume: string }
  | {
      /** Atomic across every disk file of the subvolume; a VM running on it is paused around the cut. */
      readonly kind: 'StorageSubvolumeSnapshot';
      readonly poolPath: string;
      readonly subvolume: string;
      readonly snapshot: string;
    }
  | { readonly kind: 'StorageSubvolumeList'; readonly poolPath: string; readonly subvolume: string }
  | {
      /** Refused while a VM runs on the subvolume. `file`: restore only that disk file. */
      readonly kind: 'StorageSubvolumeRestore';
      readonly poolPath: string;
      readonly subvolume: string;
      readonly snapshot: string;
      readonly file?: string;
    }
  | {
      /** Deletes one snapshot, or (without `snapshot`) the subvolume and all its snapshots. Idempotent. */
      readonly kind: 'StorageSubvolumeDelete';
      readonly poolPath: string;
      readonly subvolume: string;
      readonly snapshot?: string;
    };

export type AgentCommandKind = AgentCommand['kind'];

/** Every command kind, for agents that check what they receive (a compile-time guard keeps it whole). */
export const AGENT_COMMAND_KINDS = [
  'CreateVMSnapshot',
  'RevertToVMSnapshot',
  'DeleteVMSnapshot',
  'CheckVMSnapshot',
  'StartVM',
  'StopVM',
  'FreezeThaw',
  'GuestPing',
  'GetVmStates',
  'CreateVM',
  'DestroyVM',
  'GetInventory',
  'Ping',
  'StorageFsStats',
  'StorageSubvolumeCreate',
  'StorageSubvolumeSnapshot',
  'StorageSubvolumeList',
  'StorageSubvolumeRestore',
  'StorageSubvolumeDelete',
] as const satisfies readonly AgentCommandKind[];
type MissingKind = Exclude<AgentCommandKind, (typeof AGENT_COMMAND_KINDS)[number]>;
const everyKindListed: [MissingKind] extends [never] ? true : MissingKind = true;
void everyKindListed;
export type CommandOf<K extends AgentCommandKind> = Extract<AgentCommand, { kind: K }>;

/** Volume state reported back by the host after an operation (new path, new chain size). */
export interface VolumeAnswerTO {
  readonly id: string;
  readonly path: string;
  readonly size: number;
}

export interface InventoryVm {
  readonly name: string;
  readonly uuid: string;
  readonly memoryMb: number;
  readonly cpus: number;
  readonly powerState: PowerState;
  readonly volumes: readonly VolumeTO[];
}

export interface InventoryPool {
  readonly name: string;
  /** A folder on the host; for a pool of a storage driver (`provider`), the driver's pool path. */
  readonly path: string;
  /** The storage driver of a pool that is not a folder on the host (e.g. `ceph-rbd`). */
  readonly provider?: string;
  readonly capacityBytes: number;
  readonly usedBytes: number;
}

/** Measured on the host: how long the VM was paused and the guest frozen. */
export interface HostTimings {
  readonly pauseMs?: number;
  /** The freeze window around the cut: freeze sent to thaw answered. */
  readonly freezeMs?: number;
  /** The longest continuous frozen interval of the operation, every freeze counted (issue 15). */
  readonly maxFreezeMs?: number;
  /** All of the operation's frozen intervals added up. */
  readonly frozenTotalMs?: number;
  readonly totalMs?: number;
}

interface AnswerPayloads {
  CreateVMSnapshot: { volumes: VolumeAnswerTO[]; timings?: HostTimings; memoryMode?: MemorySnapshotMode };
  RevertToVMSnapshot: { volumes: VolumeAnswerTO[]; powerState: PowerState; timings?: HostTimings };
  DeleteVMSnapshot: { volumes: VolumeAnswerTO[]; hidden?: boolean };
  /**
   * For recovery: `volumes` are the host's current volume paths (to finish a create a crash cut
   * off); `current` says whether the VM now runs from this snapshot (a revert that completed).
   */
  CheckVMSnapshot: {
    exists: boolean;
    volumes?: VolumeAnswerTO[];
    current?: boolean;
    powerState?: PowerState;
    /** Present when the command carried a `revertRequestId`: that revert was applied here. */
    revertApplied?: boolean;
  };
  StartVM: { powerState: PowerState };
  StopVM: { powerState: PowerState };
  FreezeThaw: { status: 'frozen' | 'thawed'; frozenFilesystems?: number };
  GuestPing: { available: boolean };
  GetVmStates: { vms: { name: string; powerState: PowerState }[] };
  CreateVM: { volumes: VolumeAnswerTO[] };
  DestroyVM: Record<never, never>;
  GetInventory: { vms: InventoryVm[]; pools: InventoryPool[] };
  Ping: { hypervisor: HypervisorType; accel?: string };
  /**
   * `exists`: the pool folder is there (else the rest is empty). `fsType`: `btrfs`, `ext4`, `xfs`,
   * `tmpfs`, or the file system's magic number in hex.
   */
  StorageFsStats: { exists: boolean; fsType: string; capacityBytes: number; usedBytes: number };
  StorageSubvolumeCreate: Record<never, never>;
  /** `pauseMs`: how long a VM running on the subvolume was paused (0 when none ran). */
  StorageSubvolumeSnapshot: { pauseMs: number };
  /**
   * `inUse`: a VM runs on the subvolume. `snapshots` oldest first, each with the disk files it holds.
   */
  StorageSubvolumeList: {
    exists: boolean;
    inUse: boolean;
    snapshots: { name: string; files: string[] }[];
  };
  StorageSubvolumeRestore: Record<never, never>;
  StorageSubvolumeDelete: Record<never, never>;
}

export type AnswerFailure = { readonly result: false; readonly details: string };
export type AnswerOf<K extends AgentCommandKind> =
  ({ readonly result: true; readonly details?: string } & AnswerPayloads[K]) | AnswerFailure;
export type AnswerFor<C extends AgentCommand> = AnswerOf<C['kind']>;

/** A host agent. Failures are answers with `result: false`; a thrown error means the agent broke. */
export interface HypervisorAgent {
  execute<C extends AgentCommand>(command: C): Promise<AnswerFor<C>>;
}

/** The manager's way to reach hosts, with timeouts. Thrown errors: unreachable host or timeout. */
export interface AgentGateway {
  send<C extends AgentCommand>(
    hostId: string,
    command: C,
    options?: { timeoutMs?: number },
  ): Promise<AnswerFor<C>>;
}

// ---------------------------------------------------------------------------------------------------
// VM snapshot strategies (the coarse contract)
// ---------------------------------------------------------------------------------------------------

/** Ordered: the registry picks the strictly highest; ties go to the first registered. */
export const StrategyPriority = {
  CANT_HANDLE: 0,
  DEFAULT: 1,
  HYPERVISOR: 2,
  PLUGIN: 3,
  HIGHEST: 4,
} as const;
export type StrategyPriority = (typeof StrategyPriority)[keyof typeof StrategyPriority];

/**
 * `required`: quiescevm=true fails without a guest agent; `best-effort`: the snapshot is taken
 * crash-consistent and says so.
 */
export const QUIESCE_POLICIES = ['required', 'best-effort'] as const;
export type QuiescePolicy = (typeof QUIESCE_POLICIES)[number];

/** Per-request options of a new snapshot (vmsnap's createVMSnapshot extensions). */
export interface SnapshotOptions {
  /** Memory snapshots on QEMU hosts; absent: setting `vmsnapshot.memory.mode`. */
  readonly memoryMode?: MemorySnapshotMode;
  /** Absent: setting `vmsnapshot.quiesce.policy`. */
  readonly quiescePolicy?: QuiescePolicy;
}

/** What a strategy sees when asked whether it can take a new snapshot. */
export interface CanHandleInput {
  readonly vm: VmInfo;
  readonly volumes: readonly VolumeInfo[];
  readonly type: VmSnapshotType;
  readonly quiesce: boolean;
  /** Storage drivers serving the VM's pools, by name, so capabilities can be read, not guessed. */
  readonly drivers: ReadonlyMap<string, StorageDriver>;
}

/** Everything a strategy needs about one operation. */
export interface SnapshotOperation {
  /** Unique per operation (the job id), stable across a crash and its recovery. */
  readonly operationId: string;
  readonly vm: VmInfo;
  readonly snapshot: VmSnapshotInfo;
  /** The parent chain, nearest first. */
  readonly parents: readonly VmSnapshotInfo[];
  /** All non-removed snapshots of the VM (for tree-aware strategies). */
  readonly siblings: readonly VmSnapshotInfo[];
  readonly volumes: readonly VolumeInfo[];
  readonly quiesce: boolean;
  /** Request options a strategy may honour; checked by the API, so their values are known ones. */
  readonly options: SnapshotOptions;
}

export interface VolumeUpdate {
  readonly volumeId: string;
  /** New active path of the volume, when the operation moved it (e.g. a new overlay). */
  readonly path?: string;
  readonly size?: number;
}

/** How consistent a snapshot's data is, as recorded with it. */
export const CONSISTENCIES = [
  'application-consistent',
  'crash-consistent',
  'no-guest-agent',
  'quiesce-timed-out',
] as const;
export type Consistency = (typeof CONSISTENCIES)[number];
/** What became of the guest thaw after a storage cut. */
export const THAW_OUTCOMES = ['ok', 'failed (watchdog)', 'not-needed', 'not-frozen'] as const;
export type ThawOutcome = (typeof THAW_OUTCOMES)[number];

/**
 * What is known about a snapshot and the operations on it, kept with the snapshot and shown in API
 * responses (consistency, pause, freeze window, per-phase and per-driver times). Every field is
 * optional: an operation records what it measured. Times are in milliseconds.
 */
export interface SnapshotFacts {
  readonly consistency?: Consistency;
  /** How long the VM was paused by the take (host-measured). */
  readonly pauseMs?: number;
  /** From the freeze sent to the thaw answered; 0 when the guest was not frozen. */
  readonly freezeWindowMs?: number;
  /** The longest continuous frozen interval of the take, every freeze counted (a flush freeze too). */
  readonly maxFreezeMs?: number;
  /** All frozen intervals of the take added up. */
  readonly frozenTotalMs?: number;
  /** How long the VM was paused by the last revert (host-measured). */
  readonly revertPauseMs?: number;
  /** The whole take, as the manager measured it. */
  readonly totalMs?: number;
  readonly memoryMode?: MemorySnapshotMode;
  /** The host that took the snapshot. */
  readonly host?: string;
  /** The storage drivers that hold the snapshot. */
  readonly drivers?: readonly string[];
  readonly thaw?: ThawOutcome;
  readonly quiescePolicy?: QuiescePolicy;
  /** Why the snapshot is less consistent than asked (best-effort policy). */
  readonly quiesceNote?: string;
  /** Finished by recovery after a management-server restart. */
  readonly recovered?: boolean;
  /** Why the last operation on the snapshot failed. */
  readonly error?: string;
  /** Duration of each named phase (`StrategyContext.phase`). */
  readonly phaseMs?: Readonly<Record<string, number>>;
  /** Duration of each storage driver's part. */
  readonly driverMs?: Readonly<Record<string, number>>;
}

export interface TakeResult {
  /** Per-volume snapshot records to keep with the snapshot. */
  readonly records: readonly VolumeSnapshotRecord[];
  /** Changes to the live volumes. */
  readonly volumeUpdates: readonly VolumeUpdate[];
  /** Facts shown in API responses: consistency, freeze window, pause, per-driver times. */
  readonly facts?: SnapshotFacts;
}

export interface RevertResult {
  readonly volumeUpdates: readonly VolumeUpdate[];
  readonly powerState: PowerState;
  readonly facts?: SnapshotFacts;
}

export interface DeleteResult {
  /** `hidden`: the data is kept until it can be merged (snapshot with several children). */
  readonly outcome: 'deleted' | 'hidden';
  readonly volumeUpdates: readonly VolumeUpdate[];
}

export interface Logger {
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
  debug(obj: object | string, msg?: string): void;
}

/** Services the core hands to a strategy for one operation. */
export interface StrategyContext {
  readonly agents: AgentGateway;
  /** CloudStack's host pick: running host, else last host if Up, else an Up host reaching the root pool. */
  pickHost(vm: VmInfo, volumes: readonly VolumeInfo[]): Promise<HostInfo>;
  storageDriver(name: string): StorageDriver | undefined;
  setting(name: string): string;
  numberSetting(name: string): number;
  readonly log: Logger;
  /** Runs `fn` as a named phase; its duration is recorded on the snapshot and shown in the API. */
  phase<T>(name: string, fn: () => Promise<T>): Promise<T>;
  /** Persists a progress marker before a risky step, so recovery knows how far the operation got. */
  checkpoint(step: string, data?: Readonly<Record<string, string | number | boolean>>): Promise<void>;
}

export interface VmSnapshotStrategy {
  /** Unique, stable name: recorded on every snapshot the strategy takes. */
  readonly name: string;
  /** Priority for taking a new snapshot; CANT_HANDLE to decline. */
  canHandle(input: CanHandleInput): StrategyPriority;
  /** Take the snapshot. Throw an Error with a clear message on failure; the manager records the state. */
  takeVmSnapshot(ctx: StrategyContext, op: SnapshotOperation): Promise<TakeResult>;
  revertVmSnapshot(ctx: StrategyContext, op: SnapshotOperation): Promise<RevertResult>;
  /** Delete the snapshot's data. Must be idempotent: a snapshot already gone counts as deleted. */
  deleteVmSnapshot(ctx: StrategyContext, op: SnapshotOperation): Promise<DeleteResult>;
  /** Recovery: does the snapshot exist where this strategy keeps it? */
  snapshotExists(ctx: StrategyContext, op: SnapshotOperation): Promise<boolean>;
  /**
   * Recovery after a crash in the middle of a take (optional, preferred over `snapshotExists`): if the
   * snapshot was completely taken, return what `takeVmSnapshot` would have returned; otherwise remove
   * any partial pieces and return null.
   */
  reconcileTake?(ctx: StrategyContext, op: SnapshotOperation): Promise<TakeResult | null>;
  /**
   * Recovery after a crash in the middle of a revert (optional): if the revert completed, return
   * what `revertVmSnapshot` would have returned; null when it did not (or cannot be known).
   */
  reconcileRevert?(ctx: StrategyContext, op: SnapshotOperation): Promise<RevertResult | null>;
  /**
   * Recovery after a crash in the middle of a delete (optional): if the snapshot is already gone,
   * return what `deleteVmSnapshot` would have returned, without deleting again; null when it is still
   * there (the delete is then sent again). Without it, recovery sends the delete again.
   */
  reconcileDelete?(ctx: StrategyContext, op: SnapshotOperation): Promise<DeleteResult | null>;
  /** Optional up-front check for revert; throw to refuse before any state changes. */
  validateRevert?(ctx: StrategyContext, op: SnapshotOperation): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------
// Storage drivers (the fine-grained contract)
// ---------------------------------------------------------------------------------------------------

export interface StorageDriverCapabilities {
  /** The driver can snapshot volumes at all. */
  readonly canSnapshot: boolean;
  /** The guest must be quiesced for a consistent snapshot on this driver. */
  readonly needsQuiesce: boolean;
  /**
   * Max snapshots kept per volume, or null for no limit. The storage strategy counts a volume's
   * snapshots (`listVolumeSnapshots`) before it freezes the guest, and refuses a take that would
   * go past the limit, so a full volume never costs the guest a freeze.
   */
  readonly maxSnapshotsPerVolume: number | null;
}

/**
 * Whether one volume can be reverted to one of its snapshots now (Proxmox's
 * `volume_rollback_is_possible`). `reason` says why not, for an operator; `blockers` are the refs
 * (as `listVolumeSnapshots` names them) of the snapshots in the way, e.g. newer snapshots on
 * storage that reverts only to the latest (ZFS, Cinder); empty when nothing else is in the way
 * (e.g. the snapshot is gone).
 */
export type RevertCheck =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: string; readonly blockers: readonly string[] };

/** The snapshot being taken, as a driver sees it. */
export interface StorageSnapshotRef {
  readonly id: string;
  readonly name: string;
  readonly vmId: string;
}

export interface DriverVolumeSnapshot {
  readonly volumeId: string;
  readonly ref: string;
  readonly size?: number;
}

export interface DriverTakeResult {
  readonly volumes: readonly DriverVolumeSnapshot[];
  /** False when the driver already released the guest (it froze and thawed it itself). */
  readonly needsUnquiesce: boolean;
}

export interface StorageDriver {
  readonly name: string;
  readonly capabilities: StorageDriverCapabilities;
  /** Present on drivers that provide primary storage: pools can be created on them through the API. */
  readonly provider?: StorageProvider;
  /** Group path: snapshot all given volumes (all on this driver) in one call. */
  takeVmSnapshot?(volumes: readonly VolumeInfo[], snapshot: StorageSnapshotRef): Promise<DriverTakeResult>;
  revertVmSnapshot?(
    volumes: readonly VolumeInfo[],
    snapshots: readonly DriverVolumeSnapshot[],
  ): Promise<void>;
  deleteVmSnapshot?(
    volumes: readonly VolumeInfo[],
    snapshots: readonly DriverVolumeSnapshot[],
  ): Promise<void>;
  /** Per-volume fallbacks, used when the group methods are absent. */
  takeVolumeSnapshot(volume: VolumeInfo, snapshot: StorageSnapshotRef): Promise<DriverVolumeSnapshot>;
  revertVolumeSnapshot(volume: VolumeInfo, snapshot: DriverVolumeSnapshot): Promise<void>;
  /** Idempotent: deleting a snapshot that is gone succeeds. */
  deleteVolumeSnapshot(volume: VolumeInfo, snapshot: DriverVolumeSnapshot): Promise<void>;
  /** Snapshot refs of a volume, oldest first (snapshot limits and recovery). */
  listVolumeSnapshots(volume: VolumeInfo): Promise<readonly string[]>;
  /**
   * Asked for every volume before a revert starts, so a revert refused on one volume never starts
   * on another. Answers without changing anything.
   */
  canRevert(volume: VolumeInfo, snapshot: DriverVolumeSnapshot): Promise<RevertCheck>;
  /**
   * Recovery (optional, recommended): the snapshots this driver holds for one vmsnap snapshot, as
   * named in `takeVmSnapshot`'s `snapshot`. Lets a take cut short by a crash be finished or cleaned
   * up; without it, pieces cut just before a crash may stay on the array.
   */
  findVmSnapshot?(
    volumes: readonly VolumeInfo[],
    snapshot: StorageSnapshotRef,
  ): Promise<readonly DriverVolumeSnapshot[]>;
}

// ---------------------------------------------------------------------------------------------------
// The plugin entry point
// ---------------------------------------------------------------------------------------------------

export interface PluginHost {
  registerStrategy(strategy: VmSnapshotStrategy): void;
  registerStorageDriver(driver: StorageDriver): void;
  /** The server's data directory; plugins keep their own state under it. */
  readonly dataDir: string;
  readonly log: Logger;
  /**
   * Commands to a host's agent, for drivers of storage only a host can touch (host-local disks:
   * `Storage*` commands). Absent where vmsnap runs without hosts (e.g. a plugin's own tests).
   */
  readonly agents?: AgentGateway;
  /**
   * A small document store in the management database, the same for every management server: for
   * state a plugin must not keep in one server's data dir (several servers share the work). Absent
   * where vmsnap runs without a database (a plugin's own tests).
   */
  readonly store?: PluginStore;
}

/** One document of a PluginStore, with the version a compare-and-set names. */
export interface PluginDocument {
  readonly value: string;
  /** 1 when first written, +1 on every write. */
  readonly version: number;
}

/**
 * Documents by key, shared by every plugin of every server: prefix keys with your plugin's name.
 * Writes are compare-and-set, so two servers changing one document never lose a write: the loser
 * is told (false), reads again and retries.
 */
export interface PluginStore {
  get(key: string): Promise<PluginDocument | undefined>;
  /** Writes `value` if the document is still at version `expected` (null: only if it does not exist). */
  put(key: string, value: string, expected: number | null): Promise<boolean>;
  /** Deletes the document (only at version `expected` when given); false when nothing was deleted. */
  delete(key: string, expected?: number): Promise<boolean>;
}

export interface VmsnapPlugin {
  readonly name: string;
  /** The {@link PLUGIN_API_VERSION} the plugin was built for; another major version is refused. */
  readonly apiVersion: number;
  register(host: PluginHost, options: Readonly<Record<string, unknown>>): void | Promise<void>;
}

/** The host's view of a volume, as commands carry it; non-file pools add their connection. */
export function toVolumeTO(v: VolumeInfo): VolumeTO {
  const to: VolumeTO = {
    id: v.id,
    type: v.type,
    path: v.path,
    poolId: v.poolId,
    format: v.format,
    size: v.size,
    deviceId: v.deviceId,
  };
  // Plain folder pools (the built-in `file` driver) need no connection; every other provider's
  // volumes carry theirs, host-local folder pools (btrfs) too: the provider decides the disks' layout.
  if (v.pool.provider === 'file' || (v.pool.url.startsWith('file:') && v.pool.scope !== 'HOST')) return to;
  return { ...to, pool: { provider: v.pool.provider, url: v.pool.url, path: v.pool.path } };
}

/** Identity helper that gives a plugin object its type. */
export function definePlugin(plugin: VmsnapPlugin): VmsnapPlugin {
  return plugin;
}
