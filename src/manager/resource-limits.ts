/**
 * CloudStack's per-account resource limits for what vmsnap manages (issue 9, item 4): instances (0),
 * volumes (2), CPU (8), memory (9) and primary storage (10). An account's limit is its override
 * (updateResourceLimit), else the `max.account.*` setting; admin accounts are unlimited, as root
 * admins are in CloudStack. A deploy is checked and its rows written in one transaction under the
 * owner's lock (`reserve`), so concurrent deploys cannot both take the last room.
 */
import type { Transaction } from 'kysely';
import { InvalidParameterError, PermissionDeniedError, ResourceAllocationError } from '../core/errors.ts';
import { AccountStore, ROOT_DOMAIN_ID } from '../store/account-store.ts';
import {
  ResourceLimitStore,
  type ResourceAmounts,
  type ResourceTypeName,
} from '../store/resource-limit-store.ts';
import type { Database, AccountRow } from '../store/schema.ts';
import type { SettingName, SettingsStore } from '../store/settings-store.ts';
import type { Db } from '../store/database.ts';
import type { Caller } from './caller.ts';

export type { ResourceAmounts, ResourceTypeName } from '../store/resource-limit-store.ts';

export interface ResourceType {
  /** Resource.ResourceType ordinal: the API's `resourcetype`. */
  readonly ordinal: number;
  readonly name: ResourceTypeName;
  /** The setting that holds the account default. */
  readonly setting: SettingName;
  /** Stored in bytes, spoken in GiB by the API (limits only; counts stay in bytes). */
  readonly gib: boolean;
}

/** By ordinal, the order CloudStack lists them in. */
export const RESOURCE_TYPES: readonly ResourceType[] = [
  { ordinal: 0, name: 'user_vm', setting: 'max.account.user.vms', gib: false },
  { ordinal: 2, name: 'volume', setting: 'max.account.volumes', gib: false },
  { ordinal: 8, name: 'cpu', setting: 'max.account.cpus', gib: false },
  { ordinal: 9, name: 'memory', setting: 'max.account.memory', gib: false },
  { ordinal: 10, name: 'primary_storage', setting: 'max.account.primary.storage', gib: true },
];

/** The order deployVirtualMachine checks them in (CloudStack: VM, CPU, memory, then its volumes). */
const DEPLOY_CHECK_ORDER: readonly ResourceTypeName[] = [
  'user_vm',
  'cpu',
  'memory',
  'volume',
  'primary_storage',
];

export const UNLIMITED = -1;
const GiB = 1024 ** 3;
/** The largest GiB limit whose byte value a double still holds exactly. */
const MAX_GIB_LIMIT = Math.floor(Number.MAX_SAFE_INTEGER / GiB);

export function resourceTypeByOrdinal(ordinal: number): ResourceType | undefined {
  return RESOURCE_TYPES.find((t) => t.ordinal === ordinal);
}

export function resourceTypeByName(name: string): ResourceType | undefined {
  return RESOURCE_TYPES.find((t) => t.name === name);
}

/** Who a limit or count belongs to: one account, or the (only, ROOT) domain as a whole. */
export type LimitOwner = { kind: 'account'; account: AccountRow } | { kind: 'domain'; domainId: string };

export interface LimitView {
  readonly owner: LimitOwner;
  readonly type: ResourceType;
  /** In API units (GiB for primary storage); -1 unlimited. */
  readonly max: number;
}

export interface CountView {
  readonly owner: LimitOwner;
  readonly type: ResourceType;
  /** In stored units (bytes for primary storage), as CloudStack reports counts. */
  readonly count: number;
}

export class ResourceLimitManager {
  private readonly store: ResourceLimitStore;
  private readonly accounts: AccountStore;

  constructor(private readonly deps: { readonly db: Db; readonly settings: SettingsStore }) {
    this.store = new ResourceLimitStore(deps.db);
    this.accounts = new AccountStore(deps.db);
  }

  /** CloudStack's findCorrectResourceLimitForAccount, for every managed type, in stored units. */
  async limitsOf(account: AccountRow): Promise<ResourceAmounts> {
    const overrides = account.role === 'admin' ? undefined : await this.store.overrides(account.id);
    const limitOf = (t: ResourceType): number =>
      overrides === undefined ? UNLIMITED : (overrides.get(t.ordinal) ?? this.defaultLimit(t));
    return Object.fromEntries(RESOURCE_TYPES.map((t) => [t.name, limitOf(t)])) as ResourceAmounts;
  }

  private defaultLimit(t: ResourceType): number {
    const value = this.deps.settings.getNumber(t.setting);
    return t.gib && value >= 0 ? value * GiB : value;
  }

  /**
   * Checks that `wanted` fits the owner's limits and, in the same transaction, runs `create` (which
   * writes the rows that from then on count). Throws ResourceAllocationError, writing nothing, when
   * any type would go over its limit.
   */
  async reserve(
    accountId: string,
    wanted: ResourceAmounts,
    create: (trx: Transaction<Database>) => Promise<void>,
  ): Promise<void> {
    const account = await this.accounts.getAccount(accountId);
    if (account === undefined) throw new InvalidParameterError(`Unable to find account ${accountId}`);
    const limits = await this.limitsOf(account);
    await this.store.underAccountLock(account.id, async (trx) => {
      if (account.role !== 'admin') {
        const used = await this.store.usage(account.id, trx);
        for (const name of DEPLOY_CHECK_ORDER)
          checkOne(account, name, limits[name], used[name], wanted[name]);
      }
      await create(trx);
    });
  }

