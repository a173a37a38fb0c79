/**
 * `/health` reports whether this server reaches the management database (issue 12): HAProxy's check
 * (deploy/haproxy/haproxy.cfg) takes a server out of rotation on a 503. Before, /health answered 200
 * `{status: 'ok'}` whatever the database did.
 */
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/api/server.ts';
import type { Database } from '../../src/store/schema.ts';
import { pingDatabase } from '../../src/store/database-health.ts';
import { openTestApp, type TestApp } from '../helpers/test-app.ts';
import { freePort } from './cluster-processes.ts';

const opened: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const o of opened.splice(0).reverse()) await o.close();
});

async function testApp(): Promise<TestApp> {
  const t = await openTestApp();
  opened.push(t);
  return t;
}

describe('/health', () => {
  it('answers 200 with the database reachable and its latency', async () => {
    const t = await testApp();
    const server = await buildServer(t.app);
    opened.push(server);
    const res = await server.inject({ method: 'GET', url: '/health' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      status: 'ok',
      database: { reachable: true, latencyMs: expect.any(Number) },
    });
  });

  it('answers 503 "unavailable" when the database does not answer', async () => {
    const t = await testApp();
    const services = { ...t.app.apiServices, health: () => pingDatabase(t.app.deps.db, 1_000) };
    const server = await buildServer(services);
    opened.push(server);
    // The database goes away under the running server.
    await t.app.deps.db.destroy();
    const res = await server.inject({ method: 'GET', url: '/health' });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({ status: 'unavailable', database: { reachable: false } });
  });
});

describe('pingDatabase', () => {
  it('reports a PostgreSQL nobody listens on as unreachable, within its bound', async () => {
    const port = await freePort();
    const db = new Kysely<Database>({
      dialect: new PostgresDialect({
        pool: new pg.Pool({ connectionString: `postgres://nobody@127.0.0.1:${port}/none`, max: 1 }),
      }),
    });
    opened.push({ close: () => db.destroy() });
    const health = await pingDatabase(db, 5_000);
    expect(health).toMatchObject({ reachable: false, error: expect.stringMatching(/ECONNREFUSED|connect/) });
  });
});
