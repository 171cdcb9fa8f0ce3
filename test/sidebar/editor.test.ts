import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser, screenshot } from '../support/browser';
import { Fleet, devices } from '../support/fleet';
import { startDemo, fleetManaged, token, bearer, openAs, DEMO_PLATFORM, type DemoNodeRed } from './support';

const rowCount = (page: Page) => page.locator('.iotdm-sidebar table.iotdm-devices tbody tr.iotdm-device').count();

describe('sidebar: the device-management tab in the editor (Chromium) on the demo fleet', function () {
  this.timeout(40000);
  let demo: DemoNodeRed;
  let browser: Browser;

  before(async () => {
    const [d, b] = await Promise.all([startDemo(), launchBrowser()]);
    demo = d;
    browser = b;
    const admin = bearer(await token(demo.red.url, 'admin'));
    await fleetManaged(demo.red.url, admin);
  });
  after(async () => {
    await browser?.close();
    await demo?.red.stop();
  });

  it('fits the default sidebar width and height: the table without a horizontal scroll, the title whole, nothing overlapping', async () => {
    const page = await openAs(browser, demo.red.url, 'admin', 'en-US', { defaultWidth: true });
    await page.waitForFunction(() => document.querySelectorAll('.iotdm-sidebar tr.iotdm-device').length === 50);
    const m = await page.evaluate(() => {
      const box = (sel: string) => document.querySelector(sel)!.getBoundingClientRect();
      const wrap = document.querySelector('.iotdm-sidebar .iotdm-table-wrap')!;
      // the tab's title, as each version shows it: 4.1's tab label, 5.0's section header
      const titles = [
        ...document.querySelectorAll(
          '#red-ui-sidebar .red-ui-tab.active .red-ui-tab-label, #red-ui-sidebar .red-ui-sidebar-section-top .red-ui-sidebar-section-header-title, #red-ui-sidebar .red-ui-sidebar-header-title',
        ),
      ]
        .filter((e) => (e as HTMLElement).offsetParent !== null)
        .map((e) => ({ text: e.textContent, whole: e.scrollWidth <= e.clientWidth + 1 }));
      return {
        tabWidth: box('.iotdm-sidebar').width,
        tableWidth: wrap.scrollWidth,
        wrapWidth: wrap.clientWidth,
        rowsShown: Math.floor(wrap.clientHeight / (document.querySelector('.iotdm-sidebar tr.iotdm-device') as HTMLElement).offsetHeight),
        launch: box('.iotdm-launch'),
        requestsTitle: box('.iotdm-requests-section .iotdm-section-title'),
        titles,
      };
    });
    await screenshot(page, 'sidebar-default-width');
    assert.ok(m.tableWidth <= m.wrapWidth, `the table is ${m.tableWidth} px wide in ${m.wrapWidth} px (${m.tabWidth} px tab)`);
    assert.ok(m.rowsShown >= 5, `only ${m.rowsShown} device rows visible`);
    assert.ok(m.launch.bottom <= m.requestsTitle.top, `"Launch an action" (bottom ${m.launch.bottom}) overlaps "Requests" (top ${m.requestsTitle.top})`);
    for (const t of m.titles) assert.ok(t.whole, `tab title "${t.text}" is truncated`);
    // what the narrow table leaves out is in the row's tooltip
    assert.match((await page.getAttribute('tr.iotdm-device[data-key="sim:sim-001"]', 'title')) ?? '', /Supports: actions, firmware/);
    await page.context().close();
  });

  it('asks before it launches: no fleet is preselected, and a confirmation names the action and the count ("Reboot 101 devices?")', async () => {
    const page = await openAs(browser, demo.red.url, 'admin', 'en-US', { defaultWidth: true });
    await page.click('.iotdm-launch');
    await page.waitForSelector('#iotdm-launch-action');
    // nothing selected in the table: no choice of devices is made for the user
    assert.equal(await page.locator('input[name=iotdm-launch-devices]:checked').count(), 0);
    await page.click('#iotdm-launch-submit');
    await page.waitForFunction(() => /Choose the devices/.test(document.querySelector('.iotdm-launch-error')?.textContent ?? ''));
    await page.check('input[name=iotdm-launch-devices][value=all]');
    await page.click('#iotdm-launch-submit');
    await page.waitForSelector('#iotdm-confirm-launch');
    assert.equal(await page.textContent('.iotdm-confirm-text'), 'Reboot 101 devices?');
    // the notification has slid down
    await page.waitForFunction(() => !(window as unknown as { $: (s: string) => { length: number } }).$(':animated').length);
    await screenshot(page, 'sidebar-launch-confirm');
    // "Cancel" sends nothing
    await page.click('#iotdm-confirm-cancel');
    await page.waitForSelector('#iotdm-confirm-launch', { state: 'detached' });
    await page.waitForFunction(() => /Not launched/.test(document.querySelector('.iotdm-launch-error')?.textContent ?? ''));
    const admin = bearer(await token(demo.red.url, 'admin'));
    const r = await fetch(`${demo.red.url}/iotdm/platforms/${DEMO_PLATFORM}/requests`, { headers: { authorization: admin } });
    assert.equal(((await r.json()) as { requests: unknown[] }).requests.length, 0, 'a cancelled launch sent a request');
    await page.context().close();
  });

  it('shows the devices, launches a reboot on ten of them and follows the request to 10/10 success', async () => {
    const page = await openAs(browser, demo.red.url, 'admin');
    assert.equal(await rowCount(page), 50);
    assert.equal(await page.textContent('.iotdm-devices-section .iotdm-pager .iotdm-range'), '1–50 of 101');
    const first = page.locator('tr.iotdm-device[data-key="sim:sim-001"]');
    assert.equal(await first.locator('.iotdm-col-state').textContent(), 'managed');
    assert.equal(await first.locator('.iotdm-col-fw').textContent(), '1.0.0');
    assert.equal(await first.locator('.iotdm-col-supports').textContent(), 'actions, firmware');
    assert.equal(await page.isEnabled('.iotdm-launch'), true);
    await screenshot(page, 'sidebar-devices');

    // type filter and id search, then every device of the page
    await page.selectOption('.iotdm-sidebar select.iotdm-type', 'sim');
    await page.fill('.iotdm-sidebar input.iotdm-search', 'sim-01');
    await page.waitForFunction(() => document.querySelectorAll('.iotdm-sidebar tr.iotdm-device').length === 10);
    const ids = await page.locator('tr.iotdm-device .iotdm-col-id').allTextContents();
    assert.deepEqual(
      ids,
      Array.from({ length: 10 }, (_, i) => `sim-0${10 + i}`),
    );
    await page.check('.iotdm-sidebar input.iotdm-select-page');
    assert.equal(await page.textContent('.iotdm-selected-count'), '10 selected');

    // the client's own check, then the server's 400 (a parameter longer than the schema allows)
    await page.click('.iotdm-launch');
    await page.waitForSelector('#iotdm-launch-action');
    await page.selectOption('#iotdm-launch-action', 'firmware/download');
    await page.fill('#iotdm-launch-uri', 'ftp://example.com/fw.bin');
    await page.click('#iotdm-launch-submit');
    assert.match((await page.textContent('.iotdm-launch-error')) ?? '', /http:\/\/ or https:\/\//);
    await page.fill('#iotdm-launch-uri', 'https://example.com/fw.bin');
    await page.fill('#iotdm-launch-version', 'v'.repeat(4100));
    await page.click('#iotdm-launch-submit');
    await page.click('#iotdm-confirm-launch');
    // the closed confirmation fades out before it leaves the page: the next one must not be mistaken for it
    await page.waitForSelector('#iotdm-confirm-launch', { state: 'detached' });
    await page.waitForFunction(() => /invalid request: /.test(document.querySelector('.iotdm-launch-error')?.textContent ?? ''));
    await page.fill('#iotdm-launch-version', '');
    await page.fill('#iotdm-launch-uri', '');
    await screenshot(page, 'sidebar-launch-refused-400');

    // reboot the ten selected devices
    await page.selectOption('#iotdm-launch-action', 'device/reboot');
    assert.equal(await page.isChecked('input[name=iotdm-launch-devices][value=selected]'), true);
    assert.match((await page.textContent('.iotdm-launch-devices')) ?? '', /the selected devices \(10\)/);
    await screenshot(page, 'sidebar-launch-dialog');
    await page.click('#iotdm-launch-submit');
    await page.waitForSelector('#iotdm-confirm-launch');
    assert.equal(await page.textContent('.iotdm-confirm-text'), 'Reboot 10 devices?');
    await page.click('#iotdm-confirm-launch');
    await page.waitForSelector('#iotdm-launch-action', { state: 'detached' });
    const req = page.locator('.iotdm-request').first();
    await req.waitFor();
    assert.match((await req.locator('.iotdm-request-action').textContent()) ?? '', /^reboot · 10$/);
    await screenshot(page, 'sidebar-request-in-progress');
    // live counts from comms (the page does not poll): complete with 10 successes
    await page.waitForFunction(() => document.querySelector('.iotdm-request .iotdm-request-state')?.textContent === 'complete', undefined, { timeout: 10000 });
    assert.equal(await req.locator('.iotdm-count-success').textContent(), 'success 10');
    assert.equal(await req.locator('.iotdm-count-failure').textContent(), 'failure 0');
    assert.equal(await req.locator('.iotdm-count-inProgress').textContent(), 'in progress 0');
    assert.equal(await req.locator('.iotdm-cancel').isVisible(), false);

    // per-device outcomes with rc, paged by 20
    await req.locator('.iotdm-request-head').click();
    await page.waitForFunction(() => document.querySelectorAll('.iotdm-request table.iotdm-rows tbody tr').length === 10);
    const rcs = await req.locator('table.iotdm-rows td.iotdm-rc').allTextContents();
    assert.deepEqual(rcs, Array(10).fill('202'));
    await screenshot(page, 'sidebar-request-complete');
    await page.context().close();
  });

  it('a read-only user sees devices and requests but cannot launch: the button is disabled and the server refuses (fr)', async () => {
    const page = await openAs(browser, demo.red.url, 'viewer', 'fr');
    assert.equal(await page.textContent('.iotdm-launch span'), 'Lancer une action');
    assert.equal(await page.isDisabled('.iotdm-launch'), true);
    assert.equal(await page.isVisible('.iotdm-readonly'), true);
    assert.equal(await page.textContent('.iotdm-devices-section .iotdm-section-title'), 'Terminaux');
    // the request of the previous test is listed, complete, without a cancel button
    await page.waitForSelector('.iotdm-request.iotdm-complete');
    assert.equal(await page.locator('.iotdm-request .iotdm-count-success').first().textContent(), 'réussite 10');
    assert.equal(await page.locator('.iotdm-request .iotdm-cancel').first().isVisible(), false);
    // even a hand-made launch with the viewer's token is refused by the runtime
    const status = await page.evaluate(
      (platform) =>
        new Promise<number>((resolve) => {
          const $ = (window as unknown as { $: { ajax(o: object): { always(fn: (x: { status: number }) => void): void } } }).$;
          $.ajax({
            url: `iotdm/platforms/${platform}/requests`,
            method: 'POST',
            contentType: 'application/json',
            data: JSON.stringify({ action: 'device/reboot', devices: [{ typeId: 'sim', deviceId: 'sim-001' }] }),
          }).always((x) => resolve(x.status));
        }),
      DEMO_PLATFORM,
    );
    assert.equal(status, 401);
    await screenshot(page, 'sidebar-read-only-fr');
    await page.context().close();
  });

  it('with 5,000 more devices in the registry, a page still renders one page of rows (50), and pages through them', async () => {
    const fleet = new Fleet({ url: `mqtt://127.0.0.1:${demo.mqttPort}`, devices: devices(5000, 'bulk') });
    await fleet.start();
    try {
      await fleet.manageAll(20000);
      const page = await openAs(browser, demo.red.url, 'admin');
      assert.equal(await page.textContent('.iotdm-devices-section .iotdm-pager .iotdm-range'), '1–50 of 5101');
      assert.equal(await rowCount(page), 50);
      const started = Date.now();
      await page.selectOption('.iotdm-sidebar select.iotdm-type', 'bulk');
      await page.waitForFunction(() => document.querySelector('.iotdm-devices-section .iotdm-range')?.textContent === '1–50 of 5000');
      await page.click('.iotdm-sidebar .iotdm-next');
      await page.waitForFunction(() => document.querySelector('.iotdm-devices-section .iotdm-range')?.textContent === '51–100 of 5000');
      const pageMs = Date.now() - started;
      assert.equal(await rowCount(page), 50);
      assert.equal(await page.locator('tr.iotdm-device .iotdm-col-id').first().textContent(), 'dev-0050');
      // the whole document holds one page of device rows, not 5,000
      assert.equal(await page.evaluate(() => document.querySelectorAll('.iotdm-sidebar tr.iotdm-device').length), 50);
      assert.ok(pageMs < 3000, `two page loads took ${pageMs} ms`);
      await screenshot(page, 'sidebar-5000-devices');
      console.log(`      two pages of 5,000 devices fetched and rendered in ${pageMs} ms`);
      await page.context().close();
    } finally {
      await fleet.stop();
    }
  });
});