  /**
   * CloudStack's finalyzeAccountId for these commands, on vmsnap's flat ROOT domain: an `account`
   * (with the ROOT domain id, if any), else the domain when only `domainid` is given, else the
   * caller's own account. A user naming another account is answered as if it did not exist.
   */
  async resolveOwner(
    caller: Caller,
    accountName: string | undefined,
    domainId: string | undefined,
    command: string,
  ): Promise<LimitOwner> {
    if (domainId !== undefined && domainId !== ROOT_DOMAIN_ID) {
      throw new InvalidParameterError(
        `Unable to execute API command ${command.toLowerCase()} due to invalid value. Invalid parameter domainid value=${domainId} due to incorrect long value format, or entity does not exist or due to incorrect parameter annotation for the field in api cmd class.`,
      );
    }
    if (accountName !== undefined) {
      const account = await this.accounts.findAccountByName(accountName);
      if (account === undefined || !(caller.isAdmin || account.id === caller.accountId)) {
        throw new InvalidParameterError(`Unable to find account ${accountName} in domain ROOT`);
      }
      return { kind: 'account', account };
    }
    if (domainId !== undefined && caller.isAdmin) return { kind: 'domain', domainId };
    const own = await this.accounts.getAccount(caller.accountId);
    if (own === undefined) throw new InvalidParameterError(`Unable to find account ${caller.accountName}`);
    return { kind: 'account', account: own };
  }

  /** listResourceLimits: the owner's limits (ROOT's are all unlimited), optionally of one type. */
  async list(owner: LimitOwner, only?: ResourceType): Promise<LimitView[]> {
    const types = only === undefined ? RESOURCE_TYPES : [only];
    const limits = owner.kind === 'account' ? await this.limitsOf(owner.account) : undefined;
    return types.map((type) => ({
      owner,
      type,
      max: toApiUnits(type, limits === undefined ? UNLIMITED : limits[type.name]),
    }));
  }

  /** updateResourceLimit, with CloudStack's checks; `max` in API units (GiB for storage). */
  async update(owner: LimitOwner, type: ResourceType, max: number): Promise<LimitView> {
    if (max < UNLIMITED) {
      throw new InvalidParameterError(
        "Please specify either '-1' for an infinite limit, or a limit that is at least '0'.",
      );
    }
    if (type.gib && max > MAX_GIB_LIMIT) {
      throw new InvalidParameterError(`Please specify a limit of at most ${MAX_GIB_LIMIT} GiB`);
    }
    if (owner.kind === 'domain') {
      throw new PermissionDeniedError(
        `Cannot update resource limit for ROOT domain ${owner.domainId}, permission denied`,
      );
    }
    if (owner.account.role === 'admin' && max !== UNLIMITED) {
      throw new InvalidParameterError(`Only ${UNLIMITED} limit is supported for Root Admin accounts`);
    }
    await this.store.setLimit(owner.account.id, type.ordinal, type.gib && max >= 0 ? max * GiB : max);
    return { owner, type, max };
  }

  /** updateResourceCount: what the owner holds, counted from the VM and volume rows as they are now. */
  async counts(owner: LimitOwner, only?: ResourceType): Promise<CountView[]> {
    const used = await this.store.usage(owner.kind === 'account' ? owner.account.id : null);
    const types = only === undefined ? RESOURCE_TYPES : [only];
    return types.map((type) => ({ owner, type, count: used[type.name] }));
  }
}

function toApiUnits(type: ResourceType, stored: number): number {
  return type.gib && stored >= 0 ? Math.ceil(stored / GiB) : stored;
}

/** CloudStack's checkAccountResourceLimit: refuse when count + wanted would exceed a set limit. */
function checkOne(
  account: AccountRow,
  name: ResourceTypeName,
  limit: number,
  used: number,
  wanted: number,
): void {
  if (limit === UNLIMITED || used + wanted <= limit) return;
  const show = name === 'primary_storage' ? humanReadableSize : String;
  throw new ResourceAllocationError(
    `Maximum amount of resources of Type = '${name}' for Account Name = ${account.name} in Domain Id = ${account.domain_id} ` +
      `is exceeded: Account Resource Limit = ${show(limit)}, Current Account Resource Amount = ${show(used)}, ` +
      `Current Account Resource Reservation = ${show(0)}, Requested Resource Amount = ${show(wanted)}.`,
  );
}

/** NumbersUtil.toHumanReadableSize with display.human.readable.sizes on: `(1.50 GB) 1610612736`. */
export function humanReadableSize(bytes: number): string {
  return `(${readableSize(bytes)}) ${bytes}`;
}

function readableSize(bytes: number): string {
  const KB = 1024;
  const units: [number, string, number][] = [
    [KB ** 4, 'TB', 4],
    [KB ** 3, 'GB', 2],
    [KB ** 2, 'MB', 2],
    [KB, 'KB', 2],
  ];
  if (bytes < KB) return `${bytes} bytes`;
  const [size, unit, digits] = units.find(([s]) => bytes >= s) ?? [KB, 'KB', 2];
  return `${Math.fround(bytes / size).toFixed(digits)} ${unit}`;
}
