/**
 * `vmsnap agent`: the QEMU/KVM host agent for one host. The management server reaches it over HTTP
 * with the token given here (CloudStack's addHost `password`). Stopping the agent leaves the VMs
 * running; the next start re-attaches to them.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import pino from 'pino';
import { defaultDataDir } from '../app/app-config.ts';
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

/** The certificate and key to serve https with, read from their files, or undefined for http. */
function readTls(opts: AgentCliOptions): { cert: Buffer; key: Buffer } | undefined {
  if (opts.tlsCert === undefined && opts.tlsKey === undefined) return undefined;
  if (opts.tlsCert === undefined || opts.tlsKey === undefined)
    throw new Error('https needs both --tls-cert and --tls-key');
  return { cert: readFileSync(resolve(opts.tlsCert)), key: readFileSync(resolve(opts.tlsKey)) };
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
  const tls = readTls(opts);
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
