/**
 * The chaos scenarios of issue 11, shared by the test (chaos.test.ts, in `npm test`) and the
 * report (`npm run chaos -- --json out.json`, run.ts). Real parts only: Debian's mosquitto killed
 * with SIGKILL, the Node-RED process running the platform killed with SIGKILL, devices as real
 * mqtt.js clients (chaos-fleet.ts).
 *
 * Each scenario gives one row: {scenario, devices, success, failure, timedOut, cancelled, stuck,
 * countedTwice, lostAfterRestart, wallMs}, plus what its must-show needs (`detail`).
 */
import fs from 'node:fs';
import { Platform } from '../../nodes/platform/platform';
import { Connection } from '../../nodes/transport/connection';
import { attachPlatform } from '../../nodes/shared/attach-platform';
import type { MgmtRequest } from '../../nodes/platform/management-request';
import { startMosquitto, type RunningMosquitto } from '../support/mosquitto';
import { startNodeRed, type NodeRedProcess } from '../support/node-red-process';
import { ChaosFleet } from '../support/chaos-fleet';

export interface ChaosRow {
  scenario: string;
  devices: number;
  success: number;
  failure: number;
  timedOut: number;
  cancelled: number;
  /** still in progress when the scenario's bound ran out */
  stuck: number;
  /** devices whose result was reported more than once, or counts that add up to more than the devices */
  countedTwice: number;
  /** devices (or the request) the platform no longer knew after its restart */
  lostAfterRestart: number;
  wallMs: number;
  detail?: Record<string, unknown>;
}

/** a broker that keeps sessions across its own restart: what the platform's persistent session needs */
export const MOSQUITTO_PERSISTENT = 'persistence true\nautosave_interval 1';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const FIRMWARE = [
  { name: 'uri', value: 'http://127.0.0.1:9/fw-2.0.0.bin' },
  { name: 'version', value: '2.0.0' },
  { name: 'name', value: 'fw' },
];

/** Wait until mosquitto has saved its database after `t` (ms), so a SIGKILL keeps what was there. */
async function savedSince(broker: RunningMosquitto, t: number, boundMs = 15_000): Promise<void> {
  const deadline = Date.now() + boundMs;
  for (;;) {
    const m = fs.statSync(broker.persistenceFile, { throwIfNoEntry: false })?.mtimeMs ?? 0;
    if (m > t) return;
    if (Date.now() > deadline) throw new Error(`mosquitto did not save its sessions within ${boundMs} ms`);
    await sleep(50);
  }
}

function waitComplete(p: Platform, req: MgmtRequest, boundMs: number): Promise<void> {
  return new Promise((resolve) => {
    if (req.complete) return resolve();
    const t = setTimeout(done, boundMs);
    function done() {
      clearTimeout(t);
      p.requests.off('requestComplete', on);
      resolve();
    }
    const on = (r: MgmtRequest) => r === req && done();
    p.requests.on('requestComplete', on);
  });
}

function rowOf(scenario: string, req: MgmtRequest, reported: Map<string, number>, wallMs: number): ChaosRow {
  const c = req.counts;
  const twice = [...reported.values()].filter((n) => n > 1).length;
  const over = Math.max(0, c.success + c.failure + c.timedOut + c.cancelled + c.inProgress - c.total);
  return {
    scenario,
    devices: c.total,
    success: c.success,
    failure: c.failure,
    timedOut: c.timedOut,
    cancelled: c.cancelled,
    stuck: c.inProgress,
    countedTwice: twice + over,
    lostAfterRestart: 0,
    wallMs,
    detail: { reasons: reasonsOf(req) },
  };
}

/** how many devices ended for each reason other than success */
function reasonsOf(req: MgmtRequest): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of req.executions) if (e.outcome !== 'success') out[`${e.outcome}: ${e.message ?? ''}`] = (out[`${e.outcome}: ${e.message ?? ''}`] ?? 0) + 1;
  return out;
}

/**
 * mosquitto SIGKILLed `killAfterMs` into a request to every device, started again 2 s later. The
 * platform is the stack the iotdm-platform node builds (Connection + attachPlatform + Platform), in
 * this process, with a persistent session. For firmware/download, a firmware/update follows, and
 * the detail says which devices it found downloaded against those reported successful.
 */
