/**
 * Issue 9, item 3: tags are bounded. Keys and values of at most 255 characters (CloudStack's
 * varchar(255)), at most 50 tag pairs and 100 resource ids per createTags / deleteTags request, at
 * most 100 tags on one resource. Over a bound: 431 naming the limit, and nothing written (no tag,
 * no job row).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bodyOf, errorOf, startApiServer, type ApiHarness } from '../helpers/api-server.ts';

type Params = Record<string, string>;

function pairs(count: number, make: (i: number) => [string, string]): Params {
  const out: Params = {};
  for (let i = 0; i < count; i++) {
    const [key, value] = make(i);
    out[`tags[${i}].key`] = key;
    out[`tags[${i}].value`] = value;
  }
  return out;
}

describe('tag size and count limits', () => {
  let h: ApiHarness;
  let vmId: string;

  beforeAll(async () => {
    h = await startApiServer();
    vmId = (await h.t.vm('db-1')).id;
  });
  afterAll(async () => {
    await h.close();
  });

  const tagCount = async (): Promise<number> =>
    (await h.t.app.deps.db.selectFrom('resource_tags').select('id').where('resource_id', '=', vmId).execute())
      .length;
  const jobCount = async (): Promise<number> =>
    (await h.t.app.deps.db.selectFrom('async_jobs').select('id').execute()).length;

  async function tagOk(command: 'createTags' | 'deleteTags', params: Params): Promise<void> {
    const res = await h.demo.call(
      command,
      { resourcetype: 'UserVm', resourceids: vmId, ...params },
      { method: 'POST' },
    );
    expect(res.status, res.text).toBe(200);
    const job = await h.demo.waitForJob(bodyOf(res, command)['jobid'] as string);
    expect(job['jobstatus']).toBe(1);
  }

  /** The request is refused with 431 whose text contains `mention`, and writes nothing. */
  async function refused(
    command: 'createTags' | 'deleteTags',
    params: Params,
    mention: string,
  ): Promise<void> {
    const [tagsBefore, jobsBefore] = [await tagCount(), await jobCount()];
    const res = await h.demo.call(
      command,
      { resourcetype: 'UserVm', resourceids: vmId, ...params },
      { method: 'POST' },
    );
    const { errortext } = errorOf(res, command, 431);
    expect(errortext).toContain(mention);
    expect(errortext.length).toBeLessThan(300);
    expect([await tagCount(), await jobCount()]).toEqual([tagsBefore, jobsBefore]);
  }

  it('keys and values of 255 characters are accepted, 256 refused (431, naming 255)', async () => {
    await tagOk(
      'createTags',
      pairs(1, () => ['k'.repeat(255), 'v'.repeat(255)]),
    );
    await refused(
      'createTags',
      pairs(1, () => ['k'.repeat(256), 'v']),
      '255',
    );
    await refused(
      'createTags',
      pairs(1, () => ['short', 'v'.repeat(256)]),
      '255',
    );
    await refused('deleteTags', { 'tags[0].key': 'k'.repeat(256) }, '255');
    await refused(
      'deleteTags',
      pairs(1, () => ['short', 'v'.repeat(256)]),
      '255',
    );
    await tagOk('deleteTags', { 'tags[0].key': 'k'.repeat(255) });
    expect(await tagCount()).toBe(0);
  });

  it('50 tags per request are accepted, 51 refused (431, naming 50)', async () => {
    await refused(
      'createTags',
      pairs(51, (i) => [`n${i}`, 'v']),
      '50',
    );
    await refused(
      'deleteTags',
      pairs(51, (i) => [`n${i}`, 'v']),
      '50',
    );
    await tagOk(
      'createTags',
      pairs(50, (i) => [`n${i}`, 'v']),
    );
    expect(await tagCount()).toBe(50);
    await tagOk(
      'deleteTags',
      pairs(50, (i) => [`n${i}`, 'v']),
    );
    expect(await tagCount()).toBe(0);
  });

  it('more than 100 resource ids in one request are refused before any lookup (431, naming 100)', async () => {
    const ids = Array.from({ length: 101 }, () => vmId).join(',');
    await refused('createTags', { resourceids: ids, ...pairs(1, () => ['k', 'v']) }, '100');
    await refused('deleteTags', { resourceids: ids }, '100');
  });

  it('a resource carries at most 100 tags (431, naming 100)', async () => {
    await tagOk(
      'createTags',
      pairs(50, (i) => [`a${i}`, 'v']),
    );
    await tagOk(
      'createTags',
      pairs(50, (i) => [`b${i}`, 'v']),
    );
    expect(await tagCount()).toBe(100);
    await refused(
      'createTags',
      pairs(1, () => ['one-more', 'v']),
      '100',
    );
    await tagOk('deleteTags', {});
    expect(await tagCount()).toBe(0);
  });
});
