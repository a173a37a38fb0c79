/**
 * The storage drivers vmsnap ships, registered by the composition root before any plugin, like a
 * plugin's drivers: the core names none of them. Add a built-in driver here.
 */
import type { StorageDriver } from '../core/plugin-api.ts';
import { CephRbdDriver } from '../storage-drivers/ceph-rbd/ceph-rbd-driver.ts';
import { FileStorageDriver } from '../storage-drivers/file/file-storage-driver.ts';

export function builtinStorageDrivers(): StorageDriver[] {
  return [new FileStorageDriver(), new CephRbdDriver()];
}
