/**
 * Settings with CloudStack's names and defaults. Rows in `settings` override the defaults; each
 * server caches them and re-reads them when the `settings_version` row moves (checked twice a
 * second), so updateConfiguration takes effect at once here and within a second on every other
 * management server (all are "dynamic").
 */
import { InvalidParameterError } from '../core/errors.ts';
import { DEFAULT_FREEZE_BUDGET_MS } from '../core/freeze-budget.ts';
import { INT32_RANGE, parseStrictInteger, SAFE_LONG_RANGE } from '../core/strict-integer.ts';
import type { Db } from './database.ts';

/** What a number setting may hold: `min..max`, and -1 too when it means "unlimited" / "never". */
export interface SettingRange {
  readonly min: number;
  readonly max: number;
  /** -1 is accepted as well (a sentinel below `min`: unlimited, forever, disabled). */
  readonly minusOne?: true;
}

export interface SettingDefinition {
  readonly name: string;
  readonly defaultValue: string;
  readonly category: string;
  readonly description: string;
  readonly type: 'Integer' | 'Long' | 'String' | 'Boolean';
  /** Values allowed, when the setting is an enumeration. */
  readonly options?: readonly string[];
  /** Number settings: the values that make sense (a page size of 0 empties every list). */
  readonly range?: SettingRange;
}

const INT_MAX = INT32_RANGE.max;
const LONG_MAX = SAFE_LONG_RANGE.max;

export const SETTINGS = [
  {
    name: 'vmsnapshot.max',
    defaultValue: '10',
    category: 'Snapshots',
    type: 'Integer',
    description: 'Maximum vm snapshots for a single vm',
    range: { min: 0, max: INT_MAX },
  },
  {
    name: 'vmsnapshot.create.wait',
    defaultValue: '1800',
    category: 'Snapshots',
    type: 'Integer',
    description: 'In second, timeout for create vm snapshot',
    range: { min: 1, max: INT_MAX },
  },
  {
    name: 'vmsnapshot.expire.interval',
    defaultValue: '-1',
    category: 'Snapshots',
    type: 'Integer',
    description: 'VM Snapshot expire interval in hours; -1 disables automatic deletion',
    range: { min: 1, max: INT_MAX, minusOne: true },
  },
  {
    name: 'vmsnapshot.freeze.budget',
    defaultValue: String(DEFAULT_FREEZE_BUDGET_MS),
    category: 'Snapshots',
    type: 'Integer',
    description:
      'Milliseconds a guest may stay frozen; the host agent thaws it after this even if the server dies',
    range: { min: 1, max: 3_600_000 },
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
    range: { min: 1, max: LONG_MAX, minusOne: true },
  },
  {
    name: 'host.heartbeat.timeout',
    defaultValue: '60',
    category: 'Advanced',
    type: 'Integer',
    description: 'Seconds without a heartbeat after which a host is marked Down',
    range: { min: 1, max: INT_MAX },
  },
  {
    name: 'job.expire.minutes',
    defaultValue: '1440',
    category: 'Advanced',
    type: 'Integer',
    description:
      'Time (in minutes) for finished async-jobs to be kept in system; queued and running jobs are never purged; -1 keeps them forever',
    range: { min: 1, max: INT_MAX, minusOne: true },
  },
  {
    name: 'event.purge.delay',
    defaultValue: '15',
    category: 'Advanced',
    type: 'Integer',
    description:
      'Events older than specified number days will be purged. Set this value to 0 to never delete events',
    range: { min: 0, max: INT_MAX },
  },
  {
    name: 'api.signature.expires.max',
    defaultValue: '3600',
    category: 'Advanced',
    type: 'Integer',
    description:
      'Seconds: a signed API request whose expires parameter is further ahead than this is refused (a captured URL stays usable at most this long)',
    range: { min: 1, max: INT_MAX },
  },
  // Account defaults for resource limits (updateResourceLimit overrides them per account; -1 is
  // unlimited; admin accounts are always unlimited), with CloudStack's names, defaults and units.
  {
    name: 'max.account.user.vms',
    defaultValue: '20',
    category: 'Account Defaults',
    type: 'Long',
    description: 'The default maximum number of user VMs that can be deployed for an account',
    range: { min: 0, max: LONG_MAX, minusOne: true },
  },
  {
    name: 'max.account.volumes',
    defaultValue: '20',
    category: 'Account Defaults',
    type: 'Long',
    description: 'The default maximum number of volumes that can be created for an account',
    range: { min: 0, max: LONG_MAX, minusOne: true },
  },
  {
    name: 'max.account.cpus',
    defaultValue: '40',
    category: 'Account Defaults',
    type: 'Long',
    description: 'The default maximum number of cpu cores that can be used for an account',
    range: { min: 0, max: LONG_MAX, minusOne: true },
  },
  {
    name: 'max.account.memory',
    defaultValue: '40960',
    category: 'Account Defaults',
    type: 'Long',
    description: 'The default maximum memory (in MiB) that can be used for an account',
    range: { min: 0, max: LONG_MAX, minusOne: true },
  },
  {
    name: 'max.account.primary.storage',
    defaultValue: '200',
    category: 'Account Defaults',
    type: 'Long',
    description: 'The default maximum primary storage space (in GiB) that can be used for an account',
    range: { min: 0, max: LONG_MAX, minusOne: true },
  },
  // Issue 12: several management servers on one database.
  {
    name: 'job.lease.seconds',
    defaultValue: '20',
    category: 'Advanced',
    type: 'Integer',
    description:
      'Seconds a running async job stays owned by its management server without a renewal; the jobs of a dead server are taken over by another server once this passes (at most about a second later)',
    range: { min: 2, max: 3600 },
  },
  {
    name: 'job.shutdown.wait',
    defaultValue: '60',
    category: 'Advanced',
    type: 'Integer',
    description:
      'Seconds a stopping management server lets its running async jobs finish; those still running then are handed back, and another server (or the next start) recovers them',
    range: { min: 0, max: 86400 },
  },
  // Issue 14: logging in with a username and password.
  {
    name: 'session.timeout',
    defaultValue: '1800',
    category: 'Security',
    type: 'Integer',
    description:
      'Seconds a login session stays valid without a request (the servlet session timeout of CloudStack, its loginresponse timeout)',
    range: { min: 60, max: 604800 },
  },
  {
    name: 'incorrect.login.attempts.allowed',
    defaultValue: '5',
    category: 'Security',
    type: 'Integer',
    description:
      'Failed logins allowed for one username within login.lockout.seconds (four times as many from one client address) before further attempts are refused for that long',
    range: { min: 1, max: 1000 },
  },
  {
    name: 'login.lockout.seconds',
    defaultValue: '300',
    category: 'Security',
    type: 'Integer',
    description:
      'The window failed logins are counted in, and how long logins are refused once incorrect.login.attempts.allowed is reached',
    range: { min: 1, max: 86400 },
  },
] as const satisfies readonly SettingDefinition[];

