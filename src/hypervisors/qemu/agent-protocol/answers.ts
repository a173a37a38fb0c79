/**
 * # Agent answers: one zod schema per command kind's answer
 *
 * The management server parses every answer a host agent sends with {@link parseAgentAnswer}
 * before it believes a word of it: a rogue or broken agent cannot hand the server a VM name with a
 * path in it, a negative size or a string where a number goes. Failures (`result: false`) carry
 * only their text. Unknown keys are dropped. The assertions at the end fail `tsc` when a schema and
 * the core's `AnswerOf<kind>` drift apart.
 */
import { z } from 'zod';
import type { AgentCommandKind, AnswerOf } from '../../../core/plugin-api.ts';
import { absolutePath, boundedInt, byteCount, LIMITS, safeName, text, uuid } from './fields.ts';
import { refusalOf, type Checked } from './refusal.ts';
import type { Mismatches } from './type-checks.ts';

const powerState = z.enum(['PowerOn', 'PowerOff']);
const memoryMode = z.enum(['live', 'internal']);
/** A count of answers the server keeps in memory: bounded so a hostile agent cannot flood it. */
const MAX_ITEMS = 100_000;

/** A volume's place on its host: a file, or an image name on a storage cluster (RBD). */
const volumeLocation = z.union([absolutePath, safeName]);
const volumeAnswerTO = z.object({ id: uuid, path: volumeLocation, size: byteCount });
const volumeAnswers = z.array(volumeAnswerTO).max(LIMITS.maxVolumes);

/** QEMU's clocks can yield NaN, which JSON turns into null: a missing timing, not a bad answer. */
const timing = z
  .number()
  .nullable()
  .transform((v) => (v === null || !Number.isFinite(v) ? undefined : v))
  .optional();
const hostTimings = z.object({
  pauseMs: timing,
  freezeMs: timing,
  maxFreezeMs: timing,
  frozenTotalMs: timing,
  totalMs: timing,
});

const inventoryVolume = z.object({
  id: uuid,
  type: z.enum(['ROOT', 'DATADISK']),
  path: volumeLocation,
  poolId: z.string().max(LIMITS.maxPathLength),
  format: z.enum(['QCOW2', 'RAW']),
  size: byteCount,
  deviceId: boundedInt(0, LIMITS.maxVolumes - 1),
});

const inventoryVm = z.object({
  name: safeName,
  /** Empty when the host does not know the VM's UUID (the server then gives it one). */
  uuid: z.union([uuid, z.literal('')]),
  memoryMb: boundedInt(1, LIMITS.maxMemoryMb),
  cpus: boundedInt(1, LIMITS.maxCpus),
  powerState,
  volumes: z.array(inventoryVolume).max(LIMITS.maxVolumes).readonly(),
});

const inventoryPool = z
  .object({
    name: z.string().min(1).max(255),
    path: volumeLocation,
    provider: safeName.optional(),
    capacityBytes: byteCount,
    usedBytes: byteCount,
  })
  .refine((p) => p.provider !== undefined || p.path.startsWith('/'), {
    path: ['path'],
    message: 'must be an absolute path for a folder pool',
  });

