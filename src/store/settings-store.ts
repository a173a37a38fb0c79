/**
 * Settings with CloudStack's names and defaults. Rows in `settings` override the defaults and are
 * read on every use, so updateConfiguration takes effect at once (all are "dynamic").
 */
import type { Db } from './database.ts';

export interface SettingDefinition {
  readonly name: string;
  readonly defaultValue: string;
  readonly category: string;
  readonly description: string;
  readonly type: 'Integer' | 'Long' | 'String' | 'Boolean';
  /** Values allowed, when the setting is an enumeration. */
  readonly options?: readonly string[];
}

export const SETTINGS: readonly SettingDefinition[] = [
  {
    name: 'vmsnapshot.max',
    defaultValue: '10',
    category: 'Snapshots',
    type: 'Integer',
    description: 'Maximum vm snapshots for a single vm',
  },
  {
    name: 'vmsnapshot.create.wait',
    defaultValue: '1800',
    category: 'Snapshots',
    type: 'Integer',
    description: 'In second, timeout for create vm snapshot',
  },
  {
    name: 'vmsnapshot.expire.interval',
    defaultValue: '-1',
    category: 'Snapshots',
    type: 'Integer',
    description: 'VM Snapshot expire interval in hours; -1 disables automatic deletion',
  },
  {
    name: 'vmsnapshot.freeze.budget',
    defaultValue: '10000',
    category: 'Snapshots',
    type: 'Integer',
    description:
      'Milliseconds a guest may stay frozen; the host agent thaws it after this even if the server dies',
  },
  {
    name: 'vmsnapshot.quiesce.policy',
    defaultValue: 'required',
    category: 'Snapshots',
    type: 'String',
    options: ['required', 'best-effort'],
    description:
      'required: quiescevm=true fails without a guest agent; best-effort: take it crash-consistent and say so',
  },
  {
    name: 'vmsnapshot.memory.mode',
    defaultValue: 'host',
    category: 'Snapshots',
    type: 'String',
    options: ['host', 'live', 'internal'],
    description:
      'Memory snapshots on QEMU hosts: live (background RAM save, ms pause), internal (snapshot-save), or host (the agent default, live unless started with --memory-mode internal)',
  },
  {
    name: 'default.page.size',
    defaultValue: '500',
    category: 'Advanced',
    type: 'Long',
    description: 'Default page size for API list* commands',
  },
  {
    name: 'host.heartbeat.timeout',
    defaultValue: '60',
    category: 'Advanced',
    type: 'Integer',
    description: 'Seconds without a heartbeat after which a host is marked Down',
  },
  {
    name: 'job.expire.minutes',
    defaultValue: '1440',
    category: 'Advanced',
    type: 'Integer',
    description:
      'Time (in minutes) for finished async-jobs to be kept in system; queued and running jobs are never purged; -1 keeps them forever',
  },
  {
    name: 'event.purge.delay',
    defaultValue: '15',
    category: 'Advanced',
    type: 'Integer',
    description:
      'Events older than specified number days will be purged. Set this value to 0 to never delete events',
  },
  {
    name: 'api.signature.expires.max',
    defaultValue: '3600',
    category: 'Advanced',
    type: 'Integer',
    description:
      'Seconds: a signed API request whose expires parameter is further ahead than this is refused (a captured URL stays usable at most this long)',
  },
  // Account defaults for resource limits (updateResourceLimit overrides them per account; -1 is
  // unlimited; admin accounts are always unlimited), with CloudStack's names, defaults and units.
  {
    name: 'max.account.user.vms',
    defaultValue: '20',
    category: 'Account Defaults',
    type: 'Long',
    description: 'The default maximum number of user VMs that can be deployed for an account',
  },
  {
    name: 'max.account.volumes',
    defaultValue: '20',
    category: 'Account Defaults',
    type: 'Long',
    description: 'The default maximum number of volumes that can be created for an account',
  },
  {
    name: 'max.account.cpus',
    defaultValue: '40',
    category: 'Account Defaults',
    type: 'Long',
    description: 'The default maximum number of cpu cores that can be used for an account',
  },
  {
    name: 'max.account.memory',
    defaultValue: '40960',
    category: 'Account Defaults',
    type: 'Long',
    description: 'The default maximum memory (in MiB) that can be used for an account',
  },
  {
    name: 'max.account.primary.storage',
    defaultValue: '200',
    category: 'Account Defaults',
    type: 'Long',
    description: 'The default maximum primary storage space (in GiB) that can be used for an account',
  },
];

const BY_NAME = new Map(SETTINGS.map((s) => [s.name, s]));

export function settingDefinition(name: string): SettingDefinition | undefined {
  return BY_NAME.get(name);
}

export class SettingsStore {
  private cache = new Map<string, string>();
  private loaded = false;

  constructor(private readonly db: Db) {}

  /** Loads overrides once; later writes go through `set`, which keeps the cache true. */
  async load(): Promise<void> {
    const rows = await this.db.selectFrom('settings').selectAll().execute();
    this.cache = new Map(rows.map((r) => [r.name, r.value]));
    this.loaded = true;
  }

  get(name: string): string {
    if (!this.loaded) throw new Error('settings not loaded');
    const def = BY_NAME.get(name);
    if (def === undefined) throw new Error(`unknown setting ${name}`);
    return this.cache.get(name) ?? def.defaultValue;
  }

  getNumber(name: string): number {
    return Number(this.get(name));
  }

  async set(name: string, value: string): Promise<void> {
    const now = Date.now();
    await this.db
      .insertInto('settings')
      .values({ name, value, updated: now })
      .onConflict((oc) => oc.column('name').doUpdateSet({ value, updated: now }))
      .execute();
    this.cache.set(name, value);
  }
}
