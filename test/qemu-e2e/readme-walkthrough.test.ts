/**
 * The README's "Real KVM hosts" walkthrough, run as written (issue 10, item 8): a real `vmsnap serve`
 * on a temporary data dir, the README's own agent command (real QEMU), then the README's admin block
 * line by line through `npx vmsnap`, with only the folders and the agent port swapped for the test's.
 * Then the outcome is checked through the API: the VM is on the KVM host, the snapshots are what the
 * block left, the disks are real files.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, itemsOf } from '../../src/cli/client/api-client.ts';
import { startServe, type ServeRun } from '../helpers/serve-process.ts';
import { cleanEnv } from '../cli/cli-process.ts';
import { describeQemu, scratchDir } from '../qemu/helpers.ts';
import { quitAllVms } from './e2e-helpers.ts';
import {
  commandsOf,
  runScript,
  startLongRunning,
  substitute,
  walkthroughBlocks,
  type LongRunning,
} from './readme-walkthrough.ts';

const ADMIN = { apiKey: 'readme-admin-key-0123456789', secretKey: 'readme-admin-secret-0123456789' };
/** Hang guards only (a loaded CI machine is slow): every wait ends as soon as its condition holds. */
const START_BOUND_MS = 60_000;
const SCRIPT_BOUND_MS = 600_000;

/** What the README holds for the host, and what the test uses instead. */
const README_DIR = '/var/lib/vmsnap';
const README_AGENT_PORT = '8250';

function hasJq(): boolean {
  try {
    execFileSync('jq', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('README walkthrough blocks (no QEMU needed)', () => {
  it('are there, one agent command on the KVM host, and every swapped string still in them', () => {
    const blocks = walkthroughBlocks();
    const kvmHost = blocks.get('kvm-host') ?? '';
    const admin = blocks.get('admin') ?? '';
    expect(commandsOf(kvmHost).filter((c) => c.startsWith('npx vmsnap agent '))).toHaveLength(1);
    expect(commandsOf(admin).length).toBeGreaterThan(5);
    substitute(kvmHost, { [README_DIR]: '/tmp/x', [`--port ${README_AGENT_PORT}`]: '--port 0' });
    substitute(admin, { [README_DIR]: '/tmp/x', [`:${README_AGENT_PORT}`]: ':1' });
  });
});

/** describeQemu, and jq as well: locally a skip with the reason, in CI a failure. */
function describeWalkthrough(name: string, fn: () => void): void {
  if (hasJq()) return describeQemu(name, fn);
  if (process.env.CI === 'true') {
    describe(name, () => {
      it('needs jq (apt-get install jq)', () =>
        expect.fail('jq not found, and CI=true: .ci/run installs it'));
    });
    return;
  }
  // The default reporter shows a skipped suite as a count only: say why where `npm test` shows it.
  console.warn('README walkthrough skipped: jq not installed (apt-get install jq)');
  describe.skip(`${name} (skipped: jq not installed)`, fn);
}

describeWalkthrough('README walkthrough against vmsnap serve + vmsnap agent + QEMU', () => {
  const scratch = scratchDir('readme');
  const hostDir = path.join(scratch.dir, 'vmsnap');
  const dataDir = path.join(scratch.dir, 'data');
  let serve: ServeRun | undefined;
  let agent: LongRunning | undefined;
  let env: NodeJS.ProcessEnv;
  let admin: ApiClient;
  let agentPort = '';

  beforeAll(async () => {
    mkdirSync(dataDir, { mode: 0o700 });
    serve = startServe(dataDir, {
      env: { VMSNAP_ADMIN_API_KEY: ADMIN.apiKey, VMSNAP_ADMIN_SECRET_KEY: ADMIN.secretKey },
    });
    const banner = await serve.ready();
    const endpoint = /vmsnap is running: (\S+)/.exec(banner)?.[1];
    if (endpoint === undefined) throw new Error(`no endpoint in the banner:\n${banner}`);
    env = cleanEnv({
      VMSNAP_ENDPOINT: endpoint,
      VMSNAP_API_KEY: ADMIN.apiKey,
      VMSNAP_SECRET_KEY: ADMIN.secretKey,
      VMSNAP_CLI_CONFIG: path.join(scratch.dir, 'cli.json'),
      VMSNAP_LOG_LEVEL: 'warn',
    });
    admin = new ApiClient({ profile: 'readme', endpoint, ...ADMIN });
    // The README's KVM host block: the token file, then the agent.
    const block = substitute(walkthroughBlocks().get('kvm-host') ?? '', {
      [README_DIR]: hostDir,
      // Any free port; the admin block gets the one the agent took.
      [`--port ${README_AGENT_PORT}`]: '--port 0',
    });
    const commands = commandsOf(block);
    const agentCommand = commands.find((c) => c.startsWith('npx vmsnap agent '));
    if (agentCommand === undefined) throw new Error('no agent command in the kvm-host block');
    const setup = await runScript(
      commands.filter((c) => c !== agentCommand),
      { env, boundMs: SCRIPT_BOUND_MS },
    );
    if (setup.code !== 0) throw new Error(`the kvm-host block failed:\n${setup.output}`);
    agent = startLongRunning(agentCommand, env);
    const listening = await agent.waitFor(/vmsnap-agent listening (\S+)/, START_BOUND_MS);
    agentPort = new URL(listening[1] ?? '').port;
  }, START_BOUND_MS * 3);

  afterAll(async () => {
    await agent?.stop();
    // QEMU outlives its agent by design.
    await quitAllVms(hostDir);
    await serve?.stop();
    scratch.cleanup();
  });

  it(
    'the admin block, line by line: addHost, deploy on KVM, snapshot, revert, delete',
    { timeout: SCRIPT_BOUND_MS + 60_000 },
    async () => {
      const block = substitute(walkthroughBlocks().get('admin') ?? '', {
        [README_DIR]: hostDir,
        [`:${README_AGENT_PORT}`]: `:${agentPort}`,
      });
      const run = await runScript(commandsOf(block), { env, boundMs: SCRIPT_BOUND_MS });
      expect(run.code, run.output).toBe(0);
      expect(run.output).toContain('reverted vm1 to snapshot mem-1; the VM is Running');
      expect(run.output).toContain('reverted vm1 to snapshot disk-1; the VM is Stopped');
      expect(run.output).toContain('deleted snapshot mem-1');

      const [vm] = itemsOf(await admin.call('listVirtualMachines', { name: 'vm1' }), 'virtualmachine');
      expect(vm?.['hypervisor']).toBe('KVM');
      expect(vm?.['state']).toBe('Running');
      const [host] = itemsOf(await admin.call('listHosts', { id: String(vm?.['hostid']) }), 'host');
      expect(host?.['hypervisor']).toBe('KVM');
      const snapshots = itemsOf(
        await admin.call('listVMSnapshot', { virtualmachineid: String(vm?.['id']) }),
        'vmSnapshot',
      );
      expect(snapshots.map((s) => [s['displayname'], s['type'], s['state']])).toEqual([
        ['disk-1', 'Disk', 'Ready'],
      ]);
      // The two disks deployVirtualMachine asked for are real qcow2 files in the agent's pool.
      const files = readdirSync(path.join(hostDir, 'pool'), { recursive: true }).map(String);
      expect(files.filter((f) => f.endsWith('.qcow2')).length).toBeGreaterThanOrEqual(2);
    },
  );
});
