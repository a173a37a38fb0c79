/**
 * Kill the management server while a guest is frozen: the host agent's watchdog thaws it within the
 * budget (vdsm issue 160 left a guest frozen 7.7 h).
 *
 * The simulated hosts live in the management server's process and keep their state, freeze deadline
 * included, in the management database (`<dataDir>/vmsnap.db`, table simulator_objects). A real child process takes a quiesced storage snapshot
 * of `array-1` on a slow array, is SIGKILLed while the guest is frozen, and the App is reopened here
 * on the same data dir: after the deadline (thawed on load) or before it (the watchdog re-arms and
 * thaws at the deadline). The interrupted snapshot must be reconciled against the array.
 */
import { killHard, spawnTs, type TsChild } from '../helpers/child-process.ts';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import Database from 'better-sqlite3';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { App } from '../../src/app/app.ts';
import { loadConfig } from '../../src/app/app-config.ts';
import { until } from '../helpers/eventually.ts';
import { quietLog } from '../helpers/test-app.ts';
import { FIRST_DRIVER, jobError, snapshotsOnArray, vendorPlugin, waitUntil } from './array-fixtures.ts';
import type { ServerOptions } from './server-process.ts';

const REPO = resolve(import.meta.dirname, '../..');
const RUNNER = join(import.meta.dirname, 'server-process.ts');
/** The array call outlasts the whole test: the kill always lands while the driver is cutting. */
const ARRAY_LATENCY_MS = 3_000;

type Child = TsChild;

interface WorldVm {
  readonly frozen: boolean;
  readonly frozenAt: number | null;
  readonly freezeDeadline: number | null;
}

const dirs: string[] = [];
const children: ChildProcess[] = [];
const apps: App[] = [];
afterEach(async () => {
  for (const proc of children.splice(0)) if (proc.exitCode === null && proc.signalCode === null) proc.kill();
  for (const app of apps.splice(0)) await app.stop();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function spawnServer(dir: string, options: ServerOptions): Child {
  const child = spawnTs(RUNNER, [dir, JSON.stringify(options)], { cwd: REPO });
  children.push(child.proc);
  return child;
}

const kill = killHard;

/** The VM as the simulator's rows have it (read from the database, as another server would). */
function worldVm(dir: string, instanceName: string): WorldVm | undefined {
  const file = join(dir, 'vmsnap.db');
  if (!existsSync(file)) return undefined;
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 2000');
    const table = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'simulator_objects'")
      .get();
    if (table === undefined) return undefined;
    const row = db
      .prepare("SELECT body FROM simulator_objects WHERE kind = 'vm' AND name = ?")
      .get(instanceName) as { body: string } | undefined;
    return row === undefined ? undefined : (JSON.parse(row.body) as WorldVm);
  } finally {
    db.close();
  }
}

interface Submitted {
  readonly instanceName: string;
  readonly snapshotId: string;
  readonly jobId: string;
}

/** Starts the server, waits until the world file shows array-1 frozen, then SIGKILLs it. */
async function killWhileFrozen(dir: string, budgetMs: number): Promise<Submitted & { frozen: WorldVm }> {
  const child = spawnServer(dir, { latencyMs: ARRAY_LATENCY_MS, budgetMs });
  const line = await waitUntil(
    'the server to submit the snapshot',
    () => {
      if (child.proc.exitCode !== null) throw new Error(`server exited: ${child.stderr.join('')}`);
      return child.lines.find((l) => l.startsWith('SUBMITTED '));
    },
    20_000,
    10,
  );
  const [, instanceName, snapshotId, jobId] = line.split(' ') as [string, string, string, string];
  const frozen = await waitUntil(
    'the world file to show the guest frozen',
    () => {
      const vm = worldVm(dir, instanceName);
      return vm?.frozen === true ? vm : undefined;
    },
    10_000,
    2,
  );
  await kill(child);
  expect(child.lines.some((l) => l.startsWith('DONE'))).toBe(false);
  return { instanceName, snapshotId, jobId, frozen };
}

async function reopen(dir: string): Promise<App> {
  const app = await App.open({
    config: loadConfig(dir, { plugins: [vendorPlugin({ latencyMs: 0 })] }),
    log: quietLog,
    simulator: { guestAgentTimeoutMs: 300 },
  });
  apps.push(app);
  return app;
}

/** The interrupted create is reconciled: final, and in agreement with what the array holds. */
async function expectReconciled(app: App, s: Submitted): Promise<void> {
  await app.start();
  const job = await app.deps.jobs.waitFor(s.jobId, 10_000);
  const snap = await app.deps.snapshots.get(s.snapshotId, true);
  expect(snap?.state).toBeOneOf(['Error', 'Ready']);
  const vm = await app.deps.inventory.getVmByInstanceName(s.instanceName);
  const volumeIds = (await app.deps.inventory.volumesOf(vm!.id)).map((v) => v.id);
  const onArray = snapshotsOnArray(app, FIRST_DRIVER, volumeIds);
  if (snap?.state === 'Ready') {
    expect(job.status).toBe('succeeded');
    expect(onArray.map((refs) => refs.length)).toEqual(volumeIds.map(() => 1));
  } else {
    // Killed during the array call: the array never cut, and the snapshot says why it failed.
    expect(job.status).toBe('failed');
    expect(jobError(job)).toContain('restarted');
    expect(onArray).toEqual(volumeIds.map(() => []));
  }
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'vmsnap-watchdog-'));
  dirs.push(dir);
  return dir;
}

