/**
 * `vmsnap agent`: the QEMU/KVM host agent for one host. The management server reaches it over HTTP
 * with the token given here (CloudStack's addHost `password`). Stopping the agent leaves the VMs
 * running; the next start re-attaches to them.
 */
import { join, resolve } from 'node:path';
import pino from 'pino';
import { defaultDataDir } from '../app/app-config.ts';
import { startAgentServer } from '../hypervisors/qemu/agent-server.ts';

export interface AgentCliOptions {
  port: string;
  host: string;
  token?: string;
  stateDir?: string;
  poolDir?: string;
  accel: string;
  memoryMode: string;
}

export async function runAgent(opts: AgentCliOptions): Promise<void> {
  if (opts.token === undefined || opts.token === '') {
    throw new Error(
      'the agent needs a token: --token <secret> or VMSNAP_AGENT_TOKEN (give the same to addHost as password)',
    );
  }
  if (!['auto', 'kvm', 'tcg'].includes(opts.accel)) throw new Error(`invalid --accel ${opts.accel}`);
  if (!['live', 'internal'].includes(opts.memoryMode))
    throw new Error(`invalid --memory-mode ${opts.memoryMode}`);
  const base = defaultDataDir();
  const server = await startAgentServer({
    port: Number(opts.port),
    host: opts.host,
    token: opts.token,
    stateDir: resolve(opts.stateDir ?? join(base, 'agent')),
    poolDir: resolve(opts.poolDir ?? join(base, 'pool')),
    accel: opts.accel as 'auto' | 'kvm' | 'tcg',
    defaultMemoryMode: opts.memoryMode as 'live' | 'internal',
    log: pino({ level: process.env['VMSNAP_LOG_LEVEL'] ?? 'info' }),
  });
  process.stdout.write(`vmsnap-agent listening ${server.url}\n`);
  const stop = (): void => {
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
