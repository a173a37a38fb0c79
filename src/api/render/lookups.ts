/**
 * Name lookups shared by the response renderers (account, zone, host names). Loaded per request so
 * responses never show stale names; the tables are small.
 */
import type { App } from '../../app/app.ts';
import { ROOT_DOMAIN_ID } from '../../store/account-store.ts';

export interface Lookups {
  accountName(id: string): string;
  zoneName(id: string): string;
  hostName(id: string | null): string | undefined;
  poolName(id: string): string;
  tagsOf(resourceType: string, resourceId: string): TagView[];
}

export interface TagView {
  key: string;
  value: string;
  resourcetype: string;
  resourceid: string;
  account: string;
  domainid: string;
  domain: string;
}

export const DOMAIN = { id: ROOT_DOMAIN_ID, name: 'ROOT', path: 'ROOT' } as const;

export async function loadLookups(app: App): Promise<Lookups> {
  const { db } = app.deps;
  const [accounts, zones, hosts, pools, tags] = await Promise.all([
    db.selectFrom('accounts').select(['id', 'name']).execute(),
    db.selectFrom('zones').select(['id', 'name']).execute(),
    db.selectFrom('hosts').select(['id', 'name']).execute(),
    db.selectFrom('storage_pools').select(['id', 'name']).execute(),
    db.selectFrom('resource_tags').selectAll().execute(),
  ]);
  const acc = new Map(accounts.map((a) => [a.id, a.name]));
  const zone = new Map(zones.map((z) => [z.id, z.name]));
  const host = new Map(hosts.map((h) => [h.id, h.name]));
  const pool = new Map(pools.map((p) => [p.id, p.name]));
  return {
    accountName: (id) => acc.get(id) ?? id,
    zoneName: (id) => zone.get(id) ?? id,
    hostName: (id) => (id === null ? undefined : host.get(id)),
    poolName: (id) => pool.get(id) ?? id,
    tagsOf: (type, id) =>
      tags
        .filter((t) => t.resource_type === type && t.resource_id === id)
        .map((t) => ({
          key: t.key,
          value: t.value,
          resourcetype: t.resource_type,
          resourceid: t.resource_id,
          account: acc.get(t.account_id) ?? t.account_id,
          domainid: DOMAIN.id,
          domain: DOMAIN.name,
        })),
  };
}
