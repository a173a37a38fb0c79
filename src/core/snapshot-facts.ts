/**
 * A snapshot's facts ({@link SnapshotFacts}) and the flat `details` map they are stored as: one
 * place that knows the key names (`phase.<name>.ms`, `driver.<name>.ms`, `pauseMs` …), so writers
 * and readers share them instead of building and parsing strings. The key names are those rows
 * written before this module existed already use.
 */
import type { MemorySnapshotMode, QuiescePolicy, SnapshotFacts } from './plugin-api.ts';
import { CONSISTENCIES, MEMORY_SNAPSHOT_MODES, QUIESCE_POLICIES, THAW_OUTCOMES } from './plugin-api.ts';

/** The stored form: one JSON object of scalars per snapshot. */
export type DetailsMap = Record<string, string | number | boolean>;

type Scalar = string | number | boolean;
type Mutable<T> = { -readonly [K in keyof T]: T[K] };

interface Codec<T> {
  write(value: T): Scalar;
  read(value: Scalar): T | undefined;
}

function oneOf<T extends string>(values: readonly T[]): Codec<T> {
  return {
    write: (v) => v,
    read: (v) => ((values as readonly Scalar[]).includes(v) ? (v as T) : undefined),
  };
}

const numberCodec: Codec<number> = {
  write: (v) => v,
  read: (v) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined),
};
const stringCodec: Codec<string> = {
  write: (v) => v,
  read: (v) => (typeof v === 'string' ? v : undefined),
};
const booleanCodec: Codec<boolean> = {
  write: (v) => v,
  read: (v) => (typeof v === 'boolean' ? v : undefined),
};

/** The scalar facts and how each is stored; the two timing maps are handled on their own. */
const SCALARS = {
  consistency: oneOf(CONSISTENCIES),
  pauseMs: numberCodec,
  freezeWindowMs: numberCodec,
  maxFreezeMs: numberCodec,
  frozenTotalMs: numberCodec,
  revertPauseMs: numberCodec,
  totalMs: numberCodec,
  memoryMode: oneOf<MemorySnapshotMode>(MEMORY_SNAPSHOT_MODES),
  host: stringCodec,
  drivers: {
    write: (v: readonly string[]): Scalar => v.join(','),
    read: (v: Scalar): readonly string[] | undefined =>
      typeof v === 'string' ? v.split(',').filter((d) => d.length > 0) : undefined,
  },
  thaw: oneOf(THAW_OUTCOMES),
  quiescePolicy: oneOf<QuiescePolicy>(QUIESCE_POLICIES),
  quiesceNote: stringCodec,
  recovered: booleanCodec,
  error: stringCodec,
} satisfies { [K in ScalarKey]-?: Codec<NonNullable<SnapshotFacts[K]>> };
type ScalarKey = Exclude<keyof SnapshotFacts, 'phaseMs' | 'driverMs'>;

const TIMING_MAPS = [
  { fact: 'phaseMs', prefix: 'phase.' },
  { fact: 'driverMs', prefix: 'driver.' },
] as const;
const MS_SUFFIX = '.ms';

/** Facts -> the stored map. Absent facts write no key. */
export function factsToDetails(facts: SnapshotFacts): DetailsMap {
  const out: DetailsMap = {};
  for (const key of Object.keys(SCALARS) as ScalarKey[]) {
    const value = facts[key];
    if (value !== undefined) out[key] = (SCALARS[key] as Codec<typeof value>).write(value);
  }
  for (const { fact, prefix } of TIMING_MAPS) {
    for (const [name, ms] of Object.entries(facts[fact] ?? {})) out[`${prefix}${name}${MS_SUFFIX}`] = ms;
  }
  return out;
}

/**
 * The stored map -> facts. Keys it does not know (recovery checkpoints) and values of the wrong
 * type are left out: a reader never sees a fact it cannot trust.
 */
export function factsFromDetails(details: Readonly<DetailsMap>): SnapshotFacts {
  const out: Mutable<SnapshotFacts> = {};
  const put = out as Record<string, unknown>;
  for (const key of Object.keys(SCALARS) as ScalarKey[]) {
    const stored = details[key];
    const value = stored === undefined ? undefined : SCALARS[key].read(stored);
    if (value !== undefined) put[key] = value;
  }
  for (const { fact, prefix } of TIMING_MAPS) {
    const times = timingsOf(details, prefix);
    if (times !== undefined) out[fact] = times;
  }
  return out;
}

/**
 * Facts gathered by several parties (strategy, phase timer, manager) -> one; later ones win per
 * fact, and the timing maps are merged per name.
 */
export function mergeFacts(...parts: readonly (SnapshotFacts | undefined)[]): SnapshotFacts {
  let out: SnapshotFacts = {};
  for (const part of parts) {
    if (part === undefined) continue;
    const phaseMs = part.phaseMs === undefined ? out.phaseMs : { ...out.phaseMs, ...part.phaseMs };
    const driverMs = part.driverMs === undefined ? out.driverMs : { ...out.driverMs, ...part.driverMs };
    out = {
      ...out,
      ...part,
      ...(phaseMs !== undefined ? { phaseMs } : {}),
      ...(driverMs !== undefined ? { driverMs } : {}),
    };
  }
  return out;
}

function timingsOf(details: Readonly<DetailsMap>, prefix: string): Record<string, number> | undefined {
  let times: Record<string, number> | undefined;
  for (const [key, value] of Object.entries(details)) {
    if (!key.startsWith(prefix) || !key.endsWith(MS_SUFFIX) || typeof value !== 'number') continue;
    const name = key.slice(prefix.length, key.length - MS_SUFFIX.length);
    if (name.length === 0) continue;
    times = { ...times, [name]: value };
  }
  return times;
}
