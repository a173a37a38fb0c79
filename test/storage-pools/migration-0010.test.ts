/**
 * Issue 11, item 1: existing databases migrate. A database made by the schema before migration 0010
 * (pools served by the magic driver name `hypervisor`, no URL) is opened by this version: its pools
 * become `file` pools with `file://` URLs (sealed at rest), host-local ones HOST-scoped; its volumes
 * still read back with their pool; and a VM deploys onto the migrated pool.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { migrationProvider } from '../../src/store/migrations.ts';
import { AccountStore } from '../../src/store/account-store.ts';
import { useScratchDirs } from '../helpers/scratch-dirs.ts';

const scratch = useScratchDirs('migration-0010');
const MIGRATION = '0010_storage_pool_providers';

/** Runs every migration before 0010, as the previous version left the database. */
async function previousSchema(file: string): Promise<Kysely<unknown>> {
  const db = new Kysely<unknown>({ dialect: new SqliteDialect({ database: new SqliteDatabase(file) }) });
  const provider = migrationProvider('sqlite');
  const names = Object.keys(await provider.getMigrations()).sort();
  const before = names[names.indexOf(MIGRATION) - 1];
  if (before === undefined) throw new Error('no migration before 0010');
  const { error } = await new Migrator({ db, provider }).migrateTo(before);
  if (error !== undefined) throw error instanceof Error ? error : new Error('migration failed');
  return db;
}

interface OldRows {
  zoneId: string;
  hostId: string;
  zonePool: string;
  hostPool: string;
  arrayPool: string;
  vmId: string;
}

/** Rows as the previous version's seed and addHost wrote them. */
async function writeOldRows(db: Kysely<unknown>): Promise<OldRows> {
  const ids = {
    zoneId: randomUUID(),
    hostId: randomUUID(),
    zonePool: randomUUID(),
    hostPool: randomUUID(),
    arrayPool: randomUUID(),
    vmId: randomUUID(),
  };
  const now = Date.now();
  await sql`INSERT INTO zones (id, name, created) VALUES (${ids.zoneId}, 'old-zone', ${now})`.execute(db);
  await sql`INSERT INTO hosts (id, zone_id, name, hypervisor, status, url, agent_token, last_heartbeat, created, removed)
    VALUES (${ids.hostId}, ${ids.zoneId}, 'old-host', 'Simulator', 'Up', NULL, NULL, ${now}, ${now}, NULL)`.execute(
    db,
  );
  const pool = (id: string, name: string, driver: string, path: string, hostId: string | null, at: number) =>
    sql`INSERT INTO storage_pools (id, zone_id, name, driver, path, host_id, capacity_bytes, created, removed)
      VALUES (${id}, ${ids.zoneId}, ${name}, ${driver}, ${path}, ${hostId}, ${1024 ** 4}, ${at}, NULL)`.execute(
      db,
    );
  await pool(ids.zonePool, 'old-primary', 'hypervisor', '/sim/old-primary', null, now);
  await pool(ids.hostPool, 'old-host:default', 'hypervisor', '/var/lib/vmsnap/pool', ids.hostId, now + 1);
  await pool(ids.arrayPool, 'old-array', 'vendor-array', '/sim/old-array', null, now + 2);
  await sql`INSERT INTO vms (id, instance_name, display_name, state, host_id, last_host_id, account_id, zone_id,
      hypervisor, memory_mb, cpus, update_count, created, removed)
    VALUES (${ids.vmId}, 'i-2-9-VM', 'old-vm', 'Stopped', NULL, ${ids.hostId}, ${randomUUID()}, ${ids.zoneId},
      'Simulator', 512, 1, 0, ${now}, NULL)`.execute(db);
  await sql`INSERT INTO volumes (id, vm_id, name, type, pool_id, format, path, size, device_id, state, created, removed)
    VALUES (${randomUUID()}, ${ids.vmId}, 'ROOT-9', 'ROOT', ${ids.zonePool}, 'QCOW2', '/sim/old-primary/r.qcow2',
      ${1024 ** 3}, 0, 'Ready', ${now}, NULL)`.execute(db);
  return ids;
}

function rawPoolUrls(file: string): string[] {
  const db = new SqliteDatabase(file, { readonly: true });
  try {
    const rows = db.prepare('SELECT pool_url, pool_details FROM storage_pools').all() as Record<
      string,
      string
    >[];
    return rows.flatMap((r) => [r['pool_url']!, r['pool_details']!]);
  } finally {
    db.close();
  }
}

describe('migration 0010 from a database of the previous schema', () => {
  it('turns hypervisor pools into file pools with URLs, sealed, and keeps volumes and deploys working', async () => {
    const dir = scratch.dir();
    const file = join(dir, 'vmsnap.db');
    const old = await previousSchema(file);
    const ids = await writeOldRows(old);
    await old.destroy();

    const app = await scratch.open(dir);
    const pools = new Map((await app.deps.inventory.listPools()).map((p) => [p.id, p]));
    expect(pools.get(ids.zonePool)).toMatchObject({
      driver: 'file',
      url: 'file:///sim/old-primary',
      scope: 'ZONE',
      state: 'Up',
      details: {},
      tags: [],
    });
    expect(pools.get(ids.hostPool)).toMatchObject({
      driver: 'file',
      url: 'file:///var/lib/vmsnap/pool',
      scope: 'HOST',
      hostId: ids.hostId,
    });
    expect(pools.get(ids.arrayPool)).toMatchObject({
      driver: 'vendor-array',
      url: 'vendor-array://old-array',
    });
    // Written plain by the migration, sealed by the start-time pass.
    for (const value of rawPoolUrls(file)) expect(value).toMatch(/^enc:v1:/);

    const [volume] = await app.deps.inventory.volumesOf(ids.vmId);
    expect(volume).toMatchObject({ driver: 'file', poolId: ids.zonePool });
    expect(volume?.pool).toMatchObject({
      provider: 'file',
      url: 'file:///sim/old-primary',
      path: '/sim/old-primary',
    });

    await app.start();
    const admin = await new AccountStore(app.deps.db).createAccount('admin', 'admin');
    const caller = {
      accountId: admin.account.id,
      accountName: 'admin',
      userId: admin.user.id,
      isAdmin: true,
    };
    const { vmId, jobId } = await app.vmManager.deploy(caller, {
      zoneId: ids.zoneId,
      memoryMb: 256,
      cpus: 1,
      diskSizesMb: [64],
      start: false,
    });
    const job = await app.deps.jobs.waitFor(jobId, 30_000);
    expect(job.status, JSON.stringify(job)).toBe('succeeded');
    expect((await app.deps.inventory.volumesOf(vmId)).map((v) => v.poolId)).toEqual([ids.zonePool]);
  });
});
