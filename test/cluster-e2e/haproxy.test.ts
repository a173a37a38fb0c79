/**
 * The deployment recipe (issue 12): three `vmsnap serve` processes on one throwaway PostgreSQL behind
 * HAProxy with deploy/haproxy/haproxy.cfg, driven by the `cs` CloudStack client. Every request goes
 * to whichever server HAProxy picks, and any server may run the job: every snapshot becomes Ready
 * (before issue 12, jobs run by a server other than the one that seeded the zone failed with "can
 * not find vm"). Then one server is SIGKILLed: HAProxy's /health check takes it out and the
 * remaining two serve on. Skips locally without haproxy, python3-cs or PostgreSQL; never in CI.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTempDatabase, postgresUnavailable, type TempDatabase } from '../helpers/postgres.ts';
import {
  clusterSecrets,
  clusterToolsUnavailable,
  cs,
  freePort,
  healthOf,
  killHard,
  startHaproxy,
  startServer,
  stop,
  type ClusterSecrets,
  type RunningProcess,
} from './cluster-processes.ts';

const skip = postgresUnavailable() ?? clusterToolsUnavailable();
const SNAPSHOTS_PER_VM = 3;

interface Listed {
  readonly id: string;
  readonly state?: string;
  /** The name given at create (`name` is CloudStack's generated one). */
  readonly displayname?: string;
}

function items(answer: Record<string, unknown>, key: string): Listed[] {
  return (answer[key] as Listed[] | undefined) ?? [];
}

describe.skipIf(skip !== undefined)('three servers behind HAProxy on one PostgreSQL, driven by cs', () => {
  let database: TempDatabase;
  let secrets: ClusterSecrets;
  let lb: RunningProcess | undefined;
  const servers: RunningProcess[] = [];
  let endpoint = '';

  beforeAll(async () => {
    database = await createTempDatabase();
    secrets = clusterSecrets(database.url);
    const ports = [await freePort(), await freePort(), await freePort()];
    // The first start creates and seeds the database; the others join it.
    servers.push(await startServer(ports[0] as number, secrets));
    servers.push(...(await Promise.all(ports.slice(1).map((port) => startServer(port, secrets)))));
    const lbPort = await freePort();
    lb = await startHaproxy(lbPort, ports);
    endpoint = `http://127.0.0.1:${lbPort}`;
  }, 300_000);

  afterAll(async () => {
    if (lb !== undefined) await stop(lb);
    await Promise.all(servers.map((s) => stop(s)));
    await database?.drop();
  }, 120_000);

  it('/health through the load balancer reports the database reachable', async () => {
    const health = await healthOf(endpoint);
    expect(health?.status).toBe(200);
    expect(health?.body).toMatchObject({ status: 'ok', database: { reachable: true } });
  });

  it('snapshots taken, reverted and deleted through HAProxy all reach a final state, on any server', async () => {
    const vms = items(
      await cs(endpoint, secrets, 'listVirtualMachines', { listall: 'true' }),
      'virtualmachine',
    );
    expect(vms.length).toBeGreaterThanOrEqual(3);
    const chosen = vms.slice(0, 3);
    // One cs per VM at a time (a VM's jobs run one after another); the VMs in parallel.
    await Promise.all(
      chosen.map(async (vm) => {
        for (let n = 0; n < SNAPSHOTS_PER_VM; n += 1) {
          // A running Instance's first with memory, so it can be reverted to (a stopped one: any).
          const answer = await cs(endpoint, secrets, 'createVMSnapshot', {
            virtualmachineid: vm.id,
            name: `lb-${n}`,
            ...(n === 0 && vm.state === 'Running' ? { snapshotmemory: 'true' } : {}),
          });
          expect(answer['vmsnapshot'], JSON.stringify(answer)).toMatchObject({ state: 'Ready' });
        }
      }),
    );
    const listed = items(await cs(endpoint, secrets, 'listVMSnapshot', { listall: 'true' }), 'vmSnapshot');
    const ours = listed.filter((s) => s.displayname?.startsWith('lb-'));
    expect(ours).toHaveLength(chosen.length * SNAPSHOTS_PER_VM);
    expect(ours.every((s) => s.state === 'Ready')).toBe(true);

    const first = ours.find((s) => s.displayname === 'lb-0') as Listed;
    const reverted = await cs(endpoint, secrets, 'revertToVMSnapshot', { vmsnapshotid: first.id });
    expect(JSON.stringify(reverted)).not.toContain('errortext');
    const deleted = await cs(endpoint, secrets, 'deleteVMSnapshot', { vmsnapshotid: first.id });
    expect(deleted).toMatchObject({ success: true });
  }, 300_000);

  it('a SIGKILLed server is taken out of rotation: the next calls through HAProxy still succeed', async () => {
    await killHard(servers[1] as RunningProcess);
    const vms = items(
      await cs(endpoint, secrets, 'listVirtualMachines', { listall: 'true' }),
      'virtualmachine',
    );
    const vm = vms[0] as Listed;
    // HAProxy retries a refused connection on another server (retries, option redispatch).
    for (let n = 0; n < 4; n += 1) {
      const answer = await cs(endpoint, secrets, 'createVMSnapshot', {
        virtualmachineid: vm.id,
        name: `after-kill-${n}`,
      });
      expect(answer['vmsnapshot'], JSON.stringify(answer)).toMatchObject({ state: 'Ready' });
    }
  }, 300_000);
});
