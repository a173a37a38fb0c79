/** createAccount (admin), listAccounts, registerUserKeys, updateUser (a password). */
import { InvalidParameterError } from '../../core/errors.ts';
import { hashPassword, verifyPassword } from '../../core/password-hash.ts';
import { loadOwned } from '../../manager/access.ts';
import { forgetCredentials } from '../authenticate.ts';
import { formatDate } from '../protocol/index.ts';
import { defineCommand, listParams, param, required } from '../command.ts';
import { matchesKeyword, pagedList } from '../list-support.ts';
import { DOMAIN } from '../render/lookups.ts';
import type { AccountRow, UserRow } from '../../store/schema.ts';
import type { AccountServices as ApiServicesAccounts } from '../api-services.ts';

function renderAccount(a: AccountRow, users: UserRow[], showKeys: boolean): Record<string, unknown> {
  return {
    id: a.id,
    name: a.name,
    accounttype: a.role === 'admin' ? 1 : 0,
    roletype: a.role === 'admin' ? 'Admin' : 'User',
    rolename: a.role === 'admin' ? 'Root Admin' : 'User',
    domainid: DOMAIN.id,
    domain: DOMAIN.name,
    state: a.state,
    created: formatDate(Number(a.created)),
    user: users.map((u) => ({
      id: u.id,
      username: u.username,
      account: a.name,
      accountid: a.id,
      accounttype: a.role === 'admin' ? 1 : 0,
      domainid: DOMAIN.id,
      state: u.state,
      created: formatDate(Number(u.created)),
      ...profileOf(u),
      ...(showKeys && u.api_key !== null ? { apikey: u.api_key } : {}),
    })),
  };
}

/** The profile fields a user has (CloudStack omits null ones). */
function profileOf(u: UserRow): Record<string, string> {
  const out: Record<string, string> = {};
  if (u.firstname !== null) out['firstname'] = u.firstname;
  if (u.lastname !== null) out['lastname'] = u.lastname;
  if (u.email !== null) out['email'] = u.email;
  return out;
}

/** A password as a user may set it: not empty (the hash would still work, but nobody means that). */
function checkedPassword(password: string | undefined): string | undefined {
  if (password === '') throw new InvalidParameterError('The password must not be empty');
  return password;
}

export const createAccount = defineCommand({
  name: 'createAccount',
  description:
    'Creates an account with one user and no API keys (admin), as CloudStack does: get them with registerUserKeys, or log in with the password. accounttype 0 = user, 1 = admin.',
  admin: true,
  params: {
    username: required(param.string('Unique username')),
    account: param.string('Name of the account; defaults to the username'),
    accounttype: param.integer('Type of the account: 0 user, 1 admin'),
    email: param.string('Email'),
    firstname: param.string('First name'),
    lastname: param.string('Last name'),
    password: param.string(
      'Password of the user, for login (stored as an scrypt hash). Optional in vmsnap, unlike CloudStack: a user created without one uses API keys only until updateUser sets one',
    ),
  },
  async handler({ services, args }) {
    const name = args.account ?? args.username;
    const store = services.accounts;
    if ((await store.findAccountByName(name)) !== undefined) {
      throw new InvalidParameterError(`The specified account: ${name} already exists`);
    }
    // Logins name the user: two users of one name would make a login ambiguous.
    if ((await store.findByUsername(args.username)) !== undefined) {
      throw new InvalidParameterError(`The user ${args.username} already exists in domain ROOT`);
    }
    const type = args.accounttype ?? 0;
    if (type !== 0 && type !== 1)
      throw new InvalidParameterError(`Invalid account type ${type}: use 0 (user) or 1 (admin)`);
    const password = checkedPassword(args.password);
    const created = await store.createAccountWithoutKeys(name, type === 1 ? 'admin' : 'user', {
      username: args.username,
      ...(args.firstname !== undefined ? { firstname: args.firstname } : {}),
      ...(args.lastname !== undefined ? { lastname: args.lastname } : {}),
      ...(args.email !== undefined ? { email: args.email } : {}),
      ...(password !== undefined ? { passwordHash: await hashPassword(password) } : {}),
    });
    const view = renderAccount(created.account, [created.user], true);
    return { account: view };
  },
});

