import assert from 'node:assert/strict';
import { once } from 'node:events';
import mqtt, { type MqttClient } from 'mqtt';
import { linkPair } from '../../nodes/transport/in-process-link';
import { Connection } from '../../nodes/transport/connection';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../nodes/transport/embedded-broker';
import type { ConnectionState } from '../../nodes/protocol/link';
import { freePort } from '../support/ports';
import { waitFor } from '../support/wait';

function device(url: string, clientId: string): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(url, { protocolVersion: 4, reconnectPeriod: 0, clientId });
    c.once('connect', () => resolve(c));
    c.once('error', reject);
  });
}

describe('transport/in-process-link', function () {
  this.timeout(15000);
  const cleanup: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });

  describe('the pair', () => {
    it('hands a turn’s writes to the other end after the turn, in order, in one chunk', async () => {
      const [a, b] = linkPair();
      const chunks: Buffer[] = [];
      b.on('data', (c: Buffer) => chunks.push(c));
      a.write('one ');
      a.write(Buffer.from('two '));
      a.write('three');
      // never from inside the writer's call, nor in the same turn
      assert.equal(chunks.length, 0);
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(
        chunks.map((c) => c.toString()),
        ['one two three'],
      );
      b.write('back');
      await once(a, 'data').then(([c]) => assert.equal(String(c), 'back'));
      a.destroy();
      b.destroy();
    });

    it('holds a writer whose reader does not read: write() says false, and nothing piles up beyond the buffers', async () => {
      const [a, b] = linkPair();
      b.pause();
      const block = Buffer.alloc(64 * 1024, 1);
      let accepted = 0;
      let refusedAt = -1;
      for (let i = 0; i < 1000; i++) {
        if (!a.write(block)) {
          refusedAt = i;
          break;
        }
        accepted++;
        await new Promise((r) => setImmediate(r));
      }
      assert.ok(refusedAt >= 0, 'write() never returned false');
      // let the link run a few turns: what waits is bounded by the two ends' buffers
      for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
      assert.ok(b.readableLength <= 2 * block.length, `reader holds ${b.readableLength} bytes`);
      // the reader reads on: everything arrives, and the writer drains
      let got = 0;
      b.on('data', (c: Buffer) => (got += c.length));
      const drained = once(a, 'drain');
      b.resume();
      await drained;
      await waitFor(() => got === (accepted + 1) * block.length, `all ${accepted + 1} blocks read (got ${got} bytes)`);
      a.destroy();
    });

    it('ending or destroying one end closes the other, as a socket', async () => {
      const [a, b] = linkPair();
      b.resume();
      const bClosed = once(b, 'close');
      a.end('last');
      await bClosed;
      const [c, d] = linkPair();
      d.resume();
      const dClosed = once(d, 'close');
      c.destroy();
      await dClosed;
      assert.ok(d.destroyed);
      // a writer held by a reader that stops reading still closes when that reader goes
      const [e, f] = linkPair();
      f.pause();
      const eClosed = once(e, 'close');
      for (let i = 0; i < 4; i++) {
        e.write(Buffer.alloc(64 * 1024));
        await new Promise((r) => setImmediate(r));
      }
      assert.equal(e.writableNeedDrain, true);
      f.destroy();
      await eClosed;
    });
  });

  describe('the platform’s connection to the embedded broker', () => {
    let broker: EmbeddedBroker;
    beforeEach(async () => {
      broker = await startEmbeddedBroker({ port: await freePort(), username: 'platform', password: 's3cret' });
      cleanup.push(() => broker.close());
    });

    it('exchanges QoS 1 messages with a device on TCP, with the same login, and is no socket', async () => {
      const conn = new Connection({ url: broker.url, link: () => broker.openLink(), clientId: 'a:org:platform', username: 'platform', password: 's3cret' });
      cleanup.push(() => conn.close(1000));
      const got: string[] = [];
      conn.subscribe('iotdevice-1/#', 1, (topic, payload) => got.push(`${topic} ${payload}`));
      await waitFor(() => conn.state === 'connected', 'connected over the link');
      const clients = (broker.aedes as unknown as { clients: Record<string, { conn: { remoteAddress?: string } }> }).clients;
      assert.equal(clients['a:org:platform'].conn.remoteAddress, 'in-process');

      const d = await device(broker.url.replace('mqtt://', 'mqtt://platform:s3cret@'), 'dev-1');
      cleanup.push(() => new Promise<void>((r) => d.end(true, {}, () => r())));
      const asked = new Promise<string>((resolve) => d.on('message', (_t, p) => resolve(String(p))));
      await new Promise<void>((resolve, reject) => d.subscribe('iotdm-1/#', { qos: 1 }, (err) => (err ? reject(err) : resolve())));
      await conn.publish('iotdm-1/type/t/id/d/mgmt/initiate/device/reboot', '{"reqId":"r1"}', 1);
      assert.equal(await asked, '{"reqId":"r1"}');
      d.publish('iotdevice-1/type/t/id/d/response', '{"reqId":"r1","rc":202}', { qos: 1 });
      await waitFor(() => got.length === 1, 'the answer reached the platform');
      assert.equal(got[0], 'iotdevice-1/type/t/id/d/response {"reqId":"r1","rc":202}');
    });

    it('is refused a wrong password as a TCP client is', async () => {
      const conn = new Connection({
        url: broker.url,
        link: () => broker.openLink(),
        clientId: 'a:org:intruder',
        username: 'platform',
        password: 'guess',
        reconnectPeriod: 100,
      });
      cleanup.push(() => conn.close(1000));
      const errors: string[] = [];
      conn.on('transportError', (err: Error) => errors.push(err.message));
      await waitFor(() => errors.length > 0, 'a refusal');
      assert.match(errors[0], /username or password/i);
      assert.notEqual(conn.state, 'connected');
    });

    it('sees the broker close, and reconnects through a new link when it is back', async () => {
      const port = await freePort();
      let b = await startEmbeddedBroker({ port });
      cleanup.push(() => b.close());
      const conn = new Connection({ url: b.url, link: () => b.openLink(), clientId: 'a:org:restart', reconnectPeriod: 100 });
      cleanup.push(() => conn.close(1000));
      const states: ConnectionState[] = [];
      conn.on('state', (s: ConnectionState) => states.push(s));
      const got: string[] = [];
      conn.subscribe('a/#', 1, (topic) => got.push(topic));
      await waitFor(() => conn.state === 'connected', 'first connect');

      await b.close();
      await waitFor(() => conn.state !== 'connected', 'the close seen');
      // while it is down, each attempt is refused at once (no hang, no throw)
      await new Promise((r) => setTimeout(r, 350));
      assert.notEqual(conn.state, 'connected');

      b = await startEmbeddedBroker({ port });
      await waitFor(() => conn.state === 'connected', 'reconnected to the new broker');
      const d = await device(b.url, 'dev-2');
      cleanup.push(() => new Promise<void>((r) => d.end(true, {}, () => r())));
      d.publish('a/b', 'x', { qos: 1 });
      await waitFor(() => got.includes('a/b'), 'subscribed again: the message arrives');
      assert.deepEqual(states.slice(0, 2), ['connected', 'disconnected']);
    });
  });
});
