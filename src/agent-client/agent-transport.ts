/**
 * How the management server talks HTTP to a host agent: `http:` or `https:` only, the agent's
 * certificate pinned by its SHA-256 fingerprint, answers read with a byte cap, no redirects followed
 * (node:http never follows them). Errors name the agent URL and the HTTP status, never the body: the
 * URL is an admin's input and whatever answers it may be any service on the server's network.
 */
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';

/** What the agent answered: its status and its body, read in full under the cap. */
export interface AgentHttpResponse {
  readonly status: number;
  readonly body: string;
}

export interface AgentHttpRequest {
  readonly method: 'GET' | 'POST';
  readonly url: URL;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
  /** The answer is cut (and the connection closed) past this many bytes. */
  readonly maxBytes: number;
  readonly timeoutMs: number;
}

/** The agent presented another certificate than the pinned one: nothing was sent to it. */
export class CertificatePinError extends Error {
  constructor(url: string, seen: string | undefined, pinned: string) {
    super(
      `the agent at ${url} presented a TLS certificate with SHA-256 fingerprint ${seen ?? '(none)'}, ` +
        `not the pinned ${pinned}: refusing to send it anything (re-add the host if its certificate changed)`,
    );
    this.name = 'CertificatePinError';
  }
}

/** The answer was larger than the cap: the client stopped reading and closed the connection. */
export class AnswerTooLargeError extends Error {
  constructor(url: string, maxBytes: number) {
    super(`the agent at ${url} sent an answer larger than ${maxBytes} bytes: connection closed`);
    this.name = 'AnswerTooLargeError';
  }
}

/**
 * An https.Agent whose every connection must present the pinned certificate. Chain validation is
 * off (agents use self-signed certificates; there is no CA to check against), which is safe only
 * because the pin check below is unconditional: the HTTP request is attached to the socket only
 * after `secureConnect` and a matching fingerprint, so a wrong certificate never sees the token.
 * The TLS handshake itself proves the peer holds the private key of the certificate it presents.
 * Session resumption is off so every connection shows its certificate again.
 */
class PinnedHttpsAgent extends https.Agent {
  constructor(
    private readonly pin: string,
    private readonly displayUrl: string,
  ) {
    super({ keepAlive: false, maxCachedSessions: 0 });
  }

  override createConnection(
    options: https.RequestOptions,
    callback?: (err: Error | null, stream: Duplex) => void,
  ): Duplex | null | undefined {
    const socket = tls.connect({ ...(options as tls.ConnectionOptions), rejectUnauthorized: false });
    let settled = false;
    const settle = (err: Error | null): void => {
      if (settled) return;
      settled = true;
      if (err !== null) socket.destroy();
      callback?.(err, socket);
    };
    socket.once('secureConnect', () => {
      const seen = socket.getPeerCertificate().fingerprint256 as string | undefined;
      settle(seen === this.pin ? null : new CertificatePinError(this.displayUrl, seen, this.pin));
    });
    socket.once('error', (err: Error) => settle(err));
    // Returning nothing makes node:http wait for the callback: no request bytes before the check.
    return undefined;
  }
}

/** The node:http(s) agent for one host: pinned for https with a fingerprint. */
export function agentFor(url: URL, pin: string | null): http.Agent {
  if (url.protocol === 'https:') {
    // An https URL with no pin (a host added before pinning existed): the system CAs decide.
    return pin !== null ? new PinnedHttpsAgent(pin, url.origin) : new https.Agent({ keepAlive: false });
  }
  if (url.protocol !== 'http:') throw new Error(`unsupported agent URL scheme ${url.protocol}`);
  if (pin !== null)
    throw new Error(`the agent at ${url.origin} is pinned to https: refusing to send its token over http`);
  return new http.Agent({ keepAlive: false });
}

/** One request to the agent; the answer is read with a byte counter and cut past the cap. */
export function agentRequest(
  agent: http.Agent,
  req: AgentHttpRequest,
  display: string,
): Promise<AgentHttpResponse> {
  const send = req.url.protocol === 'https:' ? https.request : http.request;
  return new Promise<AgentHttpResponse>((resolve, reject) => {
    const request = send(req.url, {
      method: req.method,
      agent,
      headers: {
        ...req.headers,
        ...(req.body !== undefined ? { 'content-length': Buffer.byteLength(req.body) } : {}),
      },
      signal: AbortSignal.timeout(req.timeoutMs),
    });
    request.once('error', reject);
    request.once('response', (res) => {
      readCapped(res, req.maxBytes, display).then(
        (body) => resolve({ status: res.statusCode ?? 0, body }),
        (err: unknown) => {
          request.destroy();
          reject(err instanceof Error ? err : new Error(String(err)));
        },
      );
    });
    request.end(req.body);
  });
}

/** The body as text, or an {@link AnswerTooLargeError} as soon as more than `maxBytes` arrive. */
async function readCapped(res: IncomingMessage, maxBytes: number, display: string): Promise<string> {
  const declared = Number(res.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    res.destroy();
    throw new AnswerTooLargeError(display, maxBytes);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  // Leaving the loop by throwing destroys the stream, which closes the connection.
  for await (const chunk of res as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > maxBytes) throw new AnswerTooLargeError(display, maxBytes);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
