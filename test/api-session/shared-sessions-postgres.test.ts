/**
 * Issue 14, item 2: sessions live in the database, so a session opened on one management server is
 * accepted by every other sharing it, and a logout on one ends it on all. Two servers in this
 * process on one PostgreSQL database (skips without VMSNAP_TEST_PG_URL, never in CI). Before issue
 * 14 there were no sessions: the login fails.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/api/server.ts';
import { twoServersOnPostgres, type TwoServers } from '../cluster/two-apps.ts';
import { postgresUnavailable } from '../helpers/postgres.ts';
import { login, send } from './session-client.ts';

const skipReason = postgresUnavailable();

describe.skipIf(skipReason !== undefined)(
  `sessions shared by servers on PostgreSQL ${skipReason ?? ''}`,
  () => {
    let servers: TwoServers;
    let apiA: FastifyInstance;
    let apiB: FastifyInstance;
    let urlA: string;
    let urlB: string;

    beforeAll(async () => {
      servers = await twoServersOnPostgres();
      apiA = await buildServer(servers.a.app);
      apiB = await buildServer(servers.b);
      urlA = await apiA.listen({ port: 0, host: '127.0.0.1' });
      urlB = await apiB.listen({ port: 0, host: '127.0.0.1' });
    });
    afterAll(async () => {
      await apiA?.close();
      await apiB?.close();
      await servers?.close();
    });

    it('a session from server A works on server B; a logout on B ends it on A', async () => {
      const s = await login(urlA, 'demo', servers.a.seeded.passwords.demo.password);
      const onB = (command: string) =>
        send(urlB, { command, sessionkey: s.sessionKey }, { cookie: s.cookie });
      expect((await onB('listVirtualMachines')).status).toBe(200);
      expect((await onB('logout')).status).toBe(200);
      expect((await s.call('listVirtualMachines')).status).toBe(401);
    });
  },
);
