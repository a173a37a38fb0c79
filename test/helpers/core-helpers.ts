/**
 * Shared helpers of the core tests: reopening an App on an existing data dir (restart tests), callers
 * by account name, waiting for jobs, and the check that the database and the simulator agree.
 */
import { App, type AppOptions } from '../../src/app/app.ts';
import { loadConfig } from '../../src/app/app-config.ts';
import type { Caller } from '../../src/manager/caller.ts';
import { AccountStore } from '../../src/store/account-store.ts';
import type { AsyncJobRow } from '../../src/store/schema.ts';
import type { StoredVmSnapshot } from '../../src/store/vm-snapshot-store.ts';
import { eventually } from './eventually.ts';
import { quietLog } from './test-app.ts';

export { eventually };

export interface ReopenedApp {
  readonly app: App;
  readonly admin: Caller;
  readonly demo: Caller;
}

/** Opens an App on a data dir that was seeded before (no seeding); `start` defaults to true. */
export async function reopenApp(
  dir: string,
  opts: Partial<AppOptions> & { start?: boolean; plugins?: AppOptions['config']['plugins'] } = {},
): Promise<ReopenedApp> {
  const config = loadConfig(dir, { plugins: opts.plugins ?? [] });
  const app = await App.open({
    config,
    log: quietLog,
    simulator: { guestAgentTimeoutMs: 300 },
    ...opts,
  });
  if (opts.start ?? true) await app.start();
  return { app, admin: await callerFor(app, 'admin'), demo: await callerFor(app, 'demo') };
}

/** The first user of an account, as a manager Caller. */
export async function callerFor(app: App, accountName: string): Promise<Caller> {
  const accounts = new AccountStore(app.deps.db);
  const account = await accounts.findAccountByName(accountName);
  if (account === undefined) throw new Error(`no account ${accountName}`);
  const user = (await accounts.usersOf(account.id))[0];
  if (user === undefined) throw new Error(`account ${accountName} has no user`);
  return {
    accountId: account.id,
    accountName: account.name,
    userId: user.id,
    isAdmin: account.role === 'admin',
  };
}

/** Waits for a job and returns its row with the parsed result. */
export async function waitJob(
  app: App,
  jobId: string,
): Promise<AsyncJobRow & { parsed: Record<string, unknown> }> {
  const row = await app.deps.jobs.waitFor(jobId, 20_000);
  return { ...row, parsed: row.result === null ? {} : (JSON.parse(row.result) as Record<string, unknown>) };
}

/** Waits until no job is queued or running. */
export async function settleJobs(app: App, timeoutMs = 15_000): Promise<AsyncJobRow[]> {
  return eventually(
    async () => {
      const rows = await app.deps.db.selectFrom('async_jobs').selectAll().execute();
      return rows.every((r) => r.status === 'succeeded' || r.status === 'failed') ? rows : undefined;
    },
    'all jobs final',
    timeoutMs,
  );
}

/**
 * Tree invariants of one VM's non-removed snapshots: at most one current, every parent exists and is
 * not removed, and following parents never loops. Returns the problems found (empty when all hold).
 */
export function treeProblems(snaps: readonly StoredVmSnapshot[]): string[] {
  const problems: string[] = [];
  const byId = new Map(snaps.map((s) => [s.id, s]));
  const current = snaps.filter((s) => s.current);
  if (current.length > 1) problems.push(`${current.length} current snapshots`);
  for (const s of snaps) {
    if (s.parentId !== null && !byId.has(s.parentId))
      problems.push(`${s.name}: parent ${s.parentId} missing`);
    const seen = new Set<string>();
    let at: StoredVmSnapshot | undefined = s;
    while (at !== undefined && at.parentId !== null) {
      if (seen.has(at.id)) {
        problems.push(`${s.name}: parent cycle`);
        break;
      }
      seen.add(at.id);
      at = byId.get(at.parentId);
    }
  }
  return problems;
}

/**
 * Where the database and the simulator disagree about a VM: power state, the snapshot set (Ready rows
 * must be exactly the simulator's snapshots; `allowDbOnly` tolerates Error rows the host never had),
 * and the current snapshot. Returns the problems found.
 */
export async function dbSimulatorProblems(
  app: App,
  vmId: string,
  opts: { checkCurrent?: boolean } = {},
): Promise<string[]> {
  const vm = await app.deps.inventory.getVm(vmId);
  if (vm === undefined) return [`VM ${vmId} missing`];
  const sim = app.simulator.inspect(vm.instanceName);
  if (sim === undefined) return [`simulator has no ${vm.instanceName}`];
  const problems: string[] = [];
  const wantPower =
    vm.state === 'Running' ? 'PowerOn' : vm.state === 'Stopped' ? 'PowerOff' : `transitional:${vm.state}`;
  if (sim.powerState !== wantPower)
    problems.push(`${vm.displayName}: DB ${vm.state}, simulator ${sim.powerState}`);
  const snaps = await app.deps.snapshots.listByVm(vm.id);
  const ready = snaps
    .filter((s) => s.state === 'Ready')
    .map((s) => s.name)
    .sort();
  const simNames = sim.snapshots.map((s) => s.name).sort();
  if (JSON.stringify(ready) !== JSON.stringify(simNames)) {
    problems.push(
      `${vm.displayName}: DB Ready ${JSON.stringify(ready)} vs simulator ${JSON.stringify(simNames)}`,
    );
  }
  if (opts.checkCurrent ?? true) {
    const current = snaps.find((s) => s.current)?.name ?? null;
    if (current !== sim.currentSnapshot) {
      problems.push(`${vm.displayName}: DB current ${current} vs simulator ${sim.currentSnapshot}`);
    }
    const byId = new Map(snaps.map((s) => [s.id, s.name]));
    for (const simSnap of sim.snapshots) {
      const row = snaps.find((s) => s.name === simSnap.name);
      const dbParent = row?.parentId == null ? null : (byId.get(row.parentId) ?? null);
      if (row !== undefined && dbParent !== simSnap.parentName) {
        problems.push(
          `${vm.displayName}: ${simSnap.name} parent DB ${dbParent} vs simulator ${simSnap.parentName}`,
        );
      }
    }
  }
  return problems;
}
