/** A signing CloudStack API client for tests, over real HTTP (what `cs` and CloudMonkey do). */
import { signRequest } from '../../src/api/protocol/index.ts';
import { eventually } from './eventually.ts';
import { httpCall } from './http-call.ts';

export interface ApiResponse {
  readonly status: number;
  readonly contentType: string;
  readonly text: string;
  /** The parsed JSON body, when the response is JSON. */
  readonly json: Record<string, unknown>;
}

export class TestApiClient {
  constructor(
    readonly endpoint: string,
    readonly apiKey: string,
    readonly secretKey: string,
  ) {}

  async call(
    command: string,
    params: Record<string, string | number | boolean> = {},
    opts: { method?: 'GET' | 'POST'; format?: 'json' | 'xml'; expires?: Date } = {},
  ): Promise<ApiResponse> {
    const all: Record<string, string> = { command };
    if ((opts.format ?? 'json') === 'json') all['response'] = 'json';
    for (const [k, v] of Object.entries(params)) all[k] = String(v);
    const query = signRequest(
      all,
      this.apiKey,
      this.secretKey,
      opts.expires ? { expires: opts.expires } : {},
    );
    const res =
      opts.method === 'POST'
        ? await httpCall(`${this.endpoint}/client/api`, {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body: query,
          })
        : await httpCall(`${this.endpoint}/client/api?${query}`);
    const text = res.text;
    const contentType = res.headers['content-type'] ?? '';
    return {
      status: res.status,
      contentType,
      text,
      json: contentType.includes('json') ? (JSON.parse(text) as Record<string, unknown>) : {},
    };
  }

  /** The payload inside `<command>response`. */
  async payload(
    command: string,
    params: Record<string, string | number | boolean> = {},
  ): Promise<Record<string, unknown>> {
    const res = await this.call(command, params);
    const body = res.json[`${command.toLowerCase()}response`];
    if (res.status !== 200) throw new Error(`${command} -> ${res.status}: ${res.text}`);
    return body as Record<string, unknown>;
  }

  /** Polls queryAsyncJobResult until the job is final. */
  async waitForJob(jobId: string, timeoutMs = 30_000): Promise<Record<string, unknown>> {
    return eventually(
      async () => {
        const job = await this.payload('queryAsyncJobResult', { jobid: jobId });
        return job['jobstatus'] !== 0 ? job : undefined;
      },
      `job ${jobId} to finish`,
      timeoutMs,
    );
  }
}
