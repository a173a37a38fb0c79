/**
 * listResourceLimits / updateResourceLimit (admin) / updateResourceCount (admin): CloudStack's
 * per-account limits for instances (0), volumes (2), CPU (8), memory (9) and primary storage (10).
 * vmsnap has no domain admins, so the two updates are for admins only.
 */
import { InvalidParameterError } from '../../core/errors.ts';
import {
  resourceTypeByName,
  resourceTypeByOrdinal,
  type CountView,
  type LimitOwner,
  type LimitView,
  type ResourceType,
} from '../../manager/resource-limits.ts';
import { defineCommand, listParams, param, required } from '../command.ts';
import { pagedList } from '../list-support.ts';
import { DOMAIN } from '../render/lookups.ts';

const TYPES_HELP =
  '0 - Instance, 2 - Volume, 8 - CPU, 9 - Memory (MiB), 10 - PrimaryStorage (GiB); vmsnap manages only these';

/** Resource.ResourceType.fromOrdinal, limited to the types vmsnap manages. */
function typeOf(ordinal: number | undefined, message: string): ResourceType | undefined {
  if (ordinal === undefined) return undefined;
  const type = resourceTypeByOrdinal(ordinal);
  if (type === undefined) throw new InvalidParameterError(message);
  return type;
}

function ownerFields(owner: LimitOwner): Record<string, string> {
  return owner.kind === 'account'
    ? { account: owner.account.name, domainid: DOMAIN.id, domain: DOMAIN.name }
    : { domainid: DOMAIN.id, domain: DOMAIN.name };
}

/** ResourceLimitResponse: `resourcetype` is the ordinal as a string, as CloudStack sends it. */
function renderLimit(limit: LimitView): Record<string, unknown> {
  return {
    ...ownerFields(limit.owner),
    resourcetype: String(limit.type.ordinal),
    resourcetypename: limit.type.name,
    max: limit.max,
  };
}

function renderCount(count: CountView): Record<string, unknown> {
  return {
    ...ownerFields(count.owner),
    resourcetype: String(count.type.ordinal),
    resourcetypename: count.type.name,
    resourcecount: count.count,
  };
}

export const listResourceLimits = defineCommand({
  name: 'listResourceLimits',
  description: 'Lists resource limits. A user sees its own account; an admin may name an account.',
  params: {
    resourcetype: param.integer(`Type of resource: ${TYPES_HELP}`),
    resourcetypename: param.string(
      'Type of resource (wins over resourcetype): user_vm, volume, cpu, memory, primary_storage',
    ),
    ...listParams,
  },
  async handler({ services, caller, args, reader }) {
    let type: ResourceType | undefined;
    if (args.resourcetypename !== undefined) {
      type = resourceTypeByName(args.resourcetypename);
      if (type === undefined) throw new InvalidParameterError('Please specify a valid resource type name.');
    } else {
      type = typeOf(args.resourcetype, 'Please specify a valid resource type.');
    }
    const limits = services.limits;
    const owner = await limits.resolveOwner(caller, args.account, args.domainid, 'listResourceLimits');
    const items = await limits.list(owner, type);
    return pagedList(services, reader, 'resourcelimit', items, renderLimit);
  },
});

export const updateResourceLimit = defineCommand({
  name: 'updateResourceLimit',
  description:
    'Updates the resource limit of an account (admin). max = -1 for unlimited; admin accounts are always unlimited.',
  admin: true,
  params: {
    resourcetype: required(param.integer(`Type of resource to update: ${TYPES_HELP}`)),
    max: param.long('Maximum resource limit; -1 (the default) for unlimited'),
    account: param.string(
      'Update resource for a specified account (domainid optional: vmsnap has only the ROOT domain)',
    ),
    domainid: param.uuid("The account's domain (ROOT); alone, the domain itself, whose limits cannot change"),
  },
  async handler({ services, caller, args }) {
    const type = resourceTypeByOrdinal(args.resourcetype);
    if (type === undefined) throw new InvalidParameterError('Please specify valid resource type');
    const limits = services.limits;
    if (args.account === undefined && args.domainid === undefined) {
      throw new InvalidParameterError(
        'AccountId or domainId have to be specified in order to update resource limit',
      );
    }
    const owner = await limits.resolveOwner(caller, args.account, args.domainid, 'updateResourceLimit');
    const updated = await limits.update(owner, type, args.max ?? -1);
    return { resourcelimit: renderLimit(updated) };
  },
});

export const updateResourceCount = defineCommand({
  name: 'updateResourceCount',
  description:
    'Recalculates the resource counts of an account, or of the whole domain without account (admin). ' +
    'vmsnap counts from the VM and volume rows on every check, so this reports what is held now.',
  admin: true,
  params: {
    domainid: required(param.uuid('The domain (ROOT); with account, that account only')),
    account: param.string('Update resource count for a specified account of the domain'),
    resourcetype: param.integer(`Type of resource to count; all when absent: ${TYPES_HELP}`),
  },
  async handler({ services, caller, args }) {
    const type = typeOf(args.resourcetype, 'Please specify valid resource type');
    const limits = services.limits;
    const owner = await limits.resolveOwner(caller, args.account, args.domainid, 'updateResourceCount');
    const counts = await limits.counts(owner, type);
    return { count: counts.length, resourcecount: counts.map(renderCount) };
  },
});
