/**
 * Name lookups shared by the response renderers (account, user, zone, host and pool names). Loaded per request so
 * responses never show stale names; a response that knows which names it shows (a job result, a page of VMs or
 * volumes) reads only those, by key, since a large cloud's accounts and users are many.
 */
import { ROOT_DOMAIN_ID } from '../../store/account-store.ts';
import type { NameIds, NameKind, NameRow, TagScope } from '../../store/name-lookup-store.ts';
import type { TagRow } from '../../store/schema.ts';
import type { ApiServices } from '../api-services.ts';

export type { NameIds, TagScope } from '../../store/name-lookup-store.ts';

export interface Lookups {
  accountName(id: string): string;
  /** A user's name; undefined for a missing user. */
  userName(id: string): string | undefined;
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

/**
 * The names a response shows and, only when it shows tags, the tags in scope: a job poll must not
 * scan the tag table, and a page of jobs reads the tags of the resources on that page only. With
 * `names`, only those names (and the tags' accounts) are read, by key; without, every name (the
 * lists that show many). A name not read shows as its id.
 */
export async function loadLookups(
  services: ApiServices,
  tags?: TagScope | readonly TagScope[],
  names?: NameIds,
): Promise<Lookups> {
  const tagRows = await services.names.tagsIn(tags === undefined ? [] : 'type' in tags ? [tags] : tags);
  const wanted =
    names === undefined
      ? undefined
      : { ...names, account: [...(names.account ?? []), ...tagRows.map((t) => t.account_id)] };
  return lookupsOf(
    wanted === undefined ? await services.names.all() : await services.names.of(wanted),
    tagRows,
  );
}

function lookupsOf(names: readonly NameRow[], tagRows: readonly TagRow[]): Lookups {
  const byKind = (kind: NameKind): Map<string, string> =>
    new Map(names.filter((n) => n.kind === kind).map((n) => [n.id, n.name]));
  const acc = byKind('account');
  const user = byKind('user');
  const zone = byKind('zone');
  const host = byKind('host');
  const pool = byKind('pool');
  const tagsByResource = new Map<string, TagRow[]>();
  for (const t of tagRows) {
    const key = resourceKey(t.resource_type, t.resource_id);
    const list = tagsByResource.get(key);
    if (list === undefined) tagsByResource.set(key, [t]);
    else list.push(t);
  }
  return {
    accountName: (id) => acc.get(id) ?? id,
    userName: (id) => user.get(id),
    zoneName: (id) => zone.get(id) ?? id,
    hostName: (id) => (id === null ? undefined : host.get(id)),
    poolName: (id) => pool.get(id) ?? id,
    tagsOf: (type, id) =>
      (tagsByResource.get(resourceKey(type, id)) ?? []).map((t) => ({
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

function resourceKey(type: string, id: string): string {
  return `${type}\u0000${id}`;
}
