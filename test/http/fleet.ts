/**
 * Simulated devices for the HTTP API tests: one real mqtt.js client speaking for many devices on
 * their device-scoped topics (as a gateway does). Each device manages (and waits for the platform's
 * 200), answers device/reboot with 202 and manages again shortly after, as a rebooted device does.
 * Devices listed in `silent` never answer anything but their manage (to keep a request in progress).
 */
import { fleetGatewayId } from '../support/fleet';
import mqtt, { type MqttClient } from 'mqtt';
import type { DeviceRef } from '../../nodes/protocol/topics';

export interface FleetOptions {
  supports?: { deviceActions?: boolean; firmwareActions?: boolean };
  /** delay between the 202 and the manage after the reboot */
  rebootMs?: number;
  /** the gateway's token (an enrolled gateway) */
  username?: string;
  password?: string;
}

export class Fleet {
  readonly silent = new Set<string>();
  private readonly own: Set<string>;
  private readonly manageWaiters = new Map<string, () => void>();
  private seq = 0;

  private constructor(
    readonly client: MqttClient,
    readonly devices: DeviceRef[],
    private readonly options: FleetOptions,
  ) {
    this.own = new Set(devices.map((d) => `${d.typeId}:${d.deviceId}`));
    client.on('message', (topic, payload) => this.onMessage(topic, payload));
  }

  static async connect(url: string, devices: DeviceRef[], options: FleetOptions = {}): Promise<Fleet> {
    // a gateway for its devices (the platform's development mode lets it enrol itself and them)
    const client = mqtt.connect(url, {
      protocolVersion: 4,
      reconnectPeriod: 0,
      clientId: fleetGatewayId(devices),
      username: options.username,
      password: options.password,
    });
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    client.on('error', () => undefined); // the broker goes away when a flow is unloaded
    const fleet = new Fleet(client, devices, options);
    await client.subscribeAsync('iotdm-1/type/+/id/+/#', { qos: 1 });
    await Promise.all(devices.map((d) => fleet.manage(d)));
    return fleet;
  }

  /** Send a manage request and wait for the platform's answer. */
  manage(d: DeviceRef, timeoutMs = 5000): Promise<void> {
    const reqId = `m-${d.typeId}-${d.deviceId}-${++this.seq}`;
    const supports = { deviceActions: true, firmwareActions: true, ...this.options.supports };
    return new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => {
        this.manageWaiters.delete(reqId);
        reject(new Error(`no answer to the manage of ${d.typeId}:${d.deviceId}`));
      }, timeoutMs);
      this.manageWaiters.set(reqId, () => {
        clearTimeout(t);
        resolve();
      });
      this.client.publish(`iotdevice-1/type/${d.typeId}/id/${d.deviceId}/mgmt/manage`, JSON.stringify({ reqId, d: { supports, lifetime: 0 } }), { qos: 1 });
    });
  }

  private onMessage(topic: string, payload: Buffer): void {
    const m = /^iotdm-1\/type\/([^/]+)\/id\/([^/]+)\/(.+)$/.exec(topic);
    if (!m) return;
    const device = { typeId: m[1], deviceId: m[2] };
    if (!this.own.has(`${device.typeId}:${device.deviceId}`)) return; // another fleet's device
    let body: { reqId?: string; rc?: number };
    try {
      body = JSON.parse(payload.toString());
    } catch {
      return;
    }
    if (m[3] === 'response') {
      if (body.reqId && body.rc === 200) {
        const w = this.manageWaiters.get(body.reqId);
        this.manageWaiters.delete(body.reqId);
        w?.();
      }
      return;
    }
    if (this.silent.has(`${device.typeId}:${device.deviceId}`)) return;
    if (m[3] === 'mgmt/initiate/device/reboot') {
      this.client.publish(`iotdevice-1/type/${device.typeId}/id/${device.deviceId}/response`, JSON.stringify({ reqId: body.reqId, rc: 202 }), { qos: 1 });
      setTimeout(() => this.manage(device).catch(() => undefined), this.options.rebootMs ?? 20);
    }
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}
