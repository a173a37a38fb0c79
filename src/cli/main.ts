/**
 * The `vmsnap` command. `serve` runs the management server and `agent` a QEMU host agent; every
 * other command is a client of the CloudStack-compatible API (see docs/cli.md).
 */
import { Command } from 'commander';
import { registerServe } from './serve-command.ts';
import { registerClientCommands } from './client-commands.ts';
import { registerAgent } from './agent-command.ts';

const program = new Command();
program
  .name('vmsnap')
  .description('Pluggable VM snapshots with a CloudStack-compatible API')
  .version('0.1.0');
registerServe(program);
registerAgent(program);
registerClientCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  process.stderr.write(`vmsnap: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
