/**
 * The sidebar tests' world: the demo flow (examples/simulated-fleet.json, with free ports as
 * `npm start` substitutes them) in a real Node-RED process with adminAuth and two users, an admin
 * ("*") and a viewer ("read"), whose passwords are hashed with the bcryptjs Node-RED ships; and
 * openAs(), the editor opened in Chromium by a user through its login dialog, on the sidebar tab.
 */
import fs from 'node:fs';
import path from 'node:path';
import { freePort } from '../support/ports';
import { startNodeRed, type NodeRedProcess } from '../support/node-red-process';
import { redRequire } from '../support/red';
import type { Browser, Page } from 'playwright-core';

// dist/test/sidebar → the package root
export const ROOT = path.join(__dirname, '..', '..', '..');
export const DEMO_PLATFORM = 'c0nf000000000001';
export const PLATFORM_TAB = 'a1f0c0de00000001';
export const USERS = { admin: { password: 'admin-pass-1' }, viewer: { password: 'viewer-pass-1' } };
export const API = { key: 'sidebar-key', token: 'sidebar-token' };

type FlowNode = Record<string, unknown> & { id: string; type: string };

/** The demo flow with its broker on `mqttPort`, the v0002 API on, and a mgmt-request that reports every request into flow context. */
export function demoFlow(mqttPort: number): FlowNode[] {
  const flow = JSON.parse(fs.readFileSync(path.join(ROOT, 'examples', 'simulated-fleet.json'), 'utf8')) as FlowNode[];
  for (const n of flow) {
    if (n.type === 'iotdm-platform') {
      n.port = mqttPort;
      n.api = true;
      n.apiRoot = '/api/v0002';
    }
    if (n.type === 'iotdm-device') n.broker = `mqtt://127.0.0.1:${mqttPort}`;
  }
  flow.push(
    {
      id: 'sidebar0follow01',
      type: 'iotdm-mgmt-request',
      z: PLATFORM_TAB,
      name: 'every request',
      platform: DEMO_PLATFORM,
      action: '',
      devices: 'payload.devices',
      devicesType: 'msg',
      timeout: '',
      strict: false,
      follow: 'all',
      deviceOutput: 'none',
      x: 590,
      y: 300,
      wires: [[], ['sidebar0keep0001'], []],
    },
    {
      id: 'sidebar0keep0001',
      type: 'change',
      z: PLATFORM_TAB,
      name: 'keep the last summary',
      rules: [{ t: 'set', p: 'lastSummary', pt: 'flow', to: 'payload', tot: 'msg' }],
      x: 820,
      y: 300,
      wires: [],
    },
  );
  return flow;
}

function hash(password: string): string {
  const bcrypt = redRequire('bcryptjs') as { hashSync(p: string, rounds: number): string };
  return bcrypt.hashSync(password, 8);
}

export interface DemoNodeRed {
  red: NodeRedProcess;
  mqttPort: number;
}

/** Node-RED running the demo flow with adminAuth (admin "*", viewer "read"). */
export async function startDemo(): Promise<DemoNodeRed> {
  const mqttPort = await freePort();
  const users = [
    { username: 'admin', password: hash(USERS.admin.password), permissions: '*' },
    { username: 'viewer', password: hash(USERS.viewer.password), permissions: 'read' },
  ];
  const red = await startNodeRed({
    flows: demoFlow(mqttPort),
    credentials: { [DEMO_PLATFORM]: { apiKey: API.key, apiToken: API.token } },
    settings: `adminAuth: { type: 'credentials', users: ${JSON.stringify(users)} },`,
    timeoutMs: 30000,
  });
  return { red, mqttPort };
}

