/**
 * Strategies and storage drivers, in registration order. A new snapshot goes to the strictly
 * highest `canHandle` priority (ties: first registered, as CloudStack's StorageStrategyFactoryImpl).
 * An existing snapshot is bound to the strategy recorded on it; no hidden detail rows.
 */
import {
  StrategyPriority,
  type CanHandleInput,
  type StorageDriver,
  type VmSnapshotStrategy,
} from '../core/plugin-api.ts';
import { CloudRuntimeError } from '../core/errors.ts';

export class StrategyRegistry {
  private readonly strategies: VmSnapshotStrategy[] = [];
  private readonly drivers = new Map<string, StorageDriver>();

  registerStrategy(strategy: VmSnapshotStrategy): void {
    if (this.strategies.some((s) => s.name === strategy.name)) {
      throw new Error(`a VM snapshot strategy named ${strategy.name} is already registered`);
    }
    this.strategies.push(strategy);
  }

  registerStorageDriver(driver: StorageDriver): void {
    if (this.drivers.has(driver.name))
      throw new Error(`a storage driver named ${driver.name} is already registered`);
    this.drivers.set(driver.name, driver);
  }

  get storageDrivers(): ReadonlyMap<string, StorageDriver> {
    return this.drivers;
  }

  get strategyNames(): string[] {
    return this.strategies.map((s) => s.name);
  }

  /** The strategy for a new snapshot, or undefined when none does better than CANT_HANDLE. */
  bestMatch(input: CanHandleInput): VmSnapshotStrategy | undefined {
    let best: VmSnapshotStrategy | undefined;
    let bestPriority: StrategyPriority = StrategyPriority.CANT_HANDLE;
    for (const strategy of this.strategies) {
      const priority = strategy.canHandle(input);
      if (priority > bestPriority) {
        best = strategy;
        bestPriority = priority;
      }
    }
    return best;
  }

  /** The strategy that took a snapshot; a clear error if that plugin is no longer installed. */
  boundTo(snapshot: { readonly name: string; readonly strategy: string | null }): VmSnapshotStrategy {
    const strategy = this.strategies.find((s) => s.name === snapshot.strategy);
    if (strategy === undefined) {
      throw new CloudRuntimeError(
        `Can't find Instance Snapshot strategy for vmsnapshot: ${snapshot.name}: it was taken by strategy ` +
          `'${snapshot.strategy ?? 'unknown'}', which is not installed (installed: ${this.strategyNames.join(', ')})`,
      );
    }
    return strategy;
  }
}
