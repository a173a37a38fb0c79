/**
 * The console's bundle and how the API serves it, without a browser: the build writes hashed assets
 * and an index naming them, `vmsnap serve`'s check rebuilds a missing or stale bundle, and the
 * routes answer with content types, cache headers and a CSP that allows no inline script.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSOLE_CSP, registerConsole } from '../../src/api/console-assets.ts';
import { buildConsole, consoleIsStale, ensureConsoleBuilt } from '../../src/cli/console-build.ts';

describe('the web console bundle', () => {
  let root: string;
  let outDir: string;
  let server: FastifyInstance;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'vmsnap-console-bundle-'));
    outDir = join(root, 'console');
    await buildConsole(outDir);
    server = Fastify();
    expect(registerConsole(server, outDir)).toBe(true);
    await server.ready();
  }, 120_000);

  afterAll(async () => {
    await server?.close();
    if (root !== undefined) rmSync(root, { recursive: true, force: true });
  });

  it('names its hashed script, style and icon in index.html, with no inline script', () => {
    const html = readFileSync(join(outDir, 'index.html'), 'utf8');
    expect(html).toMatch(/<script type="module" src="\/assets\/main-[A-Z0-9]+\.js"><\/script>/);
    expect(html).toMatch(/href="\/assets\/styles-[A-Z0-9]+\.css"/);
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toContain('%JS%');
  });

  it('is stale when missing or older than its sources, and ensureConsoleBuilt rebuilds it', async () => {
    expect(consoleIsStale(outDir)).toBe(false);
    const index = join(outDir, 'index.html');
    utimesSync(index, new Date(0), new Date(0));
    expect(consoleIsStale(outDir)).toBe(true);
    const other = join(root, 'missing');
    expect(consoleIsStale(other)).toBe(true);
    const warnings: string[] = [];
    expect(await ensureConsoleBuilt((m) => warnings.push(m), other)).toBe(other);
    expect(existsSync(join(other, 'index.html'))).toBe(true);
    expect(consoleIsStale(other)).toBe(false);
    expect(warnings).toEqual([]);
  }, 120_000);

  it('serves / and its assets with content types, cache headers and the CSP', async () => {
    const index = await server.inject({ method: 'GET', url: '/' });
    expect(index.statusCode).toBe(200);
    expect(index.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(index.headers['cache-control']).toBe('no-cache');
    expect(index.headers['content-security-policy']).toBe(CONSOLE_CSP);
    expect(CONSOLE_CSP).toContain("script-src 'self'");
    expect(CONSOLE_CSP).not.toContain('unsafe');
    expect(index.headers['x-content-type-options']).toBe('nosniff');
    const script = /src="\/assets\/([^"]+)"/.exec(index.body)?.[1] ?? '';
    const js = await server.inject({ method: 'GET', url: `/assets/${script}` });
    expect(js.statusCode).toBe(200);
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(js.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    const cached = await server.inject({
      method: 'GET',
      url: '/',
      headers: { 'if-none-match': String(index.headers['etag']) },
    });
    expect(cached.statusCode).toBe(304);
    expect((await server.inject({ method: 'GET', url: '/assets/..%2Fpackage.json' })).statusCode).toBe(404);
    expect((await server.inject({ method: 'GET', url: '/assets/other.js' })).statusCode).toBe(404);
  });

  it('adds no route for a directory without a bundle', async () => {
    const bare = Fastify();
    expect(registerConsole(bare, join(root, 'nothing-built'))).toBe(false);
    await bare.ready();
    expect((await bare.inject({ method: 'GET', url: '/' })).statusCode).toBe(404);
    await bare.close();
  });
});
