/**
 * Issue 10, finding 5 on the platform side (failed on 5fe85d6: one error line per invalid message):
 * a device sending thousands of invalid messages gives one line at once and then one a minute with
 * the count, per device and reason; control characters from payloads never reach the log.
 */
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { loadFlow, unloadFlow, getNode, nodeRedHelper, callsOf } from '../support/nodered';
import { freePort } from '../support/ports';

const platformNode = require('../../nodes/iotdm-platform');

/** whether a text holds a control character (a payload's, unescaped) */
function hasControl(text: string): boolean {
  return [...text].some((c) => c.charCodeAt(0) < 0x20);
}

describe('hostile: the platform log under a flood of invalid messages', function () {
  this.timeout(30000);
  before(() => nodeRedHelper());
  after(() => unloadFlow());

  it('2,000 invalid messages from two devices make one line per device and reason, escaped', async () => {
    const port = await freePort();
    await loadFlow([platformNode], [{ id: 'p', type: 'iotdm-platform', access: 'development', broker: 'embedded', port, bind: '127.0.0.1', persist: false }]);
    await getNode('p').ready;
    const dev = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 4, clientId: 'g:test:gateway:hostile' });
    const answers = new Set<string>();
    dev.on('message', (_t, p) => answers.add(JSON.parse(p.toString()).reqId));
    await dev.subscribeAsync('iotdm-1/type/f/id/+/response', { qos: 1 });
    for (let i = 0; i < 1000; i++) {
      dev.publish('iotdevice-1/type/f/id/a/mgmt/manage', `{"reqId":"a${i}","d":{"lifetime":"\u001b[31m${i}\n"}}`, { qos: 0 });
      dev.publish('iotdevice-1/type/f/id/b/mgmt/manage', `{"reqId":"b${i}", "d": {\u0000${i}`, { qos: 0 });
    }
    await dev.publishAsync('iotdevice-1/type/f/id/c/mgmt/manage', '{"reqId":"ok","d":{}}', { qos: 1 });
    const deadline = Date.now() + 10000;
    while (!(answers.has('ok') && answers.has('a999') && answers.has('b999')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.ok(answers.has('a999') && answers.has('b999'), 'every invalid message is still answered 400');
    const lines = callsOf('p', 'error');
    assert.equal(lines.length, 2, `one line per device and reason, got ${lines.length}`);
    for (const l of lines) {
      const text = l[0] instanceof Error ? l[0].message : String(l[0]);
      assert.ok(!hasControl(text), `no control character: ${JSON.stringify(text)}`);
    }
    await dev.endAsync();
  });
});
