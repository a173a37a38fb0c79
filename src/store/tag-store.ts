/**
 * Resource tags: listTags' read, paged in SQL, and the bounds on what one tenant may write. Every
 * tag a tenant writes is read back by lists other tenants call (listTags for admins, the tag
 * lookups of listVirtualMachines / listVMSnapshot), so the size of a tag, of a request and of a
 * resource's tag set are all bounded (issue 9, item 3).
 */
import type { SelectQueryBuilder } from 'kysely';
import { InvalidParameterError } from '../core/errors.ts';
import type { Db } from './database.ts';
import { countRows, readQueryPage, whereKeyword, type PageRequest, type PageResult } from './list-page.ts';
import type { Database, TagRow } from './schema.ts';
import { sortableId } from './sortable-id.ts';

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
  const tagged = await countRows(
    db.selectFrom('resource_tags').where('resource_type', '=', type).where('resource_id', '=', id),
  );
  if (tagged + adding > TAGS_PER_RESOURCE_MAX) {
    throw new InvalidParameterError(
      `Too many tags on ${type} with id ${id}: at most ${TAGS_PER_RESOURCE_MAX} are allowed`,
    );
  }
}

/** One page of tags, oldest first, and how many matched (served by resource_tags_account_created). */
export async function listTags(db: Db, filter: TagFilter, page: PageRequest): Promise<PageResult<TagRow>> {
  return readQueryPage(
    filtered(db.selectFrom('resource_tags'), filter),
    (q) => q.selectAll().orderBy('created').orderBy('id'),
    page,
  );
}

function filtered(q: TagQuery, f: TagFilter): TagQuery {
  let out = q;
  if (f.accountId !== null) out = out.where('account_id', '=', f.accountId);
  if (f.resourceType !== undefined) out = out.where('resource_type', '=', f.resourceType);
  if (f.resourceId !== undefined) out = out.where('resource_id', '=', f.resourceId);
  if (f.key !== undefined) out = out.where('key', '=', f.key);
  if (f.value !== undefined) out = out.where('value', '=', f.value);
  return whereKeyword(out, f.keyword, ['key', 'value']);
}

/** A createTags request whose resources have been checked: each resource id with its owner. */
export interface NewTags {
  readonly resourceType: string;
  /** In request order (a repeated id meets its own tags and is refused as a duplicate). */
  readonly resources: readonly { readonly id: string; readonly owner: string }[];
  readonly tags: readonly { key: string; value: string }[];
  readonly now: number;
}

/**
 * Writes every tag on every resource in one transaction: a resource over its tag bound, or a key it
 * already carries, refuses the whole request (431) and writes nothing.
 */
export async function addTags(db: Db, req: NewTags): Promise<void> {
  await db.transaction().execute(async (trx) => {
    for (const { id, owner } of req.resources) {
      await checkTagRoom(trx, req.resourceType, id, req.tags.length);
      for (const tag of req.tags) {
        const dup = await trx
          .selectFrom('resource_tags')
          .select('id')
          .where('resource_id', '=', id)
          .where('key', '=', tag.key)
          .executeTakeFirst();
        if (dup !== undefined) {
          throw new InvalidParameterError(`tag ${tag.key} already on ${req.resourceType} with id ${id}`);
        }
        await trx
          .insertInto('resource_tags')
          .values({
            id: sortableId(req.now),
            key: tag.key,
            value: tag.value,
            resource_type: req.resourceType,
            resource_id: id,
            account_id: owner,
            created: req.now,
          })
          .execute();
      }
    }
  });
}

/** Which tags deleteTags removes: by key, and by value too when one is given. */
export interface TagSelector {
  readonly key: string;
  readonly value: string | undefined;
}

/** Deletes the selected tags of each resource (every tag when no selector is given). */
export async function removeTags(
  db: Db,
  resourceType: string,
  ids: readonly string[],
  selectors: readonly TagSelector[],
): Promise<void> {
  for (const id of ids) {
    const base = db
      .deleteFrom('resource_tags')
      .where('resource_type', '=', resourceType)
      .where('resource_id', '=', id);
    if (selectors.length === 0) {
      await base.execute();
      continue;
    }
    for (const t of selectors) {
      const byKey = base.where('key', '=', t.key);
      await (t.value === undefined ? byKey : byKey.where('value', '=', t.value)).execute();
    }
  }
}
