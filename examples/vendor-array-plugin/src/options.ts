/**
 * The plugin's options, as written in vmsnap's config (`plugins[].options`), checked by hand:
 * the package depends on the contract file only, so no schema library.
 */
import {
  ARRAY_OPERATIONS,
  type ArrayFault,
  type ArrayOperation,
  type RevertMode,
} from './simulated-array.ts';
import { DEFAULT_DRIVER_NAME } from './array-driver.ts';

export interface VendorArrayOptions {
  /** Storage driver name that vmsnap pools refer to. Default `vendor-array`. */
  readonly name: string;
  /** Simulated round-trip time of every array call, in ms. Default 0. */
  readonly latencyMs: number;
  /** `latest-only` refuses a revert past newer snapshots (ZFS / Cinder style). Default `any`. */
  readonly revertMode: RevertMode;
  /** Array limit of snapshots per volume; null for none. Default null. */
  readonly maxSnapshotsPerVolume: number | null;
  /** Pools that exist from the start; others are created when a volume names them. Default []. */
  readonly pools: readonly string[];
  /** Faults armed at start, e.g. `[{ "op": "take", "count": 1 }]`. Default []. */
  readonly faults: readonly ArrayFault[];
  /** Whether vmsnap should freeze the guest around this driver's cut. Default true. */
  readonly needsQuiesce: boolean;
}

export function parseVendorArrayOptions(raw: Readonly<Record<string, unknown>>): VendorArrayOptions {
  return {
    name: optionalString(raw, 'name') ?? DEFAULT_DRIVER_NAME,
    latencyMs: optionalNumber(raw, 'latencyMs') ?? 0,
    revertMode: parseRevertMode(raw['revertMode']),
    maxSnapshotsPerVolume:
      raw['maxSnapshotsPerVolume'] === null ? null : (optionalNumber(raw, 'maxSnapshotsPerVolume') ?? null),
    pools: parsePools(raw['pools']),
    faults: parseFaults(raw['faults']),
    needsQuiesce: parseBoolean(raw['needsQuiesce'], 'needsQuiesce') ?? true,
  };
}

function fail(option: string, expected: string, value: unknown): never {
  throw new Error(`vendor-array: option ${option} must be ${expected}, got ${JSON.stringify(value)}`);
}

function optionalString(raw: Readonly<Record<string, unknown>>, key: string): string | undefined {
  const value = raw[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0) fail(key, 'a non-empty string', value);
  return value;
}

function optionalNumber(raw: Readonly<Record<string, unknown>>, key: string): number | undefined {
  const value = raw[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
    fail(key, 'a non-negative number', value);
  return value;
}

function parseBoolean(value: unknown, key: string): boolean | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') fail(key, 'true or false', value);
  return value;
}

function parseRevertMode(value: unknown): RevertMode {
  if (value === undefined) return 'any';
  if (value === 'any' || value === 'latest-only') return value;
  return fail('revertMode', '"any" or "latest-only"', value);
}

function parsePools(value: unknown): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((p) => typeof p === 'string'))
    fail('pools', 'an array of strings', value);
  return value;
}

function parseFaults(value: unknown): ArrayFault[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) fail('faults', 'an array of {op, count}', value);
  return value.map((item: unknown) => parseFault(item));
}

function parseFault(item: unknown): ArrayFault {
  const expected = `{op: ${ARRAY_OPERATIONS.join('|')}, count: integer, message?: string}`;
  if (typeof item !== 'object' || item === null) fail('faults[]', expected, item);
  const { op, count, message } = item as Record<string, unknown>;
  if (!ARRAY_OPERATIONS.includes(op as ArrayOperation)) fail('faults[].op', ARRAY_OPERATIONS.join(' | '), op);
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 0)
    fail('faults[].count', 'a non-negative integer', count);
  if (message !== undefined && typeof message !== 'string') fail('faults[].message', 'a string', message);
  return { op: op as ArrayOperation, count, ...(message === undefined ? {} : { message }) };
}
