/**
 * Issue 10, finding 3 (a gateway silenced for good) and finding 5 on the device side (log floods),
 * each of which failed on 5fe85d6: a device/update with a 70,000-character field name was answered
 * 404 with the name echoed twice, over the embedded broker's 131,072-byte cap: the broker closed
 * the gateway's connection and mqtt.js replayed the answer on every reconnect; and every invalid
 * message was one node.error line.
 */
import assert from 'node:assert/strict';
import { loadFlow, unloadFlow, getNode, nodeRedHelper, callsOf } from '../support/nodered';
import { Peer } from '../device/brokers';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../nodes/transport/embedded-broker';
import { freePort } from '../support/ports';

const deviceNode = require('../../nodes/iotdm-device');
const responderNode = require('../../nodes/device-responder');

/** whether a text holds a control character (a payload's, unescaped) */
function hasControl(text: string): boolean {
  return [...text].some((c) => c.charCodeAt(0) < 0x20);
}

describe('hostile: a gateway of 100 devices under hostile requests', function () {
  this.timeout(30000);
  let broker: EmbeddedBroker;
  let platform: Peer;

  before(async () => {
    nodeRedHelper();
    broker = await startEmbeddedBroker({ port: await freePort(), host: '127.0.0.1' });
  });
  after(async () => {
    await broker.close();
  });
  beforeEach(async () => {
    platform = await Peer.connect(broker.url);
    platform.autoAnswerManage(200);
    await loadFlow(
      [deviceNode, responderNode],
      [
        { id: 'gwcfg', type: 'iotdm-device', broker: broker.url, mode: 'gateway', typeId: 'gw', deviceId: 'gw-1', devices: 'sim:sim-{001..100}', lifetime: 0 },
        { id: 'resp', type: 'iotdm-device-responder', device: 'gwcfg', mode: 'auto', reboot: true, factoryReset: true, timeout: 60, wires: [[]] },
      ],
    );
    await platform.waitCount((m) => m.topic.endsWith('/mgmt/manage'), 101, 15000);
  });
  afterEach(async () => {
    await unloadFlow();
    await platform.close();
  });

  it('finding 3: a 70,000-character field name gets a short 400 and the gateway keeps answering', async () => {
    const name = 'x'.repeat(70000);
    await platform.publish('iotdm-1/type/sim/id/sim-002/device/update', { reqId: 'huge', d: { fields: [{ field: name, value: 1 }] } });
    const r = await platform.response('huge');
    assert.equal(r.json.rc, 400);
    assert.ok(r.text.length < 1024, `a short answer: ${r.text.length} bytes`);
    // the largest echo the bounds allow: 16 unknown fields of 256 characters
    const fields = Array.from({ length: 16 }, (_, i) => ({ field: `${String(i).padStart(2, '0')}${'n'.repeat(254)}`, value: 1 }));
    await platform.publish('iotdm-1/type/sim/id/sim-003/device/update', { reqId: 'many', d: { fields } });
    const many = await platform.response('many');
    assert.equal(many.json.rc, 404);
    assert.ok(many.text.length < 10000, `${many.text.length} bytes`);
    assert.ok(many.json.message.includes('…'), 'the text quotes excerpts');
    // the gateway is still there for every device
    await platform.publish('iotdm-1/type/sim/id/sim-100/mgmt/initiate/device/reboot', { reqId: 'after' });
    assert.equal((await platform.response('after')).json.rc, 202);
    assert.equal(getNode('gwcfg').connection.connected, true);
  });

  it('finding 5: 1,000 invalid messages to one device make one error line, escaped', async () => {
    for (let i = 0; i < 1000; i++) {
      void platform.client.publish('iotdm-1/type/sim/id/sim-002/device/update', `{"reqId":"bad-${i}","d":{"fields":"\u0007\n${i}"}}`, { qos: 0 });
    }
    await platform.publish('iotdm-1/type/sim/id/sim-002/mgmt/initiate/device/reboot', { reqId: 'last' });
    await platform.response('last');
    await platform.waitFor((m) => m.json?.reqId === 'bad-999', 10000, 'the 400 to the last bad message');
    const errors = callsOf('gwcfg', 'error');
    assert.ok(errors.length >= 1 && errors.length <= 2, `${errors.length} error lines for 1,000 invalid messages`);
    for (const e of errors) assert.ok(!hasControl(String(e[0])), `no control character: ${JSON.stringify(String(e[0]))}`);
  });
});
