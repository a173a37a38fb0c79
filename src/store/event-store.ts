/** The audit trail: CloudStack-style events (VMSNAPSHOT.CREATE, VM.START ...). */
import type { SelectQueryBuilder } from 'kysely';
import type { Db } from './database.ts';
import { readQueryPage, whereKeyword, type PageRequest, type PageResult } from './list-page.ts';
import type { Database, EventRow } from './schema.ts';
import { sortableId } from './sortable-id.ts';

export interface NewEvent {
  readonly accountId: string;
  readonly userId: string | null;
  readonly type: string;
  readonly level?: 'INFO' | 'WARN' | 'ERROR';
  readonly state: 'Scheduled' | 'Started' | 'Completed' | 'Created';
  readonly description: string;
  readonly resourceType?: string;
  readonly resourceId?: string;
}

/** What listEvents filters on; every field is optional but the account scope. */
export interface EventFilter {
  /** Only this account's events; null: every account's. */
  readonly accountId: string | null;
  readonly id?: string | undefined;
  readonly type?: string | undefined;
  readonly level?: string | undefined;
  /** Created at or after (epoch ms). */
  readonly from?: number | undefined;
  /** Created before (epoch ms). */
  readonly before?: number | undefined;
  /** Case-insensitive substring of the type or the description. */
  readonly keyword?: string | undefined;
}

/** Rows deleted per statement and statements per purge round: a round never holds the store long. */
export interface PurgeBatches {
  readonly batchSize: number;
  readonly maxBatches: number;
}

type EventQuery = SelectQueryBuilder<Database, 'events', object>;

export class EventStore {
  constructor(private readonly db: Db) {}

  async record(e: NewEvent): Promise<void> {
    const now = Date.now();
    await this.db
      .insertInto('events')
      .values({
        id: sortableId(now),
        account_id: e.accountId,
        user_id: e.userId,
        type: e.type,
        level: e.level ?? 'INFO',
        state: e.state,
        description: e.description,
        resource_type: e.resourceType ?? null,
        resource_id: e.resourceId ?? null,
        created: now,
      })
      .execute();
  }

  /** True when an event of this type, resource and text is already recorded (alerts said once). */
  async exists(e: { type: string; resourceId: string; description: string }): Promise<boolean> {
    const row = await this.db
      .selectFrom('events')
      .select('id')
      .where('type', '=', e.type)
      .where('resource_id', '=', e.resourceId)
      .where('description', '=', e.description)
      .executeTakeFirst();
    return row !== undefined;
  }

  /** One page of events, newest first, and how many matched (served by events_account_created). */
  async list(filter: EventFilter, page: PageRequest): Promise<PageResult<EventRow>> {
    return readQueryPage(
      filtered(this.db.selectFrom('events'), filter),
      (q) => q.selectAll().orderBy('created', 'desc').orderBy('id', 'desc'),
      page,
    );
  }

  /**
   * Deletes events created before `cutoff`, `batchSize` rows per statement and at
   * most `maxBatches` statements; `between` runs between statements (the caller yields there so
   * API requests interleave). Returns the number deleted.
   */
  async purgeBefore(
    cutoff: number,
    batches: PurgeBatches,
    between: () => Promise<void> = async () => {},
  ): Promise<number> {
    let deleted = 0;
    for (let i = 0; i < batches.maxBatches; i++) {
      if (i > 0) await between();
      const res = await this.db
        .deleteFrom('events')
        .where('id', 'in', (eb) =>
          eb.selectFrom('events').select('id').where('created', '<', cutoff).limit(batches.batchSize),
        )
        .executeTakeFirst();
      const n = Number(res.numDeletedRows);
      deleted += n;
      if (n < batches.batchSize) break;
    }
    return deleted;
  }
}

function filtered(q: EventQuery, f: EventFilter): EventQuery {
  let out = q;
  if (f.accountId !== null) out = out.where('account_id', '=', f.accountId);
  if (f.id !== undefined) out = out.where('id', '=', f.id);
  if (f.type !== undefined) out = out.where('type', '=', f.type);
  if (f.level !== undefined) out = out.where('level', '=', f.level);
  if (f.from !== undefined) out = out.where('created', '>=', f.from);
  if (f.before !== undefined) out = out.where('created', '<', f.before);
  return whereKeyword(out, f.keyword, ['type', 'description']);
}
