/**
 * Issue 13, item 5: `vmsnap schedule create|list|delete|prune`, against a real server in-process.
 * `--dry-run` creates nothing and shows, for each existing snapshot of the schedule, whether its
 * retention keeps or deletes it and why; a manual snapshot never appears among them.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/api/server.ts';
import { ApiClient } from '../../src/cli/client/api-client.ts';
import {
  createSchedule,
  deleteSchedule,
  listSchedules,
  pruneSchedule,
  scheduleParams,
} from '../../src/cli/client/commands/schedule-commands.ts';
import type { ClientContext } from '../../src/cli/client/context.ts';
import { createOutput } from '../../src/cli/client/output.ts';
import { openTestApp, type TestApp } from '../helpers/test-app.ts';
import { driveAt, HOUR, nextHour, type SchedulerNode } from './policy-harness.ts';

describe('vmsnap schedule', () => {
  let t: TestApp;
  let server: FastifyInstance;
  let demo: ApiClient;
  let printed: string[];

  function ctx(json = false): ClientContext {
    return {
      client: demo,
      out: createOutput(json, { stdout: { write: (text: string) => printed.push(text) } }),
      progress: { write: () => true },
    };
  }

  const node = (): SchedulerNode => ({
    scheduler: t.app.policyScheduler,
    steps: t.app.policyRunSteps,
    jobs: t.app.deps.jobs,
    runs: t.app.policyRuns,
  });

  beforeAll(async () => {
    t = await openTestApp({ policyRuns: { pollMs: 0 }, policyIntervalMs: 3_600_000 });
    server = await buildServer(t.app);
    const endpoint = `${await server.listen({ port: 0, host: '127.0.0.1' })}/client/api`;
    demo = new ApiClient({ profile: 'test', endpoint, ...t.seeded.demo });
  });
  afterAll(async () => {
    await server.close();
    await t.close();
  });

  it('maps --every/--at/--day to intervaltype and schedule', () => {
    expect(scheduleParams({ vm: 'x', every: 'hour' })).toEqual({ intervaltype: 'HOURLY', schedule: '0' });
    expect(scheduleParams({ vm: 'x', every: 'day', at: '02:30' })).toEqual({
      intervaltype: 'DAILY',
      schedule: '30:02',
    });
    expect(scheduleParams({ vm: 'x', every: 'week', at: '23:15', day: '7' })).toEqual({
      intervaltype: 'WEEKLY',
      schedule: '15:23:7',
    });
    expect(scheduleParams({ vm: 'x', every: 'month', day: '28' })).toEqual({
      intervaltype: 'MONTHLY',
      schedule: '00:00:28',
    });
    expect(() => scheduleParams({ vm: 'x', every: 'fortnight' })).toThrow(
      /--every must be hour, day, week or month/,
    );
    expect(() => scheduleParams({ vm: 'x', every: 'hour', cron: '* * * * *' })).toThrow(/not several/);
  });

  it('create, list, prune --dry-run and delete a schedule', async () => {
    printed = [];
    await createSchedule(ctx(), {
      vm: 'web-1',
      every: 'hour',
      timezone: 'UTC',
      keepHourly: '2',
    });
    const id = /id\s*│\s*([0-9a-f-]{36})/.exec(printed.join(''))?.[1];
    expect(id).toBeDefined();
    expect(printed.join('')).toContain('every hour at :00');
    // Two runs of the schedule, and a manual snapshot between them.
    const first = nextHour(Date.now());
    await driveAt(t.app, [node()], first);
    const vm = await t.vm('web-1');
    const manual = await t.app.snapshotManager.create(t.demo, { vmId: vm.id, name: 'by-hand' });
    await t.app.deps.jobs.waitFor(manual.jobId);
    await driveAt(t.app, [node()], first + HOUR);
    // --keep-hourly 1 in the preview: the newest is kept, the older one would be deleted.
    printed = [];
    await pruneSchedule(ctx(), id!, { dryRun: true, keepHourly: '1' });
    const out = printed.join('');
    const rows = out.split('\n').filter((l) => l.includes('auto-'));
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatch(/│ keep\s+│ keep-hourly/);
    expect(rows[1]).toMatch(/│ delete\s+│/);
    expect(out).not.toContain('by-hand');
    // Nothing was deleted by the dry run.
    expect((await t.app.deps.snapshots.listByVm(vm.id)).filter((s) => s.policyId === id)).toHaveLength(2);
    await expect(pruneSchedule(ctx(), id!, {})).rejects.toThrow(/--dry-run/);

    printed = [];
    await listSchedules(ctx(), 'web-1');
    expect(printed.join('')).toMatch(new RegExp(`${id!}.*keep hourly 2`, 's'));

    printed = [];
    await deleteSchedule(ctx(), id!, false);
    expect(printed.join('')).toContain('its snapshots are kept');
    expect((await t.app.deps.snapshots.listByVm(vm.id)).filter((s) => s.policyId === id)).toHaveLength(2);
  });

  it('create --dry-run creates nothing and shows the next runs', async () => {
    printed = [];
    await createSchedule(ctx(), {
      vm: 'db-1',
      cron: '15 3 * * *',
      timezone: 'Europe/Berlin',
      keepDaily: '7',
      dryRun: true,
    });
    const out = printed.join('');
    expect(out).toContain('dry run: no schedule created for VM db-1');
    expect(out).toContain('cron 15 3 * * *');
    expect(out).toMatch(/next runs\s*│ \d{4}-\d\d-\d\dT0[12]:15:00\+0000/);
    expect(out).toContain('retention deletes nothing');
    const listed = await demo.call('listVMSnapshotPolicies', { virtualmachineid: (await t.vm('db-1')).id });
    expect(listed).toEqual({});
  });
});
