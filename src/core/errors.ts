/**
 * Errors in CloudStack's vocabulary. The API layer turns them into `errorcode` / `cserrorcode` /
 * `errortext`; async jobs record the same code as `jobresultcode`.
 */
import { randomUUID } from 'node:crypto';

export const ApiErrorCode = {
  UNAUTHORIZED: 401,
  METHOD_NOT_ALLOWED: 405,
  MALFORMED_PARAMETER_ERROR: 430,
  PARAM_ERROR: 431,
  UNSUPPORTED_ACTION_ERROR: 432,
  INTERNAL_ERROR: 530,
  ACCOUNT_ERROR: 531,
  ACCOUNT_RESOURCE_LIMIT_ERROR: 532,
  INSUFFICIENT_CAPACITY_ERROR: 533,
  RESOURCE_UNAVAILABLE_ERROR: 534,
  RESOURCE_ALLOCATION_ERROR: 535,
  RESOURCE_IN_USE_ERROR: 536,
  /** Too many requests (CloudStack's API_LIMIT_EXCEED): failed logins past their limit. */
  API_LIMIT_EXCEED: 429,
} as const;
export type ApiErrorCode = (typeof ApiErrorCode)[keyof typeof ApiErrorCode];

/** CSExceptionErrorCode values for the exception classes vmsnap raises. */
export const CsErrorCode = {
  CloudRuntimeException: 4250,
  ConcurrentOperationException: 4300,
  InvalidParameterValueException: 4350,
  PermissionDeniedException: 4365,
  ResourceAllocationException: 4370,
  ResourceUnavailableException: 4380,
  AgentUnavailableException: 4285,
  ServerApiException: 9999,
} as const;

export abstract class CloudError extends Error {
  abstract readonly errorCode: ApiErrorCode;
  abstract readonly csErrorCode: number;
}

/** CloudStack InvalidParameterValueException: 431. */
export class InvalidParameterError extends CloudError {
  readonly errorCode = ApiErrorCode.PARAM_ERROR;
  readonly csErrorCode = CsErrorCode.InvalidParameterValueException;
  override readonly name = 'InvalidParameterValueException';
}

/** CloudStack CloudRuntimeException: 530. */
export class CloudRuntimeError extends CloudError {
  readonly errorCode = ApiErrorCode.INTERNAL_ERROR;
  readonly csErrorCode = CsErrorCode.CloudRuntimeException;
  override readonly name = 'CloudRuntimeException';
}

/** CloudStack PermissionDeniedException: 531. */
export class PermissionDeniedError extends CloudError {
  readonly errorCode = ApiErrorCode.ACCOUNT_ERROR;
  readonly csErrorCode = CsErrorCode.PermissionDeniedException;
  override readonly name = 'PermissionDeniedException';
}

/** CloudStack ResourceAllocationException (an account limit is reached): 535. */
export class ResourceAllocationError extends CloudError {
  readonly errorCode = ApiErrorCode.RESOURCE_ALLOCATION_ERROR;
  readonly csErrorCode = CsErrorCode.ResourceAllocationException;
  override readonly name = 'ResourceAllocationException';
}

/**
 * CloudStack ConcurrentOperationException: another writer changed the object first (a lost race on a
 * row's update count). CloudStack's ApiServer answers it as any other exception, 530.
 */
export class ConcurrentOperationError extends CloudError {
  readonly errorCode = ApiErrorCode.INTERNAL_ERROR;
  readonly csErrorCode = CsErrorCode.ConcurrentOperationException;
  override readonly name = 'ConcurrentOperationException';
}

/**
 * CloudStack AgentUnavailableException: a host's agent could not be reached. Raised inside jobs,
 * whose results CloudStack reports as 530 whatever the exception, so 530 here too.
 */
export class AgentUnavailableError extends CloudError {
  readonly errorCode = ApiErrorCode.INTERNAL_ERROR;
  readonly csErrorCode = CsErrorCode.AgentUnavailableException;
  override readonly name: string = 'AgentUnavailableException';
}

