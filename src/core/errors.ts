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
