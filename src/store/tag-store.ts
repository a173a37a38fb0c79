/**
 * Resource tags: listTags' read, paged in SQL, and the bounds on what one tenant may write. Every
 * tag a tenant writes is read back by lists other tenants call (listTags for admins, the tag
 * lookups of listVirtualMachines / listVMSnapshot), so the size of a tag, of a request and of a
 * resource's tag set are all bounded (issue 9, item 3).
 */
import { sql, type SelectQueryBuilder } from 'kysely';
import { InvalidParameterError } from '../core/errors.ts';
import type { Db } from './database.ts';
import {
  containsPattern,
  countOf,
  readPage,
  withPage,
  type PageRequest,
  type PageResult,
} from './list-page.ts';
import type { Database, TagRow } from './schema.ts';

/** CloudStack's resource_tags.key / value are varchar(255). */
export const TAG_TEXT_MAX = 255;
/** Tag pairs in one createTags / deleteTags request. */
export const TAGS_PER_REQUEST_MAX = 50;
/** Resource ids in one createTags / deleteTags request. */
export const RESOURCES_PER_REQUEST_MAX = 100;
/** Tags on one resource. */
export const TAGS_PER_RESOURCE_MAX = 100;

export interface TagFilter {
  /** Only this account's tags; null: every account's. */
  readonly accountId: string | null;
  readonly resourceType?: string | undefined;
  readonly resourceId?: string | undefined;
  readonly key?: string | undefined;
  readonly value?: string | undefined;
  /** Case-insensitive substring of the key or the value. */
  readonly keyword?: string | undefined;
}

type TagQuery = SelectQueryBuilder<Database, 'resource_tags', object>;

/**
 * Refuses a tag request over the bounds, before anything is looked up or written: keys and values
 * (a deleteTags selector may have no value) of at most 255 characters, at most 50 pairs and 100
 * resources. The texts name the limit, never echo the oversized input.
 */
export function checkTagRequest(
  tags: readonly { key: string; value?: string | undefined }[],
  resourceCount: number,
): void {
  if (tags.length > TAGS_PER_REQUEST_MAX) {
    throw new InvalidParameterError(
      `Too many tags in one request: ${tags.length}, at most ${TAGS_PER_REQUEST_MAX} are allowed`,
    );
  }
  if (resourceCount > RESOURCES_PER_REQUEST_MAX) {
    throw new InvalidParameterError(
      `Too many resource ids in one request: ${resourceCount}, at most ${RESOURCES_PER_REQUEST_MAX} are allowed`,
    );
  }
  for (const { key, value } of tags) {
    if (key.length > TAG_TEXT_MAX) {
      throw new InvalidParameterError(`Tag key length ${key.length} exceeds the maximum of ${TAG_TEXT_MAX}`);
    }
    if (value !== undefined && value.length > TAG_TEXT_MAX) {
      throw new InvalidParameterError(
        `Tag value length ${value.length} for key ${key} exceeds the maximum of ${TAG_TEXT_MAX}`,
      );
    }
  }
}

/**
 * Refuses adding `adding` tags to a resource that would then carry more than the maximum. Run in
 * the transaction that writes them.
 */
export async function checkTagRoom(db: Db, type: string, id: string, adding: number): Promise<void> {
  const row = await db
    .selectFrom('resource_tags')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('resource_type', '=', type)
    .where('resource_id', '=', id)
    .executeTakeFirst();
  if (countOf(row) + adding > TAGS_PER_RESOURCE_MAX) {
    throw new InvalidParameterError(
      `Too many tags on ${type} with id ${id}: at most ${TAGS_PER_RESOURCE_MAX} are allowed`,
    );
  }
}

/** One page of tags, oldest first, and how many matched (served by resource_tags_account_created). */
export async function listTags(db: Db, filter: TagFilter, page: PageRequest): Promise<PageResult<TagRow>> {
  const base = filtered(db.selectFrom('resource_tags'), filter);
  return readPage(
    page,
    (p) => withPage(base.selectAll().orderBy('created').orderBy('id'), p).execute(),
    async () => countOf(await base.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirst()),
  );
}

function filtered(q: TagQuery, f: TagFilter): TagQuery {
  let out = q;
  if (f.accountId !== null) out = out.where('account_id', '=', f.accountId);
  if (f.resourceType !== undefined) out = out.where('resource_type', '=', f.resourceType);
  if (f.resourceId !== undefined) out = out.where('resource_id', '=', f.resourceId);
  if (f.key !== undefined) out = out.where('key', '=', f.key);
  if (f.value !== undefined) out = out.where('value', '=', f.value);
  if (f.keyword !== undefined && f.keyword !== '') {
    const pattern = containsPattern(f.keyword);
    out = out.where(
      (eb) =>
        sql<boolean>`(lower(${eb.ref('key')}) like ${pattern} escape '\\' or lower(${eb.ref('value')}) like ${pattern} escape '\\')`,
    );
  }
  return out;
}
