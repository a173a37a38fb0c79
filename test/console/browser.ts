/**
 * Debian's Chromium driven by playwright-core (no browser download). `.ci/run` installs the
 * `chromium` package; locally the browser tests skip with a reason when it is missing, never in CI.
 * The flags matter on a machine with no network: without the background-networking ones Chromium
 * keeps trying to reach Google's hosts.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM_PATH = process.env['VMSNAP_CHROMIUM'] ?? '/usr/bin/chromium';

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Why the browser tests cannot run here, or undefined when they can. Throws in CI: no silent skips. */
export function chromiumUnavailable(): string | undefined {
  if (existsSync(CHROMIUM_PATH)) return undefined;
  if (process.env['CI'] === 'true') {
    throw new Error(`${CHROMIUM_PATH} is missing in CI: .ci/run must install Debian's chromium package`);
  }
  const reason = `browser tests skipped: no Chromium at ${CHROMIUM_PATH} (apt-get install chromium)`;
  console.warn(reason);
  return reason;
}

/** A fresh browser: playwright gives each launch a new empty profile (--user-data-dir) of its own. */
export async function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS });
}

/** Everything the page reports as an error: console.error output, failed loads, uncaught exceptions. */
export function collectErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  return errors;
}

const AXE_SOURCE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

export interface AxeFinding {
  readonly id: string;
  readonly impact: string | null;
  readonly help: string;
  readonly targets: string[];
}

/** Where the page loads axe-core from: a same-origin address that playwright answers itself. */
const AXE_PATH = '/__test__/axe.min.js';

/**
 * Runs axe-core in the page and returns its serious and critical violations. The console's CSP
 * refuses inline scripts (so `addScriptTag({ path })`, which inlines the file, is blocked as any
 * injected script would be): axe is added as a same-origin script tag instead, which playwright
 * answers from the installed package, and the CSP stays in force for the whole test.
 */
export async function seriousAxeViolations(page: Page): Promise<AxeFinding[]> {
  const present = await page.evaluate(() => 'axe' in window);
  if (!present) {
    const origin = new URL(page.url()).origin;
    await page.route(`${origin}${AXE_PATH}`, (route) =>
      route.fulfill({ path: AXE_SOURCE, contentType: 'text/javascript; charset=utf-8' }),
    );
    await page.addScriptTag({ url: AXE_PATH });
  }
  const found = await page.evaluate(async () => {
    interface AxeResult {
      violations: {
        id: string;
        impact: string | null;
        help: string;
        nodes: { target: unknown[] }[];
      }[];
    }
    const axe = (window as unknown as { axe: { run(ctx: Document, opts: object): Promise<AxeResult> } }).axe;
    const result = await axe.run(document, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      targets: v.nodes.map((n) => JSON.stringify(n.target)),
    }));
  });
  return found.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}
