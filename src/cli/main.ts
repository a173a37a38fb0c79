/**
 * The `vmsnap` command. `serve` runs the management server and `agent` a QEMU host agent; every
 * other command is a client of the CloudStack-compatible API (see docs/cli.md).
 */
import { Command } from 'commander';
import { registerClientCommands } from './client-commands.ts';
import { registerServerCommands } from './server-commands.ts';

const program = new Command();
program
  .name('vmsnap')
  .description('Pluggable VM snapshots with a CloudStack-compatible API')
  .version('0.1.0');
registerServerCommands(program);
registerClientCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  process.stderr.write(`vmsnap: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
