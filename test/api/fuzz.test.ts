/**
 * Fuzzing the endpoint with fast-check: random parameters (declared names, junk names, map syntax,
 * other casings) with hostile values (unicode, huge, negative, bad uuids, empty, real ids) to every
 * command, signed with a valid admin or user key; and unsigned junk query strings. Every answer must
 * be a well-formed CloudStack response, never a 500, HTML or a dropped connection, and the server
 * must still be healthy and serve a normal call afterwards.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ParamType } from '../../src/api/command.ts';
import { COMMANDS } from '../../src/api/commands/index.ts';
import { signRequest } from '../../src/api/protocol/index.ts';
import { AccountStore } from '../../src/store/account-store.ts';
import { TestApiClient, type ApiResponse } from '../helpers/api-client.ts';
import { itemsOf, rawCall, startApiServer, type ApiHarness } from '../helpers/api-server.ts';

/** The codes CloudStack's ApiErrorCode defines (reference §6.5). */
const CLOUDSTACK_CODES = new Set([401, 405, 411, 429, 430, 431, 432, 530, 531, 532, 533, 534, 535, 536, 537]);
/** Names the signing client owns; a fuzzed one would only be overwritten or change the command. */
const RESERVED = new Set(['command', 'response', 'apikey', 'signature', 'signatureversion', 'expires']);
/** Longer GET URLs hit Node's 16 KiB header limit before the API: such requests go as POST bodies. */
const MAX_GET_QUERY = 6000;

interface Answer {
  readonly status: number;
  readonly contentType: string;
  readonly text: string;
}

/** Why `res` is not a well-formed CloudStack answer to `command` (undefined when it is). */
function malformed(res: Answer, command: string, format: 'json' | 'xml'): string | undefined {
  const root = `${command.toLowerCase()}response`;
  if (res.status !== 200 && !CLOUDSTACK_CODES.has(res.status)) return `status ${res.status}`;
  if (format === 'xml') {
    if (!res.contentType.startsWith('text/xml')) return `content type ${res.contentType}`;
    const head = `<?xml version="1.0" encoding="UTF-8"?><${root} cloud-stack-version=`;
    if (!res.text.startsWith(head) || !res.text.endsWith(`</${root}>`)) return 'bad XML envelope';
    if (res.status !== 200 && !res.text.includes(`<errorcode>${res.status}</errorcode>`))
      return 'XML errorcode';
    return undefined;
  }
  if (res.contentType !== 'application/json; charset=UTF-8') return `content type ${res.contentType}`;
  let json: unknown;
  try {
    json = JSON.parse(res.text);
  } catch {
    return 'not JSON';
  }
  if (typeof json !== 'object' || json === null || Object.keys(json).join() !== root)
    return `envelope not ${root}`;
  const body = (json as Record<string, unknown>)[root];
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'payload not an object';
  const b = body as Record<string, unknown>;
  if (res.status === 200) return 'errorcode' in b ? 'errorcode in a 200' : undefined;
  if (b['errorcode'] !== res.status) return `errorcode ${String(b['errorcode'])} != status ${res.status}`;
  if (typeof b['errortext'] !== 'string' || !Array.isArray(b['uuidList'])) return 'error body fields';
  return undefined;
}