/** An admin API access token of a user (the password grant the editor uses). */
export async function token(base: string, user: keyof typeof USERS, scope = '*'): Promise<string> {
  const r = await fetch(`${base}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ client_id: 'node-red-admin', grant_type: 'password', scope, username: user, password: USERS[user].password }),
  });
  if (r.status !== 200) throw new Error(`no token for ${user}: ${r.status} ${await r.text()}`);
  return ((await r.json()) as { access_token: string }).access_token;
}

export const bearer = (t: string) => `Bearer ${t}`;

/** Wait until the demo gateway has managed its 100 sim devices (a refused connection is retried). */
export async function fleetManaged(base: string, auth: string, timeoutMs = 20000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const r = await fetch(`${base}/iotdm/platforms/${DEMO_PLATFORM}/devices?type=sim&limit=1`, { headers: { authorization: auth } });
      if (r.status === 200 && ((await r.json()) as { total: number }).total === 100) return;
    } catch {
      /* Node-RED is still settling */
    }
    if (Date.now() > deadline) throw new Error('the 100 sim devices of the demo did not manage');
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The demo under adminAuth as the sidebar suites use it: its URL and an admin's and a reader's bearer. */
export interface DemoSession {
  demo: DemoNodeRed;
  base: string;
  admin: string;
  viewer: string;
}

/** Start the demo before the suite (with its fleet managed) and stop it after; read the fields in the tests. */
export function demoSession(): DemoSession {
  const s = {} as DemoSession;
  before(async () => {
    s.demo = await startDemo();
    s.base = s.demo.red.url;
    s.admin = bearer(await token(s.base, 'admin'));
    s.viewer = bearer(await token(s.base, 'viewer', ''));
    // the demo gateway manages its 100 devices once it has connected
    await fleetManaged(s.base, s.admin);
  });
  after(async () => {
    await s.demo?.red.stop();
  });
  return s;
}

/** Open the editor as `user` through its own login dialog, and show the device-management tab. */
export async function openAs(browser: Browser, url: string, user: keyof typeof USERS, locale = 'en-US', opts: { defaultWidth?: boolean } = {}): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1500, height: 900 }, locale });
  const page = await context.newPage();
  page.setDefaultTimeout(10000);
  await page.goto(url, { waitUntil: 'domcontentloaded' });
  await page.fill('#node-dialog-login-username', user, { timeout: 20000 });
  await page.fill('#node-dialog-login-password', USERS[user].password);
  await page.click('#node-dialog-login-submit');
  await page.waitForFunction(
    () => {
      const RED = (window as unknown as { RED?: { nodes?: { getType?: (t: string) => unknown } } }).RED;
      return (
        !!RED?.nodes?.getType?.('iotdm-mgmt-request') && !!(RED as { actions?: { get?(a: string): unknown } }).actions?.get?.('iotdm:show-device-management')
      );
    },
    undefined,
    { timeout: 30000 },
  );
  // the workspace is shown once the flows are loaded (4.1 then shows its first sidebar tab)
  await page.waitForSelector('#red-ui-workspace-chart g.red-ui-flow-node', { timeout: 30000 });
  // the tab's own editor action (Node-RED 4.1 lists the tab in the sidebar's menu, 5.0 in its split sidebar's tab bar)
  await page.evaluate(() => (window as unknown as { RED: { actions: { invoke(a: string): void } } }).RED.actions.invoke('iotdm:show-device-management'));
  await page.waitForSelector('.iotdm-sidebar tr.iotdm-device', { timeout: 10000 });
  if (opts.defaultWidth) return page;
  // widen the sidebar as a user would, by dragging its separator
  const sep = await page.locator('#red-ui-sidebar-separator').boundingBox();
  if (sep) {
    await page.mouse.move(sep.x + sep.width / 2, sep.y + sep.height / 2);
    await page.mouse.down();
    await page.mouse.move(sep.x - 420, sep.y + sep.height / 2, { steps: 5 });
    await page.mouse.up();
  }
  await page.waitForSelector('.iotdm-sidebar tr.iotdm-device', { timeout: 10000 });
  return page;
}
