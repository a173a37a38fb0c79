/**
 * Issue 9, item 9: TLS to host agents. A real agent served over https is added by URL alone (its
 * certificate pinned on first use) or with its fingerprint, and then serves commands; an agent
 * that later presents another certificate on the same URL fails every command at the handshake,
 * and never sees the token; a wrong fingerprint at addHost stores nothing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgentServer, type RunningAgentServer } from '../../src/hypervisors/qemu/agent-server.ts';
import { errorOf, itemsOf, startApiServer, type ApiHarness } from '../helpers/api-server.ts';
import { startFakeAgent, type FakeAgent } from '../helpers/fake-agent.ts';
import { makeTestCert, type TestCert } from '../helpers/test-certs.ts';

const TOKEN = 'tls-test-token-xxxxxxxxxx';

describe('addHost over https with a pinned agent certificate', () => {
  let h: ApiHarness;
  let dir: string;
  let agentCert: TestCert;
  let otherCert: TestCert;
  let agent: RunningAgentServer | undefined;
  const fakes: FakeAgent[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vmsnap-agent-tls-'));
    [agentCert, otherCert] = await Promise.all([makeTestCert(), makeTestCert()]);
    h = await startApiServer();
    agent = await startAgentServer({
      port: 0,
      host: '127.0.0.1',
      token: TOKEN,
      stateDir: join(dir, 'state'),
      poolDir: join(dir, 'pool'),
      accel: 'tcg',
      tls: { cert: agentCert.cert, key: agentCert.key },
    });
  });
  afterAll(async () => {
    await agent?.close();
    for (const f of fakes) await f.close();
    await h?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const params = (url: string, extra: Record<string, string> = {}) => ({
    zoneid: h.t.seeded.zoneId,
    hypervisor: 'KVM',
    url,
    password: TOKEN,
    ...extra,
  });

  it('trust on first use: the agent certificate is pinned and said so; commands then flow', async () => {
    expect(agent!.url).toMatch(/^https:/);
    const added = await h.admin.payload('addHost', params(agent!.url));
    const host = itemsOf(added, 'host')[0]!;
    expect(host).toMatchObject({
      state: 'Up',
      certfingerprint: agentCert.fingerprint,
      certpinning: 'trust-on-first-use',
    });
    const stored = await h.t.app.deps.inventory.getHost(String(host['id']));
    expect(stored?.tlsFingerprint).toBe(agentCert.fingerprint);
    // GetInventory ran over the pinned connection: the agent's pool was imported.
    const pools = await h.t.app.deps.inventory.listPools();
    expect(pools.some((p) => p.hostId === stored!.id && p.path === join(dir, 'pool'))).toBe(true);
    const ping = await (await h.t.app.agentFor(stored!.id)).execute({ kind: 'Ping' });
    expect(ping).toMatchObject({ result: true, hypervisor: 'KVM' });
  });

  it('another certificate on the same URL fails every command at the handshake; the token is never sent', async () => {
    const host = (await h.t.app.deps.inventory.listHosts()).find(
      (x) => x.url === new URL(agent!.url).toString(),
    );
    expect(host?.tlsFingerprint).toBe(agentCert.fingerprint);
    const port = Number(new URL(agent!.url).port);
    await agent!.close();
    agent = undefined;
    const impostor = await startFakeAgent({ tls: otherCert, port });
    fakes.push(impostor);

    const client = await h.t.app.agentFor(host!.id);
    await expect(client.execute({ kind: 'Ping' })).rejects.toThrow(
      `presented a TLS certificate with SHA-256 fingerprint ${otherCert.fingerprint}, not the pinned ${agentCert.fingerprint}`,
    );
    await h.t.app.heartbeat();
    expect(impostor.requests).toEqual([]);
  });

  it('a given fingerprint (any case, colons optional) is pinned; a wrong one stores nothing and sends nothing', async () => {
    const right = await startFakeAgent({ tls: agentCert });
    fakes.push(right);
    const bare = agentCert.fingerprint.replace(/:/g, '').toLowerCase();
    const added = await h.admin.payload('addHost', params(right.url, { certfingerprint: bare }));
    expect(itemsOf(added, 'host')[0]).toMatchObject({
      state: 'Up',
      certfingerprint: agentCert.fingerprint,
      certpinning: 'given',
    });
    expect(right.requests[0]?.headers.authorization).toBe(`Bearer ${TOKEN}`);

    const wrong = await startFakeAgent({ tls: otherCert });
    fakes.push(wrong);
    const hosts = (await h.t.app.deps.inventory.listHosts()).length;
    const { errortext } = errorOf(
      await h.admin.call('addHost', params(wrong.url, { certfingerprint: agentCert.fingerprint })),
      'addHost',
      530,
    );
    expect(errortext).toContain(`not the pinned ${agentCert.fingerprint}`);
    expect(wrong.requests).toEqual([]);
    expect((await h.t.app.deps.inventory.listHosts()).length).toBe(hosts);
  });
});
