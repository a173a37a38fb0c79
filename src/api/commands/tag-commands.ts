/**
 * createTags / deleteTags / listTags. Resource types: VMSnapshot (the one clients need), UserVm and
 * Volume. Tags are owned by the resource's account; another account's resource is reported like a
 * missing one.
 */
import { InvalidParameterError } from '../../core/errors.ts';
import type { Caller } from '../../manager/caller.ts';
import type { TaggedResourceType } from '../../manager/tag-manager.ts';
import type { ApiServices } from '../api-services.ts';
import { defineCommand, listParams, param, required, type ParamSpec } from '../command.ts';
import { listPaging, listScope, pagedPayload } from '../list-support.ts';
import { DOMAIN, loadLookups } from '../render/lookups.ts';

const TYPES: Record<string, TaggedResourceType> = {
  vmsnapshot: 'VMSnapshot',
  vmsnapshotpolicy: 'VMSnapshotPolicy',
  uservm: 'UserVm',
  volume: 'Volume',
};

function resourceType(raw: string): TaggedResourceType {
  const t = TYPES[raw.toLowerCase()];
  if (t === undefined) throw new InvalidParameterError(`Unable to find the resource type: ${raw}`);
  return t;
}

function splitIds(raw: string): string[] {
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

export const createTags = defineCommand({
  name: 'createTags',
  description: 'Creates resource tag(s) (async)',
  async: true,
  params: {
    resourceids: required(param.string('List of resources to create the tags for', 65535)),
    resourcetype: required(
      param.string('Type of the resource: VMSnapshot, UserVm, Volume, VMSnapshotPolicy'),
    ),
    tags: param.map('Map of tags (key/value pairs)'),
  },
  async handler({ services, caller, args }) {
    const type = resourceType(args.resourcetype);
    if (args.tags.length === 0) {
      throw new InvalidParameterError(
        'Unable to execute API command createtags due to missing parameter tags',
      );
    }
    await services.tags.create(caller, type, splitIds(args.resourceids), args.tags);
    return {
      jobid: await completedJob(services, caller, 'org.apache.cloudstack.api.command.user.tag.CreateTagsCmd'),
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
  async handler({ services, caller, args }) {
    const type = resourceType(args.resourcetype);
    await services.tags.delete(caller, type, splitIds(args.resourceids), args.tags);
    return {
      jobid: await completedJob(services, caller, 'org.apache.cloudstack.api.command.user.tag.DeleteTagsCmd'),
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
  async handler({ services, caller, args, reader }) {
    const scope = await listScope(services, caller, args, false);
    const lookups = await loadLookups(services);
    const type = args.resourcetype === undefined ? undefined : resourceType(args.resourcetype);
    const page = await services.tags.list(
      {
        accountId: scope.accountId,
        resourceType: type,
        resourceId: args.resourceid,
        key: args.key,
        value: args.value,
        keyword: args.keyword,
      },
      listPaging(services, reader),
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
async function completedJob(services: ApiServices, caller: Caller, cmd: string): Promise<string> {
  return services.jobs.recordCompleted(
    { kind: 'tags', accountId: caller.accountId, userId: caller.userId, cmd },
    { success: true },
  );
}
