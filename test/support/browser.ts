/**
 * Debian's Chromium driven by playwright-core for the editor tests (browser downloads do not work
 * here). Found at /usr/bin/chromium; when it is missing and we are root it is installed with
 * apt-get; otherwise the run fails with a clear error (never skips). Screenshots go to
 * test-artifacts/<name>-nr<major>.png as kept artifacts of the run.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { RED_VERSION } from './red';

export const ARTIFACTS = path.join(__dirname, '..', '..', '..', 'test-artifacts');
const CHROMIUM = '/usr/bin/chromium';

export function findChromium(): string {
  if (fs.existsSync(CHROMIUM)) return CHROMIUM;
  if (process.getuid?.() === 0) {
    spawnSync('apt-get', ['update'], { stdio: 'ignore' });
    const r = spawnSync('apt-get', ['install', '-y', 'chromium'], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    if (fs.existsSync(CHROMIUM)) return CHROMIUM;
    throw new Error(`chromium is not installed and apt-get install failed (exit ${r.status})`);
  }
  throw new Error("chromium is not installed: run `apt-get install -y chromium` (the editor tests need Debian's Chromium)");
}

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: findChromium(),
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
  });
}

/** Keep a screenshot of the page as a test artifact, named for the Node-RED it shows (…-nr4.png, …-nr5.png). */
export async function screenshot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name.replace(/[^A-Za-z0-9_.-]+/g, '-')}-nr${RED_VERSION.split('.')[0]}.png`);
  await page.screenshot({ path: file, fullPage: false });
  return file;
}

/** Open the Node-RED editor and wait until it has loaded the palette and the flows. */
export async function openEditor(browser: Browser, url: string, opts: { locale?: string; size?: { width: number; height: number } } = {}): Promise<Page> {
  const context = await browser.newContext({ viewport: opts.size ?? { width: 1400, height: 900 }, locale: opts.locale ?? 'en-US' });
  const page = await context.newPage();
  await page.goto(url, { waitUntil: 'domcontentloaded' });
  await page.waitForSelector('#red-ui-palette-container', { timeout: 30000 });
  await page.waitForFunction(
    () => {
      const RED = (window as unknown as { RED?: { nodes?: { getType?: (t: string) => unknown } } }).RED;
      return !!RED?.nodes?.getType?.('iotdm-mgmt-request');
    },
    undefined,
    { timeout: 30000 },
  );
  return page;
}
