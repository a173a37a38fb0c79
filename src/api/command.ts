/**
 * How an API command is declared: its name, who may call it, its parameters (typed, documented,
 * validated before the handler runs) and its handler. listApis and the README's API reference are
 * generated from these declarations, so the documentation cannot drift from the code.
 */
import type { ApiServices } from './api-services.ts';
import type { Caller } from '../manager/caller.ts';
import { ROOT_DOMAIN_ID } from '../store/account-store.ts';
import {
  invalidEntityError,
  parseRequestDate,
  unparsableDateError,
  type ParamReader,
  type RequestDate,
} from './protocol/index.ts';
import { parseOneOf } from '../core/snapshot-options.ts';

export type ParamType = 'uuid' | 'string' | 'boolean' | 'integer' | 'long' | 'date' | 'list' | 'map';

export interface ParamSpec<T> {
  readonly type: ParamType;
  readonly description: string;
  readonly required: boolean;
  read(reader: ParamReader, name: string): T;
}

type Optional<T> = ParamSpec<T | undefined>;

/** Parameter constructors; wrap with `required(...)` to make one mandatory. */
export const param = {
  uuid: (description: string): Optional<string> => ({
    type: 'uuid',
    description,
    required: false,
    read: (r, n) => r.uuid(n),
  }),
  uuids: (description: string): Optional<string[]> => ({
    type: 'list',
    description,
    required: false,
    read: (r, n) => r.uuidList(n),
  }),
  string: (description: string, maxLength = 255): Optional<string> => ({
    type: 'string',
    description,
    required: false,
    read: (r, n) => r.string(n, { maxLength }),
  }),
  boolean: (description: string): Optional<boolean> => ({
    type: 'boolean',
    description,
    required: false,
    read: (r, n) => r.boolean(n),
  }),
  integer: (description: string): Optional<number> => ({
    type: 'integer',
    description,
    required: false,
    read: (r, n) => r.integer(n),
  }),
  long: (description: string): Optional<number> => ({
    type: 'long',
    description,
    required: false,
    read: (r, n) => r.long(n),
  }),
  /**
   * A domain id. vmsnap has one domain, ROOT: any other id names no domain and is refused as
   * CloudStack refuses a UUID parameter whose entity does not exist (431), not ignored.
   */
  domain: (description: string): Optional<string> => ({
    type: 'uuid',
    description,
    required: false,
    read: (r, n) => {
      const id = r.uuid(n);
      if (id !== undefined && id !== ROOT_DOMAIN_ID) throw invalidEntityError(r.command, n, id);
      return id;
    },
  }),
  /**
   * A string that must be one of `values` (a string-literal union defined in the core); the
   * allowed values are added to the description, so listApis and the API reference show them.
   */
  enumOf: <T extends string>(values: readonly T[], description: string): Optional<T> => ({
    type: 'string',
    description: `${description} (one of: ${values.join(', ')})`,
    required: false,
    read: (r, n) => {
      const value = r.string(n);
      return value === undefined ? undefined : parseOneOf(values, value, n);
    },
  }),
  /** A DATE parameter (`yyyy-MM-dd`, `yyyy-MM-dd HH:mm:ss` or CloudStack's wire format, UTC). */
  date: (description: string): Optional<RequestDate> => ({
    type: 'date',
    description: `${description}; yyyy-MM-dd or yyyy-MM-dd HH:mm:ss (UTC)`,
    required: false,
    read: (r, n) => {
      const text = r.string(n);
      if (text === undefined) return undefined;
      const date = parseRequestDate(text);
      if (date === null) throw unparsableDateError(r.command, text);
      return date;
    },
  }),
  map: (description: string): ParamSpec<{ key: string; value: string }[]> => ({
    type: 'map',
    description,
    required: false,
    read: (r, n) => r.tags(n),
  }),
};

export function required<T>(spec: ParamSpec<T | undefined>): ParamSpec<T> {
  return {
    type: spec.type,
    description: spec.description,
    required: true,
    read: (r, n) => {
      const v = spec.read(r, n);
      if (v === undefined) return r.requireString(n) as T; // throws CloudStack's missing-parameter error
      return v;
    },
  };
}

export type ParamSpecs = Readonly<Record<string, ParamSpec<unknown>>>;
export type ArgsOf<P extends ParamSpecs> = {
  -readonly [K in keyof P]: P[K] extends ParamSpec<infer T> ? T : never;
};

export interface CommandContext<P extends ParamSpecs> {
  readonly services: ApiServices;
  readonly caller: Caller;
  readonly args: ArgsOf<P>;
  readonly reader: ParamReader;
}

/** What a handler returns: an object payload (inlined in the envelope), or a list. */
export type CommandResult = Readonly<Record<string, unknown>>;

export interface ApiCommand<P extends ParamSpecs = ParamSpecs> {
  readonly name: string;
  readonly description: string;
  /** Only admin keys may call it (user keys get 401, as CloudStack's API access checker). */
  readonly admin?: boolean;
  /** Returns a jobid; the result comes from queryAsyncJobResult. */
  readonly async?: boolean;
  readonly since?: string;
  readonly params: P;
  handler(ctx: CommandContext<P>): Promise<CommandResult>;
}

/**
 * Infers the handler's argument types from the declared params. The registry holds commands of
 * different param shapes, so the result is widened; `readArgs` builds args from those same params.
 */
export function defineCommand<P extends ParamSpecs>(command: ApiCommand<P>): ApiCommand {
  return command;
}

/** Params every list command takes (BaseListCmd and friends). */
export const listParams = {
  keyword: param.string('List by keyword'),
  page: param.integer('The page number, from 1; given with pagesize'),
  pagesize: param.integer(
    'The number of items per page, at most default.page.size; given with page, or -1 alone for all items',
  ),
  listall: param.boolean('If true, list every account the caller may see, not only its own'),
  account: param.string(
    'List resources by account name (admin; a user may name only its own); domainid is optional, vmsnap has only ROOT',
  ),
  domainid: param.domain(
    "List only resources belonging to the domain specified; vmsnap's one domain is ROOT, so for an admin this lists every account's resources",
  ),
  isrecursive: param.boolean(
    'Defaults to false; if true, lists resources of subdomains too (vmsnap has no subdomains: same result)',
  ),
} as const;

export function readArgs<P extends ParamSpecs>(params: P, reader: ParamReader): ArgsOf<P> {
  const args: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(params)) args[name] = spec.read(reader, name);
  return args as ArgsOf<P>;
}
