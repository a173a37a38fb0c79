/**
 * listVMSnapshot's `virtualsize` (issue 14, the console's "Size"): the bytes a snapshot's disks
 * covered at the take, summed in the page's SQL from vm_snapshot_volumes, on SQLite and PostgreSQL
 * (which sums a bigint as numeric, handed over as a string).
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/api/server.ts';
import { TestApiClient } from '../helpers/api-client.ts';
import { itemsOf } from '../helpers/api-server.ts';
import { createTempDatabase, postgresUnavailable, type TempDatabase } from '../helpers/postgres.ts';
import { openTestApp, type TestApp } from '../helpers/test-app.ts';

const pgSkip = postgresUnavailable();
const engines = [
  { name: 'SQLite', skip: undefined },
  { name: 'PostgreSQL', skip: pgSkip },
] as const;

describe.each(engines)('listVMSnapshot virtualsize on $name', ({ name, skip }) => {
  let db: TempDatabase | undefined;
  let t: TestApp;
  let server: FastifyInstance;
  let demo: TestApiClient;

  beforeAll(async () => {
    if (skip !== undefined) return;
    db = name === 'PostgreSQL' ? await createTempDatabase() : undefined;
    t = await openTestApp(db === undefined ? {} : { databaseUrl: db.url });
    server = await buildServer(t.app);
    const url = await server.listen({ port: 0, host: '127.0.0.1' });
    demo = new TestApiClient(url, t.seeded.demo.apiKey, t.seeded.demo.secretKey);
  });
  afterAll(async () => {
    await server?.close();
    await t?.close();
    await db?.drop();
  });

  async function take(vmId: string, params: Record<string, string | boolean>): Promise<string> {
    const created = await demo.payload('createVMSnapshot', { virtualmachineid: vmId, ...params });
    expect((await demo.waitForJob(created['jobid'] as string))['jobstatus']).toBe(1);
    return created['id'] as string;
  }

  it.skipIf(skip !== undefined)(
    `is the sum of a multi-disk VM's volume sizes, memory not counted ${skip ?? ''}`,
    async () => {
      const vm = await t.vm('db-1');
      const volumes = itemsOf(await demo.payload('listVolumes', { virtualmachineid: vm.id }), 'volume');
      expect(volumes.length).toBe(3);
      const disks = volumes.reduce((sum, v) => sum + (v['size'] as number), 0);
      // 20 + 100 + 200 GiB as seeded: more than 2^32, so a 32-bit sum would show.
      expect(disks).toBe(320 * 2 ** 30);

      const withMemory = await take(vm.id, { name: 'with-memory', snapshotmemory: true });
      const diskOnly = await take(vm.id, { name: 'disk-only', snapshotmemory: false });
      const listed = itemsOf(await demo.payload('listVMSnapshot', { virtualmachineid: vm.id }), 'vmSnapshot');
      const byId = new Map(listed.map((s) => [s['id'], s]));
      expect(byId.get(withMemory)).toMatchObject({ type: 'DiskAndMemory', virtualsize: disks });
      expect(byId.get(diskOnly)).toMatchObject({ type: 'Disk', virtualsize: disks });
      // The job's result shows the same snapshot with the same size.
      const created = await demo.payload('createVMSnapshot', { virtualmachineid: vm.id, name: 'via-job' });
      const job = await demo.waitForJob(created['jobid'] as string);
      expect((job['jobresult'] as Record<string, unknown>)['vmsnapshot']).toMatchObject({
        virtualsize: disks,
      });
    },
  );

  it.skipIf(skip !== undefined)(`is per snapshot on a page of several VMs ${skip ?? ''}`, async () => {
    const web = await t.vm('web-1');
    const id = await take(web.id, { name: 'web-size' });
    const listed = itemsOf(await demo.payload('listVMSnapshot', { listall: true }), 'vmSnapshot');
    expect(listed.find((s) => s['id'] === id)).toMatchObject({ virtualsize: 20 * 2 ** 30 });
    expect(listed.filter((s) => s['virtualmachineid'] === web.id)).toHaveLength(1);
  });
});
