/**
 * # Agent commands: one zod schema per {@link AgentCommand} kind
 *
 * The core's types (`src/core/plugin-api.ts`) stay the contract; the assertions at the end of this
 * file fail `tsc` when a schema and its type drift apart. The host agent parses every command it
 * receives with {@link parseAgentCommand}: a refusal names the field (`vm.name`, `target.parent.name`,
 * `vm.memoryMb` ...). Unknown keys are dropped. Where paths may lead is checked on the agent, which
 * has the file system (`../path-confinement.ts`).
 */
import { z } from 'zod';
import type {
  AgentCommand,
  AgentCommandKind,
  CommandOf,
  VmSnapshotTO,
  VolumePoolTO,
  VolumeTO,
} from '../../../core/plugin-api.ts';
import { absolutePath, boundedInt, LIMITS, safeName, text, uuid } from './fields.ts';
import { checkVolumeLocation } from './volume-location.ts';
import { refusal, refusalOf, type Checked } from './refusal.ts';
import { storageCommandSchemas } from './storage-commands.ts';
import type { Equivalent, Mismatches } from './type-checks.ts';

const snapshotType = z.enum(['Disk', 'DiskAndMemory']);
const memoryMode = z.enum(['live', 'internal']);
const budgetMs = boundedInt(1, LIMITS.maxBudgetMs);

const vmSnapshotTO = z.object({
  id: uuid,
  name: safeName,
  type: snapshotType,
  description: text,
  current: z.boolean(),
  quiesce: z.boolean(),
  createdAt: boundedInt(0, LIMITS.maxEpochMs).nullable(),
  get parent() {
    return vmSnapshotTO.nullable();
  },
});

/**
 * The connection of a non-file pool (VolumeTO.pool). The url may hold a key: refusals name the
 * field, never echo its value. Provider-specific checks of the url refine this.
 */
const volumePoolTO = z.object({
  provider: safeName,
  url: z.string().min(1).max(LIMITS.maxTextLength),
  path: z.string().min(1).max(LIMITS.maxPathLength),
});

const volumeTO = z
  .object({
    id: uuid,
    type: z.enum(['ROOT', 'DATADISK']),
    // A file path (`volumePath`), or an image name on an RBD pool: checked with the pool below.
    path: z.string().max(LIMITS.maxPathLength),
    poolId: safeName,
    format: z.enum(['QCOW2', 'RAW']),
    size: boundedInt(0, LIMITS.maxDiskBytes),
    deviceId: boundedInt(0, LIMITS.maxVolumes - 1),
    pool: volumePoolTO.optional(),
  })
  .superRefine(checkVolumeLocation);

const volumes = z.array(volumeTO).max(LIMITS.maxVolumes).readonly();

const vmSpecTO = z.object({
  name: safeName,
  uuid,
  memoryMb: boundedInt(1, LIMITS.maxMemoryMb),
  cpus: boundedInt(1, LIMITS.maxCpus),
  volumes,
});

export const commandSchemas = {
  CreateVMSnapshot: z.object({
    kind: z.literal('CreateVMSnapshot'),
    vmName: safeName,
    vmUuid: uuid,
    target: vmSnapshotTO,
    volumes,
    quiesce: z.boolean(),
    memoryMode: memoryMode.optional(),
    freezeBudgetMs: budgetMs.optional(),
    requestId: safeName.optional(),
  }),
  RevertToVMSnapshot: z.object({
    kind: z.literal('RevertToVMSnapshot'),
    vmName: safeName,
    vmUuid: uuid,
    target: vmSnapshotTO,
    volumes,
    requestId: safeName.optional(),
  }),
  DeleteVMSnapshot: z.object({
    kind: z.literal('DeleteVMSnapshot'),
    vmName: safeName,
    target: vmSnapshotTO,
    volumes,
    requestId: safeName.optional(),
  }),
  CheckVMSnapshot: z.object({
    kind: z.literal('CheckVMSnapshot'),
    vmName: safeName,
    target: vmSnapshotTO,
    revertRequestId: safeName.optional(),
  }),
  StartVM: z.object({ kind: z.literal('StartVM'), vm: vmSpecTO }),
  StopVM: z.object({ kind: z.literal('StopVM'), vmName: safeName, force: z.boolean() }),
  FreezeThaw: z.object({
    kind: z.literal('FreezeThaw'),
    vmName: safeName,
    option: z.enum(['freeze', 'thaw', 'status']),
    budgetMs: budgetMs.optional(),
  }),
  GuestPing: z.object({ kind: z.literal('GuestPing'), vmName: safeName }),
  GetVmStates: z.object({ kind: z.literal('GetVmStates') }),
  CreateVM: z.object({ kind: z.literal('CreateVM'), vm: vmSpecTO, poolPath: absolutePath.optional() }),
  DestroyVM: z.object({ kind: z.literal('DestroyVM'), vmName: safeName }),
  GetInventory: z.object({ kind: z.literal('GetInventory') }),
  Ping: z.object({ kind: z.literal('Ping') }),
  ...storageCommandSchemas,
} as const satisfies { [K in AgentCommandKind]: z.ZodType };

