/**
 * Issue 9, item 1: a captured signed URL must not be replayable beyond its expiry. Each test here
 * reproduces one way the old server let it through: a parameter name that smuggles `=` and `&`
 * into the string-to-sign, an `expires` without `signatureVersion=3`, an `expires` in year 9999,
 * names repeated in another case, and a 432 that named the user before the signature was checked.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXPIRES_MAX_SETTING, UNAUTHORIZED_TEXT } from '../../src/api/authenticate.ts';
import { formatDate, signatureBase, signRequest } from '../../src/api/protocol/index.ts';
import { ApiClient } from '../../src/cli/client/api-client.ts';
import { bodyOf, errorOf, itemsOf, rawCall, startApiServer, type ApiHarness } from '../helpers/api-server.ts';

const UNAUTHORIZED = { uuidList: [], errorcode: 401, errortext: UNAUTHORIZED_TEXT };

describe('replay of signed requests', () => {
  let h: ApiHarness;
  let apiKey: string;
  let secret: string;
  let vmId: string;

  beforeAll(async () => {
    h = await startApiServer();
    apiKey = h.t.seeded.demo.apiKey;
    secret = h.t.seeded.demo.secretKey;
    const vms = itemsOf(await h.demo.payload('listVirtualMachines', { name: 'web-1' }), 'virtualmachine');
    vmId = vms[0]!['id'] as string;
  });
  afterAll(async () => {
    await h.close();
  });

  const snapshotsNamed = async (name: string): Promise<unknown[]> =>
    itemsOf(await h.demo.payload('listVMSnapshot', { name }), 'vmSnapshot');

  it('refuses the issue repro: response=json and signatureVersion=3 folded into one parameter name', async () => {
    const name = 'replayed-snapshot';
    const expired = formatDate(Date.now() - 3_600_000);
    const signed = signRequest(
      {
        command: 'createVMSnapshot',
        virtualmachineid: vmId,
        name,
        response: 'json',
        signatureVersion: '3',
        expires: expired,
      },
      apiKey,
      secret,
    );
    // As captured: expired, so refused.
    const original = await rawCall(h.url, signed);
    expect(original.status, original.text).toBe(401);
    expect(bodyOf(original, 'createVMSnapshot')).toEqual(UNAUTHORIZED);

    // The attacker's rewrite: same signature, same string-to-sign, but no `signatureversion` and no
    // `response` parameter any more (the old server then skipped the expiry check).
    const smuggled = signed
      .split('&')
      .filter((p) => !p.startsWith('response=') && !p.startsWith('signatureVersion='))
      .concat('response%3Djson%26signatureversion=3')
      .join('&');
    const asParams = {
      command: 'createVMSnapshot',
      virtualmachineid: vmId,
      name,
      expires: expired,
      apikey: apiKey,
    };
    expect(signatureBase({ ...asParams, 'response=json&signatureversion': '3' })).toBe(
      signatureBase({ ...asParams, response: 'json', signatureVersion: '3' }),
    );
    const replayed = await rawCall(h.url, smuggled);
    expect(replayed.status, replayed.text).toBe(431);
    expect(replayed.text).toContain('Parameter name');
    expect(await snapshotsNamed(name)).toEqual([]);
  });

  it('checks expires without signatureVersion=3: an expired one is refused, a current one served', async () => {
    const stale = signRequest(
      { command: 'listZones', response: 'json', expires: formatDate(Date.now() - 60_000) },
      apiKey,
      secret,
    );
    const refused = await rawCall(h.url, stale);
    expect(refused.status, refused.text).toBe(401);
    expect(bodyOf(refused, 'listZones')).toEqual(UNAUTHORIZED);
    const current = signRequest(
      { command: 'listZones', response: 'json', expires: formatDate(Date.now() + 300_000) },
      apiKey,
      secret,
    );
    expect((await rawCall(h.url, current)).status).toBe(200);
    const garbage = signRequest({ command: 'listZones', response: 'json', expires: 'never' }, apiKey, secret);
    expect((await rawCall(h.url, garbage)).status).toBe(401);
  });

  it('refuses an expires further ahead than api.signature.expires.max (default one hour)', async () => {
    const farAhead = async (ms: number, version3: boolean): Promise<number> => {
      const params = { command: 'listZones', response: 'json', expires: formatDate(Date.now() + ms) };
      const query = version3
        ? signRequest({ command: 'listZones', response: 'json' }, apiKey, secret, {
            expires: new Date(Date.now() + ms),
          })
        : signRequest(params, apiKey, secret);
      return (await rawCall(h.url, query)).status;
    };
    // CloudStack accepts year 9999: a URL valid for ever.
    const forever = signRequest(
      { command: 'listZones', response: 'json', signatureVersion: '3', expires: '9999-12-31T23:59:59+0000' },
      apiKey,
      secret,
    );
    expect((await rawCall(h.url, forever)).status).toBe(401);
    expect(await farAhead(2 * 3_600_000, true)).toBe(401);
    expect(await farAhead(2 * 3_600_000, false)).toBe(401);
    expect(await farAhead(30 * 60_000, true)).toBe(200);

    await h.t.app.deps.settings.set(EXPIRES_MAX_SETTING, '60');
    try {
      expect(await farAhead(30 * 60_000, true)).toBe(401);
      expect(await farAhead(30_000, true)).toBe(200);
    } finally {
      await h.t.app.deps.settings.set(EXPIRES_MAX_SETTING, '3600');
    }
  });

  it('refuses a parameter name repeated in another case, before authentication', async () => {
    const twice = signRequest(
      { command: 'listZones', Command: 'listZones', response: 'json' },
      apiKey,
      secret,
    );
    const res = await rawCall(h.url, twice);
    expect(res.status, res.text).toBe(431);
    expect(errorOf(res, 'listZones', 431).errortext).toMatch(/given twice/);
    // Unsigned too: the check needs no credentials and reveals nothing about them.
    const unsigned = await rawCall(h.url, 'command=listZones&response=json&NAME=a&name=b');
    expect(unsigned.status, unsigned.text).toBe(431);
  });

  it("keeps CloudStack's names working: map parameters, camelCase, underscores", async () => {
    const res = await h.demo.call('listVirtualMachines', {
      'tags[0].key': 'no-such-key',
      'tags[0].value': 'x',
      listAll: true,
      _: '1700000000000',
    });
    expect(res.status, res.text).toBe(200);
  });

  it('answers a valid key with a wrong signature on an admin command exactly like an unknown key', async () => {
    const garbage = (key: string): string =>
      signRequest({ command: 'listConfigurations', response: 'json' }, key, 'not-the-secret');
    const knownKey = await rawCall(h.url, garbage(apiKey));
    const unknownKey = await rawCall(h.url, garbage('no-such-key'));
    expect(knownKey.status, knownKey.text).toBe(401);
    expect(knownKey.text).toBe(unknownKey.text);
    expect(knownKey.text).not.toContain(h.t.demo.userId);
    // Only a request proven to come from the key's owner learns that the command is not for it.
    const signed = await rawCall(
      h.url,
      signRequest({ command: 'listConfigurations', response: 'json' }, apiKey, secret),
    );
    expect(errorOf(signed, 'listConfigurations', 432).errortext).toContain(h.t.demo.userId);
  });

  it('the CLI client signs requests the server accepts, with an expires inside the bound', async () => {
    const requested: string[] = [];
    const realFetch = globalThis.fetch;
    globalThis.fetch = (input, init) => {
      requested.push(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
      return realFetch(input, init);
    };
    try {
      const client = new ApiClient({
        profile: 'test',
        endpoint: `${h.url}/client/api`,
        apiKey,
        secretKey: secret,
      });
      expect((await client.call('listZones'))['count']).toBe(1);
    } finally {
      globalThis.fetch = realFetch;
    }
    const query = new URL(requested[0]!).searchParams;
    expect(query.get('signatureVersion')).toBe('3');
    const ahead = Date.parse(query.get('expires')!.replace('+0000', 'Z')) - Date.now();
    expect(ahead).toBeGreaterThan(0);
    expect(ahead).toBeLessThanOrEqual(3_600_000);
  });
});
