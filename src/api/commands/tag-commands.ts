/**
 * createTags / deleteTags / listTags. Resource types: VMSnapshot (the one clients need), UserVm and
 * Volume. Tags are owned by the resource's account; another account's resource is reported like a
 * missing one.
 */
import type { App } from '../../app/app.ts';
import { InvalidParameterError } from '../../core/errors.ts';
import { loadOwned, type Owned } from '../../manager/access.ts';
import type { Caller } from '../../manager/caller.ts';
import { defineCommand, listParams, param, required, type ParamSpec } from '../command.ts';
import { sortableId } from '../../store/sortable-id.ts';
import { checkTagRequest, checkTagRoom, listTags as readTags } from '../../store/tag-store.ts';
import { listPaging, listScope, pagedPayload } from '../list-support.ts';
import { DOMAIN, loadLookups } from '../render/lookups.ts';

const TYPES: Record<string, string> = { vmsnapshot: 'VMSnapshot', uservm: 'UserVm', volume: 'Volume' };

function resourceType(raw: string): string {
  const t = TYPES[raw.toLowerCase()];
  if (t === undefined) throw new InvalidParameterError(`Unable to find the resource type: ${raw}`);
  return t;
}

/** The resource's owner; another account's resource gets the answer for a missing one. */
async function ownerOf(app: App, caller: Caller, type: string, id: string): Promise<string> {
  const load = async (): Promise<Owned | undefined> => {
    const owner =
      type === 'VMSnapshot'
        ? (await app.deps.snapshots.get(id))?.accountId
        : type === 'UserVm'
          ? (await app.deps.inventory.getVm(id))?.accountId
          : await volumeOwner(app, id);
    return owner === undefined ? undefined : { accountId: owner };
  };
  const notFound = (): InvalidParameterError =>
    new InvalidParameterError(`Unable to find resource by id ${id} and type ${type}`);
  return (await loadOwned(caller, load, notFound)).accountId;
}

async function volumeOwner(app: App, id: string): Promise<string | undefined> {
  const row = await app.deps.db
    .selectFrom('volumes as v')
    .innerJoin('vms as m', 'm.id', 'v.vm_id')
    .select('m.account_id')
    .where('v.id', '=', id)
    .executeTakeFirst();
  return row?.account_id;
}

function splitIds(raw: string): string[] {
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

async function checkOwned(
  app: App,
  caller: Caller,
  type: string,
  ids: string[],
): Promise<Map<string, string>> {
  const owners = new Map<string, string>();
  for (const id of ids) {
    owners.set(id, await ownerOf(app, caller, type, id));
  }
  return owners;
}

export const createTags = defineCommand({
  name: 'createTags',
  description: 'Creates resource tag(s) (async)',
  async: true,
  params: {
    resourceids: required(param.string('List of resources to create the tags for', 65535)),
    resourcetype: required(param.string('Type of the resource: VMSnapshot, UserVm, Volume')),
    tags: param.map('Map of tags (key/value pairs)'),
  },
  async handler({ app, caller, args }) {
    const type = resourceType(args.resourcetype);
    if (args.tags.length === 0) {
      throw new InvalidParameterError(
        'Unable to execute API command createtags due to missing parameter tags',
      );
    }
    const ids = splitIds(args.resourceids);
    checkTagRequest(args.tags, ids.length);
    const owners = await checkOwned(app, caller, type, ids);
    const now = Date.now();
    await app.deps.db.transaction().execute(async (trx) => {
      for (const id of ids) {
        await checkTagRoom(trx, type, id, args.tags.length);
        for (const tag of args.tags) {
          const dup = await trx
            .selectFrom('resource_tags')
            .select('id')
            .where('resource_id', '=', id)
            .where('key', '=', tag.key)
            .executeTakeFirst();
          if (dup !== undefined) {
            throw new InvalidParameterError(`tag ${tag.key} already on ${type} with id ${id}`);
          }
          await trx
            .insertInto('resource_tags')
            .values({
              id: sortableId(now),
              key: tag.key,
              value: tag.value,
              resource_type: type,
              resource_id: id,
              account_id: owners.get(id) ?? caller.accountId,
              created: now,
            })
            .execute();
        }
      }
    });
    return {
      jobid: await completedJob(app, caller, 'org.apache.cloudstack.api.command.user.tag.CreateTagsCmd'),
    };
  },
});

/**
 * DeleteTagsCmd's `tags` map: unlike createTags, a key alone is allowed (CloudStack puts a null
 * value in the map and deletes the key whatever its value).
 */
function tagSelectors(description: string): ParamSpec<{ key: string; value: string | undefined }[]> {
  return {
    type: 'map',
    description,
    required: false,
    read: (r, n) =>
      r.map(n).map((e) => {
        const key = e['key'];
        if (key === undefined)
          throw new InvalidParameterError(`No key is passed in for value ${e['value'] ?? 'null'}`);
        return { key, value: e['value'] };
      }),
  };
}

export const deleteTags = defineCommand({
  name: 'deleteTags',
  description: 'Deleting resource tag(s) (async)',
  async: true,
  params: {
    resourceids: required(param.string('Delete tags for resource ids', 65535)),
    resourcetype: required(param.string('Delete tag by resource type')),
    tags: tagSelectors('Delete tags matching key/value pairs (the value is optional); all tags when absent'),
  },
  async handler({ app, caller, args }) {
    const type = resourceType(args.resourcetype);
    const ids = splitIds(args.resourceids);
    checkTagRequest(args.tags, ids.length);
    await checkOwned(app, caller, type, ids);
    for (const id of ids) {
      const base = app.deps.db
        .deleteFrom('resource_tags')
        .where('resource_type', '=', type)
        .where('resource_id', '=', id);
      if (args.tags.length === 0) {
        await base.execute();
        continue;
      }
      for (const t of args.tags) {
        const byKey = base.where('key', '=', t.key);
        await (t.value === undefined ? byKey : byKey.where('value', '=', t.value)).execute();
      }
    }
    return {
      jobid: await completedJob(app, caller, 'org.apache.cloudstack.api.command.user.tag.DeleteTagsCmd'),
    };
  },
});

export const listTags = defineCommand({
  name: 'listTags',
  description: 'List resource tag(s)',
  params: {
    resourcetype: param.string('List by resource type'),
    resourceid: param.string('List by resource id'),
    key: param.string('List by key'),
    value: param.string('List by value'),
    ...listParams,
  },
  async handler({ app, caller, args, reader }) {
    const scope = await listScope(app, caller, args, false);
    const lookups = await loadLookups(app);
    const type = args.resourcetype === undefined ? undefined : resourceType(args.resourcetype);
    const page = await readTags(
      app.deps.db,
      {
        accountId: scope.accountId,
        resourceType: type,
        resourceId: args.resourceid,
        key: args.key,
        value: args.value,
        keyword: args.keyword,
      },
      listPaging(app, reader),
    );
    return pagedPayload('tag', page, (t) => ({
      key: t.key,
      value: t.value,
      resourcetype: t.resource_type,
      resourceid: t.resource_id,
      account: lookups.accountName(t.account_id),
      domainid: DOMAIN.id,
      domain: DOMAIN.name,
    }));
  },
});

/**
 * Tag commands are async in CloudStack (clients poll the job), but the work is one transaction:
 * record an already-finished job so queryAsyncJobResult answers success.
 */
async function completedJob(app: App, caller: Caller, cmd: string): Promise<string> {
  return app.deps.jobs.recordCompleted(
    { kind: 'tags', accountId: caller.accountId, userId: caller.userId, cmd },
    { success: true },
  );
}
