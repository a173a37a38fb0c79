/**
 * Table types for kysely. Portable SQL only: the same schema runs on SQLite and PostgreSQL.
 * Conventions: ids are UUID text; timestamps are epoch milliseconds (bigint); booleans are 0/1
 * integers; JSON is text. `update_count` backs optimistic concurrency on state changes.
 */
import type { Generated, Insertable, Selectable, Updateable } from 'kysely';

export interface ZoneTable {
  id: string;
  name: string;
  created: number;
}

export interface HostTable {
  id: string;
  zone_id: string;
  name: string;
  hypervisor: string;
  status: string;
  url: string | null;
  agent_token: string | null;
  last_heartbeat: number | null;
  created: number;
  removed: number | null;
  /** SHA-256 fingerprint of the agent's TLS certificate, pinned at addHost (https agents only). */
  tls_fingerprint: string | null;
  /** The management server that heartbeats the agent (issue 12), and until when it may. */
  heartbeat_owner: string | null;
  heartbeat_lease_until: number | null;
}

export interface StoragePoolTable {
  id: string;
  zone_id: string;
  name: string;
  /** Name of the storage driver that serves the pool. */
  driver: string;
  path: string;
  /** Null: shared by every host of the zone; else the one host that reaches it. */
  host_id: string | null;
  capacity_bytes: number;
  created: number;
  removed: number | null;
  /** Migration 0010 (defaults for rows written without them): the pool's URL (`file:///path`, `rbd://user:key@mon/pool`); sealed at rest. */
  pool_url: Generated<string>;
  /** createStoragePool `details`, a JSON object of strings; sealed at rest. */
  pool_details: Generated<string>;
  /** ZONE | HOST */
  scope: Generated<string>;
  /** Up | Disabled | Maintenance */
  state: Generated<string>;
  /** Storage tags, comma-separated (CloudStack's `tags`). */
  tags: Generated<string>;
  used_bytes: Generated<number>;
}

export interface AccountTable {
  id: string;
  name: string;
  /** 'admin' or 'user'. */
  role: string;
  domain_id: string;
  state: string;
  created: number;
  removed: number | null;
}

export interface UserTable {
  id: string;
  account_id: string;
  username: string;
  api_key: string | null;
  secret_key: string | null;
  state: string;
  created: number;
  /** CloudStack's user profile (migration 0018); null for users made before it or without one. */
  firstname: string | null;
  lastname: string | null;
  email: string | null;
}

/** A user's password hash (scrypt, salt and parameters in the string): see src/core/password-hash.ts. */
export interface UserPasswordTable {
  user_id: string;
  hash: string;
  updated: number;
}

/** A console session: SHA-256 hashes of its cookie id and of its session key, never the values. */
export interface UserSessionTable {
  id_hash: string;
  key_hash: string;
  user_id: string;
  created: number;
  last_seen: number;
}

export interface VmTable {
  id: string;
  instance_name: string;
  display_name: string;
  state: string;
  host_id: string | null;
  last_host_id: string | null;
  account_id: string;
  zone_id: string;
  hypervisor: string;
  memory_mb: number;
  cpus: number;
  update_count: number;
  created: number;
  removed: number | null;
}

export interface VolumeTable {
  id: string;
  vm_id: string | null;
  name: string;
  type: string;
  pool_id: string;
  format: string;
  path: string;
  size: number;
  device_id: number;
  state: string;
  created: number;
  removed: number | null;
}

export interface VmSnapshotTable {
  id: string;
  vm_id: string;
  account_id: string;
  name: string;
  display_name: string;
  description: string;
  type: string;
  state: string;
  parent_id: string | null;
  current: number;
  strategy: string | null;
  quiesce: number;
  /** JSON: request options (memory mode, quiesce policy). */
  options: string;
  /** JSON: facts shown in the API (consistency, freeze window, phase times). */
  details: string;
  update_count: number;
  created: number;
  updated: number;
  removed: number | null;
  /** Migration 0017: the policy that took the snapshot; null for a manual one. */
  policy_id: Generated<string | null>;
}

/**
 * How many live (not removed) snapshots each account has in each state, kept by triggers on
 * vm_snapshots (migration 0013): listVMSnapshot's `count` without counting a million rows.
 */
export interface VmSnapshotCountTable {
  account_id: string;
  state: string;
  n: number;
}

export interface VmSnapshotVolumeTable {
  snapshot_id: string;
  volume_id: string;
  driver: string;
  path: string;
  size: number;
  ref: string | null;
}

export interface AsyncJobTable {
  /** Monotonic: the order of jobs within one queue. */
  seq: Generated<number>;
  id: string;
  account_id: string;
  user_id: string;
  /** CloudStack command class name, e.g. org.apache.cloudstack.api.command.user.vmsnapshot.CreateVMSnapshotCmd. */
  cmd: string;
  /** Handler name, e.g. vmsnapshot.create. */
  kind: string;
  /** Jobs with the same key run strictly one after another (the VM id). */
  queue_key: string;
  instance_type: string | null;
  instance_id: string | null;
  payload: string;
  /** queued | running | succeeded | failed */
  status: string;
  result_code: number;
  result: string | null;
  progress: string | null;
  owner: string | null;
  lease_until: number | null;
  attempts: number;
  created: number;
  started: number | null;
  completed: number | null;
}

export interface EventTable {
  id: string;
  account_id: string;
  user_id: string | null;
  type: string;
  level: string;
  state: string;
  description: string;
  resource_type: string | null;
  resource_id: string | null;
  created: number;
}

