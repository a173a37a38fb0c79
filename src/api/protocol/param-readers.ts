/**
 * Typed command parameters with CloudStack's parameter errors (ParamUnpackWorker +
 * ParamProcessWorker). All of these are ServerApiExceptions with code 431 (cserrorcode 9999),
 * because the dispatcher wraps the underlying parse failure, except the 430 for a malformed map key.
 *
 * Names are case-insensitive, as in CloudStack: ParamUnpackWorker lowercases every plain name,
 * and the part of a map key before `[` (`Tags[0].key` is the `tags` map, field `key`).
 */
import { ApiErrorCode, InvalidParameterError, ServerApiError } from '../../core/errors.ts';
import { INT32_RANGE, parseStrictInteger, SAFE_LONG_RANGE } from '../../core/strict-integer.ts';
import type { Params } from './request-params.ts';

/** The name CloudStack uses in messages: the response name minus `response`, i.e. lowercased. */
const messageName = (command: string): string => command.toLowerCase();

export function missingParameterError(command: string, name: string): ServerApiError {
  return new ServerApiError(
    ApiErrorCode.PARAM_ERROR,
    `Unable to execute API command ${messageName(command)} due to missing parameter ${name}`,
  );
}

/** A value that does not parse as the parameter's type (boolean, integer, long). */
export function invalidValueError(command: string, name: string, value: string): ServerApiError {
  return new ServerApiError(
    ApiErrorCode.PARAM_ERROR,
    `Unable to execute API command ${messageName(command)} due to invalid value ${value} for parameter ${name}`,
  );
}

/** ParamProcessWorker's answer to a DATE parameter that does not parse. */
export function unparsableDateError(command: string, value: string): ServerApiError {
  return new ServerApiError(
    ApiErrorCode.PARAM_ERROR,
    `Unable to parse date ${value} for command ${messageName(command)}, please pass dates in the format mentioned in the api documentation`,
  );
}

/** A UUID parameter that is malformed or names no entity (also for the caller's entity lookups). */
export function invalidEntityError(command: string, name: string, value: string): ServerApiError {
  return new ServerApiError(
    ApiErrorCode.PARAM_ERROR,
    `Unable to execute API command ${messageName(command)} due to invalid value. Invalid parameter ${name} value=${value} due to incorrect long value format, or entity does not exist or due to incorrect parameter annotation for the field in api cmd class.`,
  );
}

function malformedMapKeyError(key: string): ServerApiError {
  return new ServerApiError(
    ApiErrorCode.MALFORMED_PARAMETER_ERROR,
    `Unable to decode parameter ${key}; if specifying an object array, please use parameter[index].field=XXX, e.g. userGroupList[0].group=httpGroup`,
  );
}

/** One entry of a map parameter: `tags[0].key=k&tags[0].value=v` gives `{ key: 'k', value: 'v' }`. */
export type MapEntry = Readonly<Record<string, string>>;

interface Unpacked {
  plain: Map<string, string>;
  maps: Map<string, Map<number, Record<string, string>>>;
}

/**
 * A 32-bit integer in plain decimal, or null. Stricter than Java's Integer.parseInt, which also takes
 * a leading `+`: vmsnap reads every number one way (see core/strict-integer.ts).
 */
function parseInt32(text: string): number | null {
  return parseStrictInteger(text, INT32_RANGE);
}

/** ParamUnpackWorker: splits `name[index].field` keys into maps, lowercases the rest. */
function unpack(params: Params): Unpacked {
  const plain = new Map<string, string>();
  const maps = new Map<string, Map<number, Record<string, string>>>();
  for (const [key, value] of Object.entries(params)) {
    const open = key.indexOf('[');
    if (open !== key.lastIndexOf('[')) throw malformedMapKeyError(key);
    if (open <= 0) {
      // An exact lowercase spelling wins over other casings of the same name.
      const lower = key.toLowerCase();
      if (key === lower || !plain.has(lower)) plain.set(lower, value);
      continue;
    }
    const close = key.indexOf(']');
    const dot = key.indexOf('.');
    if (close < open || close !== key.lastIndexOf(']') || dot < close) throw malformedMapKeyError(key);
    const index = parseInt32(key.slice(open + 1, close));
    if (index === null) throw malformedMapKeyError(key);
    const mapName = key.slice(0, open).toLowerCase();
    const entries = maps.get(mapName) ?? new Map<number, Record<string, string>>();
    maps.set(mapName, entries);
    const entry = entries.get(index) ?? (Object.create(null) as Record<string, string>);
    entries.set(index, entry);
    entry[key.slice(dot + 1)] = value;
  }
  return { plain, maps };
}

/** The entries of map parameter `name`, ordered by index (indices may be sparse or unordered). */
export function readMap(params: Params, name: string): MapEntry[] {
  return mapEntries(unpack(params), name);
}

function mapEntries(unpacked: Unpacked, name: string): MapEntry[] {
  const entries = unpacked.maps.get(name.toLowerCase());
  if (!entries) return [];
  return [...entries.entries()].sort(([a], [b]) => a - b).map(([, entry]) => entry);
}

