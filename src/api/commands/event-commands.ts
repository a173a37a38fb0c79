/** listEvents: the audit trail, scoped to the caller's account. */
import { formatDate, type RequestDate } from '../protocol/index.ts';
import { defineCommand, listParams, param } from '../command.ts';
import { listPaging, listScope, pagedPayload } from '../list-support.ts';
import { DOMAIN, loadLookups } from '../render/lookups.ts';

const EVENT_LEVELS = ['INFO', 'WARN', 'ERROR'] as const;

/** The user CloudStack names for what the system does on its own. */
const SYSTEM_USER = 'system';

/** The first instant after an end date: a day alone covers the whole day, a time its whole second. */
function endOf(date: RequestDate): number {
  return date.ms + (date.dayOnly ? 86_400_000 : 1_000);
}

export const listEvents = defineCommand({
  name: 'listEvents',
  description: 'A command to list events',
  params: {
    id: param.uuid('The ID of the event'),
    type: param.string('The event type (see event types)'),
    level: param.enumOf(EVENT_LEVELS, 'The event level'),
    startdate: param.date('The start date range of the list you want to retrieve'),
    enddate: param.date('The end date range of the list you want to retrieve (a day alone: to its end)'),
    ...listParams,
  },
  async handler({ services, caller, args, reader }) {
    const scope = await listScope(services, caller, args, args.id !== undefined);
    const lookups = await loadLookups(services);
    const page = await services.events.list(
      {
        accountId: scope.accountId,
        id: args.id,
        type: args.type,
        level: args.level,
        from: args.startdate?.ms,
        before: args.enddate === undefined ? undefined : endOf(args.enddate),
        keyword: args.keyword,
      },
      listPaging(services, reader),
    );
    return pagedPayload('event', page, (e) => ({
      id: e.id,
      // Who acted (the caller, or the system for host alerts and internal failures); `account` is
      // the account the event belongs to, such as the owner of the VM an admin stopped.
      username: e.user_id === null ? SYSTEM_USER : (lookups.userName(e.user_id) ?? e.user_id),
      type: e.type,
      level: e.level,
      description: e.description,
      account: lookups.accountName(e.account_id),
      domainid: DOMAIN.id,
      domain: DOMAIN.name,
      created: formatDate(Number(e.created)),
      state: e.state,
      resourcetype: e.resource_type ?? undefined,
      resourceid: e.resource_id ?? undefined,
    }));
  },
});
