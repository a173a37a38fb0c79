/** Zones: created by admins (seed, tests); addHost checks them, the API lists and names them. */
import type { Db } from './database.ts';
import type { ZoneRow } from './schema.ts';

/** Every zone, oldest first. */
export async function listZones(db: Db): Promise<ZoneRow[]> {
  return db.selectFrom('zones').selectAll().orderBy('created').execute();
}

export async function insertZone(db: Db, zone: ZoneRow): Promise<void> {
  await db.insertInto('zones').values(zone).execute();
}

export async function zoneExists(db: Db, id: string): Promise<boolean> {
  return (await db.selectFrom('zones').select('id').where('id', '=', id).executeTakeFirst()) !== undefined;
}
