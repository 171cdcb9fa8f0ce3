import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { call, basic, until } from '../http/support';
import { launchBrowser, screenshot } from '../support/browser';
import { demoSession, openAs, DEMO_PLATFORM, API, type DemoSession } from './support';

const P = `/iotdm/platforms/${DEMO_PLATFORM}`;

/** Start a rollout over the demo's v0002 API (its key and token); its id. */
async function createRollout(s: DemoSession, body: object): Promise<string> {
  const r = await call(s.base, 'POST', '/api/v0002/mgmt/rollouts', { auth: basic(API.key, API.token), body });
  assert.equal(r.status, 202, r.text);
  return r.json.rolloutId as string;
}

/** The rollout's row in the sidebar, scrolled into view (the section is below the requests). */
async function rolloutRow(page: Page, id: string) {
  const row = page.locator(`.iotdm-rollout[data-id="${id}"]`);
  await row.waitFor({ timeout: 20000 });
  await row.scrollIntoViewIfNeeded();
  return row;
}

/** Wait until the sidebar shows the rollout in `state` (the text of its state badge). */
function stateShown(page: Page, id: string, state: string, timeout = 20000) {
  return page.waitForFunction(
    ([id, state]) => document.querySelector(`.iotdm-rollout[data-id="${id}"] .iotdm-rollout-state`)?.textContent === state,
    [id, state] as const,
    { timeout },
  );
}

/**
 * Record every state text the rollout's row shows, in order (into window.iotdmStates): the sidebar
 * re-renders a row per summary, and a short state may come and go between two looks.
 */
async function recordStates(page: Page, id: string): Promise<void> {
  await page.evaluate((id) => {
    const w = window as unknown as { iotdmStates: string[] };
    w.iotdmStates = [];
    const look = () => {
      const t = document.querySelector(`.iotdm-rollout[data-id="${id}"] .iotdm-rollout-state`)?.textContent;
      if (t && w.iotdmStates[w.iotdmStates.length - 1] !== t) w.iotdmStates.push(t);
    };
    look();
    new MutationObserver(look).observe(document.querySelector('.iotdm-sidebar .iotdm-rollouts')!, { childList: true, subtree: true, characterData: true });
  }, id);
}
const statesSeen = (page: Page) => page.evaluate(() => (window as unknown as { iotdmStates: string[] }).iotdmStates);

/** The wave bars of a row: the title of each and the width (%) of its coloured parts. */
function waveBars(page: Page, id: string) {
  return page.evaluate(
    (id) =>
      [...document.querySelectorAll(`.iotdm-rollout[data-id="${id}"] .iotdm-wave`)].map((w) => ({
        title: w.getAttribute('title'),
        parts: Object.fromEntries([...w.children].map((c) => [c.className.replace('iotdm-wave-', ''), Math.round(parseFloat((c as HTMLElement).style.width))])),
      })),
    id,
  );
}

/** Whether an empty wave's track can be seen: its colour is neither transparent nor the sidebar's (white) background. */
function trackVisible(page: Page, id: string, index: number) {
  return page.evaluate(
    ([id, index]) => {
      const bg = (e: Element | null): string => {
        for (; e; e = e.parentElement) {
          const c = getComputedStyle(e).backgroundColor;
          if (c !== 'rgba(0, 0, 0, 0)' && c !== 'transparent') return c;
        }
        return 'rgb(255, 255, 255)';
      };
      const wave = document.querySelector(`.iotdm-rollout[data-id="${id}"] .iotdm-wave[data-index="${index}"]`)!;
      return { track: bg(wave), behind: bg(wave.parentElement) };
    },
    [id, index] as const,
  );
}

const buttonsOf = async (page: Page, id: string) =>
  page
    .locator(`.iotdm-rollout[data-id="${id}"] .iotdm-rollout-buttons button`)
    .evaluateAll((bs) => bs.map((b) => `${b.textContent}${(b as HTMLButtonElement).disabled ? ' (disabled)' : ''}`));

/**
 * The sidebar's rollouts on the demo: their list with a bar's counts per wave and the routes of its
 * buttons; then in Chromium, the buttons pressed as an operator does (approve and cancel after their
 * confirmation, pause, resume) and the state each press leads to, and a reader's disabled buttons.
 * Screenshots: test-artifacts/sidebar-rollout-*.png.
 */
