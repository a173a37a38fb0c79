/**
 * Runs the QEMU host agent as its own process (what `vmsnap agent` starts), configured from the
 * environment. Prints `vmsnap-agent listening <url>` once it serves. SIGTERM/SIGINT stop serving;
 * the VMs keep running and are re-attached on the next start.
 *
 *   VMSNAP_AGENT_TOKEN (required), VMSNAP_AGENT_PORT (default 8250), VMSNAP_AGENT_HOST (127.0.0.1),
 *   VMSNAP_AGENT_TLS_CERT + VMSNAP_AGENT_TLS_KEY (PEM files: serve https, as `vmsnap agent
 *   --tls-cert/--tls-key`; the key file must be private to its owner),
 *   VMSNAP_AGENT_STATE_DIR, VMSNAP_AGENT_POOL_DIR, VMSNAP_AGENT_ACCEL (auto|kvm|tcg),
 *   VMSNAP_AGENT_GUEST_KERNEL + VMSNAP_AGENT_GUEST_INITRD (boot VMs with this kernel, for tests),
 *   VMSNAP_AGENT_GUEST_NAME_PATTERN (only VMs whose name matches this regexp boot that kernel),
 *   VMSNAP_AGENT_MEMORY_MODE (live|internal), VMSNAP_AGENT_SAVE_BANDWIDTH (bytes/s of the RAM save),
 *   VMSNAP_AGENT_PAUSE_AFTER_STEP=<step>:<ms> (fault injection: hold after a persisted snapshot step),
 *   VMSNAP_AGENT_SAVE_STALL_MS (fault injection: the RAM save's writer stalls that long).
 */
import { X509Certificate } from 'node:crypto';
import type { Logger } from '../../core/plugin-api.ts';
import { readAgentTls } from './agent-secrets.ts';
import { startAgentServer } from './agent-server.ts';

function env(name: string, fallback?: string): string {
  const value = process.env[name] ?? fallback;
  if (value === undefined || value === '') throw new Error(`${name} is required`);
  return value;
}

const log: Logger = {
  info: (o, m) =>
    console.log(JSON.stringify({ level: 'info', msg: m, ...(typeof o === 'string' ? { text: o } : o) })),
  warn: (o, m) =>
    console.log(JSON.stringify({ level: 'warn', msg: m, ...(typeof o === 'string' ? { text: o } : o) })),
  error: (o, m) =>
    console.log(JSON.stringify({ level: 'error', msg: m, ...(typeof o === 'string' ? { text: o } : o) })),
  debug: () => undefined,
};

// As `vmsnap agent`: files private by default, and the token not handed down to QEMU processes.
process.umask(0o077);
const token = env('VMSNAP_AGENT_TOKEN');
delete process.env.VMSNAP_AGENT_TOKEN;

const pause = process.env.VMSNAP_AGENT_PAUSE_AFTER_STEP?.split(':');
const accel = process.env.VMSNAP_AGENT_ACCEL;
const memoryMode = process.env.VMSNAP_AGENT_MEMORY_MODE;
const kernel = process.env.VMSNAP_AGENT_GUEST_KERNEL;
const initrd = process.env.VMSNAP_AGENT_GUEST_INITRD;
const namePattern = process.env.VMSNAP_AGENT_GUEST_NAME_PATTERN;
const bandwidth = process.env.VMSNAP_AGENT_SAVE_BANDWIDTH;
const stall = process.env.VMSNAP_AGENT_SAVE_STALL_MS;
const tls = readAgentTls({
  cert: process.env.VMSNAP_AGENT_TLS_CERT || undefined,
  key: process.env.VMSNAP_AGENT_TLS_KEY || undefined,
  names: { cert: 'VMSNAP_AGENT_TLS_CERT', key: 'VMSNAP_AGENT_TLS_KEY' },
});

const server = await startAgentServer({
  token,
  port: Number(env('VMSNAP_AGENT_PORT', '8250')),
  host: env('VMSNAP_AGENT_HOST', '127.0.0.1'),
  stateDir: env('VMSNAP_AGENT_STATE_DIR', '.vmsnap/agent'),
  poolDir: env('VMSNAP_AGENT_POOL_DIR', '.vmsnap/pool'),
  log,
  ...(tls !== undefined ? { tls } : {}),
  ...(accel === 'kvm' || accel === 'tcg' || accel === 'auto' ? { accel } : {}),
  ...(memoryMode === 'live' || memoryMode === 'internal' ? { defaultMemoryMode: memoryMode } : {}),
  ...(kernel && initrd
    ? { guestBoot: { kernel, initrd, ...(namePattern ? { vmNamePattern: namePattern } : {}) } }
    : {}),
  ...(bandwidth ? { saveBandwidthBytes: Number(bandwidth) } : {}),
  ...(stall ? { saveStallMs: Number(stall) } : {}),
  ...(pause?.[0] && pause[1]
    ? {
        afterStep: async (_vm: string, step: string) => {
          if (step === pause[0]) await new Promise((r) => setTimeout(r, Number(pause[1])));
        },
      }
    : {}),
});
console.log(`vmsnap-agent listening ${server.url}`);
// As `vmsnap agent`: what to give addHost as certfingerprint.
if (tls !== undefined)
  console.log(`vmsnap-agent certificate SHA-256 fingerprint ${new X509Certificate(tls.cert).fingerprint256}`);

const stop = (): void => {
  server.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
