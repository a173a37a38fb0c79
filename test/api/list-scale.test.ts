/**
 * Issue 9, item 3: one tenant must not be able to slow or change another tenant's lists. A second
 * tenant ("bob") floods the job, event and tag tables (as 29,500 createTags/deleteTags calls did in
 * the report); demo's listAsyncJobs, listEvents and listTags must answer exactly as before, pages
 * and counts must be right for every scope, and a list must read one page of rows from the store,
 * not the table: a row-counting kysely plugin sees every row a list's queries return.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { ApiServices } from '../../src/api/api-services.ts';
import type { App } from '../../src/app/app.ts';
import { createApiServices } from '../../src/app/api-services.ts';
import { readArgs } from '../../src/api/command.ts';
import { ParamReader } from '../../src/api/protocol/index.ts';
import { findCommand } from '../../src/api/server.ts';
import type { Caller } from '../../src/manager/caller.ts';
import { EventStore } from '../../src/store/event-store.ts';
import { bodyOf, itemsOf } from '../helpers/api-server.ts';
import { RowCounter } from '../helpers/row-counter.ts';
import { floodLists } from '../helpers/list-flood.ts';
import { useSecondTenant } from '../helpers/second-tenant.ts';

const FLOOD = 3000;

/** The App's API services, but every query of the list commands goes through `counter`. */
function countingServices(app: App, counter: RowCounter): ApiServices {
  const db = app.deps.db.withPlugin(counter);
  return createApiServices({ ...app, deps: { ...app.deps, db, events: new EventStore(db) } });
}

/** Runs a command's handler as the dispatcher does, after authentication. */
async function run(
  services: ApiServices,
  caller: Caller,
  name: string,
  params: Record<string, string> = {},
): Promise<Record<string, unknown>> {
  const command = findCommand(name);
  if (command === undefined) throw new Error(`no command ${name}`);
  const reader = new ParamReader(command.name, { command: name, ...params });
  return command.handler({ services, caller, args: readArgs(command.params, reader), reader });
}

