/**
 * This server among the management servers sharing the database (issue 12): its row in
 * `management_servers` with a heartbeat, the settings cache kept true when another server changes a
 * setting, and the admin event for a job this server took over from a dead one.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Logger } from '../core/plugin-api.ts';
import type { Takeover } from '../jobs/job-queue.ts';
import type { AccountStore } from '../store/account-store.ts';
import type { EventStore } from '../store/event-store.ts';
import type { ManagementServerStore } from '../store/management-server-store.ts';
import type { SettingsStore } from '../store/settings-store.ts';

/** Event type of a job taken over from a management server that stopped renewing it. */
export const JOB_TAKEOVER = 'JOB.TAKEOVER';

/** Where this server listens, for its row (listManagementServers' serviceip). */
export interface ServerAddress {
  readonly host: string;
  readonly port: number;
}

export interface ClusterMembershipDeps {
  readonly serverId: string;
  readonly version: string;
  readonly servers: ManagementServerStore;
  readonly settings: SettingsStore;
  readonly events: EventStore;
  readonly accounts: AccountStore;
  readonly log: Logger;
}

export class ClusterMembership {
  private registered = false;

  constructor(private readonly deps: ClusterMembershipDeps) {}

  /** Writes this server's row (Up); `address` is where its API listens, when it serves one. */
  async join(address: ServerAddress | undefined, now = Date.now()): Promise<void> {
    await this.deps.servers.register(
      {
        id: this.deps.serverId,
        name: hostname(),
        host: address?.host ?? hostname(),
        port: address?.port ?? 0,
        version: this.deps.version,
      },
      now,
    );
    this.registered = true;
  }

  /** One beat: this server's row, then the settings if another server changed one. */
  async beat(now = Date.now()): Promise<void> {
    if (this.registered) await this.deps.servers.heartbeat(this.deps.serverId, now);
    if (await this.deps.settings.refresh())
      this.deps.log.info('settings changed on another server: reloaded');
  }

  async leave(now = Date.now()): Promise<void> {
    if (!this.registered) return;
    await this.deps.servers.markStopped(this.deps.serverId, now);
    this.registered = false;
  }

  /** The admin-visible record of a take-over (the first admin account's, as other system events). */
  async recordTakeover(t: Takeover): Promise<void> {
    const admin = await this.deps.accounts.firstAdminUser();
    await this.deps.events.record({
      accountId: admin?.accountId ?? t.job.account_id,
      userId: null,
      type: JOB_TAKEOVER,
      level: 'WARN',
      state: 'Completed',
      description:
        `Job ${t.job.id} (${t.job.kind}) of management server ${t.previousOwner ?? 'none'} ` +
        `taken over by management server ${t.newOwner}: its lease had run out`,
      resourceType: 'AsyncJob',
      resourceId: t.job.id,
    });
  }
}

/** vmsnap's version as package.json gives it (listManagementServers' version). */
export function vmsnapVersion(): string {
  const file = new URL('../../package.json', import.meta.url);
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as { version?: unknown };
  return typeof parsed.version === 'string' ? parsed.version : 'unknown';
}
