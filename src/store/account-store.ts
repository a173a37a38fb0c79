/**
 * Accounts and their users' API keys (admin and ordinary users). `users.secret_key` is encrypted at
 * rest by the store's connection (./secret-columns.ts): this store writes and reads plain keys. The
 * api key stays plain: it is the identifier requests are looked up by, not a credential.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Db } from './database.ts';
import type { AccountRow, UserRow } from './schema.ts';

export const ROOT_DOMAIN_ID = '00000000-0000-0000-0000-000000000001';

export interface KeyPair {
  readonly apiKey: string;
  readonly secretKey: string;
}

export interface UserWithAccount {
  readonly user: UserRow;
  readonly account: AccountRow;
}

/** CloudStack-looking keys: 86 characters of URL-safe base64. */
export function generateKeyPair(): KeyPair {
  const key = (): string => randomBytes(64).toString('base64url');
  return { apiKey: key(), secretKey: key() };
}

export class AccountStore {
  constructor(private readonly db: Db) {}

  async createAccount(
    name: string,
    role: 'admin' | 'user',
    keys?: KeyPair,
  ): Promise<UserWithAccount & KeyPair> {
    const now = Date.now();
    const account: AccountRow = {
      id: randomUUID(),
      name,
      role,
      domain_id: ROOT_DOMAIN_ID,
      state: 'enabled',
      created: now,
      removed: null,
    };
    const pair = keys ?? generateKeyPair();
    const user: UserRow = {
      id: randomUUID(),
      account_id: account.id,
      username: name,
      api_key: pair.apiKey,
      secret_key: pair.secretKey,
      state: 'enabled',
      created: now,
    };
    await this.db.transaction().execute(async (trx) => {
      await trx.insertInto('accounts').values(account).execute();
      await trx.insertInto('users').values(user).execute();
    });
    return { account, user, ...pair };
  }

  async findByApiKey(apiKey: string): Promise<UserWithAccount | undefined> {
    const user = await this.db
      .selectFrom('users')
      .selectAll()
      .where('api_key', '=', apiKey)
      .executeTakeFirst();
    if (user === undefined) return undefined;
    const account = await this.getAccount(user.account_id);
    return account === undefined ? undefined : { user, account };
  }

  async getAccount(id: string): Promise<AccountRow | undefined> {
    return this.db.selectFrom('accounts').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async findAccountByName(name: string): Promise<AccountRow | undefined> {
    return this.db
      .selectFrom('accounts')
      .selectAll()
      .where('name', '=', name)
      .where('removed', 'is', null)
      .executeTakeFirst();
  }

  async listAccounts(): Promise<AccountRow[]> {
    return this.db
      .selectFrom('accounts')
      .selectAll()
      .where('removed', 'is', null)
      .orderBy('created')
      .execute();
  }

  async getUser(id: string): Promise<UserRow | undefined> {
    return this.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async usersOf(accountId: string): Promise<UserRow[]> {
    return this.db
      .selectFrom('users')
      .selectAll()
      .where('account_id', '=', accountId)
      .orderBy('created')
      .execute();
  }

  /** registerUserKeys: new keys; the old ones stop working at once. */
  async registerKeys(userId: string): Promise<KeyPair> {
    const pair = generateKeyPair();
    await this.db
      .updateTable('users')
      .set({ api_key: pair.apiKey, secret_key: pair.secretKey })
      .where('id', '=', userId)
      .execute();
    return pair;
  }
}
