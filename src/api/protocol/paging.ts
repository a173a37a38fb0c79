/**
 * BaseListCmd pagination, with CloudStack's checks in CloudStack's order:
 * 1. ParamProcessWorker: `page` needs `pagesize` (unless it is -1) and vice versa (431, cserrorcode
 *    9999);
 * 2. BaseListCmd.getPageSize: a `pagesize` above the maximum, or `page` together with
 *    `pagesize=-1`, is an InvalidParameterValueException (431, cserrorcode 4350);
 * 3. BaseListCmd.getStartIndex: offset `pagesize * (page - 1)`. CloudStack reads a page <= 0 from
 *    the start; vmsnap refuses it (431), as a page before the first is a caller's mistake that would
 *    otherwise look like a successful read of page 1.
 * Without `page`/`pagesize` a list is capped at the maximum (`default.page.size`), as in
 * CloudStack; `count` must still be the total before paging.
 */
import { ApiErrorCode, InvalidParameterError, ServerApiError } from '../../core/errors.ts';
import { invalidValueError, ParamReader } from './param-readers.ts';
import type { Params } from './request-params.ts';

/** `pagesize=-1` (and `default.page.size=-1`) mean no limit. */
export const PAGESIZE_UNLIMITED = -1;

/** Rows to skip and rows to return; `limit: null` is unlimited. */
export interface Paging {
  offset: number;
  limit: number | null;
}

export function readPaging(reader: ParamReader, maxPageSize: number): Paging {
  const pageSize = reader.integer('pagesize');
  const pageGiven = reader.has('page');
  if (!pageGiven && pageSize !== undefined && pageSize !== PAGESIZE_UNLIMITED) {
    throw new ServerApiError(
      ApiErrorCode.PARAM_ERROR,
      '"page" parameter is required when "pagesize" is specified',
    );
  }
  if (pageGiven && pageSize === undefined) {
    throw new ServerApiError(
      ApiErrorCode.PARAM_ERROR,
      '"pagesize" parameter is required when "page" is specified',
    );
  }
  const page = reader.integer('page');
  if (pageSize !== undefined) checkPageSize(reader, pageSize, page, maxPageSize);
  if (page !== undefined && page < 1) throw invalidValueError(reader.command, 'page', String(page));
  const limit = pageSize ?? maxPageSize;
  if (limit === PAGESIZE_UNLIMITED) return { offset: 0, limit: null };
  const offset = page !== undefined ? limit * (page - 1) : 0;
  return { offset, limit };
}

function checkPageSize(reader: ParamReader, pageSize: number, page: number | undefined, max: number): void {
  if (max !== PAGESIZE_UNLIMITED && pageSize > max) {
    throw new InvalidParameterError(`Page size can't exceed max allowed page size value: ${max}`);
  }
  if (pageSize === PAGESIZE_UNLIMITED && page !== undefined) {
    throw new InvalidParameterError("Can't specify page parameter when pagesize is -1 (Unlimited)");
  }
  // CloudStack would hand a negative size to SQL and fail with 530; a parameter error says why.
  if (pageSize < PAGESIZE_UNLIMITED) throw invalidValueError(reader.command, 'pagesize', String(pageSize));
}

/**
 * Paging of a list request. `command` names the command in messages; by default the request's
 * own `command` parameter.
 */
export function parsePaging(params: Params, maxPageSize: number, command?: string): Paging {
  return readPaging(new ParamReader(command ?? params.command ?? 'list', params), maxPageSize);
}