export async function brokerKill(action: 'device/reboot' | 'firmware/download', devices: number, killAfterMs = 50): Promise<ChaosRow[]> {
  const broker = await startMosquitto(MOSQUITTO_PERSISTENT);
  let connection: Connection | undefined;
  let fleet: ChaosFleet | undefined;
  const platform = new Platform((topic, payload) => connection!.publish(topic, payload, 1), {
    responseTimeoutMs: 20_000,
    restartTimeoutMs: 30_000,
    downloadTimeoutMs: 30_000,
    installTimeoutMs: 30_000,
    requestTimeoutMs: 60_000,
  });
  try {
    connection = new Connection({ url: broker.url, clientId: 'chaos-platform', clean: false, reconnectPeriod: 300 });
    attachPlatform(connection, platform);
    while (connection.state !== 'connected') await sleep(10);
    fleet = new ChaosFleet({ url: broker.url, devices, rebootMs: 600, downloadMs: 600 });
    await fleet.start(false);
    await fleet.manageAll();
    // the broker's autosave (every second) holds the platform's session and subscription
    await savedSince(broker, Date.now());
    const rows: ChaosRow[] = [];
    const run = async (scenario: string, body: Record<string, unknown>, kill: boolean) => {
      const reported = new Map<string, number>();
      const onDevice = (r: MgmtRequest, e: { key: string }) => r.id === req.id && reported.set(e.key, (reported.get(e.key) ?? 0) + 1);
      platform.requests.on('deviceComplete', onDevice);
      const t0 = Date.now();
      const req = platform.requests.initiate(body);
      if (kill) {
        await sleep(killAfterMs);
        await broker.kill();
        await sleep(2000);
        await broker.restart();
      }
      await waitComplete(platform, req, 90_000);
      platform.requests.off('deviceComplete', onDevice);
      const row = rowOf(scenario, req, reported, Date.now() - t0);
      rows.push(row);
      return { req, row };
    };
    const first = await run(
      `broker-kill/${action}`,
      { action, devices: fleet.refs, ...(action === 'firmware/download' ? { parameters: FIRMWARE } : {}) },
      true,
    );
    first.row.detail = { ...first.row.detail, reboots: action === 'device/reboot' ? [...fleet.reboots.values()].reduce((a, b) => a + b, 0) : undefined };
    if (action === 'firmware/download') {
      const downloaded = new Set(first.req.executions.filter((e) => e.outcome === 'success').map((e) => e.deviceId));
      // what the devices themselves hold: downloaded (state 2) and waiting for the update
      const holding = fleet.ids.filter((id) => fleet!.firmware.get(id)!.state === 2).length;
      const update = await run('broker-kill/firmware/update-after', { action: 'firmware/update', devices: fleet.refs, parameters: FIRMWARE }, false);
      const updated = new Set(update.req.executions.filter((e) => e.outcome === 'success').map((e) => e.deviceId));
      update.row.detail = {
        ...update.row.detail,
        reportedDownloaded: downloaded.size,
        updateFound: updated.size,
        /** reported successful but the update found them not downloaded, or the reverse */
        mismatch: [...downloaded].filter((d) => !updated.has(d)).length + [...updated].filter((d) => !downloaded.has(d)).length,
        devicesHoldingTheDownload: holding,
      };
    }
    return rows;
  } finally {
    platform.close();
    await fleet?.stop();
    await connection?.close(1000);
    await broker.stop();
  }
}

/** A Node-RED flow: one iotdm-platform on `url` with a persistent session, the HTTP API on. */
function platformFlow(url: string) {
  return {
    flows: [
      { id: 'tab1', type: 'tab', label: 'chaos' },
      {
        id: 'chaosp1',
        type: 'iotdm-platform',
        broker: 'external',
        url,
        clientId: 'chaos-nr-platform',
        cleanSession: false,
        responseTimeout: 20,
        restartTimeout: 30,
        requestTimeout: 120,
        api: true,
        apiRoot: '/api/v0002',
        persist: true,
      },
      { id: 'chaosr1', type: 'iotdm-mgmt-request', z: 'tab1', platform: 'chaosp1', follow: 'all', deviceOutput: 'all', wires: [['chaosc1'], [], []] },
      {
        id: 'chaosc1',
        type: 'function',
        z: 'tab1',
        func: "const n = (global.get('chaosResults') || 0) + 1; global.set('chaosResults', n); return null;",
        outputs: 0,
        wires: [],
      },
    ],
    credentials: { chaosp1: { apiKey: 'chaos', apiToken: 'chaos-token' } },
  };
}

const AUTH = 'Basic ' + Buffer.from('chaos:chaos-token').toString('base64');
async function api(nr: NodeRedProcess, path: string, init: RequestInit = {}): Promise<{ status: number; body: any }> {
  const r = await fetch(`${nr.url}/api/v0002${path}`, {
    ...init,
    headers: { authorization: AUTH, 'content-type': 'application/json', ...(init.headers ?? {}) },
  });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : undefined };
}

async function platformReady(nr: NodeRedProcess, boundMs = 20000): Promise<{ devices: number; state: string }> {
  const deadline = Date.now() + boundMs;
  for (;;) {
    const r = await fetch(`${nr.url}/iotdm/platforms`).then(
      (x) => x.json() as Promise<{ state?: string; devices: number }[]>,
      () => [],
    );
    if (r[0]?.state === 'connected') return { devices: r[0].devices, state: r[0].state };
    if (Date.now() > deadline) throw new Error(`the platform did not connect: ${JSON.stringify(r)}`);
    await sleep(50);
  }
}

