/**
 * A management server in a child process, for the kill-while-frozen test: opens the App on a data dir
 * that already knows the KVM host and its VM, sets the freeze budget, and takes a quiesced disk-only
 * snapshot of the VM through the real host agent. The test SIGKILLs it while the guest is frozen.
 *
 *   node --import tsx test/qemu-e2e/server-process.ts <dataDir> <vmId> <freezeBudgetMs>
 *
 * stdout lines: `OPEN`, `SUBMITTED <snapshotId> <snapshotName> <jobId>`, `DONE <jobId> <status>`.
 */
import { App } from '../../src/app/app.ts';
import { loadConfig } from '../../src/app/app-config.ts';
import { quietLog } from '../helpers/test-app.ts';

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

async function main(): Promise<void> {
  const [dir, vmId, budgetMs] = process.argv.slice(2);
  if (dir === undefined || vmId === undefined || budgetMs === undefined)
    throw new Error('usage: server-process.ts <dataDir> <vmId> <freezeBudgetMs>');
  const app = await App.open({ config: loadConfig(dir, { plugins: [] }), log: quietLog });
  await app.deps.settings.set('vmsnapshot.freeze.budget', budgetMs);
  await app.start();
  say('OPEN');
  const system = await app.systemCaller();
  if (system === undefined) throw new Error('no admin user: was the data dir seeded?');
  const { snapshot, jobId } = await app.snapshotManager.create(system, { vmId, quiesce: true });
  say(`SUBMITTED ${snapshot.id} ${snapshot.name} ${jobId}`);
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
