/**
 * Issue 10, item 11: a `count=1` fault rule whose call was under way when the management server was
 * killed does not fire again after the restart. The rule's count is consumed and persisted before
 * the fault fires; a real server child process is SIGKILLed while the call hangs, and the App is
 * reopened on the same data dir.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import type { Workload } from '../helpers/app-process.ts';
import { killHard, spawnTs } from '../helpers/child-process.ts';
import { eventually, reopenApp, settleJobs, waitJob } from '../helpers/core-helpers.ts';

const REPO = resolve(import.meta.dirname, '../..');
const RUNNER = join(REPO, 'test/helpers/app-process.ts');

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** The fault rules in the management database (where the simulated zone lives), read through a second connection. */
function persistedRules(dir: string): unknown[] | undefined {
  let db: Database.Database;
  try {
    db = new Database(join(dir, 'vmsnap.db'), { fileMustExist: true });
  } catch {
    return undefined; // not created yet
  }
  try {
    db.pragma('busy_timeout = 2000');
    const table = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'simulator_objects'")
      .get();
    if (table === undefined) return undefined;
    return db.prepare("SELECT body FROM simulator_objects WHERE kind = 'fault'").all();
  } finally {
    db.close();
  }
}

describe('a count=1 fault rule across a killed server', () => {
  it('is consumed before it fires: after the restart the same command runs normally', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vmsnap-fault-restart-'));
    dirs.push(dir);
    const workload: Workload = {
      faults: [{ name: 'CreateVMSnapshotCommand', value: 'hang', count: 1 }],
      steps: [{ op: 'create', vm: 'web-1', name: 'hung' }],
    };
    const child = spawnTs(RUNNER, [dir, JSON.stringify(workload)], { cwd: REPO });
    try {
      await eventually(
        async () => (child.lines.some((l) => l.startsWith('SUBMITTED 0')) ? true : undefined),
        'the create to be submitted',
        60_000,
      );
      // The rule was armed (persisted) at start; it is gone once the hung call has taken it.
      await eventually(
        async () => (persistedRules(dir)?.length === 0 ? true : undefined),
        'the hang to take the rule',
        60_000,
      );
      expect(child.lines.some((l) => l.startsWith('DONE'))).toBe(false);
    } finally {
      await killHard(child);
    }

    const { app, demo } = await reopenApp(dir);
    try {
      expect(app.simulator.faults.list()).toEqual([]);
      await settleJobs(app, 60_000);
      const vm = (await app.deps.inventory.listVms()).find((v) => v.displayName === 'web-1');
      if (vm === undefined) throw new Error('no web-1');
      const { jobId } = await app.snapshotManager.create(demo, { vmId: vm.id, name: 'after' });
      expect((await waitJob(app, jobId)).status).toBe('succeeded');
      expect(app.simulator.faults.hungCalls).toBe(0);
    } finally {
      await app.stop();
    }
  });
});
