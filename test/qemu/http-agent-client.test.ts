/**
 * Issue 9, item 9: the server's HTTP client to host agents reads capped answers, never repeats what
 * a foreign server sent, speaks http and https only, and never sends a pinned host's token over
 * plain http or to a certificate other than the pinned one.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { HttpAgentClient, MAX_ANSWER_BYTES } from '../../src/agent-client/http-agent-client.ts';
import { startFakeAgent, type FakeAgent } from '../helpers/fake-agent.ts';
import { startFloodingServer, type FloodingServer } from '../helpers/flooding-server.ts';
import { makeTestCert } from '../helpers/test-certs.ts';

const TOKEN = 'client-test-token-xxxxxxxx';
const MiB = 1024 * 1024;

describe('HttpAgentClient', () => {
  const open: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    for (const s of open.splice(0)) await s.close();
  });
  async function flooding(opts: Parameters<typeof startFloodingServer>[0]): Promise<FloodingServer> {
    const s = await startFloodingServer(opts);
    open.push(s);
    return s;
  }
  async function fake(opts: Parameters<typeof startFakeAgent>[0] = {}): Promise<FakeAgent> {
    const s = await startFakeAgent(opts);
    open.push(s);
    return s;
  }

  it('stops reading an answer past the cap and closes the connection; the body is not in the error', async () => {
    const limit = 4 * MAX_ANSWER_BYTES;
    const server = await flooding({ status: 200, limitBytes: limit });
    const client = new HttpAgentClient({ url: server.url, token: TOKEN });
    const err = await client.execute({ kind: 'Ping' }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toMatch(/larger than 16777216 bytes/);
    expect(err?.message).not.toContain('LEAKED');
    expect(await server.cutShort).toBe(true);
    expect(server.written()).toBeLessThan(limit);
  });

  it('refuses an answer whose declared length is over the cap without reading it', async () => {
    const server = await flooding({ status: 200, limitBytes: MiB, contentLength: 2 * MAX_ANSWER_BYTES });
    // The body never completes: only the declared length can end this before the timeout.
    const client = new HttpAgentClient({ url: server.url, token: TOKEN, timeoutMs: 25_000 });
    await expect(client.execute({ kind: 'Ping' })).rejects.toThrow(/larger than/);
  });

  it('caps the health probe at 64 KiB', async () => {
    const server = await flooding({ status: 200, limitBytes: 8 * MiB });
    expect(await new HttpAgentClient({ url: server.url, token: TOKEN }).healthy(20_000)).toBe(false);
    expect(await server.cutShort).toBe(true);
    const agent = await fake();
    expect(await new HttpAgentClient({ url: agent.url, token: TOKEN }).healthy(20_000)).toBe(true);
  });

  it('names the status and the URL of a failed request, never its body', async () => {
    const agent = await fake();
    for (const [status, body] of [
      [500, 'LEAKED-SECRET internal page'],
      [200, 'LEAKED-SECRET not json'],
      [200, '{"LEAKED-SECRET": 1}'],
    ] as const) {
      agent.respond = (_req, res) => {
        res.statusCode = status;
        res.end(body);
      };
      const err = await new HttpAgentClient({ url: agent.url, token: TOKEN }).execute({ kind: 'Ping' }).then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(err?.message).toContain(agent.url);
      expect(err?.message).not.toContain('LEAKED');
      if (status === 500) expect(err?.message).toContain('HTTP 500');
    }
  });

  it('repeats only the field path of an agent refusal (400), never its text', async () => {
    const agent = await fake();
    const refuse = (field: string) =>
      (agent.respond = (_req, res) => {
        res.statusCode = 400;
        res.end(JSON.stringify({ error: 'LEAKED-SECRET refusal text', field }));
      });
    const client = new HttpAgentClient({ url: agent.url, token: TOKEN });
    refuse('vm.volumes.0.path');
    const named = await client.execute({ kind: 'Ping' }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(named?.message).toBe(`agent at ${agent.url} answered HTTP 400 (refused field vm.volumes.0.path)`);
    refuse('LEAKED SECRET, not a field path');
    const unnamed = await client.execute({ kind: 'Ping' }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(unnamed?.message).toBe(`agent at ${agent.url} answered HTTP 400`);
  });

  it('speaks http and https only', () => {
    for (const url of ['file:///etc/passwd', 'gopher://127.0.0.1:70/', 'ftp://127.0.0.1/'])
      expect(() => new HttpAgentClient({ url, token: TOKEN }), url).toThrow(/unsupported agent URL scheme/);
  });

  it('never sends the token of a pinned host over http', async () => {
    const agent = await fake();
    const { fingerprint } = await makeTestCert();
    expect(() => new HttpAgentClient({ url: agent.url, token: TOKEN, tlsFingerprint: fingerprint })).toThrow(
      /pinned to https/,
    );
    expect(agent.requests).toEqual([]);
  });

  it('https: the pinned certificate is served to; any other fails at the handshake, before any byte', async () => {
    const [right, wrong] = await Promise.all([makeTestCert(), makeTestCert()]);
    const agent = await fake({ tls: right });
    const pinned = new HttpAgentClient({ url: agent.url, token: TOKEN, tlsFingerprint: right.fingerprint });
    expect(await pinned.execute({ kind: 'Ping' })).toMatchObject({ result: true, hypervisor: 'KVM' });
    expect(agent.requests[0]?.headers.authorization).toBe(`Bearer ${TOKEN}`);

    const impostor = await fake({ tls: wrong });
    const fooled = new HttpAgentClient({
      url: impostor.url,
      token: TOKEN,
      tlsFingerprint: right.fingerprint,
    });
    await expect(fooled.execute({ kind: 'Ping' })).rejects.toThrow(
      new RegExp(`fingerprint ${wrong.fingerprint}, not the pinned ${right.fingerprint}`),
    );
    expect(await fooled.healthy(20_000)).toBe(false);
    expect(impostor.requests).toEqual([]);
  });
});
