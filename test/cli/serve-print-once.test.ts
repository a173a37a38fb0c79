/**
 * Issue 9, item 10: `vmsnap serve` prints the admin credentials it generated on the start that
 * generated them, and never again: a restart prints the endpoint and where the keys are, so the
 * secret key does not land in every start's log. Keys given through the environment are not echoed.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TestApiClient } from '../helpers/api-client.ts';
import { useScratchDirs } from '../helpers/scratch-dirs.ts';
import type { ServeRun } from '../helpers/serve-process.ts';

const scratch = useScratchDirs('print-once');

/** A data dir that does not exist yet: the first start creates it. */
function dataDir(): string {
  return join(scratch.dir(), 'data');
}

async function serveOnce(
  dir: string,
  env?: NodeJS.ProcessEnv,
): Promise<{ out: string; endpoint: string; run: ServeRun }> {
  const run = scratch.serve(dir, { env });
  const out = await run.ready();
  const endpoint = /vmsnap is running: (\S+)\/client\/api/.exec(out)?.[1];
  if (endpoint === undefined) throw new Error(`no endpoint in ${out}`);
  return { out, endpoint, run };
}

function keyAfter(label: string, out: string): string {
  const key = new RegExp(`${label}:\\s+(\\S+)`).exec(out)?.[1];
  if (key === undefined) throw new Error(`no ${label} in ${out}`);
  return key;
}

describe('vmsnap serve prints generated admin credentials once', () => {
  it('the first start prints them; a restart prints the endpoint and where the keys are, not the keys', async () => {
    const dir = dataDir();
    const first = await serveOnce(dir);
    const apiKey = keyAfter('admin api key', first.out);
    const secretKey = keyAfter('admin secret key', first.out);
    expect(first.out).toContain(`VMSNAP_SECRET_KEY=${secretKey}`);
    await first.run.stop();

    const second = await serveOnce(dir);
    expect(second.out).toMatch(/vmsnap is running: http:\/\/127\.0\.0\.1:\d+\/client\/api/);
    expect(second.out).not.toContain(secretKey);
    expect(second.out).not.toContain(apiKey);
    expect(second.out).not.toMatch(/admin secret key/);
    expect(second.out).toMatch(/admin keys: printed by this data dir's first start only/);

    // The keys printed once are the ones that work (read back decrypted from the database).
    const res = await new TestApiClient(second.endpoint, apiKey, secretKey).call('listAccounts');
    expect(res.status).toBe(200);
  });

  it('keys given in the environment are used but not printed', async () => {
    const env = {
      VMSNAP_ADMIN_API_KEY: 'env-api-key-0123456789',
      VMSNAP_ADMIN_SECRET_KEY: 'env-secret-9876543210',
    };
    const { out, endpoint } = await serveOnce(dataDir(), env);
    expect(out).not.toContain('env-secret-9876543210');
    expect(out).toMatch(/admin keys: the ones in VMSNAP_ADMIN_API_KEY/);
    const res = await new TestApiClient(endpoint, env.VMSNAP_ADMIN_API_KEY, env.VMSNAP_ADMIN_SECRET_KEY).call(
      'listAccounts',
    );
    expect(res.status).toBe(200);
  });
});
