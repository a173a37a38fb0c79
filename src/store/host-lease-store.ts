/**
 * Who heartbeats each host agent (issue 12): one management server at a time holds a host's
 * heartbeat lease and renews it with every beat; when that server dies, its lease runs out and the
 * next server to beat takes the host over. Commands for a host may still go from any server: the
 * lease is about the periodic ping and inventory import only, which must not run N times per beat.
 */
import type { Db } from './database.ts';

/**
 * Takes or renews the host's heartbeat lease for `owner`: true when `owner` holds it now. One
 * guarded UPDATE, so two servers racing for a free host cannot both win.
 */
export async function takeHeartbeatLease(
  db: Db,
  hostId: string,
  owner: string,
  leaseMs: number,
  now: number,
): Promise<boolean> {
  const result = await db
    .updateTable('hosts')
    .set({ heartbeat_owner: owner, heartbeat_lease_until: now + leaseMs })
    .where('id', '=', hostId)
    .where((eb) =>
      eb.or([
        eb('heartbeat_owner', '=', owner),
        eb('heartbeat_owner', 'is', null),
        eb('heartbeat_lease_until', '<', now),
      ]),
    )
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/** Gives up every host lease `owner` holds (a server that stops), so another takes them at once. */
export async function releaseHeartbeatLeases(db: Db, owner: string): Promise<void> {
  await db
    .updateTable('hosts')
    .set({ heartbeat_owner: null, heartbeat_lease_until: null })
    .where('heartbeat_owner', '=', owner)
    .execute();
}

/** The server that heartbeats a host now, if any (tests, listHosts). */
export async function heartbeatOwner(db: Db, hostId: string): Promise<string | null> {
  const row = await db
    .selectFrom('hosts')
    .select('heartbeat_owner')
    .where('id', '=', hostId)
    .executeTakeFirst();
  return row?.heartbeat_owner ?? null;
}
