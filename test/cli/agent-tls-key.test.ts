/**
 * Issue 9, items 9 and 10, leftovers: the agent's TLS private key was read from any file, even one
 * every local user could read (who could then impersonate the agent to the management server that
 * pinned its certificate); it now gets the token file's check. And the env-driven agent process
 * (agent-main.ts, what the end-to-end tests run) serves https from VMSNAP_AGENT_TLS_CERT/_KEY as
 * `vmsnap agent --tls-cert/--tls-key` does.
 */
import { spawn } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { connect } from 'node:tls';
import { beforeAll, describe, expect, it } from 'vitest';
import { readAgentTls } from '../../src/hypervisors/qemu/agent-secrets.ts';
import { useScratchDirs } from '../helpers/scratch-dirs.ts';
import { makeTestCert, type TestCert } from '../helpers/test-certs.ts';
import { cleanEnv } from './cli-process.ts';

const REPO = resolve(import.meta.dirname, '../..');
/** Upper bound for an agent start on a busy machine; the wait ends at the banner or the exit. */
const START_BOUND_MS = 60_000;
const FLAGS = { cert: '--tls-cert', key: '--tls-key' };

const scratch = useScratchDirs('agent-tls-key');

interface AgentStart {
  /** The exit code, or null if it was still serving (then stopped here). */
  readonly code: number | null;
  readonly output: string;
  /** The URL of the banner, if it got that far. */
  readonly url: string | undefined;
  /** The fingerprint line's value, if printed. */
  readonly fingerprint: string | undefined;
}

/**
 * Starts an agent (`vmsnap agent …` or agent-main.ts) and waits for its banner or its exit; one
 * that serves is stopped once the banner is out (after `whileUp`, if given).
 */
function startAgent(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  whileUp: (url: string) => Promise<void> = async () => {},
): Promise<AgentStart> {
  const child = spawn(process.execPath, args, { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  return new Promise((done, fail) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      fail(new Error(`agent neither served nor exited within ${START_BOUND_MS} ms:\n${output}`));
    }, START_BOUND_MS);
    let url: string | undefined;
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const listening = /vmsnap-agent listening (\S+)/.exec(output)?.[1];
      const printed = /certificate SHA-256 fingerprint (\S+)/.exec(output) !== null;
      // Wait for the fingerprint line too when serving https: it follows the banner.
      if (url === undefined && listening !== undefined && (!listening.startsWith('https') || printed)) {
        url = listening;
        whileUp(url).then(
          () => child.kill('SIGTERM'),
          (err: unknown) => {
            child.kill('SIGKILL');
            fail(err instanceof Error ? err : new Error(String(err)));
          },
        );
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('close', (code) => {
      clearTimeout(timer);
      done({
        code: url === undefined ? code : null,
        output,
        url,
        fingerprint: /certificate SHA-256 fingerprint (\S+)/.exec(output)?.[1],
      });
    });
  });
}

/** The SHA-256 fingerprint of the certificate a TLS server presents. */
function presentedFingerprint(url: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((done, fail) => {
    // Not verified on purpose: the test compares the certificate itself.
    const socket = connect({ host: hostname, port: Number(port), rejectUnauthorized: false }, () => {
      done(socket.getPeerX509Certificate()?.fingerprint256 ?? '');
      socket.end();
    });
    socket.on('error', fail);
  });
}

describe("the agent's TLS key file", () => {
  let cert: TestCert;
  let dir: string;
  let certFile: string;
  let privateKey: string;
  let openKey: string;

  beforeAll(async () => {
    cert = await makeTestCert();
  });

  /** Fresh files in a fresh dir: the certificate, a 0600 key and a 0644 key. */
  function writeFiles(): void {
    dir = scratch.dir();
    certFile = join(dir, 'agent.crt');
    privateKey = join(dir, 'agent.key');
    openKey = join(dir, 'open.key');
    writeFileSync(certFile, cert.cert);
    chmodSync(certFile, 0o644);
    for (const [file, mode] of [
      [privateKey, 0o600],
      [openKey, 0o644],
    ] as const) {
      writeFileSync(file, cert.key);
      chmodSync(file, mode);
    }
  }

  it('is read only when private to its owner; a key group or others can read or write is refused by name', () => {
    writeFiles();
    expect(readAgentTls({ cert: certFile, key: privateKey, names: FLAGS })).toEqual({
      cert: Buffer.from(cert.cert),
      key: Buffer.from(cert.key),
    });
    for (const mode of [0o644, 0o640, 0o604, 0o620]) {
      chmodSync(openKey, mode);
      const shown = mode.toString(8).padStart(4, '0');
      expect(() => readAgentTls({ cert: certFile, key: openKey, names: FLAGS })).toThrow(
        `TLS key file ${openKey} is open to group or others (mode ${shown}): refusing it; chmod 600 ${openKey}`,
      );
    }
    expect(readAgentTls({ cert: undefined, key: undefined, names: FLAGS })).toBeUndefined();
    expect(() => readAgentTls({ cert: certFile, key: undefined, names: FLAGS })).toThrow(
      'https needs both --tls-cert and --tls-key',
    );
  });

  it('vmsnap agent refuses a --tls-key others can read before it serves', async () => {
    writeFiles();
    const env = cleanEnv({ VMSNAP_AGENT_TOKEN: 'tls-key-token-0123456789', VMSNAP_DATA_DIR: dir });
    const bin = join(REPO, 'bin/vmsnap.js');
    const agentArgs = ['agent', '--port', '0', '--accel', 'tcg', '--tls-cert', certFile, '--tls-key'];
    const refused = await startAgent([bin, ...agentArgs, openKey], env);
    expect(refused.url).toBeUndefined();
    expect(refused.code).toBe(1);
    expect(refused.output).toContain(`TLS key file ${openKey} is open to group or others (mode 0644)`);
  });

  describe('agent-main.ts (the env-driven agent process)', () => {
    const agentMain = ['--import', 'tsx', join(REPO, 'src/hypervisors/qemu/agent-main.ts')];
    const envFor = (key: string): NodeJS.ProcessEnv =>
      cleanEnv({
        VMSNAP_AGENT_TOKEN: 'tls-key-token-0123456789',
        VMSNAP_AGENT_PORT: '0',
        VMSNAP_AGENT_ACCEL: 'tcg',
        VMSNAP_AGENT_STATE_DIR: join(dir, 'state'),
        VMSNAP_AGENT_POOL_DIR: join(dir, 'pool'),
        VMSNAP_AGENT_TLS_CERT: certFile,
        VMSNAP_AGENT_TLS_KEY: key,
      });

    it('serves https with VMSNAP_AGENT_TLS_CERT and _KEY, and prints the fingerprint to pin', async () => {
      writeFiles();
      let presented = '';
      const started = await startAgent(agentMain, envFor(privateKey), async (url) => {
        presented = await presentedFingerprint(url);
      });
      expect(started.url, started.output).toMatch(/^https:\/\/127\.0\.0\.1:\d+/);
      expect(presented).toBe(cert.fingerprint);
      expect(started.fingerprint).toBe(cert.fingerprint);
    });

    it('refuses a key file others can read, naming it', async () => {
      writeFiles();
      const refused = await startAgent(agentMain, envFor(openKey));
      expect(refused.url).toBeUndefined();
      expect(refused.code).not.toBe(0);
      expect(refused.output).toContain(`TLS key file ${openKey} is open to group or others (mode 0644)`);
    });
  });
});
