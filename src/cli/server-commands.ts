/**
 * `vmsnap serve` and `vmsnap agent`: options only. The server and agent code is imported when one of
 * them actually runs, so client commands start without loading fastify, kysely and the drivers.
 */
import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { defaultDataDir } from '../app/app-config.ts';
import type { AgentCliOptions } from './agent-command.ts';

export function registerServerCommands(program: Command): void {
  program
    .command('serve')
    .description('start the management server (SQLite and a simulator zone by default)')
    .option('--port <port>', 'HTTP port (env VMSNAP_PORT)', process.env['VMSNAP_PORT'] ?? '8080')
    .option(
      '--host <host>',
      'address to listen on (env VMSNAP_HOST)',
      process.env['VMSNAP_HOST'] ?? '127.0.0.1',
    )
    .option('--data-dir <dir>', 'data directory (env VMSNAP_DATA_DIR)', defaultDataDir())
    .action(async (opts: { port: string; host: string; dataDir: string }) => {
      const port = Number(opts.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid --port ${opts.port}`);
      const { serve } = await import('./serve-command.ts');
      await serve({ port, host: opts.host, dataDir: resolve(opts.dataDir) });
    });

  program
    .command('agent')
    .description('run the QEMU/KVM host agent on this host')
    .option('--port <port>', 'HTTP port (env VMSNAP_AGENT_PORT)', process.env['VMSNAP_AGENT_PORT'] ?? '8250')
    .option(
      '--host <host>',
      'address to listen on (env VMSNAP_AGENT_HOST)',
      process.env['VMSNAP_AGENT_HOST'] ?? '127.0.0.1',
    )
    .option(
      '--token-file <path>',
      'file (mode 0600) holding the token the management server must send (env VMSNAP_AGENT_TOKEN_FILE, or the token itself in VMSNAP_AGENT_TOKEN)',
      process.env['VMSNAP_AGENT_TOKEN_FILE'],
    )
    // Removed (it shows in ps): kept hidden only to say so instead of "unknown option".
    .addOption(new Option('--token <token>').hideHelp())
    .option(
      '--state-dir <dir>',
      'agent state (env VMSNAP_AGENT_STATE_DIR; default <data dir>/agent)',
      process.env['VMSNAP_AGENT_STATE_DIR'],
    )
    .option(
      '--pool-dir <dir>',
      'disk and RAM-state pool (env VMSNAP_AGENT_POOL_DIR; default <data dir>/pool)',
      process.env['VMSNAP_AGENT_POOL_DIR'],
    )
    .option(
      '--accel <accel>',
      'auto | kvm | tcg (env VMSNAP_AGENT_ACCEL)',
      process.env['VMSNAP_AGENT_ACCEL'] ?? 'auto',
    )
    .option(
      '--memory-mode <mode>',
      'live | internal: default way to take memory snapshots',
      process.env['VMSNAP_AGENT_MEMORY_MODE'] ?? 'live',
    )
    .option(
      '--tls-cert <pem>',
      'serve https with this certificate (PEM file; env VMSNAP_AGENT_TLS_CERT); needs --tls-key',
      process.env['VMSNAP_AGENT_TLS_CERT'],
    )
    .option(
      '--tls-key <pem>',
      'private key of --tls-cert (PEM file; env VMSNAP_AGENT_TLS_KEY)',
      process.env['VMSNAP_AGENT_TLS_KEY'],
    )
    .action(async (opts: AgentCliOptions) => {
      const { runAgent } = await import('./agent-command.ts');
      await runAgent(opts);
    });
}
