import assert from 'node:assert/strict';
import net from 'node:net';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../nodes/transport/embedded-broker';
import { makeSelfSignedCert } from '../support/tls';

interface Received {
  topic: string;
  payload: string;
  retain: boolean;
}

/** A real mqtt.js client (MQTT 3.1.1: aedes 1.x refuses 5) that records what it receives. */
interface TestClient {
  client: MqttClient;
  received: Received[];
  next(pred?: (m: Received) => boolean, timeoutMs?: number): Promise<Received>;
}

const clients: MqttClient[] = [];

function connect(url: string, opts: IClientOptions = {}): Promise<TestClient> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(url, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000, ...opts });
    clients.push(client);
    const received: Received[] = [];
    const waiters: Array<{ pred: (m: Received) => boolean; resolve: (m: Received) => void }> = [];
    client.on('message', (topic, payload, packet) => {
      const m = { topic, payload: payload.toString(), retain: packet.retain };
      received.push(m);
      for (let i = 0; i < waiters.length; i++) {
        if (waiters[i].pred(m)) {
          waiters[i].resolve(m);
          waiters.splice(i, 1);
          break;
        }
      }
    });
    const tc: TestClient = {
      client,
      received,
      next(pred = () => true, timeoutMs = 3000) {
        const seen = received.find(pred);
        if (seen) {
          received.splice(received.indexOf(seen), 1);
          return Promise.resolve(seen);
        }
        return new Promise((res, rej) => {
          const t = setTimeout(() => rej(new Error(`${opts.clientId}: no message within ${timeoutMs} ms`)), timeoutMs);
          waiters.push({
            pred,
            resolve: (m) => {
              clearTimeout(t);
              received.splice(received.indexOf(m), 1);
              res(m);
            },
          });
        });
      },
    };
    client.once('connect', () => resolve(tc));
    client.once('error', (err) => {
      client.end(true);
      reject(err);
    });
    client.once('close', () => reject(new Error(`${opts.clientId}: closed before CONNACK`)));
  });
}

/** Subscribe and resolve with the SUBACK's return codes (128 = refused; mqtt.js reports that as an error). */
function subscribe(c: TestClient, filter: string | string[], qos: 0 | 1 = 1): Promise<number[]> {
  return new Promise((resolve, reject) => {
    let suback: number[] | undefined;
    const onPacket = (p: { cmd: string; granted?: number[] }) => {
      if (p.cmd === 'suback') suback = p.granted;
    };
    c.client.on('packetreceive', onPacket as never);
    c.client.subscribe(filter, { qos }, (err) => {
      c.client.off('packetreceive', onPacket as never);
      if (suback) resolve(suback);
      else reject(err ?? new Error('no SUBACK'));
    });
  });
}

function publish(c: TestClient, topic: string, payload: string | Buffer, opts: { qos?: 0 | 1; retain?: boolean } = {}): Promise<void> {
  return new Promise((resolve, reject) =>
    c.client.publish(topic, payload, { qos: opts.qos ?? 1, retain: opts.retain ?? false }, (err) => (err ? reject(err) : resolve())),
  );
}

function end(c: TestClient): Promise<void> {
  return new Promise((resolve) => c.client.end(false, {}, () => resolve()));
}

/**
 * Proves a message did NOT arrive: the same publisher then sends a sentinel that must arrive at
 * the same client, and everything received before it is checked.
 */
async function assertNothingBefore(c: TestClient, pub: TestClient, sentinelTopic: string, pred: (m: Received) => boolean) {
  await publish(pub, sentinelTopic, 'sentinel');
  await c.next((m) => m.payload === 'sentinel');
  await new Promise((r) => setTimeout(r, 30));
  const bad = c.received.filter(pred);
  assert.deepEqual(bad, [], 'a message reached a client it must not reach');
}

const ORG = 'myorg';
const TYPE = 'TypeA';
const scope = (id: string, type = TYPE) => `type/${type}/id/${id}`;

