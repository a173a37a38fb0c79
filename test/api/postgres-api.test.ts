/**
 * The API's reads through ApiServices (name lookups, tag scopes, volume and snapshot lists, tag
 * writes) on PostgreSQL, which types a query's literals and unions more strictly than SQLite.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/api/server.ts';
import { TestApiClient } from '../helpers/api-client.ts';
import { itemsOf } from '../helpers/api-server.ts';
import { createTempDatabase, postgresUnavailable, type TempDatabase } from '../helpers/postgres.ts';
import { openTestApp, type TestApp } from '../helpers/test-app.ts';

const skipReason = postgresUnavailable();

describe.skipIf(skipReason !== undefined)(`API services on PostgreSQL ${skipReason ?? ''}`, () => {
  let db: TempDatabase;
  let t: TestApp;
  let server: FastifyInstance;
  let demo: TestApiClient;
  let admin: TestApiClient;

  beforeAll(async () => {
    db = await createTempDatabase();
    t = await openTestApp({ databaseUrl: db.url });
    server = await buildServer(t.app);
    const url = await server.listen({ port: 0, host: '127.0.0.1' });
    demo = new TestApiClient(url, t.seeded.demo.apiKey, t.seeded.demo.secretKey);
    admin = new TestApiClient(url, t.seeded.admin.apiKey, t.seeded.admin.secretKey);
  });
  afterAll(async () => {
    await server?.close();
    await t?.close();
    await db?.drop();
  });

  it('lists with names and tags, and writes tags, as on SQLite', async () => {
    const vm = await t.vm('web-1');
    const snap = await demo.payload('createVMSnapshot', { virtualmachineid: vm.id, name: 'pg-snap' });
    expect((await demo.waitForJob(snap['jobid'] as string))['jobstatus']).toBe(1);
    const tagged = await demo.payload('createTags', {
      resourcetype: 'VMSnapshot',
      resourceids: snap['id'] as string,
      'tags[0].key': 'env',
      'tags[0].value': 'pg',
    });
    expect((await demo.waitForJob(tagged['jobid'] as string))['jobstatus']).toBe(1);
    const snaps = itemsOf(await demo.payload('listVMSnapshot', { virtualmachineid: vm.id }), 'vmSnapshot');
    expect(snaps[0]).toMatchObject({ displayname: 'pg-snap', account: 'demo', zonename: 'sim-zone-1' });
    expect(snaps[0]!['tags']).toEqual([expect.objectContaining({ key: 'env', value: 'pg' })]);
    const vms = itemsOf(await demo.payload('listVirtualMachines', { id: vm.id }), 'virtualmachine');
    expect(vms[0]).toMatchObject({ account: 'demo', zonename: 'sim-zone-1' });
    expect(itemsOf(await demo.payload('listVolumes', { virtualmachineid: vm.id }), 'volume').length).toBe(1);
    const events = itemsOf(await demo.payload('listEvents'), 'event');
    expect(events.length).toBeGreaterThan(0);
    expect(events.every((e) => e['username'] === 'demo')).toBe(true);
    expect(itemsOf(await admin.payload('listZones'), 'zone').map((z) => z['name'])).toEqual(['sim-zone-1']);
    const deleted = await demo.payload('deleteTags', {
      resourcetype: 'VMSnapshot',
      resourceids: snap['id'] as string,
    });
    expect((await demo.waitForJob(deleted['jobid'] as string))['jobstatus']).toBe(1);
    expect(itemsOf(await demo.payload('listTags'), 'tag')).toEqual([]);
  });
});