const payloads = {
  CreateVMSnapshot: {
    volumes: volumeAnswers,
    timings: hostTimings.optional(),
    memoryMode: memoryMode.optional(),
  },
  RevertToVMSnapshot: { volumes: volumeAnswers, powerState, timings: hostTimings.optional() },
  DeleteVMSnapshot: { volumes: volumeAnswers, hidden: z.boolean().optional() },
  CheckVMSnapshot: {
    exists: z.boolean(),
    volumes: volumeAnswers.optional(),
    current: z.boolean().optional(),
    powerState: powerState.optional(),
    revertApplied: z.boolean().optional(),
  },
  StartVM: { powerState },
  StopVM: { powerState },
  FreezeThaw: {
    status: z.enum(['frozen', 'thawed']),
    frozenFilesystems: boundedInt(0, MAX_ITEMS).optional(),
  },
  GuestPing: { available: z.boolean() },
  GetVmStates: {
    vms: z.array(z.object({ name: safeName, powerState })).max(MAX_ITEMS),
  },
  CreateVM: { volumes: volumeAnswers },
  DestroyVM: {},
  GetInventory: {
    vms: z.array(inventoryVm).max(MAX_ITEMS),
    pools: z.array(inventoryPool).max(MAX_ITEMS),
  },
  Ping: { hypervisor: z.enum(['Simulator', 'KVM']), accel: z.string().max(64).optional() },
  StorageFsStats: {
    exists: z.boolean(),
    fsType: z.string().max(64),
    capacityBytes: byteCount,
    usedBytes: byteCount,
  },
  StorageSubvolumeCreate: {},
  StorageSubvolumeSnapshot: { pauseMs: z.number().min(0).max(LIMITS.maxBudgetMs) },
  StorageSubvolumeList: {
    exists: z.boolean(),
    inUse: z.boolean(),
    snapshots: z.array(z.object({ name: safeName, files: z.array(safeName).max(MAX_ITEMS) })).max(MAX_ITEMS),
  },
  StorageSubvolumeRestore: {},
  StorageSubvolumeDelete: {},
} as const satisfies { [K in AgentCommandKind]: z.ZodRawShape };

const failure = z.object({ result: z.literal(false), details: text });

function answerSchema<K extends AgentCommandKind>(kind: K) {
  const success = z.object({ result: z.literal(true), details: text.optional(), ...payloads[kind] });
  return z.discriminatedUnion('result', [success, failure]);
}

export const answerSchemas = {
  CreateVMSnapshot: answerSchema('CreateVMSnapshot'),
  RevertToVMSnapshot: answerSchema('RevertToVMSnapshot'),
  DeleteVMSnapshot: answerSchema('DeleteVMSnapshot'),
  CheckVMSnapshot: answerSchema('CheckVMSnapshot'),
  StartVM: answerSchema('StartVM'),
  StopVM: answerSchema('StopVM'),
  FreezeThaw: answerSchema('FreezeThaw'),
  GuestPing: answerSchema('GuestPing'),
  GetVmStates: answerSchema('GetVmStates'),
  CreateVM: answerSchema('CreateVM'),
  DestroyVM: answerSchema('DestroyVM'),
  GetInventory: answerSchema('GetInventory'),
  Ping: answerSchema('Ping'),
  StorageFsStats: answerSchema('StorageFsStats'),
  StorageSubvolumeCreate: answerSchema('StorageSubvolumeCreate'),
  StorageSubvolumeSnapshot: answerSchema('StorageSubvolumeSnapshot'),
  StorageSubvolumeList: answerSchema('StorageSubvolumeList'),
  StorageSubvolumeRestore: answerSchema('StorageSubvolumeRestore'),
  StorageSubvolumeDelete: answerSchema('StorageSubvolumeDelete'),
} as const;

/** The same map, typed per kind, so a generic `kind` picks its own answer type. */
const schemaOf: { [K in AgentCommandKind]: z.ZodType<AnswerOf<K>> } = answerSchemas;

/** Parses the answer to a command of `kind`; a refusal names the field that was wrong. */
export function parseAgentAnswer<K extends AgentCommandKind>(kind: K, body: unknown): Checked<AnswerOf<K>> {
  const parsed = schemaOf[kind].safeParse(body);
  return parsed.success ? { ok: true, value: parsed.data } : refusalOf(parsed.error);
}

// ---------------------------------------------------------------------------------------------------
// Compile-time proof: each schema parses to exactly its kind's answer type, and back.
// ---------------------------------------------------------------------------------------------------

type AnswerPairs = { [K in AgentCommandKind]: [z.output<(typeof answerSchemas)[K]>, AnswerOf<K>] };
const everyAnswerMatches: [Mismatches<AnswerPairs>] extends [never] ? true : Mismatches<AnswerPairs> = true;
void everyAnswerMatches;
