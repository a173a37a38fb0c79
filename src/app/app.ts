/**
 * The composition root: the only place that knows every layer. It opens the store, builds the
 * strategy registry (built-ins, then plugins from config), wires hosts to their agents (simulator or
 * a QEMU host agent over HTTP) and starts the job queue, which recovers interrupted work first.
 */
import pino from 'pino';
import type { HypervisorAgent, Logger } from '../core/plugin-api.ts';
import { SimulatorWorld } from '../hypervisors/simulator/index.ts';
import { SimulatorWorldStore } from '../store/simulator-world-store.ts';
import { PluginDocumentStore } from '../store/plugin-document-store.ts';
import { HostManager } from '../manager/host-manager.ts';
import { purgeExpired, type PurgeCounts } from '../jobs/job-purge.ts';
import { JobQueue, type StopReport } from '../jobs/job-queue.ts';
import { TimedAgentGateway } from '../manager/agent-gateway.ts';
import { redactHostFailures } from '../manager/host-failure-redaction.ts';
import { internalFailureReporter } from '../manager/internal-failure.ts';
import type { Caller } from '../manager/caller.ts';
import type { ManagerDeps } from '../manager/manager-deps.ts';
import { deleteExpiredSnapshots } from '../manager/snapshot-expiry.ts';
import { StrategyRegistry } from '../manager/strategy-registry.ts';
import { builtinStorageDrivers } from './builtin-storage-drivers.ts';
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
import { releaseHeartbeatLeases } from '../store/host-lease-store.ts';
import { VmSnapshotStore } from '../store/vm-snapshot-store.ts';
import { HypervisorVmSnapshotStrategy } from '../strategies/hypervisor-strategy.ts';
import { StorageVmSnapshotStrategy } from '../strategies/storage-strategy.ts';
import { BtrfsStorageDriver } from '../storage-drivers/btrfs/index.ts';
import type { AppConfig } from './app-config.ts';
import { AgentDirectory } from './agent-directory.ts';
import { createApiServices } from './api-services.ts';
import { preparePrivateDir } from './data-dir.ts';
import { ClusterMembership, vmsnapVersion, type ServerAddress } from './cluster-membership.ts';
import { acquireServerLock, lockFileFor, type ServerLock } from './single-server-lock.ts';
import { ManagementServerStore } from '../store/management-server-store.ts';
import { openSecretBox } from './secret-key.ts';
import { PolicyScheduler } from '../jobs/policy-scheduler.ts';
import { DEFAULT_RUN_OPTIONS, PolicyRunSteps, type PolicyRunOptions } from '../manager/policy-run-steps.ts';
import { VmSnapshotPolicyManager } from '../manager/vm-snapshot-policy-manager.ts';
import { PolicyRunStore } from '../store/vm-snapshot-policy-run-store.ts';
import { VmSnapshotPolicyStore } from '../store/vm-snapshot-policy-store.ts';

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
  /** How often this server beats its management-server row and checks the settings version. */
  readonly clusterIntervalMs?: number;
  /** How often the job queue looks for jobs whose owner died. */
  readonly recoverEveryMs?: number;
  /** VM snapshot policies (issue 13): how often the scheduler ticks, and its clock (tests). */
  readonly policyIntervalMs?: number;
  readonly policyClock?: () => number;
  /** Retry and poll timing of policy runs (tests). */
  readonly policyRuns?: Partial<Pick<PolicyRunOptions, 'retryMs' | 'maxAttempts' | 'pollMs'>>;
}

