/**
 * The operator page (examples/operator-page.json) in a real Node-RED with Dashboard 2.0
 * (@flowfuse/node-red-dashboard, found by Node-RED in this package's node_modules) and a real
 * Chromium: the page lists the 20 simulated devices from the platform's enrolment, filters them,
 * launches a reboot after the same confirmation as the sidebar, and follows it to 20/20.
 */
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { startNodeRed, type NodeRedProcess } from '../support/node-red-process';
import { launchBrowser, screenshot } from '../support/browser';
import { readExample, movePorts, registryOf, until } from '../examples/flows';

describe('operator page: the fleet run from a Dashboard 2.0 page, without the editor', function () {
  this.timeout(60000);
  const flow = readExample('operator-page.json');
  const platform = flow.find((n) => n.type === 'iotdm-platform')!;
  let red: NodeRedProcess;
  let browser: Browser;

  before(async () => {
    await movePorts(flow);
    red = await startNodeRed({ flows: flow });
    // the page lists the devices enrolled so far: wait until all 20 came (and are managed)
    await until(
      '20 managed devices',
      async () => ((await registryOf(red.url, platform.id)).filter((d) => d.typeId === 'op' && d.managed).length === 20 ? true : undefined),
      20000,
    );
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await red?.stop();
  });

  it('lists and filters the devices, confirms "Reboot 20 devices?", and shows the request reach 20/20', async () => {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    await page.goto(`${red.url}/dashboard/iotdm-operator`, { waitUntil: 'domcontentloaded' });
    const rows = page.locator('.op-devices tr');
    await page.waitForSelector('.op-refresh', { timeout: 20000 });
    await until('the 20 devices on the page', async () => {
      if ((await rows.count()) === 21) return true;
      await page.click('.op-refresh');
      return undefined;
    });
    // the filters: a type dropdown (op, not the gateway) and a search
    assert.deepEqual(await page.locator('.op-type option').allTextContents(), ['all types', 'op']);
    await page.selectOption('.op-type', 'op');
    await page.fill('.op-search', 'op-1');
    await until('10 devices match op-1', async () => ((await rows.count()) === 11 ? true : undefined));
    await page.fill('.op-search', '');
    await until('20 devices again', async () => ((await rows.count()) === 21 ? true : undefined));

    await page.selectOption('.op-action', 'device/reboot');
    let asked = '';
    page.once('dialog', (d) => {
      asked = d.message();
      void d.accept();
    });
    await page.click('.op-launch');
    assert.equal(asked, 'Reboot 20 devices?');
    const progress = page.locator('.op-progress');
    await until('progress 20/20, complete', async () => (/20\/20 .*complete/.test((await progress.textContent()) ?? '') ? true : undefined), 30000);
    assert.match((await progress.textContent()) ?? '', /^device\/reboot: 20\/20 · ✓ 20 · ✗ 0 · timed out 0 · complete$/);
    assert.equal(await page.locator('.op-devices td', { hasText: 'success' }).count(), 20);
    await screenshot(page, 'operator-page');
    assert.deepEqual(
      red
        .output()
        .split('\n')
        .filter((l) => /\[error\]/.test(l)),
      [],
    );
  });
});