describe('API fuzzing', () => {
  let h: ApiHarness;
  let knownIds: string[];
  const failures: string[] = [];
  const internalErrors: string[] = [];

  beforeAll(async () => {
    h = await startApiServer();
    const vms = itemsOf(await h.admin.payload('listVirtualMachines', { listall: true }), 'virtualmachine');
    const vmIds = vms.map((v) => v['id'] as string);
    const snap = await h.demo.payload('createVMSnapshot', {
      virtualmachineid: vmIds[0]!,
      snapshotmemory: true,
    });
    await h.demo.waitForJob(snap['jobid'] as string);
    knownIds = [
      ...vmIds,
      snap['id'] as string,
      snap['jobid'] as string,
      h.t.seeded.zoneId,
      h.t.demo.userId,
      h.t.demo.accountId,
      ...(await h.t.app.deps.inventory.listHosts()).map((x) => x.id),
    ];
  });
  afterAll(async () => {
    await h.close();
  });

  const value = (): fc.Arbitrary<string> =>
    fc.oneof(
      fc.string({ maxLength: 40 }),
      fc.string({ unit: 'grapheme', maxLength: 40 }),
      fc.string({ unit: 'binary', maxLength: 20 }),
      fc.constantFrom('', ' ', 'true', 'false', 'TRUE', '-1', '0', '1', '2147483648', '1e3', 'NaN', 'null'),
      fc.constantFrom('[', ']', '.', '[0]', 'a[0].b', '%', '%zz', '&', '=', '+', '%2B', '\u0000', '\uD800'),
      fc.constantFrom('VMSnapshot', 'UserVm', 'Volume', 'result:fail', 'wait:5', 'guestagent:absent', 'KVM'),
      fc.constantFrom('vmsnapshot.max', 'default.page.size', 'Ready', 'Error', 'live', 'required'),
      fc.integer({ min: -1_000_000_000_000, max: 1_000_000_000_000 }).map(String),
      fc.uuid(),
      fc.uuid().map((u) => u.toUpperCase()),
      fc.constantFrom(...knownIds),
      fc.constantFrom(...knownIds).map((id) => `${id},${id},not-a-uuid`),
      fc.integer({ min: 256, max: 70_000 }).map((n) => 'x'.repeat(n)),
    );

  const junkName = (): fc.Arbitrary<string> =>
    fc
      .oneof(
        fc.string({ minLength: 1, maxLength: 20 }),
        fc.constantFrom(
          'tags[0].key',
          'tags[0].value',
          'tags[1].key',
          'tags[-1].key',
          'tags[x].key',
          'tags[0]',
        ),
        fc.constantFrom(
          'tags[0][1].key',
          'tags]0[.key',
          'a.b',
          '[',
          ']',
          '.',
          '[0].key',
          'TAGS[0].KEY',
          '__proto__',
        ),
        fc.constantFrom('page', 'pagesize', 'keyword', 'listall', 'account', 'domainid', 'isrecursive'),
      )
      .filter((n) => !RESERVED.has(n.toLowerCase()));

  /** A plausible value for a declared parameter type, so that fuzzing also gets past validation. */
  const typed = (type: ParamType): fc.Arbitrary<string> => {
    switch (type) {
      case 'uuid':
        return fc.constantFrom(...knownIds);
      case 'list':
        return fc.subarray(knownIds, { minLength: 1, maxLength: 3 }).map((ids) => ids.join(','));
      case 'boolean':
        return fc.constantFrom('true', 'false');
      case 'integer':
      case 'long':
        return fc.integer({ min: -2, max: 600 }).map(String);
      case 'string':
        return fc.oneof(
          fc.string({ maxLength: 12 }),
          fc.constantFrom('VMSnapshot', 'vmsnapshot.max', 'KVM', 'result:fail'),
        );
      case 'map':
        return fc.string({ maxLength: 8 });
      case 'date':
        return fc.constantFrom('2024-01-02', '2024-01-02 03:04:05', '2024-02-30', 'yesterday');
      default: {
        const unreachable: never = type;
        throw new Error(`unknown param type ${String(unreachable)}`);
      }
    }
  };

  const request = () =>
    fc
      .constantFrom(...COMMANDS)
      .chain((command) => {
        const declared = Object.entries(command.params).map(([name, spec]) =>
          fc.option(
            fc.record({
              // Map parameters are sent in their `name[i].field` form.
              name:
                spec.type === 'map'
                  ? fc.constantFrom(`${name}[0].key`, `${name}[0].value`, `${name}[1].key`)
                  : fc.constant(name),
              upper: fc.boolean(),
              value: fc.oneof({ weight: 3, arbitrary: typed(spec.type) }, { weight: 1, arbitrary: value() }),
            }),
            // Required parameters are nearly always sent, so more requests get past the first check.
            { freq: spec.required ? 20 : 2 },
          ),
        );
        return fc.record({
          command: fc.constant(command.name),
          asAdmin: fc.boolean(),
          format: fc.constantFrom<'json' | 'xml'>('json', 'json', 'json', 'xml'),
          declared: fc.tuple(...declared),
          junk: fc.array(fc.tuple(junkName(), value()), { maxLength: 2 }),
        });
      })
      .map((r) => {
        const params: Record<string, string> = Object.create(null) as Record<string, string>;
        for (const d of r.declared) if (d !== null) params[d.upper ? d.name.toUpperCase() : d.name] = d.value;
        for (const [n, v] of r.junk) params[n] = v;
        return { command: r.command, asAdmin: r.asAdmin, format: r.format, params };
      });

  async function send(
    command: string,
    params: Record<string, string>,
    asAdmin: boolean,
    format: 'json' | 'xml',
  ): Promise<Answer> {
    const store = new AccountStore(h.t.app.deps.db);
    // Fuzzed registerUserKeys calls may rotate keys: always sign with the current ones.
    const user = (await store.usersOf(asAdmin ? h.t.admin.accountId : h.t.demo.accountId))[0]!;
    const all: Record<string, string> = { ...params, command };
    if (format === 'json') all['response'] = 'json';
    const query = signRequest(all, user.api_key!, user.secret_key!);
    return query.length > MAX_GET_QUERY
      ? rawCall(h.url, '', { method: 'POST', body: query })
      : rawCall(h.url, query);
  }

  it('answers every signed random request with a well-formed CloudStack response', async () => {
    await fc.assert(
      fc.asyncProperty(request(), async (req) => {
        const res = await send(req.command, req.params, req.asAdmin, req.format);
        const problem = malformed(res, req.command, req.format);
        if (problem !== undefined) {
          failures.push(
            `${req.command} ${JSON.stringify(req.params).slice(0, 300)}: ${problem}: ${res.text.slice(0, 300)}`,
          );
        }
        if (res.status === 530)
          internalErrors.push(
            `${req.command} ${JSON.stringify(req.params).slice(0, 200)}: ${res.text.slice(0, 300)}`,
          );
        return problem === undefined;
      }),
      {
        numRuns: Number(process.env['FUZZ_RUNS'] ?? 250),
        seed: Number(process.env['FUZZ_SEED'] ?? 20240601),
      },
    );
    expect(failures).toEqual([]);
    // A 530 is well-formed, but from random parameters it means an unhandled exception: none expected.
    expect(internalErrors).toEqual([]);
    // 250 requests, bounded by count: the time limit is only a backstop for a starved machine.
  }, 300_000);

  it('answers unsigned junk query strings and bodies with CloudStack errors', async () => {
    const junkQuery = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.string({ unit: 'binary', maxLength: 100 }).map((s) => encodeURIComponent(s)),
      fc
        .array(fc.tuple(fc.string({ maxLength: 10 }), fc.string({ maxLength: 10 })), { maxLength: 6 })
        .map((pairs) => pairs.map(([k, v]) => `${k}=${v}`).join('&')),
    );
    await fc.assert(
      fc.asyncProperty(junkQuery, fc.boolean(), async (junk, post) => {
        // Keep the URL parseable by fetch: the server still sees every odd byte decoded from %XX.
        const safe = junk.replace(/[^\x21-\x7e]/g, (c) => encodeURIComponent(c)).replace(/#/g, '%23');
        const res = post
          ? await rawCall(h.url, 'response=json', { method: 'POST', body: safe })
          : await rawCall(h.url, `${safe}&response=json`);
        const root = Object.keys(res.json)[0] ?? '';
        const problem =
          res.contentType.includes('json') && root.endsWith('response')
            ? malformed(res, root.slice(0, -'response'.length), 'json')
            : `not a JSON CloudStack answer: ${res.status} ${res.text.slice(0, 200)}`;
        if (problem !== undefined) failures.push(`${post ? 'POST' : 'GET'} ${safe}: ${problem}`);
        return problem === undefined && res.status !== 200;
      }),
      { numRuns: 60, seed: Number(process.env['FUZZ_SEED'] ?? 20240601) },
    );
    expect(failures).toEqual([]);
  });

  it('is still healthy afterwards and serves normal calls', async () => {
    const health = await fetch(`${h.url}/health`);
    expect(health.status).toBe(200);
    expect(((await health.json()) as { status: string }).status).toBe('ok');
    const store = new AccountStore(h.t.app.deps.db);
    const admin = (await store.usersOf(h.t.admin.accountId))[0]!;
    const client = new TestApiClient(h.url, admin.api_key!, admin.secret_key!);
    const zones: ApiResponse = await client.call('listZones');
    expect(zones.status, zones.text).toBe(200);
    expect((zones.json['listzonesresponse'] as Record<string, unknown>)['count']).toBe(1);
    const vms = await client.call('listVirtualMachines', { listall: true, pagesize: -1 });
    expect(vms.status, vms.text).toBe(200);
    expect(
      itemsOf(vms.json['listvirtualmachinesresponse'] as Record<string, unknown>, 'virtualmachine').length,
    ).toBeGreaterThanOrEqual(4);
  });
});
