import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../../src/api/server.ts';
import { openTestApp, type TestApp } from '../helpers/test-app.ts';
import { TestApiClient } from '../helpers/api-client.ts';

describe('API smoke: signed HTTP create -> poll -> list', () => {
  let t: TestApp;
  let server: FastifyInstance;
  let demo: TestApiClient;
  beforeAll(async () => {
    t = await openTestApp();
    server = await buildServer(t.app);
    const url = await server.listen({ port: 0, host: '127.0.0.1' });
    demo = new TestApiClient(url, t.seeded.demo.apiKey, t.seeded.demo.secretKey);
  });
  afterAll(async () => {
    await server.close();
    await t.close();
  });

  it('takes a snapshot through the API', async () => {
    const vms = await demo.payload('listVirtualMachines');
    expect(vms['count']).toBeGreaterThanOrEqual(4);
    const vm = (vms['virtualmachine'] as { id: string; name: string }[]).find((v) => v.name === 'web-1')!;
    const created = await demo.payload('createVMSnapshot', { virtualmachineid: vm.id, snapshotmemory: true });
    expect(created).toHaveProperty('id');
    const job = await demo.waitForJob(created['jobid'] as string);
    expect(job['jobstatus']).toBe(1);
    const result = job['jobresult'] as { vmsnapshot: Record<string, unknown> };
    expect(result.vmsnapshot['state']).toBe('Ready');
    expect(result.vmsnapshot['strategy']).toBe('hypervisor');
    const list = await demo.payload('listVMSnapshot', { virtualmachineid: vm.id });
    expect(list['count']).toBe(1);
  });
});
