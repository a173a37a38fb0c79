/** What the manager layer is built from; the composition root (app.ts) fills it in. */
import type { AgentGateway, Logger } from '../core/plugin-api.ts';
import type { JobQueue } from '../jobs/job-queue.ts';
import type { Db } from '../store/database.ts';
import type { EventStore } from '../store/event-store.ts';
import type { InventoryStore } from '../store/inventory-store.ts';
import type { SettingsStore } from '../store/settings-store.ts';
import type { VmSnapshotStore } from '../store/vm-snapshot-store.ts';
import type { StrategyRegistry } from './strategy-registry.ts';

export interface ManagerDeps {
  readonly db: Db;
  readonly inventory: InventoryStore;
  readonly snapshots: VmSnapshotStore;
  readonly settings: SettingsStore;
  readonly events: EventStore;
  readonly registry: StrategyRegistry;
  readonly agents: AgentGateway;
  readonly jobs: JobQueue;
  readonly log: Logger;
}
