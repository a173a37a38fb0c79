/**
 * Volume reads for listVolumes and tag ownership. listVolumes reads one page of live volumes of
 * live VMs, filtered, ordered and paged in SQL with each volume's VM in the same statement: a store
 * of 100,000 VMs costs a page an index range read over the VMs in creation order
 * (vms_live_created, vms_live_account_created of migration 0013) and one search of volumes_vm per
 * VM, not every volume and VM row in memory (issue 15, item 2).
 */
import type { CompiledQuery, SelectQueryBuilder } from 'kysely';
import type { VolumeFormat, VolumeInfo, VolumeType } from '../core/plugin-api.ts';
import type { Db } from './database.ts';
import { toVm, type StoredVm } from './inventory-store.ts';
import {
  readPage,
  countRows,
  whereKeyword,
  withPage,
  type PageRequest,
  type PageResult,
} from './list-page.ts';
import type { Database, StoragePoolTable, VmTable, VolumeTable } from './schema.ts';

export interface VolumeListFilter {
  /** Only the volumes of this account's VMs; null: every account's. */
  readonly accountId: string | null;
  readonly id?: string | undefined;
  readonly vmId?: string | undefined;
  /** ROOT or DATADISK, compared case-insensitively. */
  readonly type?: string | undefined;
  /** Case-insensitive substring of the volume's name. */
  readonly keyword?: string | undefined;
}

/** What a listVolumes response shows of a volume: its row, and the driver of its pool. */
export type ListedVolumeRow = Pick<
  VolumeInfo,
  'id' | 'name' | 'type' | 'poolId' | 'driver' | 'format' | 'path' | 'size' | 'deviceId'
> & {
  readonly state: string;
  readonly created: number;
};

export interface ListedVolume {
  readonly volume: ListedVolumeRow;
  readonly vm: StoredVm;
}

type ListDb = Database & { m: VmTable; v: VolumeTable; sp: StoragePoolTable };
type VolumeQuery = SelectQueryBuilder<ListDb, 'm' | 'v' | 'sp', object>;

/**
 * One page of live volumes of live VMs, grouped by VM in the VMs' creation order (ties: lower VM
 * id first), each VM's volumes by device id, and how many matched.
 */
export async function listVolumePage(
  db: Db,
  filter: VolumeListFilter,
  page: PageRequest,
): Promise<PageResult<ListedVolume>> {
  const filtered = whereFilter(fromLive(db), filter);
  return readPage(
    page,
    async (p) => (await withPage(ordered(filtered), p).execute()).map(toListed),
    () => countRows(filtered),
  );
}

/** The statements of a page read (the page, then the count), for query plans (tests). */
export function volumePageStatements(
  db: Db,
  filter: VolumeListFilter,
  page: PageRequest,
): { page: CompiledQuery; count: CompiledQuery } {
  const filtered = whereFilter(fromLive(db), filter);
  return {
    page: withPage(ordered(filtered), page).compile(),
    count: filtered.select((eb) => eb.fn.countAll<number>().as('n')).compile(),
  };
}

function fromLive(db: Db): VolumeQuery {
  return (
    db
      .selectFrom('vms as m')
      .innerJoin('volumes as v', (j) => j.onRef('v.vm_id', '=', 'm.id').on('v.removed', 'is', null))
      // Only the pool's driver name (no sealed column); left: a volume whose pool row is gone still lists.
      .leftJoin('storage_pools as sp', 'sp.id', 'v.pool_id')
      .where('m.removed', 'is', null)
  );
}

function whereFilter(q: VolumeQuery, f: VolumeListFilter): VolumeQuery {
  let out = q;
  if (f.accountId !== null) out = out.where('m.account_id', '=', f.accountId);
  if (f.vmId !== undefined) out = out.where('m.id', '=', f.vmId);
  if (f.id !== undefined) out = out.where('v.id', '=', f.id);
  if (f.type !== undefined) out = out.where('v.type', '=', f.type.toUpperCase());
  return whereKeyword(out, f.keyword, ['v.name']);
}

function ordered(q: VolumeQuery) {
  return q
    .selectAll('m')
    .select([
      'v.id as volume_id',
      'v.name as volume_name',
      'v.type as volume_type',
      'v.pool_id as volume_pool_id',
      'v.format as volume_format',
      'v.path as volume_path',
      'sp.driver as volume_driver',
      'v.size as volume_size',
      'v.device_id as volume_device_id',
      'v.state as volume_state',
      'v.created as volume_created',
    ])
    .orderBy('m.created')
    .orderBy('m.id')
    .orderBy('v.device_id')
    .orderBy('v.id');
}

type JoinedRow = Awaited<ReturnType<ReturnType<typeof ordered>['execute']>>[number];

function toListed(r: JoinedRow): ListedVolume {
  return {
    volume: {
      id: r.volume_id,
      name: r.volume_name,
      type: r.volume_type as VolumeType,
      poolId: r.volume_pool_id,
      driver: r.volume_driver ?? '',
      format: r.volume_format as VolumeFormat,
      path: r.volume_path,
      size: Number(r.volume_size),
      deviceId: r.volume_device_id,
      state: r.volume_state,
      created: Number(r.volume_created),
    },
    vm: toVm(r),
  };
}

/** The account owning a volume's VM, or undefined when there is no such volume (or no VM). */
export async function volumeOwner(db: Db, volumeId: string): Promise<string | undefined> {
  const row = await db
    .selectFrom('volumes as v')
    .innerJoin('vms as m', 'm.id', 'v.vm_id')
    .select('m.account_id')
    .where('v.id', '=', volumeId)
    .executeTakeFirst();
  return row?.account_id;
}