describe('transport/embedded-broker', function () {
  this.timeout(10000);
  let broker: EmbeddedBroker;
  let platform: TestClient;

  afterEach(async () => {
    for (const c of clients.splice(0)) c.end(true);
  });

  describe('plain TCP, scoping', () => {
    before(async () => {
      broker = await startEmbeddedBroker({ port: 0 });
    });
    after(async () => {
      await broker.close();
    });
    beforeEach(async () => {
      platform = await connect(broker.url, { clientId: 'platform-1' });
      await subscribe(platform, 'iotdevice-1/type/+/id/+/#');
    });

    it('listens on loopback and reports its url', () => {
      assert.ok(broker.port > 0);
      assert.equal(broker.url, `mqtt://127.0.0.1:${broker.port}`);
    });

    it('bare d: client: request and response round trip with a scoped platform client', async () => {
      const dev = await connect(broker.url, { clientId: `d:${ORG}:${TYPE}:dev-1` });
      assert.deepEqual(await subscribe(dev, 'iotdm-1/#'), [1]);

      // device-initiated: manage → response
      await publish(dev, 'iotdevice-1/mgmt/manage', '{"reqId":"m1","d":{}}');
      const manage = await platform.next();
      assert.equal(manage.topic, `iotdevice-1/${scope('dev-1')}/mgmt/manage`);
      await publish(platform, `iotdm-1/${scope('dev-1')}/response`, '{"reqId":"m1","rc":200}');
      const resp = await dev.next();
      assert.equal(resp.topic, 'iotdm-1/response');
      assert.equal(resp.payload, '{"reqId":"m1","rc":200}');

      // platform-initiated: reboot → 202
      await publish(platform, `iotdm-1/${scope('dev-1')}/mgmt/initiate/device/reboot`, '{"reqId":"r1"}');
      const req = await dev.next();
      assert.equal(req.topic, 'iotdm-1/mgmt/initiate/device/reboot');
      await publish(dev, 'iotdevice-1/response', '{"reqId":"r1","rc":202}');
      const ack = await platform.next();
      assert.equal(ack.topic, `iotdevice-1/${scope('dev-1')}/response`);
    });

    it("two bare devices never see each other's responses", async () => {
      const d1 = await connect(broker.url, { clientId: `d:${ORG}:${TYPE}:dev-1` });
      const d2 = await connect(broker.url, { clientId: `d:${ORG}:${TYPE}:dev-2` });
      await subscribe(d1, 'iotdm-1/#');
      await subscribe(d2, 'iotdm-1/#');
      await publish(platform, `iotdm-1/${scope('dev-1')}/response`, '{"reqId":"for-1","rc":200}');
      await publish(platform, `iotdm-1/${scope('dev-2')}/response`, '{"reqId":"for-2","rc":200}');
      assert.equal((await d1.next()).payload, '{"reqId":"for-1","rc":200}');
      assert.equal((await d2.next()).payload, '{"reqId":"for-2","rc":200}');
      // a bare iotdm-1/response published by one device stays in its own scope
      await publish(d2, 'iotdm-1/response', '{"reqId":"stray","rc":200}');
      await assertNothingBefore(d1, platform, `iotdm-1/${scope('dev-1')}/observe`, (m) => m.payload.includes('for-2') || m.payload.includes('stray'));
      assert.equal(d1.received.length, 0);
    });

    it('a d: client may not subscribe to another scope or to a first-level wildcard', async () => {
      const d2 = await connect(broker.url, { clientId: `d:${ORG}:${TYPE}:dev-2` });
      const granted = await subscribe(d2, [`iotdm-1/${scope('dev-1')}/#`, 'iotdm-1/type/+/id/+/#', '#', '+/response', `iotdm-1/${scope('dev-2')}/#`]);
      assert.deepEqual(granted, [128, 128, 128, 128, 1]);
      await publish(platform, `iotdm-1/${scope('dev-1')}/response`, '{"reqId":"for-1","rc":200}');
      await assertNothingBefore(d2, platform, `iotdm-1/${scope('dev-2')}/observe`, (m) => m.payload.includes('for-1'));
    });

    it("a d: client may not publish into another device's scope", async () => {
      const d2 = await connect(broker.url, { clientId: `d:${ORG}:${TYPE}:dev-2` });
      const closed = new Promise<void>((r) => d2.client.once('close', () => r()));
      d2.client.publish(`iotdevice-1/${scope('dev-1')}/mgmt/manage`, '{"reqId":"spoof"}', { qos: 0 });
      await closed; // aedes closes a client whose publish is not authorized (MQTT-3.3.5-2)
      const d3 = await connect(broker.url, { clientId: `d:${ORG}:${TYPE}:dev-3` });
      await publish(d3, 'iotdevice-1/mgmt/manage', '{"reqId":"sentinel"}');
      const got = await platform.next();
      assert.equal(got.topic, `iotdevice-1/${scope('dev-3')}/mgmt/manage`);
      assert.ok(!platform.received.some((m) => m.payload.includes('spoof')));
    });

    it("maps all 10 subscriptions of IBM's Python client, wildcards included", async () => {
      const dev = await connect(broker.url, { clientId: `d:${ORG}:${TYPE}:py-1` });
      const py = [
        'iotdm-1/response',
        'iotdm-1/observe',
        'iotdm-1/mgmt/initiate/device/reboot',
        'iotdm-1/mgmt/initiate/device/factory_reset',
        'iotdm-1/device/update',
        'iotdm-1/mgmt/initiate/firmware/update',
        'iotdm-1/mgmt/initiate/firmware/download',
        'iotdm-1/cancel',
        'iot-2/cmd/+/fmt/+',
        'iotdm-1/mgmt/custom/#',
      ];
      // one SUBSCRIBE per topic, as paho does
      for (const f of py) assert.deepEqual(await subscribe(dev, f), [1], f);
      const sends: Array<[string, string]> = py.map((f) => {
        const concrete = f.replace('+/fmt/+', 'blink/fmt/json').replace('custom/#', 'custom/bundle-1/act');
        const [root, ...rest] = concrete.split('/');
        return [`${root}/${scope('py-1')}/${rest.join('/')}`, concrete];
      });
      for (const [scoped] of sends) await publish(platform, scoped, JSON.stringify({ reqId: scoped }));
      for (const [scoped, bare] of sends) {
        const m = await dev.next((x) => JSON.parse(x.payload).reqId === scoped);
        assert.equal(m.topic, bare);
      }
      // and nothing for the platform's own event topics of another device
      await publish(platform, `iot-2/${scope('py-2')}/cmd/blink/fmt/json`, 'other');
      await assertNothingBefore(dev, platform, `iotdm-1/${scope('py-1')}/cancel`, (m) => m.payload === 'other');
    });

    it("maps iot-2 events and the root-less topics of IBM's C client", async () => {
      const dev = await connect(broker.url, { clientId: `d:${ORG}:${TYPE}:c-1` });
      await subscribe(platform, 'iot-2/type/+/id/+/evt/+/fmt/+');
      await publish(dev, 'iot-2/evt/status/fmt/json', '{"t":1}');
      assert.equal((await platform.next()).topic, `iot-2/${scope('c-1')}/evt/status/fmt/json`);
      for (const path of ['mgmt/unmanage', 'response', 'device/update/location']) {
        await publish(dev, path, '{"reqId":"x"}');
        assert.equal((await platform.next()).topic, `iotdevice-1/${scope('c-1')}/${path}`);
      }
    });

    it("unsubscribing the bare topic removes the scoped subscription (IBM's Java client on unmanage)", async () => {
      const dev = await connect(broker.url, { clientId: `d:${ORG}:${TYPE}:java-1` });
      await subscribe(dev, ['iotdm-1/device/update', 'iotdm-1/observe']);
      await publish(platform, `iotdm-1/${scope('java-1')}/device/update`, 'u1');
      assert.equal((await dev.next()).topic, 'iotdm-1/device/update');
      await new Promise<void>((res, rej) => dev.client.unsubscribe('iotdm-1/device/update', (err) => (err ? rej(err) : res())));
      await publish(platform, `iotdm-1/${scope('java-1')}/device/update`, 'u2');
      await assertNothingBefore(dev, platform, `iotdm-1/${scope('java-1')}/observe`, (m) => m.payload === 'u2');
    });

    it('finds the aedes internals it patches where aedes ~1.2 has them (package.json pins that minor)', async () => {
      // mapUnsubscribes prepends to each client's packet parser, mapQueuedDeliveries wraps the
      // persistence's outgoingStream: should an aedes release move either, this fails first
      assert.equal(typeof (broker.aedes as unknown as { persistence?: { outgoingStream?: unknown } }).persistence?.outgoingStream, 'function');
      const seen = new Promise<unknown>((resolve) => broker.aedes.once('client', (c: unknown) => resolve(c)));
      await connect(broker.url, { clientId: `d:${ORG}:${TYPE}:internals` });
      const client = (await seen) as { _parser?: { prependListener?: unknown; listenerCount?: (e: string) => number } };
      assert.equal(typeof client._parser?.prependListener, 'function');
      // ours and aedes' own listener
      assert.equal(client._parser!.listenerCount!('packet'), 2);
    });

    it("leaves a g: gateway client's topics unchanged", async () => {
      const gw = await connect(broker.url, { clientId: `g:${ORG}:GwType:gw-1` });
      await subscribe(gw, ['iotdm-1/type/GwType/id/gw-1/#', `iotdm-1/${scope('dev-9')}/#`]);
      await publish(gw, `iotdevice-1/${scope('dev-9')}/mgmt/manage`, '{"reqId":"g1"}');
      assert.equal((await platform.next()).topic, `iotdevice-1/${scope('dev-9')}/mgmt/manage`);
      await publish(gw, 'iotdevice-1/type/GwType/id/gw-1/mgmt/manage', '{"reqId":"g2"}');
      assert.equal((await platform.next()).topic, 'iotdevice-1/type/GwType/id/gw-1/mgmt/manage');
      await publish(platform, `iotdm-1/${scope('dev-9')}/response`, '{"reqId":"g1","rc":200}');
      assert.equal((await gw.next()).topic, `iotdm-1/${scope('dev-9')}/response`);
      await publish(platform, 'iotdm-1/type/GwType/id/gw-1/response', '{"reqId":"g2","rc":200}');
      assert.equal((await gw.next()).topic, 'iotdm-1/type/GwType/id/gw-1/response');
    });

    it('queued QoS 1 requests reach a persistent d: session on reconnect under the bare topic', async () => {
      const id = `d:${ORG}:${TYPE}:sleepy`;
      const first = await connect(broker.url, { clientId: id, clean: false });
      await subscribe(first, 'iotdm-1/#');
      await end(first);
      await publish(platform, `iotdm-1/${scope('sleepy')}/mgmt/initiate/device/reboot`, '{"reqId":"queued-1"}');
      await publish(platform, `iotdm-1/${scope('sleepy')}/response`, '{"reqId":"queued-2","rc":200}');
      const again = await connect(broker.url, { clientId: id, clean: false });
      const m1 = await again.next((m) => m.payload.includes('queued-1'));
      assert.equal(m1.topic, 'iotdm-1/mgmt/initiate/device/reboot');
      const m2 = await again.next((m) => m.payload.includes('queued-2'));
      assert.equal(m2.topic, 'iotdm-1/response');
      // the restored subscription still maps live messages
      await publish(platform, `iotdm-1/${scope('sleepy')}/observe`, '{"reqId":"live"}');
      assert.equal((await again.next((m) => m.payload.includes('live'))).topic, 'iotdm-1/observe');
    });

    it('ignores RETAIN on DM topics (every client) but keeps it elsewhere', async () => {
      const dev = await connect(broker.url, { clientId: `d:${ORG}:${TYPE}:embc-1` });
      await publish(dev, 'iotdevice-1/mgmt/manage', '{"reqId":"ret-1"}', { retain: true });
      const live = await platform.next();
      assert.equal(live.retain, false);
      await publish(platform, `iotdm-1/${scope('embc-1')}/response`, '{"reqId":"ret-2","rc":200}', { retain: true });
      await publish(platform, 'app/status', 'kept', { retain: true });
      const late = await connect(broker.url, { clientId: 'late-subscriber' });
      await subscribe(late, ['iotdevice-1/#', 'iotdm-1/#', 'app/status']);
      const kept = await late.next((m) => m.topic === 'app/status');
      assert.equal(kept.retain, true); // control: retain works where it should
      await assertNothingBefore(late, platform, 'iotdm-1/sentinel', (m) => m.payload.includes('ret-'));
    });

    it('refuses payloads over 131072 bytes on DM topics', async () => {
      const dev = await connect(broker.url, { clientId: `d:${ORG}:${TYPE}:big-1` });
      await publish(dev, 'iotdevice-1/add/diag/log', Buffer.alloc(131072, 0x61));
      assert.equal((await platform.next()).payload.length, 131072);
      const closed = new Promise<void>((r) => dev.client.once('close', () => r()));
      dev.client.publish('iotdevice-1/add/diag/log', Buffer.alloc(131073, 0x62), { qos: 0 });
      await closed;
      const other = await connect(broker.url, { clientId: `d:${ORG}:${TYPE}:big-2` });
      await publish(other, 'iotdevice-1/notify', 'sentinel');
      await platform.next((m) => m.payload === 'sentinel');
      assert.ok(!platform.received.some((m) => m.payload.length > 131072));
    });

    it('close() resolves promptly with clients connected, and frees the port', async () => {
      const b = await startEmbeddedBroker({ port: 0 });
      const a1 = await connect(b.url, { clientId: `d:${ORG}:${TYPE}:c1` });
      const a2 = await connect(b.url, { clientId: 'persistent-app', clean: false });
      await subscribe(a2, 'x/#');
      const closedA1 = new Promise<void>((r) => a1.client.once('close', () => r()));
      // a raw connection that never sends CONNECT would hold a plain server.close()
      const raw = net.connect(b.port, '127.0.0.1');
      raw.on('error', () => undefined);
      await new Promise<void>((r) => raw.once('connect', () => r()));
      const t0 = Date.now();
      await b.close();
      assert.ok(Date.now() - t0 < 2000, `close took ${Date.now() - t0} ms`);
      await closedA1;
      assert.ok(raw.destroyed || (await new Promise<boolean>((r) => raw.once('close', () => r(true)))));
      await b.close(); // twice is harmless
      const again = await startEmbeddedBroker({ port: b.port });
      await again.close();
    });
  });

  describe('authentication', () => {
    before(async () => {
      broker = await startEmbeddedBroker({ port: 0, username: 'platform', password: 's3cret-token' });
    });
    after(async () => {
      await broker.close();
    });

    it('refuses a client without credentials or with a wrong password', async () => {
      await assert.rejects(connect(broker.url, { clientId: 'anon' }), /Bad username or password|Not authorized/i);
      await assert.rejects(connect(broker.url, { clientId: 'wrong', username: 'platform', password: 'nope' }), /Bad username or password/i);
      await assert.rejects(connect(broker.url, { clientId: `d:${ORG}:${TYPE}:t1`, username: 'use-token-auth', password: 'nope' }), /Bad username or password/i);
      await assert.rejects(connect(broker.url, { clientId: 'other-user', username: 'someone', password: 's3cret-token' }), /Bad username or password/i);
    });

    it("accepts the configured user, and IBM's use-token-auth with the token", async () => {
      const p = await connect(broker.url, { clientId: 'platform-1', username: 'platform', password: 's3cret-token' });
      const d = await connect(broker.url, { clientId: `d:${ORG}:${TYPE}:t1`, username: 'use-token-auth', password: 's3cret-token' });
      await subscribe(p, 'iotdevice-1/type/+/id/+/#');
      await publish(d, 'iotdevice-1/mgmt/manage', '{"reqId":"auth"}');
      assert.equal((await p.next()).topic, `iotdevice-1/${scope('t1')}/mgmt/manage`);
    });
  });

  describe('TLS', () => {
    let cert: { cert: string; key: string };
    before(async () => {
      cert = makeSelfSignedCert(); // fails (never skips) when openssl is missing
      broker = await startEmbeddedBroker({ port: 0, tls: { cert: cert.cert, key: cert.key } });
    });
    after(async () => {
      await broker.close();
    });

    it('serves mqtts with the given certificate, scoping included', async () => {
      assert.match(broker.url, /^mqtts:\/\/127\.0\.0\.1:\d+$/);
      const p = await connect(broker.url, { clientId: 'platform-tls', ca: cert.cert, rejectUnauthorized: true });
      const d = await connect(broker.url, { clientId: `d:${ORG}:${TYPE}:tls-1`, ca: cert.cert, rejectUnauthorized: true });
      await subscribe(p, 'iotdevice-1/type/+/id/+/#');
      await subscribe(d, 'iotdm-1/#');
      await publish(d, 'iotdevice-1/mgmt/manage', '{"reqId":"tls"}');
      assert.equal((await p.next()).topic, `iotdevice-1/${scope('tls-1')}/mgmt/manage`);
      await publish(p, `iotdm-1/${scope('tls-1')}/response`, '{"reqId":"tls","rc":200}');
      assert.equal((await d.next()).topic, 'iotdm-1/response');
    });

    it('refuses a client that does not trust the certificate, and plain MQTT', async () => {
      await assert.rejects(connect(broker.url, { clientId: 'untrusting', rejectUnauthorized: true }), /self[- ]signed/i);
      await assert.rejects(connect(`mqtt://127.0.0.1:${broker.port}`, { clientId: 'plain', connectTimeout: 1000 }));
    });
  });
});
