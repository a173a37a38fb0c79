/**
 * Migration 0018-user-sessions (issue 14): logging in with a username and password.
 *
 * - `users` gains CloudStack's profile columns (firstname, lastname, email), which login returns.
 * - `user_passwords` holds each user's password hash (scrypt, salt and parameters in the string).
 *   A table of its own, so the hash never travels with a `users` row: the API-key lookup, the
 *   credential cache and every renderer of users never hold it.
 * - `user_sessions` holds the console sessions, in the database so that every management server
 *   sharing it accepts a session made on another. Only SHA-256 hashes of the session id (the
 *   cookie) and of the session key are stored: a copy of the table cannot be replayed as sessions.
 */
import type { Kysely, Migration } from 'kysely';

export const userSessions: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable('users').addColumn('firstname', 'text').execute();
    await db.schema.alterTable('users').addColumn('lastname', 'text').execute();
    await db.schema.alterTable('users').addColumn('email', 'text').execute();
    await db.schema
      .createTable('user_passwords')
      .addColumn('user_id', 'text', (c) => c.primaryKey())
      .addColumn('hash', 'text', (c) => c.notNull())
      .addColumn('updated', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('user_sessions')
      .addColumn('id_hash', 'text', (c) => c.primaryKey())
      .addColumn('key_hash', 'text', (c) => c.notNull())
      .addColumn('user_id', 'text', (c) => c.notNull())
      .addColumn('created', 'bigint', (c) => c.notNull())
      .addColumn('last_seen', 'bigint', (c) => c.notNull())
      .execute();
    // Expired sessions are purged by age; a user's sessions are ended together.
    await db.schema.createIndex('user_sessions_last_seen').on('user_sessions').column('last_seen').execute();
    await db.schema.createIndex('user_sessions_user').on('user_sessions').column('user_id').execute();
  },
};
