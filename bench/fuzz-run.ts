/**
 * One fuzz run (issue 10): a real Node-RED process runs a platform (the v0002 API on) and a gateway
 * of 10 devices (device-responder, firmware-state), both on Debian's mosquitto with the embedded
 * broker's message limit (message_size_limit 131072; the embedded broker itself admits enrolled
 * devices only, and no device may publish the platform's iotdm-1 requests there); an attacker
 * publishes `perTopic` messages of every class of fuzz-payloads.ts to every inbound topic of both
 * sides, paced by sentinels (a valid request on each side whose answer says that everything before
 * it was handled). Then it waits past Node-RED's context flush, and checks that Node-RED is alive,
 * that neither connection was lost, and that a 10-device reboot completes.
 */
import fs from 'node:fs';
import mqtt, { type MqttClient } from 'mqtt';
import { startNodeRed, type NodeRedProcess } from '../test/support/node-red-process';
import { startMosquitto } from '../test/support/mosquitto';
import { CLASSES, Rng, TOPICS, payloadFor, prng, type FuzzClass } from './fuzz-payloads';

export interface FuzzOptions {
  perTopic: number;
  seed: number;
  /** Node-RED's localfilesystem context flushInterval, seconds (Node-RED's default is 30) */
  flushSeconds: number;
  /** the broker's message limit: payloads are never larger (the embedded broker's cap) */
  cap?: number;
  /** a sentinel round every this many messages */
  sentinelEvery?: number;
  log?: (line: string) => void;
}

export interface FuzzCheck {
  name: string;
  ok: boolean;
  detail: string;
}

export interface FuzzReport {
  sent: number;
  topics: number;
  perClass: Record<FuzzClass, number>;
  /** rc of the answers the attacker got, per side */
  rc: { platform: Record<string, number>; device: Record<string, number> };
  rssBeforeMb: number;
  rssAfterMb: number;
  errorLines: number;
  warnLines: number;
  durationMs: number;
  checks: FuzzCheck[];
  passed: number;
  failed: number;
}