/**
 * BaseListTaggedResourcesCmd.getTags: `tags[i].key` / `tags[i].value` pairs. A pair without a value
 * is refused with CloudStack's InvalidParameterValueException (431/4350); a repeated key keeps its
 * later value. A pair without a key is refused too (CloudStack would search for a null key, which
 * matches nothing; an error says why).
 */
function tagsOf(entries: MapEntry[]): { key: string; value: string }[] {
  const tags = new Map<string, string>();
  for (const { key, value } of entries) {
    if (value === undefined)
      throw new InvalidParameterError(`No value is passed in for key ${key ?? 'null'}`);
    if (key === undefined) throw new InvalidParameterError(`No key is passed in for value ${value}`);
    tags.set(key, value);
  }
  return [...tags].map(([key, value]) => ({ key, value }));
}

export function readTags(params: Params, name = 'tags'): { key: string; value: string }[] {
  return tagsOf(readMap(params, name));
}

// ParamProcessWorker's UUID check is this lowercase-only pattern.
const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface StringOptions {
  /** The @Parameter length (255 by default in CloudStack); longer values are refused. */
  maxLength?: number;
}

/**
 * Reads one command's parameters. Optional readers return `undefined` when the parameter is absent;
 * `require*` readers throw the missing-parameter error instead. Construction already refuses a
 * malformed map key (430), as CloudStack unpacks all parameters before reading any.
 */
export class ParamReader {
  private readonly unpacked: Unpacked;

  constructor(
    readonly command: string,
    params: Params,
  ) {
    this.unpacked = unpack(params);
  }

  /** The raw (decoded) value, if present. */
  raw(name: string): string | undefined {
    return this.unpacked.plain.get(name.toLowerCase());
  }

  has(name: string): boolean {
    return this.raw(name) !== undefined;
  }

  private required<T>(name: string, value: T | undefined): T {
    if (value === undefined) throw missingParameterError(this.command, name);
    return value;
  }

  string(name: string, options: StringOptions = {}): string | undefined {
    const value = this.raw(name);
    const max = options.maxLength ?? 255;
    if (value !== undefined && value.length > max) {
      throw new ServerApiError(
        ApiErrorCode.PARAM_ERROR,
        `Unable to execute API command ${messageName(this.command)} due to invalid value. Value greater than max allowed length ${max} for param: ${name}`,
      );
    }
    return value;
  }

  requireString(name: string, options: StringOptions = {}): string {
    return this.required(name, this.string(name, options));
  }

  /** A UUID. An empty value counts as absent (CloudStack skips empty UUIDs). */
  uuid(name: string): string | undefined {
    const value = this.raw(name);
    if (value === undefined || value === '') return undefined;
    if (!UUID_PATTERN.test(value)) throw invalidEntityError(this.command, name, value);
    return value;
  }

  requireUuid(name: string): string {
    return this.required(name, this.uuid(name));
  }

  /** A comma-separated list of UUIDs (StringTokenizer semantics: empty items are skipped). */
  uuidList(name: string): string[] | undefined {
    const value = this.raw(name);
    if (value === undefined) return undefined;
    const items = value.split(',').filter((item) => item !== '');
    for (const item of items) {
      if (!UUID_PATTERN.test(item)) throw invalidEntityError(this.command, name, item);
    }
    return items;
  }

  /**
   * A 32-bit integer in plain decimal (`^-?[0-9]+$`): `1e9`, `0x10`, `+5`, ` 5`, `5.0` and values out
   * of range are refused with 431. A blank value counts as absent, as in ParamProcessWorker.
   */
  integer(name: string): number | undefined {
    const value = this.raw(name);
    if (value === undefined || value.trim() === '') return undefined;
    const n = parseInt32(value);
    if (n === null) throw invalidValueError(this.command, name, value);
    return n;
  }

  requireInteger(name: string): number {
    return this.required(name, this.integer(name));
  }

  /** A long in plain decimal, limited to JavaScript's safe integers (no digit silently lost). */
  long(name: string): number | undefined {
    const value = this.raw(name);
    if (value === undefined) return undefined;
    const n = parseStrictInteger(value, SAFE_LONG_RANGE);
    if (n === null) throw invalidValueError(this.command, name, value);
    return n;
  }

  requireLong(name: string): number {
    return this.required(name, this.long(name));
  }

  /**
   * `true` / `false` in any case. CloudStack's Boolean.valueOf would silently read anything else as
   * false; vmsnap refuses it (431) so a typo such as `snapshotmemory=ture` is not ignored. An empty
   * value counts as absent.
   */
  boolean(name: string): boolean | undefined {
    const value = this.raw(name);
    if (value === undefined || value === '') return undefined;
    const lower = value.toLowerCase();
    if (lower === 'true') return true;
    if (lower === 'false') return false;
    throw invalidValueError(this.command, name, value);
  }

  requireBoolean(name: string): boolean {
    return this.required(name, this.boolean(name));
  }

  map(name: string): MapEntry[] {
    return mapEntries(this.unpacked, name);
  }

  tags(name = 'tags'): { key: string; value: string }[] {
    return tagsOf(this.map(name));
  }
}
