/**
 * Issue 14, item 2: createAccount takes `password` (hashed, then usable for login) and updateUser
 * changes it: a user changing its own gives currentpassword, an admin may set another user's. On
 * the code before issue 14 createAccount ignored the password and updateUser did not exist.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccountStore } from '../../src/store/account-store.ts';
import { startApiServer, type ApiHarness } from '../helpers/api-server.ts';
import { login, payloadOf, send } from './session-client.ts';

let h: ApiHarness;
beforeAll(async () => {
  h = await startApiServer();
});
afterAll(async () => {
  await h.close();
});

async function loginStatus(username: string, password: string): Promise<number> {
  return (await send(h.url, { command: 'login', username, password })).status;
}

async function createUser(username: string, password: string): Promise<{ userId: string }> {
  const created = await h.admin.payload('createAccount', {
    username,
    password,
    email: `${username}@example.com`,
    firstname: 'Erin',
    lastname: 'Example',
  });
  const account = created['account'] as { user: { id: string; username: string; firstname: string }[] };
  const user = account.user[0]!;
  expect(user).toMatchObject({
    username,
    firstname: 'Erin',
    lastname: 'Example',
    email: `${username}@example.com`,
  });
  return { userId: user.id };
}

describe('createAccount with a password', () => {
  it('stores a hash, not the password, and the user can log in with it', async () => {
    const { userId } = await createUser('erin', 'erins-first-secret');
    const hash = await new AccountStore(h.t.app.deps.db).passwordHashOf(userId);
    expect(hash).toMatch(/^scrypt\$/);
    const dump = JSON.stringify(await h.t.app.deps.db.selectFrom('user_passwords').selectAll().execute());
    expect(dump).not.toContain('erins-first-secret');
    const s = await login(h.url, 'erin', 'erins-first-secret');
    expect(s.response).toMatchObject({
      username: 'erin',
      account: 'erin',
      firstname: 'Erin',
      lastname: 'Example',
      type: '0',
    });
    expect(await loginStatus('erin', 'erins-other-secret')).toBe(531);
  });

  it('the login name is the username even when the account is named otherwise', async () => {
    await h.admin.payload('createAccount', { username: 'frank', account: 'acme', password: 'franks-secret' });
    expect(await loginStatus('frank', 'franks-secret')).toBe(200);
  });

  it('refuses a username already taken (a login would be ambiguous)', async () => {
    const res = await h.admin.call('createAccount', {
      username: 'demo',
      account: 'demo-two',
      password: 'x-secret',
    });
    expect(res.status).toBe(431);
  });

  it('an account created without a password (as before) can use keys but not log in', async () => {
    await h.admin.payload('createAccount', { username: 'keys-only' });
    expect(await loginStatus('keys-only', '')).toBe(531);
    expect(await loginStatus('keys-only', 'anything')).toBe(531);
  });
});

describe('updateUser password', () => {
  it('a user changes its own with currentpassword; a wrong or missing one is refused', async () => {
    const { userId } = await createUser('gina', 'ginas-old-secret');
    const s = await login(h.url, 'gina', 'ginas-old-secret');
    const missing = await s.call('updateUser', { id: userId, password: 'ginas-new-secret' });
    expect(missing.status).toBe(431);
    expect(payloadOf(missing, 'updateUser')['errortext']).toBe(
      'Current password is required to change the password',
    );
    const wrong = await s.call('updateUser', {
      id: userId,
      password: 'ginas-new-secret',
      currentpassword: 'nope',
    });
    expect(wrong.status).toBe(431);
    expect(payloadOf(wrong, 'updateUser')['errortext']).toBe('Current password is incorrect');
    expect(await loginStatus('gina', 'ginas-old-secret')).toBe(200);

    const ok = await s.call('updateUser', {
      id: userId,
      password: 'ginas-new-secret',
      currentpassword: 'ginas-old-secret',
    });
    expect(ok.status).toBe(200);
    expect(payloadOf(ok, 'updateUser')['user']).toMatchObject({ id: userId, username: 'gina' });
    expect(await loginStatus('gina', 'ginas-old-secret')).toBe(531);
    expect(await loginStatus('gina', 'ginas-new-secret')).toBe(200);
    // The session that changed it goes on.
    expect((await s.call('listVirtualMachines')).status).toBe(200);
  });

  it("an admin sets another user's password without currentpassword, ending that user's sessions", async () => {
    const { userId } = await createUser('hank', 'hanks-old-secret');
    const s = await login(h.url, 'hank', 'hanks-old-secret');
    const res = await h.admin.call('updateUser', { id: userId, password: 'hanks-reset-secret' });
    expect(res.status).toBe(200);
    expect(await loginStatus('hank', 'hanks-reset-secret')).toBe(200);
    expect((await s.call('listVirtualMachines')).status).toBe(401);
  });

  it("a user cannot change another user's password (answered like a missing user)", async () => {
    const res = await h.demo.call('updateUser', { id: h.t.admin.userId, password: 'taken-over' });
    expect(res.status).toBe(431);
    expect(await loginStatus('admin', 'taken-over')).toBe(531);
  });
});
