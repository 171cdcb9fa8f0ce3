/**
 * Issue 10, findings 1 and 2 (the platform side), each of which failed on 5fe85d6:
 * 1. deep values were answered 200 and stored, and the context flush later died in JSON.stringify;
 * 2. a 400 quoting a 60,000-character key went over the broker's limit: the broker closed the
 *    platform's connection and mqtt.js replayed the answer on every reconnect, for good. The same
 *    through a custom action with 64 parameters of 4,096 characters.
 */
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { Platform } from '../../nodes/platform/platform';
import { Connection, PublishRefused } from '../../nodes/transport/connection';
import { startEmbeddedBroker } from '../../nodes/transport/embedded-broker';
import { loadFlow, unloadFlow, getNode, nodeRedHelper } from '../support/nodered';
import { freePort } from '../support/ports';

const platformNode = require('../../nodes/iotdm-platform');

/** Resolves once the connection is connected (now or on a later change of state). */
function connected(c: Connection): Promise<void> {
  if (c.connected) return Promise.resolve();
  return new Promise((resolve) => {
    const on = (s: string) => {
      if (s !== 'connected') return;
      c.off('state', on);
      resolve();
    };
    c.on('state', on);
  });
}

const nest = (n: number) => JSON.parse(`${'['.repeat(n)}${']'.repeat(n)}`);

describe('hostile: finding 1, deep values are refused at intake', () => {
  let platform: Platform;
  const sent: { topic: string; body: { reqId: string; rc: number; message?: string } }[] = [];
  const dev = 'iotdevice-1/type/T/id/D';
  beforeEach(() => {
    sent.length = 0;
    platform = new Platform(async (topic, payload) => void sent.push({ topic, body: JSON.parse(payload) }));
    platform.handleMessage(`${dev}/mgmt/manage`, '{"reqId":"ok","d":{"lifetime":0,"supports":{"deviceActions":true}}}');
  });
  afterEach(() => platform.close());

  const rcOf = (reqId: string) => sent.find((s) => s.body.reqId === reqId)?.body.rc;
  const cases: [string, string, unknown][] = [
    ['d.metadata', 'mgmt/manage', { reqId: 'm', d: { metadata: { a: nest(2600) } } }],
    ['d.deviceInfo', 'mgmt/manage', { reqId: 'm', d: { deviceInfo: { extra: nest(2600) } } }],
    ['location', 'device/update/location', { reqId: 'm', d: { longitude: 1, latitude: 2, extra: nest(2600) } }],
    ['the firmware value', 'notify', { reqId: 'm', d: { fields: [{ field: 'mgmt.firmware', value: { state: 0, extra: nest(2600) } }] } }],
  ];
  for (const [what, path, body] of cases) {
    it(`${what} nesting 2,600 arrays: 400, nothing stored, the registry still serialises`, () => {
      const before = JSON.stringify(platform.registry.toJSON());
      platform.handleMessage(`${dev}/${path}`, JSON.stringify(body));
      assert.equal(rcOf('m'), 400);
      assert.doesNotThrow(() => JSON.stringify(platform.registry.toJSON()));
      const after = JSON.parse(JSON.stringify(platform.registry.toJSON()));
      const prev = JSON.parse(before);
      // nothing of the message was kept (activity times aside)
      assert.deepEqual(after.devices[0].metadata, prev.devices[0].metadata);
      assert.deepEqual(after.devices[0].deviceInfo, prev.devices[0].deviceInfo);
      assert.deepEqual(after.devices[0].location, prev.devices[0].location);
      assert.deepEqual(after.devices[0].mgmt, prev.devices[0].mgmt);
    });
  }

  it('metadata over the bound (16 KiB by default) is refused; raised by the operator it is kept', () => {
    const big = { reqId: 'm', d: { metadata: { blob: 'x'.repeat(20000) } } };
    platform.handleMessage(`${dev}/mgmt/manage`, JSON.stringify(big));
    assert.equal(rcOf('m'), 400);
    const raised = new Platform(async (topic, payload) => void sent.push({ topic, body: JSON.parse(payload) }), { bounds: { metadataBytes: 32768 } });
    sent.length = 0;
    raised.handleMessage(`${dev}/mgmt/manage`, JSON.stringify(big));
    assert.equal(rcOf('m'), 200);
    assert.equal((raised.registry.get({ typeId: 'T', deviceId: 'D' })!.metadata.blob as string).length, 20000);
    raised.close();
  });
});

