/**
 * `vmsnap serve`: the management server on its embedded defaults. On first start with an empty data
 * dir it writes a config.json that loads the example vendor array plugin, seeds a simulator zone,
 * and prints the admin credentials and the endpoint.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App } from '../app/app.ts';
import { configPath, loadConfig } from '../app/app-config.ts';
import { isSeeded, seed } from '../app/seed.ts';
import { buildServer } from '../api/server.ts';
import { AccountStore, type KeyPair } from '../store/account-store.ts';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface ServeOptions {
  readonly port: number;
  readonly host: string;
  readonly dataDir: string;
}

export async function serve(options: ServeOptions): Promise<void> {
  const firstStart = !existsSync(join(options.dataDir, 'vmsnap.db'));
  if (firstStart) writeDefaultConfig(options.dataDir);
  const app = await App.open({ config: loadConfig(options.dataDir) });
  const envKeys = adminKeysFromEnv();
  let admin: KeyPair | undefined;
  if (!(await isSeeded(app))) {
    admin = (await seed(app, envKeys)).admin;
  } else {
    admin = await existingAdminKeys(app);
  }
  await app.start();
  const server = await buildServer(app);
  const address = await server.listen({ port: options.port, host: options.host });
  const endpoint = `${address}/client/api`;
  const shutdown = async (): Promise<void> => {
    await server.close();
    await app.stop();
    process.exit(0);
  };
  process.once('SIGINT', () => void shutdown());
  process.once('SIGTERM', () => void shutdown());
  process.stdout.write(
    [
      '',
      `vmsnap is running: ${endpoint}`,
      `  data dir:   ${options.dataDir}  (${app.store.dialect})`,
      `  strategies: ${app.deps.registry.strategyNames.join(', ')}`,
      `  plugins:    ${app.plugins.map((p) => p.name).join(', ') || 'none'}`,
      `  admin api key:    ${admin?.apiKey ?? '(unknown)'}`,
      `  admin secret key: ${admin?.secretKey ?? '(unknown)'}`,
      '',
      'Try:',
      `  export VMSNAP_ENDPOINT=${endpoint} VMSNAP_API_KEY=${admin?.apiKey ?? ''} VMSNAP_SECRET_KEY=${admin?.secretKey ?? ''}`,
      '  npx vmsnap vm list',
      '',
    ].join('\n'),
  );
}

function writeDefaultConfig(dataDir: string): void {
  mkdirSync(dataDir, { recursive: true });
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
  writeFileSync(file, `${JSON.stringify(config, null, 2)}\n`);
}

function adminKeysFromEnv(): KeyPair | undefined {
  const apiKey = process.env['VMSNAP_ADMIN_API_KEY'];
  const secretKey = process.env['VMSNAP_ADMIN_SECRET_KEY'];
  if (apiKey === undefined || apiKey === '' || secretKey === undefined || secretKey === '') return undefined;
  return { apiKey, secretKey };
}

/** On a restart the keys are read back, so the banner always shows working credentials. */
async function existingAdminKeys(app: App): Promise<KeyPair | undefined> {
  const accounts = new AccountStore(app.deps.db);
  const admin = await accounts.findAccountByName('admin');
  if (admin === undefined) return undefined;
  const user = (await accounts.usersOf(admin.id))[0];
  if (user?.api_key == null || user.secret_key === null) return undefined;
  return { apiKey: user.api_key, secretKey: user.secret_key };
}
