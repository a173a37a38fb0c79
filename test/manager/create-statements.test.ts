/**
 * Issue 15: the SQL statements of one snapshot create (its call and its job), counted at the driver.
 * The job bookkeeping and the snapshot's own rows are bounded here; the statements of other parts
 * (the VM and its volumes, the agent, the simulator, events) are not this test's business.
 *  - async_jobs: the insert, one claim of that very job, the progress, the result, and at most one
 *    look for a next job (was: a general claim's look-up and update, and two more look-ups);
 *  - vm_snapshots and its volume records: the call's read of the VM's snapshots and the insert; the
 *    job's one read of them, Creating, and one transaction that records the volumes, moves `current`
 *    and makes it Ready (was 12: the snapshot read again by id, a delete of records that cannot
 *    exist yet, `current` set by its own statement).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { installStatementCounter } from '../helpers/sql-statement-counter.ts';
import { openTestApp, type TestApp } from '../helpers/test-app.ts';
import { until } from '../helpers/eventually.ts';

const statements = installStatementCounter();

/** A poll of the job (waitFor's own reads): not the job's work. */
const isPoll = (text: string): boolean => /^select \* from "async_jobs" where "id" = \?$/.test(text);
const touches = (text: string, tables: readonly string[]): boolean =>
  tables.some((t) => text.includes(`"${t}"`));

describe('statements of one snapshot create', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await openTestApp();
  });
  afterEach(async () => {
    statements.trace(false);
    await t.close();
  });

  it('job bookkeeping and snapshot rows stay within their bounds, and the snapshot is Ready', async () => {
    const vm = await t.vm('web-1');
    statements.reset();
    statements.trace(true);
    const { snapshot, jobId } = await t.app.snapshotManager.create(t.demo, { vmId: vm.id });
    expect((await t.app.deps.jobs.waitFor(jobId)).status).toBe('succeeded');
    await until(() => t.app.deps.jobs.activeCount === 0, 'the job to leave the queue');
    statements.trace(false);
    const traced = statements.traced.filter((s) => !isPoll(s));
    const jobs = traced.filter((s) => touches(s, ['async_jobs']));
    const snaps = traced.filter((s) => touches(s, ['vm_snapshots', 'vm_snapshot_volumes']));
    expect(jobs.length, jobs.join('\n')).toBeLessThanOrEqual(5);
    expect(snaps.length, snaps.join('\n')).toBeLessThanOrEqual(8);

    const stored = await t.app.deps.snapshots.get(snapshot.id);
    expect(stored).toMatchObject({ state: 'Ready', current: true });
    expect(stored?.volumes.length).toBeGreaterThan(0);
  });

  it('a second snapshot takes `current` from the first: exactly one current snapshot', async () => {
    const vm = await t.vm('web-1');
    const first = await t.app.snapshotManager.create(t.demo, { vmId: vm.id });
    await t.app.deps.jobs.waitFor(first.jobId);
    const second = await t.app.snapshotManager.create(t.demo, { vmId: vm.id });
    await t.app.deps.jobs.waitFor(second.jobId);
    const live = await t.app.deps.snapshots.listByVm(vm.id);
    expect(live.filter((s) => s.current).map((s) => s.id)).toEqual([second.snapshot.id]);
    expect(live.find((s) => s.id === second.snapshot.id)?.parentId).toBe(first.snapshot.id);
  });
});
