import assert from 'node:assert/strict';
import { loadFlow, unloadFlow, getNode, nextMessage, collect, waitForCall, callsOf, nodeRedHelper, type FlowNode } from '../support/nodered';
import { startBroker, Peer, sleep, type TestBroker } from './brokers';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../nodes/transport/embedded-broker';
import { makeSelfSignedCert, type SelfSigned } from '../support/tls';
import { redRequire } from '../support/red';

// the compiled node modules, as Node-RED loads them
const deviceNode = require('../../nodes/iotdm-device');
const responderNode = require('../../nodes/device-responder');

const SECRET = 's3cret-pw';

function flow(url: string, cfg: Record<string, unknown> = {}, responder: Record<string, unknown> = {}): FlowNode[] {
  return [
    {
      id: 'cfg',
      type: 'iotdm-device',
      broker: url,
      mode: 'device',
      typeId: 'thermo',
      deviceId: 'N-1',
      lifetime: 3600,
      metadata: '{"site":"lab"}',
      serialNumber: 'SN-9',
      ...cfg,
    },
    { id: 'resp', type: 'iotdm-device-responder', device: 'cfg', mode: 'auto', reboot: true, factoryReset: true, timeout: 60, wires: [['out']], ...responder },
    { id: 'out', type: 'helper' },
  ];
}
const manageOf = (t: string, d: string) => (m: { topic: string }) => m.topic === `iotdevice-1/type/${t}/id/${d}/mgmt/manage`;

