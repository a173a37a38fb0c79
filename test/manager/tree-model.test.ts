/**
 * Model test (fast-check): random create (memory or disk) / revert / delete / start / stop sequences on
 * the simulator (the same model runs on real QEMU: test/qemu-e2e/tree-model-qemu.test.ts). The model
 * (test/helpers/snapshot-tree-model.ts) predicts each outcome (accepted, or refused with CloudStack's
 * error) and the resulting tree; after every step the database must equal the model, keep the tree invariants
 * (at most one current, parents exist, no cycles) and agree with the simulator's own view.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dbSimulatorProblems, treeProblems, waitJob } from '../helpers/core-helpers.ts';
import {
  actionArb,
  applyAction,
  newVmModel,
  type Action,
  type ModelDriver,
  type VmModel,
} from '../helpers/snapshot-tree-model.ts';
import { openTestApp, type TestApp } from '../helpers/test-app.ts';

const VMS = ['web-1', 'db-1', 'app-1'] as const;

async function runSequence(t: TestApp, actions: readonly Action[]): Promise<void> {
  const models: VmModel[] = [];
  for (const name of VMS) {
    const vm = await t.vm(name);
    models.push(newVmModel(vm.id, vm.state === 'Running'));
  }
  const driver: ModelDriver = {
    snapshots: t.app.snapshotManager,
    vms: t.app.vmManager,
    caller: t.demo,
    async succeeded(jobId, where) {
      const job = await waitJob(t.app, jobId);
      expect(job.status, `${where}: ${job.result ?? ''}`).toBe('succeeded');
    },
  };
  for (const [step, action] of actions.entries()) {
    const model = models[action.vm]!;
    const where = `step ${step} ${JSON.stringify(action)}`;
    await applyAction(driver, model, action, where);
    await checkAgainstModel(t, model, where);
  }
}

async function checkAgainstModel(t: TestApp, m: VmModel, where: string): Promise<void> {
  const snaps = await t.app.deps.snapshots.listByVm(m.id);
  expect(snaps.map((s) => s.id).sort(), `${where}: snapshot set`).toEqual([...m.snaps.keys()].sort());
  for (const s of snaps) {
    expect(s.state, `${where}: ${s.name} state`).toBe('Ready');
    expect(s.parentId, `${where}: ${s.name} parent`).toBe(m.snaps.get(s.id)?.parent);
  }
  const current = snaps.filter((s) => s.current);
  // Exactly one current while the model has one; none only after the current root was deleted (or no snapshots).
  expect(
    current.map((s) => s.id),
    `${where}: current`,
  ).toEqual(m.current === null ? [] : [m.current]);
  if (m.current === null && m.snaps.size > 0) {
    expect(
      [...m.snaps.values()].some((s) => s.parent === null),
      `${where}: a current-less tree has roots`,
    ).toBe(true);
  }
  expect(treeProblems(snaps), where).toEqual([]);
  expect(await dbSimulatorProblems(t.app, m.id), where).toEqual([]);
  const vm = await t.app.deps.inventory.getVm(m.id);
  expect(vm?.state, `${where}: power`).toBe(m.running ? 'Running' : 'Stopped');
}

describe('snapshot tree model test (fast-check)', () => {
  it('random create/revert/delete/start/stop sequences keep the tree true and the simulator in agreement', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(actionArb(VMS.length), { minLength: 1, maxLength: 25 }), async (actions) => {
        const t = await openTestApp();
        try {
          await t.app.deps.settings.set('vmsnapshot.max', '1000');
          await runSequence(t, actions);
        } finally {
          await t.close();
        }
      }),
      { numRuns: 50, endOnFailure: true },
    );
    // 50 runs of at most 25 actions, bounded by count: the limit is only a backstop. It took ~60 s
    // under a CPU burner beside another suite and 87-90 s with the CI seed at its run count.
  }, 300_000);
});