export interface SettingTable {
  name: string;
  value: string;
  updated: number;
}

export interface ResourceTagTable {
  id: string;
  key: string;
  value: string;
  resource_type: string;
  resource_id: string;
  account_id: string;
  created: number;
}

/**
 * updateResourceLimit's per-account overrides (issue 9, item 4). An account without a row for a
 * type has the `max.account.*` setting's default. `max` is in the type's unit: a count, MiB for
 * memory, bytes for primary storage (the API speaks GiB, as CloudStack); -1 is unlimited.
 */
export interface ResourceLimitTable {
  account_id: string;
  /** CloudStack's Resource.ResourceType ordinal: 0, 2, 8, 9 or 10. */
  resource_type: number;
  max: number;
  updated: number;
}

/** The simulated zone, shared by every management server (issue 12): see simulator-world-store.ts. */
export interface SimulatorObjectTable {
  kind: string;
  name: string;
  /** JSON text, checked by the simulator when read. */
  body: string;
  version: number;
  position: number;
  updated: number;
}

/** A host-side command a simulated host applied, with the job that sent it (migration 0020). */
export interface SimulatorCommandTable {
  id: string;
  kind: string;
  job_id: string | null;
  vm_name: string;
  snapshot_name: string | null;
  snapshot_id: string | null;
  host_id: string;
  started: number;
  finished: number;
}

/** PluginHost.store: plugins' documents shared by every server (issue 12). */
export interface PluginDocumentTable {
  key: string;
  value: string;
  version: number;
  updated: number;
}

/** One management server process (issue 12): listManagementServers, heartbeats. */
export interface ManagementServerTable {
  id: string;
  name: string;
  host: string;
  port: number;
  version: string;
  started: number;
  last_heartbeat: number;
  stopped: number | null;
  /** Up | Down */
  state: string;
}

/** One row (id 1): bumped by every settings write, so every server knows to re-read them. */
export interface SettingsVersionTable {
  id: number;
  version: number;
}

/** A VM snapshot policy (migration 0017): a VM's schedule and retention, and its last run. */
export interface VmSnapshotPolicyTable {
  id: string;
  vm_id: string;
  account_id: string;
  domain_id: string;
  user_id: string;
  /** 'interval' | 'cron' */
  schedule_kind: string;
  interval_type: string | null;
  schedule: string | null;
  cron: string | null;
  timezone: string;
  maxsnaps: number | null;
  keep_hourly: number | null;
  keep_daily: number | null;
  keep_weekly: number | null;
  keep_monthly: number | null;
  keep_yearly: number | null;
  snapshot_memory: number;
  quiesce: number;
  description: string;
  created: number;
  updated: number;
  removed: number | null;
  last_slot: number | null;
  last_run_started: number | null;
  last_run_outcome: string | null;
  last_run_reason: string | null;
}

/** One run of a policy: UNIQUE (policy_id, slot) is the exactly-once claim (migration 0017). */
export interface VmSnapshotPolicyRunTable {
  id: string;
  policy_id: string;
  slot: number;
  outcome: string;
  reason: string;
  late_ms: number;
  attempts: number;
  next_attempt: number;
  owner: string | null;
  lease_until: number | null;
  snapshot_id: string | null;
  job_id: string | null;
  /** JSON array of job ids. */
  prune_jobs: string;
  update_count: number;
  started: number;
  finished: number | null;
}

export interface Database {
  zones: ZoneTable;
  hosts: HostTable;
  storage_pools: StoragePoolTable;
  accounts: AccountTable;
  users: UserTable;
  user_passwords: UserPasswordTable;
  user_sessions: UserSessionTable;
  vms: VmTable;
  volumes: VolumeTable;
  vm_snapshots: VmSnapshotTable;
  vm_snapshot_volumes: VmSnapshotVolumeTable;
  vm_snapshot_counts: VmSnapshotCountTable;
  async_jobs: AsyncJobTable;
  events: EventTable;
  settings: SettingTable;
  resource_tags: ResourceTagTable;
  resource_limits: ResourceLimitTable;
  management_servers: ManagementServerTable;
  settings_version: SettingsVersionTable;
  simulator_objects: SimulatorObjectTable;
  simulator_commands: SimulatorCommandTable;
  plugin_documents: PluginDocumentTable;
  vm_snapshot_policies: VmSnapshotPolicyTable;
  vm_snapshot_policy_runs: VmSnapshotPolicyRunTable;
}

export type VmRow = Selectable<VmTable>;
export type VolumeRow = Selectable<VolumeTable>;
export type HostRow = Selectable<HostTable>;
export type PoolRow = Selectable<StoragePoolTable>;
export type VmSnapshotRow = Selectable<VmSnapshotTable>;
export type VmSnapshotVolumeRow = Selectable<VmSnapshotVolumeTable>;
export type AsyncJobRow = Selectable<AsyncJobTable>;
export type NewAsyncJob = Insertable<AsyncJobTable>;
export type AsyncJobUpdate = Updateable<AsyncJobTable>;
export type AccountRow = Selectable<AccountTable>;
export type UserRow = Selectable<UserTable>;
export type EventRow = Selectable<EventTable>;
export type ZoneRow = Selectable<ZoneTable>;
export type TagRow = Selectable<ResourceTagTable>;
export type ManagementServerRow = Selectable<ManagementServerTable>;
