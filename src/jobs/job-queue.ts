/**
 * Durable async jobs with strict per-queue ordering (queue = one VM), parallel across queues.
 *
 * Why in-house (see the dependency study): graphile-worker blocks a crashed job's queue for 4 hours
 * and has no SQLite mode; pg-boss lets a VM's next job start while one is in retry. This queue runs the
 * same code on SQLite and PostgreSQL:
 *  - a claim takes the oldest queued job of a queue that has no running job, guarded by `status`
 *    in the UPDATE and by a partial unique index (one running job per queue) in the database;
 *  - a running job holds a lease that its owner renews; an expired lease means its owner died, and
 *    the job is handed to the recovery handler of its kind (never re-run blindly: snapshot work must
 *    be reconciled against the hypervisor first);
 *  - every server looks for such orphans every second, busy or idle (issue 12: an idle server used to
 *    look only while it ran jobs of its own). The take-over is one guarded UPDATE, so exactly one
 *    server wins each orphan; the winner reports it (`onTakeover`: an event for the admins);
 *  - a result is stored only by the job's current owner: a server that lost its job (its lease ran
 *    out while it was stalled, or it handed the job back at shutdown) cannot overwrite the outcome of
 *    the server that took it over.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { CompiledStatement } from '../store/compiled-query.ts';
import { isUniqueViolation, type Db } from '../store/database.ts';
import type { AsyncJobRow, NewAsyncJob } from '../store/schema.ts';
import { describeError, logFailure } from '../core/errors.ts';
import type { Logger } from '../core/plugin-api.ts';

export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed';

export interface JobSubmission {
  readonly kind: string;
  readonly queueKey: string;
  readonly accountId: string;
  readonly userId: string;
  readonly cmd: string;
  readonly instanceType?: string;
  readonly instanceId?: string;
  readonly payload: Readonly<Record<string, unknown>>;
  /** Use a given id (the API returns it before the job row exists elsewhere). */
  readonly id?: string;
}

export interface RunningJob {
  readonly id: string;
  readonly kind: string;
  readonly queueKey: string;
  readonly accountId: string;
  readonly userId: string;
  readonly payload: Readonly<Record<string, unknown>>;
  /** Shown in queryAsyncJobResult while the job runs. */
  progress(text: string): Promise<void>;
}

/** A handler's result is stored as the job's `jobresult`. */
export type JobResult = Readonly<Record<string, unknown>>;
export type JobHandler = (job: RunningJob) => Promise<JobResult>;

/** Called for a job whose owner died mid-run; it reconciles and returns the job's final result. */
export type RecoveryHandler = (job: RunningJob) => Promise<JobResult>;

/** A job another server owned and this one took over (its lease had run out, or it was handed back). */
export interface Takeover {
  readonly job: AsyncJobRow;
  readonly previousOwner: string | null;
  readonly newOwner: string;
}

export interface JobQueueOptions {
  readonly db: Db;
  readonly log: Logger;
  /** Max jobs running at once in this process (different queues). */
  readonly concurrency?: number;
  /** How long a job stays ours without a renewal: a number, or read on each use (a setting). */
  readonly leaseMs?: number | (() => number);
  readonly pollMs?: number;
  /** How often to look for jobs whose owner died, whether or not this server runs any job. */
  readonly recoverEveryMs?: number;
  readonly ownerId?: string;
  /** Told once per job this server takes over (after the take-over is stored); failures are logged. */
  readonly onTakeover?: (takeover: Takeover) => Promise<void>;
  /** The clock of leases (tests inject one). */
  readonly now?: () => number;
}

/** What stop() did with the jobs that were running. */
export interface StopReport {
  /** Jobs that finished while the queue drained. */
  readonly finished: number;
  /** Jobs still running when the bound ran out, handed back for another server to recover. */
  readonly handedBack: number;
}

interface Waiter {
  done(row: AsyncJobRow): void;
  fail(reason: Error): void;
}

