/**
 * Issue 14, item 2: sessions expire after session.timeout seconds without a request, and failed
 * logins are limited per username and per client address, both on a clock the test moves. Before
 * issue 14 there were no sessions nor logins: every test here fails on that code.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { settingDefinition } from '../../src/store/settings-store.ts';
import { openTestApp, type TestApp } from '../helpers/test-app.ts';
import { login, payloadOf, send, startClockedServer, type ClockedServer } from './session-client.ts';

let t: TestApp;
let c: ClockedServer;
beforeAll(async () => {
  t = await openTestApp();
});
afterAll(async () => {
  await t.close();
});
// Each test gets a server of its own: its own clock and no failed-login counts of another test.
beforeEach(async () => {
  c = await startClockedServer(t);
});
afterEach(async () => {
  await c.close();
  for (const name of ['session.timeout', 'incorrect.login.attempts.allowed'] as const)
    await t.app.deps.settings.set(name, settingDefinition(name)?.defaultValue ?? '');
});

const demoPassword = (): string => t.seeded.passwords.demo.password;
const MINUTE = 60_000;

describe('session expiry', () => {
  it('a session idle for session.timeout is refused; activity keeps it alive', async () => {
    const s = await login(c.url, 'demo', demoPassword());
    // Used every 20 minutes for an hour: never idle for 30, so still valid.
    for (let i = 0; i < 3; i++) {
      c.advance(20 * MINUTE);
      expect((await s.call('listVirtualMachines')).status, `after ${(i + 1) * 20} min`).toBe(200);
    }
    c.advance(30 * MINUTE);
    expect((await s.call('listVirtualMachines')).status).toBe(401);
    // An expired session stays dead even once the clock no longer says so (it was deleted).
    c.advance(-30 * MINUTE);
    expect((await s.call('listVirtualMachines')).status).toBe(401);
  });

  it('follows session.timeout and reports it in loginresponse', async () => {
    await t.app.deps.settings.set('session.timeout', '120');
    const s = await login(c.url, 'demo', demoPassword());
    expect(s.response['timeout']).toBe('120');
    c.advance(119_000);
    expect((await s.call('listVirtualMachines')).status).toBe(200);
    c.advance(120_000);
    expect((await s.call('listVirtualMachines')).status).toBe(401);
  });
});

describe('failed-login limits', () => {
  const attempt = (username: string, password: string) =>
    send(c.url, { command: 'login', username, password });
  /** Each attempt hashes (scrypt, slow by design): the tests below allow 2 failures, not 5. */
  const allowTwo = () => t.app.deps.settings.set('incorrect.login.attempts.allowed', '2');

  it('after 5 failures for a user, even the right password is refused (429) until the window passes', async () => {
    for (let i = 0; i < 5; i++) expect((await attempt('demo', `wrong-${i}`)).status).toBe(531);
    const refused = await attempt('demo', demoPassword());
    expect(refused.status).toBe(429);
    expect(payloadOf(refused, 'login')['errortext']).toMatch(
      /^Too many failed login attempts for this user or from this address; try again in \d+ seconds$/,
    );
    c.advance(299_000);
    expect((await attempt('demo', demoPassword())).status).toBe(429);
    c.advance(2_000);
    expect((await attempt('demo', demoPassword())).status).toBe(200);
  });

  it('an unknown username is limited the same way (no oracle for which users exist)', async () => {
    await allowTwo();
    for (let i = 0; i < 2; i++) expect((await attempt('ghost', 'x')).status).toBe(531);
    expect((await attempt('ghost', 'x')).status).toBe(429);
    // Another user from the same address is not locked by one user's failures.
    expect((await attempt('demo', demoPassword())).status).toBe(200);
  });

  it('failures spread out beyond the window do not lock', async () => {
    await allowTwo();
    for (let i = 0; i < 4; i++) {
      expect((await attempt('demo', 'wrong')).status).toBe(531);
      c.advance(301_000);
    }
    expect((await attempt('demo', demoPassword())).status).toBe(200);
  });

  it('guesses sent in parallel do not slip past the limit before the first is counted', async () => {
    await allowTwo();
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => attempt('demo', `parallel-${i}`)));
    const statuses = answers.map((a) => a.status);
    // At most the allowance is checked at once; every other guess is refused unchecked.
    expect(statuses.filter((s) => s === 531).length).toBeLessThanOrEqual(2);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(6);
    expect(statuses.every((s) => s === 531 || s === 429)).toBe(true);
  });

  it('one address failing on many usernames is refused after 4 x the allowance', async () => {
    await allowTwo();
    // 8 failures, 1 per username: no username reaches 2, the address reaches 8.
    for (let i = 0; i < 8; i++) expect((await attempt(`user-${i}`, 'x')).status).toBe(531);
    expect((await attempt('demo', demoPassword())).status).toBe(429);
    c.advance(301_000);
    expect((await attempt('demo', demoPassword())).status).toBe(200);
  });
});