describe('lists under a tenant that floods jobs, events and tags', () => {
  const env = useSecondTenant();

  beforeAll(async () => {
    const { h } = env;
    // Demo's own history: three tag jobs (with their tags) on one of its VMs.
    const vm = await h.t.vm('web-1');
    for (const key of ['a', 'b', 'c']) {
      const res = await h.demo.call('createTags', {
        resourcetype: 'UserVm',
        resourceids: vm.id,
        'tags[0].key': key,
        'tags[0].value': key.toUpperCase(),
      });
      await h.demo.waitForJob(bodyOf(res, 'createTags')['jobid'] as string);
    }
  });

  const demoView = async (): Promise<Record<string, unknown>> => ({
    jobs: await env.h.demo.payload('listAsyncJobs'),
    jobsPage: await env.h.demo.payload('listAsyncJobs', { page: 2, pagesize: 1 }),
    events: await env.h.demo.payload('listEvents'),
    tags: await env.h.demo.payload('listTags'),
    tagsPage: await env.h.demo.payload('listTags', { page: 2, pagesize: 2 }),
    listall: await env.h.demo.payload('listAsyncJobs', { listall: true }),
  });

  it("another tenant's flood changes nothing in demo's lists, counts or pages", async () => {
    const before = await demoView();
    expect(before['tags']).toMatchObject({ count: 3 });
    expect(itemsOf(before['tags'] as Record<string, unknown>, 'tag').map((t) => t['key'])).toEqual([
      'a',
      'b',
      'c',
    ]);
    expect(itemsOf(before['tagsPage'] as Record<string, unknown>, 'tag').map((t) => t['key'])).toEqual(['c']);
    await floodLists(env.h.t.app.deps.db, env.b, FLOOD);
    // And some of bob's real tag traffic on top.
    for (const command of ['createTags', 'deleteTags']) {
      const res = await env.b.client.call(command, {
        resourcetype: 'UserVm',
        resourceids: env.b.runningVm,
        'tags[0].key': 'live',
        'tags[0].value': 'yes',
      });
      expect(res.status, res.text).toBe(200);
      await env.b.client.waitForJob(bodyOf(res, command)['jobid'] as string);
    }
    expect(await demoView()).toEqual(before);
  });

  it("an admin's listall counts every tenant's rows and pages through them in order", async () => {
    const { db } = env.h.t.app.deps;
    const total = Number(
      (
        await db
          .selectFrom('async_jobs')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirst()
      )?.n,
    );
    const seqs = (await db.selectFrom('async_jobs').select('id').orderBy('seq', 'desc').execute()).map(
      (r) => r.id,
    );
    const page = await env.h.admin.payload('listAsyncJobs', { listall: true, page: 3, pagesize: 7 });
    expect(page['count']).toBe(total);
    expect(itemsOf(page, 'asyncjobs').map((j) => j['jobid'])).toEqual(seqs.slice(14, 21));
    // Past the end: no items, but still the count (CloudStack's BaseListCmd).
    const beyond = await env.h.admin.payload('listAsyncJobs', { listall: true, page: 1000, pagesize: 7 });
    expect(beyond).toEqual({ count: total });
    const bobTags = await env.h.admin.payload('listTags', { account: 'bob', page: 2, pagesize: 10 });
    expect(bobTags['count']).toBe(FLOOD + 1);
    expect(itemsOf(bobTags, 'tag').map((t) => t['key'])).toEqual(
      Array.from({ length: 10 }, (_, i) => `flood-${i + 9}`),
    );
    const bobEvents = await env.h.admin.payload('listEvents', {
      account: 'bob',
      keyword: 'FLOOD',
      pagesize: 5,
      page: 1,
    });
    expect(bobEvents['count']).toBe(FLOOD);
  });

  it('a list reads one page of rows from the store, never the flooded table', async () => {
    const { db } = env.h.t.app.deps;
    const own = async (table: 'async_jobs' | 'events' | 'resource_tags'): Promise<number> =>
      (await db.selectFrom(table).select('id').where('account_id', '=', env.h.t.demo.accountId).execute())
        .length;
    const counter = new RowCounter();
    const services = countingServices(env.h.t.app, counter);
    const cases: [Caller, string, Record<string, string>, string, number][] = [
      // [caller, command, params, table, most rows the command may read from that table]
      [env.h.t.demo, 'listAsyncJobs', {}, 'async_jobs', await own('async_jobs')],
      [env.h.t.demo, 'listAsyncJobs', {}, 'resource_tags', await own('resource_tags')],
      [env.h.t.demo, 'listEvents', {}, 'events', await own('events')],
      [env.h.t.demo, 'listTags', {}, 'resource_tags', 3],
      [env.h.t.demo, 'listTags', { keyword: 'a' }, 'resource_tags', 1],
      // One page, plus the count row when the page is full.
      [env.h.t.admin, 'listAsyncJobs', { listall: 'true', page: '2', pagesize: '5' }, 'async_jobs', 6],
      [env.h.t.admin, 'listAsyncJobs', { listall: 'true', page: '2', pagesize: '5' }, 'resource_tags', 5],
      [env.h.t.admin, 'listEvents', { account: 'bob', page: '4', pagesize: '5' }, 'events', 6],
      [env.h.t.admin, 'listTags', { listall: 'true', page: '1', pagesize: '5' }, 'resource_tags', 6],
    ];
    for (const [caller, command, params, table, most] of cases) {
      counter.reset();
      const payload = await run(services, caller, command, params);
      expect(payload).toBeTypeOf('object');
      expect(
        counter.rowsReadFrom(table),
        `${command} ${JSON.stringify(params)} rows of ${table}`,
      ).toBeLessThanOrEqual(most);
    }
  });
});
