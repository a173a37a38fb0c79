/**
 * Shared rules of list commands: who sees what (listall / account), keyword, paging and `count`.
 * Lists over tables a tenant can grow (jobs, events, tags) filter and page in SQL (`scope.accountId`,
 * `listPaging`, `pagedPayload`); small lists may still filter in memory (`visible`, `pagedList`).
 */
import { InvalidParameterError } from '../core/errors.ts';
import type { Caller } from '../manager/caller.ts';
import type { ApiServices } from './api-services.ts';
import type { PageResult } from '../store/list-page.ts';
import { listPayload, readPaging, type Paging, type ParamReader } from './protocol/index.ts';

export interface Scope {
  /** True when the caller may see a resource owned by this account. */
  visible(accountId: string): boolean;
  /** The same rule for SQL: the one account the list is limited to, or null for every account. */
  readonly accountId: string | null;
}

function onlyAccount(accountId: string): Scope {
  return { visible: (a) => a === accountId, accountId };
}

const EVERY_ACCOUNT: Scope = { visible: () => true, accountId: null };

/**
 * CloudStack's buildACLSearchParameters, for a flat ROOT domain: a user sees its own account only;
 * an admin sees its own account unless `listall=true`, a `domainid` (ROOT: every account is in it,
 * and `isrecursive` adds nothing), an `account` is named, or the request asks for a specific id
 * (which any admin may look up). Another domain id is refused when the parameter is read.
 */
export async function listScope(
  services: ApiServices,
  caller: Caller,
  args: { listall?: boolean | undefined; account?: string | undefined; domainid?: string | undefined },
  byId: boolean,
): Promise<Scope> {
  if (!caller.isAdmin) {
    if (args.account !== undefined && args.account !== caller.accountName) {
      throw new InvalidParameterError(`Unable to find account ${args.account} in domain ROOT`);
    }
    return onlyAccount(caller.accountId);
  }
  if (args.account !== undefined) {
    const acc = await services.accounts.findAccountByName(args.account);
    if (acc === undefined)
      throw new InvalidParameterError(`Unable to find account ${args.account} in domain ROOT`);
    return onlyAccount(acc.id);
  }
  if (args.listall === true || args.domainid !== undefined || byId) return EVERY_ACCOUNT;
  return onlyAccount(caller.accountId);
}

export function matchesKeyword(
  keyword: string | undefined,
  ...fields: (string | undefined | null)[]
): boolean {
  if (keyword === undefined || keyword === '') return true;
  const k = keyword.toLowerCase();
  return fields.some((f) => f?.toLowerCase().includes(k) === true);
}

/** Pages the filtered items; `count` is the total before paging, and an empty list is `{}`. */
export async function pagedList<T>(
  services: ApiServices,
  reader: ParamReader,
  objectName: string,
  items: readonly T[],
  render: (item: T) => object | Promise<object>,
): Promise<Record<string, unknown>> {
  const paging = listPaging(services, reader);
  const slice = items.slice(paging.offset, paging.limit === null ? undefined : paging.offset + paging.limit);
  const rendered: object[] = [];
  for (const item of slice) rendered.push(await render(item));
  return listPayload(objectName, rendered, items.length);
}

/** The page a list request asks for (checked as CloudStack checks it), for a query to apply in SQL. */
export function listPaging(services: ApiServices, reader: ParamReader): Paging {
  return readPaging(reader, services.settings.getNumber('default.page.size'));
}

/** A page read in SQL as a list payload: `count` is the store's total, an empty list is `{}`. */
export async function pagedPayload<T>(
  objectName: string,
  page: PageResult<T>,
  render: (item: T) => object | Promise<object>,
): Promise<Record<string, unknown>> {
  const rendered: object[] = [];
  for (const item of page.rows) rendered.push(await render(item));
  return listPayload(objectName, rendered, page.total);
}
