/**
 * The chaos test's zone, made once before any server starts (a child process with the servers'
 * environment: database URL, database key, admin keys): seeds the database as the first
 * `vmsnap serve` would, adds `<vmCount>` VMs for the admin account straight in the database and
 * the simulated hosts (half running, half stopped), and shortens the job lease so that a killed
 * server's jobs are taken over in seconds. Prints `READY <count>` when done.
 *
 *   node --import tsx test/cluster-chaos/chaos-setup.ts <vmCount> <leaseSeconds>
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from '../../src/app/app.ts';
import { loadConfig } from '../../src/app/app-config.ts';
import { seed } from '../../src/app/seed.ts';
import { quietLog } from '../helpers/test-app.ts';
import { createVms } from '../helpers/vm-factory.ts';

async function main(): Promise<void> {
  const vmCount = Number(process.argv[2]);
  const leaseSeconds = process.argv[3];
  const apiKey = process.env['VMSNAP_ADMIN_API_KEY'];
  const secretKey = process.env['VMSNAP_ADMIN_SECRET_KEY'];
  if (!Number.isInteger(vmCount) || leaseSeconds === undefined || !apiKey || !secretKey)
    throw new Error('usage: chaos-setup.ts <vmCount> <leaseSeconds>, with the admin keys in the environment');
  const dir = mkdtempSync(join(tmpdir(), 'vmsnap-chaos-setup-'));
  const app = await App.open({ config: loadConfig(dir, { plugins: [] }), log: quietLog });
  try {
    await seed(app, { apiKey, secretKey });
    await app.deps.settings.set('job.lease.seconds', leaseSeconds);
    const admin = await app.deps.db
      .selectFrom('accounts')
      .select('id')
      .where('name', '=', 'admin')
      .executeTakeFirstOrThrow();
    const vms = await createVms(
      app,
      admin.id,
      Array.from({ length: vmCount }, (_, i) => ({ displayName: `chaos-${i}`, running: i % 2 === 0 })),
    );
    process.stdout.write(`READY ${vms.length}\n`);
  } finally {
    await app.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(
    `chaos setup failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