/**
 * CloudStack OperationTimedoutException: an agent did not answer in time. CSExceptionErrorCode has
 * no code of its own for it; it is the agent being unavailable for that long, so 4285.
 */
export class AgentTimeoutError extends AgentUnavailableError {
  override readonly name = 'OperationTimedoutException';
  constructor(hostId: string, kind: string, ms: number) {
    super(`Operation timed out: ${kind} to host ${hostId} got no answer within ${ms} ms`);
  }
}

/** A ServerApiException with an explicit code (401, 432, 530 ...). */
export class ServerApiError extends CloudError {
  readonly csErrorCode = CsErrorCode.ServerApiException;
  constructor(
    readonly errorCode: ApiErrorCode,
    message: string,
  ) {
    super(message);
  }
  override readonly name = 'ServerApiException';
}

/** Codes of refusals the caller can act on: parameters, access, limits, objects in use. */
const CALLER_ERROR_CODES: ReadonlySet<number> = new Set<number>([
  ApiErrorCode.UNAUTHORIZED,
  ApiErrorCode.METHOD_NOT_ALLOWED,
  ApiErrorCode.MALFORMED_PARAMETER_ERROR,
  ApiErrorCode.PARAM_ERROR,
  ApiErrorCode.UNSUPPORTED_ACTION_ERROR,
  ApiErrorCode.ACCOUNT_ERROR,
  ApiErrorCode.ACCOUNT_RESOURCE_LIMIT_ERROR,
  ApiErrorCode.RESOURCE_ALLOCATION_ERROR,
  ApiErrorCode.RESOURCE_IN_USE_ERROR,
  ApiErrorCode.API_LIMIT_EXCEED,
]);

/** A refusal of the caller's request (a check, a limit), as opposed to a failure of ours. */
export function isCallerError(err: unknown): err is CloudError {
  return err instanceof CloudError && CALLER_ERROR_CODES.has(err.errorCode);
}

/** The part of a logger {@link logFailure} uses (pino's and the plugin contract's fit). */
export interface FailureLog {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

/**
 * Logs a failure under the one key `err`. A caller's error (a check, a limit) is routine: info, its
 * text only, no stack. Anything else is a warning with the error itself (pino prints its stack).
 */
export function logFailure(log: FailureLog, err: unknown, fields: object, message: string): void {
  if (isCallerError(err)) log.info({ ...fields, err: err.message, code: err.errorCode }, message);
  else log.warn({ ...fields, err }, message);
}

/** What an API caller or a job result is told about an error. */
export interface DescribedError {
  readonly code: ApiErrorCode;
  readonly csCode: number;
  readonly text: string;
  /**
   * Set when the error was not raised deliberately for the caller (a bug, an SQL or QEMU error):
   * `text` is then only a generic message with `id`, and `detail` is the raw message, which belongs
   * in the server log under that id and never in an answer.
   */
  readonly internal?: { readonly id: string; readonly detail: string };
}

/** The generic text of an unexpected error: the id lets an admin find the details in the log. */
export function internalErrorText(id: string): string {
  return `Internal error, id ${id}; see the server log`;
}

/**
 * Code and text of any thrown value, as CloudStack's job dispatcher reports them. Only CloudErrors
 * carry a text written for the caller; anything else is answered as a generic 530 with a fresh id.
 */
export function describeError(err: unknown, newId: () => string = randomUUID): DescribedError {
  if (err instanceof CloudError) return { code: err.errorCode, csCode: err.csErrorCode, text: err.message };
  const id = newId();
  const detail = err instanceof Error ? err.message : String(err);
  return {
    code: ApiErrorCode.INTERNAL_ERROR,
    csCode: CsErrorCode.CloudRuntimeException,
    text: internalErrorText(id),
    internal: { id, detail },
  };
}
