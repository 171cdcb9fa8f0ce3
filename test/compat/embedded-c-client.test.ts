/**
 * IBM's embedded C client (iot-embeddedc), replayed on the wire as it was seen against this platform
 * (docs/protocol.md §7.14, §10.y): a `d:org:type:id` client on bare topics, QoS 0, RETAIN set by
 * mistake, unquoted reqIds in its firmware answers, `"rc":"202"` as a string — and an answer to
 * `mgmt/initiate/firmware/update` that carries the reqId of the observe before it.
 *
 * The platform takes that answer for the pending initiate (a counted quirk, visible in the device's
 * result), while a redelivered copy of the observe's own answer and an answer with a reqId the
 * platform never sent are still refused.
 */
import assert from 'node:assert/strict';
import mqtt, { type MqttClient } from 'mqtt';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../nodes/transport/embedded-broker';
import { startPlatform, completion, until, type RunningPlatform } from '../firmware/fixtures';
import { freePort } from '../support/ports';

const ORG = 'embc';
const TYPE = 'cdev';

interface EmbcOptions {
  /** answer the update's initiate with this reqId instead of the observe's */
  initiateReqId?: string;
  /** send the observe's answer twice (a QoS 1 redelivery) before answering the initiate */
  duplicateObserveAnswer?: boolean;
  /**
   * a device that got the initiate twice (a broker outage): it answers the initiate with its own
   * reqId, and refuses the copy (400, same reqId) just before it answers the cancel
   */
  initiateTwice?: boolean;
}

/** The embedded C client's side of the exchange, as seen on the wire. */
class EmbcDevice {
  /** the reqId of the last request this client answered: it reuses it for firmware/update */
  private lastReqId = '';
  /** the initiate's own reqId, quoted */
  private initiateReqId = '';
  readonly wire: { topic: string; body: string }[] = [];

  private constructor(
    readonly client: MqttClient,
    readonly deviceId: string,
    private readonly opts: EmbcOptions,
  ) {}

  static async connect(url: string, deviceId: string, opts: EmbcOptions = {}): Promise<EmbcDevice> {
    const client = await mqtt.connectAsync(url, { protocolVersion: 4, clientId: `d:${ORG}:${TYPE}:${deviceId}`, reconnectPeriod: 0 });
    const dev = new EmbcDevice(client, deviceId, opts);
    await client.subscribeAsync('iotdm-1/#', { qos: 0 });
    const managed = new Promise<void>((resolve) => {
      client.on('message', (topic, payload) => {
        const body = payload.toString();
        dev.wire.push({ topic, body });
        if (topic === 'iotdm-1/response') {
          if (body.includes('"manage-1"')) resolve();
          return;
        }
        dev.answer(topic, JSON.parse(body));
      });
    });
    dev.send('iotdevice-1/mgmt/manage', '{"d":{"lifetime":0,"supports":{"deviceActions":1,"firmwareActions":1}},"reqId":"manage-1"}');
    await managed;
    return dev;
  }

  /** EMBC publishes with QoS 0 and the RETAIN flag set (its '0' character is true). */
  private send(topic: string, body: string): void {
    this.client.publish(topic, body, { qos: 0, retain: true });
  }

  private notify(value: Record<string, number>): void {
    this.send('iotdevice-1/notify', JSON.stringify({ d: { fields: [{ field: 'mgmt.firmware', value }] } }));
  }

  private answer(topic: string, req: { reqId: string }): void {
    const path = topic.slice('iotdm-1/'.length);
    if (path === 'device/update') {
      this.lastReqId = req.reqId;
      this.send('iotdevice-1/response', `{"rc":"204","reqId":"${req.reqId}"}`);
    } else if (path === 'observe') {
      this.lastReqId = req.reqId;
      const ans = `{"rc":"200","reqId":"${req.reqId}"}`;
      this.send('iotdevice-1/response', ans);
      if (this.opts.duplicateObserveAnswer) this.send('iotdevice-1/response', ans);
    } else if (path === 'cancel') {
      if (this.opts.initiateTwice) this.send('iotdevice-1/response', `{"rc":"400","reqId":${this.initiateReqId}}`);
      this.lastReqId = req.reqId;
      this.send('iotdevice-1/response', `{"rc":"200","reqId":"${req.reqId}"}`);
    } else if (path === 'mgmt/initiate/firmware/update') {
      // the defect: the reqId of the previous exchange, unquoted as in all its firmware answers
      this.initiateReqId = JSON.stringify(req.reqId);
      const reqId = this.opts.initiateTwice ? this.initiateReqId : (this.opts.initiateReqId ?? this.lastReqId);
      this.send('iotdevice-1/response', `{"rc":"202","reqId":${reqId}}`);
      setTimeout(() => this.notify({ state: 0, updateStatus: 1 }), 5);
      setTimeout(() => this.notify({ state: 0, updateStatus: 0 }), 15);
    }
  }

