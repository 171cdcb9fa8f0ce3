/**
 * Fixtures of the firmware tests: a broker (the embedded aedes of the package, or Debian's
 * mosquitto), a Platform core on a real Connection, and raw mqtt.js devices that answer the
 * platform with a scripted rc per step and scripted notifies.
 */
import net from 'node:net';
import mqtt, { type MqttClient } from 'mqtt';
import { Connection } from '../../nodes/transport/connection';
import { startEmbeddedBroker } from '../../nodes/transport/embedded-broker';
import { Platform } from '../../nodes/platform/platform';
import { PLATFORM_SUBSCRIPTION } from '../../nodes/protocol/topics';
import type { RequestManagerOptions } from '../../nodes/platform/request-manager';
import type { MgmtRequest } from '../../nodes/platform/management-request';
import { startMosquitto } from '../support/mosquitto';
import { freePort } from '../support/ports';

export type BrokerKind = 'embedded' | 'mosquitto';
export interface Broker {
  url: string;
  stop(): Promise<void>;
}
export async function startFirmwareBroker(kind: BrokerKind): Promise<Broker> {
  if (kind === 'mosquitto') {
    const m = await startMosquitto();
    return { url: m.url, stop: () => m.stop() };
  }
  const b = await startEmbeddedBroker({ port: await freePort(), host: '127.0.0.1' });
  return { url: b.url, stop: () => b.close() };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export async function until(cond: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`${what} not met within ${ms} ms`);
    await sleep(5);
  }
}

export interface RunningPlatform {
  platform: Platform;
  connection: Connection;
  /** every topic the platform published */
  published: string[];
  close(): Promise<void>;
}
export async function startPlatform(url: string, opts: RequestManagerOptions = {}): Promise<RunningPlatform> {
  const connection = new Connection({ url, clientId: `platform-${Math.random().toString(16).slice(2)}`, reconnectPeriod: 200 });
  const published: string[] = [];
  const platform = new Platform((topic, payload) => {
    published.push(topic);
    return connection.publish(topic, payload, 1);
  }, opts);
  const subscribed = new Promise<void>((resolve) => {
    connection.client.once('connect', () => connection.client.subscribe(PLATFORM_SUBSCRIPTION, { qos: 1 }, () => resolve()));
  });
  connection.subscribe(PLATFORM_SUBSCRIPTION, 1, (t, p) => platform.handleMessage(t, p));
  await subscribed;
  return {
    platform,
    connection,
    published,
    async close() {
      platform.close();
      await connection.close(1000);
    },
  };
}

export function completion(platform: Platform, req: MgmtRequest, ms = 10000): Promise<MgmtRequest> {
  if (req.complete) return Promise.resolve(req);
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`request ${req.action} not complete within ${ms} ms: ${JSON.stringify(req.counts)}`)), ms);
    const h = (r: MgmtRequest) => {
      if (r !== req) return;
      clearTimeout(t);
      platform.requests.off('requestComplete', h);
      resolve(r);
    };
    platform.requests.on('requestComplete', h);
  });
}

/** What a raw device does at each step: an rc, `null` for silence, or a function of the body. */
export interface Script {
  update?: number | null;
  observe?: number | null;
  /** answer to the initiate (download or update) */
  initiate?: number | null;
  initiateMessage?: string;
  /** firmware values notified one message each after the initiate answer */
  notifies?: Record<string, unknown>[];
  cancel?: number | null;
  /** publish the notifies before the 202 (IBM's Java client before its fix, docs/protocol.md §7.4) */
  notifyBeforeAnswer?: boolean;
  /** observe answer's d */
  observeD?: Record<string, unknown>;
}

/** One managed device as a bare mqtt.js client, answering per its script. */
export class RawDevice {
  readonly received: { name: string; body: any }[] = [];
  private constructor(
    readonly client: MqttClient,
    readonly typeId: string,
    readonly deviceId: string,
    public script: Script,
  ) {}

  static async connect(
    url: string,
    typeId: string,
    deviceId: string,
    script: Script,
    supports: Record<string, unknown> = { deviceActions: false, firmwareActions: true },
  ): Promise<RawDevice> {
    const client = mqtt.connect(url, { protocolVersion: 4, reconnectPeriod: 0, clientId: `raw-${typeId}-${deviceId}` });
    await new Promise<void>((res, rej) => {
      client.once('connect', () => res());
      client.once('error', rej);
    });
    (client.stream as unknown as net.Socket).setNoDelay?.(true);
    const dev = new RawDevice(client, typeId, deviceId, script);
    const prefix = `iotdm-1/type/${typeId}/id/${deviceId}/`;
    await client.subscribeAsync(`${prefix}#`, { qos: 1 });
    const manageId = `m-${deviceId}`;
    const managed = new Promise<void>((res) => {
      client.on('message', (topic, payload) => {
        const body = JSON.parse(payload.toString());
        const name = topic.slice(prefix.length);
        if (name === 'response') {
          if (body.reqId === manageId) res();
          return;
        }
        dev.received.push({ name, body });
        void dev.answer(name, body);
      });
    });
    await client.publishAsync(`iotdevice-1/type/${typeId}/id/${deviceId}/mgmt/manage`, JSON.stringify({ reqId: manageId, d: { lifetime: 0, supports } }), {
      qos: 1,
    });
    await managed;
    return dev;
  }

  private respond(reqId: string, rc: number, message?: string, d?: unknown): Promise<unknown> {
    return this.client.publishAsync(`iotdevice-1/type/${this.typeId}/id/${this.deviceId}/response`, JSON.stringify({ reqId, rc, message, d }), { qos: 1 });
  }

  notify(value: Record<string, unknown>): Promise<unknown> {
    return this.client.publishAsync(
      `iotdevice-1/type/${this.typeId}/id/${this.deviceId}/notify`,
      JSON.stringify({ d: { fields: [{ field: 'mgmt.firmware', value }] } }),
      { qos: 1 },
    );
  }

  private async answer(name: string, body: any): Promise<void> {
    const s = this.script;
    const rcOf = (v: number | null | undefined, dflt: number) => (v === undefined ? dflt : v);
    if (name === 'device/update') {
      const rc = rcOf(s.update, 204);
      if (rc !== null) await this.respond(body.reqId, rc);
    } else if (name === 'observe') {
      const rc = rcOf(s.observe, 200);
      if (rc !== null) await this.respond(body.reqId, rc, undefined, s.observeD);
    } else if (name === 'cancel') {
      const rc = rcOf(s.cancel, 200);
      if (rc !== null) await this.respond(body.reqId, rc);
    } else if (name.startsWith('mgmt/initiate/firmware/')) {
      const rc = rcOf(s.initiate, 202);
      if (s.notifyBeforeAnswer) for (const n of s.notifies ?? []) await this.notify(n);
      if (rc !== null) await this.respond(body.reqId, rc, s.initiateMessage);
      if (rc === 202 && !s.notifyBeforeAnswer) {
        for (const n of s.notifies ?? []) {
          await sleep(2);
          await this.notify(n);
        }
      }
    }
  }

  get ref(): { typeId: string; deviceId: string } {
    return { typeId: this.typeId, deviceId: this.deviceId };
  }

  names(): string[] {
    return this.received.map((r) => r.name);
  }

  close(): Promise<void> {
    return this.client.endAsync(true);
  }
}
