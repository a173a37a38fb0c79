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

/** What createAccount may say about its one user besides the account's name and role. */
export interface NewUserProfile {
  /** Defaults to the account's name. */
  readonly username?: string;
  readonly firstname?: string;
  readonly lastname?: string;
  readonly email?: string;
  /** A hash from src/core/password-hash.ts; without it the user can use API keys only. */
  readonly passwordHash?: string;
}

/** CloudStack-looking keys: 86 characters of URL-safe base64. */
export function generateKeyPair(): KeyPair {
  const key = (): string => randomBytes(64).toString('base64url');
  return { apiKey: key(), secretKey: key() };
}

export class AccountStore {
  constructor(private readonly db: Db) {}

  /** An account with one user and API keys (given, or generated): seeding and tests. */
  async createAccount(
    name: string,
    role: 'admin' | 'user',
    keys?: KeyPair,
    profile: NewUserProfile = {},
  ): Promise<UserWithAccount & KeyPair> {
    const pair = keys ?? generateKeyPair();
    return { ...(await this.insertAccount(name, role, pair, profile)), ...pair };
  }

  /**
   * An account with one user and no API keys, as CloudStack's createAccount makes it: the keys come
   * from registerUserKeys, which returns the secret with them.
   */
  async createAccountWithoutKeys(
    name: string,
    role: 'admin' | 'user',
    profile: NewUserProfile = {},
  ): Promise<UserWithAccount> {
    return this.insertAccount(name, role, null, profile);
  }

  private async insertAccount(
    name: string,
    role: 'admin' | 'user',
    keys: KeyPair | null,
    profile: NewUserProfile,
  ): Promise<UserWithAccount> {
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
    const user: UserRow = {
      id: randomUUID(),
      account_id: account.id,
      username: profile.username ?? name,
      api_key: keys?.apiKey ?? null,
      secret_key: keys?.secretKey ?? null,
      state: 'enabled',
      created: now,
      firstname: profile.firstname ?? null,
      lastname: profile.lastname ?? null,
      email: profile.email ?? null,
    };
    const hash = profile.passwordHash;
    // One transaction: an account is never left without the password it was created with.
    await this.db.transaction().execute(async (trx) => {
      await trx.insertInto('accounts').values(account).execute();
      await trx.insertInto('users').values(user).execute();
      if (hash !== undefined)
        await trx.insertInto('user_passwords').values({ user_id: user.id, hash, updated: now }).execute();
    });
    return { account, user };
  }

  /** True once any account exists (the data dir has been seeded). */
  async hasAnyAccount(): Promise<boolean> {
    return (await this.db.selectFrom('accounts').select('id').limit(1).executeTakeFirst()) !== undefined;
  }

  /** The oldest admin account still in use: system events (internal failures) are filed under it. */
  async firstAdminAccountId(): Promise<string | undefined> {
    const row = await this.db
      .selectFrom('accounts')
      .select('id')
      .where('role', '=', 'admin')
      .where('removed', 'is', null)
      .orderBy('created')
      .limit(1)
      .executeTakeFirst();
    return row?.id;
  }

  /** The first admin user, who acts for the system (expiry, heartbeats). */
  async firstAdminUser(): Promise<{ userId: string; accountId: string; accountName: string } | undefined> {
    return this.db
      .selectFrom('users as u')
      .innerJoin('accounts as a', 'a.id', 'u.account_id')
      .select(['u.id as userId', 'a.id as accountId', 'a.name as accountName'])
      .where('a.role', '=', 'admin')
      .orderBy('u.created')
      .executeTakeFirst();
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

  /**
   * The user a login names, with its account: live accounts only; the oldest user if (from before
   * usernames were checked for uniqueness) two share the name.
   */
  async findByUsername(username: string): Promise<UserWithAccount | undefined> {
    const row = await this.db
      .selectFrom('users as u')
      .innerJoin('accounts as a', 'a.id', 'u.account_id')
      .select(['u.id as userId'])
      .where('u.username', '=', username)
      .where('a.removed', 'is', null)
      .orderBy('u.created')
      .limit(1)
      .executeTakeFirst();
    if (row === undefined) return undefined;
    const user = await this.getUser(row.userId);
    const account = user === undefined ? undefined : await this.getAccount(user.account_id);
    return user === undefined || account === undefined ? undefined : { user, account };
  }

  /** The user's password hash, or undefined when it has none (API keys only). */
  async passwordHashOf(userId: string): Promise<string | undefined> {
    const row = await this.db
      .selectFrom('user_passwords')
      .select('hash')
      .where('user_id', '=', userId)
      .executeTakeFirst();
    return row?.hash;
  }

  async setPasswordHash(userId: string, hash: string, now = Date.now()): Promise<void> {
    await this.db
      .insertInto('user_passwords')
      .values({ user_id: userId, hash, updated: now })
      .onConflict((oc) => oc.column('user_id').doUpdateSet({ hash, updated: now }))
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