  close(): Promise<void> {
    return this.client.endAsync(true);
  }
}

describe('compat: IBM embedded C client (iot-embeddedc) firmware update, wire replay', function () {
  this.timeout(20000);
  let broker: EmbeddedBroker;
  let p: RunningPlatform;

  before(async () => {
    broker = await startEmbeddedBroker({ port: await freePort(), host: '127.0.0.1' });
    p = await startPlatform(broker.url, { responseTimeoutMs: 1500, alwaysSendFirmwareUpdate: true });
  });
  after(async () => {
    await p.close();
    await broker.close();
  });

  const update = () =>
    p.platform.requests.initiate({
      action: 'firmware/update',
      devices: [{ typeId: TYPE, deviceId: 'c-1' }],
    });

  /** an update of c-1, its image downloaded (state 2), run to completion: it must succeed */
  const updateToSuccess = async () => {
    p.platform.registry.mergeFirmware({ typeId: TYPE, deviceId: 'c-1' }, { state: 2, version: '2.0.0' });
    const req = update();
    await completion(p.platform, req);
    const exec = req.executions[0];
    assert.equal(exec.outcome, 'success', `${exec.outcome}: ${exec.message}`);
    return { req, exec };
  };

  it("completes when the initiate is answered with the observe's reqId, and says so in the result", async () => {
    const dev = await EmbcDevice.connect(broker.url, 'c-1', { duplicateObserveAnswer: true });
    try {
      const { req, exec } = await updateToSuccess();
      assert.equal(req.counts.success, 1);
      const row = req.row(exec) as { quirk?: string };
      assert.equal(row.quirk, 'answered firmware/update with the reqId of its earlier observe', 'the result names the quirk');
      assert.equal(req.details().quirks, 1, 'the request counts it');
      // the wire is the one seen with the real client: initiate reqId X answered with the observe's
      const initiate = dev.wire.find((w) => w.topic === 'iotdm-1/mgmt/initiate/firmware/update');
      const observe = dev.wire.find((w) => w.topic === 'iotdm-1/observe');
      assert.ok(initiate && observe);
      assert.notEqual(JSON.parse(initiate.body).reqId, JSON.parse(observe.body).reqId);
      assert.ok(
        dev.wire.some((w) => w.topic === 'iotdm-1/cancel'),
        'the observation is cancelled at the end',
      );
    } finally {
      await dev.close();
    }
  });

  it("a second answer to the initiate (400 to a copy the device got after a broker outage) is not taken for the cancel's answer", async () => {
    const dev = await EmbcDevice.connect(broker.url, 'c-1', { initiateTwice: true });
    try {
      const { req, exec } = await updateToSuccess();
      assert.equal((req.row(exec) as { quirk?: string }).quirk, undefined);
      assert.ok(
        dev.wire.some((w) => w.topic === 'iotdm-1/cancel'),
        'the cancel was sent (the device refused the copy of the initiate just before answering it)',
      );
    } finally {
      await dev.close();
    }
  });

  it('still refuses an answer with a reqId the platform never sent (the exchange times out)', async () => {
    const dev = await EmbcDevice.connect(broker.url, 'c-1', { initiateReqId: '"not-a-request-of-ours"' });
    try {
      const req = update();
      await completion(p.platform, req);
      const exec = req.executions[0];
      assert.equal(exec.outcome, 'timedOut', `${exec.outcome}: ${exec.message}`);
      assert.equal((req.row(exec) as { quirk?: string }).quirk, undefined);
    } finally {
      await dev.close();
    }
  });

  it("refuses a redelivered copy of an earlier answer: same reqId, same rc is a duplicate, not the pending exchange's answer", async () => {
    const dev = await EmbcDevice.connect(broker.url, 'c-1', { initiateReqId: 'none' });
    try {
      // the initiate is answered with nothing usable; only the observe's own answer comes twice
      (dev as unknown as { opts: EmbcOptions }).opts.duplicateObserveAnswer = true;
      const req = update();
      await until(() => dev.wire.some((w) => w.topic === 'iotdm-1/mgmt/initiate/firmware/update'), 5000, 'initiate sent');
      await completion(p.platform, req);
      assert.equal(req.executions[0].outcome, 'timedOut', 'the duplicate 200 of the observe did not answer the initiate');
    } finally {
      await dev.close();
    }
  });
});
