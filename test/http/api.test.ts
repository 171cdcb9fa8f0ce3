import assert from 'node:assert/strict';
import http from 'node:http';
import { loadFlow, unloadFlow, getNode, nextMessage, waitForCall, callsOf, nodeRedHelper, type FlowNode } from '../support/nodered';
import { freePort } from '../support/ports';
import { Fleet } from './fleet';
import { captureHttpNode, startHttp, serveHttpNode, call, basic, until, type NodeRedHttp } from './support';

const platformNode = require('../../nodes/iotdm-platform');
const mgmtRequestNode = require('../../nodes/mgmt-request');
const NODES = [platformNode, mgmtRequestNode, captureHttpNode];

const KEY = 'a-acme-k3y';
const TOKEN = 'T0ken:with-colon_and.dots';
const AUTH = basic(KEY, TOKEN);
const ROOT = '/api/v0002';
const R = `${ROOT}/mgmt/requests`;

const thermo = (n: number, prefix = 't') => Array.from({ length: n }, (_, i) => ({ typeId: 'thermo', deviceId: `${prefix}-${String(i).padStart(3, '0')}` }));

function flow(port: number, platform: Record<string, unknown> = {}): FlowNode[] {
  return [
    {
      id: 'p1',
      type: 'iotdm-platform',
      access: 'development',
      broker: 'embedded',
      port,
      bind: '127.0.0.1',
      responseTimeout: 60,
      requestTimeout: 300,
      api: true,
      apiRoot: ROOT,
      ...platform,
    },
    { id: 'mr', type: 'iotdm-mgmt-request', platform: 'p1', follow: 'all', deviceOutput: 'all', strict: true, wires: [['dev'], ['sum'], ['ans']] },
    { id: 'mr2', type: 'iotdm-mgmt-request', platform: 'p1', follow: 'own', deviceOutput: 'none', wires: [[], [], ['ans2']] },
    { id: 'dev', type: 'helper' },
    { id: 'sum', type: 'helper' },
    { id: 'ans', type: 'helper' },
    { id: 'ans2', type: 'helper' },
  ];
}

