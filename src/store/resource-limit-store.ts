/**
 * Resource limits and what they are checked against (issue 9, item 4).
 *
 * Counts are not stored: they are computed in SQL from the live VM and volume rows whenever they are
 * needed. A stored counter would have to be kept true by every path that creates or removes a VM or
 * a volume (deploy, a failed deploy, host import, the heartbeat), and any miss would drift until an
 * admin ran updateResourceCount; the rows themselves cannot drift. The check stays atomic because it
 * runs in the same transaction that inserts the new rows, after taking a lock on the owner's account
 * row (`underAccountLock`): a second deploy for the same account waits, then counts the first one's
 * rows. The per-account count is small (an account's own VMs, served by `vms_account_resources`).
 */
import type { Kysely, Transaction } from 'kysely';
import type { Db } from './database.ts';
import type { Database } from './schema.ts';

/** CloudStack's Resource.ResourceType names, for the types vmsnap manages. */
export type ResourceTypeName = 'user_vm' | 'volume' | 'cpu' | 'memory' | 'primary_storage';

/** An amount per type: a count, MiB of memory, bytes of primary storage. */
export type ResourceAmounts = Readonly<Record<ResourceTypeName, number>>;

type Conn = Kysely<Database> | Transaction<Database>;

/** VM states that hold no resources, as CloudStack's countAllocatedVMsForAccount leaves out. */
const RELEASED_VM_STATES = ['Destroyed', 'Expunging', 'Error'];
const RELEASED_VOLUME_STATES = ['Destroy', 'Expunging', 'Expunged'];

export class ResourceLimitStore {
  constructor(private readonly db: Db) {}

  /** The account's overrides, by type ordinal. */
  async overrides(accountId: string): Promise<Map<number, number>> {
    const rows = await this.db
      .selectFrom('resource_limits')
      .select(['resource_type', 'max'])
      .where('account_id', '=', accountId)
      .execute();
    return new Map(rows.map((r) => [Number(r.resource_type), Number(r.max)]));
  }

  async setLimit(accountId: string, resourceType: number, max: number): Promise<void> {
    const updated = Date.now();
    await this.db
      .insertInto('resource_limits')
      .values({ account_id: accountId, resource_type: resourceType, max, updated })
      .onConflict((oc) => oc.columns(['account_id', 'resource_type']).doUpdateSet({ max, updated }))
      .execute();
  }

  /**
   * What an account holds now (all accounts when `accountId` is null): every VM that is not
   * destroyed counts, running or stopped, as CloudStack counts by default
   * (`resource.count.running.vms.only` = false); volumes count with their allocated size.
   */
  async usage(accountId: string | null, conn: Conn = this.db): Promise<ResourceAmounts> {
    let vms = conn
      .selectFrom('vms')
      .select((eb) => [
        eb.fn.countAll().as('n'),
        eb.fn.sum('cpus').as('cpus'),
        eb.fn.sum('memory_mb').as('memory'),
      ])
      .where('removed', 'is', null)
      .where('state', 'not in', RELEASED_VM_STATES);
    if (accountId !== null) vms = vms.where('account_id', '=', accountId);
    let volumes = conn
      .selectFrom('volumes')
      .innerJoin('vms', 'vms.id', 'volumes.vm_id')
      .select((eb) => [eb.fn.countAll().as('n'), eb.fn.sum('volumes.size').as('bytes')])
      .where('volumes.removed', 'is', null)
      .where('volumes.state', 'not in', RELEASED_VOLUME_STATES);
    if (accountId !== null) volumes = volumes.where('vms.account_id', '=', accountId);
    const v = await vms.executeTakeFirstOrThrow();
    const d = await volumes.executeTakeFirstOrThrow();
    // SUM is NULL over no rows, and PostgreSQL answers SUM(bigint) as a numeric string.
    return {
      user_vm: Number(v.n),
      cpu: Number(v.cpus ?? 0),
      memory: Number(v.memory ?? 0),
      volume: Number(d.n),
      primary_storage: Number(d.bytes ?? 0),
    };
  }

  /**
   * Runs `work` in one transaction that first locks the account's row (a no-op write: a row lock on
   * PostgreSQL, the write lock on SQLite), so two callers for one account run one after the other
   * and each sees the rows the other committed.
   */
  async underAccountLock<T>(accountId: string, work: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
    return this.db.transaction().execute(async (trx) => {
      await trx
        .updateTable('accounts')
        .set((eb) => ({ state: eb.ref('state') }))
        .where('id', '=', accountId)
        .execute();
      return work(trx);
    });
  }
}
