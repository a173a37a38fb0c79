/** listEvents: the audit trail, scoped to the caller's account. */
import { formatDate } from '../protocol/index.ts';
import { defineCommand, listParams, param } from '../command.ts';
import { listScope, matchesKeyword, pagedList } from '../list-support.ts';
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
    const start = args.startdate === undefined ? undefined : Date.parse(args.startdate);
    const end = args.enddate === undefined ? undefined : Date.parse(args.enddate) + 86_400_000;
    const events = (await app.deps.db.selectFrom('events').selectAll().orderBy('created', 'desc').execute())
      .filter((e) => scope.visible(e.account_id))
      .filter((e) => args.id === undefined || e.id === args.id)
      .filter((e) => args.type === undefined || e.type === args.type)
      .filter((e) => args.level === undefined || e.level === args.level)
      .filter((e) => start === undefined || Number.isNaN(start) || Number(e.created) >= start)
      .filter((e) => end === undefined || Number.isNaN(end) || Number(e.created) < end)
      .filter((e) => matchesKeyword(args.keyword, e.type, e.description));
    return pagedList(app, reader, 'event', events, (e) => ({
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
