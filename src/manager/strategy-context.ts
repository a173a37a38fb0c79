/**
 * The StrategyContext handed to a strategy for one operation on one snapshot. Phase times and
 * checkpoints are written to the snapshot's details, so the API shows where the time went and
 * recovery sees how far an interrupted operation got.
 */
import type { SnapshotFacts, StrategyContext } from '../core/plugin-api.ts';
import { pickHost } from './host-picker.ts';
import type { ManagerDeps } from './manager-deps.ts';

export interface RecordingContext extends StrategyContext {
  /** Phase durations measured so far, as the snapshot's facts. */
  phaseFacts(): SnapshotFacts;
}

export function strategyContext(deps: ManagerDeps, snapshotId: string): RecordingContext {
  const phases: Record<string, number> = {};
  return {
    agents: deps.agents,
    pickHost: (vm, volumes) => pickHost(deps.inventory, vm, volumes),
    storageDriver: (name) => deps.registry.storageDrivers.get(name),
    // Plugins name settings at run time: checked when read, not when compiled.
    setting: (name) => deps.settings.getByName(name),
    numberSetting: (name) => Number(deps.settings.getByName(name)),
    log: deps.log,
    async phase<T>(name: string, fn: () => Promise<T>): Promise<T> {
      const start = performance.now();
      try {
        return await fn();
      } finally {
        phases[name] = Math.round(((phases[name] ?? 0) + performance.now() - start) * 100) / 100;
      }
    },
    async checkpoint(step, data = {}) {
      await deps.snapshots.mergeDetails(snapshotId, { checkpoint: step, ...data });
    },
    phaseFacts: () => ({ phaseMs: { ...phases } }),
  };
}