for (const kind of ['aedes', 'mosquitto'] as const) {
  describe(`device/nodes in Node-RED over ${kind}`, function () {
    this.timeout(20000);
    let broker: TestBroker;
    let platform: Peer;

    before(async () => {
      nodeRedHelper();
      broker = await startBroker(kind);
    });
    after(async () => {
      await broker.stop();
    });
    beforeEach(async () => {
      platform = await Peer.connect(broker.url);
      platform.autoAnswerManage(200);
    });
    afterEach(async () => {
      await unloadFlow();
      await platform.close();
    });

    async function start(cfg: Record<string, unknown> = {}, responder: Record<string, unknown> = {}) {
      await loadFlow([deviceNode, responderNode], flow(broker.url, cfg, responder), { cfg: { username: 'dev-user', password: SECRET } });
      const typeId = (cfg.typeId as string) ?? 'thermo';
      const deviceId = (cfg.deviceId as string) ?? 'N-1';
      return platform.waitFor(manageOf(typeId, deviceId), 5000, 'first manage');
    }

    it('manages with supports.deviceActions, answers reboot 202 (auto) and emits the action message; the manage after restart reaches the platform', async () => {
      const first = await start();
      assert.deepEqual(first.json.d, {
        metadata: { site: 'lab' },
        lifetime: 3600,
        supports: { deviceActions: true, firmwareActions: false },
        deviceInfo: { serialNumber: 'SN-9' },
      });
      const out = nextMessage('out');
      await platform.publish('iotdm-1/type/thermo/id/N-1/mgmt/initiate/device/reboot', { reqId: 'rb-1' });
      const r = await platform.response('rb-1');
      assert.equal(r.topic, 'iotdevice-1/type/thermo/id/N-1/response');
      assert.equal(r.text, '{"reqId":"rb-1","rc":202}');
      const msg = await out;
      assert.equal(msg.topic, 'device/reboot');
      assert.deepEqual(msg.payload, { action: 'device/reboot', reqId: 'rb-1', typeId: 'thermo', deviceId: 'N-1' });

      // the flow "restarted" the device: a manage completes the reboot on the platform
      getNode('resp').receive({ topic: 'manage', payload: Date.now() });
      await platform.waitFor((m) => manageOf('thermo', 'N-1')(m) && m.json.reqId !== first.json.reqId, 5000, 'manage after restart');
      await waitForCall('resp', 'status', (a) => /counts/.test(JSON.stringify(a)));
      assert.equal(callsOf('resp', 'error').length, 0);
    });

    it('flow mode: 500 and 501 from the flow reach the platform with their message; a late answer is an error', async () => {
      await start({}, { mode: 'flow' });
      const out = collect('out');
      await platform.publish('iotdm-1/type/thermo/id/N-1/mgmt/initiate/device/factory_reset', { reqId: 'fr-1' });
      await platform.publish('iotdm-1/type/thermo/id/N-1/mgmt/initiate/device/factory_reset', { reqId: 'fr-2' });
      for (let i = 0; i < 200 && out.length < 2; i++) await sleep(10);
      assert.deepEqual(
        out.map((m) => m.payload),
        [
          { action: 'device/factoryReset', reqId: 'fr-1', typeId: 'thermo', deviceId: 'N-1' },
          { action: 'device/factoryReset', reqId: 'fr-2', typeId: 'thermo', deviceId: 'N-1' },
        ],
      );
      await sleep(100);
      assert.equal(platform.received.filter((m) => m.json?.reqId === 'fr-1').length, 0, 'no answer before the flow gives one');
      // the flow passes the action payload back with its rc
      getNode('resp').receive({ payload: { ...out[0].payload, rc: 500, message: 'disk is read-only' } });
      getNode('resp').receive({ payload: { reqId: 'fr-2', rc: 501, message: 'no reset on this model' } });
      assert.equal((await platform.response('fr-1')).text, '{"reqId":"fr-1","rc":500,"message":"disk is read-only"}');
      assert.equal((await platform.response('fr-2')).text, '{"reqId":"fr-2","rc":501,"message":"no reset on this model"}');
      getNode('resp').receive({ payload: { reqId: 'fr-1', rc: 202 } });
      const [text, msg] = await waitForCall('resp', 'error', (a) => String(a[0]).includes('unknown-reqid'));
      assert.ok(text);
      assert.equal(msg.payload.reqId, 'fr-1');
      await sleep(100);
      assert.equal(platform.received.filter((m) => m.json?.reqId === 'fr-1').length, 1, 'answered once');
    });

    it('answers 501 with a message, and no output, for an action the node does not support', async () => {
      await start({}, { factoryReset: false });
      const out = collect('out');
      await platform.publish('iotdm-1/type/thermo/id/N-1/mgmt/initiate/device/factory_reset', { reqId: 'un-1' });
      const r = await platform.response('un-1');
      assert.equal(r.json.rc, 501);
      assert.match(r.json.message, /not supported/);
      assert.ok(r.text.startsWith('{"reqId":"un-1","rc":501,'));
      await sleep(100);
      assert.equal(out.length, 0);
    });

    it('reports invalid input messages with node.error and does nothing else', async () => {
      await start({}, { mode: 'flow' });
      const before = platform.received.length;
      const resp = getNode('resp');
      resp.receive({ payload: { reqId: 'x', rc: 418 } });
      resp.receive({ payload: 'not an object' });
      resp.receive({ topic: 'manage', payload: { typeId: 'a/b', deviceId: 'c' } });
      resp.receive({ topic: 'manage', payload: { typeId: 'other', deviceId: 'dev' } });
      await waitForCall('resp', 'error', (a) => String(a[0]).includes('not-ours'));
      const errs = callsOf('resp', 'error').map((a) => String(a[0]));
      assert.equal(errs.filter((e) => e.includes('invalid-answer')).length, 2, errs.join());
      assert.equal(errs.filter((e) => e.includes('invalid-manage')).length, 1, errs.join());
      // each error carries the msg, so a Catch node gets it
      assert.ok(callsOf('resp', 'error').every((a) => a[1] && typeof a[1] === 'object'));
      await sleep(100);
      assert.equal(platform.received.length, before, 'nothing published');
    });

    it('keeps credentials out of the flow configuration', async () => {
      await start();
      const cfg = getNode('cfg');
      assert.equal(cfg.credentials.password, SECRET);
      const flows = JSON.stringify(nodeRedHelper()._redNodes.getFlows().flows);
      assert.ok(!flows.includes(SECRET));
      assert.ok(!flows.includes('dev-user'));
      assert.equal(cfg.connection.options.username, 'dev-user');
    });

    it('one responder serves every device behind a gateway', async () => {
      await start({ mode: 'gateway', typeId: 'gw', deviceId: 'gw-7', devices: '# fleet\nsim:s-{01..03}\n' });
      await platform.waitCount((m) => m.topic.endsWith('/mgmt/manage'), 4);
      const out = nextMessage('out');
      await platform.publish('iotdm-1/type/sim/id/s-02/mgmt/initiate/device/reboot', { reqId: 'gw-r' });
      assert.equal((await platform.response('gw-r')).topic, 'iotdevice-1/type/sim/id/s-02/response');
      assert.deepEqual((await out).payload, { action: 'device/reboot', reqId: 'gw-r', typeId: 'sim', deviceId: 's-02' });
      getNode('resp').receive({ topic: 'manage', payload: { typeId: 'sim', deviceId: 's-02' } });
      await platform.waitCount(manageOf('sim', 's-02'), 2);
    });

    it('reports an invalid configuration clearly and answers nothing', async () => {
      await loadFlow([deviceNode, responderNode], flow(broker.url, { typeId: 'bad/type', lifetime: -1 }));
      const [text] = await waitForCall('cfg', 'error', (a) => String(a[0]).includes('invalid-config'));
      assert.ok(text);
      assert.ok(getNode('cfg').configError.includes('iotdm-device.errors.typeId'));
      assert.ok(getNode('cfg').configError.includes('iotdm-device.errors.lifetime'));
      await waitForCall('resp', 'error', (a) => String(a[0]).includes('not-configured'));
      await sleep(200);
      assert.equal(platform.received.length, 0);
    });
  });
}