/** Every setting's name: a misspelt name in code fails to compile. */
export type SettingName = (typeof SETTINGS)[number]['name'];

const BY_NAME = new Map<string, SettingDefinition>(SETTINGS.map((s) => [s.name, s]));

export function settingDefinition(name: string): SettingDefinition | undefined {
  return BY_NAME.get(name);
}

export function isSettingName(name: string): name is SettingName {
  return BY_NAME.has(name);
}

/**
 * Refuses a value the setting cannot hold (431): a number setting is read with Number() on every
 * use, so only a plain decimal integer of its type may be stored (`1e9`, `0x10` or an overflow would
 * mean something else there), within its range; an enumeration takes one of its options.
 */
export function checkSettingValue(def: SettingDefinition, value: string): void {
  const typeRange = def.type === 'Integer' ? INT32_RANGE : def.type === 'Long' ? SAFE_LONG_RANGE : undefined;
  if (typeRange !== undefined) {
    const n = parseStrictInteger(value, typeRange);
    if (n === null)
      throw new InvalidParameterError(`Configuration ${def.name} must be a number, got ${value}`);
    const r = def.range;
    if (r !== undefined && (n < r.min || n > r.max) && !(r.minusOne === true && n === -1)) {
      throw new InvalidParameterError(
        `Invalid value for configuration [${def.name}]: ${value} is not in the range [${r.min}-${r.max}]` +
          (r.minusOne === true ? ' or -1' : ''),
      );
    }
  }
  if (def.options !== undefined && !def.options.includes(value)) {
    throw new InvalidParameterError(
      `Configuration ${def.name} must be one of ${def.options.join(', ')}, got ${value}`,
    );
  }
}

export class SettingsStore {
  private cache = new Map<string, string>();
  private loaded = false;
  /** The settings_version this cache was read at: another server's write moves it. */
  private version = -1;

  constructor(private readonly db: Db) {}

  /** Loads the overrides; `refresh` re-reads them once another server changed one. */
  async load(): Promise<void> {
    const version = await this.readVersion();
    const rows = await this.db.selectFrom('settings').selectAll().execute();
    this.cache = new Map(rows.map((r) => [r.name, r.value]));
    this.version = version;
    this.loaded = true;
  }

  /**
   * Reads the settings version (one row) and reloads when it moved: a change made through another
   * management server reaches this one at the next refresh (the App calls it twice a second).
   * The version is read before the rows, so a write racing the reload is seen at the next refresh.
   */
  async refresh(): Promise<boolean> {
    if ((await this.readVersion()) === this.version) return false;
    await this.load();
    return true;
  }

  private async readVersion(): Promise<number> {
    const row = await this.db
      .selectFrom('settings_version')
      .select('version')
      .where('id', '=', 1)
      .executeTakeFirst();
    return Number(row?.version ?? 0);
  }

  get(name: SettingName): string {
    return this.getByName(name);
  }

  getNumber(name: SettingName): number {
    return Number(this.get(name));
  }

  /** A setting named at run time (a plugin's StrategyContext.setting): unknown names throw. */
  getByName(name: string): string {
    if (!this.loaded) throw new Error('settings not loaded');
    const def = BY_NAME.get(name);
    if (def === undefined) throw new Error(`unknown setting ${name}`);
    return this.cache.get(name) ?? def.defaultValue;
  }

  /**
   * Stores a value as given (updateConfiguration checks it first with `checkSettingValue`) and bumps
   * the settings version in the same transaction, so no server can see the one without the other.
   */
  async set(name: SettingName, value: string): Promise<void> {
    const now = Date.now();
    await this.db.transaction().execute(async (tx) => {
      await tx
        .insertInto('settings')
        .values({ name, value, updated: now })
        .onConflict((oc) => oc.column('name').doUpdateSet({ value, updated: now }))
        .execute();
      await tx
        .updateTable('settings_version')
        .set((eb) => ({ version: eb('version', '+', 1) }))
        .where('id', '=', 1)
        .execute();
    });
    this.cache.set(name, value);
  }
}
