/** createAccount (admin), listAccounts, registerUserKeys. */
import { InvalidParameterError } from '../../core/errors.ts';
import { loadOwned } from '../../manager/access.ts';
import { forgetCredentials } from '../authenticate.ts';
import { formatDate } from '../protocol/index.ts';
import { defineCommand, listParams, param, required } from '../command.ts';
import { matchesKeyword, pagedList } from '../list-support.ts';
import { DOMAIN } from '../render/lookups.ts';
import type { AccountRow, UserRow } from '../../store/schema.ts';

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
      ...(showKeys && u.api_key !== null ? { apikey: u.api_key } : {}),
    })),
  };
}

export const createAccount = defineCommand({
  name: 'createAccount',
  description:
    'Creates an account with one user and no API keys (admin), as CloudStack does: get them with registerUserKeys. accounttype 0 = user, 1 = admin.',
  admin: true,
  params: {
    username: required(param.string('Unique username')),
    account: param.string('Name of the account; defaults to the username'),
    accounttype: param.integer('Type of the account: 0 user, 1 admin'),
    email: param.string('Email'),
    firstname: param.string('First name'),
    lastname: param.string('Last name'),
    password: param.string('Password (accepted for compatibility; vmsnap uses API keys only)'),
  },
  async handler({ services, args }) {
    const name = args.account ?? args.username;
    const store = services.accounts;
    if ((await store.findAccountByName(name)) !== undefined) {
      throw new InvalidParameterError(`The specified account: ${name} already exists`);
    }
    const type = args.accounttype ?? 0;
    if (type !== 0 && type !== 1)
      throw new InvalidParameterError(`Invalid account type ${type}: use 0 (user) or 1 (admin)`);
    const created = await store.createAccountWithoutKeys(name, type === 1 ? 'admin' : 'user');
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
