/**
 * The console's only way to the server: vmsnap's CloudStack API at /client/api, as CloudStack's own
 * UI calls it. Every call is a same-origin form POST with `response=json` that carries the session's
 * `sessionkey` parameter; the browser adds the session cookie. A cross-site page can make the
 * browser send the cookie but cannot read the key, so its forged calls fail (issue 14, item 2).
 */

const ENDPOINT = '/client/api';

/** A refusal by the API, with CloudStack's code and its text (shown to the user as is). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly errorText: string,
  ) {
    super(errorText);
    this.name = 'ApiError';
  }
}

/** The logged-in user, as the login answer describes it. */
export interface Session {
  readonly sessionKey: string;
  readonly username: string;
  readonly account: string;
  readonly isAdmin: boolean;
}

export type Params = Readonly<Record<string, string | number | boolean | undefined>>;
export type Json = Record<string, unknown>;

let session: Session | undefined;
let onSessionLost: (() => void) | undefined;

/**
 * The session survives a reload of the tab (sessionStorage: this tab only, gone with it); the
 * server's expiry still applies, and a 401 sends the user back to the login page.
 */
const STORAGE_KEY = 'vmsnap.session';

export function currentSession(): Session | undefined {
  if (session !== undefined) return session;
  const stored = sessionStorage.getItem(STORAGE_KEY);
  if (stored === null) return undefined;
  try {
    const parsed: unknown = JSON.parse(stored);
    if (isJson(parsed) && typeof parsed['sessionKey'] === 'string') session = parsed as unknown as Session;
  } catch {
    sessionStorage.removeItem(STORAGE_KEY);
  }
  return session;
}

function setSession(next: Session | undefined): void {
  session = next;
  if (next === undefined) sessionStorage.removeItem(STORAGE_KEY);
  else sessionStorage.setItem(STORAGE_KEY, JSON.stringify(next));
}

/** Called when the API answers 401 to a call that carried a session: it expired or was ended. */
export function onUnauthorized(handler: () => void): void {
  onSessionLost = handler;
}

function formBody(command: string, params: Params): URLSearchParams {
  const body = new URLSearchParams({ command, response: 'json' });
  for (const [key, value] of Object.entries(params)) if (value !== undefined) body.set(key, String(value));
  return body;
}

/** The payload under `<command>response`, or the ApiError it holds. */
async function payloadOf(command: string, res: Response): Promise<Json> {
  let json: unknown;
  try {
    json = await res.json();
  } catch {
    throw new ApiError(res.status, `The server answered ${res.status} ${res.statusText} without a body`);
  }
  const key = `${command.toLowerCase()}response`;
  const body = isJson(json) ? json[key] : undefined;
  const payload = isJson(body) ? body : {};
  if (!res.ok) {
    const text = typeof payload['errortext'] === 'string' ? payload['errortext'] : res.statusText;
    throw new ApiError(res.status, text);
  }
  return payload;
}

export function isJson(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Calls one API command with the current session. */
export async function call(command: string, params: Params = {}): Promise<Json> {
  const key = currentSession()?.sessionKey;
  const res = await fetch(ENDPOINT, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: formBody(command, key === undefined ? params : { ...params, sessionkey: key }),
  });
  if (res.status === 401 && key !== undefined) {
    setSession(undefined);
    onSessionLost?.();
  }
  return payloadOf(command, res);
}

/** The rows of a list answer (`{count, <name>: [...]}`); an empty list has no key at all. */
export function rowsOf<T>(payload: Json, name: string): T[] {
  const rows = payload[name];
  return Array.isArray(rows) ? (rows as T[]) : [];
}

/** CloudStack's login: a session cookie plus the key every later call carries. */
export async function login(username: string, password: string, domain: string): Promise<Session> {
  const payload = await call('login', { username, password, domain });
  const sessionKey = payload['sessionkey'];
  if (typeof sessionKey !== 'string') throw new ApiError(500, 'The login answer holds no session key');
  const type = typeof payload['type'] === 'string' ? payload['type'] : '0';
  const next: Session = {
    sessionKey,
    username: typeof payload['username'] === 'string' ? payload['username'] : username,
    account: typeof payload['account'] === 'string' ? payload['account'] : username,
    // CloudStack's account types: 0 user, 1 root admin, 2 domain admin.
    isAdmin: type === '1' || type === '2',
  };
  setSession(next);
  return next;
}

export async function logout(): Promise<void> {
  try {
    await call('logout');
  } finally {
    setSession(undefined);
  }
}

/** What a job looks like while it runs and once it ended. */
export interface JobState {
  readonly done: boolean;
  readonly failed: boolean;
  /** vmsnap's `jobprogress` while running; undefined when the server says nothing. */
  readonly progress: string | undefined;
  readonly errorText: string | undefined;
  readonly result: Json | undefined;
}

export async function queryJob(jobId: string): Promise<JobState> {
  const p = await call('queryAsyncJobResult', { jobid: jobId });
  const status = Number(p['jobstatus'] ?? 0);
  const result = isJson(p['jobresult']) ? p['jobresult'] : undefined;
  const errorText =
    result !== undefined && typeof result['errortext'] === 'string' ? result['errortext'] : undefined;
  return {
    done: status !== 0,
    failed: status === 2,
    progress: typeof p['jobprogress'] === 'string' ? p['jobprogress'] : undefined,
    errorText,
    result,
  };
}

const POLL_INTERVAL_MS = 500;

/**
 * Polls a job until it ends, calling `onTick` after every answer (the page refreshes what the job
 * changes, so states show as they move). Stops early, without an answer, when `signal` aborts.
 */
export async function followJob(
  jobId: string,
  onTick: (state: JobState) => void | Promise<void>,
  signal: AbortSignal,
): Promise<JobState | undefined> {
  for (;;) {
    if (signal.aborted) return undefined;
    const state = await queryJob(jobId);
    await onTick(state);
    if (state.done) return state;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, POLL_INTERVAL_MS);
      signal.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

/** An error as a sentence for the page. */
export function describe(err: unknown): string {
  if (err instanceof ApiError) return err.errorText;
  if (err instanceof Error) return `The server could not be reached (${err.message})`;
  return String(err);
}
