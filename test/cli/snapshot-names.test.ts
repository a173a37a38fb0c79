/**
 * Snapshot commands take a name as well as an id: the name is looked up among the snapshots the
 * caller can see (optionally within one VM), and a name shared by several snapshots is refused with
 * the candidates. Against a real server, in-process.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/api/server.ts';
import { ApiClient } from '../../src/cli/client/api-client.ts';
import { resolveSnapshot } from '../../src/cli/client/resolve-snapshot.ts';
import { openTestApp, type TestApp } from '../helpers/test-app.ts';

describe('resolveSnapshot', () => {
  let t: TestApp;
  let server: FastifyInstance;
  let demo: ApiClient;
  const ids: Record<string, string> = {};

  async function snapshot(vmName: string, name: string): Promise<string> {
    const vm = await t.vm(vmName);
    const created = await demo.call('createVMSnapshot', { virtualmachineid: vm.id, name });
    const job = await demo.waitForJob(String(created['jobid']), () => {}, { intervalMs: 20 });
    expect(job.jobstatus).toBe(1);
    return String(created['id']);
  }

  beforeAll(async () => {
    t = await openTestApp();
    server = await buildServer(t.app);
    const endpoint = `${await server.listen({ port: 0, host: '127.0.0.1' })}/client/api`;
    demo = new ApiClient({ profile: 'test', endpoint, ...t.seeded.demo });
    ids['web-1/nightly'] = await snapshot('web-1', 'nightly');
    ids['db-1/nightly'] = await snapshot('db-1', 'nightly');
    ids['web-1/only-once'] = await snapshot('web-1', 'only-once');
  });
  afterAll(async () => {
    await server.close();
    await t.close();
  });

  it('a unique name gives its id; an id is taken as it is, without a lookup', async () => {
    expect(await resolveSnapshot(demo, 'only-once', undefined)).toEqual({
      id: ids['web-1/only-once'],
      label: 'only-once',
    });
    const unknownId = '00000000-0000-4000-8000-000000000000';
    expect((await resolveSnapshot(demo, unknownId, undefined)).id).toBe(unknownId);
  });

  it('a shared name is refused with every candidate; --vm picks one', async () => {
    const err = await resolveSnapshot(demo, 'nightly', undefined).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    const message = (err as Error).message;
    expect(message).toMatch(/^2 snapshots are named nightly: /);
    expect(message).toContain(`${ids['web-1/nightly']} (VM web-1, Ready,`);
    expect(message).toContain(`${ids['db-1/nightly']} (VM db-1, Ready,`);
    expect(message).toContain('give the id or --vm instead');
    expect((await resolveSnapshot(demo, 'nightly', 'db-1')).id).toBe(ids['db-1/nightly']);
  });

  it('an unknown name, or one that belongs to another VM, is a readable error', async () => {
    await expect(resolveSnapshot(demo, 'nope', undefined)).rejects.toThrow(
      'no snapshot named nope (`vmsnap snapshot list` shows the snapshots you can see)',
    );
    await expect(resolveSnapshot(demo, 'only-once', 'db-1')).rejects.toThrow(
      'no snapshot named only-once of VM db-1',
    );
  });
});
