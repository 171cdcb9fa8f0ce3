/**
 * Devices for the chaos scenarios: real mqtt.js clients (several devices each, as gateways), that
 * behave as devices do through broker crashes: they reconnect, subscribe again and send a manage
 * request on every connect (IBM's clients and iotdm-device do), and their QoS 1 publishes made while
 * offline go out on reconnect. Each keeps its mgmt.firmware as firmware-state does: a download is
 * accepted in state 0 only, an update in state 2 only (400 otherwise), so a later firmware/update
 * tells which devices really downloaded. A reboot answers 202 and manages `rebootMs` later.
 */
import mqtt, { type MqttClient } from 'mqtt';
import type { FirmwareAttributes } from '../../nodes/protocol/messages';

export interface ChaosFleetOptions {
  url: string;
  devices: number;
  clients?: number;
  typeId?: string;
  /** ms between a reboot's 202 and the manage of the restarted device */
  rebootMs?: number;
  /** ms a download (state 1 → 2) and an install take */
  downloadMs?: number;
  installMs?: number;
}

/** a simulated device's mgmt.firmware: the protocol's seven keys */
type Firmware = FirmwareAttributes;

export class ChaosFleet {
  readonly typeId: string;
  readonly ids: string[];
  private readonly clients: MqttClient[] = [];
  private readonly owner = new Map<string, MqttClient>();
  readonly firmware = new Map<string, Firmware>();
  /** reboots each device performed (a request asked again may reboot a device twice) */
  readonly reboots = new Map<string, number>();
  /** manage answers received, with the time each arrived (ms) */
  readonly manageAnswers: number[] = [];
  private seq = 0;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(readonly opts: ChaosFleetOptions) {
    this.typeId = opts.typeId ?? 'chaos';
    this.ids = Array.from({ length: opts.devices }, (_, i) => `c${String(i).padStart(5, '0')}`);
    for (const id of this.ids) {
      this.firmware.set(id, { version: '1.0.0', name: 'fw', uri: '', verifier: '', state: 0, updateStatus: 0, updatedDateTime: '' });
    }
  }

  get refs(): { typeId: string; deviceId: string }[] {
    return this.ids.map((deviceId) => ({ typeId: this.typeId, deviceId }));
  }

  async start(manageOnConnect = true): Promise<void> {
    const n = Math.max(1, Math.min(this.opts.clients ?? 10, this.ids.length));
    const shares: string[][] = Array.from({ length: n }, () => []);
    this.ids.forEach((id, j) => shares[j % n].push(id));
    await Promise.all(
      shares.map(
        (share, i) =>
          new Promise<void>((resolve, reject) => {
            const client = mqtt.connect(this.opts.url, {
              clientId: `chaos-${process.pid}-${i}`,
              protocolVersion: 4,
              clean: true,
              reconnectPeriod: 250,
              connectTimeout: 10000,
              keepalive: 30,
            });
            this.clients.push(client);
            for (const id of share) this.owner.set(id, client);
            const filters = share.map((id) => `iotdm-1/type/${this.typeId}/id/${id}/#`);
            client.on('message', (topic, payload) => this.onMessage(client, topic, payload));
            client.on('error', () => undefined); // reconnects by itself
            let first = true;
            client.on('connect', () => {
              const initial = first;
              first = false;
              (client.stream as unknown as { setNoDelay?: (b: boolean) => void }).setNoDelay?.(true);
              // subscribe first, then manage: the platform may answer the manage with its requests
              client.subscribe(filters, { qos: 1 }, (err) => {
                if (initial) {
                  if (err) reject(err);
                  else resolve();
                }
                if (!err && (manageOnConnect || !initial)) for (const id of share) this.manage(id);
              });
            });
          }),
      ),
    );
  }

  manage(id: string): void {
    const reqId = `manage-${id}-${++this.seq}`;
    this.publish(id, 'mgmt/manage', {
      reqId,
      d: {
        lifetime: 0,
        supports: { deviceActions: true, firmwareActions: true },
        deviceInfo: { model: 'chaos', fwVersion: this.firmware.get(id)!.version },
      },
    });
  }

  /** Every device manages once; resolves when all got their 200 (answers arrive in manageAnswers). */
  async manageAll(timeoutMs = 60000): Promise<void> {
    const target = this.manageAnswers.length + this.ids.length;
    for (const id of this.ids) this.manage(id);
    const deadline = Date.now() + timeoutMs;
    while (this.manageAnswers.length < target) {
      if (Date.now() > deadline) throw new Error(`only ${this.manageAnswers.length}/${target} manage answers`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  private publish(id: string, path: string, body: unknown): void {
    this.owner.get(id)!.publish(`iotdevice-1/type/${this.typeId}/id/${id}/${path}`, JSON.stringify(body), { qos: 1 });
  }

  private later(ms: number, f: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      f();
    }, ms);
    this.timers.add(t);
  }

  private onMessage(_client: MqttClient, topic: string, payload: Buffer): void {
    const parts = topic.split('/');
    const id = parts[4];
    const path = parts.slice(5).join('/');
    let body: { reqId?: string; rc?: number; d?: { fields?: { field?: string; value?: Partial<Firmware> }[] } };
    try {
      body = JSON.parse(payload.toString());
    } catch {
      return;
    }
    if (path === 'response') {
      if (String(body.reqId).startsWith('manage-') && body.rc === 200) this.manageAnswers.push(Date.now());
      return;
    }
    const fw = this.firmware.get(id);
    if (!fw) return;
    const answer = (rc: number, d?: unknown) => this.publish(id, 'response', d === undefined ? { reqId: body.reqId, rc } : { reqId: body.reqId, rc, d });
    const notify = (value: Partial<Firmware>) => {
      Object.assign(fw, value);
      this.publish(id, 'notify', { d: { fields: [{ field: 'mgmt.firmware', value }] } });
    };
    switch (path) {
      case 'mgmt/initiate/device/reboot':
        this.reboots.set(id, (this.reboots.get(id) ?? 0) + 1);
        answer(202);
        this.later(this.opts.rebootMs ?? 500, () => this.manage(id));
        return;
      case 'device/update': {
        const v = body.d?.fields?.find((f) => f.field === 'mgmt.firmware')?.value;
        if (v) Object.assign(fw, { version: v.version ?? fw.version, name: v.name ?? fw.name, uri: v.uri ?? fw.uri, verifier: v.verifier ?? fw.verifier });
        return answer(204);
      }
      case 'observe':
        return answer(200, { fields: [{ field: 'mgmt.firmware', value: { ...fw } }] });
      case 'cancel':
        return answer(200);
      case 'mgmt/initiate/firmware/download':
        if (fw.state !== 0) return answer(400);
        answer(202);
        notify({ state: 1 });
        this.later(this.opts.downloadMs ?? 500, () => notify({ state: 2 }));
        return;
      case 'mgmt/initiate/firmware/update':
        if (fw.state !== 2) return answer(400);
        answer(202);
        notify({ updateStatus: 1 });
        this.later(this.opts.installMs ?? 300, () => notify({ state: 0, updateStatus: 0 }));
        return;
      default:
        answer(501);
    }
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await Promise.all(this.clients.map((c) => c.endAsync(true)));
  }
}
