/**
 * Issue 13, "every run is an event": a run's final outcome and its VMSNAPSHOT.POLICY.RUN event are
 * written together or not at all. The event's insert is made to fail (a trigger on the events
 * table, as a server dying at that point would leave it): the run must stay open, unreported
 * nowhere, and the next step, once the insert works again, finishes it with its one event.
 *
 * It used to commit the outcome first and insert the event after: a failure (or a SIGKILL, see
 * policy-kill-process.test.ts) in between left a final run that no step would ever report.
 */
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { POLICY_RUN_EVENT } from '../../src/manager/policy-run-steps.ts';
import { postgresUnavailable } from '../helpers/postgres.ts';
import { driveAt, nextHour, openPolicyWorld, type Engine, type PolicyWorld } from './policy-harness.ts';

const engines: { engine: Engine; skip: string | undefined }[] = [
  { engine: 'sqlite', skip: undefined },
  { engine: 'postgres', skip: postgresUnavailable() },
];

/** Makes every insert of a policy run event fail (on), or lets them in again (off). */
async function failRunEvents(w: PolicyWorld, engine: Engine, on: boolean): Promise<void> {
  const db = w.app.deps.db;
  if (engine === 'sqlite') {
    await sql
      .raw(
        on
          ? `CREATE TRIGGER fail_run_event BEFORE INSERT ON events WHEN NEW.type = '${POLICY_RUN_EVENT}' ` +
              `BEGIN SELECT RAISE(ABORT, 'injected: the event insert failed'); END`
          : 'DROP TRIGGER fail_run_event',
      )
      .execute(db);
    return;
  }
  if (!on) {
    await sql.raw('DROP TRIGGER fail_run_event ON events').execute(db);
    return;
  }
  await sql
    .raw(
      `CREATE FUNCTION fail_run_event() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN ` +
        `IF NEW.type = '${POLICY_RUN_EVENT}' THEN RAISE EXCEPTION 'injected: the event insert failed'; END IF; ` +
        `RETURN NEW; END $$`,
    )
    .execute(db);
  await sql
    .raw(
      'CREATE TRIGGER fail_run_event BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION fail_run_event()',
    )
    .execute(db);
}

for (const { engine, skip } of engines) {
  describe.skipIf(skip !== undefined)(`a run's outcome and its event commit together (${engine})`, () => {
    let w: PolicyWorld;
    beforeEach(async () => {
      w = await openPolicyWorld(engine);
    });
    afterEach(async () => {
      await w.close();
    });

    it('an event that cannot be written leaves the run open; the next step finishes and reports it once', async () => {
      const policy = await w.policy('web-1', {
        intervaltype: 'HOURLY',
        schedule: '0',
        timezone: 'UTC',
        maxsnaps: 5,
      });
      const slot = nextHour(Date.now());
      await failRunEvents(w, engine, true);
      // The snapshot is taken; writing the outcome fails with its event, so the run stays open.
      await expect(driveAt(w.app, [w.a], slot)).rejects.toThrow(/still open/);
      const [open] = await w.app.policyRuns.listByPolicy(policy.id);
      expect(open).toMatchObject({ outcome: 'Creating', finished: null });
      expect(await w.app.deps.snapshots.get(open!.snapshotId!)).toMatchObject({ state: 'Ready' });
      expect(await runEvents(w, policy.id)).toEqual([]);

      await failRunEvents(w, engine, false);
      await driveAt(w.app, [w.a], slot + 5_000);
      const runs = await w.app.policyRuns.listByPolicy(policy.id);
      expect(runs).toEqual([expect.objectContaining({ id: open!.id, outcome: 'Succeeded' })]);
      const events = await runEvents(w, policy.id);
      expect(events).toHaveLength(1);
      expect(events[0]).toContain(`slot ${new Date(slot).toISOString()}: Succeeded`);
      expect(await w.app.policies.get(policy.id)).toMatchObject({ lastRunOutcome: 'Succeeded' });
    });
  });
}

async function runEvents(w: PolicyWorld, policyId: string): Promise<string[]> {
  const rows = await w.app.deps.db
    .selectFrom('events')
    .select('description')
    .where('type', '=', POLICY_RUN_EVENT)
    .where('resource_id', '=', policyId)
    .execute();
  return rows.map((r) => r.description);
}