describe('the management server is killed while a guest is frozen', () => {
  it('the persisted deadline is within the budget; a restart after it thaws the guest on load', async () => {
    const budgetMs = 800;
    const dir = tempDir();
    const s = await killWhileFrozen(dir, budgetMs);

    // (a) What the host agent persisted before the freeze answer left it: a deadline within budget.
    const { frozenAt, freezeDeadline } = s.frozen;
    expect(frozenAt).not.toBeNull();
    expect(freezeDeadline! - frozenAt!).toBeLessThanOrEqual(budgetMs);
    expect(worldVm(dir, s.instanceName)?.frozen).toBe(true);

    // (b) Back after the deadline: the watchdog thaws on load, before any job runs.
    await until(() => Date.now() > freezeDeadline! + 50, 'the freeze deadline to pass');
    const app = await reopen(dir);
    const guest = app.simulator.inspect(s.instanceName);
    expect(guest?.frozen).toBe(false);
    expect(guest?.counters).toMatchObject({ freezes: 1, thaws: 0, watchdogThaws: 1 });
    expect(guest?.lastFreezeWindow?.thawedBy).toBe('watchdog');
    expect(worldVm(dir, s.instanceName)?.frozen).toBe(false);

    await expectReconciled(app, s);
  });

  it('a restart before the deadline re-arms the watchdog, which thaws at the deadline', async () => {
    // The kill and an in-process App.open must fit before the deadline. How long they take depends on
    // the machine's load, so a restart that came back too late is not a failure of the code: the
    // case is tried again with a longer budget (bounded).
    for (const budgetMs of [2_500, 5_000, 10_000, 20_000]) {
      const dir = tempDir();
      const s = await killWhileFrozen(dir, budgetMs);
      const { frozenAt, freezeDeadline } = s.frozen;
      expect(freezeDeadline! - frozenAt!).toBeLessThanOrEqual(budgetMs);

      const reopenedAt = Date.now();
      const app = await reopen(dir);
      const frozenOnLoad = app.simulator.inspect(s.instanceName)?.frozen;
      if (Date.now() >= freezeDeadline!) continue;
      expect(frozenOnLoad).toBe(true);

      const window = await waitUntil(
        'the re-armed watchdog to thaw the guest',
        () => {
          const guest = app.simulator.inspect(s.instanceName);
          return guest?.frozen === false ? guest.lastFreezeWindow : undefined;
        },
        budgetMs + 20_000,
      );
      expect(window?.thawedBy).toBe('watchdog');
      expect(window?.frozenAt).toBe(frozenAt);
      // Re-armed for what was left, not for a fresh budget: that would thaw at the earliest a whole
      // budget after the restart began. Relative to the restart, so a late timer cannot flip it.
      expect(window!.thawedAt).toBeGreaterThanOrEqual(freezeDeadline!);
      expect(window!.thawedAt).toBeLessThan(reopenedAt + budgetMs);
      expect(app.simulator.inspect(s.instanceName)?.counters.watchdogThaws).toBe(1);

      await expectReconciled(app, s);
      return;
    }
    expect.fail('no restart came back before its freeze deadline, even with a 20 s budget');
  }, 180_000);
});
