/**
 * Issue 12: the management servers know each other. Each server writes its row at start, beats it,
 * and marks it Down when it stops; listManagementServers shows them as CloudStack does (its shape is
 * checked with every command's in test/api/response-shapes.test.ts). A server that died without
 * stopping is shown Down once its heartbeat is older than the job lease.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ManagementServerStore } from '../../src/store/management-server-store.ts';
import { until } from '../helpers/eventually.ts';
import { postgresUnavailable } from '../helpers/postgres.ts';
import { sharedDatabase, type SharedDatabase } from './cluster-db.ts';
import { twoServersOnPostgres, type TwoServers } from './two-apps.ts';

describe('management servers', () => {
  let shared: SharedDatabase | undefined;
  afterEach(async () => {
    await shared?.drop();
    shared = undefined;
  });

  it('a server is Up while it beats within the lease, Down once silent longer or stopped', async () => {
    shared = await sharedDatabase('sqlite');
    const store = new ManagementServerStore((await shared.connect()).db);
    const server = { name: 'mgmt', host: '10.0.0.1', port: 8080, version: '0.1.0' };
    await store.register({ ...server, id: 'a' }, 1_000);
    await store.register({ ...server, id: 'b' }, 2_000);
    await store.heartbeat('a', 10_000);
    const states = async (now: number) =>
      Object.fromEntries((await store.list(now, 5_000)).map((s) => [s.id, s.state]));
    expect(await states(7_000)).toEqual({ a: 'Up', b: 'Up' });
    expect(await states(7_001)).toEqual({ a: 'Up', b: 'Down' });
    await store.markStopped('a', 11_000);
    expect(await states(11_000)).toEqual({ a: 'Down', b: 'Down' });
    expect((await store.list(11_000, 5_000)).find((s) => s.id === 'a')?.stopped).toBe(11_000);
  });

  describe.skipIf(postgresUnavailable() !== undefined)('two servers on PostgreSQL', () => {
    let servers: TwoServers | undefined;
    afterEach(async () => {
      await servers?.close();
      servers = undefined;
    });

    it('each lists both, Up; a stopped one is Down', async () => {
      servers = await twoServersOnPostgres();
      const { a, b } = servers;
      const ids = [a.app.deps.jobs.ownerId, b.deps.jobs.ownerId];
      for (const app of [a.app, b]) {
        const listed = await app.apiServices.managementServers.list();
        expect(listed.filter((s) => ids.includes(s.id)).map((s) => s.state)).toEqual(['Up', 'Up']);
      }
      await b.stop();
      await until(async () => {
        const listed = await a.app.apiServices.managementServers.list();
        return listed.find((s) => s.id === ids[1])?.state === 'Down';
      }, 'server B to be shown Down');
    });
  });
});
