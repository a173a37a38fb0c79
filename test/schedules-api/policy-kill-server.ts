/**
 * A management server in a child process, for the policy kill test (issue 13, "a server killed in
 * the middle of a slot"): what `vmsnap serve` runs (the App on a shared PostgreSQL database, its API
 * listening, then its job queue and policy scheduler started), with the scheduler ticking often so a
 * due slot is claimed at once. Optionally it stops at a named point of a policy run and says so; the
 * test SIGKILLs it there. The holds are wraps made here, so the server's code has no pause point:
 *  - `claimed`: right after it won a slot's claim (the run row is all it wrote);
 *  - `ids-chosen`: the run chose and stored its snapshot and job ids (Creating), nothing allocated;
 *  - `allocated`: after the run's snapshot row was allocated, before its take job was queued (a
 *    create now commits the two together; the hold allocates alone, as servers before that did,
 *    so the run's recovery of such a row stays tested);
 *  - `take-sent`: the host took the snapshot, and its CreateVMSnapshot answer is never handed back
 *    (the take job stays running, its lease renewed, until the process dies);
 *  - `finished`: the take is done and the run's final outcome is being written with its
 *    VMSNAPSHOT.POLICY.RUN event (the event's insert never returns).
 *
 *   node --import tsx test/schedules-api/policy-kill-server.ts <dataDir> <none|claimed|ids-chosen|allocated|take-sent|finished>
 *
 * The database comes from VMSNAP_DATABASE_URL and the shared key from VMSNAP_SECRET_KEY_FILE, as for
 * `vmsnap serve`. stdout lines: `OPEN <server id>`, `CLAIMED <run id> <slot>` (each claim this server
 * wins), `HELD <point> <run id|snapshot id|vm name>`.
 */
import type { AgentCommand, AnswerFor } from '../../src/core/plugin-api.ts';
import { buildServer } from '../../src/api/server.ts';
import { App } from '../../src/app/app.ts';
import { loadConfig } from '../../src/app/app-config.ts';
import { POLICY_RUN_EVENT } from '../../src/manager/policy-run-steps.ts';
import { EventStore, type NewEvent } from '../../src/store/event-store.ts';
import type { PolicyRun } from '../../src/store/vm-snapshot-policy-run-store.ts';
import { quietLog } from '../helpers/test-app.ts';

export const HOLD_POINTS = ['none', 'claimed', 'ids-chosen', 'allocated', 'take-sent', 'finished'] as const;
export type HoldPoint = (typeof HOLD_POINTS)[number];

/** How often this server's scheduler ticks, and looks again at a run in flight (production: 30 s, 1 s). */
const TICK_MS = 100;

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** Never settles: the server stays at the held point until it is killed. */
const forever = <T>(): Promise<T> => new Promise<T>(() => {});

/** Every claim this server wins is reported; with `claimed`, the first one is never returned from. */
function reportClaims(app: App, point: HoldPoint): void {
  const runs = app.policyRuns;
  const claim = runs.claim.bind(runs);
  runs.claim = async (c): Promise<PolicyRun | undefined> => {
    const won = await claim(c);
    if (won === undefined) return won;
    say(`CLAIMED ${won.id} ${won.slot}`);
    if (point !== 'claimed') return won;
    say(`HELD claimed ${won.id}`);
    return forever();
  };
}

/**
 * A policy run's create (called once its ids are stored) never returns: `ids-chosen` holds before
 * anything is allocated, `allocated` after the snapshot row, before the take job is queued.
 */
function holdCreate(app: App, point: 'ids-chosen' | 'allocated'): void {
  const manager = app.snapshotManager;
  manager.create = async (caller, req) => {
    if (point === 'ids-chosen') {
      say(`HELD ids-chosen ${req.id ?? '-'}`);
      return forever();
    }
    const snapshot = await manager.allocate(caller, req);
    say(`HELD allocated ${snapshot.id}`);
    return forever();
  };
}

/** `take-sent`: the host's CreateVMSnapshot runs, and its answer is never handed back. */
function holdTakeAnswer(app: App): void {
  const gateway = app.deps.agents;
  const send = gateway.send.bind(gateway);
  gateway.send = async <C extends AgentCommand>(
    hostId: string,
    command: C,
    options?: { timeoutMs?: number },
  ): Promise<AnswerFor<C>> => {
    const answer = await send(hostId, command, options);
    if (command.kind !== 'CreateVMSnapshot') return answer;
    say(`HELD take-sent ${command.vmName}`);
    return forever();
  };
}

/**
 * `finished`: the insert of a run's VMSNAPSHOT.POLICY.RUN event never returns. Wrapped on the class,
 * so it holds whichever store writes it (the final outcome's transaction opens its own).
 */
function holdRunEvent(): void {
  // eslint-disable-next-line @typescript-eslint/unbound-method -- called on each instance below
  const record = EventStore.prototype.record;
  EventStore.prototype.record = async function (this: EventStore, e: NewEvent): Promise<void> {
    if (e.type !== POLICY_RUN_EVENT) return record.call(this, e);
    say(`HELD finished ${e.resourceId ?? '-'}`);
    return forever();
  };
}

function parsePoint(arg: string | undefined): HoldPoint {
  const point = HOLD_POINTS.find((p) => p === arg);
  if (point === undefined)
    throw new Error(`usage: policy-kill-server.ts <dataDir> <${HOLD_POINTS.join('|')}>`);
  return point;
}

async function main(): Promise<void> {
  const [dir, pointArg] = process.argv.slice(2);
  if (dir === undefined) throw new Error('usage: policy-kill-server.ts <dataDir> <hold point>');
  const point = parsePoint(pointArg);
  const app = await App.open({
    config: loadConfig(dir, { plugins: [] }),
    log: quietLog,
    policyIntervalMs: TICK_MS,
    policyRuns: { pollMs: TICK_MS },
  });
  reportClaims(app, point);
  if (point === 'ids-chosen' || point === 'allocated') holdCreate(app, point);
  if (point === 'take-sent') holdTakeAnswer(app);
  if (point === 'finished') holdRunEvent();
  // As `vmsnap serve`: the API listens before the job queue and the scheduler start.
  const server = await buildServer(app);
  await server.listen({ port: 0, host: '127.0.0.1' });
  const bound = server.server.address();
  const port = typeof bound === 'object' && bound !== null ? bound.port : 0;
  await app.start({ host: '127.0.0.1', port });
  say(`OPEN ${app.deps.jobs.ownerId}`);
  const shutdown = (): void => {
    void server
      .close()
      .then(() => app.stop({ handBackAfterMs: 0 }))
      .finally(() => process.exit(0));
  };
  process.once('SIGTERM', shutdown);
}

main().catch((err: unknown) => {
  process.stderr.write(
    `policy-kill-server failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
