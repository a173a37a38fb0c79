/**
 * The CLI's CloudStack API client: signed GET requests with global `fetch`, CloudStack error bodies
 * turned into `Error <code>: <text>`, network failures into `cannot reach <endpoint>: <reason>`,
 * and async jobs polled to completion.
 */
import { signRequest } from '../../api/protocol/signing.ts';
import type { Credentials } from './profiles.ts';

export type ApiParams = Readonly<Record<string, string | number | boolean | undefined>>;
export type Payload = Record<string, unknown>;

/** A CloudStack error response (any non-200 answer with an error body). */
export class ApiError extends Error {
  constructor(
    readonly errorCode: number,
    readonly errorText: string,
    readonly csErrorCode: number | undefined,
  ) {
    super(`Error ${errorCode}: ${errorText}${errorCode === 401 ? CREDENTIALS_HINT : ''}`);
    this.name = 'ApiError';
  }
}

// CloudStack answers every authentication failure, and an unknown command, with the same 401.
const CREDENTIALS_HINT =
  '\n(the server refused the request: check the API key and secret key of the profile or of ' +
  'VMSNAP_API_KEY / VMSNAP_SECRET_KEY, and the command name)';

/** The payload of queryAsyncJobResult; `jobstatus` 0 pending, 1 succeeded, 2 failed. */
export interface JobPayload extends Payload {
  jobid: string;
  jobstatus: number;
  jobresultcode?: number;
  jobprogress?: string;
  jobresult?: Payload;
}

export interface JobProgress {
  readonly jobId: string;
  /** vmsnap's `jobprogress`: what the job is doing now, when the server says. */
  readonly progress: string | undefined;
  readonly elapsedMs: number;
}

export interface WaitOptions {
  readonly intervalMs?: number;
  /** Give up after this long; 0 (the default) waits as long as the job runs. */
  readonly timeoutMs?: number;
}

/** Signatures expire after this long, so a captured URL cannot be replayed later. */
const SIGNATURE_TTL_MS = 10 * 60_000;
const POLL_INTERVAL_MS = 200;

export class ApiClient {
  constructor(
    readonly credentials: Credentials,
    private readonly now: () => number = Date.now,
  ) {}

  get endpoint(): string {
    return this.credentials.endpoint;
  }

  /** The full decoded JSON body (`{"<command>response": …}`); throws ApiError on an error answer. */
  async raw(command: string, params: ApiParams = {}): Promise<Payload> {
    const all: Record<string, string> = { command, response: 'json' };
    for (const [k, v] of Object.entries(params)) if (v !== undefined) all[k] = String(v);
    const { apiKey, secretKey } = this.credentials;
    const query = signRequest(all, apiKey, secretKey, { expires: new Date(this.now() + SIGNATURE_TTL_MS) });
    const res = await this.fetch(`${this.endpoint}?${query}`);
    const text = await res.text();
    const body = parseBody(text);
    const payload = body === undefined ? undefined : envelopeOf(body, command);
    if (payload !== undefined && typeof payload['errorcode'] === 'number')
      throw toApiError(res.status, payload);
    if (body === undefined || res.status !== 200) {
      // Not a CloudStack answer at all: most often an endpoint without /client/api.
      throw new Error(
        `unexpected answer from ${this.endpoint}: HTTP ${res.status} ${snippet(text)} (is this a vmsnap or CloudStack API endpoint?)`,
      );
    }
    return body;
  }

  /** The payload inside `<command lowercased>response`. */
  async call(command: string, params: ApiParams = {}): Promise<Payload> {
    const body = await this.raw(command, params);
    const payload = envelopeOf(body, command);
    if (payload === undefined)
      throw new Error(`${command}: the answer has no ${command.toLowerCase()}response`);
    return payload;
  }

  /** Every item of a list command, following CloudStack's paging when the server caps a page. */
  async listAll(command: string, objectName: string, params: ApiParams = {}): Promise<Payload[]> {
    const first = await this.call(command, params);
    const items = itemsOf(first, objectName);
    const count = typeof first['count'] === 'number' ? first['count'] : items.length;
    const pageSize = items.length;
    for (let page = 2; items.length < count && pageSize > 0; page++) {
      const next = itemsOf(await this.call(command, { ...params, page, pagesize: pageSize }), objectName);
      if (next.length === 0) break;
      items.push(...next);
    }
    return items;
  }

