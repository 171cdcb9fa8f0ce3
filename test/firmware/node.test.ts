/**
 * The firmware-state node in Node-RED (node-red-node-test-helper) with an iotdm-device over a real
 * broker and the platform simulated by an mqtt.js client: commands on the output, typed input,
 * node.error on bad or illegal input, the built-in downloader against a local http server, and the
 * state kept across a restart of the flows.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { loadFlow, unloadFlow, getNode, nextMessage, waitForCall, callsOf, nodeRedHelper, type FlowNode } from '../support/nodered';
import { Peer } from '../device/brokers';
import { freePort } from '../support/ports';
import { startFirmwareBroker, until, type Broker } from './fixtures';
import { startNodeRed, type NodeRedProcess } from '../support/node-red-process';

const deviceNode = require('../../nodes/iotdm-device');
const firmwareNode = require('../../nodes/firmware-state');

const P = 'iotdm-1/type/thermo/id/N-1';
const IMAGE = Buffer.from('firmware image 2.0');

describe('firmware/firmware-state node in Node-RED over the embedded broker', function () {
  this.timeout(20000);
  let broker: Broker;
  let platform: Peer;
  let server: http.Server;
  let base: string;
  let folder: string;
  let seq = 0;

  before(async () => {
    nodeRedHelper();
    broker = await startFirmwareBroker('embedded');
    server = http.createServer((req, res) => {
      if (req.url === '/fw.bin') res.end(IMAGE);
      else {
        res.writeHead(404);
        res.end();
      }
    });
    const port = await freePort();
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${port}`;
  });
  after(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    await broker.stop();
  });
  beforeEach(async () => {
    folder = fs.mkdtempSync(path.join(os.tmpdir(), 'iotdm-fwnode-'));
    platform = await Peer.connect(broker.url);
    platform.autoAnswerManage(200);
  });
  afterEach(async () => {
    await unloadFlow();
    await platform.close();
    fs.rmSync(folder, { recursive: true, force: true });
  });

  function flow(fw: Record<string, unknown> = {}): FlowNode[] {
    return [
      { id: 'cfg', type: 'iotdm-device', broker: broker.url, mode: 'device', typeId: 'thermo', deviceId: 'N-1', lifetime: 3600, fwVersion: '1.0' },
      { id: 'fw', type: 'iotdm-firmware-state', device: 'cfg', downloader: 'flow', answer: 'auto', wires: [['out']], ...fw },
      { id: 'out', type: 'helper' },
    ];
  }
  async function start(fw: Record<string, unknown> = {}) {
    await loadFlow([deviceNode, firmwareNode], flow(fw));
    await platform.waitFor((m) => m.topic.endsWith('/mgmt/manage') && m.json.d.supports.firmwareActions === true, 5000, 'manage with firmwareActions');
  }
  async function ask(p: string, body: Record<string, unknown> = {}) {
    const reqId = `n${++seq}`;
    await platform.publish(`${P}/${p}`, { reqId, ...body });
    return platform.response(reqId);
  }
  const setFirmware = (uri: string, verifier = '') =>
    ask('device/update', {
      d: { fields: [{ field: 'mgmt.firmware', value: { version: '2.0', name: 'fw.bin', uri, verifier, state: 0, updateStatus: 0, updatedDateTime: '' } }] },
    });

  it('emits a typed download command after the 202 and takes progress back, saved in the node context', async () => {
    await start();
    assert.equal((await setFirmware(`${base}/fw.bin`)).json.rc, 204);
    const out = nextMessage('out');
    assert.equal((await ask('mgmt/initiate/firmware/download')).json.rc, 202);
    const cmd = await out;
    assert.equal(cmd.topic, 'download');
    assert.deepEqual(
      { ...cmd.payload, reqId: 'x' },
      { command: 'download', reqId: 'x', typeId: 'thermo', deviceId: 'N-1', uri: `${base}/fw.bin`, name: 'fw.bin', verifier: '', version: '2.0' },
    );
    // the flow passes the command back with its result
    getNode('fw').receive({ payload: { ...cmd.payload, result: 'downloaded' } });
    await until(() => getNode('fw').context().get('iotdm-firmware')?.devices?.['thermo/N-1']?.firmware?.state === 2, 3000, 'state saved');

    const n = await platform.waitFor((m) => m.topic.endsWith('/response') && m.json.rc === 202, 3000, '202');
    assert.ok(n);
  });

  it('reports invalid and illegal input with node.error(err, msg) and changes nothing', async () => {
    await start();
    const fw = getNode('fw');
    const bad = [{ payload: 'x' }, { payload: { result: 'downloadFailed', updateStatus: 5 } }, { payload: { result: 'downloaded', extra: 1 } }];
    for (const m of bad) fw.receive(m);
    fw.receive({ payload: { result: 'installed' } }); // legal shape, illegal while idle
    await waitForCall('fw', 'error', (a) => String(a[0]).includes('firmware-state.errors.refused'));
    const errors = callsOf('fw', 'error');
    assert.equal(errors.filter((a) => String(a[0]).includes('invalid-input')).length, 3);
    assert.ok(
      errors.every((a) => a[1] && 'payload' in a[1]),
      'each error carries its msg',
    );
    const o = await ask('observe', { d: { fields: [{ field: 'mgmt.firmware' }] } });
    assert.equal(o.json.d.fields[0].value.state, 0);
  });

  it('built-in downloader: fetches and verifies, then the flow only installs (install command carries the file); 404 → updateStatus 6', async () => {
    await start({ downloader: 'builtin', folder });
    await ask('observe', { d: { fields: [{ field: 'mgmt.firmware' }] } });
    await setFirmware(`${base}/fw.bin`, createHash('sha256').update(IMAGE).digest('hex'));
    assert.equal((await ask('mgmt/initiate/firmware/download')).json.rc, 202);
    await platform.waitFor((m) => m.topic.endsWith('/notify') && m.json.d.fields[0].value.state === 2, 5000, 'downloaded notify');
    const file = path.join(folder, 'thermo_N-1', 'fw.bin');
    assert.deepEqual(fs.readFileSync(file), IMAGE);
    const out = nextMessage('out');
    await ask('mgmt/initiate/firmware/update');
    const cmd = await out;
    assert.equal(cmd.payload.command, 'install');
    assert.equal(cmd.payload.file, file);
    getNode('fw').receive({ payload: { result: 'installed' } });
    await platform.waitFor(
      (m) => m.topic.endsWith('/notify') && m.json.d.fields[0].value.updateStatus === 0 && m.json.d.fields[0].value.state === 0,
      5000,
      'installed',
    );

    await setFirmware(`${base}/missing.bin`);
    await ask('mgmt/initiate/firmware/download');
    const failed = await platform.waitFor((m) => m.topic.endsWith('/notify') && m.json.d.fields[0].value.updateStatus === 6, 5000, 'failure notify');
    assert.equal(failed.json.d.fields[0].value.state, 0);
    await waitForCall('fw', 'warn', (a) => String(a[0]).includes('firmware-state.errors.download'));
  });
});

describe('firmware/firmware-state in a real Node-RED process: the state survives a restart', function () {
  this.timeout(60000);
  let broker: Broker;
  let platform: Peer;
  let nr: NodeRedProcess | undefined;
  let seq = 0;
  before(async () => {
    broker = await startFirmwareBroker('embedded');
    platform = await Peer.connect(broker.url);
    platform.autoAnswerManage(200);
  });
  after(async () => {
    await nr?.stop();
    await platform.close();
    await broker.stop();
  });

  it('a device restarted between download and update still updates (localfilesystem context)', async () => {
    const flows = [
      { id: 'tab', type: 'tab', label: 'fw' },
      { id: 'cfg', type: 'iotdm-device', broker: broker.url, mode: 'device', typeId: 'thermo', deviceId: 'R-1', lifetime: 3600 },
      { id: 'fw', type: 'iotdm-firmware-state', z: 'tab', device: 'cfg', downloader: 'flow', answer: 'auto', wires: [['work']] },
      // the user's flow: "does" the download or the install and reports it back
      {
        id: 'work',
        type: 'function',
        z: 'tab',
        func: "msg.payload = Object.assign({}, msg.payload, { result: msg.payload.command === 'download' ? 'downloaded' : 'installed' }); return msg;",
        outputs: 1,
        wires: [['fw']],
      },
    ];
    const settings = `contextStorage: { default: { module: 'localfilesystem' } },`;
    const P = 'iotdm-1/type/thermo/id/R-1';
    const manages = () =>
      platform.received.filter((m) => m.topic === 'iotdevice-1/type/thermo/id/R-1/mgmt/manage' && m.json.d.supports.firmwareActions === true).length;
    const ask = async (p: string, body: Record<string, unknown> = {}) => {
      const reqId = `p${++seq}`;
      await platform.publish(`${P}/${p}`, { reqId, ...body });
      return platform.response(reqId);
    };
    nr = await startNodeRed({ flows, settings });
    await until(() => manages() >= 1, 15000, 'manage');
    const fw = { version: '2.0', name: 'fw.bin', uri: 'http://127.0.0.1/fw.bin', verifier: '', state: 0, updateStatus: 0, updatedDateTime: '' };
    assert.equal((await ask('device/update', { d: { fields: [{ field: 'mgmt.firmware', value: fw }] } })).json.rc, 204);
    await ask('observe', { d: { fields: [{ field: 'mgmt.firmware' }] } });
    assert.equal((await ask('mgmt/initiate/firmware/download')).json.rc, 202);
    await platform.waitFor((m) => m.topic.endsWith('/R-1/notify') && m.json.d.fields[0].value.state === 2, 5000, 'downloaded');

    const userDir = nr.userDir;
    await nr.stop();
    const before = manages();
    nr = await startNodeRed({ flows, settings, userDir });
    await until(() => manages() > before, 15000, 'manage after the restart');
    const o = await ask('observe', { d: { fields: [{ field: 'mgmt.firmware' }] } });
    assert.equal(o.json.d.fields[0].value.state, 2, 'still downloaded after the restart');
    assert.equal((await ask('mgmt/initiate/firmware/update')).json.rc, 202);
    const done = await platform.waitFor(
      (m) => m.topic.endsWith('/R-1/notify') && m.json.d.fields[0].value.updateStatus === 0 && m.json.d.fields[0].value.state === 0,
      5000,
      'installed',
    );
    assert.ok(done);
  });
});