export class JobQueue {
  readonly ownerId: string;
  private readonly db: Db;
  private readonly log: Logger;
  private readonly concurrency: number;
  private readonly lease: () => number;
  private readonly pollMs: number;
  private readonly recoverEveryMs: number;
  private readonly onTakeover: ((takeover: Takeover) => Promise<void>) | undefined;
  private readonly handlers = new Map<string, JobHandler>();
  private readonly recoverers = new Map<string, RecoveryHandler>();
  private readonly active = new Map<string, Promise<void>>();
  /**
   * The stored row of each job running here, updated on every change this server writes: polls of
   * these jobs are answered from it (see get). An entry lives exactly as long as the job is active.
   */
  private readonly owned = new Map<string, AsyncJobRow>();
  private readonly now: () => number;
  /** The hot statements, compiled once (src/store/compiled-query.ts). */
  private readonly statements = jobStatements();
  /** Pending waitFor calls by job: finished here, they are woken at once; stop() ends them all. */
  private readonly waiters = new Map<string, Waiter[]>();
  /** Pumps and lease renewals in flight: stop() waits for them before the store may close. */
  private readonly background = new Set<Promise<void>>();
  private running = false;
  private pumping = false;
  private pumpAgain = false;
  private timer: NodeJS.Timeout | undefined;
  private leaseTimer: NodeJS.Timeout | undefined;
  private recoverTimer: NodeJS.Timeout | undefined;
  private recovering = false;

  constructor(options: JobQueueOptions) {
    this.db = options.db;
    this.log = options.log;
    this.concurrency = options.concurrency ?? 16;
    const lease = options.leaseMs ?? 20_000;
    this.lease = typeof lease === 'number' ? () => lease : lease;
    this.pollMs = options.pollMs ?? 500;
    this.recoverEveryMs = options.recoverEveryMs ?? 1000;
    this.ownerId = options.ownerId ?? randomUUID();
    this.onTakeover = options.onTakeover;
    this.now = options.now ?? Date.now;
  }

  /** The lease now (a setting may change it; at least a second, so renewals can keep up). */
  get leaseMs(): number {
    return Math.max(1000, this.lease());
  }

  handle(kind: string, handler: JobHandler, recover: RecoveryHandler): void {
    this.handlers.set(kind, handler);
    this.recoverers.set(kind, recover);
  }

  /**
   * Stores the job queued, then tries to claim that very job (one guarded UPDATE) rather than waking
   * the general claim, which would look for the oldest runnable job and then look again for more.
   * The job is stored before it runs either way.
   */
  async submit(job: JobSubmission): Promise<string> {
    const id = job.id ?? randomUUID();
    await this.db.insertInto('async_jobs').values(queuedRow(id, job)).execute();
    await this.startSubmitted(id, job.queueKey);
    return id;
  }

  /**
   * As submit, with `alongside`'s writes in the job's own transaction: the rows a job works on and
   * the job itself commit together, so a server dying in between leaves neither, never a row no job
   * will ever take up (an Allocated snapshot, say). Returns what `alongside` returned.
   */
  async submitWith<T>(
    job: JobSubmission & { readonly id: string },
    alongside: (tx: Db) => Promise<T>,
  ): Promise<T> {
    const written = await this.db.transaction().execute(async (tx) => {
      const value = await alongside(tx);
      await tx.insertInto('async_jobs').values(queuedRow(job.id, job)).execute();
      return value;
    });
    await this.startSubmitted(job.id, job.queueKey);
    return written;
  }

  /** Runs a job just stored here at once when it can, else wakes the general claim. */
  private async startSubmitted(id: string, queueKey: string): Promise<void> {
    const claimed = await this.claimSubmitted(id, queueKey).catch((err: unknown) => {
      this.log.error({ err, job: id }, 'job claim failed');
      return undefined;
    });
    if (claimed === undefined) this.wake();
    else this.begin(claimed, false);
  }

  /** Claims a job just submitted here if it is its queue's head and the queue runs nothing. */
  private async claimSubmitted(id: string, queueKey: string): Promise<AsyncJobRow | undefined> {
    if (!this.running || this.active.size >= this.concurrency) return undefined;
    const now = this.now();
    try {
      const { rows } = await this.statements.claimSubmitted.execute(this.db, {
        id,
        queueKey,
        owner: this.ownerId,
        leaseUntil: now + this.leaseMs,
        started: now,
      });
      return rows[0];
    } catch (err) {
      // Another claimer started a job of this queue first (the one-running-per-queue index).
      if (isUniqueViolation(err)) return undefined;
      throw err;
    }
  }