describe('http API: the v0002 management-requests routes on RED.httpNode', function () {
  this.timeout(20000);
  let web: NodeRedHttp;
  let port: number;
  let fleet: Fleet; // 250 thermo devices that reboot
  let unable: Fleet; // a device without deviceActions
  let base: string;

  before(async () => {
    nodeRedHelper();
    web = await startHttp();
    base = web.url;
    port = await freePort();
    await loadFlow(NODES, flow(port), { p1: { apiKey: KEY, apiToken: TOKEN } });
    await getNode('p1').ready;
    fleet = await Fleet.connect(`mqtt://127.0.0.1:${port}`, thermo(250));
    unable = await Fleet.connect(`mqtt://127.0.0.1:${port}`, [{ typeId: 'thermo', deviceId: 'no-actions' }], {
      supports: { deviceActions: false, firmwareActions: false },
    });
  });
  after(async () => {
    await fleet?.close();
    await unable?.close();
    await unloadFlow();
    await web?.close();
  });

  const post = (body: unknown, query = '') => call(base, 'POST', R + query, { auth: AUTH, body });
  const get = (path: string) => call(base, 'GET', path, { auth: AUTH });

  async function completed(reqId: string, timeoutMs = 5000) {
    return until(
      async () => {
        const r = await get(`${R}/${reqId}`);
        return r.status === 200 && r.json.complete ? r.json : undefined;
      },
      timeoutMs,
      `request ${reqId} to complete`,
    );
  }

  it('401 with WWW-Authenticate on every route without credentials, with a wrong key, a wrong token or a malformed header', async () => {
    const routes: [string, string][] = [
      ['GET', R],
      ['POST', R],
      ['GET', `${R}/x`],
      ['DELETE', `${R}/x`],
      ['GET', `${R}/x/deviceStatus`],
      ['GET', `${R}/x/deviceStatus/thermo/t-000`],
      ['POST', `${R}/x/cancel`],
    ];
    const bad = [
      null,
      basic(KEY, 'wrong'),
      basic('wrong', TOKEN),
      basic(KEY, TOKEN + 'x'),
      basic(KEY, ''),
      'Basic !!!',
      `Bearer ${TOKEN}`,
      basic(`${KEY}:${TOKEN}`, ''),
    ];
    for (const [method, path] of routes) {
      for (const auth of bad) {
        const r = await call(base, method, path, { auth, body: method === 'POST' ? { action: 'device/reboot', devices: thermo(1) } : undefined });
        assert.equal(r.status, 401, `${method} ${path} with ${auth}`);
        assert.equal(r.headers.get('www-authenticate'), 'Basic realm="iotdm"');
        assert.equal(r.json.message, 'iotdm-platform.api.unauthorized');
        assert.equal(r.json.exception.id, 'unauthorized');
      }
    }
    // nothing was launched by the refused POSTs
    const list = await get(`${R}?_limit=5000`);
    assert.equal(list.status, 200);
    assert.equal(list.json.results.filter((d: { origin: string }) => d.origin === 'http').length, 0);
  });

  it('POST 202 {reqId}; the request runs on the devices; mgmt-request (follow all) reports it; GET details, deviceStatus, one device; DELETE 204 then 404', async () => {
    const devices = thermo(3);
    const sum = nextMessage('sum', 5000, (m) => m.payload.action === 'device/reboot' && m.payload.counts.total === 3);
    const rows: any[] = [];
    getNode('dev').on('input', (m: any) => rows.push(m));
    const r = await post({ action: 'device/reboot', parameters: [], devices });
    assert.equal(r.status, 202);
    assert.deepEqual(Object.keys(r.json), ['reqId']);
    const reqId: string = r.json.reqId;
    assert.match(reqId, /^[0-9a-f-]{36}$/);

    // the editor side: outputs and status of the mgmt-request node that follows every request
    const summary = await sum;
    assert.equal(summary.reqId, reqId);
    assert.equal(summary.payload.origin, 'http');
    assert.equal(summary.payload.status, 0);
    assert.deepEqual(summary.payload.counts, { total: 3, inProgress: 0, success: 3, failure: 0, timedOut: 0, cancelled: 0 });
    const mine = rows.filter((m) => m.reqId === reqId);
    assert.deepEqual(
      mine.map((m) => m.payload.deviceId).sort(),
      devices.map((d) => d.deviceId),
    );
    assert.ok(mine.every((m) => m.payload.status === 0 && m.payload.complete === true && m.payload.rc === 202));
    await waitForCall('mr', 'status', (a) => a[0]?.fill === 'green' && a[0]?.shape === 'dot');

    const details = await completed(reqId);
    assert.equal(details.id, reqId);
    assert.equal(details.action, 'device/reboot');
    assert.equal(details.status, 0);

    const ds = await get(`${R}/${reqId}/deviceStatus`);
    assert.equal(ds.status, 200);
    assert.equal(ds.json._bookmark, undefined);
    assert.deepEqual(
      ds.json.results.map((x: any) => [x.typeId, x.deviceId, x.status, x.complete, x.rc]),
      devices.map((d) => ['thermo', d.deviceId, 0, true, 202]),
    );
    const one = await get(`${R}/${reqId}/deviceStatus/thermo/t-001`);
    assert.equal(one.status, 200);
    assert.equal(one.json.deviceId, 't-001');
    assert.equal(one.json.status, 0);
    assert.equal(one.json.complete, true);
    const other = await get(`${R}/${reqId}/deviceStatus/thermo/t-100`);
    assert.equal(other.status, 404);
    assert.equal(other.json.message, 'iotdm-platform.api.status-not-found');

    const del = await call(base, 'DELETE', `${R}/${reqId}`, { auth: AUTH });
    assert.equal(del.status, 204);
    assert.equal(del.text, '');
    for (const path of [`${R}/${reqId}`, `${R}/${reqId}/deviceStatus`, `${R}/${reqId}/deviceStatus/thermo/t-001`]) {
      const gone = await get(path);
      assert.equal(gone.status, 404, path);
      assert.equal(gone.json.exception.id, 'not-found');
    }
    assert.equal((await get(`${R}/${reqId}`)).json.message, 'iotdm-platform.api.request-not-found');
    assert.equal((await call(base, 'DELETE', `${R}/${reqId}`, { auth: AUTH })).status, 404);
    assert.equal((await call(base, 'POST', `${R}/${reqId}/cancel`, { auth: AUTH })).status, 404);
  });

  it('400 with the validation error for invalid bodies, 404 for an unknown device, 403 for a device without the action; nothing is launched', async () => {
    const before = (await get(`${R}?_limit=100`)).json.results.length;
    // messages in words, the validator's paths in exception.properties (checked below for the first five)
    const invalid: [unknown, RegExp, string[]?][] = [
      [{ devices: thermo(1) }, /^invalid request: action is missing$/, ['/action']],
      [{ action: 'device/reboot' }, /^invalid request: devices is missing$/, ['/devices']],
      [{ action: 'device/reboot', devices: [] }, /^invalid request: devices must list at least one item$/, ['/devices']],
      [
        { action: 'device/explode', devices: thermo(1) },
        /^invalid request: action must be one of device\/reboot, device\/factoryReset, firmware\/download, firmware\/update, or a custom action/,
        ['/action'],
      ],
      [{ action: 'device/reboot', devices: [{ typeId: 'thermo' }] }, /^invalid request: devices\[0\]\.deviceId is missing$/, ['/devices/0/deviceId']],
      [{ action: 'device/reboot', devices: thermo(1), extra: 1 }, /does not take: "extra"/],
      [{ action: 'device/reboot', devices: [...thermo(1), ...thermo(1)] }, /twice/],
      [{ action: 'device/reboot', devices: thermo(5001) }, /5000/],
      [[1, 2], /object/],
      ['reboot', /object/],
    ];
    for (const [body, re, paths] of invalid) {
      const r = await post(body);
      assert.equal(r.status, 400, JSON.stringify(body).slice(0, 80));
      assert.match(r.json.message, re);
      assert.equal(r.json.exception.id, 'invalid-request');
      if (paths) assert.deepEqual(r.json.exception.properties, paths);
    }
    const unknown = await post({ action: 'device/reboot', devices: [...thermo(2), { typeId: 'thermo', deviceId: 'ghost' }] });
    assert.equal(unknown.status, 404);
    assert.match(unknown.json.message, /ghost/);
    assert.deepEqual(unknown.json.exception, { id: 'unknown-devices', properties: ['thermo:ghost'] });
    const refused = await post({ action: 'device/reboot', devices: [...thermo(2), { typeId: 'thermo', deviceId: 'no-actions' }] });
    assert.equal(refused.status, 403);
    assert.deepEqual(refused.json.exception, { id: 'unable-devices', properties: ['thermo:no-actions'] });
    assert.equal((await get(`${R}?_limit=100`)).json.results.length, before);
  });

  it('409 for a device with a firmware request in progress; ?override=true replaces it (202) and the first one fails as overridden', async () => {
    const d = { typeId: 'thermo', deviceId: 't-200' };
    fleet.silent.add('thermo:t-200'); // never answers: the download stays in progress
    try {
      const body = { action: 'firmware/download', parameters: [{ name: 'uri', value: 'http://fw.example/1.2.bin' }], devices: [d] };
      const first = await post(body);
      assert.equal(first.status, 202);
      const busy = await post(body);
      assert.equal(busy.status, 409);
      assert.deepEqual(busy.json.exception, { id: 'busy-devices', properties: ['thermo:t-200'] });
      assert.equal((await post(body, '?override=false')).status, 409);
      const second = await post(body, '?override=true');
      assert.equal(second.status, 202);
      assert.notEqual(second.json.reqId, first.json.reqId);
      const row = await until(async () => {
        const r = await get(`${R}/${first.json.reqId}/deviceStatus/thermo/t-200`);
        return r.json.complete ? r.json : undefined;
      });
      assert.equal(row.status, 2);
      assert.match(row.message, new RegExp(`overridden by request ${second.json.reqId}`));
      // cancel the second: 200 with the details, complete, the device failed as cancelled
      const c = await call(base, 'POST', `${R}/${second.json.reqId}/cancel`, { auth: AUTH });
      assert.equal(c.status, 200);
      assert.equal(c.json.complete, true);
      assert.equal(c.json.counts.cancelled, 1);
      const after = await get(`${R}/${second.json.reqId}/deviceStatus/thermo/t-200`);
      assert.equal(after.json.status, 2);
      assert.equal(after.json.message, 'cancelled');
    } finally {
      fleet.silent.delete('thermo:t-200');
    }
  });

  it('415 for a body that is not JSON in UTF-8, 400 for an empty body or invalid JSON, 413 beyond 1 MB (declared or chunked); the server keeps answering', async () => {
    const reboot = JSON.stringify({ action: 'device/reboot', devices: thermo(1) });
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=latin1', 'application/jsonx']) {
      const r = await call(base, 'POST', R, { auth: AUTH, raw: reboot, type });
      assert.equal(r.status, 415, type);
      assert.equal(r.json.exception.id, 'unsupported-media-type');
    }
    const noType = await call(base, 'POST', R, { auth: AUTH, raw: reboot });
    assert.equal(noType.status, 415);
    const ok = await call(base, 'POST', R, { auth: AUTH, raw: reboot, type: 'application/json; charset=UTF-8' });
    assert.equal(ok.status, 202);
    const empty = await call(base, 'POST', R, { auth: AUTH, raw: '', type: 'application/json' });
    assert.equal(empty.status, 400);
    assert.equal(empty.json.exception.id, 'no-body');
    const blank = await call(base, 'POST', R, { auth: AUTH, raw: '  \n', type: 'application/json' });
    assert.equal(blank.status, 400);
    const broken = await call(base, 'POST', R, { auth: AUTH, raw: '{"action": "device/reboot", devices: [', type: 'application/json' });
    assert.equal(broken.status, 400);
    assert.equal(broken.json.exception.id, 'invalid-json');

    const huge = JSON.stringify({ action: 'device/reboot', devices: thermo(1), pad: 'x'.repeat(2 * 1024 * 1024) });
    const declared = await call(base, 'POST', R, { auth: AUTH, raw: huge, type: 'application/json' });
    assert.equal(declared.status, 413);
    assert.equal(declared.json.exception.id, 'body-too-large');

    // chunked, no Content-Length: the limit is counted as the body arrives
    const chunked = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const u = new URL(base + R);
      const req = http.request(
        { host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { authorization: AUTH, 'content-type': 'application/json' } },
        (res) => {
          let body = '';
          res.on('data', (c) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode!, body }));
        },
      );
      req.on('error', reject);
      const chunk = 'x'.repeat(64 * 1024);
      let sent = 0;
      const write = () => {
        while (sent < 40) {
          sent++;
          if (!req.write(chunk)) return req.once('drain', write);
        }
        req.end();
      };
      write();
    });
    assert.equal(chunked.status, 413);
    assert.equal(JSON.parse(chunked.body).exception.id, 'body-too-large');

    // the largest legal request (5,000 devices, ~300 KB) is under the limit: it gets past the body rules
    const max = await post({ action: 'device/reboot', devices: thermo(5000, 'big') });
    assert.equal(max.status, 404);
    assert.equal(max.json.exception.properties.length, 100);
    assert.equal((await get(R)).status, 200);
  });

  it('a client that goes away in the middle of its body is nobody to answer: no node error, nothing launched, the server keeps answering', async () => {
    const before = (await get(`${R}?_limit=100`)).json.results.length;
    const errors = callsOf('p1', 'error').length;
    const u = new URL(base + R);
    await new Promise<void>((resolve) => {
      const req = http.request({
        host: u.hostname,
        port: u.port,
        path: u.pathname,
        method: 'POST',
        headers: { authorization: AUTH, 'content-type': 'application/json', 'content-length': '1000' },
      });
      req.on('error', () => resolve());
      req.on('close', () => resolve());
      req.write('{"action": "device/reboot", ', () => setTimeout(() => req.destroy(), 50));
    });
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(callsOf('p1', 'error').length, errors);
    assert.equal((await get(`${R}?_limit=100`)).json.results.length, before);
  });

  it('400 for invalid query parameters; 405 with Allow for other methods; other paths under the root are not ours', async () => {
    for (const q of [
      '_limit=0',
      '_limit=5001',
      '_limit=abc',
      '_limit=1.5',
      '_limit=-1',
      '_limit=',
      '_limit=1&_limit=2',
      '_bookmark=',
      '_bookmark=garbage',
      '_bookmark=' + Buffer.from('o:x').toString('base64url'),
    ]) {
      const r = await get(`${R}?${q}`);
      assert.equal(r.status, 400, q);
      assert.ok(r.json.message, q);
    }
    const created = await post({ action: 'device/reboot', devices: thermo(2) });
    for (const q of ['_limit=0', '_bookmark=nope']) assert.equal((await get(`${R}/${created.json.reqId}/deviceStatus?${q}`)).status, 400, q);
    assert.equal((await post({ action: 'device/reboot', devices: thermo(1) }, '?override=yes')).status, 400);
    const put = await call(base, 'PUT', R, { auth: AUTH, body: {} });
    assert.equal(put.status, 405);
    assert.equal(put.headers.get('allow'), 'GET, POST');
    const patch = await call(base, 'PATCH', `${R}/${created.json.reqId}`, { auth: AUTH, body: {} });
    assert.equal(patch.status, 405);
    assert.equal(patch.headers.get('allow'), 'GET, DELETE');
    assert.equal((await call(base, 'GET', `${R}/${created.json.reqId}/cancel`, { auth: AUTH })).status, 405);
    assert.equal((await get(`${R}/%E0%A4%A/deviceStatus`)).status, 400);
    // not an API path: Node-RED's own 404, not an API answer
    const other = await get(`${ROOT}/mgmt/other`);
    assert.equal(other.status, 404);
    assert.equal(other.json, undefined);
    await completed(created.json.reqId);
  });

  it('pages deviceStatus of a 250-device request and the list of requests with _bookmark until no bookmark', async () => {
    const devices = thermo(250);
    const r = await post({ action: 'device/reboot', devices });
    assert.equal(r.status, 202);
    const reqId = r.json.reqId;
    const details = await completed(reqId, 10000);
    assert.equal(details.counts.success, 250);

    const seen: string[] = [];
    let bookmark: string | undefined;
    let pages = 0;
    do {
      const p = await get(`${R}/${reqId}/deviceStatus?_limit=100${bookmark ? `&_bookmark=${encodeURIComponent(bookmark)}` : ''}`);
      assert.equal(p.status, 200);
      pages++;
      assert.equal(p.json.results.length, pages < 3 ? 100 : 50);
      for (const row of p.json.results) {
        assert.equal(row.status, 0);
        seen.push(row.deviceId);
      }
      bookmark = p.json._bookmark;
    } while (bookmark);
    assert.equal(pages, 3);
    assert.deepEqual(
      seen,
      devices.map((d) => d.deviceId),
    );
    // without _limit: one page of 100 and a bookmark
    const first = await get(`${R}/${reqId}/deviceStatus`);
    assert.equal(first.json.results.length, 100);
    assert.ok(first.json._bookmark);

    // the list: two more requests, pages of 2, every id once
    const more = [
      await post({ action: 'device/reboot', devices: thermo(1) }),
      await post({ action: 'device/factoryReset', devices: [{ typeId: 'thermo', deviceId: 't-010' }] }),
    ];
    const ids: string[] = [];
    bookmark = undefined;
    let listPages = 0;
    do {
      const p = await get(`${R}?_limit=2${bookmark ? `&_bookmark=${encodeURIComponent(bookmark)}` : ''}`);
      assert.equal(p.status, 200);
      assert.ok(p.json.results.length >= 1 && p.json.results.length <= 2);
      listPages++;
      for (const d of p.json.results) {
        assert.equal(typeof d.complete, 'boolean');
        ids.push(d.id);
      }
      bookmark = p.json._bookmark;
    } while (bookmark);
    const all = (await get(`${R}?_limit=100`)).json.results.map((d: { id: string }) => d.id);
    assert.deepEqual(ids, all);
    assert.equal(new Set(ids).size, ids.length);
    assert.equal(listPages, Math.ceil(all.length / 2));
    for (const id of [reqId, ...more.map((m) => m.json.reqId)]) assert.ok(ids.includes(id), id);
  });

  it('a request launched by a flow is visible over HTTP, and cancelled over HTTP', async () => {
    fleet.silent.add('thermo:t-150');
    try {
      const ans = nextMessage('ans2');
      getNode('mr2').receive({
        payload: {
          action: 'device/reboot',
          devices: [
            { typeId: 'thermo', deviceId: 't-150' },
            { typeId: 'thermo', deviceId: 't-151' },
          ],
        },
      });
      const a = await ans;
      assert.equal(a.statusCode, 202);
      const reqId = a.payload.reqId;
      const d = await get(`${R}/${reqId}`);
      assert.equal(d.status, 200);
      assert.equal(d.json.origin, 'mr2');
      assert.equal(d.json.action, 'device/reboot');
      const listed = await get(`${R}?_limit=100`);
      assert.ok(listed.json.results.some((x: { id: string }) => x.id === reqId));
      const done = await until(async () => (await get(`${R}/${reqId}/deviceStatus/thermo/t-151`)).json.complete || undefined);
      assert.equal(done, true);
      assert.equal((await get(`${R}/${reqId}/deviceStatus/thermo/t-150`)).json.status, 1);
      const c = await call(base, 'POST', `${R}/${reqId}/cancel`, { auth: AUTH });
      assert.equal(c.status, 200);
      assert.equal(c.json.complete, true);
      assert.equal(c.json.status, 2);
      assert.deepEqual(
        (await get(`${R}/${reqId}/deviceStatus`)).json.results.map((x: any) => [x.deviceId, x.status, x.message ?? null]),
        [
          ['t-150', 2, 'cancelled'],
          ['t-151', 0, null],
        ],
      );
      assert.equal(callsOf('p1', 'error').length, 0);
    } finally {
      fleet.silent.delete('thermo:t-150');
    }
  });
});

