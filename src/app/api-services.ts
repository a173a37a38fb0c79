/**
 * The API's one way in (src/api/api-services.ts), built from the managers and the store: reads go
 * to store functions, writes to the managers, which check the caller's access.
 */
import type { ApiServices } from '../api/api-services.ts';
import type { SimulatorWorld } from '../hypervisors/simulator/index.ts';
import type { HostManager } from '../manager/host-manager.ts';
import type { ManagerDeps } from '../manager/manager-deps.ts';
import { ResourceLimitManager } from '../manager/resource-limits.ts';
import { StoragePoolManager } from '../manager/storage-pool-manager.ts';
import { TagManager } from '../manager/tag-manager.ts';
import type { VmManager } from '../manager/vm-manager.ts';
import type { VmSnapshotManager } from '../manager/vm-snapshot-manager.ts';
import type { VmSnapshotPolicyManager } from '../manager/vm-snapshot-policy-manager.ts';
import type { VmSnapshotPolicyStore } from '../store/vm-snapshot-policy-store.ts';
import { SessionManager } from '../manager/session-manager.ts';
import { AccountStore } from '../store/account-store.ts';
import { pingDatabase } from '../store/database-health.ts';
import { listJobs } from '../store/job-list-store.ts';
import { readNames, readNamesOf, readTagsInScopes } from '../store/name-lookup-store.ts';
import { listTags } from '../store/tag-store.ts';
import { listVmPage } from '../store/vm-list-store.ts';
import { listSnapshotPage } from '../store/vm-snapshot-list-store.ts';
import { listVolumePage } from '../store/volume-list-store.ts';
import { listZones } from '../store/zone-store.ts';
import type { ManagementServerStore } from '../store/management-server-store.ts';

export interface ApiServiceParts {
  readonly deps: ManagerDeps;
  readonly snapshotManager: VmSnapshotManager;
  readonly vmManager: VmManager;
  readonly hostManager: HostManager;
  readonly simulator: SimulatorWorld;
  readonly managementServers: ManagementServerStore;
  readonly policyManager: VmSnapshotPolicyManager;
  readonly policies: VmSnapshotPolicyStore;
}

/** How long `/health` waits for the database before it reports it unreachable. */
const HEALTH_TIMEOUT_MS = 2_000;

export function createApiServices(parts: ApiServiceParts): ApiServices {
  const { deps } = parts;
  const { db } = deps;
  const accounts = new AccountStore(db);
  const tags = new TagManager(deps);
  return {
    log: deps.log,
    settings: deps.settings,
    accounts: {
      credentialsFor: (apiKey) => accounts.findByApiKey(apiKey),
      findAccountByName: (name) => accounts.findAccountByName(name),
      listAccounts: () => accounts.listAccounts(),
      usersOf: (accountId) => accounts.usersOf(accountId),
      getUser: (id) => accounts.getUser(id),
      getAccount: (id) => accounts.getAccount(id),
      registerKeys: (userId) => accounts.registerKeys(userId),
      createAccountWithoutKeys: (name, role, profile) =>
        accounts.createAccountWithoutKeys(name, role, profile),
      findByUsername: (username) => accounts.findByUsername(username),
      passwordHashOf: (userId) => accounts.passwordHashOf(userId),
      setPasswordHash: (userId, hash) => accounts.setPasswordHash(userId, hash),
    },
    inventory: deps.inventory,
    zones: { list: () => listZones(db) },
    volumes: { listPage: (filter, page) => listVolumePage(db, filter, page) },
    vms: { listPage: (filter, page) => listVmPage(db, filter, page) },
    snapshots: {
      get: (id, includeRemoved) => deps.snapshots.get(id, includeRemoved),
      listByVm: (vmId) => deps.snapshots.listByVm(vmId),
      listPage: (filter, page) => listSnapshotPage(db, filter, page),
    },
    names: {
      all: () => readNames(db),
      of: (ids) => readNamesOf(db, ids),
      tagsIn: (scopes) => readTagsInScopes(db, scopes),
    },
    events: { list: (filter, page) => deps.events.list(filter, page) },
    jobs: {
      get: (id) => deps.jobs.get(id),
      recordCompleted: (job, result) => deps.jobs.recordCompleted(job, result),
      get activeCount() {
        return deps.jobs.activeCount;
      },
      list: (filter, page) => listJobs(db, filter, page),
    },
    tags: {
      list: (filter, page) => listTags(db, filter, page),
      create: (caller, type, ids, pairs) => tags.create(caller, type, ids, pairs),
      delete: (caller, type, ids, selectors) => tags.delete(caller, type, ids, selectors),
    },
    snapshotManager: parts.snapshotManager,
    vmManager: parts.vmManager,
    hostManager: parts.hostManager,
    limits: new ResourceLimitManager(deps),
    get storageDrivers() {
      return deps.registry.storageDrivers;
    },
    managementServers: {
      // Down once silent for a job lease: the bound after which others take over its jobs.
      list: () => parts.managementServers.list(Date.now(), deps.jobs.leaseMs),
    },
    storagePools: new StoragePoolManager(deps),
    simulator: parts.simulator,
    policies: {
      create: (caller, req) => parts.policyManager.create(caller, req),
      update: (caller, req) => parts.policyManager.update(caller, req),
      delete: (caller, ids, deleteSnapshots) => parts.policyManager.delete(caller, ids, deleteSnapshots),
      preview: (caller, req, now) => parts.policyManager.preview(caller, req, now),
      listPage: (filter, page) => parts.policies.listPage(filter, page),
    },
    sessions: new SessionManager(deps),
    // Within HAProxy's check timeout (deploy/haproxy/haproxy.cfg): a hung database is "down".
    health: () => pingDatabase(db, HEALTH_TIMEOUT_MS),
  };
}
