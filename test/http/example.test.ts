import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { loadFlow, getNode, nextMessage, waitForCall, type FlowNode } from '../support/nodered';
import { freePort } from '../support/ports';
import { Fleet } from './fleet';
import { captureHttpNode, serveHttpNode, call, basic, until } from './support';
import { redRequire } from '../support/red';

const platformNode = require('../../nodes/iotdm-platform');
const mgmtRequestNode = require('../../nodes/mgmt-request');
// Node-RED's own inject and comment nodes, as the editor would load them
const injectNode = redRequire('@node-red/nodes/core/common/20-inject.js');
const commentNode = redRequire('@node-red/nodes/core/common/90-comment.js');

// dist/test/http → the package root
const EXAMPLE = path.join(__dirname, '..', '..', '..', 'examples', 'http-api.json');

describe('http API: examples/http-api.json', function () {
  this.timeout(20000);
  const web = serveHttpNode();

  it('imports as is (debug nodes watched by helpers): curl-style launches show in the mgmt-request node, the inject launch shows over HTTP', async () => {
    // the example's own simulated devices are left out: this test brings a fleet of its own
    const deviceSide = new Set(['iotdm-device', 'iotdm-device-responder', 'delay', 'change']);
    const all = JSON.parse(fs.readFileSync(EXAMPLE, 'utf8')) as FlowNode[];
    const deviceTab = all.find((n) => n.type === 'iotdm-device-responder')?.z;
    const flow = all.filter((n) => !deviceSide.has(n.type) && n.id !== deviceTab && n.z !== deviceTab);
    const platform = flow.find((n) => n.type === 'iotdm-platform')!;
    const request = flow.find((n) => n.type === 'iotdm-mgmt-request')!;
    const inject = flow.find((n) => n.type === 'inject')!;
    assert.equal(platform.api, true);
    const root = String(platform.apiRoot);
    assert.notEqual(root, '/api/v0002', 'the demo serves /api/v0002: the example has a root of its own');
    assert.equal(request.follow, 'all');
    const port = await freePort();
    platform.port = port;
    const [perDevice, summary, answers] = (request.wires as string[][]).map((w) => w[0]);
    for (const n of flow) if (n.type === 'debug') n.type = 'helper';
    await loadFlow([platformNode, mgmtRequestNode, injectNode, commentNode, captureHttpNode], flow, {
      [platform.id]: { apiKey: 'demo-key', apiToken: 'demo-token' },
    });
    await getNode(platform.id).ready;
    const fleet = await Fleet.connect(`mqtt://127.0.0.1:${port}`, [
      { typeId: 'thermo', deviceId: 't-1' },
      { typeId: 'thermo', deviceId: 't-2' },
    ]);
    try {
      const auth = basic('demo-key', 'demo-token');
      const row = nextMessage(perDevice, 5000, (m) => m.payload.deviceId === 't-2');
      const sum = nextMessage(summary, 5000, (m) => m.payload.origin === 'http');
      const r = await call(web.url, 'POST', `${root}/mgmt/requests`, {
        auth,
        body: { action: 'device/reboot', devices: [{ typeId: 'thermo', deviceId: 't-2' }] },
      });
      assert.equal(r.status, 202);
      assert.equal((await row).reqId, r.json.reqId);
      assert.equal((await sum).payload.status, 0);
      await waitForCall(request.id, 'status', (a) => a[0]?.fill === 'green');

      const launched = nextMessage(answers);
      getNode(inject.id).receive({});
      const a = await launched;
      assert.equal(a.statusCode, 202);
      const d = await until(async () => {
        const g = await call(web.url, 'GET', `${root}/mgmt/requests/${a.payload.reqId}`, { auth });
        return g.status === 200 && g.json.complete ? g.json : undefined;
      });
      assert.equal(d.origin, request.id);
      assert.equal(d.counts.success, 1);
    } finally {
      await fleet.close();
    }
  });
});
