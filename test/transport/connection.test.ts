import assert from 'node:assert/strict';
import net from 'node:net';
import mqtt, { type MqttClient } from 'mqtt';
import { Connection } from '../../nodes/transport/connection';
import type { ConnectionState } from '../../nodes/protocol/link';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../nodes/transport/embedded-broker';
import { freePort } from '../support/ports';
import { startBroker } from '../device/brokers';
import { waitFor } from '../support/wait';

function publisher(url: string): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(url, { protocolVersion: 4, reconnectPeriod: 0, clientId: `pub-${Math.random().toString(16).slice(2)}` });
    c.once('connect', () => resolve(c));
    c.once('error', reject);
  });
}

function pub(c: MqttClient, topic: string, payload: string): Promise<void> {
  return new Promise((resolve, reject) => c.publish(topic, payload, { qos: 1 }, (err) => (err ? reject(err) : resolve())));
}

describe('transport/connection', function () {
  this.timeout(15000);
  const cleanup: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });

  it('subscribes again after the broker restarts on the same port', async () => {
    const port = await freePort();
    let broker: EmbeddedBroker = await startEmbeddedBroker({ port });
    cleanup.push(() => broker.close());
    const conn = new Connection({ url: broker.url, clientId: 'conn-restart', reconnectPeriod: 100 });
    cleanup.push(() => conn.close(1000));
    const states: ConnectionState[] = [];
    conn.on('state', (s: ConnectionState) => states.push(s));
    const got: string[] = [];
    conn.subscribe('a/#', 1, (topic, payload) => got.push(`${topic} ${payload}`));
    await waitFor(() => conn.state === 'connected', 'first connect (subscriptions acknowledged)');
    const p1 = await publisher(broker.url);
    await pub(p1, 'a/1', 'before');
    await waitFor(() => got.length === 1, 'message before restart');
    p1.end(true);

    await broker.close();
    await waitFor(() => states.includes('disconnected'), 'disconnected state');
    broker = await startEmbeddedBroker({ port }); // a fresh broker: no session, no subscriptions
    await waitFor(() => conn.connected && states.lastIndexOf('connected') > states.indexOf('disconnected'), 'reconnect');
    const p2 = await publisher(broker.url);
    cleanup.push(() => void p2.end(true));
    // the SUBSCRIBE goes out on 'connect'; the first publish may race it, so retry briefly
    await waitFor(
      () => {
        if (got.length < 2) void pub(p2, 'a/2', 'after');
        return got.length >= 2;
      },
      'message after restart',
      3000,
    );
    assert.equal(got[0], 'a/1 before');
    assert.equal(got[1], 'a/2 after');
  });

  it('a throwing handler does not stop dispatch to the others, nor later messages', async () => {
    const broker = await startEmbeddedBroker({ port: 0 });
    cleanup.push(() => broker.close());
    const conn = new Connection({ url: broker.url, clientId: 'conn-throw' });
    cleanup.push(() => conn.close(1000));
    const errors: string[] = [];
    conn.on('handlerError', (err: Error, topic: string) => errors.push(`${topic}: ${err.message}`));
    const got: string[] = [];
    conn.subscribe('t/#', 1, () => {
      throw new Error('boom');
    });
    conn.subscribe('t/+', 1, (topic) => got.push(`second ${topic}`));
    // 'connected' is set once the broker acknowledged the subscriptions (SUBACK), not at the CONNACK
    await waitFor(() => conn.state === 'connected', 'connect (subscriptions acknowledged)');
    const p = await publisher(broker.url);
    cleanup.push(() => void p.end(true));
    await pub(p, 't/1', 'x');
    await pub(p, 't/2', 'y');
    await waitFor(() => got.length === 2, 'both messages at the second handler');
    assert.deepEqual(got, ['second t/1', 'second t/2']);
    assert.deepEqual(errors, ['t/1: boom', 't/2: boom']);
    assert.ok(conn.connected);
  });

  it('a d: client hears its own scope in the scoped form, on the embedded broker (which delivers it bare) and on mosquitto (which does not)', async () => {
    const embedded = await startEmbeddedBroker({ port: 0 });
    cleanup.push(() => embedded.close());
    const mosquitto = await startBroker('mosquitto');
    cleanup.push(() => mosquitto.stop());
    for (const url of [embedded.url, mosquitto.url]) {
      const conn = new Connection({ url, clientId: 'd:org:thermo:T-9' });
      cleanup.push(() => conn.close(1000));
      const got: string[] = [];
      conn.subscribe('iotdm-1/type/thermo/id/T-9/#', 1, (topic) => got.push(topic));
      await waitFor(() => conn.state === 'connected', 'connect (subscription acknowledged)');
      const p = await publisher(url);
      cleanup.push(() => void p.end(true));
      await pub(p, 'iotdm-1/type/thermo/id/T-9/mgmt/initiate/device/reboot', '{"reqId":"r1"}');
      await pub(p, 'iotdm-1/type/thermo/id/T-8/mgmt/initiate/device/reboot', '{"reqId":"r2"}'); // another device's
      await pub(p, 'iotdm-1/type/thermo/id/T-9/device/update', '{"reqId":"r3","d":{"fields":[]}}');
      await waitFor(() => got.length === 2, `both of its own messages via ${url}`);
      assert.deepEqual(got, ['iotdm-1/type/thermo/id/T-9/mgmt/initiate/device/reboot', 'iotdm-1/type/thermo/id/T-9/device/update']);
    }
  });

  it('a handler that unsubscribes itself does not make the next handler miss the message', async () => {
    const broker = await startEmbeddedBroker({ port: 0 });
    cleanup.push(() => broker.close());
    const conn = new Connection({ url: broker.url, clientId: 'conn-once' });
    cleanup.push(() => conn.close(1000));
    const got: string[] = [];
    const off = conn.subscribe('r/#', 1, (topic) => {
      got.push(`once ${topic}`);
      off(); // a one-shot waiter, as a request waiting for its response does
    });
    conn.subscribe('r/#', 1, (topic) => got.push(`always ${topic}`));
    await waitFor(() => conn.state === 'connected', 'connect (subscriptions acknowledged)');
    const p = await publisher(broker.url);
    cleanup.push(() => void p.end(true));
    await pub(p, 'r/1', 'x');
    await pub(p, 'r/2', 'y');
    await waitFor(() => got.length >= 3, 'three deliveries');
    assert.deepEqual(got, ['once r/1', 'always r/1', 'always r/2']);
  });

  it('close() resolves quickly when connected, and reports closed to its users', async () => {
    const broker = await startEmbeddedBroker({ port: 0 });
    cleanup.push(() => broker.close());
    const conn = new Connection({ url: broker.url, clientId: 'conn-close' });
    const seen: ConnectionState[] = [];
    conn.addUser({ onConnectionState: (s) => seen.push(s) });
    await waitFor(() => conn.connected, 'connect');
    const t0 = Date.now();
    await conn.close(5000);
    assert.ok(Date.now() - t0 < 1000, `close took ${Date.now() - t0} ms`);
    assert.equal(seen[0], 'connecting');
    assert.equal(seen[seen.length - 1], 'closed');
    assert.equal(conn.client.connected, false);
  });

  it('close() is bounded when the broker never acknowledges an in-flight publish', async () => {
    // a TCP peer that accepts the CONNECT and then swallows everything (no PUBACK, ever)
    const sockets = new Set<net.Socket>();
    const mute = net.createServer((s) => {
      sockets.add(s);
      s.once('data', () => s.write(Buffer.from([0x20, 0x02, 0x00, 0x00]))); // CONNACK accepted
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => mute.listen(0, '127.0.0.1', () => r()));
    cleanup.push(
      () =>
        new Promise<void>((r) => {
          for (const s of sockets) s.destroy();
          mute.close(() => r());
        }),
    );
    const { port } = mute.address() as net.AddressInfo;
    const conn = new Connection({ url: `mqtt://127.0.0.1:${port}`, clientId: 'conn-mute', reconnectPeriod: 0 });
    await waitFor(() => conn.connected, 'connect to the mute peer');
    void conn.publish('x/y', 'never acked', 1).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 50));
    const t0 = Date.now();
    await conn.close(300);
    const took = Date.now() - t0;
    assert.ok(took >= 250 && took < 1500, `close took ${took} ms`);
    assert.equal(conn.state, 'closed');
  });

  it('close() is bounded while the broker is unreachable', async () => {
    const port = await freePort(); // nothing listens here
    const conn = new Connection({ url: `mqtt://127.0.0.1:${port}`, clientId: 'conn-nobody', reconnectPeriod: 100 });
    await new Promise((r) => setTimeout(r, 250));
    assert.equal(conn.connected, false);
    const t0 = Date.now();
    await conn.close(500);
    assert.ok(Date.now() - t0 < 1000, `close took ${Date.now() - t0} ms`);
  });
});