  /** Records work that was done synchronously as an already-succeeded job (CloudStack's async tag commands). */
  async recordCompleted(
    job: Omit<JobSubmission, 'queueKey' | 'payload'>,
    result: JobResult,
  ): Promise<string> {
    const id = job.id ?? randomUUID();
    await this.db
      .insertInto('async_jobs')
      .values(jobRow(id, job, { status: 'succeeded', queueKey: `done:${id}`, payload: {}, result }))
      .execute();
    return id;
  }

  /** Starts claiming work. Recovers jobs left running by a dead owner first. */
  async start(): Promise<void> {
    this.running = true;
    await this.recoverOrphans();
    this.timer = setInterval(() => this.wake(), this.pollMs);
    this.scheduleRenewal();
    this.recoverTimer = setInterval(() => this.recoverSoon(), this.recoverEveryMs);
    this.wake();
  }

  /** Renews a third of a lease ahead, re-reading the lease each time (it is a setting). */
  private scheduleRenewal(): void {
    if (!this.running) return;
    this.leaseTimer = setTimeout(() => {
      this.track(this.renewLeases().finally(() => this.scheduleRenewal()));
    }, this.leaseMs / 3);
  }

  /** One orphan scan at a time; a slow database does not pile them up. */
  private recoverSoon(): void {
    if (!this.running || this.recovering) return;
    this.recovering = true;
    this.track(
      this.recoverOrphans()
        .then(() => undefined)
        .catch((err: unknown) => this.log.error({ err }, 'orphan recovery failed'))
        .finally(() => (this.recovering = false)),
    );
  }

  /**
   * Stops claiming; waits for running jobs and for any claim or renewal in flight, so that nothing
   * touches the store after this resolves; pending waitFor calls are rejected.
   *
   * With `handBackAfterMs`, the wait is bounded: jobs still running then are handed back (their lease
   * ends now, so another server, or this data dir's next start, recovers them at once) and this
   * resolves without them. Their handlers may still be running in this process, but what they would
   * store is refused (the job is no longer ours); the caller is about to exit.
   */
  async stop(options: { readonly handBackAfterMs?: number } = {}): Promise<StopReport> {
    this.running = false;
    clearInterval(this.timer);
    clearTimeout(this.leaseTimer);
    clearInterval(this.recoverTimer);
    const drained = new Set(this.active.keys());
    const bounded = options.handBackAfterMs !== undefined;
    if (drained.size > 0)
      this.log.info(
        { running: drained.size, ...(bounded ? { boundMs: options.handBackAfterMs } : {}) },
        'job queue stopping: letting the running jobs finish',
      );
    const settled = this.settleAll(drained);
    const inTime =
      options.handBackAfterMs === undefined
        ? await settled.then(() => true)
        : await within(settled, options.handBackAfterMs);
    // Out of time: whatever settles later is not waited for, but its failure is still handled.
    if (!inTime) settled.catch(() => undefined);
    const handedBack = inTime ? [] : await this.handBack();
    const finished = [...drained].filter((id) => !handedBack.includes(id)).length;
    if (handedBack.length > 0)
      this.log.warn(
        { handedBack, boundMs: options.handBackAfterMs },
        `job queue stopping: ${handedBack.length} job(s) still running after ${options.handBackAfterMs} ms handed back for another server to recover`,
      );
    const stopped = new Error('job queue stopped');
    for (const w of [...this.waiters.values()].flat()) w.fail(stopped);
    // Queued jobs stay in the table: the next start (or another server) runs them.
    const queued = await this.countQueued().catch(() => undefined);
    this.log.info(
      { drained: finished, ...(handedBack.length > 0 ? { handedBack: handedBack.length } : {}), queued },
      `job queue stopped: ${finished} running job(s) finished, ${handedBack.length === 0 ? '' : `${handedBack.length} handed back, `}${queued ?? 'unknown number of'} queued job(s) left for the next start`,
    );
    return { finished, handedBack: handedBack.length };
  }

