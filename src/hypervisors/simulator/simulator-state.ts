/**
 * The simulator's durable records: what every simulated host "has" (VMs, their power state, guest
 * agent, freeze, snapshot tree) and the run-time fault rules, with the schemas that check them when
 * they are read back (simulator-persistence.ts keeps them, in the management database on a server).
 *
 * They are apart from the management server's own tables (vms, vm_snapshots…), so the two can
 * disagree after a crash exactly as a real hypervisor and CloudStack's database can.
 */
import { z } from 'zod';
import { AGENT_COMMAND_KINDS } from '../../core/plugin-api.ts';

const volumeSchema = z.object({
  id: z.string(),
  type: z.enum(['ROOT', 'DATADISK']),
  path: z.string(),
  poolId: z.string(),
  format: z.enum(['QCOW2', 'RAW']),
  size: z.number(),
  deviceId: z.number(),
});

const snapshotVolumeSchema = z.object({ id: z.string(), path: z.string(), size: z.number() });

const snapshotSchema = z.object({
  id: z.string(),
  name: z.string(),
  type: z.enum(['Disk', 'DiskAndMemory']),
  description: z.string(),
  /** Name of the parent snapshot in this VM's tree, null for a root. */
  parentName: z.string().nullable(),
  createdAt: z.number(),
  quiesced: z.boolean(),
  volumes: z.array(snapshotVolumeSchema),
});

const freezeWindowSchema = z.object({
  frozenAt: z.number(),
  thawedAt: z.number(),
  ms: z.number(),
  /** `agent`: thawed through the guest agent; `watchdog`: the freeze budget ran out; `reset`: stop, revert, destroy. */
  thawedBy: z.enum(['agent', 'watchdog', 'reset']),
});

const vmSchema = z.object({
  name: z.string(),
  uuid: z.string(),
  zoneId: z.string(),
  /** The host the VM runs on, or last ran on (a stopped VM's disks are on shared storage). */
  hostId: z.string().nullable(),
  memoryMb: z.number(),
  cpus: z.number(),
  powerState: z.enum(['PowerOn', 'PowerOff']),
  volumes: z.array(volumeSchema),
  frozen: z.boolean(),
  frozenAt: z.number().nullable(),
  /** Epoch ms at which the freeze watchdog thaws the guest on its own; persisted so a restart honours it. */
  freezeDeadline: z.number().nullable(),
  snapshots: z.record(z.string(), snapshotSchema),
  currentSnapshot: z.string().nullable(),
  /** The `requestId` of the last revert applied (recovery asks about it). */
  lastRevertRequest: z.string().nullable().optional(),
  counters: z.object({ freezes: z.number(), thaws: z.number(), watchdogThaws: z.number() }),
  lastFreezeWindow: freezeWindowSchema.nullable(),
});

export const guestAgentModeSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('present') }),
  z.object({ kind: z.literal('absent') }),
  z.object({ kind: z.literal('slow'), ms: z.number().nonnegative() }),
  z.object({ kind: z.literal('hung') }),
]);

const agentCommandKinds = AGENT_COMMAND_KINDS;

export const faultRuleSchema = z.object({
  id: z.string(),
  command: z.enum([...agentCommandKinds, '*']),
  scope: z.object({
    zoneId: z.string().optional(),
    hostId: z.string().optional(),
    vmName: z.string().optional(),
  }),
  action: z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('fail'), message: z.string().optional() }),
    z.object({ kind: z.literal('throw'), message: z.string().optional() }),
    z.object({ kind: z.literal('delay'), ms: z.number().nonnegative() }),
    z.object({ kind: z.literal('hang') }),
  ]),
  /** Matches left; null = forever. */
  count: z.number().int().positive().nullable(),
});

export type SimVolume = z.infer<typeof volumeSchema>;
export type SimSnapshotVolume = z.infer<typeof snapshotVolumeSchema>;
export type SimSnapshot = z.infer<typeof snapshotSchema>;
export type FreezeWindow = z.infer<typeof freezeWindowSchema>;
export type SimVm = z.infer<typeof vmSchema>;
export type GuestAgentMode = z.infer<typeof guestAgentModeSchema>;

/** A stored record read back; a row that does not fit its schema is refused with a clear error. */
function parseRecord<T>(schema: z.ZodType<T>, body: string, what: string): T {
  const parsed = schema.safeParse(JSON.parse(body));
  if (!parsed.success) throw new Error(`Invalid simulator state in ${what}: ${parsed.error.message}`);
  return parsed.data;
}

export function parseVm(body: string, name: string): SimVm {
  return parseRecord(vmSchema, body, `vm ${name}`);
}

export function parseGuestAgentRecord(body: string, name: string): GuestAgentMode {
  return parseRecord(guestAgentModeSchema, body, `guest agent of ${name}`);
}

export function parseFaultRule(body: string, id: string): z.infer<typeof faultRuleSchema> {
  return parseRecord(faultRuleSchema, body, `fault rule ${id}`);
}