describe('sidebar: rollouts on a real Node-RED with adminAuth', function () {
  this.timeout(40000);
  const s = demoSession();
  let browser: Browser;
  before(async () => {
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
  });

  it('lists a rollout with its waves, refuses approve to a reader, and approves for a writer', async () => {
    const auth = basic(API.key, API.token);
    const created = await call(s.base, 'POST', '/api/v0002/mgmt/rollouts', {
      auth,
      body: { name: 'sims', action: 'device/reboot', select: { typeId: 'sim' }, waves: [{ size: 10, gate: { approval: true } }, { size: 90 }] },
    });
    assert.equal(created.status, 202, created.text);
    const id = created.json.rolloutId;
    const waiting = await until(
      async () => {
        const r = await call(s.base, 'GET', `${P}/rollouts`, { auth: s.viewer });
        const d = r.json.rollouts.find((x: { rolloutId: string }) => x.rolloutId === id);
        return d?.state === 'waitingApproval' && d;
      },
      20000,
      'waiting for approval',
    );
    assert.equal(waiting.name, 'sims');
    assert.equal(waiting.definition, undefined);
    assert.deepEqual(
      waiting.waves.map((w: { size: number; counts: { success: number } }) => [w.size, w.counts.success]),
      [
        [10, 10],
        [90, 0],
      ],
    );
    assert.equal((await call(s.base, 'POST', `${P}/rollouts/${id}/approve`, { auth: s.viewer, body: {} })).status, 401); // Node-RED's answer to a missing permission
    assert.equal((await call(s.base, 'POST', `${P}/rollouts/${id}/explode`, { auth: s.admin, body: {} })).status, 404);
    const approved = await call(s.base, 'POST', `${P}/rollouts/${id}/approve`, { auth: s.admin, body: {} });
    assert.equal(approved.status, 200, approved.text);
    assert.equal(approved.json.state, 'running');
    assert.equal((await call(s.base, 'POST', `${P}/rollouts/${id}/approve`, { auth: s.admin, body: {} })).status, 409);
    await until(
      async () => {
        const r = await call(s.base, 'GET', `${P}/rollouts`, { auth: s.viewer });
        return r.json.rollouts.find((x: { rolloutId: string }) => x.rolloutId === id)?.state === 'completed';
      },
      20000,
      'completed',
    );
  });

  it('in Chromium: the rollout waits for approval with a bar per wave; Approve asks, then the sidebar shows it running and completed', async () => {
    const id = await createRollout(s, {
      name: 'canary then the rest',
      action: 'device/reboot',
      select: { typeId: 'sim' },
      waves: [{ size: 10, gate: { approval: true } }, { size: 90 }],
    });
    const page = await openAs(browser, s.base, 'admin');
    await rolloutRow(page, id);
    await stateShown(page, id, 'waiting for approval');
    await recordStates(page, id);
    const row = await rolloutRow(page, id);
    assert.equal(await row.locator('.iotdm-rollout-name').textContent(), 'canary then the rest');
    assert.equal(await row.locator('.iotdm-rollout-counts').textContent(), '✓10 ✗0 of 100');
    assert.equal(
      await row.locator('.iotdm-rollout-counts').getAttribute('title'),
      '10 succeeded, 0 failed or timed out, 0 cancelled, 0 in flight, 90 not started, of 100',
    );
    assert.deepEqual(await waveBars(page, id), [
      { title: 'wave 1 (completed): ✓10 ✗0 of 10', parts: { success: 100 } },
      { title: 'wave 2 (pending): ✓0 ✗0 of 90', parts: {} },
    ]);
    const { track, behind } = await trackVisible(page, id, 1);
    assert.notEqual(track, behind, 'the pending wave has no visible bar');
    assert.deepEqual(await buttonsOf(page, id), ['Approve', 'Cancel']);
    await screenshot(page, 'sidebar-rollout-waiting-approval');

    // approve asks first; "Back" sends nothing
    await row.locator('button.iotdm-rollout-approve').click();
    await page.waitForSelector('#iotdm-confirm-rollout');
    assert.equal(await page.textContent('.iotdm-confirm-text'), 'Approve “canary then the rest”? It goes on to the 90 devices not yet started.');
    await page.click('#iotdm-confirm-cancel');
    await page.waitForSelector('#iotdm-confirm-rollout', { state: 'detached' });
    const still = await call(s.base, 'GET', `/api/v0002/mgmt/rollouts/${id}`, { auth: basic(API.key, API.token) });
    assert.equal(still.json.state, 'waitingApproval', 'Back approved the rollout');

    await row.locator('button.iotdm-rollout-approve').click();
    await page.waitForSelector('#iotdm-confirm-rollout');
    await page.waitForFunction(() => !(window as unknown as { $: (s: string) => { length: number } }).$(':animated').length);
    await screenshot(page, 'sidebar-rollout-approve-confirm');
    await page.click('#iotdm-confirm-rollout');
    await page.waitForSelector('#iotdm-confirm-rollout', { state: 'detached' });
    await stateShown(page, id, 'completed');
    assert.deepEqual(await statesSeen(page), ['waiting for approval', 'running', 'completed']);
    assert.equal(await row.locator('.iotdm-rollout-counts').textContent(), '✓100 ✗0 of 100');
    assert.deepEqual(await waveBars(page, id), [
      { title: 'wave 1 (completed): ✓10 ✗0 of 10', parts: { success: 100 } },
      { title: 'wave 2 (completed): ✓90 ✗0 of 90', parts: { success: 100 } },
    ]);
    assert.deepEqual(await buttonsOf(page, id), []);
    await row.scrollIntoViewIfNeeded();
    await screenshot(page, 'sidebar-rollout-completed');
    await page.context().close();
  });

  it('in Chromium: pause, resume, cancel and re-run the devices left (these two after their confirmation) by their buttons', async () => {
    // paced at 30 devices a minute: it stays running while the buttons are pressed
    const id = await createRollout(s, {
      name: 'paced reboot',
      action: 'device/reboot',
      select: { typeId: 'sim' },
      waves: { percent: 50 },
      rate: { perMinute: 30 },
    });
    const page = await openAs(browser, s.base, 'admin');
    const row = await rolloutRow(page, id);
    await stateShown(page, id, 'running');
    assert.deepEqual(await buttonsOf(page, id), ['Pause', 'Cancel']);
    // the requests it launches say whose they are
    await page.waitForSelector(`.iotdm-request .iotdm-request-rollout[title="${id}"]`);
    assert.equal(await page.locator(`.iotdm-request .iotdm-request-rollout[title="${id}"]`).first().textContent(), 'of rollout “paced reboot”');

    await row.locator('button.iotdm-rollout-pause').click();
    await stateShown(page, id, 'paused');
    assert.deepEqual(await buttonsOf(page, id), ['Resume', 'Cancel']);
    assert.equal((await call(s.base, 'GET', `/api/v0002/mgmt/rollouts/${id}`, { auth: basic(API.key, API.token) })).json.state, 'paused');
    await row.scrollIntoViewIfNeeded();
    await screenshot(page, 'sidebar-rollout-paused');

    await row.locator('button.iotdm-rollout-resume').click();
    await stateShown(page, id, 'running');
    assert.deepEqual(await buttonsOf(page, id), ['Pause', 'Cancel']);

    await row.locator('button.iotdm-rollout-cancel').click();
    await page.waitForSelector('#iotdm-confirm-rollout');
    assert.match(
      (await page.textContent('.iotdm-confirm-text')) ?? '',
      // (with nothing in flight at that instant, the text leaves them out)
      /^Cancel “paced reboot”\? (The \d+ devices in flight are cancelled, the \d+|The \d+ devices) not yet started never start\.$/,
    );
    await page.waitForFunction(() => !(window as unknown as { $: (s: string) => { length: number } }).$(':animated').length);
    await screenshot(page, 'sidebar-rollout-cancel-confirm');
    await page.click('#iotdm-confirm-rollout');
    await page.waitForSelector('#iotdm-confirm-rollout', { state: 'detached' });
    await stateShown(page, id, 'cancelled');
    assert.deepEqual(await buttonsOf(page, id), ['Re-run']);
    const d = (await call(s.base, 'GET', `/api/v0002/mgmt/rollouts/${id}`, { auth: basic(API.key, API.token) })).json;
    assert.equal(d.state, 'cancelled');
    assert.equal(d.counts.pending + d.counts.inProgress, 0);
    assert.ok(d.counts.cancelled > 0, 'no device cancelled');
    await page.waitForFunction(([id, text]) => document.querySelector(`.iotdm-rollout[data-id="${id}"] .iotdm-rollout-counts`)?.textContent === text, [
      id,
      `✓${d.counts.success} ✗0 ⊘${d.counts.cancelled} of 100`,
    ] as const);
    // the bars show the cancelled devices (grey) of each wave
    const bars = await waveBars(page, id);
    assert.equal(bars.length, 2);
    assert.ok(
      bars.every((b) => (b.parts.cancelled ?? 0) > 0),
      JSON.stringify(bars),
    );
    await row.scrollIntoViewIfNeeded();
    await screenshot(page, 'sidebar-rollout-cancelled');

    // re-run the devices that did not succeed: it asks, naming them, then a new rollout heads the list
    const left = d.counts.total - d.counts.success;
    await row.locator('button.iotdm-rollout-rerun').click();
    await page.waitForSelector('#iotdm-confirm-rollout');
    assert.equal(
      await page.textContent('.iotdm-confirm-text'),
      `Re-run “paced reboot” on the ${left} devices that did not succeed? A new rollout, with the same waves, gates and pace.`,
    );
    await page.click('#iotdm-confirm-rollout');
    await page.waitForSelector('#iotdm-confirm-rollout', { state: 'detached' });
    const first = page.locator('.iotdm-rollouts .iotdm-rollout').first();
    await page.waitForFunction((id) => {
      const first = document.querySelector('.iotdm-rollouts .iotdm-rollout');
      return !!first && first.getAttribute('data-id') !== id;
    }, id);
    const id2 = (await first.getAttribute('data-id'))!;
    assert.equal(await first.locator('.iotdm-rollout-name').textContent(), 'paced reboot');
    assert.equal(await first.locator('.iotdm-rollout-rerun-of').textContent(), 're-run');
    assert.match((await first.locator('.iotdm-rollout-counts').textContent()) ?? '', new RegExp(` of ${left}$`));
    const d2 = (await call(s.base, 'GET', `/api/v0002/mgmt/rollouts/${id2}`, { auth: basic(API.key, API.token) })).json;
    assert.deepEqual([d2.rerunOf, d2.origin, d2.counts.total], [id, 'editor', left]);
    await first.scrollIntoViewIfNeeded();
    await screenshot(page, 'sidebar-rollout-rerun');
    await page.context().close();
    assert.equal((await call(s.base, 'POST', `${P}/rollouts/${id2}/cancel`, { auth: s.admin, body: {} })).status, 200);
  });

  it('in Chromium: a rollout that aborts at its threshold shows it: aborted, its failures in red, the rule in the tooltip, Re-run', async () => {
    // four devices the registry has never seen fail at once (404), beside four sims
    const devices = [1, 2, 3, 4].flatMap((i) => [
      { typeId: 'ghost', deviceId: `ghost-${i}` },
      { typeId: 'sim', deviceId: `sim-00${i}` },
    ]);
    const id = await createRollout(s, {
      name: 'with ghosts',
      action: 'device/reboot',
      devices,
      waves: { size: 4 },
      abort: [{ type: 'failure', percent: 25, minExecuted: 2 }],
    });
    const page = await openAs(browser, s.base, 'admin');
    const row = await rolloutRow(page, id);
    await stateShown(page, id, 'aborted');
    const d = (await call(s.base, 'GET', `/api/v0002/mgmt/rollouts/${id}`, { auth: basic(API.key, API.token) })).json;
    assert.equal(d.state, 'aborted');
    assert.ok(d.counts.failure > 0, JSON.stringify(d.counts));
    assert.match((await row.locator('.iotdm-rollout-state').getAttribute('title')) ?? '', /^abort rule failure ≥ 25%: \d+ of \d+ executed devices$/);
    // red, as a state of the rollout and as the failed part of the first wave's bar
    assert.equal(await row.locator('.iotdm-rollout-state').evaluate((e) => getComputedStyle(e).color), 'rgb(204, 51, 51)');
    const bars = await waveBars(page, id);
    assert.ok((bars[0].parts.failure ?? 0) > 0, JSON.stringify(bars));
    assert.deepEqual(await buttonsOf(page, id), ['Re-run']);
    await row.scrollIntoViewIfNeeded();
    await screenshot(page, 'sidebar-rollout-aborted');

    // its devices: a click on the row lists them, the filter keeps the failures (the never-seen ones, with the reason)
    await row.locator('.iotdm-rollout-name').click();
    await page.waitForFunction((id) => document.querySelectorAll(`.iotdm-rollout[data-id="${id}"] .iotdm-rollout-devices tbody tr`).length === 8, id);
    assert.equal(await row.locator('.iotdm-rollout-devices .iotdm-range').textContent(), '1–8 of 8');
    await row.locator('select.iotdm-rollout-filter').selectOption('failure');
    await page.waitForFunction(
      ([id, n]) => document.querySelector(`.iotdm-rollout[data-id="${id}"] .iotdm-rollout-devices .iotdm-range`)?.textContent === `1–${n} of ${n}`,
      [id, d.counts.failure] as const,
    );
    const failed = await row.locator('.iotdm-rollout-devices tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
    assert.equal(failed.length, d.counts.failure);
    for (const [device, , state, attempts, , reason] of failed) {
      assert.match(device ?? '', /^ghost:ghost-\d$/);
      assert.deepEqual([state, attempts], ['failure', '1']);
      assert.ok(reason, `${device}: no reason`);
    }
    await row.scrollIntoViewIfNeeded();
    await screenshot(page, 'sidebar-rollout-devices');
    await page.context().close();
    // the route behind it: a reader may read it, a state it does not know is refused
    const rows = await call(s.base, 'GET', `${P}/rollouts/${id}/devices?state=cancelled&limit=2`, { auth: s.viewer });
    assert.equal(rows.status, 200, rows.text);
    assert.deepEqual([rows.json.total, rows.json.devices.length], [d.counts.cancelled, Math.min(2, d.counts.cancelled)]);
    assert.equal((await call(s.base, 'GET', `${P}/rollouts/${id}/devices?state=exploded`, { auth: s.viewer })).status, 400);
    assert.equal((await call(s.base, 'GET', `${P}/rollouts/nope/devices`, { auth: s.viewer })).status, 404);
  });

  it('in Chromium: a reader sees the buttons of a waiting rollout, disabled (fr), and may not re-run it', async () => {
    const id = await createRollout(s, {
      name: 'lecture seule',
      action: 'device/reboot',
      devices: [
        { typeId: 'sim', deviceId: 'sim-001' },
        { typeId: 'sim', deviceId: 'sim-002' },
      ],
      waves: [{ size: 1, gate: { approval: true } }],
    });
    // at the sidebar's default width, with the longer French texts
    const page = await openAs(browser, s.base, 'viewer', 'fr', { defaultWidth: true });
    const row = await rolloutRow(page, id);
    await stateShown(page, id, 'attend une approbation');
    assert.deepEqual(await buttonsOf(page, id), ['Approuver (disabled)', 'Annuler (disabled)']);
    await row.locator('.iotdm-rollout-name').click();
    await page.waitForFunction((id) => document.querySelectorAll(`.iotdm-rollout[data-id="${id}"] .iotdm-rollout-devices tbody tr`).length === 2, id);
    await row.scrollIntoViewIfNeeded();
    // nothing sticks out of the section: the row's head wraps, only the device table may scroll in its own box
    const fit = await page.evaluate(() => {
      const list = document.querySelector('.iotdm-sidebar .iotdm-rollouts')!;
      const tab = document.querySelector('.iotdm-sidebar')!;
      return { list: [list.scrollWidth, list.clientWidth], tab: [tab.scrollWidth, tab.clientWidth] };
    });
    assert.ok(fit.list[0] <= fit.list[1] && fit.tab[0] <= fit.tab[1], JSON.stringify(fit));
    // a request's action stays on one line beside the name of its rollout (which is cut short instead)
    await page.waitForSelector('.iotdm-request .iotdm-request-rollout:not(:empty)');
    const lines = await page.$$eval('.iotdm-request .iotdm-request-action', (es) =>
      es.map((e) => {
        const r = document.createRange();
        r.selectNodeContents(e);
        return new Set([...r.getClientRects()].map((b) => Math.round(b.top))).size;
      }),
    );
    assert.ok(lines.length > 0 && lines.every((n) => n === 1), `request actions on ${JSON.stringify(lines)} lines`);
    await screenshot(page, 'sidebar-rollout-read-only-fr');
    await page.context().close();
    assert.equal((await call(s.base, 'POST', `${P}/rollouts/${id}/cancel`, { auth: s.admin, body: {} })).status, 200);
    // nor may a reader re-run it (Node-RED's answer to a missing permission)
    assert.equal((await call(s.base, 'POST', `${P}/rollouts/${id}/rerun`, { auth: s.viewer, body: {} })).status, 401);
    assert.equal((await call(s.base, 'POST', `${P}/rollouts/${id}/rerun`, { auth: s.admin, body: {} })).status, 202);
  });
});
