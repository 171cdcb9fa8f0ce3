/**
 * `manage-storm` (issue 11): the broker restarts, every device comes back and manages at once, and
 * the platform must answer all of them and keep the registry durable. The simulator times each
 * storm itself, from its first manage published to its last 200 received (sim `storm`).
 *
 * - floor: a plain mqtt.js client answers each manage by echoing its reqId with rc 200, no parsing;
 * - ours, persistence off: the platform stack (Connection + attachPlatform + Platform), registry in
 *   memory only;
 * - ours: the same with the registry written through to a journal (nodes/storage/journal.ts, one
 *   write + fdatasync per 20 ms batch), timed until the last 200 AND the journal's flush: every
 *   change of the storm is durable when the clock stops.
 * The durable-write cost is ours − ours without persistence; the journal's batches and their
 * write+sync time are reported too.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import mqtt, { type MqttClient } from 'mqtt';
import { Connection } from '../nodes/transport/connection';
import { Platform } from '../nodes/platform/platform';
import { Journal } from '../nodes/storage/journal';
import { persistRegistry } from '../nodes/platform/registry-store';
import { attachPlatform } from '../nodes/shared/attach-platform';
import { collectGarbage, median, type ProcessMonitor } from './measure';
import type { BenchBroker } from './brokers';
import type { Simulator } from './sim-handle';

export interface StormFigures {
  floorMs: number;
  noPersistMs: number;
  wallMs: number;
  eventLoopP99Ms: number;
  eventLoopMaxMs: number;
  peakRssMb: number;
  runsMs: number[];
  /** journal batches of one storm, and their mean write + fdatasync time */
  batches: number;
  batchWriteMs: number;
  journalBytes: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (x: number, d = 0) => Math.round(x * 10 ** d) / 10 ** d;

async function until(cond: () => boolean, what: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`manage-storm: ${what} after ${ms} ms`);
    await sleep(5);
  }
}

async function storm(sim: Simulator): Promise<number> {
  return (await sim.request({ type: 'storm' }, 'stormed', 120_000)).ms;
}

/** The raw floor: echo every manage's reqId with rc 200. */
async function floorRun(broker: BenchBroker, sim: Simulator): Promise<number> {
  const client: MqttClient = mqtt.connect(broker.url, { protocolVersion: 4, clientId: `storm-floor-${process.pid}`, reconnectPeriod: 100, clean: true });
  client.on('error', () => undefined);
  const subscribe = () => client.subscribe('iotdevice-1/type/+/id/+/mgmt/manage', { qos: 1 });
  client.on('connect', subscribe);
  client.on('message', (topic, payload) => {
    const reqId = /"reqId":"([^"]+)"/.exec(payload.toString())?.[1];
    client.publish(topic.slice(0, topic.length - 'mgmt/manage'.length).replace('iotdevice-1/', 'iotdm-1/') + 'response', `{"reqId":"${reqId}","rc":200}`, {
      qos: 1,
    });
  });
  try {
    await until(() => client.connected, 'floor connect');
    await sleep(50);
    await broker.restart();
    await sim.request({ type: 'reconnect' }, 'reconnected', 60_000);
    await until(() => client.connected, 'floor reconnect');
    await sleep(100); // its SUBACK
    collectGarbage();
    return await storm(sim);
  } finally {
    await client.endAsync(true);
  }
}

/** The platform stack, with the registry in a journal or in memory only. */
async function oursRun(broker: BenchBroker, sim: Simulator, monitor: ProcessMonitor | undefined, persist: boolean) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iotdm-storm-'));
  const journal = persist ? new Journal({ file: path.join(dir, 'platform.jsonl') }) : undefined;
  if (journal) await journal.load();
  let conn: Connection | undefined;
  const platform = new Platform((topic, payload) => conn!.publish(topic, payload, 1));
  if (journal) persistRegistry(platform.registry, journal);
  conn = new Connection({ url: broker.url, clientId: `storm-platform-${process.pid}`, reconnectPeriod: 100, keepalive: 120 });
  attachPlatform(conn, platform);
  try {
    await until(() => conn!.state === 'connected', 'platform connect');
    await sleep(50);
    await storm(sim); // the fleet is known before the restart (not timed)
    await journal?.flush();
    await broker.restart();
    await sim.request({ type: 'reconnect' }, 'reconnected', 60_000);
    await until(() => conn!.state === 'connected', 'platform reconnect');
    await sleep(100);
    collectGarbage();
    const batches0 = journal?.batches ?? 0;
    monitor?.start();
    const t0 = performance.now();
    await storm(sim);
    await journal?.flush(); // the storm's last change is durable
    const ms = performance.now() - t0;
    const m = monitor?.stop();
    const batches = (journal?.batches ?? 0) - batches0;
    return { ms, m, batches, batchWriteMs: journal?.meanWriteMs ?? 0, bytes: journal ? fs.statSync(path.join(dir, 'platform.jsonl')).size : 0 };
  } finally {
    platform.close();
    await journal?.close();
    await conn.close(2000);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchManageStorm(
  broker: BenchBroker,
  sim: Simulator,
  monitor: ProcessMonitor,
  runs: number,
  log: (s: string) => void,
): Promise<StormFigures> {
  const floor: number[] = [];
  const plain: number[] = [];
  const ours: Awaited<ReturnType<typeof oursRun>>[] = [];
  for (let r = 0; r <= runs; r++) {
    const f = await floorRun(broker, sim);
    const p = await oursRun(broker, sim, undefined, false);
    const o = await oursRun(broker, sim, monitor, true);
    log(
      `  manage-storm ${r === 0 ? 'warm-up' : `run ${r}`}: floor ${round(f)} ms, ours without persistence ${round(p.ms)} ms, ` +
        `ours with the journal ${round(o.ms)} ms (${o.batches} batches, ${round(o.batchWriteMs, 1)} ms each), event loop p99 ${round(o.m!.eventLoopP99Ms, 1)} ms`,
    );
    if (r === 0) continue;
    floor.push(f);
    plain.push(p.ms);
    ours.push(o);
  }
  return {
    floorMs: median(floor),
    noPersistMs: median(plain),
    wallMs: median(ours.map((o) => o.ms)),
    eventLoopP99Ms: median(ours.map((o) => o.m!.eventLoopP99Ms)),
    eventLoopMaxMs: Math.max(...ours.map((o) => o.m!.eventLoopMaxMs)),
    runsMs: ours.map((o) => round(o.ms)),
    peakRssMb: Math.max(...ours.map((o) => o.m!.peakRssMb)),
    batches: median(ours.map((o) => o.batches)),
    batchWriteMs: median(ours.map((o) => o.batchWriteMs)),
    journalBytes: median(ours.map((o) => o.bytes)),
  };
}
