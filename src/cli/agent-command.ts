/** `vmsnap agent`: the QEMU/KVM host agent for one host (see src/hypervisors/qemu). */
import type { Command } from 'commander';

export function registerAgent(program: Command): void {
  program
    .command('agent')
    .description('run the QEMU/KVM host agent on this host')
    .option('--port <port>', 'HTTP port (env VMSNAP_AGENT_PORT)', process.env['VMSNAP_AGENT_PORT'] ?? '8250')
    .option('--host <host>', 'address to listen on', process.env['VMSNAP_AGENT_HOST'] ?? '127.0.0.1')
    .option(
      '--token <token>',
      'shared secret the management server sends (env VMSNAP_AGENT_TOKEN)',
      process.env['VMSNAP_AGENT_TOKEN'],
    )
    .option(
      '--state-dir <dir>',
      'agent state directory',
      process.env['VMSNAP_AGENT_STATE_DIR'] ?? '/var/lib/vmsnap-agent',
    )
    .option('--pool-dir <dir>', 'file pool for VM disks', process.env['VMSNAP_AGENT_POOL_DIR'])
    .action(async () => {
      throw new Error('the QEMU host agent is not wired yet');
    });
}
