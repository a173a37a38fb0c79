/**
 * Serves the web console's built bundle (dist/console, see src/cli/console-build.ts) at `/` on the
 * API's own port: index.html, and its content-hashed assets under /assets/. The files are read
 * once at start (a few tens of kB). Every answer carries a strict Content-Security-Policy: scripts
 * and styles from this origin only, nothing inline, no frames, API calls to this origin only.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';

export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** Hashed names never change content: a browser may keep them a year without asking. */
const IMMUTABLE = 'public, max-age=31536000, immutable';
/** The page itself is asked for again each time (a new build names new assets); an ETag makes that cheap. */
const REVALIDATE = 'no-cache';

interface Asset {
  readonly body: Buffer;
  readonly type: string;
  readonly etag: string;
}

function load(file: string): Asset {
  const body = readFileSync(file);
  return {
    body,
    type: CONTENT_TYPES[extname(file)] ?? 'application/octet-stream',
    etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
  };
}

function securityHeaders(reply: FastifyReply): FastifyReply {
  return reply
    .header('content-security-policy', CONSOLE_CSP)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('x-frame-options', 'DENY')
    .header('cross-origin-opener-policy', 'same-origin');
}

/** Adds `/` and `/assets/:name` for the bundle in `dir`; a directory without a bundle adds nothing. */
export function registerConsole(server: FastifyInstance, dir: string): boolean {
  const indexFile = join(dir, 'index.html');
  if (!existsSync(indexFile)) return false;
  const index = load(indexFile);
  const assetsDir = join(dir, 'assets');
  const assets = new Map<string, Asset>(
    existsSync(assetsDir) ? readdirSync(assetsDir).map((name) => [name, load(join(assetsDir, name))]) : [],
  );
  const send = (
    reply: FastifyReply,
    asset: Asset,
    cache: string,
    ifNoneMatch: string | undefined,
  ): FastifyReply => {
    securityHeaders(reply).header('cache-control', cache).header('etag', asset.etag);
    if (ifNoneMatch === asset.etag) return reply.status(304).send();
    return reply.status(200).header('content-type', asset.type).send(asset.body);
  };
  server.get('/', async (req, reply) => send(reply, index, REVALIDATE, req.headers['if-none-match']));
  server.get<{ Params: { name: string } }>('/assets/:name', async (req, reply) => {
    const asset = assets.get(req.params.name);
    if (asset === undefined) {
      return securityHeaders(reply)
        .status(404)
        .header('content-type', 'text/plain; charset=utf-8')
        .send('Not found');
    }
    return send(reply, asset, IMMUTABLE, req.headers['if-none-match']);
  });
  return true;
}