describe('hostile: finding 2, the platform is never silenced by what it sends', function () {
  this.timeout(30000);
  before(() => nodeRedHelper());
  afterEach(() => unloadFlow());

  it('a manage with a 60,000-character key gets a short 400, and the platform keeps answering', async () => {
    const port = await freePort();
    await loadFlow([platformNode], [{ id: 'p', type: 'iotdm-platform', access: 'development', broker: 'embedded', port, bind: '127.0.0.1' }]);
    await getNode('p').ready;
    const dev = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 4, clientId: 'g:test:gateway:hostile' });
    const answers = new Map<string, { rc: number; bytes: number }>();
    dev.on('message', (_t, p) => {
      const b = JSON.parse(p.toString());
      answers.set(b.reqId, { rc: b.rc, bytes: p.length });
    });
    await dev.subscribeAsync('iotdm-1/type/h/id/+/response', { qos: 1 });
    // an invalid value: the 400 quoted the key twice, and '"' doubles in JSON: 240 KB of answer
    const key = '"'.repeat(60000);
    await dev.publishAsync('iotdevice-1/type/h/id/a/mgmt/manage', JSON.stringify({ reqId: 'big', d: { supports: { [key]: 'yes' } } }), { qos: 1 });
    await dev.publishAsync('iotdevice-1/type/h/id/b/mgmt/manage', '{"reqId":"next","d":{}}', { qos: 1 });
    const deadline = Date.now() + 10000;
    while (!answers.has('next') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(answers.get('big')?.rc, 400);
    assert.ok(answers.get('big')!.bytes < 1024, `the 400 is short: ${answers.get('big')!.bytes} bytes`);
    assert.equal(answers.get('next')?.rc, 200, 'the platform still answers');
    assert.equal(getNode('p').connection.connected, true);
    await dev.endAsync();
  });

  it('a custom action with 64 parameters of 4,096 characters is refused with 400, before anything is published', async () => {
    const port = await freePort();
    await loadFlow([platformNode], [{ id: 'p', type: 'iotdm-platform', access: 'development', broker: 'embedded', port, bind: '127.0.0.1' }]);
    await getNode('p').ready;
    const platform: Platform = getNode('p').platform;
    const connection: Connection = getNode('p').connection;
    await connected(connection);
    platform.handleMessage('iotdevice-1/type/h/id/a/mgmt/manage', '{"reqId":"m","d":{"supports":{"bundle":true}}}');
    const body = {
      action: 'bundle/act',
      devices: [{ typeId: 'h', deviceId: 'a' }],
      parameters: Array.from({ length: 64 }, (_, i) => ({ name: `p${i}`, value: 'v'.repeat(4096) })),
    };
    assert.throws(
      () => platform.requests.initiate(body),
      (e: Error & { status?: number; code?: number }) => /parameters/.test(e.message),
    );
    assert.equal(getNode('p').connection.connected, true);
  });

  it('the connection refuses a message over the broker limit and stays connected', async () => {
    const broker = await startEmbeddedBroker({ port: await freePort(), host: '127.0.0.1' });
    const c = new Connection({ url: broker.url });
    try {
      await connected(c);
      const dropped: unknown[] = [];
      c.on('dropped', (d) => dropped.push(d));
      await assert.rejects(
        c.publish('iotdm-1/type/t/id/d/response', 'x'.repeat(131073)),
        (e: Error) => e instanceof PublishRefused && e.reason === 'too-large',
      );
      assert.equal(dropped.length, 1);
      await c.publish('iotdm-1/type/t/id/d/response', '{"reqId":"r","rc":200}');
      assert.equal(c.connected, true);
    } finally {
      await c.close(1000);
      await broker.close();
    }
  });

  it('a broker that closes the connection right after each connect: the queue is dropped and the connection comes back', async () => {
    const broker = await startEmbeddedBroker({ port: await freePort(), host: '127.0.0.1' });
    // a limit above the broker's: the broker refuses the message and closes, mqtt.js replays it
    const c = new Connection({ url: broker.url, maxPayloadBytes: 10_000_000, reconnectPeriod: 100 });
    try {
      await connected(c);
      const broke = new Promise<[number, number]>((r) => c.once('quickCloses', (closes: number, messages: number) => r([closes, messages])));
      const sent = c.publish('iotdm-1/type/t/id/d/response', 'x'.repeat(200000));
      await assert.rejects(sent, (e: Error) => e instanceof PublishRefused && e.reason === 'dropped-after-quick-closes');
      const [closes, messages] = await broke;
      assert.equal(closes, 3);
      assert.equal(messages, 1);
      await connected(c);
      await c.publish('iotdm-1/type/t/id/d/response', '{"reqId":"r","rc":200}');
      assert.equal(c.connected, true);
    } finally {
      await c.close(1000);
      await broker.close();
    }
  });
});
