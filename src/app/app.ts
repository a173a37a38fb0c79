/**
 * The composition root: the only place that knows every layer. It opens the store, builds the
 * strategy registry (built-ins, then plugins from config), wires hosts to their agents (simulator or
 * a QEMU host agent over HTTP) and starts the job queue, which recovers interrupted work first.
 */
import { join } from 'node:path';
import pino from 'pino';
import type { HypervisorAgent, Logger } from '../core/plugin-api.ts';
import { SimulatorWorld } from '../hypervisors/simulator/index.ts';
import { HostManager } from '../manager/host-manager.ts';
import { purgeExpired, type PurgeCounts } from '../jobs/job-purge.ts';
import { JobQueue } from '../jobs/job-queue.ts';
import { TimedAgentGateway } from '../manager/agent-gateway.ts';
import { redactHostFailures } from '../manager/host-failure-redaction.ts';
import { internalFailureReporter } from '../manager/internal-failure.ts';
import type { Caller } from '../manager/caller.ts';
import type { ManagerDeps } from '../manager/manager-deps.ts';
import { deleteExpiredSnapshots } from '../manager/snapshot-expiry.ts';
import { StrategyRegistry } from '../manager/strategy-registry.ts';
import { VmManager } from '../manager/vm-manager.ts';
import { VmSnapshotManager } from '../manager/vm-snapshot-manager.ts';
import { VmSnapshotWorker } from '../manager/vm-snapshot-worker.ts';
import { checkPluginFiles, loadPlugins, type LoadedPlugin } from '../plugins/plugin-loader.ts';
import type { ApiServices } from '../api/api-services.ts';
import { AccountStore } from '../store/account-store.ts';
import { openStore, type OpenedStore } from '../store/database.ts';
import { EventStore } from '../store/event-store.ts';
import { InventoryStore } from '../store/inventory-store.ts';
import { SettingsStore } from '../store/settings-store.ts';
import { VmSnapshotStore } from '../store/vm-snapshot-store.ts';
import { HypervisorVmSnapshotStrategy } from '../strategies/hypervisor-strategy.ts';
import { StorageVmSnapshotStrategy } from '../strategies/storage-strategy.ts';
import type { AppConfig } from './app-config.ts';
import { AgentDirectory } from './agent-directory.ts';
import { createApiServices } from './api-services.ts';
import { preparePrivateDir } from './data-dir.ts';
import { openSecretBox } from './secret-key.ts';

export interface AppOptions {
  readonly config: AppConfig;
  readonly log?: Logger;
  /** Simulator options for tests (short guest-agent timeouts). */
  readonly simulator?: { guestAgentTimeoutMs?: number };
  /** Extra strategies registered after the built-ins (tests). */
  readonly strategies?: readonly import('../core/plugin-api.ts').VmSnapshotStrategy[];
  readonly jobLeaseMs?: number;
  readonly expiryIntervalMs?: number;
  readonly heartbeatIntervalMs?: number;
  /** How often finished jobs and old events are purged (job.expire.minutes, event.purge.delay). */
  readonly purgeIntervalMs?: number;
}

export class App {
  readonly deps: ManagerDeps;
  readonly snapshotManager: VmSnapshotManager;
  readonly vmManager: VmManager;
  readonly worker: VmSnapshotWorker;
  readonly hostManager: HostManager;
  readonly simulator: SimulatorWorld;
  readonly plugins: LoadedPlugin[] = [];
  /** What the API may ask for: `buildServer(app)` serves through it. */
  readonly apiServices: ApiServices;
  private expiryTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private purgeTimer: NodeJS.Timeout | undefined;
  /** Periodic work in flight, by name: one at a time each, awaited by stop(). */
  private readonly ticking = new Map<string, Promise<void>>();

  private constructor(
    readonly config: AppConfig,
    readonly store: OpenedStore,
    deps: ManagerDeps,
    simulator: SimulatorWorld,
    private readonly directory: AgentDirectory,
    private readonly options: AppOptions,
  ) {
    this.deps = deps;
    this.simulator = simulator;
    this.snapshotManager = new VmSnapshotManager(deps);
    this.worker = new VmSnapshotWorker(deps);
    this.vmManager = new VmManager(deps, this.worker);
    this.hostManager = new HostManager(deps, deps.agents);
    this.apiServices = createApiServices(this);
  }

