/**
 * Everything an API command may ask of the rest of vmsnap, and nothing more: reads of the store,
 * the managers' operations (which check the caller's access and write), the job queue's answers and
 * the settings. The composition root implements it (src/app/api-services.ts); the API layer sees no
 * database, no kysely and no App, so a command cannot reach past the managers' checks.
 */
import type { Logger, StorageDriver } from '../core/plugin-api.ts';
import type { SimulatorWorld } from '../hypervisors/simulator/index.ts';
import type { JobQueue } from '../jobs/job-queue.ts';
import type { Caller } from '../manager/caller.ts';
import type { HostManager } from '../manager/host-manager.ts';
import type { ResourceLimitManager } from '../manager/resource-limits.ts';
import type { StoragePoolManager } from '../manager/storage-pool-manager.ts';
import type { TaggedResourceType } from '../manager/tag-manager.ts';
import type { VmManager } from '../manager/vm-manager.ts';
import type { VmSnapshotManager } from '../manager/vm-snapshot-manager.ts';
import type { VmSnapshotPolicyManager } from '../manager/vm-snapshot-policy-manager.ts';
import type { PolicyListFilter, StoredVmSnapshotPolicy } from '../store/vm-snapshot-policy-store.ts';
import type { SessionManager } from '../manager/session-manager.ts';
import type { AccountStore, UserWithAccount } from '../store/account-store.ts';
import type { DatabaseHealth } from '../store/database-health.ts';
import type { EventFilter } from '../store/event-store.ts';
import type { InventoryStore, StoredVm } from '../store/inventory-store.ts';
import type { JobFilter } from '../store/job-list-store.ts';
import type { ManagementServerView } from '../store/management-server-store.ts';
import type { PageRequest, PageResult } from '../store/list-page.ts';
import type { NameIds, NameRow, TagScope } from '../store/name-lookup-store.ts';
import type { AsyncJobRow, EventRow, TagRow, ZoneRow } from '../store/schema.ts';
import type { SettingsStore } from '../store/settings-store.ts';
import type { TagFilter, TagSelector } from '../store/tag-store.ts';
import type { ListedVmSnapshot, SnapshotListFilter } from '../store/vm-snapshot-list-store.ts';
import type { VmListFilter } from '../store/vm-list-store.ts';
import type { ListedVolume, VolumeListFilter } from '../store/volume-list-store.ts';
import type { VmSnapshotStore } from '../store/vm-snapshot-store.ts';

export interface AccountServices extends Pick<
  AccountStore,
  | 'findAccountByName'
  | 'findByUsername'
  | 'listAccounts'
  | 'usersOf'
  | 'getUser'
  | 'getAccount'
  | 'registerKeys'
  | 'createAccountWithoutKeys'
  | 'passwordHashOf'
  | 'setPasswordHash'
> {
  /** The user an API key belongs to, with its account (authentication). */
  credentialsFor(apiKey: string): Promise<UserWithAccount | undefined>;
}

export interface TagServices {
  list(filter: TagFilter, page: PageRequest): Promise<PageResult<TagRow>>;
  create(
    caller: Caller,
    type: TaggedResourceType,
    ids: readonly string[],
    tags: readonly { key: string; value: string }[],
  ): Promise<void>;
  delete(
    caller: Caller,
    type: TaggedResourceType,
    ids: readonly string[],
    selectors: readonly TagSelector[],
  ): Promise<void>;
}

export interface ApiServices {
  readonly log: Logger;
  readonly settings: Pick<SettingsStore, 'get' | 'getNumber' | 'set'>;
  readonly accounts: AccountServices;
  readonly inventory: Pick<InventoryStore, 'getVm' | 'listVms' | 'volumesOf' | 'listHosts' | 'listPools'>;
  readonly zones: { list(): Promise<ZoneRow[]> };
  /** listVolumes' page, read in SQL. */
  readonly volumes: {
    listPage(filter: VolumeListFilter, page: PageRequest): Promise<PageResult<ListedVolume>>;
  };
  /** listVirtualMachines' page, read in SQL. */
  readonly vms: { listPage(filter: VmListFilter, page: PageRequest): Promise<PageResult<StoredVm>> };
  readonly snapshots: Pick<VmSnapshotStore, 'get' | 'listByVm'> & {
    /** listVMSnapshot's page, read in SQL. */
    listPage(filter: SnapshotListFilter, page: PageRequest): Promise<PageResult<ListedVmSnapshot>>;
  };
  /** Names for responses (accounts, users, zones, hosts, pools) and the tags in scope. */
  readonly names: {
    all(): Promise<NameRow[]>;
    /** Only these names, read by key. */
    of(ids: NameIds): Promise<NameRow[]>;
    tagsIn(scopes: readonly TagScope[]): Promise<TagRow[]>;
  };
  readonly events: { list(filter: EventFilter, page: PageRequest): Promise<PageResult<EventRow>> };
  readonly jobs: Pick<JobQueue, 'get' | 'recordCompleted' | 'activeCount'> & {
    list(filter: JobFilter, page: PageRequest): Promise<PageResult<AsyncJobRow>>;
  };
  readonly tags: TagServices;
  readonly snapshotManager: Pick<VmSnapshotManager, 'create' | 'revert' | 'delete'>;
  readonly vmManager: Pick<VmManager, 'deploy' | 'start' | 'stop'>;
  readonly hostManager: Pick<HostManager, 'addHost'>;
  readonly limits: Pick<ResourceLimitManager, 'resolveOwner' | 'list' | 'update' | 'counts'>;
  readonly storageDrivers: ReadonlyMap<string, StorageDriver>;
  /** The management servers sharing the database, Up while they beat (listManagementServers). */
  readonly managementServers: { list(): Promise<ManagementServerView[]> };
  /** Pools declared through the API (admin commands; the manager validates with the provider). */
  readonly storagePools: Pick<
    StoragePoolManager,
    'providers' | 'create' | 'update' | 'delete' | 'list' | 'view'
  >;
  readonly simulator: Pick<SimulatorWorld, 'configureDurably' | 'faults'>;
  /** VM snapshot policies (issue 13): the manager's checked writes, and the list page in SQL. */
  readonly policies: Pick<VmSnapshotPolicyManager, 'create' | 'update' | 'delete' | 'preview'> & {
    listPage(filter: PolicyListFilter, page: PageRequest): Promise<PageResult<StoredVmSnapshotPolicy>>;
  };
  /** Logins and console sessions (login, logout, session authentication; issue 14). */
  readonly sessions: Pick<
    SessionManager,
    'login' | 'resolve' | 'logout' | 'timeoutSeconds' | 'endSessionsOf'
  >;
  /** Whether this server can reach the management database (`/health`, for load balancers). */
  health(): Promise<DatabaseHealth>;
}
