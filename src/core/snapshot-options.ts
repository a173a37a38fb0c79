/**
 * The one parser of a snapshot's request options ({@link SnapshotOptions}): the API checks a
 * request with it, the store's JSON is read back through it, and strategies then rely on the
 * types, never on string comparisons of their own.
 */
import type { MemorySnapshotMode, QuiescePolicy, SnapshotOptions } from './plugin-api.ts';
import { MEMORY_SNAPSHOT_MODES, QUIESCE_POLICIES } from './plugin-api.ts';
import { InvalidParameterError } from './errors.ts';

/** `value` as one of `values`, or a parameter error (431) naming `what` and the values allowed. */
export function parseOneOf<T extends string>(values: readonly T[], value: string, what: string): T {
  if ((values as readonly string[]).includes(value)) return value as T;
  throw new InvalidParameterError(`Invalid ${what} ${value}: use ${values.join(' or ')}`);
}

export function parseMemoryMode(value: string, what = 'memoryMode'): MemorySnapshotMode {
  return parseOneOf(MEMORY_SNAPSHOT_MODES, value, what);
}

export function parseQuiescePolicy(value: string, what = 'quiescePolicy'): QuiescePolicy {
  return parseOneOf(QUIESCE_POLICIES, value, what);
}

/** Options as stored (a JSON object of strings) -> typed; an unknown key or value is an error. */
export function parseSnapshotOptions(raw: Readonly<Record<string, unknown>>): SnapshotOptions {
  const out: { memoryMode?: MemorySnapshotMode; quiescePolicy?: QuiescePolicy } = {};
  for (const [key, value] of Object.entries(raw)) {
    if (value === undefined) continue;
    if (typeof value !== 'string') throw new InvalidParameterError(`Invalid ${key}: not a string`);
    if (key === 'memoryMode') out.memoryMode = parseMemoryMode(value);
    else if (key === 'quiescePolicy') out.quiescePolicy = parseQuiescePolicy(value);
    else throw new InvalidParameterError(`Unknown snapshot option ${key}`);
  }
  return out;
}
