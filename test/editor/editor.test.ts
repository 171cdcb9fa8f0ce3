/**
 * The editor in a real browser (Debian's Chromium through playwright-core) against a Node-RED
 * process with the package installed as a module: the palette, the mgmt-request dialog, importing
 * an example through the menu, pressing its button, and the help in English and French. Every step
 * keeps a screenshot in test-artifacts/editor-*.png.
 */
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser, openEditor, screenshot } from '../support/browser';
import { startNodeRed, type NodeRedProcess } from '../support/node-red-process';
import { movePorts, registryOf, until, type FlowNode } from '../examples/flows';
import { freePort } from '../support/ports';

const PKG = '@iotdm/node-red-contrib-iotdm';

/** ids of the workspace's nodes of a type (read from the editor's model, to find their SVG) */
async function idsOf(page: Page, type: string): Promise<string[]> {
  return page.evaluate((t) => {
    const RED = (window as unknown as { RED: { nodes: { filterNodes(f: { type: string }): { id: string }[] } } }).RED;
    return RED.nodes.filterNodes({ type: t }).map((n) => n.id);
  }, type);
}

/** The runtime's revision of its flows (the admin API's v2 answer). */
async function flowsRev(url: string): Promise<string> {
  const r = await fetch(`${url}/flows`, { headers: { 'Node-RED-API-Version': 'v2' } });
  return ((await r.json()) as { rev: string }).rev;
}

/** Deploy and wait until the runtime has the new flows (a notification from an earlier deploy may still be up). */
async function deployFromEditor(page: Page, url: string): Promise<void> {
  const before = await flowsRev(url);
  await page.click('#red-ui-header-button-deploy');
  const deadline = Date.now() + 15000;
  while ((await flowsRev(url)) === before) {
    if (Date.now() > deadline) throw new Error('the deploy did not reach the runtime');
    await new Promise((r) => setTimeout(r, 100));
  }
  await page.waitForSelector('#red-ui-header-button-deploy.disabled', { timeout: 15000 });
}

async function runtimeFlows(url: string): Promise<FlowNode[]> {
  return (await (await fetch(`${url}/flows`)).json()) as FlowNode[];
}

