/**
 * PluginHost.store (src/core/plugin-api.ts): plugins' documents in the management database, so a
 * plugin's state is the same on every management server. Every write names the version it read.
 */
import type { PluginDocument, PluginStore } from '../core/plugin-api.ts';
import type { Db } from './database.ts';

export class PluginDocumentStore implements PluginStore {
  constructor(private readonly db: Db) {}

  async get(key: string): Promise<PluginDocument | undefined> {
    return this.db
      .selectFrom('plugin_documents')
      .select(['value', 'version'])
      .where('key', '=', key)
      .executeTakeFirst();
  }

  async put(key: string, value: string, expected: number | null): Promise<boolean> {
    const updated = Date.now();
    if (expected === null) {
      const inserted = await this.db
        .insertInto('plugin_documents')
        .values({ key, value, version: 1, updated })
        .onConflict((oc) => oc.column('key').doNothing())
        .executeTakeFirst();
      return Number(inserted.numInsertedOrUpdatedRows ?? 0) === 1;
    }
    const result = await this.db
      .updateTable('plugin_documents')
      .set({ value, version: expected + 1, updated })
      .where('key', '=', key)
      .where('version', '=', expected)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async delete(key: string, expected?: number): Promise<boolean> {
    let query = this.db.deleteFrom('plugin_documents').where('key', '=', key);
    if (expected !== undefined) query = query.where('version', '=', expected);
    const result = await query.executeTakeFirst();
    return Number(result.numDeletedRows) === 1;
  }
}
