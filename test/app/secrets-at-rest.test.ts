/**
 * Issue 9, item 6: API secret keys (users.secret_key) and agent tokens (hosts.agent_token) were plain
 * text in the database. They are now sealed with AES-256-GCM under a key kept outside it (the data
 * dir's secret.key, VMSNAP_SECRET_KEY_FILE or VMSNAP_DATABASE_KEY). The raw columns hold only
 * `enc:v1:` values, every reader through the store gets plain text back, rows written before are
 * sealed at start, and a server with the wrong key refuses to start, saying so.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app/app.ts';
import { seed } from '../../src/app/seed.ts';
import { openSecretBox, parseKey } from '../../src/app/secret-key.ts';
import { AccountStore } from '../../src/store/account-store.ts';
import { openStore } from '../../src/store/database.ts';
import { SecretBox } from '../../src/store/secret-box.ts';
import { startApiServer, type ApiHarness } from '../helpers/api-server.ts';
import { createTempDatabase, postgresUnavailable, type TempDatabase } from '../helpers/postgres.ts';
import { useScratchDirs } from '../helpers/scratch-dirs.ts';

const scratch = useScratchDirs('secrets');

/** The columns as stored, read past the store (what a copy of the file gives away). */
function rawColumns(dir: string): {
  users: Record<string, string | null>[];
  hosts: Record<string, string | null>[];
} {
  const db = new SqliteDatabase(join(dir, 'vmsnap.db'), { readonly: true });
  try {
    return {
      users: db.prepare('SELECT id, api_key, secret_key FROM users').all() as Record<string, string | null>[],
      hosts: db.prepare('SELECT id, agent_token FROM hosts').all() as Record<string, string | null>[],
    };
  } finally {
    db.close();
  }
}

function rawUpdate(dir: string, sql: string, ...params: unknown[]): void {
  const db = new SqliteDatabase(join(dir, 'vmsnap.db'));
  try {
    db.prepare(sql).run(...params);
  } finally {
    db.close();
  }
}

/** A KVM host row written the way the host manager writes it: straight through the store's connection. */
async function insertHost(app: App, token: string): Promise<string> {
  const id = randomUUID();
  const zone = await app.deps.db.selectFrom('zones').select('id').executeTakeFirstOrThrow();
  await app.deps.db
    .insertInto('hosts')
    .values({
      id,
      zone_id: zone.id,
      name: `kvm-${id.slice(0, 8)}`,
      hypervisor: 'KVM',
      status: 'Disconnected',
      url: `http://127.0.0.1:1/${id}`,
      agent_token: token,
      last_heartbeat: null,
      created: Date.now(),
      removed: null,
    })
    .execute();
  return id;
}

describe('secret columns at rest', () => {
  it('hold only sealed values; the store hands back the plain secrets', async () => {
    const dir = scratch.dir();
    const app = await scratch.open(dir);
    const { admin, demo } = await seed(app);
    const token = `agent-token-${randomBytes(8).toString('hex')}`;
    const hostId = await insertHost(app, token);

    const raw = rawColumns(dir);
    const rawText = JSON.stringify(raw);
    for (const secret of [admin.secretKey, demo.secretKey, token]) expect(rawText).not.toContain(secret);
    for (const u of raw.users) expect(u['secret_key']).toMatch(/^enc:v1:[A-Za-z0-9+/=]+$/);
    expect(raw.hosts.find((h) => h['id'] === hostId)?.['agent_token']).toMatch(/^enc:v1:/);
    // The api key is the lookup identifier, not a credential: it stays as it is.
    expect(raw.users.map((u) => u['api_key'])).toEqual(expect.arrayContaining([admin.apiKey, demo.apiKey]));

    const accounts = new AccountStore(app.deps.db);
    expect((await accounts.findByApiKey(admin.apiKey))?.user.secret_key).toBe(admin.secretKey);
    expect((await app.deps.inventory.getHost(hostId))?.agentToken).toBe(token);
  });

  it('registerUserKeys (an UPDATE) seals the new key too, and each seal uses a fresh IV', async () => {
    const dir = scratch.dir();
    const app = await scratch.open(dir);
    const { demo } = await seed(app);
    const accounts = new AccountStore(app.deps.db);
    const user = (await accounts.findByApiKey(demo.apiKey))?.user;
    if (user === undefined) throw new Error('demo user missing');
    const fresh = await accounts.registerKeys(user.id);

    const stored = rawColumns(dir).users.find((u) => u['id'] === user.id)?.['secret_key'];
    expect(stored).toMatch(/^enc:v1:/);
    expect(stored).not.toContain(fresh.secretKey);
    expect((await accounts.getUser(user.id))?.secret_key).toBe(fresh.secretKey);

    const box = new SecretBox(randomBytes(32), 'test');
    expect(box.seal('same')).not.toBe(box.seal('same'));
  });

  it('signed API requests still authenticate against the sealed keys', async () => {
    let h: ApiHarness | undefined;
    try {
      h = await startApiServer();
      const res = await h.demo.call('listVirtualMachines');
      expect(res.status).toBe(200);
      expect(JSON.stringify(rawColumns(h.t.dir))).not.toContain(h.t.seeded.demo.secretKey);
    } finally {
      await h?.close();
    }
  });

  it('plain rows from before encryption are sealed at start, once (a second start changes nothing)', async () => {
    const dir = scratch.dir();
    const first = await scratch.open(dir);
    const { admin } = await seed(first);
    const hostId = await insertHost(first, 'legacy-token');
    await scratch.stop(first);
    // What an older vmsnap left behind: plain text in both columns.
    rawUpdate(dir, 'UPDATE users SET secret_key = ? WHERE api_key = ?', admin.secretKey, admin.apiKey);
    rawUpdate(dir, 'UPDATE hosts SET agent_token = ? WHERE id = ?', 'legacy-token', hostId);
    expect(JSON.stringify(rawColumns(dir))).toContain(admin.secretKey);

    const second = await scratch.open(dir);
    const sealed = rawColumns(dir);
    expect(JSON.stringify(sealed)).not.toContain(admin.secretKey);
    expect(JSON.stringify(sealed)).not.toContain('legacy-token');
    expect((await new AccountStore(second.deps.db).findByApiKey(admin.apiKey))?.user.secret_key).toBe(
      admin.secretKey,
    );
    expect((await second.deps.inventory.getHost(hostId))?.agentToken).toBe('legacy-token');
    await scratch.stop(second);

    await scratch.open(dir);
    expect(rawColumns(dir)).toEqual(sealed);
  });

  it('a wrong key file stops the start with an error naming the key file and the column', async () => {
    const dir = scratch.dir();
    const first = await scratch.open(dir);
    await seed(first);
    await scratch.stop(first);
    const keyFile = join(dir, 'secret.key');
    writeFileSync(keyFile, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });

    await expect(scratch.open(dir)).rejects.toThrow(
      `the database key from ${keyFile} cannot decrypt users.secret_key (row `,
    );
    await expect(scratch.open(dir)).rejects.toThrow(/not the key the database's secrets were encrypted with/);
  });
});

