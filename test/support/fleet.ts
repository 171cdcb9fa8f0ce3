/**
 * A simulated fleet for platform-side tests: one real mqtt.js client speaking the device side of the
 * protocol for many devices on the device-scoped topics (as a gateway does). Each device manages,
 * answers device actions with the rc its behaviour gives, and manages again after a reboot.
 */
import { createHash } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import type { DeviceRef } from '../../nodes/protocol/topics';
import { FaultPlan, type Faults } from '../../bench/faults';

export interface ActionAnswer {
  rc: number | string;
  message?: string;
  /** send a manage this many ms after answering (the device restarted) */
  remanageAfterMs?: number;
  /** do not answer at all */
  silent?: boolean;
}

export interface FleetOptions {
  url: string;
  devices: DeviceRef[];
  supports?: Record<string, boolean | number>;
  /** how a device answers reboot / factory_reset; default 202 and a manage after 5 ms */
  onAction?: (device: DeviceRef, action: 'reboot' | 'factory_reset', reqId: string) => ActionAnswer;
  username?: string;
  password?: string;
  /** every device manages again when the fleet reconnects, as real devices do on every connect */
  remanageOnReconnect?: boolean;
  /** devices that fail, time out or keep their old version (initiates of any action, bench/faults.ts) */
  faults?: Faults;
  /** default: a gateway id of its own for this set of devices (fleetGatewayId) */
  clientId?: string;
}

/**
 * The client id of a simulated fleet: a gateway (`g:test:fleet:<digest of its devices>`), the same for
 * the same devices, so that a fleet that reconnects is the gateway its devices are enrolled behind.
 */
export function fleetGatewayId(devices: DeviceRef[]): string {
  const digest = createHash('sha256')
    .update(devices.map((d) => `${d.typeId}/${d.deviceId}`).join(','))
    .digest('hex')
    .slice(0, 16);
  return `g:test:fleet:${digest}`;
}

export class Fleet {
  client!: MqttClient;
  /** every initiate each device received */
  readonly actions: { device: DeviceRef; action: string; reqId: string }[] = [];
  readonly responses = new Map<string, { rc: number; topic: string }>();
  private managed = 0;
  private manageWaiters: (() => void)[] = [];
  readonly faults: FaultPlan;
  /** deviceInfo.fwVersion of each device (1.0.0 until an update) */
  readonly versions = new Map<string, string>();
  private readonly described = new Map<string, string>();
  private readonly installed = new Set<string>();

  constructor(readonly opts: FleetOptions) {
    this.faults = new FaultPlan(opts.faults);
  }

  async start(): Promise<void> {
    this.client = mqtt.connect(this.opts.url, {
      protocolVersion: 4,
      clientId: this.opts.clientId ?? fleetGatewayId(this.opts.devices),
      username: this.opts.username,
      password: this.opts.password,
      reconnectPeriod: 200,
    });
    // the broker may still be starting (an embedded broker listens once its flow has started):
    // connection errors are retried until a deadline
    await new Promise<void>((resolve, reject) => {
      let lastError = '';
      const onError = (err: Error) => (lastError = err.message);
      const t = setTimeout(() => {
        this.client.off('error', onError);
        reject(new Error(`fleet could not connect to ${this.opts.url}: ${lastError}`));
      }, 10000);
      this.client.on('error', onError);
      this.client.once('connect', () => {
        clearTimeout(t);
        this.client.off('error', onError);
        resolve();
      });
    });
    (this.client.stream as unknown as { setNoDelay?: (b: boolean) => void }).setNoDelay?.(true);
    this.client.on('message', (topic, payload) => this.onMessage(topic, payload));
    if (this.opts.remanageOnReconnect) this.client.on('connect', () => this.opts.devices.forEach((d) => this.manage(d)));
    await this.client.subscribeAsync('iotdm-1/type/+/id/+/#', { qos: 1 });
  }

