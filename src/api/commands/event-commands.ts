/** listEvents: the audit trail, scoped to the caller's account. */
import { formatDate } from '../protocol/index.ts';
import { defineCommand, listParams, param } from '../command.ts';
import { listPaging, listScope, pagedPayload } from '../list-support.ts';
import { DOMAIN, loadLookups } from '../render/lookups.ts';

export const listEvents = defineCommand({
  name: 'listEvents',
  description: 'A command to list events',
  params: {
    id: param.uuid('The ID of the event'),
    type: param.string('The event type (see event types)'),
    level: param.string('The event level (INFO, WARN, ERROR)'),
    startdate: param.string('The start date range of the list you want to retrieve (yyyy-MM-dd)'),
    enddate: param.string('The end date range of the list you want to retrieve (yyyy-MM-dd)'),
    ...listParams,
  },
  async handler({ app, caller, args, reader }) {
    const scope = await listScope(app, caller, args, args.id !== undefined);
    const lookups = await loadLookups(app);
    const start = args.startdate === undefined ? Number.NaN : Date.parse(args.startdate);
    const end = args.enddate === undefined ? Number.NaN : Date.parse(args.enddate) + 86_400_000;
    const page = await app.deps.events.list(
      {
        accountId: scope.accountId,
        id: args.id,
        type: args.type,
        level: args.level,
        from: Number.isNaN(start) ? undefined : start,
        before: Number.isNaN(end) ? undefined : end,
        keyword: args.keyword,
      },
      listPaging(app, reader),
    );
    return pagedPayload('event', page, (e) => ({
      id: e.id,
      username: lookups.accountName(e.account_id),
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
