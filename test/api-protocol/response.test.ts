import { describe, expect, it } from 'vitest';
import { CloudRuntimeError, InvalidParameterError, ServerApiError } from '../../src/core/errors.ts';
import {
  envelope,
  errorPayload,
  errorPayloadFor,
  formatDate,
  JSON_CONTENT_TYPE,
  listPayload,
  parseCloudStackDate,
  responseName,
  serialize,
  XML_CONTENT_TYPE,
} from '../../src/api/protocol/index.ts';

describe('dates', () => {
  it("formats yyyy-MM-dd'T'HH:mm:ssZ in UTC, truncating milliseconds", () => {
    expect(formatDate(Date.UTC(2024, 0, 2, 6, 44, 43, 999))).toBe('2024-01-02T06:44:43+0000');
    expect(formatDate(0)).toBe('1970-01-01T00:00:00+0000');
  });

  it('parses what it formats, and other zone offsets', () => {
    const ms = Date.UTC(2031, 11, 31, 23, 59, 59);
    expect(parseCloudStackDate(formatDate(ms))?.getTime()).toBe(ms);
    expect(parseCloudStackDate('2024-01-02T12:14:43+0530')?.getTime()).toBe(Date.UTC(2024, 0, 2, 6, 44, 43));
    expect(parseCloudStackDate('2024-01-02T01:44:43-05:00')?.getTime()).toBe(Date.UTC(2024, 0, 2, 6, 44, 43));
    expect(parseCloudStackDate('0099-03-01T00:00:00Z')?.getUTCFullYear()).toBe(99);
  });

  it('rejects impossible dates instead of rolling them over', () => {
    for (const bad of [
      '2023-02-29T00:00:00Z',
      '2024-01-01T24:00:00Z',
      '2024-01-01T00:00:00+2400',
      '2024-1-1T00:00:00Z',
    ]) {
      expect(parseCloudStackDate(bad)).toBeNull();
    }
    expect(parseCloudStackDate('2024-02-29T00:00:00Z')).not.toBeNull();
  });
});

describe('envelopes and payloads', () => {
  it('names the envelope <command lowercased>response', () => {
    expect(responseName('listVMSnapshot')).toBe('listvmsnapshotresponse');
    expect(envelope('createVMSnapshot', { id: 'a', jobid: 'b' })).toEqual({
      createvmsnapshotresponse: { id: 'a', jobid: 'b' },
    });
  });

  it('writes a list as {count, <objectName>: [...]}, and {} when empty', () => {
    expect(listPayload('vmSnapshot', [{ id: '1' }], 1)).toEqual({ count: 1, vmSnapshot: [{ id: '1' }] });
    expect(listPayload('vmSnapshot', [], 0)).toEqual({});
    // A page past the end: the total is still reported, without an empty array.
    expect(listPayload('vmSnapshot', [], 7)).toEqual({ count: 7 });
  });

  it('builds error payloads in ExceptionResponse field order, cserrorcode only when given', () => {
    const e = errorPayload(431, 'bad', 4350);
    expect(Object.keys(e)).toEqual(['uuidList', 'errorcode', 'cserrorcode', 'errortext']);
    expect(e).toEqual({ uuidList: [], errorcode: 431, cserrorcode: 4350, errortext: 'bad' });
    expect(errorPayload(401, 'unable to verify user credentials and/or request signature')).toEqual({
      uuidList: [],
      errorcode: 401,
      errortext: 'unable to verify user credentials and/or request signature',
    });
    expect(errorPayload(531, 'no', undefined, ['u1']).uuidList).toEqual(['u1']);
  });

  it('derives error payloads from thrown values', () => {
    expect(errorPayloadFor(new InvalidParameterError('x'))).toMatchObject({
      errorcode: 431,
      cserrorcode: 4350,
    });
    expect(errorPayloadFor(new ServerApiError(432, 'y'))).toMatchObject({
      errorcode: 432,
      cserrorcode: 9999,
    });
    expect(errorPayloadFor(new CloudRuntimeError('z'))).toMatchObject({ errorcode: 530, cserrorcode: 4250 });
    // An unexpected error is never shown as is: a generic 530 carrying an error id.
    const internal = errorPayloadFor(new TypeError('boom'));
    expect(internal).toMatchObject({ errorcode: 530, cserrorcode: 4250 });
    expect(internal.errortext).toMatch(/^Internal error, id [0-9a-f-]{36}; see the server log$/);
    expect(internal.errortext).not.toContain('boom');
  });
});

describe('serialize', () => {
  const payload = { count: 1, vmSnapshot: [{ id: 'i', created: new Date(Date.UTC(2024, 0, 2, 6, 44, 43)) }] };

  it('writes JSON with the JSON content type and CloudStack dates', () => {
    const out = serialize('listVMSnapshot', payload, 'json', '4.20.0.0');
    expect(out.contentType).toBe(JSON_CONTENT_TYPE);
    expect(out.contentType).toBe('application/json; charset=UTF-8');
    expect(JSON.parse(out.body)).toEqual({
      listvmsnapshotresponse: { count: 1, vmSnapshot: [{ id: 'i', created: '2024-01-02T06:44:43+0000' }] },
    });
  });

  it('writes XML with the XML content type and the same tree', () => {
    const out = serialize('listVMSnapshot', payload, 'xml', '4.20.0.0');
    expect(out.contentType).toBe(XML_CONTENT_TYPE);
    expect(out.contentType).toBe('text/xml; charset=UTF-8');
    expect(out.body).toBe(
      '<?xml version="1.0" encoding="UTF-8"?><listvmsnapshotresponse cloud-stack-version="4.20.0.0"><count>1</count><vmSnapshot><id>i</id><created>2024-01-02T06:44:43+0000</created></vmSnapshot></listvmsnapshotresponse>',
    );
  });

  it('writes an error body in both formats', () => {
    const err = errorPayload(
      431,
      'Unable to execute API command createvmsnapshot due to missing parameter virtualmachineid',
      9999,
    );
    expect(JSON.parse(serialize('createVMSnapshot', err, 'json', 'v').body)).toEqual({
      createvmsnapshotresponse: err,
    });
    expect(serialize('createVMSnapshot', err, 'xml', 'v').body).toBe(
      '<?xml version="1.0" encoding="UTF-8"?><createvmsnapshotresponse cloud-stack-version="v"><errorcode>431</errorcode><cserrorcode>9999</cserrorcode><errortext>Unable to execute API command createvmsnapshot due to missing parameter virtualmachineid</errortext></createvmsnapshotresponse>',
    );
  });
});