/** What App.stop does with jobs still running (SIGTERM: a bound, then they are handed back). */
export interface AppStopOptions {
  readonly handBackAfterMs?: number;
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
  private clusterTimer: NodeJS.Timeout | undefined;
  /** Held while this App is open on a SQLite database: one server per SQLite data dir. */
  private lock: ServerLock | undefined;
  /** This server's row among the management servers, its heartbeat and settings refresh. */
  readonly cluster: ClusterMembership;
  readonly managementServers: ManagementServerStore;
  /** VM snapshot policies (issue 13): their API operations, run steps and timer. */
  readonly policies: VmSnapshotPolicyStore;
  readonly policyRuns: PolicyRunStore;
  readonly policyManager: VmSnapshotPolicyManager;
  readonly policyRunSteps: PolicyRunSteps;
  readonly policyScheduler: PolicyScheduler;
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
    this.managementServers = new ManagementServerStore(deps.db);
    this.cluster = new ClusterMembership({
      serverId: deps.jobs.ownerId,
      version: vmsnapVersion(),
      servers: this.managementServers,
      settings: deps.settings,
      events: deps.events,
      accounts: new AccountStore(deps.db),
      log: deps.log,
    });
    this.policies = new VmSnapshotPolicyStore(deps.db);
    this.policyRuns = new PolicyRunStore(deps.db);
    this.policyManager = new VmSnapshotPolicyManager(deps, this.policies, this.policyRuns);
    const leaseMs = (): number => deps.jobs.leaseMs;
    this.policyRunSteps = new PolicyRunSteps(deps, this.snapshotManager, this.policies, this.policyRuns, {
      ...DEFAULT_RUN_OPTIONS,
      ...options.policyRuns,
      ownerId: deps.jobs.ownerId,
      leaseMs,
    });
    this.policyScheduler = new PolicyScheduler({
      policies: this.policies,
      runs: this.policyRuns,
      stepper: this.policyRunSteps,
      ownerId: deps.jobs.ownerId,
      leaseMs,
      log: deps.log,
      ...(options.policyClock !== undefined ? { clock: options.policyClock } : {}),
      ...(options.policyIntervalMs !== undefined ? { intervalMs: options.policyIntervalMs } : {}),
    });
    this.apiServices = createApiServices(this);
  }

  static async open(options: AppOptions): Promise<App> {
    const { config } = options;
    const log = options.log ?? pino({ level: process.env['VMSNAP_LOG_LEVEL'] ?? 'info' });
    // What the server obeys is checked as found, before narrowing the modes could hide a change.
    await checkPluginFiles(config.plugins, config.pluginBaseDir);
    const secrets = openSecretBox(config.dataDir);
    preparePrivateDir(config.dataDir, log);
    // Before the database is touched: a second server on a SQLite data dir is refused here.
    const lockFile = lockFileFor(config.databaseUrl);
    const lock = lockFile === undefined ? undefined : acquireServerLock(lockFile, config.dataDir);
    let store: OpenedStore;
    let settings: SettingsStore;
    try {
      store = await openStore({ url: config.databaseUrl, secrets }, log);
      settings = new SettingsStore(store.db);
      await settings.load().catch(async (err: unknown) => {
        await store.close();
        throw err;
      });
    } catch (err) {
      lock?.release();
      throw err;
    }
    // The simulated zone is in the management database: every server acts for every simulated host.
    const simulator = await SimulatorWorld.open({
      persistence: new SimulatorWorldStore(store.db, store.dialect),
      ...(options.simulator?.guestAgentTimeoutMs !== undefined
        ? { guestAgentTimeoutMs: options.simulator.guestAgentTimeoutMs }
        : {}),
    }).catch(async (err: unknown) => {
      // A simulated zone that cannot be read (a corrupt row) leaves nothing open behind it.
      await store.close();
      lock?.release();
      throw err;
    });
    const inventory = new InventoryStore(store.db);
    const registry = new StrategyRegistry();
    const jobs = new JobQueue({
      db: store.db,
      log,
      concurrency: config.jobConcurrency,
      leaseMs: options.jobLeaseMs ?? (() => settings.getNumber('job.lease.seconds') * 1000),
      ...(options.recoverEveryMs !== undefined ? { recoverEveryMs: options.recoverEveryMs } : {}),
      // The App exists by the time a job is taken over (the queue starts in App.start).
      onTakeover: (t) => app.cluster.recordTakeover(t),
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
    app.lock = lock;
    registry.registerStrategy(new HypervisorVmSnapshotStrategy());
    registry.registerStrategy(new StorageVmSnapshotStrategy());
    for (const d of builtinStorageDrivers()) registry.registerStorageDriver(d);
    // Host-local disks: the driver works through the pool's host agent.
    registry.registerStorageDriver(new BtrfsStorageDriver(agents));
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
            agents,
            // Shared by every server: plugin state must not live in one server's data dir.
            store: new PluginDocumentStore(store.db),
          },
          config.pluginBaseDir,
        )),
      );
    } catch (err) {
      // A plugin that fails to load must not leave the database and simulator open behind it.
      simulator.dispose();
      await store.close();
      lock?.release();
      throw err;
    }
    app.worker.register();
    app.vmManager.register();
    return app;
  }

  /**
   * Joins the management servers (its row and heartbeat, the settings refresh), then starts the job
   * queue (recovering interrupted work first) and the periodic sweeps. `address`: where the API
   * listens (serve opens its port before this, so no job is taken by a server that cannot serve).
   */
  async start(address?: ServerAddress): Promise<void> {
    await this.cluster.join(address);
    this.clusterTimer = setInterval(
      () => this.tick('cluster', () => this.cluster.beat()),
      this.options.clusterIntervalMs ?? 500,
    );
    // Only under the data dir's exclusive lock (App.open): any job still "running" in this SQLite
    // database belongs to a dead previous process, never to a live second server.
    if (this.lock !== undefined) await this.deps.jobs.releaseAllLeases();
    await this.deps.jobs.start();
    // After the queue: a policy run queues jobs, and finishes runs whose server died.
    this.policyScheduler.start();
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
      .heartbeatAll(system.accountId, {
        owner: this.deps.jobs.ownerId,
        leaseMs: 3 * (this.options.heartbeatIntervalMs ?? 10_000),
      })
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

  /** Stops the sweeps and the queue (bounded with `handBackAfterMs`), leaves the cluster, closes. */
  async stop(options: AppStopOptions = {}): Promise<StopReport> {
    clearInterval(this.expiryTimer);
    clearInterval(this.heartbeatTimer);
    clearInterval(this.purgeTimer);
    clearInterval(this.clusterTimer);
    await Promise.allSettled([...this.ticking.values()]);
    await this.policyScheduler.stop();
    const report = await this.deps.jobs.stop(options);
    // Another server takes over this one's hosts at its next heartbeat, not a lease later.
    await releaseHeartbeatLeases(this.deps.db, this.deps.jobs.ownerId).catch((err: unknown) =>
      this.deps.log.warn({ err }, 'could not hand the host heartbeats back'),
    );
    await this.cluster
      .leave()
      .catch((err: unknown) => this.deps.log.warn({ err }, 'could not mark this server stopped'));
    this.simulator.dispose();
    await this.store.close();
    this.lock?.release();
    this.lock = undefined;
    return report;
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