  static async open(options: AppOptions): Promise<App> {
    const { config } = options;
    const log = options.log ?? pino({ level: process.env['VMSNAP_LOG_LEVEL'] ?? 'info' });
    // What the server obeys is checked as found, before narrowing the modes could hide a change.
    await checkPluginFiles(config.plugins, config.pluginBaseDir);
    const secrets = openSecretBox(config.dataDir);
    preparePrivateDir(config.dataDir, log);
    const store = await openStore({ url: config.databaseUrl, secrets }, log);
    const settings = new SettingsStore(store.db);
    await settings.load();
    const simulator = new SimulatorWorld({
      path: join(config.dataDir, 'simulator', 'world.db'),
      ...(options.simulator?.guestAgentTimeoutMs !== undefined
        ? { guestAgentTimeoutMs: options.simulator.guestAgentTimeoutMs }
        : {}),
    });
    const inventory = new InventoryStore(store.db);
    const registry = new StrategyRegistry();
    const jobs = new JobQueue({
      db: store.db,
      log,
      concurrency: config.jobConcurrency,
      ...(options.jobLeaseMs !== undefined ? { leaseMs: options.jobLeaseMs } : {}),
    });
    const directory = new AgentDirectory(inventory, simulator);
    const gateway = new TimedAgentGateway(
      (hostId) => directory.agentFor(hostId),
      () => settings.getNumber('vmsnapshot.create.wait') * 1000,
    );
    const events = new EventStore(store.db);
    // The one gateway of every manager and strategy: a host's raw failure text reaches tenants only
    // as a summary with an error id, and is reported (logged, recorded for admins) exactly once.
    const agents = redactHostFailures(gateway, internalFailureReporter({ db: store.db, events, log }));
    const deps: ManagerDeps = {
      db: store.db,
      inventory,
      snapshots: new VmSnapshotStore(store.db),
      settings,
      events,
      registry,
      agents,
      jobs,
      log,
    };
    const app = new App(config, store, deps, simulator, directory, options);
    registry.registerStrategy(new HypervisorVmSnapshotStrategy());
    registry.registerStrategy(new StorageVmSnapshotStrategy());
    for (const s of options.strategies ?? []) registry.registerStrategy(s);
    try {
      app.plugins.push(
        ...(await loadPlugins(
          config.plugins,
          {
            registerStrategy: (s) => registry.registerStrategy(s),
            registerStorageDriver: (d) => registry.registerStorageDriver(d),
            dataDir: config.dataDir,
            log,
          },
          config.pluginBaseDir,
        )),
      );
    } catch (err) {
      // A plugin that fails to load must not leave the database and simulator open behind it.
      simulator.dispose();
      await store.close();
      throw err;
    }
    app.worker.register();
    app.vmManager.register();
    return app;
  }

  /** Starts the job queue (recovering interrupted work first) and the expiry sweep. */
  async start(): Promise<void> {
    // SQLite is single-node: any job still "running" belongs to a dead previous process.
    if (this.store.dialect === 'sqlite') await this.deps.jobs.releaseAllLeases();
    await this.deps.jobs.start();
    const every = this.options.expiryIntervalMs ?? 60_000;
    this.expiryTimer = setInterval(() => this.tick('expiry', () => this.expireNow()), every);
    this.heartbeatTimer = setInterval(
      () => this.tick('heartbeat', () => this.heartbeat()),
      this.options.heartbeatIntervalMs ?? 10_000,
    );
    this.purgeTimer = setInterval(
      () => this.tick('purge', () => this.purgeNow()),
      this.options.purgeIntervalMs ?? 60_000,
    );
  }

  /** Runs periodic work unless the previous round is still going; failures are logged. */
  private tick(name: string, work: () => Promise<unknown>): void {
    if (this.ticking.has(name)) return;
    const round = work()
      .then(() => undefined)
      .catch((err: unknown) => this.deps.log.warn({ err }, `${name} failed`))
      .finally(() => this.ticking.delete(name));
    this.ticking.set(name, round);
  }

  /** One heartbeat of every agent-backed host; VMs the agents report are imported for the admin. */
  async heartbeat(): Promise<void> {
    const system = await this.systemCaller();
    if (system === undefined) return;
    await this.hostManager
      .heartbeatAll(system.accountId)
      .catch((err: unknown) => this.deps.log.warn({ err }, 'heartbeat failed'));
  }

  async expireNow(now = Date.now()): Promise<string[]> {
    const system = await this.systemCaller();
    if (system === undefined) return [];
    return deleteExpiredSnapshots(this.deps, this.snapshotManager, system, now);
  }

  /** One retention round: finished jobs and old events past their retention, in bounded batches. */
  async purgeNow(now = Date.now()): Promise<PurgeCounts> {
    return purgeExpired(this.deps, now);
  }

  async stop(): Promise<void> {
    clearInterval(this.expiryTimer);
    clearInterval(this.heartbeatTimer);
    clearInterval(this.purgeTimer);
    await Promise.allSettled([...this.ticking.values()]);
    await this.deps.jobs.stop();
    this.simulator.dispose();
    await this.store.close();
  }

  /** The agent serving a host: the in-process simulator, or the host's agent over HTTP. */
  /** The agent serving a host: the in-process simulator, or the host's agent over HTTP. */
  agentFor(hostId: string): Promise<HypervisorAgent> {
    return this.directory.agentFor(hostId);
  }

  /** The first admin user: acts for the system (expiry). */
  async systemCaller(): Promise<Caller | undefined> {
    const row = await new AccountStore(this.deps.db).firstAdminUser();
    return row === undefined ? undefined : { ...row, isAdmin: true };
  }
}
