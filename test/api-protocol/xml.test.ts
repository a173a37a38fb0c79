import { describe, expect, it } from 'vitest';
import { escapeXml, toXml } from '../../src/api/protocol/index.ts';

const HEAD = '<?xml version="1.0" encoding="UTF-8"?>';

describe('toXml', () => {
  it('writes the root with cloud-stack-version and fields as elements', () => {
    expect(toXml('createvmsnapshotresponse', { id: 'a', jobid: 'b' }, '4.20.0.0')).toBe(
      `${HEAD}<createvmsnapshotresponse cloud-stack-version="4.20.0.0"><id>a</id><jobid>b</jobid></createvmsnapshotresponse>`,
    );
  });

  it('repeats array items as elements named after the key, nested at any depth', () => {
    const payload = {
      count: 2,
      vmSnapshot: [
        {
          id: '1',
          current: true,
          tags: [
            { key: 'a', value: '1' },
            { key: 'b', value: '2' },
          ],
        },
        { id: '2', current: false, tags: [] },
      ],
    };
    expect(toXml('listvmsnapshotresponse', payload, 'v')).toBe(
      `${HEAD}<listvmsnapshotresponse cloud-stack-version="v"><count>2</count>` +
        '<vmSnapshot><id>1</id><current>true</current>' +
        '<tags><key>a</key><value>1</value></tags><tags><key>b</key><value>2</value></tags></vmSnapshot>' +
        '<vmSnapshot><id>2</id><current>false</current></vmSnapshot></listvmsnapshotresponse>',
    );
  });

  it('nests objects as elements (the async job result shape)', () => {
    const payload = { jobid: 'j', jobstatus: 1, jobresult: { vmsnapshot: { id: 's', size: 0 } } };
    expect(toXml('queryasyncjobresultresponse', payload, 'v')).toBe(
      `${HEAD}<queryasyncjobresultresponse cloud-stack-version="v"><jobid>j</jobid><jobstatus>1</jobstatus>` +
        '<jobresult><vmsnapshot><id>s</id><size>0</size></vmsnapshot></jobresult></queryasyncjobresultresponse>',
    );
  });

  it('omits null and undefined, and writes {} as an empty root', () => {
    expect(toXml('r', { a: null, b: undefined, c: '' }, 'v')).toBe(
      `${HEAD}<r cloud-stack-version="v"><c></c></r>`,
    );
    expect(toXml('listvmsnapshotresponse', {}, 'v')).toBe(
      `${HEAD}<listvmsnapshotresponse cloud-stack-version="v"></listvmsnapshotresponse>`,
    );
  });

  it('escapes text, attribute and illegal characters, and keeps element names legal', () => {
    const xml = toXml('r', { description: `<b>"Tom" & 'Jerry'</b>`, 'bad name!': 'x', '1st': 'y' }, 'a"b');
    expect(xml).toBe(
      `${HEAD}<r cloud-stack-version="a&quot;b"><description>&lt;b&gt;&quot;Tom&quot; &amp; &apos;Jerry&apos;&lt;/b&gt;</description>` +
        '<bad_name_>x</bad_name_><_1st>y</_1st></r>',
    );
  });
});

describe('escapeXml', () => {
  it('replaces characters XML cannot carry with U+FFFD, keeping tab/LF/CR and astral text', () => {
    expect(escapeXml('a\u0000b\u001bc\tx\ny\rz')).toBe('a\uFFFDb\uFFFDc\tx\ny\rz');
    expect(escapeXml('\uD83D\uDE00 \uD800')).toBe('\uD83D\uDE00 \uFFFD');
  });
});