describe('the database key', () => {
  it('is created once in the data dir: 32 random bytes, 0600, reused on the next start', () => {
    const dir = scratch.dir();
    const box = openSecretBox(dir, {});
    const file = join(dir, 'secret.key');
    const text = readFileSync(file, 'utf8');
    expect(Buffer.from(text.trim(), 'base64')).toHaveLength(32);
    expect((statSync(file).mode & 0o777).toString(8)).toBe('600');
    expect(openSecretBox(dir, {}).open(box.seal('x'))).toBe('x');
    expect(readFileSync(file, 'utf8')).toBe(text);
  });

  it('VMSNAP_DATABASE_KEY or VMSNAP_SECRET_KEY_FILE replace the data dir file (servers sharing a database share it)', () => {
    const key = randomBytes(32);
    const dir = scratch.dir();
    const fromEnv = openSecretBox(dir, { VMSNAP_DATABASE_KEY: key.toString('hex') });
    const keyFile = join(scratch.dir(), 'db.key');
    writeFileSync(keyFile, key.toString('base64'), { mode: 0o600 });
    const fromFile = openSecretBox(dir, { VMSNAP_SECRET_KEY_FILE: keyFile });
    expect(fromFile.open(fromEnv.seal('shared'))).toBe('shared');
    expect(fromFile.source).toBe(keyFile);
    expect(() => readFileSync(join(dir, 'secret.key'))).toThrow(/ENOENT/);
  });

  it('a key file others can read, a malformed key, or both variables at once are refused', () => {
    const dir = scratch.dir();
    const keyFile = join(scratch.dir(), 'db.key');
    writeFileSync(keyFile, randomBytes(32).toString('base64'));
    chmodSync(keyFile, 0o644);
    expect(() => openSecretBox(dir, { VMSNAP_SECRET_KEY_FILE: keyFile })).toThrow(
      `refusing to use the database key file ${keyFile}: group or others can access it (mode 0644)`,
    );
    expect(() => parseKey('too-short', 'X')).toThrow('the database key from X must be 32 bytes');
    expect(() =>
      openSecretBox(dir, {
        VMSNAP_DATABASE_KEY: randomBytes(32).toString('hex'),
        VMSNAP_SECRET_KEY_FILE: keyFile,
      }),
    ).toThrow('not both');
  });
});

const skipPg = postgresUnavailable();

describe.skipIf(skipPg !== undefined)(`several servers on one PostgreSQL database ${skipPg ?? ''}`, () => {
  let pg: TempDatabase;
  beforeAll(async () => {
    pg = await createTempDatabase();
  });
  afterAll(async () => {
    await pg?.drop();
  });

  it('share the key: a server with the same key reads the secrets, one with another key refuses to start', async () => {
    const key = randomBytes(32);
    const first = await openStore({ url: pg.url, secrets: new SecretBox(key, 'first') });
    const made = await new AccountStore(first.db).createAccount('pg-user', 'user');
    const raw = await openStore({ url: pg.url });
    const stored = await raw.db.selectFrom('users').select('secret_key').executeTakeFirstOrThrow();
    expect(stored.secret_key).toMatch(/^enc:v1:/);
    await raw.close();

    const same = await openStore({ url: pg.url, secrets: new SecretBox(key, 'second') });
    expect((await new AccountStore(same.db).findByApiKey(made.apiKey))?.user.secret_key).toBe(made.secretKey);
    await same.close();
    await expect(
      openStore({ url: pg.url, secrets: new SecretBox(randomBytes(32), 'the other key') }),
    ).rejects.toThrow('the database key from the other key cannot decrypt users.secret_key');
    await first.close();
  });
});