describe('device/iotdm-device over mqtts, with a tls-config node', function () {
  this.timeout(20000);
  const tlsNode = redRequire('@node-red/nodes/core/network/05-tls.js');
  let broker: EmbeddedBroker;
  let cert: SelfSigned;
  const MANAGE = 'iotdevice-1/type/thermo/id/TLS-1/mgmt/manage';

  before(async () => {
    nodeRedHelper();
    cert = makeSelfSignedCert(); // fails (never skips) when openssl is missing
    broker = await startEmbeddedBroker({ port: 0, host: '127.0.0.1', tls: { cert: cert.cert, key: cert.key } });
  });
  after(() => broker.close());
  afterEach(() => unloadFlow());

  const flow = (tls: string): FlowNode[] => [
    { id: 'tls', type: 'tls-config', cert: '', key: '', ca: '', verifyservercert: true },
    { id: 'cfg', type: 'iotdm-device', broker: broker.url, mode: 'device', typeId: 'thermo', deviceId: 'TLS-1', tls },
  ];

  it('trusts the broker through the CA of its tls-config node and sends its manage', async () => {
    let onPublish!: (packet: { topic: string }) => void;
    const manage = new Promise<void>((resolve) => {
      onPublish = (packet) => {
        if (packet.topic === MANAGE) resolve();
      };
      broker.aedes.on('publish', onPublish as never);
    });
    try {
      await loadFlow([tlsNode, deviceNode], flow('tls'), { tls: { cadata: cert.cert } });
      await Promise.race([manage, sleep(5000).then(() => assert.fail('no manage over mqtts'))]);
      assert.equal(getNode('cfg').configError, undefined);
    } finally {
      broker.aedes.removeListener('publish', onPublish as never);
    }
  });

  it('a missing tls-config node is an invalid configuration', async () => {
    await loadFlow([tlsNode, deviceNode], flow('gone'));
    await waitForCall('cfg', 'error', (a) => String(a[0]).includes('invalid-config'));
    assert.equal(getNode('cfg').configError, 'iotdm-device.errors.tls');
    assert.equal(getNode('cfg').agent, undefined);
  });
});
