/**
 * Issue 10, item 1: the API runs on ApiServices alone. Here it is served by a stub that holds two
 * zones and one user, with no database and no App behind it: authentication, a list command and
 * the settings it reads all go through the interface.
 */
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { ApiServices } from '../../src/api/api-services.ts';
import { parseQueryString, signRequest } from '../../src/api/protocol/index.ts';
import { dispatch } from '../../src/api/server.ts';
import { ROOT_DOMAIN_ID } from '../../src/store/account-store.ts';
import type { AccountRow, UserRow } from '../../src/store/schema.ts';
import type { SettingName } from '../../src/store/settings-store.ts';

const account: AccountRow = {
  id: 'a1',
  name: 'stub',
  role: 'user',
  domain_id: ROOT_DOMAIN_ID,
  state: 'enabled',
  created: 0,
  removed: null,
};
const user: UserRow = {
  id: 'u1',
  account_id: 'a1',
  username: 'stub',
  api_key: 'stub-key',
  secret_key: 'stub-secret',
  state: 'enabled',
  created: 0,
  firstname: null,
  lastname: null,
  email: null,
};

/** Only what listZones and authentication use; anything else the API touched would throw. */
function stubServices(asked: string[]): ApiServices {
  const settings: Record<string, string> = {
    'default.page.size': '500',
    'api.signature.expires.max': '3600',
  };
  const unused = new Proxy(
    {},
    {
      get: (_t, name) => {
        throw new Error(`the API asked the stub for ${String(name)}`);
      },
    },
  );
  const provided: Record<string, unknown> = {
    log: pino({ level: 'silent' }),
    settings: {
      get: (name: SettingName) => settings[name]!,
      getNumber: (name: SettingName) => Number(settings[name]),
      set: async () => {},
    },
    accounts: {
      credentialsFor: async (apiKey: string) => {
        asked.push(`credentialsFor ${apiKey}`);
        return apiKey === user.api_key ? { user, account } : undefined;
      },
    },
    zones: {
      list: async () => {
        asked.push('zones.list');
        return [
          { id: 'z1', name: 'zone-one', created: 1 },
          { id: 'z2', name: 'zone-two', created: 2 },
        ];
      },
    },
  };
  return new Proxy(provided, {
    get: (target, name: string) => (name in target ? target[name] : unused),
  }) as unknown as ApiServices;
}

describe('the API over a stub ApiServices', () => {
  it('authenticates and lists through the interface only', async () => {
    const asked: string[] = [];
    const query = signRequest(
      { command: 'listZones', response: 'json', keyword: 'two' },
      'stub-key',
      'stub-secret',
    );
    const res = await dispatch(stubServices(asked), parseQueryString(query));
    expect(res.status, res.body).toBe(200);
    const zones = (JSON.parse(res.body) as { listzonesresponse: { zone: { name: string }[] } })
      .listzonesresponse.zone;
    expect(zones.map((z) => z.name)).toEqual(['zone-two']);
    expect(asked).toEqual(['credentialsFor stub-key', 'zones.list']);
  });

  it('refuses a key the services do not know (401)', async () => {
    const query = signRequest({ command: 'listZones', response: 'json' }, 'other-key', 'stub-secret');
    const res = await dispatch(stubServices([]), parseQueryString(query));
    expect(res.status).toBe(401);
  });
});
