/**
 * A management server in a child process for the watchdog-kill test: opens the App on a data dir with
 * the vendor array plugin (slow, so a snapshot stays in its driver call while the guest is frozen),
 * seeds it if empty, sets the freeze budget, and takes a quiesced disk snapshot of `array-1`. The test
 * SIGKILLs it while the guest is frozen.
 *
 *   node --import tsx test/storage-integration/server-process.ts <dataDir> '<ServerOptions JSON>'
 *
 * stdout lines: `OPEN`, `SUBMITTED <instanceName> <snapshotId> <jobId>`, `DONE <jobId> <status>`.
 */
import { App } from '../../src/app/app.ts';
import { loadConfig } from '../../src/app/app-config.ts';
import { isSeeded, seed } from '../../src/app/seed.ts';
import { quietLog } from '../helpers/test-app.ts';
import { vendorPlugin } from './array-fixtures.ts';

export interface ServerOptions {
  readonly latencyMs: number;
  readonly budgetMs: number;
}

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

async function main(): Promise<void> {
  const [dir, json] = process.argv.slice(2);
  if (dir === undefined || json === undefined)
    throw new Error('usage: server-process.ts <dataDir> <options JSON>');
  const options = JSON.parse(json) as ServerOptions;
  const app = await App.open({
    config: loadConfig(dir, { plugins: [vendorPlugin({ latencyMs: options.latencyMs })] }),
    log: quietLog,
    simulator: {},
  });
  if (!(await isSeeded(app))) await seed(app);
  await app.deps.settings.set('vmsnapshot.freeze.budget', String(options.budgetMs));
  await app.start();
  say('OPEN');
  const system = await app.systemCaller();
  if (system === undefined) throw new Error('no admin user');
  const vm = (await app.deps.inventory.listVms()).find((v) => v.displayName === 'array-1');
  if (vm === undefined) throw new Error('array-1 was not seeded: is the vendor-array driver loaded?');
  const { snapshot, jobId } = await app.snapshotManager.create(system, { vmId: vm.id, quiesce: true });
  say(`SUBMITTED ${vm.instanceName} ${snapshot.id} ${jobId}`);
  const row = await app.deps.jobs.waitFor(jobId, 600_000);
  say(`DONE ${jobId} ${row.status}`);
  await app.stop();
}

main().catch((err: unknown) => {
  process.stderr.write(
    `server-process failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
