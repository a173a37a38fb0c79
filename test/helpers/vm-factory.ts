/**
 * Adds VMs to a seeded app the way src/app/seed.ts does: rows in `vms` and `volumes`, then the
 * simulator is told (CreateVM, and StartVM for running ones) so both views agree. Used by the
 * isolation tests (a VM for a second account) and the API benchmark (N VMs before timing).
 */
import { randomUUID } from 'node:crypto';
import { insertVmRows } from '../../src/store/inventory-store.ts';
import type { App } from '../../src/app/app.ts';
import type { VolumeTO } from '../../src/core/plugin-api.ts';

export interface VmRequest {
  readonly displayName: string;
  readonly running: boolean;
  /** Extra DATADISK volumes besides the ROOT one. */
  readonly dataDisks?: number;
}

export interface CreatedVm {
  readonly id: string;
  readonly instanceName: string;
  readonly hostId: string;
  readonly volumeIds: readonly string[];
}

const GiB = 1024 ** 3;

/** The seeded zone (the first one) and its hosts, oldest first. */
export async function firstZone(app: App): Promise<{ zoneId: string; hostIds: string[] }> {
  const { db } = app.deps;
  const zone = await db.selectFrom('zones').select('id').orderBy('created').executeTakeFirstOrThrow();
  const hosts = await db
    .selectFrom('hosts')
    .select('id')
    .where('zone_id', '=', zone.id)
    .orderBy('created')
    .execute();
  return { zoneId: zone.id, hostIds: hosts.map((h) => h.id) };
}

/** Creates `vms` for `accountId` in the first zone, spread over its hosts, on its first hypervisor pool. */
export async function createVms(
  app: App,
  accountId: string,
  vms: readonly VmRequest[],
): Promise<CreatedVm[]> {
  const { db } = app.deps;
  const { zoneId, hostIds } = await firstZone(app);
  const pool = await db
    .selectFrom('storage_pools')
    .select(['id', 'name'])
    .where('zone_id', '=', zoneId)
    .where('driver', '=', 'file')
    .orderBy('created')
    .executeTakeFirstOrThrow();
  if (hostIds.length === 0) throw new Error('the zone has no hosts');
  const out: CreatedVm[] = [];
  const specs: PendingSpec[] = [];
  const now = Date.now();
  // One transaction for all rows: thousands of autocommits would dominate a benchmark's setup.
  await db.transaction().execute(async (trx) => {
    for (const [i, req] of vms.entries()) {
      const id = randomUUID();
      const hostId = hostIds[i % hostIds.length]!;
      const instanceName = `i-9-${id.slice(0, 8)}-VM`;
      const volumes: VolumeTO[] = Array.from({ length: 1 + (req.dataDisks ?? 0) }, (_, d) => {
        const volId = randomUUID();
        return {
          id: volId,
          type: d === 0 ? 'ROOT' : 'DATADISK',
          path: `/sim/${pool.name}/${volId}.qcow2`,
          poolId: pool.id,
          format: 'QCOW2',
          size: (d === 0 ? 20 : 50) * GiB,
          deviceId: d,
        };
      });
      await insertVmRows(
        trx,
        {
          id,
          instanceName,
          displayName: req.displayName,
          state: req.running ? 'Running' : 'Stopped',
          hostId: req.running ? hostId : null,
          lastHostId: hostId,
          accountId,
          zoneId,
          hypervisor: 'Simulator',
          memoryMb: 1024,
          cpus: 1,
          created: now + i,
        },
        volumes.map((v) => ({
          ...v,
          name: `${v.type}-${instanceName}-${v.deviceId}`,
          state: 'Ready' as const,
        })),
      );
      out.push({ id, instanceName, hostId, volumeIds: volumes.map((v) => v.id) });
      specs.push({ name: instanceName, uuid: id, memoryMb: 1024, cpus: 1, volumes, running: req.running });
    }
  });
  // The simulator is told only after the rows are committed, so a failed insert leaves it untouched.
  for (const [i, vm] of out.entries()) {
    const { running, ...vmSpec } = specs[i]!;
    const agent = await app.agentFor(vm.hostId);
    await agent.execute({ kind: 'CreateVM', vm: vmSpec });
    if (running) await agent.execute({ kind: 'StartVM', vm: vmSpec });
  }
  return out;
}

interface PendingSpec {
  name: string;
  uuid: string;
  memoryMb: number;
  cpus: number;
  volumes: VolumeTO[];
  running: boolean;
}
