/**
 * The web console in a real browser (issue 14): `vmsnap serve` as a child process on 127.0.0.1 with
 * the seeded simulator zone, Debian's Chromium driven by playwright-core. A tenant logs in, sees
 * only its own VMs, snapshots one with memory and watches it become Ready, reverts to it, deletes
 * it, reads an injected failure in words and logs out; its old session key is then refused. An
 * admin sees hosts, pools and settings. Every page is scanned by axe-core and must log no error.
 * Waits are playwright's condition waits; nothing sleeps.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TestApiClient } from '../helpers/api-client.ts';
import { startServe, type ServeRun } from '../helpers/serve-process.ts';
import { chromiumUnavailable, collectErrors, launchChromium, seriousAxeViolations } from './browser.ts';

const REPO = resolve(import.meta.dirname, '../..');
/** Where the README's screenshots live; refreshed only when asked (VMSNAP_UPDATE_SCREENSHOTS=1). */
const DOCS_SCREENSHOTS = join(REPO, 'docs', 'screenshots');
/** A generous bound for one browser wait on a busy 2-vCPU machine; waits end as soon as the condition holds. */
const WAIT_MS = 60_000;
const TEST_MS = 300_000;

const ADMIN_KEYS = { apiKey: 'console-test-admin-key', secretKey: 'console-test-admin-secret' };
const PASSWORDS = { admin: 'admin-Console-pw-1', demo: 'demo-Console-pw-1' };
const ADMIN_VM = 'admin-only-vm';

const skipReason = chromiumUnavailable();

