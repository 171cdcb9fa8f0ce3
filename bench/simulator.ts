/**
 * The device simulator of the benchmark, run as a child process (child_process.fork) so the
 * platform's event-loop figures measure the platform alone. It is shared by the floor and by the
 * platform run, so their ratio compares protocol cost only.
 *
 * A few gateway-style mqtt.js clients (protocol version 4, TCP_NODELAY) each speak for a share of
 * the devices: subscribed to `iotdm-1/type/T/id/D/#` of each of its devices, answering on
 * `iotdevice-1/type/T/id/D/...` at QoS 1:
 *   reboot / factory_reset → 202, then a manage request (the device is back);
 *   device/update → 204 (keeps the mgmt.firmware value); observe → 200 with that value;
 *   firmware/download → 202, notify {state: 1}, notify {state: 2};
 *   firmware/update → 202, notify {updateStatus: 1}, notify {state: 0, updateStatus: 0};
 *   cancel → 200; anything else → 501. Responses to the device (manage answers) are ignored.
 * Faults (bench/faults.ts), when given: chosen devices answer an initiate with 500 or not at all,
 * and after an update manage again reporting their new version, or their old one.
 */
import { performance } from 'node:perf_hooks';
import mqtt, { type MqttClient } from 'mqtt';
import type { SimCommand, SimReply } from './sim-protocol';
import type { FirmwareAttributes } from '../nodes/protocol/messages';
import { FaultPlan } from './faults';

/** concurrent connects at most (listen backlogs overflow at thousands, docs/protocol.md §10) */
const CONNECT_CONCURRENCY = 200;
/** filters per SUBSCRIBE packet */
const SUBSCRIBE_CHUNK = 500;

type Firmware = FirmwareAttributes;

const clients: MqttClient[] = [];
const owner = new Map<string, MqttClient>();
const firmware = new Map<string, Firmware>();
let typeId = '';
let deviceIds: string[] = [];
let received = 0;
let sent = 0;
let errors = 0;
let manageSeq = 0;
/** chosen devices fail (500), time out (no answer) or keep their old version after an update */
let faults = new FaultPlan();
/** the manage storm under way */
let storm: { t0: number; answered: number } | undefined;
const filtersOf = new Map<MqttClient, string[]>();

async function subscribeAll(): Promise<void> {
  await Promise.all(
    clients.map(async (c) => {
      const f = filtersOf.get(c)!;
      for (let k = 0; k < f.length; k += SUBSCRIBE_CHUNK) await subscribe(c, f.slice(k, k + SUBSCRIBE_CHUNK));
    }),
  );
}

/** After a broker restart: every client connects again and subscribes again (clean sessions). */
async function reconnectAll(): Promise<void> {
  await Promise.all(
    clients.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.connected) return resolve();
          // errors (the broker still starting) are retried by the caller's timeout, not here
          c.once('connect', () => resolve());
          c.reconnect();
        }),
    ),
  );
  await subscribeAll();
  reply({ type: 'reconnected' });
}

/** Every device manages at once; `stormed` is sent when the last 200 arrives. */
function manageStorm(): void {
  storm = { t0: performance.now(), answered: 0 };
  for (const d of deviceIds) void publish(owner.get(d)!, `iotdevice-1/type/${typeId}/id/${d}/mgmt/manage`, manageBody(d));
}

function reply(r: SimReply): void {
  process.send?.(r);
}

/**
 * What a client writes during one event-loop turn (answers, PUBACKs) leaves in one write: devices
 * are separate machines in real life, so the simulator keeps its own CPU share on this machine low
 * (mqtt.js alone makes a syscall of each packet). The same for floor and ours.
 */
const corked = new WeakSet<MqttClient>();
function coalesce(client: MqttClient): void {
  if (corked.has(client)) return;
  const stream = client.stream as unknown as { cork?: () => void; uncork?: () => void };
  if (!stream?.cork || !stream.uncork) return;
  stream.cork();
  corked.add(client);
  setImmediate(() => {
    corked.delete(client);
    stream.uncork!();
  });
}

function publish(client: MqttClient, topic: string, body: unknown): Promise<void> {
  sent++;
  coalesce(client);
  return new Promise((resolve) => {
    client.publish(topic, JSON.stringify(body), { qos: 1 }, (err) => {
      if (err) errors++;
      resolve();
    });
  });
}

function manageBody(deviceId: string): Record<string, unknown> {
  return {
    reqId: `m-${++manageSeq}`,
    d: {
      lifetime: 0,
      supports: { deviceActions: true, firmwareActions: true },
      deviceInfo: { serialNumber: deviceId, manufacturer: 'iotdm-bench', model: 'sim', fwVersion: firmware.get(deviceId)?.version || '1.0.0' },
    },
  };
}

function fw(deviceId: string): Firmware {
  let f = firmware.get(deviceId);
  if (!f) firmware.set(deviceId, (f = { version: '1.0.0', name: '', uri: '', verifier: '', state: 0, updateStatus: 0, updatedDateTime: '' }));
  return f;
}