/**
 * The Node-RED process running the platform SIGKILLed `killAfterMs` into a reboot of every device
 * (devices take `rebootMs` to come back), then started again on the same user directory, as the
 * README says. The request must be listed, complete, and give every device one named state.
 */
export async function nodeRedKillRequest(devices: number, killAfterMs = 1000): Promise<ChaosRow> {
  const broker = await startMosquitto(MOSQUITTO_PERSISTENT);
  const { flows, credentials } = platformFlow(broker.url);
  let nr: NodeRedProcess | undefined;
  const fleet = new ChaosFleet({ url: broker.url, devices, rebootMs: 2000 });
  try {
    nr = await startNodeRed({ flows, credentials });
    await platformReady(nr);
    await fleet.start(false);
    await fleet.manageAll();
    const t0 = Date.now();
    const launched = await api(nr, '/mgmt/requests', { method: 'POST', body: JSON.stringify({ action: 'device/reboot', devices: fleet.refs }) });
    if (launched.status !== 202) throw new Error(`launch: ${launched.status} ${JSON.stringify(launched.body)}`);
    const id: string = launched.body.reqId;
    await sleep(killAfterMs);
    const before = await api(nr, `/mgmt/requests/${id}`);
    await nr.kill();
    const userDir = nr.userDir;
    nr = await startNodeRed({ flows, credentials, userDir });
    await platformReady(nr);
    let details = await api(nr, `/mgmt/requests/${id}`);
    const listed = details.status === 200;
    const deadline = Date.now() + 60_000;
    while (listed && !details.body.complete && Date.now() < deadline) {
      await sleep(200);
      details = await api(nr, `/mgmt/requests/${id}`);
    }
    const rows = listed ? (await api(nr, `/mgmt/requests/${id}/deviceStatus?_limit=5000`)).body.results : [];
    // the device results the resumed request gave the flow (a mgmt-request node following every request)
    const ctx = await fetch(`${nr.url}/context/global/chaosResults`).then(
      (r) => r.json() as Promise<{ msg?: string }>,
      () => ({}) as { msg?: string },
    );
    const resultsToFlow = Number(ctx.msg ?? 0);
    const keys = new Set(rows.map((r: { typeId: string; deviceId: string }) => `${r.typeId}:${r.deviceId}`));
    const named = rows.filter((r: { status: number; complete: boolean }) => r.complete && [0, 2, 3].includes(r.status)).length;
    const c = listed ? details.body.counts : { success: 0, failure: 0, timedOut: 0, cancelled: 0, inProgress: devices, total: devices };
    return {
      scenario: 'node-red-kill/device/reboot',
      devices,
      success: c.success,
      failure: c.failure,
      timedOut: c.timedOut,
      cancelled: c.cancelled,
      stuck: c.inProgress,
      countedTwice: rows.length - keys.size + Math.max(0, c.success + c.failure + c.timedOut + c.cancelled + c.inProgress - c.total),
      lostAfterRestart: listed ? devices - keys.size : devices,
      wallMs: Date.now() - t0,
      detail: {
        listed,
        complete: listed && details.body.complete === true,
        rowsWithNamedState: named,
        resultsToFlowAfterRestart: resultsToFlow,
        beforeKill: before.body?.counts,
        messages: [...new Set(rows.map((r: { message?: string }) => r.message ?? ''))].slice(0, 5),
      },
    };
  } finally {
    await fleet.stop();
    await nr?.stop();
    await broker.stop();
  }
}

/**
 * `devices` devices manage; the Node-RED process running the platform is SIGKILLed the moment the
 * last 200 arrives, then started again: how many devices does the registry hold? Those answered
 * within the store's loss bound before the kill may be missing (`detail.withinBound`).
 */
export async function nodeRedKillRegistry(devices: number, boundMs = 100): Promise<ChaosRow> {
  const broker = await startMosquitto();
  const { flows, credentials } = platformFlow(broker.url);
  let nr: NodeRedProcess | undefined;
  const fleet = new ChaosFleet({ url: broker.url, devices });
  try {
    nr = await startNodeRed({ flows, credentials });
    await platformReady(nr);
    await fleet.start(false);
    const t0 = Date.now();
    await fleet.manageAll();
    await nr.kill();
    const killedAt = Date.now();
    const withinBound = fleet.manageAnswers.filter((t) => t > killedAt - boundMs).length;
    await fleet.stop();
    nr = await startNodeRed({ flows, credentials, userDir: nr.userDir });
    const { devices: held } = await platformReady(nr);
    return {
      scenario: 'node-red-kill/registry',
      devices,
      success: held,
      failure: 0,
      timedOut: 0,
      cancelled: 0,
      stuck: 0,
      countedTwice: 0,
      lostAfterRestart: devices - held,
      wallMs: Date.now() - t0,
      detail: { boundMs, withinBound, managesInMs: killedAt - t0 },
    };
  } finally {
    await fleet.stop().catch(() => undefined);
    await nr?.stop();
    await broker.stop();
  }
}
