/**
 * # Host-local storage commands (`Storage*`): their zod schemas
 *
 * Sent by the `btrfs` storage driver to the VM's host. A command names a pool folder (an absolute,
 * normalised path the agent confines to its pool root, as every other path) and otherwise only
 * names from the safe alphabet: the subvolume (the VM's name), the snapshot, a disk file. The agent
 * joins them under `<poolPath>/vms/` and `<poolPath>/snaps/` itself, so no name can climb out.
 */
import { z } from 'zod';
import { absolutePath, safeName } from './fields.ts';

const subvolumeCommand = { poolPath: absolutePath, subvolume: safeName };

export const storageCommandSchemas = {
  StorageFsStats: z.object({ kind: z.literal('StorageFsStats'), poolPath: absolutePath }),
  StorageSubvolumeCreate: z.object({ kind: z.literal('StorageSubvolumeCreate'), ...subvolumeCommand }),
  StorageSubvolumeSnapshot: z.object({
    kind: z.literal('StorageSubvolumeSnapshot'),
    ...subvolumeCommand,
    snapshot: safeName,
  }),
  StorageSubvolumeList: z.object({ kind: z.literal('StorageSubvolumeList'), ...subvolumeCommand }),
  StorageSubvolumeRestore: z.object({
    kind: z.literal('StorageSubvolumeRestore'),
    ...subvolumeCommand,
    snapshot: safeName,
    file: safeName.optional(),
  }),
  StorageSubvolumeDelete: z.object({
    kind: z.literal('StorageSubvolumeDelete'),
    ...subvolumeCommand,
    snapshot: safeName.optional(),
  }),
} as const;