describe('http API: mounting with the platform node', function () {
  this.timeout(20000);
  const web = serveHttpNode();
  afterEach(async () => {
    await unloadFlow();
  });

  const list = (root: string, auth: string | null = AUTH) => call(web.url, 'GET', `${root}/mgmt/requests`, { auth });

  it('enabled without a key and token: every route answers 401 and the node warns', async () => {
    await loadFlow(NODES, flow(await freePort()), {});
    await waitForCall('p1', 'warn', (a) => a[0] === 'iotdm-platform.errors.api-no-credentials');
    for (const [method, path] of [
      ['GET', R],
      ['POST', R],
      ['GET', `${R}/x`],
      ['DELETE', `${R}/x`],
      ['POST', `${R}/x/cancel`],
    ]) {
      const r = await call(web.url, method, path, { auth: basic('', ''), body: method === 'POST' ? {} : undefined });
      assert.equal(r.status, 401);
      assert.equal(r.json.message, 'iotdm-platform.api.no-credentials');
      assert.equal(r.headers.get('www-authenticate'), 'Basic realm="iotdm"');
    }
  });

  it('off by default: nothing is served', async () => {
    const f = flow(await freePort());
    delete (f[0] as Record<string, unknown>).api;
    await loadFlow(NODES, f, { p1: { apiKey: KEY, apiToken: TOKEN } });
    const r = await list(ROOT);
    assert.equal(r.status, 404);
    assert.equal(r.json, undefined);
  });

  it('a redeploy with another root stops the old routes; a redeploy with the API off stops all of them', async () => {
    const port = await freePort();
    const creds = { p1: { apiKey: KEY, apiToken: TOKEN } };
    await loadFlow(NODES, flow(port), creds);
    assert.equal((await list(ROOT)).status, 200);
    const helper = nodeRedHelper();
    await helper.setFlows(flow(port, { apiRoot: '/dm/v2' }), 'full', creds);
    await getNode('p1').ready;
    assert.equal((await list('/dm/v2')).status, 200);
    const old = await list(ROOT);
    assert.equal(old.status, 404);
    assert.equal(old.json, undefined);
    await helper.setFlows(flow(port, { apiRoot: '/dm/v2', api: false }), 'full', creds);
    assert.equal((await list('/dm/v2')).status, 404);
    assert.equal((await list(ROOT)).status, 404);
    // and back on, at the first root: served again (the unmount freed it)
    await helper.setFlows(flow(port), 'full', creds);
    assert.equal((await list(ROOT)).status, 200);
  });

  it('two platforms under two roots each serve their own requests with their own credentials; the same root twice is refused', async () => {
    const [pa, pb] = [await freePort(), await freePort()];
    const f: FlowNode[] = [
      { id: 'pa', type: 'iotdm-platform', access: 'development', broker: 'embedded', port: pa, api: true, apiRoot: '/a/v0002' },
      { id: 'pb', type: 'iotdm-platform', access: 'development', broker: 'embedded', port: pb, api: true, apiRoot: '/b/v0002' },
      { id: 'pc', type: 'iotdm-platform', access: 'development', broker: 'embedded', port: await freePort(), api: true, apiRoot: '/A/v0002' },
      { id: 'pd', type: 'iotdm-platform', access: 'development', broker: 'embedded', port: await freePort(), api: true, apiRoot: 'no-slash' },
    ];
    await loadFlow(NODES, f, {
      pa: { apiKey: 'ka', apiToken: 'ta' },
      pb: { apiKey: 'kb', apiToken: 'tb' },
      pc: { apiKey: 'kc', apiToken: 'tc' },
      pd: { apiKey: 'kd', apiToken: 'td' },
    });
    await Promise.all(['pa', 'pb'].map((id) => getNode(id).ready));
    const fa = await Fleet.connect(`mqtt://127.0.0.1:${pa}`, thermo(2, 'a'));
    const fb = await Fleet.connect(`mqtt://127.0.0.1:${pb}`, thermo(2, 'b'));
    try {
      const ra = await call(web.url, 'POST', '/a/v0002/mgmt/requests', { auth: basic('ka', 'ta'), body: { action: 'device/reboot', devices: thermo(2, 'a') } });
      assert.equal(ra.status, 202);
      // b's devices are unknown to a, a's credentials are wrong for b
      assert.equal(
        (await call(web.url, 'POST', '/a/v0002/mgmt/requests', { auth: basic('ka', 'ta'), body: { action: 'device/reboot', devices: thermo(1, 'b') } })).status,
        404,
      );
      assert.equal((await list('/b/v0002', basic('ka', 'ta'))).status, 401);
      const rb = await call(web.url, 'POST', '/b/v0002/mgmt/requests', { auth: basic('kb', 'tb'), body: { action: 'device/reboot', devices: thermo(2, 'b') } });
      assert.equal(rb.status, 202);
      assert.deepEqual(
        (await list('/a/v0002', basic('ka', 'ta'))).json.results.map((d: { id: string }) => d.id),
        [ra.json.reqId],
      );
      assert.deepEqual(
        (await list('/b/v0002', basic('kb', 'tb'))).json.results.map((d: { id: string }) => d.id),
        [rb.json.reqId],
      );
      assert.equal((await call(web.url, 'GET', `/b/v0002/mgmt/requests/${ra.json.reqId}`, { auth: basic('kb', 'tb') })).status, 404);
      // express matches mount paths without case: /A/v0002 is a's root, and pc says so
      await waitForCall('pc', 'error', (a) => a[0] === 'iotdm-platform.errors.api-root-in-use');
      await waitForCall('pd', 'error', (a) => a[0] === 'iotdm-platform.errors.api-invalid-root');
      assert.equal((await list('/A/v0002', basic('kc', 'tc'))).status, 401);
      assert.equal((await list('/A/v0002', basic('ka', 'ta'))).status, 200);
    } finally {
      await fa.close();
      await fb.close();
    }
  });
});
