/**
 * `vmsnap serve`: the management server on its embedded defaults. On first start with an empty data
 * dir it writes a config.json that loads the example vendor array plugin, seeds a simulator zone,
 * and prints the admin credentials and the endpoint. The credentials are printed on that start only:
 * later starts print the endpoint and where the keys come from, so secrets do not pile up in logs.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App } from '../app/app.ts';
import { configPath, defaultDatabaseFile, loadConfig } from '../app/app-config.ts';
import { isSeeded, passwordLines, seed, seedPasswordsFromEnv } from '../app/seed.ts';
import { buildServer } from '../api/server.ts';
import { ensureConsoleBuilt } from './console-build.ts';
import type { KeyPair } from '../store/account-store.ts';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface ServeOptions {
  readonly port: number;
  readonly host: string;
  readonly dataDir: string;
}

export async function serve(options: ServeOptions): Promise<void> {
  // Everything the server creates from here on (database, WAL, key file, config, simulator state)
  // is readable by its own user only; the modules that create files also set modes explicitly.
  process.umask(0o077);
  const firstStart = !existsSync(defaultDatabaseFile(options.dataDir));
  if (firstStart) writeDefaultConfig(options.dataDir);
  const app = await App.open({ config: loadConfig(options.dataDir) });
  const envKeys = adminKeysFromEnv();
  let admin: AdminKeys;
  if (!(await isSeeded(app))) {
    const result = await seed(app, envKeys, seedPasswordsFromEnv(process.env));
    const seeded = result.admin;
    admin = envKeys === undefined ? { shown: seeded } : { from: 'environment' };
    // Before anything else can fail (a busy port): keys never printed would be lost for good.
    if ('shown' in admin) process.stdout.write(`${credentialLines(admin.shown).join('\n')}\n`);
    // The login passwords likewise, on this start only (issue 14).
    process.stdout.write(`${passwordLines(result.passwords).join('\n')}\n`);
  } else {
    admin = { from: 'earlier start' };
  }
  const log = app.deps.log;
  // The web console at `/`: built here when missing or older than its sources (a checkout that
  // skipped `npm ci`'s prepare step, or an edited console), so `vmsnap serve` alone serves it.
  const consoleDir = await ensureConsoleBuilt((message) => log.warn(message));
  const server = await buildServer(app, consoleDir === undefined ? {} : { consoleDir });
  // The port first: a server that cannot serve must not take jobs (issue 12), so the job queue
  // starts only once the API listens, and a taken port ends the process with a non-zero code.
  let address: string;
  try {
    address = await server.listen({ port: options.port, host: options.host });
  } catch (err) {
    log.error({ err }, `cannot listen on ${options.host}:${options.port}: not starting`);
    await server.close().catch(() => undefined);
    await app.stop();
    throw new Error(
      `cannot listen on ${options.host}:${options.port} (${err instanceof Error ? err.message : String(err)}); no job was taken`,
      { cause: err },
    );
  }
  try {
    await app.start(listeningAddress(server.server.address(), options));
  } catch (err) {
    // Nothing may keep the process alive after a failed start: it must exit non-zero.
    await server.close().catch(() => undefined);
    await app.stop().catch(() => undefined);
    throw err;
  }
  const endpoint = `${address}/client/api`;
  // Each step is logged, so an operator can tell a slow drain from a hang and see the exit.
  const shutdown = async (signal: NodeJS.Signals): Promise<void> => {
    log.info({ signal }, `received ${signal}: shutting down`);
    let code = 0;
    try {
      await server.close();
      log.info('API server closed: no new requests are accepted');
      // Running jobs get job.shutdown.wait to finish; the rest are handed back to other servers.
      const handBackAfterMs = app.deps.settings.getNumber('job.shutdown.wait') * 1000;
      await app.stop({ handBackAfterMs });
    } catch (err) {
      code = 1;
      log.error({ err }, 'shutdown failed');
    }
    log.info({ signal, code }, `vmsnap stopped, exiting with code ${code}`);
    process.exit(code);
  };
  process.once('SIGINT', () => void shutdown('SIGINT'));
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.stdout.write(
    [
      '',
      `vmsnap is running: ${endpoint}`,
      ...(consoleDir !== undefined ? [`  console:    ${address}/  (web console)`] : []),
      `  data dir:   ${options.dataDir}  (${app.store.dialect})`,
      `  strategies: ${app.deps.registry.strategyNames.join(', ')}`,
      `  plugins:    ${app.plugins.map((p) => p.name).join(', ') || 'none'}`,
      ...adminLines(admin, endpoint),
      '',
    ].join('\n'),
  );
}

/** Where the API listens (the port actually bound, for --port 0), for this server's row. */
function listeningAddress(
  bound: string | AddressInfo | null,
  options: ServeOptions,
): { host: string; port: number } {
  if (bound !== null && typeof bound === 'object') return { host: bound.address, port: bound.port };
  return { host: options.host, port: options.port };
}

/** The admin keys this start generated (shown once), or where they are when it did not. */
type AdminKeys = { readonly shown: KeyPair } | { readonly from: 'environment' | 'earlier start' };

function credentialLines(keys: KeyPair): string[] {
  return [
    'admin credentials, printed on this first start only (keep them now):',
    `  admin api key:    ${keys.apiKey}`,
    `  admin secret key: ${keys.secretKey}`,
  ];
}

function adminLines(admin: AdminKeys, endpoint: string): string[] {
  if ('shown' in admin) {
    const { apiKey, secretKey } = admin.shown;
    return [
      '  admin keys: printed above (this first start only)',
      '',
      'Try:',
      `  export VMSNAP_ENDPOINT=${endpoint} VMSNAP_API_KEY=${apiKey} VMSNAP_SECRET_KEY=${secretKey}`,
      '  npx vmsnap vm list',
    ];
  }
  if (admin.from === 'environment')
    return ['  admin keys: the ones in VMSNAP_ADMIN_API_KEY / VMSNAP_ADMIN_SECRET_KEY'];
  return [
    "  admin keys: printed by this data dir's first start only; to replace them, call registerUserKeys",
    '              (`vmsnap api registerUserKeys id=<user id>`) with the current keys',
  ];
}

function writeDefaultConfig(dataDir: string): void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = configPath(dataDir);
  if (existsSync(file)) return;
  const config = {
    plugins: [
      {
        module: join(REPO_ROOT, 'examples', 'vendor-array-plugin'),
        options: { name: 'vendor-array', latencyMs: 2, revertMode: 'any' },
      },
    ],
  };
  writeFileSync(file, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
}

function adminKeysFromEnv(): KeyPair | undefined {
  const apiKey = process.env['VMSNAP_ADMIN_API_KEY'];
  const secretKey = process.env['VMSNAP_ADMIN_SECRET_KEY'];
  if (apiKey === undefined || apiKey === '' || secretKey === undefined || secretKey === '') return undefined;
  return { apiKey, secretKey };
}
