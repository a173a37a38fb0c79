import { describe, expect, it } from 'vitest';
import { InvalidParameterError, ServerApiError } from '../../src/core/errors.ts';
import { parsePaging } from '../../src/api/protocol/index.ts';

const MAX = 500;
const paging = (params: Record<string, string>, max = MAX) =>
  parsePaging({ command: 'listVMSnapshot', ...params }, max);

function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error');
}

describe('parsePaging (BaseListCmd)', () => {
  it('computes offset pagesize*(page-1) and the limit', () => {
    expect(paging({ page: '1', pagesize: '20' })).toEqual({ offset: 0, limit: 20 });
    expect(paging({ page: '3', pagesize: '20' })).toEqual({ offset: 40, limit: 20 });
  });

  it('caps an unpaged list at the maximum page size, as CloudStack does', () => {
    expect(paging({})).toEqual({ offset: 0, limit: MAX });
    expect(paging({}, -1)).toEqual({ offset: 0, limit: null });
  });

  it('refuses a page before the first (431) instead of reading page 1 (issue 10, item 10)', () => {
    for (const page of ['0', '-1', '-2']) {
      const err = errorOf(() => paging({ page, pagesize: '10' }));
      expect((err as ServerApiError).errorCode).toBe(431);
      expect(err.message).toBe(
        `Unable to execute API command listvmsnapshot due to invalid value ${page} for parameter page`,
      );
    }
  });

  it('pagesize=-1 is unlimited, even above a finite maximum', () => {
    expect(paging({ pagesize: '-1' })).toEqual({ offset: 0, limit: null });
  });

  it('requires page with pagesize and pagesize with page (431, ServerApiException)', () => {
    const noPage = errorOf(() => paging({ pagesize: '10' }));
    expect(noPage).toBeInstanceOf(ServerApiError);
    expect((noPage as ServerApiError).errorCode).toBe(431);
    expect(noPage.message).toBe('"page" parameter is required when "pagesize" is specified');
    const noSize = errorOf(() => paging({ page: '2' }));
    expect((noSize as ServerApiError).errorCode).toBe(431);
    expect(noSize.message).toBe('"pagesize" parameter is required when "page" is specified');
  });

  it('refuses page with pagesize=-1 (InvalidParameterValueException)', () => {
    const err = errorOf(() => paging({ page: '1', pagesize: '-1' }));
    expect(err).toBeInstanceOf(InvalidParameterError);
    expect(err.message).toBe("Can't specify page parameter when pagesize is -1 (Unlimited)");
  });

  it('refuses a page size above the maximum, unless the maximum is unlimited', () => {
    const err = errorOf(() => paging({ page: '1', pagesize: '501' }));
    expect(err).toBeInstanceOf(InvalidParameterError);
    expect((err as InvalidParameterError).errorCode).toBe(431);
    expect(err.message).toBe("Page size can't exceed max allowed page size value: 500");
    expect(paging({ page: '2', pagesize: '10000' }, -1)).toEqual({ offset: 10000, limit: 10000 });
  });

  it('refuses non-integer page and pagesize with 431 invalid value', () => {
    expect(errorOf(() => paging({ page: '1', pagesize: 'ten' })).message).toBe(
      'Unable to execute API command listvmsnapshot due to invalid value ten for parameter pagesize',
    );
    expect(errorOf(() => paging({ page: 'one', pagesize: '10' })).message).toBe(
      'Unable to execute API command listvmsnapshot due to invalid value one for parameter page',
    );
    expect(errorOf(() => paging({ page: '1', pagesize: '-5' })).message).toContain('invalid value -5');
  });
});