  /** Waits until nothing runs here: a claim in flight may still hand over a job, so it loops. */
  private async settleAll(seen: Set<string>): Promise<void> {
    while (this.active.size > 0 || this.background.size > 0) {
      for (const id of this.active.keys()) seen.add(id);
      await Promise.allSettled([...this.active.values(), ...this.background]);
    }
  }

  /** Ends the lease of every job this server still runs: the ids handed back. */
  private async handBack(): Promise<string[]> {
    const ids = [...this.active.keys()];
    if (ids.length === 0) return [];
    const rows = await this.db
      .updateTable('async_jobs')
      .set({ lease_until: 0 })
      .where('owner', '=', this.ownerId)
      .where('status', '=', 'running')
      .where('id', 'in', ids)
      .returning('id')
      .execute();
    // Handed back or not, none of them may be answered from memory any more.
    for (const id of ids) this.owned.delete(id);
    return rows.map((r) => r.id);
  }

  private async countQueued(): Promise<number> {
    const row = await this.db
      .selectFrom('async_jobs')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('status', '=', 'queued')
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  get activeCount(): number {
    return this.active.size;
  }

  /**
   * A job's row. A job running here under a lease that has not run out is answered from memory: no
   * other server can have changed its row (a take-over needs an expired lease, and this server writes
   * every change it makes to both). Any other job is read from the store: another server may own it.
   */
  async get(id: string): Promise<AsyncJobRow | undefined> {
    const mine = this.owned.get(id);
    if (mine !== undefined && (mine.lease_until ?? 0) > this.now()) return mine;
    const { rows } = await this.statements.get.execute(this.db, { id });
    return rows[0];
  }

  /**
   * Resolves when the job reaches a final status (tests, benchmarks). Finished here: woken at once;
   * finished by another server sharing the database: seen by polling.
   */
  async waitFor(id: string, timeoutMs = 60_000): Promise<AsyncJobRow> {
    const isFinal = (r: AsyncJobRow | undefined): r is AsyncJobRow =>
      r?.status === 'succeeded' || r?.status === 'failed';
    const row = await this.get(id);
    if (row === undefined) throw new Error(`no job ${id}`);
    if (isFinal(row)) return row;
    return new Promise<AsyncJobRow>((resolve, reject) => {
      const end = (): void => {
        clearTimeout(timer);
        clearInterval(poll);
        const rest = (this.waiters.get(id) ?? []).filter((w) => w !== waiter);
        if (rest.length > 0) this.waiters.set(id, rest);
        else this.waiters.delete(id);
      };
      const done = (r: AsyncJobRow): void => {
        end();
        resolve(r);
      };
      const fail = (reason: Error): void => {
        end();
        reject(reason);
      };
      const timer = setTimeout(() => fail(new Error(`job ${id} not done after ${timeoutMs} ms`)), timeoutMs);
      let polling = false;
      const poll = setInterval(() => {
        if (polling) return;
        polling = true;
        this.get(id).then(
          (r) => {
            polling = false;
            if (isFinal(r)) done(r);
          },
          // A failed read is retried on the next tick; the timeout bounds the wait.
          () => (polling = false),
        );
      }, 250);
      const waiter: Waiter = { done, fail };
      this.waiters.set(id, [...(this.waiters.get(id) ?? []), waiter]);
    });
  }

  wake(): void {
    if (!this.running) return;
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    this.track(
      this.pump().finally(() => {
        this.pumping = false;
        if (this.pumpAgain) {
          this.pumpAgain = false;
          this.wake();
        }
      }),
    );
  }

  /** Keeps a background promise until it settles; its failure is logged, never left unhandled. */
  private track(work: Promise<void>): void {
    const tracked = work
      .catch((err: unknown) => this.log.error({ err }, 'job queue background work failed'))
      .finally(() => this.background.delete(tracked));
    this.background.add(tracked);
  }

  private async pump(): Promise<void> {
    while (this.running && this.active.size < this.concurrency) {
      const job = await this.claim().catch((err: unknown) => {
        this.log.error({ err }, 'job claim failed');
        return undefined;
      });
      if (job === undefined) return;
      this.begin(job, false);
    }
  }

  /** Runs a job this server now owns (claimed, or taken over to recover it). */
  private begin(row: AsyncJobRow, recovering: boolean): void {
    this.owned.set(row.id, row);
    const run = this.execute(row, recovering).finally(() => {
      this.active.delete(row.id);
      this.owned.delete(row.id);
      this.wake();
    });
    this.active.set(row.id, run);
  }

  /** Claims the oldest runnable job: the head of a queue with nothing running. */
  private async claim(): Promise<AsyncJobRow | undefined> {
    const now = this.now();
    const candidate = (await this.statements.nextRunnable.execute(this.db, {})).rows[0];
    if (candidate === undefined) return undefined;
    try {
      const { rows } = await this.statements.claim.execute(this.db, {
        id: candidate.id,
        owner: this.ownerId,
        leaseUntil: now + this.leaseMs,
        started: now,
      });
      return rows[0];
    } catch (err) {
      // Unique violation on the one-running-per-queue index: another claimer won. Nothing claimed.
      if (isUniqueViolation(err)) return undefined;
      throw err;
    }
  }

  private async execute(row: AsyncJobRow, recovering = false): Promise<void> {
    // Jobs are chains of awaits over synchronous SQLite calls: without a yield, a burst of them
    // keeps the event loop from the API's requests (measured: 335 ms p50 create calls).
    await yieldToEventLoop();
    const handler = recovering ? this.recoverers.get(row.kind) : this.handlers.get(row.kind);
    let status: JobStatus;
    let code: number;
    let result: JobResult;
    try {
      if (handler === undefined) throw new Error(`no handler for job kind ${row.kind}`);
      result = await handler(this.toRunningJob(row));
      status = 'succeeded';
      code = 0;
    } catch (err) {
      const d = describeError(err);
      status = 'failed';
      code = d.code;
      result = { errorcode: d.code, errortext: d.text };
      // An unexpected error's raw text is kept out of the job result: only its id is shown there.
      if (d.internal !== undefined) {
        this.log.error(
          { job: row.id, kind: row.kind, errorId: d.internal.id, err },
          'job failed with an internal error',
        );
      } else logFailure(this.log, err, { job: row.id, kind: row.kind }, 'job failed');
    }
    await yieldToEventLoop();
    // If the result cannot be stored the job stays running under our lease; once the lease runs
    // out, recovery reconciles it like any orphan. Never an unhandled rejection.
    await this.finish(row.id, status, code, result).catch((err: unknown) =>
      this.log.error({ err, job: row.id }, 'could not record the job result'),
    );
  }

  private async finish(id: string, status: JobStatus, code: number, result: JobResult): Promise<void> {
    // Lost while it ran (taken over, or handed back at shutdown): the new owner stores the outcome.
    const { rows } = await this.statements.finish.execute(this.db, {
      id,
      status,
      code,
      result: JSON.stringify(result),
      completed: Date.now(),
      owner: this.ownerId,
    });
    const row = rows[0];
    if (row === undefined) {
      this.log.warn({ job: id }, 'job no longer owned by this server: its result is not stored here');
      return;
    }
    // Each waiter removes itself as it resolves.
    for (const w of this.waiters.get(id) ?? []) w.done(row);
  }

  private toRunningJob(row: AsyncJobRow): RunningJob {
    return {
      id: row.id,
      kind: row.kind,
      queueKey: row.queue_key,
      accountId: row.account_id,
      userId: row.user_id,
      payload: JSON.parse(row.payload) as Record<string, unknown>,
      progress: async (text: string) => {
        await this.statements.progress.execute(this.db, { id: row.id, progress: text });
        const mine = this.owned.get(row.id);
        if (mine !== undefined) this.owned.set(row.id, { ...mine, progress: text });
      },
    };
  }

  /** Extends the lease of the jobs this server runs (orphans are looked for on their own timer). */
  private async renewLeases(): Promise<void> {
    if (this.active.size === 0) return;
    const leaseUntil = this.now() + this.leaseMs;
    const renewed = await this.db
      .updateTable('async_jobs')
      .set({ lease_until: leaseUntil })
      .where('owner', '=', this.ownerId)
      .where('status', '=', 'running')
      .where('lease_until', '!=', 0)
      .returning('id')
      .execute()
      .catch((err: unknown) => {
        this.log.error({ err }, 'lease renewal failed');
        return undefined;
      });
    if (renewed === undefined) return;
    // Polls answered from memory follow the lease as stored; a job not renewed is no longer ours.
    const ids = new Set(renewed.map((r) => r.id));
    for (const [id, row] of this.owned) {
      if (ids.has(id)) this.owned.set(id, { ...row, lease_until: leaseUntil });
      else this.owned.delete(id);
    }
  }

  /**
   * Jobs running under an owner that is gone: ours from a previous life, or any whose lease expired.
   * Each is re-owned (so only one instance recovers it) and handed to its kind's recovery handler.
   */
  async recoverOrphans(): Promise<number> {
    const now = this.now();
    const orphans = await this.db
      .selectFrom('async_jobs')
      .selectAll()
      .where('status', '=', 'running')
      .where((eb) => eb.or([eb('lease_until', '<', now), eb('owner', 'is', null)]))
      .execute();
    let recovered = 0;
    for (const orphan of orphans) {
      if (this.active.has(orphan.id)) continue;
      const taken = await this.db
        .updateTable('async_jobs')
        .set({ owner: this.ownerId, lease_until: now + this.leaseMs })
        .where('id', '=', orphan.id)
        .where('status', '=', 'running')
        .where((eb) => eb.or([eb('lease_until', '<', now), eb('owner', 'is', null)]))
        .returningAll()
        .executeTakeFirst();
      // Another server won it, or its owner renewed in time.
      if (taken === undefined) continue;
      this.log.warn(
        { job: taken.id, kind: taken.kind, previousOwner: orphan.owner },
        'recovering orphaned job',
      );
      await this.reportTakeover({ job: taken, previousOwner: orphan.owner, newOwner: this.ownerId });
      this.begin(taken, true);
      recovered++;
    }
    return recovered;
  }

  private async reportTakeover(takeover: Takeover): Promise<void> {
    if (this.onTakeover === undefined) return;
    await this.onTakeover(takeover).catch((err: unknown) =>
      this.log.error({ err, job: takeover.job.id }, 'could not report a job take-over'),
    );
  }

  /**
   * Marks every job of a previous process of this single-node install as orphaned. Only for a server
   * that holds the SQLite data dir's exclusive lock (App.open): then no other server can be alive.
   */
  async releaseAllLeases(): Promise<void> {
    await this.db
      .updateTable('async_jobs')
      .set({ lease_until: 0 })
      .where('status', '=', 'running')
      .where('owner', '!=', this.ownerId)
      .execute();
  }
}

/** The statements every job runs, built and compiled once per queue. */
const RUNNING = 'running' as const;
const QUEUED = 'queued' as const;

/** A queued job becomes this server's running job: the claim both hot claims start from. */
function claimUpdate(db: Db, s: { id: string; owner: string; leaseUntil: number; started: number }) {
  return db
    .updateTable('async_jobs')
    .set({
      status: RUNNING,
      owner: s.owner,
      lease_until: s.leaseUntil,
      started: s.started,
      attempts: sql<number>`attempts + 1`,
    })
    .where('id', '=', s.id)
    .where('status', '=', QUEUED);
}

function jobStatements() {
  return {
    get: new CompiledStatement<{ id: string }, AsyncJobRow>(
      (db: Db, s) => db.selectFrom('async_jobs').selectAll().where('id', '=', s.id),
      ['id'],
    ),
    /** The oldest job that is its queue's head while its queue runs nothing. */
    nextRunnable: new CompiledStatement<Record<string, never>, { id: string }>(
      (db: Db) =>
        db
          .selectFrom('async_jobs as j')
          .select(['j.id'])
          .where('j.status', '=', QUEUED)
          .where((eb) =>
            eb.not(
              eb.exists(
                eb
                  .selectFrom('async_jobs as r')
                  .select('r.id')
                  .whereRef('r.queue_key', '=', 'j.queue_key')
                  .where('r.status', '=', RUNNING),
              ),
            ),
          )
          .where((eb) =>
            eb(
              'j.seq',
              '=',
              eb
                .selectFrom('async_jobs as q')
                .select(({ fn }) => fn.min('q.seq').as('m'))
                .whereRef('q.queue_key', '=', 'j.queue_key')
                .where('q.status', '=', QUEUED),
            ),
          )
          .orderBy('j.seq')
          .limit(1),
      [],
    ),
    claim: new CompiledStatement<
      { id: string; owner: string; leaseUntil: number; started: number },
      AsyncJobRow
    >((db: Db, s) => claimUpdate(db, s).returningAll(), ['id', 'owner', 'leaseUntil', 'started']),
    /** The claim of one given job: only as its queue's head, and only while its queue runs nothing. */
    claimSubmitted: new CompiledStatement<
      { id: string; queueKey: string; owner: string; leaseUntil: number; started: number },
      AsyncJobRow
    >(
      (db: Db, s) =>
        claimUpdate(db, s)
          .where((eb) =>
            eb.not(
              eb.exists(
                eb
                  .selectFrom('async_jobs as r')
                  .select('r.id')
                  .where('r.queue_key', '=', s.queueKey)
                  .where('r.status', '=', RUNNING),
              ),
            ),
          )
          .where((eb) =>
            eb(
              'seq',
              '=',
              eb
                .selectFrom('async_jobs as q')
                .select(({ fn }) => fn.min('q.seq').as('m'))
                .where('q.queue_key', '=', s.queueKey)
                .where('q.status', '=', QUEUED),
            ),
          )
          .returningAll(),
      ['id', 'queueKey', 'owner', 'leaseUntil', 'started'],
    ),
    finish: new CompiledStatement<
      { id: string; status: JobStatus; code: number; result: string; completed: number; owner: string },
      AsyncJobRow
    >(
      (db: Db, s) =>
        db
          .updateTable('async_jobs')
          .set({
            status: s.status,
            result_code: s.code,
            result: s.result,
            completed: s.completed,
            owner: null,
            lease_until: null,
          })
          .where('id', '=', s.id)
          .where('status', '=', RUNNING)
          .where('owner', '=', s.owner)
          .where('lease_until', '!=', 0)
          .returningAll(),
      ['id', 'status', 'code', 'result', 'completed', 'owner'],
    ),
    progress: new CompiledStatement<{ id: string; progress: string }, never>(
      (db: Db, s) => db.updateTable('async_jobs').set({ progress: s.progress }).where('id', '=', s.id),
      ['id', 'progress'],
    ),
  };
}

/** Whether `work` settles within `ms` (it keeps going either way). */
async function within(work: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([work.then(() => true as const), bound]);
  } finally {
    clearTimeout(timer);
  }
}

export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** The row of a job submitted to run. */
function queuedRow(id: string, job: JobSubmission): NewAsyncJob {
  return jobRow(id, job, { status: 'queued', queueKey: job.queueKey, payload: job.payload });
}

function jobRow(
  id: string,
  job: Omit<JobSubmission, 'queueKey' | 'payload'>,
  at: { status: 'queued' | 'succeeded'; queueKey: string; payload: object; result?: JobResult },
): NewAsyncJob {
  const now = Date.now();
  const done = at.status === 'succeeded';
  return {
    id,
    account_id: job.accountId,
    user_id: job.userId,
    cmd: job.cmd,
    kind: job.kind,
    queue_key: at.queueKey,
    instance_type: job.instanceType ?? null,
    instance_id: job.instanceId ?? null,
    payload: JSON.stringify(at.payload),
    status: at.status,
    result_code: 0,
    result: at.result === undefined ? null : JSON.stringify(at.result),
    progress: null,
    owner: null,
    lease_until: null,
    attempts: done ? 1 : 0,
    created: now,
    started: done ? now : null,
    completed: done ? now : null,
  };
}
