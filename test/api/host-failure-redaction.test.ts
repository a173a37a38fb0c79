/**
 * Issue 9, item 10, for every job that talks to a host: a host's raw failure text (QEMU's, the
 * transport's) reached tenants through VM start, stop and deploy, whose jobs quoted the agent's
 * `details` ("Unable to start Instance web-1: <raw text>"); only the snapshot worker redacted it.
 * The composition root now wraps the one agent gateway, so every job sees a summary with an error
 * id, and the raw text is reported once: one ERROR event, for admins, under that id. addHost, an
 * admin's command about the admin's own host, keeps the transport's reason.
 */
import { createServer, type AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { NewFaultRule } from '../../src/hypervisors/simulator/index.ts';
import { bodyOf, errorOf, itemsOf, startApiServer, type ApiHarness } from '../helpers/api-server.ts';
import type { TestApiClient } from '../helpers/api-client.ts';

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const RAW_QEMU =
  'qemu-system-x86_64: -drive file=/var/lib/vmsnap/pool/i-2-7-VM-ROOT.qcow2: Could not open: Permission denied';

describe("a host's failure text in VM jobs", () => {
  let h: ApiHarness;

  beforeAll(async () => {
    h = await startApiServer();
  });
  afterEach(() => {
    h.t.app.simulator.faults.clear();
  });
  afterAll(async () => {
    await h.close();
  });

  /** The admin account's ERROR events that name `id`. */
  async function adminEventsFor(id: string): Promise<Record<string, unknown>[]> {
    const events = itemsOf(await h.admin.payload('listEvents', { listall: true, level: 'ERROR' }), 'event');
    return events.filter((e) => e['account'] === 'admin' && String(e['description']).includes(id));
  }

  /**
   * Runs `command` as demo with `fault` injected, waits for its job to fail, and checks what the
   * tenant and the admins see: the job's text is `<prefix>: <summary> (error id …)`, without the raw
   * text, and exactly one admin event holds the raw text under that id.
   */
  async function failsRedacted(
    client: TestApiClient,
    command: string,
    params: Record<string, string>,
    fault: NewFaultRule,
    expected: { prefix: string; summary: string },
  ): Promise<void> {
    h.t.app.simulator.faults.add(fault);
    const submitted = bodyOf(await client.call(command, params), command);
    const job = await client.waitForJob(submitted['jobid'] as string);
    expect(job).toMatchObject({ jobstatus: 2, jobresultcode: 530 });
    const errortext = String((job['jobresult'] as Record<string, unknown>)['errortext']);
    const id = new RegExp(
      `^${expected.prefix}: ${expected.summary} \\(error id (${UUID}); see the server log\\)$`,
    ).exec(errortext)?.[1];
    expect(id, errortext).toBeDefined();

    const tenantSees = JSON.stringify([job, await client.payload('listEvents', { listall: true })]);
    expect(tenantSees).not.toContain('qemu-system');
    expect(tenantSees).not.toContain('/var/lib/vmsnap');

    // Reported once: a second wrapping would record a second event quoting the first id.
    const forAdmins = await adminEventsFor(id!);
    expect(forAdmins).toHaveLength(1);
    expect(forAdmins[0]!['description']).toContain(RAW_QEMU);
  }

  it.each([
    {
      what: "StartVM's failure answer",
      vm: 'app-1',
      state: 'Stopped',
      call: 'startVirtualMachine',
      kind: 'StartVM',
      action: 'fail',
      prefix: 'Unable to start Instance app-1',
      summary: 'the host reported an error',
    },
    {
      what: 'StopVM failing in transport',
      vm: 'db-1',
      state: 'Running',
      call: 'stopVirtualMachine',
      kind: 'StopVM',
      action: 'throw',
      prefix: 'Unable to stop Instance db-1',
      summary: 'the host could not be reached',
    },
  ] as const)('$what: the job says "$summary" with an id, the admin event has the raw text', async (c) => {
    const vm = await h.t.vm(c.vm);
    expect(vm.state).toBe(c.state);
    await failsRedacted(
      h.demo,
      c.call,
      { id: vm.id },
      { command: c.kind, scope: { vmName: vm.instanceName }, action: { kind: c.action, message: RAW_QEMU } },
      c,
    );
    expect((await h.t.vm(c.vm)).state).toBe(c.state);
  });

  it("deployVirtualMachine: CreateVM's failure answer is redacted the same way", async () => {
    // Room for one more VM whatever the seeded usage (instances, volumes, CPU, memory, storage).
    for (const resourcetype of [0, 2, 8, 9, 10])
      await h.admin.payload('updateResourceLimit', { account: 'demo', resourcetype, max: -1 });
    await failsRedacted(
      h.demo,
      'deployVirtualMachine',
      { zoneid: h.t.seeded.zoneId, name: 'redacted-deploy', memory: '256', disksizes: '64' },
      { command: 'CreateVM', action: { kind: 'fail', message: RAW_QEMU }, count: 1 },
      { prefix: 'Unable to create Instance redacted-deploy', summary: 'the host reported an error' },
    );
  });

  it("addHost keeps the transport's reason for the admin (it is their host) and records no event", async () => {
    const port = await closedPort();
    const errorsBefore = (await h.admin.payload('listEvents', { listall: true, level: 'ERROR' }))['count'];
    const res = await h.admin.call('addHost', {
      zoneid: h.t.seeded.zoneId,
      hypervisor: 'KVM',
      url: `http://127.0.0.1:${port}`,
      password: 'redaction-test-token-0123',
    });
    expect(errorOf(res, 'addHost', 530).errortext).toBe(
      `Cannot add host at http://127.0.0.1:${port}/: the agent did not answer (connect ECONNREFUSED 127.0.0.1:${port})`,
    );
    const errorsAfter = (await h.admin.payload('listEvents', { listall: true, level: 'ERROR' }))['count'];
    expect(errorsAfter).toBe(errorsBefore);
  });
});

/** A port on 127.0.0.1 that nothing listens on: bound by the system, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}
