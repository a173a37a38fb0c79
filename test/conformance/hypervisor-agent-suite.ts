/**
 * What every hypervisor agent must do, as the manager and the hypervisor strategy rely on it: one
 * suite run against every agent (the simulator and the QEMU host agent), as Nova runs one driver
 * test case against every virt driver. It speaks only the agent protocol (`execute`), on one VM
 * with two disks, in the order a user would: create, start, disk snapshot, check, revert, delete,
 * stop. Kept to the essentials so it stays fast on real QEMU.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  AgentCommand,
  AnswerFor,
  HypervisorAgent,
  VmSnapshotTO,
  VmSpecTO,
  VolumeAnswerTO,
  VolumeTO,
} from 'vmsnap/plugin-api';

export interface AgentUnderTest {
  readonly agent: HypervisorAgent;
  /** Stops what the agent runs and removes its files. */
  close(): Promise<void>;
}

export interface HypervisorAgentSuiteOptions {
  /** The `describe` to register with, e.g. one that skips without QEMU. */
  readonly describe?: (name: string, fn: () => void) => void;
}

const MIB = 1024 * 1024;

/** Registers the conformance tests for the agent `open` gives (called once, before the tests). */
export function hypervisorAgentSuite(
  name: string,
  open: () => Promise<AgentUnderTest>,
  options: HypervisorAgentSuiteOptions = {},
): void {
  (options.describe ?? describe)(`hypervisor agent conformance: ${name}`, () => {
    let under: AgentUnderTest | undefined;
    const vm = spec(`conf-${randomUUID().slice(0, 8)}`);
    // The volumes as the manager keeps them: updated from every answer that reports paths.
    let volumes: readonly VolumeTO[] = vm.volumes;
    const snapshot = target('conf-s1');

    async function run<C extends AgentCommand>(command: C): Promise<Extract<AnswerFor<C>, { result: true }>> {
      if (under === undefined) throw new Error('the agent did not open');
      const answer = await under.agent.execute(command);
      if (!answer.result) throw new Error(`${command.kind} failed: ${answer.details}`);
      return answer;
    }
    function adopt(answered: readonly VolumeAnswerTO[]): void {
      expect(answered.map((v) => v.id).sort()).toEqual(vm.volumes.map((v) => v.id).sort());
      for (const v of answered) expect(v.path).not.toBe('');
      volumes = volumes.map((v) => {
        const a = answered.find((x) => x.id === v.id)!;
        return { ...v, path: a.path, size: a.size };
      });
    }
    const powerOf = async (): Promise<string | undefined> =>
      (await run({ kind: 'GetVmStates' })).vms.find((v) => v.name === vm.name)?.powerState;

    beforeAll(async () => {
      under = await open();
    });
    afterAll(async () => {
      await under?.agent.execute({ kind: 'DestroyVM', vmName: vm.name }).catch(() => undefined);
      await under?.close();
    });

    it('creates a VM with one path per volume, and starts it', async () => {
      adopt((await run({ kind: 'CreateVM', vm })).volumes);
      expect((await run({ kind: 'StartVM', vm: { ...vm, volumes } })).powerState).toBe('PowerOn');
      expect(await powerOf()).toBe('PowerOn');
    });

    it('takes a disk snapshot of the running VM, answering every volume', async () => {
      const taken = await run({
        kind: 'CreateVMSnapshot',
        vmName: vm.name,
        vmUuid: vm.uuid,
        target: snapshot,
        volumes,
        quiesce: false,
      });
      adopt(taken.volumes);
      expect(await powerOf()).toBe('PowerOn');
    });

    it('finds the snapshot it took, and not one it never took', async () => {
      expect(await run({ kind: 'CheckVMSnapshot', vmName: vm.name, target: snapshot })).toMatchObject({
        exists: true,
        current: true,
      });
      const never = target('conf-never');
      expect((await run({ kind: 'CheckVMSnapshot', vmName: vm.name, target: never })).exists).toBe(false);
    });

    it('reverts to it: a disk-only snapshot leaves the VM off, and the revert is known as applied', async () => {
      const requestId = randomUUID();
      const reverted = await run({
        kind: 'RevertToVMSnapshot',
        vmName: vm.name,
        vmUuid: vm.uuid,
        target: snapshot,
        volumes,
        requestId,
      });
      expect(reverted.powerState).toBe('PowerOff');
      adopt(reverted.volumes);
      expect(await powerOf()).not.toBe('PowerOn');
      const asked = (revertRequestId: string) =>
        run({ kind: 'CheckVMSnapshot', vmName: vm.name, target: snapshot, revertRequestId });
      expect((await asked(requestId)).revertApplied).toBe(true);
      expect((await asked(randomUUID())).revertApplied).toBe(false);
    });

    it('deletes it, and a second delete of the same snapshot also succeeds', async () => {
      const deleted = await run({ kind: 'DeleteVMSnapshot', vmName: vm.name, target: snapshot, volumes });
      expect(deleted.hidden ?? false).toBe(false);
      adopt(deleted.volumes);
      expect((await run({ kind: 'CheckVMSnapshot', vmName: vm.name, target: snapshot })).exists).toBe(false);
      await run({ kind: 'DeleteVMSnapshot', vmName: vm.name, target: snapshot, volumes });
    });

    it('starts the reverted VM again and stops it', async () => {
      expect((await run({ kind: 'StartVM', vm: { ...vm, volumes } })).powerState).toBe('PowerOn');
      expect((await run({ kind: 'StopVM', vmName: vm.name, force: true })).powerState).toBe('PowerOff');
      expect(await powerOf()).not.toBe('PowerOn');
    });
  });
}

/** Two small QCOW2 disks; ids are UUIDs, as the agent protocol requires. */
function spec(name: string): VmSpecTO {
  return {
    name,
    uuid: randomUUID(),
    memoryMb: 64,
    cpus: 1,
    volumes: [0, 1].map((deviceId) => ({
      id: randomUUID(),
      type: deviceId === 0 ? ('ROOT' as const) : ('DATADISK' as const),
      path: '',
      poolId: 'pool',
      format: 'QCOW2' as const,
      size: 16 * MIB,
      deviceId,
    })),
  };
}

function target(name: string): VmSnapshotTO {
  return {
    id: randomUUID(),
    name,
    type: 'Disk',
    description: '',
    current: true,
    quiesce: false,
    createdAt: Date.now(),
    parent: null,
  };
}
