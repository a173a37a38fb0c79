/**
 * Shared set-up for the end-to-end tests: the QEMU host agent as its own process (what `vmsnap agent`
 * runs), its state file, stopping the VMs it leaves behind, and polling.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { HttpAgentClient } from '../../src/agent-client/http-agent-client.ts';
import { QmpClient } from '../../src/hypervisors/qemu/qmp-client.ts';
import { eventually } from '../helpers/eventually.ts';
import { repoRoot } from '../qemu/helpers.ts';

export const TOKEN = 'e2e-agent-token-0123456789';

export interface AgentProcess {
  readonly child: ChildProcess;
  readonly url: string;
  readonly port: number;
  readonly client: HttpAgentClient;
  /** Everything the process printed (JSON log lines). */
  output(): string;
}

export interface AgentDirs {
  readonly state: string;
  readonly pool: string;
}

export function agentDirs(dir: string): AgentDirs {
  return { state: path.join(dir, 'state'), pool: path.join(dir, 'pool') };
}

/** Starts `agent-main.ts` and resolves once it listens. `port` 0: any free port. */
export function spawnAgent(
  dir: string,
  env: Readonly<Record<string, string>> = {},
  port = 0,
): Promise<AgentProcess> {
  const dirs = agentDirs(dir);
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(repoRoot, 'src/hypervisors/qemu/agent-main.ts')],
    {
      cwd: repoRoot,
      env: {
        ...process.env,
        VMSNAP_AGENT_TOKEN: TOKEN,
        VMSNAP_AGENT_PORT: String(port),
        VMSNAP_AGENT_STATE_DIR: dirs.state,
        VMSNAP_AGENT_POOL_DIR: dirs.pool,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`agent did not start:\n${out}`)), 30_000);
    const onData = (chunk: Buffer): void => {
      out += chunk.toString();
      const match = /vmsnap-agent listening (\S+)/.exec(out);
      if (match?.[1]) {
        clearTimeout(timer);
        const url = match[1];
        resolve({
          child,
          url,
          port: Number(new URL(url).port),
          client: new HttpAgentClient({ url, token: TOKEN, timeoutMs: 120_000 }),
          output: () => out,
        });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`agent exited (${code}):\n${out}`));
    });
  });
}

/** Sends `signal` to a child process and waits for it to exit. */
export async function stopProcess(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  await exited;
}

export interface PersistedVm {
  readonly name: string;
  readonly freeze?: { deadline: number | null; owner: string } | null;
  readonly currentSnapshot?: string | null;
  readonly disks: { deviceId: number; active: string }[];
  readonly snapshots: { name: string; state: string; error?: string }[];
}

/** The VM as the agent's state file has it (what a restarted agent reads). */
export function persistedVm(dir: string, name: string): PersistedVm | undefined {
  const file = path.join(agentDirs(dir).state, 'qemu-agent-state.json');
  if (!existsSync(file)) return undefined;
  const state = JSON.parse(readFileSync(file, 'utf8')) as { vms: PersistedVm[] };
  return state.vms.find((v) => v.name === name);
}

/** QEMU outlives its agent by design: quit every VM through its QMP socket (the agent must be gone). */
export async function quitAllVms(dir: string): Promise<void> {
  const runDir = path.join(agentDirs(dir).state, 'run');
  if (!existsSync(runDir)) return;
  for (const socket of readdirSync(runDir).filter((f) => f.endsWith('.qmp'))) {
    const qmp = await QmpClient.connect(path.join(runDir, socket), { connectTimeoutMs: 500 }).catch(
      () => null,
    );
    await qmp?.execute('quit', undefined, 5000).catch(() => undefined);
    qmp?.close();
  }
  await new Promise((r) => setTimeout(r, 200));
}

/** Connects to a running VM's own QMP socket (only while no agent holds it). */
export function connectQmp(dir: string, vmName: string): Promise<QmpClient> {
  return QmpClient.connect(path.join(agentDirs(dir).state, 'run', `${vmName}.qmp`), {
    connectTimeoutMs: 5000,
  });
}

/** Polls `probe` until it returns a value (not undefined). */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  everyMs = 25,
): Promise<T> {
  return eventually(probe, what, { timeoutMs, everyMs });
}

/** The guest's freeze status through the agent (guest-fsfreeze-status). */
export async function freezeStatus(client: HttpAgentClient, vmName: string): Promise<string> {
  const answer = await client.execute({ kind: 'FreezeThaw', vmName, option: 'status' });
  return answer.result ? answer.status : `error: ${answer.details}`;
}

/** Waits until qemu-ga in the guest answers (the tiny guest boots in a few seconds on TCG). */
export async function waitGuestAgent(client: HttpAgentClient, vmName: string, timeoutMs = 90_000) {
  const started = Date.now();
  await waitFor(
    `the guest agent of ${vmName}`,
    async () => {
      const ping = await client.execute({ kind: 'GuestPing', vmName });
      return ping.result && ping.available ? true : undefined;
    },
    timeoutMs,
    100,
  );
  return Date.now() - started;
}
