/**
 * Rows for the list tests and the list benchmark (issue 9, item 3): a tenant's finished jobs,
 * events and tags written straight into the store, as a tenant's createTags/deleteTags traffic
 * would leave them, far faster than through the API.
 */
import type { Db } from '../../src/store/database.ts';
import type { AsyncJobRow } from '../../src/store/schema.ts';
import { sortableId } from '../../src/store/sortable-id.ts';

/** The rows one statement inserts: small enough for SQLite's and PostgreSQL's parameter limits. */
const BATCH = 250;

/** A finished (succeeded) tag job of `accountId`, created, started and completed at `at`. */
export function finishedJobRow(
  accountId: string,
  userId: string,
  at: number,
  id: string = sortableId(at),
): Omit<AsyncJobRow, 'seq'> {
  return {
    id,
    account_id: accountId,
    user_id: userId,
    cmd: 'org.apache.cloudstack.api.command.user.tag.CreateTagsCmd',
    kind: 'tags',
    queue_key: `done:${id}`,
    instance_type: null,
    instance_id: null,
    payload: '{}',
    status: 'succeeded',
    result_code: 0,
    result: JSON.stringify({ success: true }),
    progress: null,
    owner: null,
    lease_until: null,
    attempts: 1,
    created: at,
    started: at,
    completed: at,
  };
}

/**
 * Inserts `count` finished tag jobs, as many events (type TAGS.CREATE, description `label`) and
 * as many UserVm tags (key `<label>-<n>`, n from 0, each on its own resource, as the per-resource
 * cap would force) of one account, in insertion order.
 */
export async function floodLists(
  db: Db,
  owner: { readonly accountId: string; readonly userId: string },
  count: number,
  label = 'flood',
): Promise<void> {
  const now = Date.now();
  for (let start = 0; start < count; start += BATCH) {
    const ids = Array.from({ length: Math.min(BATCH, count - start) }, () => sortableId(now));
    await db
      .insertInto('async_jobs')
      .values(ids.map((id) => finishedJobRow(owner.accountId, owner.userId, now, id)))
      .execute();
    await db
      .insertInto('events')
      .values(
        ids.map((id) => ({
          id,
          account_id: owner.accountId,
          user_id: owner.userId,
          type: 'TAGS.CREATE',
          level: 'INFO',
          state: 'Completed',
          description: label,
          resource_type: null,
          resource_id: null,
          created: now,
        })),
      )
      .execute();
    await db
      .insertInto('resource_tags')
      .values(
        ids.map((id, i) => ({
          id,
          key: `${label}-${start + i}`,
          value: 'x',
          resource_type: 'UserVm',
          resource_id: sortableId(now),
          account_id: owner.accountId,
          created: now,
        })),
      )
      .execute();
  }
}
