/**
 * Every node's dialog in the editor (Chromium), in English and in French, as a newcomer opens them
 * on the `device` example (which has all of them) plus a rollout node: each is kept as a screenshot
 * (test-artifacts/dialog-<type>-<lang>-nr<major>.png). No select cuts its text; the platform's
 * settings are in four tabs (broker, registry, requests, HTTP API) with every number's default
 * visible; label icons share one width; palette labels never break at a hyphen; the device-side
 * nodes have a colour of their own, not a core node's.
 */
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser, openEditor, screenshot } from '../support/browser';
import { startNodeRed, type NodeRedProcess } from '../support/node-red-process';
import { readExample, movePorts, type FlowNode } from '../examples/flows';

type Win = { RED: any; $: any };

async function openDialog(page: Page, node: FlowNode): Promise<void> {
  await page.evaluate(
    ({ id, config, type }) => {
      const { RED } = window as unknown as Win;
      if (config) RED.editor.editConfig('', type, id);
      else {
        RED.workspaces.show(RED.nodes.node(id).z);
        RED.editor.edit(RED.nodes.node(id));
      }
    },
    { id: node.id, config: !node.z, type: node.type },
  );
  await page.waitForSelector('.red-ui-tray .red-ui-tray-body .form-row', { state: 'visible' });
  // the tray has slid in
  await page.waitForFunction(() => !(window as unknown as Win).$(':animated').length);
}

async function closeDialog(page: Page): Promise<void> {
  await page.click('.red-ui-tray:last-of-type button:has-text("Cancel"), .red-ui-tray:last-of-type button:has-text("Annuler")');
  await page.waitForFunction(() => !document.querySelector('.red-ui-tray'));
}

/** visible selects of our dialog with a choice that does not fit (its text would be cut when chosen) */
async function cutSelects(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const ctx = document.createElement('canvas').getContext('2d')!;
    const bad: string[] = [];
    // Node-RED builds a config node's picker itself (its width is not the dialog's to set): left aside
    const pickers = new Set(['node-input-platform', 'node-input-device', 'node-config-input-tls']);
    for (const sel of document.querySelectorAll<HTMLSelectElement>('.red-ui-tray:last-of-type select[id^="node-"]')) {
      if (!sel.offsetParent || pickers.has(sel.id)) continue;
      const cs = getComputedStyle(sel);
      ctx.font = `${cs.fontWeight} ${cs.fontSize} ${cs.fontFamily}`;
      // what the closed select shows: each choice in turn
      for (const o of sel.options) {
        const text = ctx.measureText(o.text).width;
        // the text starts after the left padding and ends before the arrow (about 20 px)
        if (text + parseFloat(cs.paddingLeft) + 20 > sel.clientWidth) bad.push(`${sel.id}: "${o.text}" is ${Math.round(text)} px in ${sel.clientWidth} px`);
      }
    }
    return bad;
  });
}

/** a tab of the platform's dialog, as a click on its title does */
async function showTab(page: Page, tab: string): Promise<void> {
  for (let tries = 0; ; tries++) {
    await page.click(`#iotdm-platform-tabs a[href="#iotdm-platform-tab-${tab}"]`);
    try {
      await page.waitForSelector(`#iotdm-platform-tab-${tab}`, { state: 'visible', timeout: 2000 });
      return;
    } catch (err) {
      if (tries >= 4) throw err;
    }
  }
}

/** widths of the label icons of the open dialog (one width: the texts line up) */
async function iconWidths(page: Page): Promise<number[]> {
  return page.evaluate(() => [
    ...new Set(
      [...document.querySelectorAll<HTMLElement>('.red-ui-tray:last-of-type .form-row > label > i.fa')]
        .filter((i) => i.offsetParent)
        .map((i) => Math.round(i.getBoundingClientRect().width)),
    ),
  ]);
}