describe.skipIf(skipReason !== undefined)('the web console in Chromium', () => {
  let dataDir: string;
  let shotsDir: string;
  let serve: ServeRun;
  let base: string;
  let admin: TestApiClient;
  let browser: Browser;
  /** Errors each page reported, checked after every test. */
  const pageErrors: { page: string; errors: string[] }[] = [];

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'vmsnap-console-'));
    shotsDir = mkdtempSync(join(tmpdir(), 'vmsnap-console-screens-'));
    serve = startServe(dataDir, {
      env: {
        VMSNAP_ADMIN_API_KEY: ADMIN_KEYS.apiKey,
        VMSNAP_ADMIN_SECRET_KEY: ADMIN_KEYS.secretKey,
        VMSNAP_ADMIN_PASSWORD: PASSWORDS.admin,
        VMSNAP_DEMO_PASSWORD: PASSWORDS.demo,
      },
    });
    const banner = await serve.ready();
    const endpoint = /vmsnap is running: (\S+)\/client\/api/.exec(banner)?.[1];
    if (endpoint === undefined) throw new Error(`no endpoint in the banner: ${banner}`);
    base = endpoint;
    admin = new TestApiClient(base, ADMIN_KEYS.apiKey, ADMIN_KEYS.secretKey);
    // A VM of the admin's own: the tenant must not see it.
    const zone = (await admin.payload('listZones'))['zone'] as { id: string }[];
    const deployed = await admin.payload('deployVirtualMachine', { zoneid: zone[0]!.id, name: ADMIN_VM });
    const job = await admin.waitForJob(String(deployed['jobid']), WAIT_MS);
    expect(job['jobstatus']).toBe(1);
    browser = await launchChromium();
    console.info(`console screenshots of this run: ${shotsDir}`);
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await serve?.stop();
    if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
  });

  afterEach(() => {
    const failing = pageErrors.splice(0).filter((p) => p.errors.length > 0);
    expect(failing, 'errors reported by the browser').toEqual([]);
  });

  async function openPage(name: string): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    context.setDefaultTimeout(WAIT_MS);
    const page = await context.newPage();
    pageErrors.push({ page: name, errors: collectErrors(page) });
    return { context, page };
  }

  /** Saves a screenshot into this run's folder, and into docs/screenshots when asked to. */
  async function screenshot(page: Page, name: string): Promise<void> {
    const file = join(shotsDir, `${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    if (process.env['VMSNAP_UPDATE_SCREENSHOTS'] === '1') {
      mkdirSync(DOCS_SCREENSHOTS, { recursive: true });
      copyFileSync(file, join(DOCS_SCREENSHOTS, `${name}.png`));
    }
  }

  async function expectAccessible(page: Page, what: string): Promise<void> {
    expect(await seriousAxeViolations(page), `serious or critical axe violations on ${what}`).toEqual([]);
  }

  async function logIn(page: Page, username: string, password: string): Promise<void> {
    await page.goto(`${base}/`);
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Instances' }).waitFor();
  }

  it('serves the console at / with a strict CSP, content types and cache headers', async () => {
    const index = await fetch(`${base}/`);
    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(index.headers.get('cache-control')).toBe('no-cache');
    const csp = index.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toContain('unsafe-inline');
    const html = await index.text();
    const script = /src="(\/assets\/main-[^"]+\.js)"/.exec(html)?.[1];
    const style = /href="(\/assets\/styles-[^"]+\.css)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    expect(style).toBeDefined();
    // No inline script: every script is a file of this origin.
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    const js = await fetch(`${base}${script}`);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(js.headers.get('cache-control')).toContain('immutable');
    const css = await fetch(`${base}${style}`);
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
    const again = await fetch(`${base}/`, { headers: { 'if-none-match': index.headers.get('etag') ?? '' } });
    expect(again.status).toBe(304);
    expect((await fetch(`${base}/assets/nothing-here.js`)).status).toBe(404);
  });

  it(
    'a tenant logs in, sees only its VMs, snapshots with memory, reverts, deletes, reads a failure, logs out',
    async () => {
      const { context, page } = await openPage('tenant');
      await page.goto(`${base}/`);
      await page.getByRole('button', { name: 'Log in' }).waitFor();
      await expectAccessible(page, 'the login page');
      await screenshot(page, 'console-login');

      await logIn(page, 'demo', PASSWORDS.demo);
      const web1 = page.getByRole('link', { name: 'web-1', exact: true });
      await web1.waitFor();
      await page.getByRole('link', { name: 'db-1', exact: true }).waitFor();
      // The list is loaded (its own VMs are there): the admin's VM is not in it.
      expect(await page.getByRole('link', { name: ADMIN_VM }).count()).toBe(0);
      expect(await page.getByRole('link', { name: 'Hosts' }).count()).toBe(0);
      await expectAccessible(page, 'the VM list');
      await screenshot(page, 'console-vm-list');

      await web1.click();
      await page.getByRole('heading', { level: 1, name: 'web-1' }).waitFor();
      await page.getByText('No snapshots yet.').waitFor();
      // Set in the page: a reload would lose it.
      await page.evaluate(() => Object.assign(window, { vmsnapNoReload: true }));

      // Take a snapshot with memory, and watch it become Ready.
      await page.getByRole('button', { name: 'Take snapshot' }).click();
      const takeDialog = page.getByRole('dialog', { name: 'Take snapshot of web-1' });
      await takeDialog.getByLabel('Name', { exact: true }).fill('before-upgrade');
      await takeDialog.getByLabel('Description', { exact: true }).fill('web-1 before the upgrade');
      await takeDialog.getByRole('checkbox', { name: 'Include memory' }).check();
      await expectAccessible(page, 'the take-snapshot dialog');
      await takeDialog.getByRole('button', { name: 'Create' }).click();
      const snap = page.getByRole('article', { name: 'before-upgrade', exact: true });
      await snap.getByText('Ready', { exact: true }).waitFor();
      await page.getByText('before-upgrade is ready.').waitFor();
      expect(await snap.getByText('Disk and memory').count()).toBe(1);
      // Its size: web-1's one 20 GiB disk, from listVMSnapshot's virtualsize.
      await snap.getByText('20.0 GiB of disks, memory not counted', { exact: true }).waitFor();
      expect(await snap.getByText('Current', { exact: true }).count()).toBe(1);
      expect(await page.evaluate(() => 'vmsnapNoReload' in window)).toBe(true);

      // A second one, disk only and quiesced: the child of the first in the tree, and now current.
      await page.getByRole('button', { name: 'Take snapshot' }).click();
      await page.getByLabel('Name', { exact: true }).fill('after-upgrade');
      await page.getByRole('checkbox', { name: 'Quiesce guest' }).check();
      await page.getByRole('button', { name: 'Create' }).click();
      const child = page.getByRole('article', { name: 'after-upgrade', exact: true });
      await child.getByText('Ready', { exact: true }).waitFor();
      await child.getByText('Current', { exact: true }).waitFor();
      await page.getByText('after-upgrade is ready.').waitFor();
      expect(await snap.getByText('Current', { exact: true }).count()).toBe(0);
      // The child's card is inside its parent's list item: the tree's nesting.
      expect(await page.getByRole('listitem').filter({ has: snap }).filter({ has: child }).count()).toBe(1);

      // Revert to the first, confirmed: the current mark moves back to it.
      await page.getByRole('button', { name: 'Revert before-upgrade', exact: true }).click();
      const revertDialog = page.getByRole('dialog', { name: 'Revert web-1 to before-upgrade?' });
      await expectAccessible(page, 'the confirmation dialog');
      await revertDialog.getByRole('button', { name: 'Confirm' }).click();
      await page.getByText('web-1 is back at before-upgrade.').waitFor();
      await snap.getByText('Current', { exact: true }).waitFor();
      await expectAccessible(page, 'the VM page with its snapshot tree');
      await screenshot(page, 'console-vm-page');

      // Delete it, confirmed.
      await page.getByRole('button', { name: 'Delete before-upgrade', exact: true }).click();
      await page
        .getByRole('dialog', { name: 'Delete before-upgrade?' })
        .getByRole('button', { name: 'Confirm' })
        .click();
      await page.getByText('before-upgrade is deleted.').waitFor();
      await snap.waitFor({ state: 'detached' });

      // An injected failure (configureSimulator) is shown in the API's own words.
      const vms = (await admin.payload('listVirtualMachines', { listall: true, name: 'web-1' }))[
        'virtualmachine'
      ] as { id: string }[];
      await admin.payload('configureSimulator', {
        name: 'CreateVMSnapshotCommand',
        value: 'result:fail',
        virtualmachineid: vms[0]!.id,
        count: 1,
      });
      await page.getByRole('button', { name: 'Take snapshot' }).click();
      await page.getByLabel('Name', { exact: true }).fill('doomed');
      await page.getByRole('button', { name: 'Create' }).click();
      const alert = page.getByRole('alert').filter({ hasText: 'Taking snapshot doomed failed' });
      await alert.waitFor();
      const jobs = (await admin.payload('listAsyncJobs', { listall: true }))['asyncjobs'] as {
        cmd: string;
        jobstatus: number;
        jobresult?: { errortext?: string };
      }[];
      const failed = jobs.find((j) => j.jobstatus === 2 && j.jobresult?.errortext?.includes('"doomed"'));
      const errorText = failed?.jobresult?.errortext ?? '';
      expect(errorText).toContain('Failed to create Instance Snapshot');
      // The page says what the API says, word for word.
      expect(await alert.textContent()).toContain(errorText);
      await page
        .getByRole('article', { name: 'doomed', exact: true })
        .getByText('Error', { exact: true })
        .waitFor();
      expect(await page.evaluate(() => 'vmsnapNoReload' in window)).toBe(true);

      // Events, then log out; the old session key is refused from then on.
      await page.getByRole('link', { name: 'Events' }).click();
      await page.getByRole('heading', { level: 1, name: 'Events' }).waitFor();
      await page.getByRole('table').waitFor();
      await expectAccessible(page, 'the events page');
      await screenshot(page, 'console-events');

      const sessionKey = await page.evaluate(() => {
        const stored = sessionStorage.getItem('vmsnap.session');
        return stored === null ? undefined : (JSON.parse(stored) as { sessionKey: string }).sessionKey;
      });
      const cookies = await context.cookies(`${base}/client/api`);
      const cookieHeader = cookies.map((c) => `${c.name}=${c.value}`).join('; ');
      expect(sessionKey).toBeDefined();
      const withSession = (): Promise<Response> =>
        fetch(`${base}/client/api`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: cookieHeader },
          body: new URLSearchParams({
            command: 'listVirtualMachines',
            response: 'json',
            sessionkey: sessionKey ?? '',
          }),
        });
      expect((await withSession()).status).toBe(200);

      await page.getByRole('button', { name: 'Log out' }).click();
      await page.getByRole('button', { name: 'Log in' }).waitFor();
      await page.getByText('You are logged out.').waitFor();
      expect((await withSession()).status).toBe(401);
      await context.close();
    },
    TEST_MS,
  );

  /** Presses Tab until the focused element's text is `text` (a bounded number of times). */
  async function tabTo(page: Page, text: string): Promise<void> {
    for (let i = 0; i < 60; i++) {
      await page.keyboard.press('Tab');
      const focused = await page.evaluate(() => document.activeElement?.textContent?.trim() ?? '');
      if (focused === text) return;
    }
    throw new Error(`Tab never reached "${text}"`);
  }

  const focusedText = (page: Page): Promise<string> =>
    page.evaluate(() => document.activeElement?.textContent?.trim() ?? '');

  it(
    'works from the keyboard alone: log in, open a VM, snapshot, Escape, delete with confirmation',
    async () => {
      const { context, page } = await openPage('keyboard');
      await page.goto(`${base}/`);
      await page.getByRole('button', { name: 'Log in' }).waitFor();
      await page.keyboard.press('Tab');
      await page.keyboard.type('demo');
      await page.keyboard.press('Tab');
      await page.keyboard.type(PASSWORDS.demo);
      await page.keyboard.press('Enter');
      await page.getByRole('heading', { level: 1, name: 'Instances' }).waitFor();
      await page.getByRole('link', { name: 'db-1', exact: true }).waitFor();
      await tabTo(page, 'db-1');
      await page.keyboard.press('Enter');
      await page.getByRole('heading', { level: 1, name: 'db-1' }).waitFor();
      // The page's heading has focus as soon as it is there (a screen reader announces the page).
      expect(await page.evaluate(() => document.activeElement?.tagName)).toBe('H1');
      expect(await focusedText(page)).toBe('db-1');

      // The dialog opens on Enter with focus in it, and Escape closes it, back to its button.
      await tabTo(page, 'Take snapshot');
      await page.keyboard.press('Enter');
      const dialog = page.getByRole('dialog', { name: 'Take snapshot of db-1' });
      await dialog.waitFor();
      expect(await page.evaluate(() => document.activeElement?.id)).toBe(
        await dialog.getByLabel('Name', { exact: true }).getAttribute('id'),
      );
      await page.keyboard.press('Escape');
      await dialog.waitFor({ state: 'detached' });
      expect(await focusedText(page)).toBe('Take snapshot');

      // Enter again, type a name, Enter submits the form.
      await page.keyboard.press('Enter');
      await dialog.waitFor();
      await page.keyboard.type('keyboard-snap');
      await page.keyboard.press('Enter');
      const snap = page.getByRole('article', { name: 'keyboard-snap', exact: true });
      await snap.getByText('Ready', { exact: true }).waitFor();
      // The job is over (its actions are offered again) once the page says so.
      await page.getByText('keyboard-snap is ready.').waitFor();

      // Delete: the confirmation opens on Cancel (nothing lost by a stray Enter); Shift+Tab, Enter confirms.
      await tabTo(page, 'Delete keyboard-snap');
      await page.keyboard.press('Enter');
      const confirm = page.getByRole('dialog', { name: 'Delete keyboard-snap?' });
      await confirm.waitFor();
      expect(await focusedText(page)).toBe('Cancel');
      await page.keyboard.press('Shift+Tab');
      expect(await focusedText(page)).toBe('Confirm');
      await page.keyboard.press('Enter');
      await page.getByText('keyboard-snap is deleted.').waitFor();
      await snap.waitFor({ state: 'detached' });
      await context.close();
    },
    TEST_MS,
  );

  it(
    'an admin sees hosts, storage pools with their provider, schedules and settings',
    async () => {
      const { context, page } = await openPage('admin');
      await logIn(page, 'admin', PASSWORDS.admin);
      await page.getByRole('link', { name: ADMIN_VM, exact: true }).waitFor();

      await page.getByRole('link', { name: 'Hosts' }).click();
      await page.getByRole('heading', { level: 1, name: 'Hosts' }).waitFor();
      await page.getByRole('rowheader', { name: 'sim-host-1' }).waitFor();
      await page.getByRole('rowheader', { name: 'sim-host-2' }).waitFor();
      await expectAccessible(page, 'the hosts page');
      await screenshot(page, 'console-hosts');

      await page.getByRole('link', { name: 'Storage pools' }).click();
      await page.getByRole('heading', { level: 1, name: 'Storage pools' }).waitFor();
      const arrayPool = page.getByRole('row').filter({ hasText: 'array-pool-1' });
      await arrayPool.waitFor();
      expect(await arrayPool.getByRole('cell', { name: 'vendor-array', exact: true }).count()).toBe(1);
      await page.getByRole('rowheader', { name: 'sim-primary-1' }).waitFor();
      await expectAccessible(page, 'the storage pools page');
      await screenshot(page, 'console-pools');

      // Schedules (issue 13's policies): one made through the API shows in words.
      const db1 = (await admin.payload('listVirtualMachines', { listall: true, name: 'db-1' }))[
        'virtualmachine'
      ] as { id: string }[];
      await admin.payload('createVMSnapshotPolicy', {
        virtualmachineid: db1[0]!.id,
        intervaltype: 'DAILY',
        schedule: '30:02',
        timezone: 'Europe/Berlin',
        maxsnaps: 7,
      });
      await page.getByRole('link', { name: 'Schedules' }).click();
      await page.getByRole('heading', { level: 1, name: 'Schedules' }).waitFor();
      const policy = page.getByRole('row').filter({ has: page.getByRole('link', { name: 'db-1' }) });
      await policy.waitFor();
      expect(await policy.getByRole('cell', { name: 'Europe/Berlin' }).count()).toBe(1);
      expect(await policy.getByRole('cell', { name: 'Newest 7' }).count()).toBe(1);
      await expectAccessible(page, 'the schedules page');
      await screenshot(page, 'console-schedules');

      await page.getByRole('link', { name: 'Settings' }).click();
      await page.getByRole('heading', { level: 1, name: 'Settings' }).waitFor();
      await page.getByRole('rowheader', { name: 'job.shutdown.wait' }).waitFor();
      await expectAccessible(page, 'the settings page');
      await screenshot(page, 'console-settings');
      await context.close();
    },
    TEST_MS,
  );
});