function onMessage(client: MqttClient, topic: string, payload: Buffer): void {
  received++;
  coalesce(client);
  // iotdm-1/type/T/id/D/<path>
  const parts = topic.split('/');
  if (parts.length < 6 || parts[0] !== 'iotdm-1') return;
  const path = parts.slice(5).join('/');
  if (path === 'response') {
    // the platform's answer to our manage: counted during a storm
    if (storm && payload.includes('"rc":200')) storm.answered++;
    if (storm && storm.answered === deviceIds.length) {
      const s = storm;
      storm = undefined;
      reply({ type: 'stormed', ms: performance.now() - s.t0 });
    }
    return;
  }
  const t = parts[2];
  const deviceId = parts[4];
  let req: { reqId?: string; d?: { fields?: { field?: string; value?: Partial<Firmware> }[] } };
  try {
    req = JSON.parse(payload.toString('utf8'));
  } catch {
    errors++;
    return;
  }
  const reqId = req.reqId;
  const base = `iotdevice-1/type/${t}/id/${deviceId}/`;
  const answer = (rc: number, d?: unknown): void => void publish(client, `${base}response`, d === undefined ? { reqId, rc } : { reqId, rc, d });
  const notify = (value: Partial<Firmware>): void => void publish(client, `${base}notify`, { d: { fields: [{ field: 'mgmt.firmware', value }] } });
  if (path.startsWith('mgmt/initiate/')) {
    const fault = faults.next(deviceId);
    if (fault === 'timeout') return;
    if (fault === 'fail') {
      answer(500);
      return;
    }
  }
  switch (path) {
    case 'mgmt/initiate/device/reboot':
    case 'mgmt/initiate/device/factory_reset':
      answer(202);
      void publish(client, `${base}mgmt/manage`, manageBody(deviceId));
      return;
    case 'device/update': {
      const v = req.d?.fields?.find((f) => f.field === 'mgmt.firmware')?.value;
      if (v) Object.assign(fw(deviceId), v);
      answer(204);
      return;
    }
    case 'observe':
      answer(200, { fields: [{ field: 'mgmt.firmware', value: fw(deviceId) }] });
      return;
    case 'mgmt/initiate/firmware/download': {
      const f = fw(deviceId);
      answer(202);
      f.state = 1;
      notify({ state: 1 });
      f.state = 2;
      notify({ state: 2 });
      return;
    }
    case 'mgmt/initiate/firmware/update': {
      const f = fw(deviceId);
      answer(202);
      f.updateStatus = 1;
      notify({ updateStatus: 1 });
      f.state = 0;
      f.updateStatus = 0;
      notify({ state: 0, updateStatus: 0 });
      // with faults set, an updated device restarts and manages, reporting its version (or its old one)
      if (faults.faults.oldVersion || faults.faults.fail || faults.faults.timeout) {
        if (faults.keepsOldVersion(deviceId)) f.version = '1.0.0';
        void publish(client, `${base}mgmt/manage`, manageBody(deviceId));
      }
      return;
    }
    case 'cancel':
      answer(200);
      return;
    default:
      answer(501);
  }
}

function connectOne(url: string, index: number): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(url, {
      clientId: `iotdm-bench-sim-${process.pid}-${index}`,
      protocolVersion: 4,
      clean: true,
      keepalive: 120,
      reconnectPeriod: 0,
      connectTimeout: 30000,
    });
    client.once('connect', () => {
      (client.stream as unknown as { setNoDelay?: (b: boolean) => void }).setNoDelay?.(true);
      resolve(client);
    });
    client.once('error', reject);
    client.on('message', (topic, payload) => onMessage(client, topic, payload));
    client.on('error', () => undefined); // a broker restart (manage-storm): reconnected on command
  });
}

function subscribe(client: MqttClient, filters: string[]): Promise<void> {
  return new Promise((resolve, reject) => client.subscribe(filters, { qos: 1 }, (err) => (err ? reject(err) : resolve())));
}

async function start(cmd: Extract<SimCommand, { type: 'start' }>): Promise<void> {
  typeId = cmd.typeId;
  faults = new FaultPlan(cmd.faults);
  deviceIds = Array.from({ length: cmd.devices }, (_, i) => `d${String(i).padStart(5, '0')}`);
  const n = Math.max(1, Math.min(cmd.clients, cmd.devices));
  for (let i = 0; i < n; i += CONNECT_CONCURRENCY) {
    const batch = await Promise.all(Array.from({ length: Math.min(CONNECT_CONCURRENCY, n - i) }, (_, j) => connectOne(cmd.url, i + j)));
    clients.push(...batch);
  }
  // device j belongs to client j mod n
  const shares: string[][] = clients.map(() => []);
  deviceIds.forEach((d, j) => {
    owner.set(d, clients[j % n]);
    shares[j % n].push(`iotdm-1/type/${typeId}/id/${d}/#`);
  });
  clients.forEach((c, i) => filtersOf.set(c, shares[i]));
  await subscribeAll();
  reply({ type: 'ready', clients: n, devices: deviceIds.length });
}

async function manageAll(): Promise<void> {
  await Promise.all(deviceIds.map((d) => publish(owner.get(d)!, `iotdevice-1/type/${typeId}/id/${d}/mgmt/manage`, manageBody(d))));
  reply({ type: 'managed' });
}

async function stop(): Promise<void> {
  await Promise.all(clients.map((c) => new Promise<void>((r) => c.end(false, {}, () => r()))));
  process.exit(0);
}

process.on('message', (cmd: SimCommand) => {
  const run = async () => {
    switch (cmd.type) {
      case 'start':
        return start(cmd);
      case 'manage':
        return manageAll();
      case 'stats':
        reply({ type: 'stats', received, sent, errors });
        received = sent = errors = 0;
        return;
      case 'stop':
        return stop();
      case 'reconnect':
        return reconnectAll();
      case 'storm':
        return manageStorm();
    }
  };
  run().catch((err: Error) => reply({ type: 'error', message: err.message }));
});
// the parent went away: do not linger
process.on('disconnect', () => process.exit(0));
