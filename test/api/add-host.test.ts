/**
 * Issue 9, item 9: addHost is not a request forger. Only http and https agent URLs, no credentials
 * in them; whatever answers is read under a cap and never quoted back to the caller; a fingerprint
 * given for an https agent must be well-formed and is refused for http.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorOf, itemsOf, startApiServer, type ApiHarness } from '../helpers/api-server.ts';
import { startFakeAgent, type FakeAgent } from '../helpers/fake-agent.ts';
import { startFloodingServer } from '../helpers/flooding-server.ts';

describe('addHost against hostile URLs and hostile answers', () => {
  let h: ApiHarness;
  let fake: FakeAgent;
  const params = (url: string, extra: Record<string, string> = {}) => ({
    zoneid: h.t.seeded.zoneId,
    hypervisor: 'KVM',
    url,
    password: 'add-host-token-xxxxxxxx',
    ...extra,
  });
  const hostCount = async () => (await h.t.app.deps.inventory.listHosts()).length;

  beforeAll(async () => {
    h = await startApiServer();
    fake = await startFakeAgent();
  });
  afterAll(async () => {
    await h?.close();
    await fake?.close();
  });

  it('refuses every scheme but http and https, and URLs with credentials, with 431', async () => {
    const hosts = await hostCount();
    const port = new URL(fake.url).port;
    for (const url of [
      'file:///etc/passwd',
      `gopher://127.0.0.1:${port}/_GET%20/`,
      `ftp://127.0.0.1:${port}/`,
      'data:text/plain,hello',
      `http://admin:secret@127.0.0.1:${port}`,
    ]) {
      const { errortext } = errorOf(await h.admin.call('addHost', params(url)), 'addHost', 431);
      expect(errortext, url).toMatch(/Invalid url/);
      expect(errortext, url).not.toContain('secret');
    }
    expect(await hostCount()).toBe(hosts);
    expect(fake.requests).toEqual([]);
  });

  it('cuts a huge answer at the cap, closes the connection, and does not quote it', async () => {
    const limit = 64 * 1024 * 1024;
    const server = await startFloodingServer({ status: 200, limitBytes: limit });
    try {
      const { errortext } = errorOf(await h.admin.call('addHost', params(server.url)), 'addHost', 530);
      expect(errortext).toMatch(/larger than 16777216 bytes/);
      expect(errortext).not.toContain('LEAKED');
      expect(await server.cutShort).toBe(true);
      expect(server.written()).toBeLessThan(limit);
    } finally {
      await server.close();
    }
  });

  it('names the HTTP status and the URL of a failed answer, never its body or its details', async () => {
    const answers: [number, string][] = [
      [500, 'LEAKED-SECRET <html>internal admin page</html>'],
      [200, 'LEAKED-SECRET plain text'],
      [200, JSON.stringify({ result: false, details: 'LEAKED-SECRET from a failed Ping' })],
    ];
    for (const [status, body] of answers) {
      fake.respond = (_req, res) => {
        res.statusCode = status;
        res.end(body);
      };
      const { errortext } = errorOf(await h.admin.call('addHost', params(fake.url)), 'addHost', 530);
      expect(errortext).toContain(fake.url);
      expect(errortext).not.toContain('LEAKED');
      if (status === 500) expect(errortext).toContain('HTTP 500');
    }
  });

  it('checks certfingerprint: well-formed, and for https URLs only', async () => {
    const hex = 'ab'.repeat(32);
    const onHttp = errorOf(
      await h.admin.call('addHost', params(fake.url, { certfingerprint: hex })),
      'addHost',
      431,
    );
    expect(onHttp.errortext).toMatch(/https/);
    const malformed = errorOf(
      await h.admin.call('addHost', params('https://127.0.0.1:1', { certfingerprint: 'not-a-fingerprint' })),
      'addHost',
      431,
    );
    expect(malformed.errortext).toMatch(/certfingerprint/);
  });

  it('still adds a well-behaved http agent', async () => {
    fake.respond = (_req, res, kind) => {
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify(
          kind === 'Ping' ? { result: true, hypervisor: 'KVM' } : { result: true, vms: [], pools: [] },
        ),
      );
    };
    const added = await h.admin.payload('addHost', params(fake.url));
    const host = itemsOf(added, 'host')[0]!;
    expect(host).toMatchObject({ state: 'Up', hypervisor: 'KVM' });
    expect(host['certfingerprint']).toBeUndefined();
  });

  it('listHosts shows the certificate fingerprint pinned for a host, as addHost returned it (issue 10)', async () => {
    const [pinned, plain] = await h.t.app.deps.inventory.listHosts();
    const fingerprint = 'ab'.repeat(32);
    await h.t.app.deps.db
      .updateTable('hosts')
      .set({ tls_fingerprint: fingerprint })
      .where('id', '=', pinned!.id)
      .execute();
    const hosts = itemsOf(await h.admin.payload('listHosts'), 'host');
    expect(hosts.find((x) => x['id'] === pinned!.id)?.['certfingerprint']).toBe(fingerprint);
    expect(hosts.find((x) => x['id'] === plain!.id)).not.toHaveProperty('certfingerprint');
  });
});
