/**
 * A device that answers again and again (IBM's iot-c never acknowledges a request, so the broker
 * redelivers it and the device re-answers forever: docs/protocol.md §10) must not be silently
 * absorbed nor flood the log: the platform says it once a minute per device, with a count.
 */
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { loadFlow, unloadFlow, getNode, nodeRedHelper, callsOf, waitForCall } from '../support/nodered';
import { freePort } from '../support/ports';

const platformNode = require('../../nodes/iotdm-platform');

describe('platform: a flood of answers nobody waits for', function () {
  this.timeout(20000);

  before(() => nodeRedHelper());
  after(() => unloadFlow());

  it('is reported once per device, and the platform keeps answering', async () => {
    const port = await freePort();
    await loadFlow([platformNode], [{ id: 'p', type: 'iotdm-platform', access: 'development', broker: 'embedded', port, bind: '127.0.0.1' }]);
    await getNode('p').ready;
    const dev = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 4, clientId: 'g:test:gateway:flood' });
    const answers = new Map<string, number>();
    dev.on('message', (_t, p) => {
      const b = JSON.parse(p.toString());
      answers.set(b.reqId, b.rc);
    });
    await dev.subscribeAsync('iotdm-1/type/iotc/id/+/response', { qos: 1 });
    const base = 'iotdevice-1/type/iotc/id';
    for (let i = 0; i < 2000; i++) dev.publish(`${base}/a/response`, '{"rc":200,"reqId":"long-gone"}', { qos: 0 });
    for (let i = 0; i < 50; i++) dev.publish(`${base}/b/response`, `{"rc":202,"reqId":"stray-${i}"}`, { qos: 0 });
    await dev.publishAsync(`${base}/a/mgmt/manage`, '{"reqId":"m1","d":{}}', { qos: 1 });
    const deadline = Date.now() + 5000;
    while (!answers.has('m1') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(answers.get('m1'), 200, 'the platform still answers the device');
    await waitForCall('p', 'warn', (a) => String(a[0]).includes('unmatched'));
    const lines = callsOf('p', 'warn').filter((a) => String(a[0]).includes('unmatched'));
    assert.equal(lines.length, 2, `one line per device for 2,050 answers, got ${lines.length}`);
    await dev.endAsync();
  });
});
