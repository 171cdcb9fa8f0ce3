import assert from 'node:assert/strict';
import mqtt, { type MqttClient } from 'mqtt';
import { loadFlow, unloadFlow, getNode, nodeRedHelper, callsOf } from '../support/nodered';
import { freePort } from '../support/ports';
import { redRequire } from '../support/red';

const platformNode = require('../../nodes/iotdm-platform');
const mgmtRequestNode = require('../../nodes/mgmt-request');
const catchNode = redRequire('@node-red/nodes/core/common/25-catch.js');

/**
 * Bad input on every inbound topic of the platform: answered with 400 (with the request's reqId,
 * even from broken JSON) where the protocol answers, never answered for a device's response, and
 * always reported with node.error(err, msg) so that a Catch node on the flow sees it.
 */
const CASES: { path: string; payload: string; answered: boolean }[] = [
  { path: 'mgmt/manage', payload: '{"reqId":"b1","d":{"lifetime":"forever"}}', answered: true },
  { path: 'mgmt/manage', payload: '{"reqId":"b2","d":{"supports":{"deviceActions":"yes"}}}', answered: true },
  { path: 'mgmt/manage', payload: '{"reqId":"b3", "d": {', answered: true },
  { path: 'mgmt/unmanage', payload: '{"reqId":""}', answered: false },
  { path: 'mgmt/unmanage', payload: '{"reqId":"b4","extra":', answered: true },
  { path: 'device/update/location', payload: '{"reqId":"b5","d":{"latitude":100,"longitude":0}}', answered: true },
  { path: 'device/update/location', payload: '{"reqId":"b6","d":{"latitude":1}}', answered: true },
  { path: 'add/diag/errorCodes', payload: '{"reqId":"b7","d":{"errorCode":"E12"}}', answered: true },
  { path: 'clear/diag/errorCodes', payload: '[1,2,3]', answered: false },
  { path: 'add/diag/log', payload: '{"reqId":"b8","d":{"severity":9,"message":"x"}}', answered: true },
  { path: 'clear/diag/log', payload: 'not json at all', answered: false },
  { path: 'notify', payload: '{"reqId":"b9","d":{"fields":[{"field":"mgmt.firmware","value":{"state":"done"}}]}}', answered: true },
  { path: 'notify', payload: '{"reqId":"b10","d":{}}', answered: true },
  { path: 'response', payload: '{"reqId":"b11","rc":"fine"}', answered: false },
  { path: 'no/such/request', payload: '{"reqId":"b12"}', answered: true },
];

describe('platform: bad input on every inbound topic', function () {
  this.timeout(30000);
  let client: MqttClient;
  const answers = new Map<string, number>();

  before(async () => {
    nodeRedHelper();
    const port = await freePort();
    await loadFlow(
      [platformNode, mgmtRequestNode, catchNode],
      [
        { id: 'tab', type: 'tab', label: 'bad input' },
        { id: 'p', type: 'iotdm-platform', access: 'development', broker: 'embedded', port, bind: '127.0.0.1' },
        { id: 'r', type: 'iotdm-mgmt-request', z: 'tab', platform: 'p', wires: [[], [], []] },
        { id: 'c', type: 'catch', z: 'tab', scope: null, uncaught: false, wires: [['caught']] },
        { id: 'caught', type: 'helper', z: 'tab' },
      ],
    );
    await getNode('p').ready;
    client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 4, clientId: 'g:test:gateway:bad-input' });
    client.on('message', (_t, p) => {
      const body = JSON.parse(p.toString());
      answers.set(body.reqId, body.rc);
    });
    await client.subscribeAsync('iotdm-1/type/bad/id/+/response', { qos: 1 });
    // device "known" exists, so 404 is not what answers the schema errors
    await client.publishAsync('iotdevice-1/type/bad/id/known/mgmt/manage', '{"reqId":"m0","d":{}}', { qos: 1 });
  });
  after(async () => {
    await client.endAsync();
    await unloadFlow();
  });

  it('answers 400 where the protocol answers, and a Catch node sees every one', async () => {
    const caught: any[] = [];
    getNode('caught').on('input', (m: any) => caught.push(m));
    for (const c of CASES) await client.publishAsync(`iotdevice-1/type/bad/id/known/${c.path}`, c.payload, { qos: 1 });
    const deadline = Date.now() + 5000;
    while (caught.length < CASES.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(caught.length, CASES.length, `caught ${caught.length} of ${CASES.length}`);
    for (const c of CASES) {
      const m = caught.find((x) => x.topic === `iotdevice-1/type/bad/id/known/${c.path}` && x.payload === c.payload);
      assert.ok(m, `not caught: ${c.path} ${c.payload}`);
      assert.ok(m.error?.message, 'the error has a message');
      const reqId = /"reqId":"([^"]+)"/.exec(c.payload)?.[1];
      if (c.answered) assert.equal(answers.get(reqId!), 400, `${c.path} ${c.payload}`);
      else if (reqId) assert.equal(answers.has(reqId), false, `answered ${c.path}`);
    }
    // reported once, through the flow's node (one per tab), not by the config node as well
    assert.equal(callsOf('r', 'error').length, CASES.length);
    assert.equal(getNode('p').platform.registry.get({ typeId: 'bad', deviceId: 'known' }).managed, true, 'nothing changed the device');
  });

  it('a flow message that mgmt-request refuses reaches the Catch node too (node.error(err, msg), as in every node)', async () => {
    const caught: any[] = [];
    getNode('caught').on('input', (m: any) => caught.push(m));
    getNode('r').receive({ payload: 'not a request body', marker: 'refused' });
    const deadline = Date.now() + 5000;
    while (!caught.some((m) => m.marker === 'refused') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const m = caught.find((x) => x.marker === 'refused');
    assert.ok(m, 'not caught');
    assert.equal(m.error.source.id, 'r');
    assert.equal(m.statusCode, 400);
    assert.ok(m.error.message);
  });
});