describe('editor: palette, dialog, examples and help in Chromium', function () {
  this.timeout(90000);
  let red: NodeRedProcess;
  let browser: Browser;
  let page: Page;

  before(async () => {
    [red, browser] = await Promise.all([startNodeRed({ flows: [] }), launchBrowser()]);
    page = await openEditor(browser, red.url);
    // imported examples get free broker ports on their way from the runtime to the editor
    await page.route('**/library/examples/flows/**', async (route) => {
      const res = await route.fetch();
      const body = await res.json();
      if (Array.isArray(body)) await movePorts(body as FlowNode[]);
      await route.fulfill({ response: res, json: body });
    });
  });
  after(async () => {
    await browser?.close();
    await red?.stop();
  });

  it('the palette shows the three nodes under the iotdm category, with their icons', async () => {
    const category = page.locator('#red-ui-palette-container-iotdm');
    await category.waitFor();
    for (const [type, label] of [
      ['iotdm-mgmt-request', 'mgmt request'],
      ['iotdm-device-responder', 'device responder'],
      ['iotdm-firmware-state', 'firmware state'],
    ]) {
      const node = category.locator(`.red-ui-palette-node[data-palette-type="${type}"]`);
      await node.scrollIntoViewIfNeeded();
      // the label shown wraps at its space, never at a hyphen
      assert.equal(await node.getAttribute('data-palette-label'), label);
      assert.equal((await node.locator('.red-ui-palette-label').innerText()).replace(/\s+/g, ' ').trim(), label);
      const icon = await node.locator('.red-ui-palette-icon').evaluate((el) => getComputedStyle(el).backgroundImage);
      assert.match(icon, /icons\/@iotdm\/node-red-contrib-iotdm\/iotdm-[a-z]+\.svg/, `${type} icon: ${icon}`);
    }
    assert.equal((await page.locator('#red-ui-palette-header-iotdm').innerText()).trim(), 'iotdm');
    await screenshot(page, 'editor-1-palette');
  });

  it('drag mgmt-request onto the workspace, set its fields in the dialog, close, deploy', async () => {
    const from = page.locator('#red-ui-palette-container-iotdm .red-ui-palette-node[data-palette-type="iotdm-mgmt-request"]');
    await from.scrollIntoViewIfNeeded();
    const box = (await from.boundingBox())!;
    const chart = (await page.locator('#red-ui-workspace-chart').boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(chart.x + 250, chart.y + 150, { steps: 12 });
    await page.mouse.move(chart.x + 300, chart.y + 160, { steps: 4 });
    await page.mouse.up();
    const [id] = await until('the dropped node', async () =>
      (await idsOf(page, 'iotdm-mgmt-request')).length ? idsOf(page, 'iotdm-mgmt-request') : undefined,
    );
    const nodeEl = page.locator(`#red-ui-workspace-chart g.red-ui-flow-node-group[id="${id}"]`);
    await nodeEl.waitFor();
    // not configured yet: the editor marks it invalid (platform is required)
    assert.equal(await nodeEl.locator('.red-ui-flow-node-error').evaluate((e) => !e.classList.contains('hide')), true);
    await nodeEl.locator('.red-ui-flow-node').dblclick();
    await page.waitForSelector('#node-input-platform');
    await screenshot(page, 'editor-2-dialog-opened');

    // a new platform config node, from the + button next to the platform select
    await page.click('#node-input-btn-platform-add');
    await page.waitForSelector('#node-config-input-port');
    const brokerPort = await freePort();
    await page.fill('#node-config-input-name', 'browser platform');
    await page.fill('#node-config-input-port', String(brokerPort));
    await screenshot(page, 'editor-3-platform-dialog');
    await page.click('#node-config-dialog-ok');
    await page.waitForSelector('#node-config-input-port', { state: 'detached' });

    await page.selectOption('#node-input-action', 'device/reboot');
    // the devices typed input: switch it to JSON and give the list
    const devices = page.locator('#node-input-devices + .red-ui-typedInput-container');
    await devices.locator('.red-ui-typedInput-type-select').click();
    await page.click('.red-ui-typedInput-options:visible a[value="json"]');
    await devices.locator('input.red-ui-typedInput-input').fill('[{"typeId":"thermo","deviceId":"t-1"}]');
    await page.fill('#node-input-timeout', '45');
    await page.fill('#node-input-name', '');
    await screenshot(page, 'editor-4-dialog-filled');
    await page.click('#node-dialog-ok');
    await page.waitForSelector('#node-input-platform', { state: 'detached' });
    assert.equal(await nodeEl.locator('.red-ui-flow-node-error').evaluate((e) => e.classList.contains('hide')), true, 'the node is valid once configured');
    assert.equal(((await nodeEl.locator('.red-ui-flow-node-label').textContent()) ?? '').trim(), 'mgmt-request: device/reboot');

    await deployFromEditor(page, red.url);
    const flows = await runtimeFlows(red.url);
    const saved = flows.find((n) => n.id === id)!;
    const platform = flows.find((n) => n.type === 'iotdm-platform')!;
    assert.deepEqual(
      { action: saved.action, devices: saved.devices, devicesType: saved.devicesType, timeout: saved.timeout, platform: saved.platform },
      { action: 'device/reboot', devices: '[{"typeId":"thermo","deviceId":"t-1"}]', devicesType: 'json', timeout: '45', platform: platform.id },
    );
    assert.equal(Number(platform.port), brokerPort);
    assert.equal(platform.name, 'browser platform');
    // the deployed node connects to its embedded broker: status "ready"
    await nodeEl.locator('.red-ui-flow-node-status-label:has-text("ready")').waitFor({ timeout: 15000 });
    await screenshot(page, 'editor-5-deployed');
  });

  it('import the simulated fleet through the menu, deploy, press "reboot all": the status reaches 100/100', async () => {
    await page.click('#red-ui-header-button-sidemenu');
    await page.click('#menu-item-import');
    await page.waitForSelector('#red-ui-clipboard-dialog-ok');
    await page.click('#red-ui-tab-red-ui-clipboard-dialog-import-tab-examples a');
    const library = page.locator('#red-ui-clipboard-dialog-import-tab-examples');
    await library.locator(`.red-ui-treeList-label:has-text("${PKG}")`).click();
    await library.locator('.red-ui-treeList-label:has-text("simulated-fleet")').click();
    await screenshot(page, 'editor-6-import-examples');
    await page.click('#red-ui-clipboard-dialog-ok');
    await until('the imported fleet', async () => ((await idsOf(page, 'iotdm-device-responder')).length ? true : undefined));
    await deployFromEditor(page, red.url);
    const flows = await runtimeFlows(red.url);
    const fleetPlatform = flows.find((n) => n.type === 'iotdm-platform' && n.name === 'demo platform')!;
    assert.ok(fleetPlatform, 'the fleet platform is deployed');
    assert.notEqual(Number(fleetPlatform.port), 1883, 'the test moved the broker to a free port');
    // the 100 devices behind the gateway are managed
    await until(
      '100 managed devices',
      async () => ((await registryOf(red.url, fleetPlatform.id)).filter((d) => d.managed && d.typeId === 'sim').length === 100 ? true : undefined),
      20000,
    );

    await page.click('#red-ui-workspace-tabs .red-ui-tab:has-text("Platform: reboot the fleet")');
    const inject = page.locator('#red-ui-workspace-chart g.red-ui-flow-node-group[id="p000000000000001"]');
    await inject.waitFor();
    await inject.locator('.red-ui-flow-node-button').click();
    const status = page.locator('#red-ui-workspace-chart g.red-ui-flow-node-group[id="p000000000000004"] .red-ui-flow-node-status-label');
    await until('the request to complete', async () => (/100\/100/.test((await status.textContent()) ?? '') ? true : undefined), 20000);
    const text = (await status.textContent()) ?? '';
    assert.match(text, /^device\/reboot 100\/100 ✓100 ✗0 ◷0$/, text);
    await screenshot(page, 'editor-7-reboot-complete');
  });

  it('the help of mgmt-request shows in the sidebar in English', async () => {
    const [id] = await idsOf(page, 'iotdm-mgmt-request');
    await page.evaluate((nid) => {
      const RED = (window as unknown as { RED: { workspaces: { show(z: string): void }; nodes: { node(id: string): { z: string } } } }).RED;
      RED.workspaces.show(RED.nodes.node(nid).z);
    }, id);
    await page.locator(`g.red-ui-flow-node-group[id="${id}"] .red-ui-flow-node`).click();
    // the core's own action (4.1 has a help tab button, 5.0 a button in its split sidebar's tab bar)
    await page.evaluate(() => (window as unknown as { RED: { actions: { invoke(a: string): void } } }).RED.actions.invoke('core:show-help-tab'));
    const help = page.locator('.red-ui-sidebar-help-stack, #red-ui-sidebar-content').first();
    await help.locator('text=Sends a device-management request').waitFor({ timeout: 10000 });
    for (const h of ['Inputs', 'Outputs', 'Details', 'References']) await help.locator(`h3:has-text("${h}")`).first().waitFor({ state: 'attached' });
    await screenshot(page, 'editor-8-help-en');
  });

  it('with the browser in French, the palette, the dialog and the help are in French', async () => {
    const fr = await openEditor(browser, red.url, { locale: 'fr' });
    try {
      const [id] = await idsOf(fr, 'iotdm-mgmt-request');
      await fr.evaluate((nid) => {
        const RED = (window as unknown as { RED: { workspaces: { show(z: string): void }; nodes: { node(id: string): { z: string } } } }).RED;
        RED.workspaces.show(RED.nodes.node(nid).z);
      }, id);
      const nodeEl = fr.locator(`g.red-ui-flow-node-group[id="${id}"] .red-ui-flow-node`);
      await nodeEl.click();
      // the core's own action (4.1 has a help tab button, 5.0 a button in its split sidebar's tab bar)
      await fr.evaluate(() => (window as unknown as { RED: { actions: { invoke(a: string): void } } }).RED.actions.invoke('core:show-help-tab'));
      const help = fr.locator('.red-ui-sidebar-help-stack, #red-ui-sidebar-content').first();
      await help.locator('text=Envoie une demande de gestion').waitFor({ timeout: 10000 });
      for (const h of ['Entrées', 'Sorties', 'Détails', 'Références']) await help.locator(`h3:has-text("${h}")`).first().waitFor({ state: 'attached' });
      await screenshot(fr, 'editor-9-help-fr');
      await nodeEl.dblclick();
      await fr.waitForSelector('#node-input-platform');
      assert.equal((await fr.locator('label[for="node-input-platform"]').innerText()).trim(), 'Plateforme');
      assert.equal((await fr.locator('label[for="node-input-deviceOutput"]').innerText()).trim(), 'Résultats par terminal');
      await screenshot(fr, 'editor-10-dialog-fr');
      await fr.click('#node-dialog-cancel');
    } finally {
      await fr.context().close();
    }
  });
});
