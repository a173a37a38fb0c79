/**
 * createVMSnapshot's `memorymode` and `quiescepolicy` are enum parameters: checked by the
 * parameter reader against the unions the core defines (431 for any other value, before the
 * handler runs), and listed with their allowed values by listApis.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../../src/api/server.ts';
import { openTestApp, type TestApp } from '../helpers/test-app.ts';
import { TestApiClient } from '../helpers/api-client.ts';

let t: TestApp;
let server: FastifyInstance;
let demo: TestApiClient;
let vmId: string;

beforeAll(async () => {
  t = await openTestApp();
  server = await buildServer(t.app);
  const url = await server.listen({ port: 0, host: '127.0.0.1' });
  demo = new TestApiClient(url, t.seeded.demo.apiKey, t.seeded.demo.secretKey);
  const vms = (await demo.payload('listVirtualMachines'))['virtualmachine'] as { id: string; name: string }[];
  vmId = vms.find((v) => v.name === 'web-1')!.id;
});
afterAll(async () => {
  await server.close();
  await t.close();
});

describe('enum parameters', () => {
  it.each([
    ['memorymode', 'sideways', 'Invalid memorymode sideways: use live or internal'],
    ['quiescepolicy', 'sometimes', 'Invalid quiescepolicy sometimes: use required or best-effort'],
  ])('refuses %s=%s with 431, and no snapshot is made', async (name, value, message) => {
    const res = await demo.call('createVMSnapshot', { virtualmachineid: vmId, [name]: value });
    expect(res.status).toBe(431);
    const body = res.json['createvmsnapshotresponse'] as Record<string, unknown>;
    expect(body['errorcode']).toBe(431);
    expect(body['errortext']).toBe(message);
    const list = await demo.payload('listVMSnapshot', { virtualmachineid: vmId });
    expect(list['count'] ?? 0).toBe(0);
  });

  it('accepts the allowed values, and the snapshot keeps them as typed options', async () => {
    const created = await demo.payload('createVMSnapshot', {
      virtualmachineid: vmId,
      snapshotmemory: true,
      memorymode: 'internal',
      quiescepolicy: 'best-effort',
    });
    const job = await demo.waitForJob(created['jobid'] as string);
    expect(job['jobstatus']).toBe(1);
    const stored = await t.app.deps.snapshots.get(created['id'] as string);
    expect(stored?.options).toEqual({ memoryMode: 'internal', quiescePolicy: 'best-effort' });
  });

  it('listApis shows the allowed values', async () => {
    const apis = (await demo.payload('listApis', { name: 'createVMSnapshot' }))['api'] as {
      params: { name: string; type: string; description: string }[];
    }[];
    const params = new Map(apis[0]!.params.map((p) => [p.name, p]));
    expect(params.get('memorymode')).toMatchObject({ type: 'string' });
    expect(params.get('memorymode')?.description).toMatch(/\(one of: live, internal\)$/);
    expect(params.get('quiescepolicy')?.description).toMatch(/\(one of: required, best-effort\)$/);
  });
});