export const listAccounts = defineCommand({
  name: 'listAccounts',
  description: 'Lists accounts; a user sees only its own',
  params: {
    id: param.uuid('List account by account ID'),
    name: param.string('List account by account name'),
    ...listParams,
  },
  async handler({ services, caller, args, reader }) {
    const store = services.accounts;
    const accounts = (await store.listAccounts())
      .filter((a) => caller.isAdmin || a.id === caller.accountId)
      .filter((a) => args.id === undefined || a.id === args.id)
      .filter((a) => args.name === undefined || a.name === args.name)
      .filter((a) => matchesKeyword(args.keyword, a.name));
    return pagedList(services, reader, 'account', accounts, async (a) =>
      renderAccount(a, await store.usersOf(a.id), caller.isAdmin || a.id === caller.accountId),
    );
  },
});

export const registerUserKeys = defineCommand({
  name: 'registerUserKeys',
  description: 'Generates new API keys for a user; the old keys stop working at once',
  params: { id: required(param.uuid('User id')) },
  async handler({ services, caller, args }) {
    const store = services.accounts;
    // Another account's user is reported like a missing one: no oracle for which user ids exist.
    const { user } = await loadOwned(
      caller,
      async () => {
        const found = await store.getUser(args.id);
        return found === undefined ? undefined : { user: found, accountId: found.account_id };
      },
      () => new InvalidParameterError(`Unable to find user by id ${args.id}`),
    );
    const keys = await store.registerKeys(user.id);
    forgetCredentials(services);
    return { userkeys: { apikey: keys.apiKey, secretkey: keys.secretKey } };
  },
});

export const updateUser = defineCommand({
  name: 'updateUser',
  description:
    "Updates a user's password. A user changing its own password gives currentpassword (unless it has none yet); an admin may set any user's password without it, which ends that user's sessions",
  params: {
    id: required(param.uuid('User id')),
    password: param.string('The new password'),
    currentpassword: param.string(
      "The user's current password; required when a user changes its own password (admins changing another user's need not)",
    ),
  },
  async handler({ services, caller, args }) {
    const store = services.accounts;
    const { user } = await loadOwned(
      caller,
      async () => {
        const found = await store.getUser(args.id);
        return found === undefined ? undefined : { user: found, accountId: found.account_id };
      },
      () => new InvalidParameterError(`Unable to find user by id ${args.id}`),
    );
    const password = checkedPassword(args.password);
    if (password !== undefined) {
      await checkCurrentPassword(store, caller, user.id, args.currentpassword);
      await store.setPasswordHash(user.id, await hashPassword(password));
      // Someone else set it (an admin resetting a user): whoever held the old one is logged out.
      if (user.id !== caller.userId) await services.sessions.endSessionsOf(user.id);
    }
    const account = await store.getAccount(user.account_id);
    return {
      user: {
        id: user.id,
        username: user.username,
        account: account?.name,
        accountid: user.account_id,
        accounttype: account?.role === 'admin' ? 1 : 0,
        domainid: DOMAIN.id,
        domain: DOMAIN.name,
        state: user.state,
        created: formatDate(Number(user.created)),
        ...profileOf(user),
      },
    };
  },
});

/**
 * CloudStack's rule: a non-admin must prove the current password to change it. vmsnap asks it of
 * anyone changing their own password (an admin's own too: a stolen session must not be able to
 * lock the admin out), except a user that has none yet (it authenticated with its API keys).
 */
async function checkCurrentPassword(
  store: ApiServicesAccounts,
  caller: { userId: string; isAdmin: boolean },
  userId: string,
  current: string | undefined,
): Promise<void> {
  const own = userId === caller.userId;
  if (caller.isAdmin && !own) return;
  const stored = await store.passwordHashOf(userId);
  if (stored === undefined) return;
  if (current === undefined || current === '')
    throw new InvalidParameterError('Current password is required to change the password');
  if (!(await verifyPassword(current, stored)))
    throw new InvalidParameterError('Current password is incorrect');
}