describe('editor: every node dialog in English and French (Chromium)', function () {
  this.timeout(120000);
  let red: NodeRedProcess;
  let browser: Browser;
  let flow: FlowNode[];

  before(async () => {
    flow = readExample('device.json');
    await movePorts(flow);
    const tab = flow.find((n) => n.type === 'tab')!;
    const platform = flow.find((n) => n.type === 'iotdm-platform')!;
    flow.push({ id: 'r011000000000001', type: 'iotdm-rollout', z: tab.id, name: '', platform: platform.id, x: 300, y: 500, wires: [] } as FlowNode);
    [red, browser] = await Promise.all([startNodeRed({ flows: flow }), launchBrowser()]);
  });
  after(async () => {
    await browser?.close();
    await red?.stop();
  });

  for (const lang of ['en-US', 'fr']) {
    it(`${lang}: each dialog fits its texts, the platform's in four tabs with its defaults shown`, async () => {
      const page = await openEditor(browser, red.url, { locale: lang });
      try {
        const short = lang === 'fr' ? 'fr' : 'en';
        const seen = new Set<string>();
        for (const node of flow) {
          if (!/^iotdm-/.test(node.type) || seen.has(node.type)) continue;
          seen.add(node.type);
          await openDialog(page, node);
          if (node.type === 'iotdm-platform') {
            const tabs = await page.locator('#iotdm-platform-tabs li').allInnerTexts();
            assert.deepEqual(
              tabs.map((t) => t.trim()),
              short === 'fr' ? ['Broker', 'Registre', 'Demandes', 'API HTTP'] : ['Broker', 'Registry', 'Requests', 'HTTP API'],
            );
            for (const tab of ['broker', 'registry', 'requests', 'api']) {
              await showTab(page, tab);
              await page.waitForSelector(`#iotdm-platform-tab-${tab}`, { state: 'visible' });
              assert.deepEqual(await cutSelects(page), [], `${node.type} ${tab} (${lang})`);
              assert.ok((await iconWidths(page)).length <= 1, `uneven label icons in ${tab}: ${await iconWidths(page)}`);
              await screenshot(page, `dialog-${node.type}-${tab}-${short}`);
            }
            // every default visible: an emptied number shows its default as a placeholder
            await showTab(page, 'requests');
            await page.fill('#node-config-input-restartTimeout', '');
            assert.equal(await page.getAttribute('#node-config-input-restartTimeout', 'placeholder'), '300');
          } else {
            assert.deepEqual(await cutSelects(page), [], `${node.type} (${lang})`);
            assert.ok((await iconWidths(page)).length <= 1, `uneven label icons in ${node.type}: ${await iconWidths(page)}`);
            await screenshot(page, `dialog-${node.type}-${short}`);
          }
          await closeDialog(page);
        }
        assert.deepEqual([...seen].sort(), [
          'iotdm-device',
          'iotdm-device-responder',
          'iotdm-firmware-state',
          'iotdm-mgmt-request',
          'iotdm-platform',
          'iotdm-rollout',
        ]);
      } finally {
        await page.context().close();
      }
    });
  }

  it('palette labels never break at a hyphen, and the device-side nodes do not wear a core node colour', async () => {
    const page = await openEditor(browser, red.url);
    try {
      const got = await page.evaluate(() => {
        const { RED } = window as unknown as Win;
        const labels = [...document.querySelectorAll<HTMLElement>('#red-ui-palette-container-iotdm .red-ui-palette-node')].map((n) => ({
          type: n.getAttribute('data-palette-type'),
          lines: [...n.querySelectorAll('.red-ui-palette-label > span')].map((s) => s.textContent ?? ''),
          text: n.querySelector('.red-ui-palette-label')?.textContent ?? '',
        }));
        const core = new Set<string>();
        for (const t of RED.nodes.registry.getNodeTypes()) {
          const def = RED.nodes.getType(t);
          if (def?.set?.module === 'node-red' && def.color) core.add(String(def.color).toLowerCase());
        }
        const ours = ['iotdm-device-responder', 'iotdm-firmware-state', 'iotdm-mgmt-request'].map((t) => [t, String(RED.nodes.getType(t).color).toLowerCase()]);
        return { labels, core: [...core], ours };
      });
      for (const l of got.labels) assert.doesNotMatch(l.text, /-/, `${l.type}: "${l.text}" (${JSON.stringify(l.lines)})`);
      for (const [type, colour] of got.ours) assert.ok(!got.core.includes(colour), `${type} wears ${colour}, a core node's colour`);
    } finally {
      await page.context().close();
    }
  });
});
