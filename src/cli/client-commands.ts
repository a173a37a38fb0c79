/**
 * The client side of `vmsnap`: every command here talks to a vmsnap (or CloudStack) server over the
 * signed `/client/api` endpoint. Global options: `--profile <name>` and `--json`.
 */
import type { Command } from 'commander';
import { registerApiCommand } from './client/commands/api-command.ts';
import { registerJobCommands } from './client/commands/job-commands.ts';
import { registerProfileCommands } from './client/commands/profile-commands.ts';
import { registerScheduleCommands } from './client/commands/schedule-commands.ts';
import { registerSnapshotCommands } from './client/commands/snapshot-commands.ts';
import { registerVmCommands } from './client/commands/vm-commands.ts';

export function registerClientCommands(program: Command): void {
  program
    .option('--profile <name>', 'CLI profile to use (default: the current one; see `vmsnap profile`)')
    .option('--json', 'print the raw API payload as JSON instead of a table');
  registerVmCommands(program);
  registerSnapshotCommands(program);
  registerScheduleCommands(program);
  registerJobCommands(program);
  registerProfileCommands(program);
  registerApiCommand(program);
}
