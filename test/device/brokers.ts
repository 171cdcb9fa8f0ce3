/**
 * Test helpers of the device-side tests: a plain in-process aedes broker, Debian's mosquitto (from
 * test/support), and a simulated platform: a real mqtt.js client that records what devices publish
 * and lets a test wait for a message or answer it.
 */
import net from 'node:net';
import mqtt, { type MqttClient } from 'mqtt';
import { freePort } from '../support/ports';
import { startMosquitto } from '../support/mosquitto';

export interface TestBroker {
  name: string;
  url: string;
  port: number;
  stop(): Promise<void>;
}

export async function startAedes(): Promise<TestBroker> {
  const { Aedes } = (await import('aedes')) as unknown as {
    Aedes: { createBroker(): Promise<{ handle: (s: net.Socket) => void; close(cb: () => void): void }> };
  };
  const broker = await Aedes.createBroker();
  const server = net.createServer({ noDelay: true }, broker.handle);
  const port = await freePort();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const sockets = new Set<net.Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return {
    name: 'aedes',
    url: `mqtt://127.0.0.1:${port}`,
    port,
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
      await new Promise<void>((r) => broker.close(() => r()));
    },
  };
}

export async function startBroker(kind: 'aedes' | 'mosquitto'): Promise<TestBroker> {
  if (kind === 'aedes') return startAedes();
  const m = await startMosquitto();
  return { name: 'mosquitto', url: m.url, port: m.port, stop: () => m.stop() };
}

export interface Received {
  topic: string;
  text: string;
  json: any;
}

/** A simulated platform (or any MQTT peer): subscribes, records, waits. */
export class Peer {
  readonly received: Received[] = [];
  private waiters: { pred: (m: Received) => boolean; resolve: (m: Received) => void }[] = [];
  private constructor(readonly client: MqttClient) {
    client.on('message', (topic, payload) => {
      const text = payload.toString('utf8');
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      const m = { topic, text, json };
      this.received.push(m);
      this.waiters = this.waiters.filter((w) => {
        if (!w.pred(m)) return true;
        w.resolve(m);
        return false;
      });
    });
  }

  static async connect(url: string, subscriptions: string[] = ['iotdevice-1/#']): Promise<Peer> {
    const client = mqtt.connect(url, { protocolVersion: 4, reconnectPeriod: 0, clientId: `peer_${Math.random().toString(16).slice(2)}` });
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    (client.stream as unknown as net.Socket).setNoDelay?.(true);
    const peer = new Peer(client);
    if (subscriptions.length) await client.subscribeAsync(subscriptions, { qos: 1 });
    return peer;
  }

  /** Wait for a message (already received or future) that matches. */
  waitFor(pred: (m: Received) => boolean, timeoutMs = 5000, what = 'message'): Promise<Received> {
    const old = this.received.find(pred);
    if (old) return Promise.resolve(old);
    return new Promise((resolve, reject) => {
      const w = { pred, resolve: (m: Received) => (clearTimeout(t), resolve(m)) };
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(
          new Error(
            `timed out waiting for ${what}; got ${this.received.length}: ${this.received
              .slice(-5)
              .map((m) => `${m.topic} ${m.text}`)
              .join(' | ')}`,
          ),
        );
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  /** Wait until `n` messages match. */
  async waitCount(pred: (m: Received) => boolean, n: number, timeoutMs = 10000): Promise<Received[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const got = this.received.filter(pred);
      if (got.length >= n) return got;
      if (Date.now() > deadline) throw new Error(`timed out: ${got.length} of ${n} messages`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** The response of a device to reqId (on `iotdevice-1/type/T/id/D/response`). */
  response(reqId: string, timeoutMs = 5000): Promise<Received> {
    return this.waitFor(
      (m) => m.topic.endsWith('/response') && m.topic.startsWith('iotdevice-1/') && m.json?.reqId === reqId,
      timeoutMs,
      `response to ${reqId}`,
    );
  }

  publish(topic: string, body: unknown): Promise<void> {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    return this.client.publishAsync(topic, text, { qos: 1 }).then(() => undefined);
  }

  /** Answer every manage request with rc (default 200), as the platform does. */
  autoAnswerManage(rc: number | ((topic: string) => number) = 200): void {
    this.client.on('message', (topic, payload) => {
      const m = /^iotdevice-1\/type\/([^/]+)\/id\/([^/]+)\/mgmt\/manage$/.exec(topic);
      if (!m) return;
      const body = JSON.parse(payload.toString());
      const code = typeof rc === 'function' ? rc(topic) : rc;
      void this.client.publishAsync(`iotdm-1/type/${m[1]}/id/${m[2]}/response`, JSON.stringify({ reqId: body.reqId, rc: code }), { qos: 1 });
    });
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