export const agentCommandSchema = z.discriminatedUnion('kind', [
  commandSchemas.CreateVMSnapshot,
  commandSchemas.RevertToVMSnapshot,
  commandSchemas.DeleteVMSnapshot,
  commandSchemas.CheckVMSnapshot,
  commandSchemas.StartVM,
  commandSchemas.StopVM,
  commandSchemas.FreezeThaw,
  commandSchemas.GuestPing,
  commandSchemas.GetVmStates,
  commandSchemas.CreateVM,
  commandSchemas.DestroyVM,
  commandSchemas.GetInventory,
  commandSchemas.Ping,
  commandSchemas.StorageFsStats,
  commandSchemas.StorageSubvolumeCreate,
  commandSchemas.StorageSubvolumeSnapshot,
  commandSchemas.StorageSubvolumeList,
  commandSchemas.StorageSubvolumeRestore,
  commandSchemas.StorageSubvolumeDelete,
]);

/**
 * Parses a command as received. The parent chain is measured first, without recursion, so a
 * hostile body nested a million levels deep is refused before the recursive schema walks it.
 */
export function parseAgentCommand(body: unknown): Checked<AgentCommand> {
  if (parentCount(body) > LIMITS.maxParentDepth)
    return refusal('target.parent', `more than ${LIMITS.maxParentDepth} parents`);
  const parsed = agentCommandSchema.safeParse(body);
  return parsed.success ? { ok: true, value: parsed.data } : refusalOf(parsed.error);
}

/** Parents above `target`, counted up to one past the limit. */
function parentCount(body: unknown): number {
  const parentOf = (node: unknown): unknown =>
    typeof node === 'object' && node !== null ? (node as { parent?: unknown }).parent : undefined;
  let node = parentOf((body as { target?: unknown } | null)?.target);
  let parents = 0;
  while (typeof node === 'object' && node !== null && parents <= LIMITS.maxParentDepth) {
    node = parentOf(node);
    parents++;
  }
  return parents;
}

// ---------------------------------------------------------------------------------------------------
// Compile-time proof: each schema parses to exactly its kind's command type, and back.
// ---------------------------------------------------------------------------------------------------

type CommandPairs = { [K in AgentCommandKind]: [z.output<(typeof commandSchemas)[K]>, CommandOf<K>] };
const everyCommandMatches: [Mismatches<CommandPairs>] extends [never] ? true : Mismatches<CommandPairs> =
  true;
const unionMatches: Equivalent<z.output<typeof agentCommandSchema>, AgentCommand> = true;
const snapshotMatches: Equivalent<z.output<typeof vmSnapshotTO>, VmSnapshotTO> = true;
void everyCommandMatches;
void unionMatches;
const volumeMatches: Equivalent<z.output<typeof volumeTO>, VolumeTO> = true;
const volumePoolMatches: Equivalent<z.output<typeof volumePoolTO>, VolumePoolTO> = true;
void snapshotMatches;
void volumeMatches;
void volumePoolMatches;
