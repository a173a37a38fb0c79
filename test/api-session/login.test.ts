/**
 * Issue 14, item 2: `login` and `logout` as CloudStack's, and session authentication that needs
 * both the cookie and the `sessionkey` parameter (CloudStack's defence against forged cross-site
 * requests). On the code before issue 14 there was no login command: every test here fails.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiServer, type ApiHarness } from '../helpers/api-server.ts';
import { cookieHeader, login, payloadOf, send } from './session-client.ts';

let h: ApiHarness;
beforeAll(async () => {
  h = await startApiServer();
});
afterAll(async () => {
  await h.close();
});

const password = (user: 'admin' | 'demo'): string => h.t.seeded.passwords[user].password;

describe('login', () => {
  it("answers CloudStack's loginresponse and sets HttpOnly, SameSite, /client cookies", async () => {
    const answer = await send(h.url, {
      command: 'login',
      username: 'demo',
      password: password('demo'),
      domain: '/',
    });
    expect(answer.status).toBe(200);
    const r = payloadOf(answer, 'login');
    expect(r).toMatchObject({
      username: 'demo',
      userid: h.t.demo.userId,
      account: 'demo',
      domainid: '00000000-0000-0000-0000-000000000001',
      type: '0',
      timeout: '1800',
      registered: 'false',
      firstname: 'demo',
      lastname: 'user',
    });
    expect(r['sessionkey']).toMatch(/^[\w-]{40,}$/);
    const session = answer.setCookies.find((c) => c.startsWith('JSESSIONID='));
    expect(session).toBeDefined();
    for (const attribute of ['HttpOnly', 'SameSite=Strict', 'Path=/client'])
      expect(session?.split(';').map((a) => a.trim())).toContain(attribute);
    // Plain http: not Secure (the browser would drop the cookie); the session id is not the key.
    expect(session).not.toContain('Secure');
    expect(session).not.toContain(String(r['sessionkey']));
  });

  it('marks the cookies Secure when the request came through TLS', async () => {
    const answer = await send(
      h.url,
      { command: 'login', username: 'demo', password: password('demo') },
      { headers: { 'x-forwarded-proto': 'https' } },
    );
    expect(answer.status).toBe(200);
    for (const c of answer.setCookies) expect(c).toContain('; Secure');
  });

  it('an admin login says type 1, and domain ROOT and no domain mean the same', async () => {
    const a = await login(h.url, 'admin', password('admin'), 'ROOT');
    expect(a.response).toMatchObject({ username: 'admin', type: '1', account: 'admin' });
    const b = await send(h.url, { command: 'login', username: 'admin', password: password('admin') });
    expect(b.status).toBe(200);
  });

  it('a wrong password and an unknown user get the same 531 answer', async () => {
    const wrong = await send(h.url, { command: 'login', username: 'demo', password: 'not-it', domain: '/' });
    const unknown = await send(h.url, {
      command: 'login',
      username: 'nobody',
      password: 'not-it',
      domain: '/',
    });
    for (const [answer, user] of [
      [wrong, 'demo'],
      [unknown, 'nobody'],
    ] as const) {
      expect(answer.status).toBe(531);
      const body = payloadOf(answer, 'login');
      expect(body['errorcode']).toBe(531);
      expect(body['errortext']).toBe(
        `Failed to authenticate user ${user} in domain /; check if username/password are correct`,
      );
      expect(answer.setCookies).toEqual([]);
    }
  });

  it('needs POST (a password in a query string lands in logs), and no API key', async () => {
    const answer = await send(
      h.url,
      { command: 'login', username: 'demo', password: password('demo') },
      { method: 'GET' },
    );
    expect(answer.status).toBe(405);
    expect(payloadOf(answer, 'login')['errortext']).toBe(
      'Please use HTTP POST to authenticate using this API',
    );
  });

  it('refuses a domain other than ROOT', async () => {
    const answer = await send(h.url, {
      command: 'login',
      username: 'demo',
      password: password('demo'),
      domain: 'other',
    });
    expect(answer.status).toBe(531);
    expect(payloadOf(answer, 'login')['errortext']).toBe('Unable to find the domain from the path /other/');
  });
});

describe('session authentication', () => {
  it('a session (cookie + sessionkey) runs the console commands with response=json', async () => {
    const s = await login(h.url, 'demo', password('demo'));
    const vms = await s.call('listVirtualMachines');
    expect(vms.status).toBe(200);
    const listed = payloadOf(vms, 'listVirtualMachines')['virtualmachine'] as {
      account: string;
      id: string;
    }[];
    expect(listed.length).toBeGreaterThan(0);
    // The tenant sees only its own VMs.
    expect(new Set(listed.map((v) => v.account))).toEqual(new Set(['demo']));
    for (const command of ['listVMSnapshot', 'listEvents', 'listAsyncJobs']) {
      expect((await s.call(command)).status, command).toBe(200);
    }
    const vm = listed[0]!;
    const created = await s.call('createVMSnapshot', { virtualmachineid: vm.id, name: 'via-session' });
    expect(created.status).toBe(200);
    const jobid = String(payloadOf(created, 'createVMSnapshot')['jobid']);
    expect((await s.call('queryAsyncJobResult', { jobid })).status).toBe(200);
  });

  it('an admin session runs the admin commands (hosts, pools, settings)', async () => {
    const s = await login(h.url, 'admin', password('admin'));
    for (const command of ['listHosts', 'listStoragePools', 'listConfigurations']) {
      expect((await s.call(command)).status, command).toBe(200);
    }
    // A tenant session is refused them, as a tenant key is.
    const demo = await login(h.url, 'demo', password('demo'));
    expect((await demo.call('listHosts')).status).toBe(432);
  });

  it('the cookie alone is refused (a forged cross-site request): 401', async () => {
    const s = await login(h.url, 'demo', password('demo'));
    const forged = await send(h.url, { command: 'listVirtualMachines' }, { cookie: s.cookie });
    expect(forged.status).toBe(401);
    expect(payloadOf(forged, 'listVirtualMachines')['errorcode']).toBe(401);
    // The sessionkey cookie is not accepted in place of the parameter.
    expect(s.cookie).toContain('sessionkey=');
  });

  it("the key alone, or with another session's cookie, is refused: 401", async () => {
    const a = await login(h.url, 'demo', password('demo'));
    const b = await login(h.url, 'demo', password('demo'));
    expect((await send(h.url, { command: 'listVirtualMachines', sessionkey: a.sessionKey })).status).toBe(
      401,
    );
    const crossed = await send(
      h.url,
      { command: 'listVirtualMachines', sessionkey: a.sessionKey },
      { cookie: b.cookie },
    );
    expect(crossed.status).toBe(401);
  });

  it("cloudmonkey's flow: the key from the sessionkey cookie, then GET with the cookie jar and the key", async () => {
    // cmk (cmd/network.go) posts login, takes the key from the `sessionkey` cookie, and sends every
    // call as a GET carrying its cookie jar and `sessionkey`.
    const answer = await send(h.url, {
      command: 'login',
      username: 'demo',
      password: password('demo'),
      domain: '/',
    });
    const keyCookie = answer.setCookies.find((c) => c.startsWith('sessionkey='));
    const key = keyCookie?.split(';')[0]?.slice('sessionkey='.length);
    expect(key).toBe(payloadOf(answer, 'login')['sessionkey']);
    const res = await send(
      h.url,
      { command: 'listVirtualMachines', sessionkey: key ?? '' },
      { method: 'GET', cookie: cookieHeader(answer.setCookies) },
    );
    expect(res.status).toBe(200);
  });

  it('signed API-key requests work as before', async () => {
    expect((await h.demo.call('listVirtualMachines')).status).toBe(200);
  });
});

describe('logout', () => {
  it('ends the session: the old key is refused (401) and the cookies are cleared', async () => {
    const s = await login(h.url, 'demo', password('demo'));
    expect((await s.call('listVirtualMachines')).status).toBe(200);
    const out = await s.call('logout');
    expect(out.status).toBe(200);
    expect(payloadOf(out, 'logout')).toEqual({ description: 'success' });
    expect(out.setCookies.some((c) => c.startsWith('JSESSIONID=;') && c.includes('Max-Age=0'))).toBe(true);
    expect((await s.call('listVirtualMachines')).status).toBe(401);
    expect((await s.call('logout')).status).toBe(401);
  });

  it('a forged logout (cookie, no key) does not end the session', async () => {
    const s = await login(h.url, 'demo', password('demo'));
    expect((await send(h.url, { command: 'logout' }, { cookie: s.cookie })).status).toBe(401);
    expect((await s.call('listVirtualMachines')).status).toBe(200);
  });

  it('stores neither the session id nor the key in clear', async () => {
    const s = await login(h.url, 'demo', password('demo'));
    const rows = await h.t.app.deps.db.selectFrom('user_sessions').selectAll().execute();
    const dump = JSON.stringify(rows);
    const id = cookieHeader([s.cookie]).split(';')[0]!.replace('JSESSIONID=', '');
    expect(rows.length).toBeGreaterThan(0);
    expect(dump).not.toContain(s.sessionKey);
    expect(dump).not.toContain(id);
  });
});