const GATEWAY_DEVICES = Array.from({ length: 10 }, (_, i) => `d-${String(i + 1).padStart(3, '0')}`);
const API_AUTH = `Basic ${Buffer.from('fuzz-key:fuzz-token').toString('base64')}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function rssMb(pid: number | undefined): number {
  if (!pid) return NaN;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : NaN;
  } catch {
    return NaN;
  }
}

function flows(url: string): unknown[] {
  return [
    { id: 'fz-tab', type: 'tab', label: 'fuzz' },
    { id: 'fz-p', type: 'iotdm-platform', broker: 'external', url, maxMessage: 128, api: true, apiRoot: '/api/v0002', responseTimeout: 30, restartTimeout: 60 },
    { id: 'fz-gw', type: 'iotdm-device', broker: url, mode: 'gateway', typeId: 'gw', deviceId: 'gw-1', devices: 'dev:d-{001..010}', lifetime: 0 },
    {
      id: 'fz-resp',
      type: 'iotdm-device-responder',
      z: 'fz-tab',
      device: 'fz-gw',
      mode: 'auto',
      reboot: true,
      factoryReset: true,
      timeout: 60,
      wires: [['fz-restart']],
    },
    // the device "restarts" at once: the action message back as a manage completes the reboot
    { id: 'fz-restart', type: 'change', z: 'fz-tab', rules: [{ t: 'set', p: 'topic', pt: 'msg', to: 'manage', tot: 'str' }], wires: [['fz-resp']] },
    { id: 'fz-fw', type: 'iotdm-firmware-state', z: 'fz-tab', device: 'fz-gw', downloader: 'flow', answer: 'auto', timeout: 60, wires: [[]] },
  ];
}

/** Answers seen by the attacker, and the sentinels waited for. */
class Listener {
  readonly rc = { platform: {} as Record<string, number>, device: {} as Record<string, number> };
  private readonly waiting = new Map<string, () => void>();
  readonly managed = new Set<string>();

  constructor(client: MqttClient) {
    client.on('message', (topic, payload) => {
      let body: { reqId?: unknown; rc?: unknown } | undefined;
      try {
        body = JSON.parse(payload.toString('utf8'));
      } catch {
        return;
      }
      const reqId = typeof body?.reqId === 'string' ? body.reqId : '';
      const side = topic.startsWith('iotdm-1/') ? 'platform' : 'device';
      if (topic.startsWith('iotdm-1/type/dev/') || topic.startsWith('iotdm-1/type/gw/')) {
        if (body?.rc === 200) this.managed.add(topic.split('/')[4]);
        return; // the platform's answers to the gateway, not to the attacker
      }
      const w = this.waiting.get(reqId);
      if (w) {
        this.waiting.delete(reqId);
        w();
        return;
      }
      const rc = String(body?.rc);
      this.rc[side][rc] = (this.rc[side][rc] ?? 0) + 1;
    });
  }

  answerTo(reqId: string, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.waiting.delete(reqId);
        resolve(false);
      }, timeoutMs);
      this.waiting.set(reqId, () => {
        clearTimeout(t);
        resolve(true);
      });
    });
  }
}

/** Connect once the embedded broker listens ("Started flows" can come before the platform's broker is up). */
export async function connectWhenUp(url: string, opts: mqtt.IClientOptions): Promise<MqttClient> {
  const until = Date.now() + 20000;
  for (;;) {
    try {
      return await mqtt.connectAsync(url, { ...opts, reconnectPeriod: 0 }).then((c) => {
        c.options.reconnectPeriod = opts.reconnectPeriod ?? 1000;
        return c;
      });
    } catch (err) {
      if (Date.now() > until) throw err;
      await sleep(100);
    }
  }
}

/** What the API answers that the run reads */
interface ApiJson {
  reqId?: string;
  complete?: boolean;
  counts?: Record<string, number>;
}

async function api(nr: NodeRedProcess, method: string, path: string, body?: unknown): Promise<{ status: number; json: ApiJson }> {
  const r = await fetch(`${nr.url}/api/v0002${path}`, {
    method,
    headers: { authorization: API_AUTH, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  let json: ApiJson = {};
  try {
    json = JSON.parse(text) as ApiJson;
  } catch {
    /* not JSON: an empty answer */
  }
  return { status: r.status, json };
}

export async function runFuzz(o: FuzzOptions): Promise<FuzzReport> {
  const log = o.log ?? (() => undefined);
  const cap = o.cap ?? 131072;
  const every = o.sentinelEvery ?? 400;
  const started = Date.now();
  const checks: FuzzCheck[] = [];
  const check = (name: string, ok: boolean, detail = '') => {
    checks.push({ name, ok, detail });
    log(`${ok ? 'pass' : 'FAIL'}  ${name}${detail ? `: ${detail}` : ''}`);
  };
  const broker = await startMosquitto(`message_size_limit ${cap}`);
  const nr = await startNodeRed({
    flows: flows(broker.url),
    credentials: { 'fz-p': { apiKey: 'fuzz-key', apiToken: 'fuzz-token' } },
    // the context flush that killed Node-RED on 5fe85d6 runs every flushSeconds, not every 30 s
    settings: `contextStorage: { default: { module: 'localfilesystem', config: { flushInterval: ${o.flushSeconds} } } },`,
    timeoutMs: 60000,
  });
  const perClass = Object.fromEntries(CLASSES.map((c) => [c, 0])) as Record<FuzzClass, number>;
  let sent = 0;
  let attacker: MqttClient | undefined;
  let attackerDrops = 0;
  try {
    attacker = await connectWhenUp(broker.url, { protocolVersion: 4, reconnectPeriod: 200, clientId: 'fuzz-attacker' });
    attacker.on('close', () => attackerDrops++);
    const listener = new Listener(attacker);
    await attacker.subscribeAsync(['iotdm-1/type/+/id/+/response', 'iotdevice-1/type/dev/id/+/response'], { qos: 0 });
    // the gateway's 10 devices and the gateway itself managed before anything else
    const deadline = Date.now() + 30000;
    while (listener.managed.size < 11 && Date.now() < deadline) await sleep(50);
    check('the gateway and its 10 devices managed before the fuzz', listener.managed.size >= 11, `${listener.managed.size} of 11`);
    await sleep(500);
    const rssBeforeMb = rssMb(nr.pid);

    const r = new Rng(prng(o.seed));
    let sentinel = 0;
    let stalls = 0;
    const sentinels = async () => {
      const a = `sentinel-p${++sentinel}`;
      const b = `sentinel-d${sentinel}`;
      const pa = listener.answerTo(a, 30000);
      const pb = listener.answerTo(b, 30000);
      attacker!.publish('iotdevice-1/type/fz/id/x-000/clear/diag/log', JSON.stringify({ reqId: a }), { qos: 1 });
      attacker!.publish('iotdm-1/type/dev/id/d-001/observe', JSON.stringify({ reqId: b, d: { fields: ['sentinel.none'] } }), { qos: 1 });
      const [okA, okB] = await Promise.all([pa, pb]);
      if (!okA || !okB) stalls++;
      return okA && okB;
    };
    for (let i = 0; i < o.perTopic; i++) {
      for (const t of TOPICS) {
        const topic =
          t.side === 'platform'
            ? `iotdevice-1/type/fz/id/x-${String(i % 50).padStart(3, '0')}/${t.path}`
            : `iotdm-1/type/dev/id/${GATEWAY_DEVICES[i % 10]}/${t.path}`;
        const { cls, payload } = payloadFor(r, t, `f${sent}`, cap);
        perClass[cls]++;
        attacker.publish(topic, payload, { qos: 0 });
        sent++;
        if (sent % every === 0) await sentinels();
      }
      if ((i + 1) % Math.max(1, Math.floor(o.perTopic / 10)) === 0) log(`${sent} sent (${i + 1} per topic), RSS ${rssMb(nr.pid)} MB`);
    }
    await sentinels();
    check('every sentinel round answered on both sides (nothing stalled)', stalls === 0, `${stalls} stalled of ${sentinel}`);

    // past the context flush (and the platform's journal): the crash of finding 1 came from there
    await sleep((o.flushSeconds + 2) * 1000);
    check(
      'Node-RED alive after the flush interval',
      !nr.exited() &&
        (await fetch(nr.url).then(
          (x) => x.ok,
          () => false,
        )),
      nr.exited() ? 'the process ended' : '',
    );
    check('both sides still answer after the flush', !nr.exited() && (await sentinels()));

    // a reboot of the gateway's 10 devices, launched over the API, completes
    const launch = await api(nr, 'POST', '/mgmt/requests', {
      action: 'device/reboot',
      devices: GATEWAY_DEVICES.map((deviceId) => ({ typeId: 'dev', deviceId })),
    });
    let done: ApiJson | undefined;
    if (launch.status === 202) {
      const until = Date.now() + 60000;
      while (Date.now() < until) {
        const s = await api(nr, 'GET', `/mgmt/requests/${launch.json.reqId}`);
        if (s.json?.complete) {
          done = s.json;
          break;
        }
        await sleep(200);
      }
    }
    check(
      'a 10-device reboot launched after the fuzz completes with 10 successes',
      done?.counts?.success === 10,
      `launch ${launch.status}; ${JSON.stringify(done?.counts ?? launch.json).slice(0, 200)}`,
    );

    const out = nr.output();
    const lines = out.split('\n');
    const deviceConnects = lines.filter((l) => /\[iotdm-device:fz-gw\].*connected to mqtt:/.test(l)).length;
    const platformReconnects = lines.filter((l) => /\[iotdm-platform:fz-p\].*connected to the broker again/.test(l)).length;
    const quickCloses = lines.filter((l) => /closed the connection right after connecting/.test(l)).length;
    check('no lost connection: the gateway connected once', deviceConnects === 1, `${deviceConnects} connects`);
    check(
      'no lost connection: the platform never reconnected',
      platformReconnects === 0 && quickCloses === 0,
      `${platformReconnects} reconnects, ${quickCloses} quick-close breaks`,
    );
    check('no crash, no RangeError, no unhandled rejection in the log', !nr.exited() && !/RangeError|Maximum call stack|Unhandled|uncaught/i.test(out));
    check('the attacker itself was never disconnected (every payload within the cap)', attackerDrops === 0, `${attackerDrops}`);
    const rssAfterMb = rssMb(nr.pid);
    const errorLines = lines.filter((l) => /\[error\]/.test(l)).length;
    const warnLines = lines.filter((l) => /\[warn\]/.test(l)).length;
    const failed = checks.filter((c) => !c.ok).length;
    return {
      sent,
      topics: TOPICS.length,
      perClass,
      rc: listener.rc,
      rssBeforeMb,
      rssAfterMb,
      errorLines,
      warnLines,
      durationMs: Date.now() - started,
      checks,
      passed: checks.length - failed,
      failed,
    };
  } finally {
    await attacker?.endAsync(true).catch(() => undefined);
    await nr.stop();
    await broker.stop();
  }
}
