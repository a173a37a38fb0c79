/**
 * The management servers sharing one database (issue 12), as CloudStack's `mshost` table: each
 * server writes its row at start, beats it while it runs and marks it Down when it stops. A server
 * that died without stopping keeps state Up in its row; it is shown Down once its heartbeat is older
 * than the lease, the same bound after which other servers take over its jobs.
 */
import type { Db } from './database.ts';
import type { ManagementServerRow } from './schema.ts';

export interface ManagementServerStart {
  readonly id: string;
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly version: string;
}

/** A server as listManagementServers shows it. */
export interface ManagementServerView {
  readonly id: string;
  readonly name: string;
  readonly state: 'Up' | 'Down';
  readonly version: string;
  readonly host: string;
  readonly port: number;
  readonly started: number;
  readonly lastHeartbeat: number;
  readonly stopped: number | null;
}

export class ManagementServerStore {
  constructor(private readonly db: Db) {}

  async register(server: ManagementServerStart, now: number): Promise<void> {
    await this.db
      .insertInto('management_servers')
      .values({ ...server, started: now, last_heartbeat: now, stopped: null, state: 'Up' })
      .execute();
  }

  async heartbeat(id: string, now: number): Promise<void> {
    await this.db
      .updateTable('management_servers')
      .set({ last_heartbeat: now })
      .where('id', '=', id)
      .execute();
  }

  async markStopped(id: string, now: number): Promise<void> {
    await this.db
      .updateTable('management_servers')
      .set({ state: 'Down', stopped: now, last_heartbeat: now })
      .where('id', '=', id)
      .execute();
  }

  /** Every server, newest start first; Up only while it beats within `leaseMs` of `now`. */
  async list(now: number, leaseMs: number): Promise<ManagementServerView[]> {
    const rows = await this.db
      .selectFrom('management_servers')
      .selectAll()
      .orderBy('started', 'desc')
      .orderBy('id')
      .execute();
    return rows.map((r) => view(r, now, leaseMs));
  }
}

function view(r: ManagementServerRow, now: number, leaseMs: number): ManagementServerView {
  const alive = r.state === 'Up' && now - r.last_heartbeat <= leaseMs;
  return {
    id: r.id,
    name: r.name,
    state: alive ? 'Up' : 'Down',
    version: r.version,
    host: r.host,
    port: r.port,
    started: r.started,
    lastHeartbeat: r.last_heartbeat,
    stopped: r.stopped,
  };
}
