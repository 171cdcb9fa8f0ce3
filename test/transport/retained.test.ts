import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { Connection } from '../../nodes/transport/connection';
import { Platform } from '../../nodes/platform/platform';
import { PLATFORM_SUBSCRIPTION } from '../../nodes/protocol/topics';
import { startMosquitto, type RunningMosquitto } from '../support/mosquitto';

/**
 * mosquitto keeps retained messages whatever the topic. A retained DM message is replayed to every
 * new subscriber: the platform (and a device) must not treat that stale copy as a live message.
 */
describe('transport: retained copies of DM messages are not live messages', function () {
  this.timeout(20000);
  let broker: RunningMosquitto;
  let conn: Connection | undefined;
  before(async () => {
    broker = await startMosquitto();
  });
  after(async () => {
    await conn?.close();
    await broker.stop();
  });

  it('ignores a stored retained manage on subscribe, and handles a live one published with retain', async () => {
    const device = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
    await device.publishAsync('iotdevice-1/type/T/id/stale/mgmt/manage', '{"reqId":"r0","d":{}}', { qos: 1, retain: true });

    const answers: string[] = [];
    const platform = new Platform((topic, payload) => {
      answers.push(`${topic} ${payload}`);
      return conn!.publish(topic, payload, 1);
    });
    conn = new Connection({ url: broker.url });
    let ignored = 0;
    conn.on('retainedIgnored', () => ignored++);
    conn.subscribe(PLATFORM_SUBSCRIPTION, 1, (t, p) => platform.handleMessage(t, p));
    await new Promise<void>((r) => conn!.once('state', () => r()));
    const deadline = Date.now() + 3000;
    while (ignored === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(ignored, 1, 'the stored copy reached the client and was ignored');
    assert.equal(platform.registry.size, 0);

    await device.publishAsync('iotdevice-1/type/T/id/live/mgmt/manage', '{"reqId":"r1","d":{}}', { qos: 1, retain: true });
    while (platform.registry.size === 0 && Date.now() < deadline + 3000) await new Promise((r) => setTimeout(r, 20));
    assert.ok(platform.registry.get({ typeId: 'T', deviceId: 'live' }));
    assert.equal(platform.registry.get({ typeId: 'T', deviceId: 'stale' }), undefined);
    // clear what we left on the broker
    await device.publishAsync('iotdevice-1/type/T/id/stale/mgmt/manage', '', { qos: 1, retain: true });
    await device.publishAsync('iotdevice-1/type/T/id/live/mgmt/manage', '', { qos: 1, retain: true });
    await device.endAsync();
    platform.close();
  });
});