  private onMessage(topic: string, payload: Buffer): void {
    const parts = topic.split('/');
    const device = { typeId: parts[2], deviceId: parts[4] };
    const path = parts.slice(5).join('/');
    const body = JSON.parse(payload.toString());
    if (path === 'response') {
      this.responses.set(body.reqId, { rc: body.rc, topic });
      if (body.rc === 200 && String(body.reqId).startsWith('manage-')) {
        this.managed++;
        this.manageWaiters.splice(0).forEach((w) => w());
      }
      return;
    }
    if (path === 'device/update' || path === 'observe' || path === 'cancel' || path.startsWith('mgmt/initiate/firmware/'))
      return this.onFirmware(device, path, body);
    const m = /^mgmt\/initiate\/device\/(reboot|factory_reset)$/.exec(path);
    if (!m) return;
    const action = m[1] as 'reboot' | 'factory_reset';
    this.actions.push({ device, action, reqId: body.reqId });
    const fault = this.faults.next(device.deviceId);
    if (fault === 'timeout') return;
    if (fault === 'fail') return this.publish(device, 'response', { reqId: body.reqId, rc: 500, message: 'simulated failure' });
    const answer = this.opts.onAction?.(device, action, body.reqId) ?? { rc: 202, remanageAfterMs: 5 };
    if (answer.silent) return;
    this.publish(device, 'response', { reqId: body.reqId, rc: answer.rc, ...(answer.message ? { message: answer.message } : {}) });
    if (answer.remanageAfterMs !== undefined) setTimeout(() => this.manage(device), answer.remanageAfterMs);
  }

  /**
   * The firmware steps (docs/protocol.md §3.9): device/update 204 (the version described is kept),
   * observe 200, download 202 then downloading and downloaded, update 202 then in progress and
   * success, then (after the cancel of the observation) a manage reporting the new version (or the old one for an oldVersion fault).
   */
  private onFirmware(device: DeviceRef, path: string, body: { reqId: string; d?: { fields?: { field: string; value?: { version?: string } }[] } }): void {
    const answer = (rc: number, message?: string) => this.publish(device, 'response', { reqId: body.reqId, rc, ...(message ? { message } : {}) });
    const notify = (value: Record<string, unknown>) => this.publish(device, 'notify', { d: { fields: [{ field: 'mgmt.firmware', value }] } });
    if (path === 'device/update') {
      const v = body.d?.fields?.find((f) => f.field === 'mgmt.firmware')?.value?.version;
      if (v) this.described.set(device.deviceId, v);
      return answer(204);
    }
    if (path === 'observe') return answer(200);
    if (path === 'cancel') {
      answer(200);
      // an installed image runs after a restart: the device manages again once the platform closed its observation
      if (this.installed.delete(device.deviceId)) setTimeout(() => this.manage(device), 5);
      return;
    }
    const action = path === 'mgmt/initiate/firmware/update' ? 'firmware/update' : 'firmware/download';
    this.actions.push({ device, action, reqId: body.reqId });
    const fault = this.faults.next(device.deviceId);
    if (fault === 'timeout') return;
    if (fault === 'fail') return answer(500, 'simulated failure');
    answer(202);
    if (action === 'firmware/download') {
      notify({ state: 1 });
      notify({ state: 2 });
      return;
    }
    notify({ updateStatus: 1 });
    notify({ state: 0, updateStatus: 0 });
    if (!this.faults.keepsOldVersion(device.deviceId)) this.versions.set(device.deviceId, this.described.get(device.deviceId) ?? '1.0.0');
    this.installed.add(device.deviceId);
  }

  publish(device: DeviceRef, path: string, body: unknown): void {
    this.client.publish(`iotdevice-1/type/${device.typeId}/id/${device.deviceId}/${path}`, typeof body === 'string' ? body : JSON.stringify(body), { qos: 1 });
  }

  manage(device: DeviceRef): void {
    this.publish(device, 'mgmt/manage', {
      reqId: `manage-${device.typeId}-${device.deviceId}-${Math.random().toString(16).slice(2, 8)}`,
      d: {
        lifetime: 3600,
        supports: this.opts.supports ?? { deviceActions: true, firmwareActions: false },
        deviceInfo: { model: 'sim', fwVersion: this.versions.get(device.deviceId) ?? '1.0.0' },
      },
    });
  }

  /** Every device manages; resolves when the platform answered 200 to all of them. */
  async manageAll(timeoutMs = 10000): Promise<void> {
    const target = this.managed + this.opts.devices.length;
    for (const d of this.opts.devices) this.manage(d);
    const deadline = Date.now() + timeoutMs;
    while (this.managed < target) {
      if (Date.now() > deadline) throw new Error(`only ${this.managed}/${target} manage requests answered`);
      await new Promise<void>((r) => {
        this.manageWaiters.push(r);
        setTimeout(r, 50);
      });
    }
  }

  async stop(): Promise<void> {
    await this.client.endAsync(true);
  }
}

export function devices(n: number, typeId = 'sim', prefix = 'dev'): DeviceRef[] {
  return Array.from({ length: n }, (_, i) => ({ typeId, deviceId: `${prefix}-${String(i).padStart(4, '0')}` }));
}
