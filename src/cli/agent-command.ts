/**
 * `vmsnap agent`: the QEMU/KVM host agent for one host. The management server reaches it over HTTP
 * with the token given here (CloudStack's addHost `password`). Stopping the agent leaves the VMs
 * running; the next start re-attaches to them.
 */
import { X509Certificate } from 'node:crypto';
import { join, resolve } from 'node:path';
import pino from 'pino';
import { defaultDataDir } from '../app/app-config.ts';
import { readAgentTls } from '../hypervisors/qemu/agent-secrets.ts';
import { startAgentServer } from '../hypervisors/qemu/agent-server.ts';
import { readAgentToken, TOKEN_ENV } from './agent-token.ts';

export interface AgentCliOptions {
  port: string;
  host: string;
  /** Refused: see agent-token.ts. */
  token?: string;
  tokenFile?: string;
  stateDir?: string;
  poolDir?: string;
  accel: string;
  memoryMode: string;
  /** PEM certificate and key files: serve https (addHost then pins the certificate). */
  tlsCert?: string;
  tlsKey?: string;
}

export async function runAgent(opts: AgentCliOptions): Promise<void> {
  // Backstop for every file the agent or its QEMUs create (the agent also sets modes explicitly).
  process.umask(0o077);
  const token = readAgentToken({ token: opts.token, tokenFile: opts.tokenFile, env: process.env });
  // The QEMU and qemu-img processes the agent starts have no use for it.
  delete process.env[TOKEN_ENV];
  if (!['auto', 'kvm', 'tcg'].includes(opts.accel)) throw new Error(`invalid --accel ${opts.accel}`);
  if (!['live', 'internal'].includes(opts.memoryMode))
    throw new Error(`invalid --memory-mode ${opts.memoryMode}`);
  const base = defaultDataDir();
  // The key file must be as private as the token file (agent-secrets.ts).
  const tls = readAgentTls({
    cert: opts.tlsCert,
    key: opts.tlsKey,
    names: { cert: '--tls-cert', key: '--tls-key' },
  });
  const server = await startAgentServer({
    port: Number(opts.port),
    host: opts.host,
    token,
    stateDir: resolve(opts.stateDir ?? join(base, 'agent')),
    poolDir: resolve(opts.poolDir ?? join(base, 'pool')),
    accel: opts.accel as 'auto' | 'kvm' | 'tcg',
    defaultMemoryMode: opts.memoryMode as 'live' | 'internal',
    log: pino({ level: process.env['VMSNAP_LOG_LEVEL'] ?? 'info' }),
    ...(tls !== undefined ? { tls } : {}),
  });
  process.stdout.write(`vmsnap-agent listening ${server.url}\n`);
  // What to give addHost as certfingerprint (or to compare with what trust on first use pinned).
  if (tls !== undefined)
    process.stdout.write(
      `vmsnap-agent certificate SHA-256 fingerprint ${new X509Certificate(tls.cert).fingerprint256}\n`,
    );
  const stop = (): void => {
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