  async queryJob(jobId: string): Promise<JobPayload> {
    const job = await this.call('queryAsyncJobResult', { jobid: jobId });
    if (typeof job['jobstatus'] !== 'number')
      throw new Error(`queryAsyncJobResult: job ${jobId} has no jobstatus`);
    return job as JobPayload;
  }

  /** Polls until the job is final (jobstatus != 0), reporting progress after every poll. */
  async waitForJob(
    jobId: string,
    onProgress: (p: JobProgress) => void = () => {},
    options: WaitOptions = {},
  ): Promise<JobPayload> {
    const started = this.now();
    const interval = options.intervalMs ?? POLL_INTERVAL_MS;
    for (;;) {
      const job = await this.queryJob(jobId);
      const elapsedMs = this.now() - started;
      if (job.jobstatus !== 0) return job;
      onProgress({ jobId, progress: job.jobprogress, elapsedMs });
      if (options.timeoutMs !== undefined && options.timeoutMs > 0 && elapsedMs > options.timeoutMs) {
        throw new Error(`job ${jobId} still running after ${Math.round(elapsedMs / 1000)} s`);
      }
      await new Promise((resolve) => setTimeout(resolve, interval));
    }
  }

  private async fetch(url: string): Promise<Response> {
    try {
      return await fetch(url, { headers: { accept: 'application/json' } });
    } catch (err) {
      throw new Error(`cannot reach ${this.endpoint}: ${networkReason(err)}`, { cause: err });
    }
  }
}

/** The job's failure as an ApiError (`jobresult.errortext`, code `jobresultcode`). */
export function jobFailure(job: JobPayload): ApiError {
  const result = job.jobresult ?? {};
  const code = typeof result['errorcode'] === 'number' ? result['errorcode'] : (job.jobresultcode ?? 530);
  const text = typeof result['errortext'] === 'string' ? result['errortext'] : 'the job failed';
  return new ApiError(code, text, undefined);
}

export function itemsOf(payload: Payload, objectName: string): Payload[] {
  const list = payload[objectName];
  return Array.isArray(list) ? list.filter(isPayload) : [];
}

export function isPayload(v: unknown): v is Payload {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseBody(text: string): Payload | undefined {
  try {
    const parsed: unknown = JSON.parse(text);
    return isPayload(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** The envelope is named after the command, but error bodies for unknown commands may differ. */
function envelopeOf(body: Payload, command: string): Payload | undefined {
  const named = body[`${command.toLowerCase()}response`];
  if (isPayload(named)) return named;
  const values = Object.values(body);
  return values.length === 1 && isPayload(values[0]) ? values[0] : undefined;
}

function toApiError(status: number, payload: Payload): ApiError {
  const code = typeof payload['errorcode'] === 'number' ? payload['errorcode'] : status;
  const text = typeof payload['errortext'] === 'string' ? payload['errortext'] : `HTTP ${status}`;
  const cs = typeof payload['cserrorcode'] === 'number' ? payload['cserrorcode'] : undefined;
  return new ApiError(code, text, cs);
}

/**
 * fetch wraps the socket error as `cause` (e.g. ECONNREFUSED); that is the useful part. When a name
 * resolves to several addresses the cause is an AggregateError with an empty message, one error per
 * address.
 */
function networkReason(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  let cause: unknown = err.cause;
  if (cause instanceof AggregateError && cause.errors[0] instanceof Error) cause = cause.errors[0];
  if (!(cause instanceof Error)) return err.message;
  const code = (cause as { code?: unknown }).code;
  if (typeof code !== 'string' || cause.message.includes(code)) return cause.message || err.message;
  return cause.message === '' ? code : `${code} ${cause.message}`;
}

/** The start of an unexpected body, with any echoed query string (it holds the API key) cut. */
function snippet(text: string): string {
  const flat = text
    .replace(/\?[^\s"']*/g, '?…')
    .replace(/\s+/g, ' ')
    .trim();
  return flat.length > 120 ? `${flat.slice(0, 120)}…` : flat;
}
