/**
 * Found by the chaos test (issue 12): a server that died after its host had deleted a snapshot but
 * before it stored the outcome left the snapshot Expunging; the server that took the job over sent
 * DeleteVMSnapshot again, so the host ran one job's delete twice. Recovery now asks the host first
 * (CheckVMSnapshot, read-only) and records the delete it finds done.
 *
 * Here the first DeleteVMSnapshot reaches the simulated host and its answer is never returned (the
 * server "dies" right after); the job's lease is then ended as a dead server's would, and an orphan
 * scan takes it over. The simulator's command record must hold one delete for the job.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AgentCommand, AnswerFor } from '../../src/core/plugin-api.ts';
import { JobQueue } from '../../src/jobs/job-queue.ts';
import { VmSnapshotWorker } from '../../src/manager/vm-snapshot-worker.ts';
import { SimulatorWorldStore } from '../../src/store/simulator-world-store.ts';
import { eventually, waitJob } from '../helpers/core-helpers.ts';
import { openTestApp, quietLog, type TestApp } from '../helpers/test-app.ts';

describe('recovering a delete the host already applied', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await openTestApp();
  });
  afterEach(async () => {
    // The held job never settles in this process: hand it back instead of waiting for it.
    await t.app.stop({ handBackAfterMs: 0 });
  });

  it('does not send the delete again: one host-side delete for the job, the snapshot removed', async () => {
    const { app, admin } = t;
    const vm = await t.vm('app-1');
    const made = await app.snapshotManager.create(admin, { vmId: vm.id, name: 'once' });
    expect((await waitJob(app, made.jobId)).status).toBe('succeeded');

    // The first delete runs on the host; its answer never comes back (the server died there).
    const gateway = app.deps.agents;
    const send = gateway.send.bind(gateway);
    let held = 0;
    gateway.send = async <C extends AgentCommand>(
      hostId: string,
      command: C,
      options?: { timeoutMs?: number },
    ) => {
      const answer: AnswerFor<C> = await send(hostId, command, options);
      if (command.kind === 'DeleteVMSnapshot' && held++ === 0) return new Promise<AnswerFor<C>>(() => {});
      return answer;
    };
    const { jobId } = await app.snapshotManager.delete(admin, made.snapshot.id);
    await eventually(() => (held > 0 ? true : undefined), 'the delete to reach the host');
    // Its owner is gone: the lease ends as if it had died, and another server's orphan scan takes
    // the job over (a second queue and worker on the same database).
    await app.deps.db
      .updateTable('async_jobs')
      .set({ owner: 'dead-server', lease_until: 1 })
      .where('id', '=', jobId)
      .execute();
    const other = new JobQueue({ db: app.deps.db, log: quietLog, ownerId: 'server-b' });
    new VmSnapshotWorker({ ...app.deps, jobs: other }).register();
    expect(await other.recoverOrphans()).toBe(1);

    const job = await waitJob(app, jobId);
    expect(job.status).toBe('succeeded');
    const row = await app.deps.db
      .selectFrom('vm_snapshots')
      .select(['state', 'removed'])
      .where('id', '=', made.snapshot.id)
      .executeTakeFirstOrThrow();
    expect(row.state).toBe('Removed');
    const deletes = (await new SimulatorWorldStore(app.deps.db).listCommands()).filter(
      (c) => c.jobId === jobId,
    );
    expect(deletes.map((c) => c.kind)).toEqual(['DeleteVMSnapshot']);
  });
});
