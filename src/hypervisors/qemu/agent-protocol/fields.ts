/**
 * # The agent protocol's field rules
 *
 * The host agent runs as root and turns names into file names and numbers into QEMU arguments, so
 * every field a command carries is checked against the narrowest rule that still accepts what the
 * management server sends:
 * - names (VMs, snapshots, request ids, pool ids) from a safe alphabet: a letter or digit first,
 *   then letters, digits, `.`, `_`, `-`, at most 128 characters, never `..` (no separator, no
 *   traversal, no comma that QEMU would read as an option, no leading `-` read as a flag);
 * - UUIDs as UUIDs;
 * - integers as bounded integers (a string such as `"64,maxmem=1G"` is refused, not coerced);
 * - paths absolute, normalised (no `.`/`..` segment, no doubled separator), no NUL, bounded. Where a
 *   path may lead is decided on the agent, against the file system (`path-confinement.ts`).
 */
import path from 'node:path';
import { z } from 'zod';

export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** The agent's upper bounds on numbers (far above what vmsnap deploys, far below what breaks QEMU). */
export const LIMITS = {
  /** 1 TiB of guest RAM. */
  maxMemoryMb: 1024 * 1024,
  maxCpus: 256,
  /** 64 TiB: the largest disk a qcow2 image made here may have. */
  maxDiskBytes: 64 * 1024 ** 4,
  /** Disks per VM; device ids are below this. */
  maxVolumes: 64,
  /** A guest may stay frozen at most a day, whatever the caller asks. */
  maxBudgetMs: 24 * 3600_000,
  /** Parents above a snapshot (CloudStack keeps 10 snapshots per VM by default). */
  maxParentDepth: 1000,
  maxPathLength: 4096,
  maxTextLength: 4096,
  /** Epoch milliseconds: ±8.64e15 is the range of a JavaScript Date. */
  maxEpochMs: 8.64e15,
} as const;

export const safeName = z
  .string()
  .regex(NAME_PATTERN, 'must be 1-128 of [A-Za-z0-9._-], starting with a letter or digit')
  .refine((s) => !s.includes('..'), 'must not contain ".."');

export const uuid = z.uuid();

export function boundedInt(min: number, max: number) {
  return z.int().min(min).max(max);
}

export const text = z.string().max(LIMITS.maxTextLength);

function isCleanAbsolute(p: string): boolean {
  return path.isAbsolute(p) && path.normalize(p) === p && !p.includes('\0') && !/\/\.\.?(\/|$)/.test(p);
}

/** An absolute, normalised path (where it may point is checked on the agent). */
export const absolutePath = z
  .string()
  .min(1)
  .max(LIMITS.maxPathLength)
  .refine(isCleanAbsolute, 'must be an absolute, normalised path');

/** A volume's path: empty (the host picks it, as at CreateVM) or an absolute, normalised path. */
export const volumePath = z
  .string()
  .max(LIMITS.maxPathLength)
  .refine((p) => p === '' || isCleanAbsolute(p), 'must be empty or an absolute, normalised path');

/** Bytes, as answers report them (sizes, capacities): non-negative safe integers. */
export const byteCount = boundedInt(0, Number.MAX_SAFE_INTEGER);
