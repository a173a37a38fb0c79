/**
 * Console sessions (issue 14), in the database so every management server sharing it accepts them.
 * A session is found by the SHA-256 of its id (the cookie) and proven by the SHA-256 of its key
 * (the `sessionkey` parameter): both are 256 random bits, so a plain hash is enough (no KDF), and
 * a copy of the table holds nothing that can be sent back as a session.
 */
import { createHash } from 'node:crypto';
import type { Db } from './database.ts';
import type { UserSessionTable } from './schema.ts';

export type StoredSession = UserSessionTable;

export function sessionHash(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('base64url');
}

export class UserSessionStore {
  constructor(private readonly db: Db) {}

  async insert(s: { id: string; key: string; userId: string; now: number }): Promise<void> {
    await this.db
      .insertInto('user_sessions')
      .values({
        id_hash: sessionHash(s.id),
        key_hash: sessionHash(s.key),
        user_id: s.userId,
        created: s.now,
        last_seen: s.now,
      })
      .execute();
  }

  async find(id: string): Promise<StoredSession | undefined> {
    return this.db
      .selectFrom('user_sessions')
      .selectAll()
      .where('id_hash', '=', sessionHash(id))
      .executeTakeFirst();
  }

  /** Records activity: inactivity is measured from here. */
  async touch(idHash: string, now: number): Promise<void> {
    await this.db
      .updateTable('user_sessions')
      .set({ last_seen: now })
      .where('id_hash', '=', idHash)
      .execute();
  }

  async delete(idHash: string): Promise<void> {
    await this.db.deleteFrom('user_sessions').where('id_hash', '=', idHash).execute();
  }

  /** Every session of a user (its password changed). */
  async deleteForUser(userId: string): Promise<void> {
    await this.db.deleteFrom('user_sessions').where('user_id', '=', userId).execute();
  }

  /** Sessions idle since before `idleSince`: they can never be used again. */
  async deleteIdle(idleSince: number): Promise<void> {
    await this.db.deleteFrom('user_sessions').where('last_seen', '<', idleSince).execute();
  }
}
