/** The built-in `btrfs` storage driver (host-local disks); see btrfs-driver.ts. */
export { BTRFS_DRIVER_NAME, BtrfsStorageDriver } from './btrfs-driver.ts';
export { BtrfsPoolProvider, folderOf } from './btrfs-provider.ts';
