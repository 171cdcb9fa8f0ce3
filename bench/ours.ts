/**
 * "Ours": the platform stack as the iotdm-platform config node builds it, without Node-RED: a
 * Connection subscribed to PLATFORM_SUBSCRIPTION feeding Platform.handleMessage, the Platform
 * publishing through the Connection. Every device manages first (not timed); then one
 * `platform.requests.initiate(body)` for the whole fleet is timed until its `requestComplete`.
 */
import { performance } from 'node:perf_hooks';
import { Connection } from '../nodes/transport/connection';
import { Platform } from '../nodes/platform/platform';
import type { RequestManagerOptions } from '../nodes/platform/request-manager';
import type { MgmtRequest } from '../nodes/platform/management-request';
import { PLATFORM_SUBSCRIPTION, type DeviceRef } from '../nodes/protocol/topics';
import { collectGarbage, ProcessMonitor, type RunFigures } from './measure';
import { requestBody, ROLLOUT_WAVE, BENCH_TYPE, type Scenario } from './scenarios';
import { RolloutManager } from '../nodes/platform/rollout/rollout-manager';
import type { Simulator } from './sim-handle';
import { subscribedConnection } from './connection-ready';
import type { BenchBroker } from './brokers';

export interface OursResult extends RunFigures {
  ms: number;
}

export async function runOurs(
  broker: Pick<BenchBroker, 'url' | 'link'>,
  devices: DeviceRef[],
  scenario: Scenario,
  sim: Simulator,
  monitor: ProcessMonitor,
  options: RequestManagerOptions,
  timeoutMs: number,
  faulty = false,
): Promise<OursResult> {
  const conn = new Connection({
    url: broker.url,
    link: broker.link,
    clientId: `iotdm-bench-platform-${process.pid}`,
    protocolVersion: 4,
    reconnectPeriod: 0,
    keepalive: 120,
  });
  const platform = new Platform((topic, payload) => conn.publish(topic, payload, 1), options);
  const invalid: string[] = [];
  platform.on('invalid', (err, info) => invalid.push(`${info.topic}: ${err.message}`));
  try {
    conn.subscribe(PLATFORM_SUBSCRIPTION, 1, (topic, payload) => platform.handleMessage(topic, payload));
    await subscribedConnection(conn, 15_000);

    // the fleet manages (not timed)
    await new Promise<void>((resolve, reject) => {
      let managed = 0;
      const t = setTimeout(() => reject(new Error(`manage: ${managed}/${devices.length} devices after ${timeoutMs} ms`)), timeoutMs);
      platform.on('deviceRequest', (name) => {
        if (name === 'manage' && ++managed === devices.length) {
          clearTimeout(t);
          resolve();
        }
      });
      sim.manageAll().catch(reject);
    });
    // let the manage answers drain before the clock starts
    await new Promise((r) => setTimeout(r, 200));

    if (scenario.rollout) return await timedRollout(platform, devices.length, scenario, monitor, timeoutMs, faulty);
    const body = requestBody(scenario, devices);
    collectGarbage();
    monitor.start();
    const t0 = performance.now();
    const req = await new Promise<MgmtRequest>((resolve, reject) => {
      const t = setTimeout(() => {
        const r = platform.requests.list({ _limit: 1 }).results[0];
        reject(new Error(`${scenario.action}: not complete after ${timeoutMs} ms (${JSON.stringify(r?.counts)})`));
      }, timeoutMs);
      let id = '';
      platform.requests.on('requestComplete', (r) => {
        if (r.id !== id) return;
        clearTimeout(t);
        resolve(r);
      });
      id = platform.requests.initiate(body, { origin: 'bench' }).id;
    });
    const ms = performance.now() - t0;
    const m = monitor.stop();
    if (req.counts.success !== devices.length) {
      const failed = req.executions.find((e) => e.outcome !== 'success');
      throw new Error(
        `${scenario.action}: ${req.counts.success}/${devices.length} succeeded (${JSON.stringify(req.counts)}); e.g. ${failed?.deviceId}: ${failed?.message}` +
          (invalid.length ? `; invalid inbound: ${invalid[0]}` : ''),
      );
    }
    if (invalid.length) throw new Error(`${invalid.length} inbound message(s) were invalid, e.g. ${invalid[0]}`);
    return { ms, ...m };
  } finally {
    platform.close();
    await conn.close(3000);
  }
}

/**
 * The rollout scenario: the same reboots through a RolloutManager above the request engine, the
 * registry's devices selected and cut into waves of ROLLOUT_WAVE, no pacing and no gate; timed from
 * create() to the state `completed`. With faults, every device must end (success or not).
 */
async function timedRollout(
  platform: Platform,
  n: number,
  scenario: Scenario,
  monitor: ProcessMonitor,
  timeoutMs: number,
  faulty: boolean,
): Promise<OursResult> {
  const rollouts = new RolloutManager(platform.requests, platform.registry);
  try {
    collectGarbage();
    monitor.start();
    const t0 = performance.now();
    const r = rollouts.create({ action: scenario.action, select: { typeId: BENCH_TYPE }, waves: { size: ROLLOUT_WAVE } }, 'bench');
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`rollout: not complete after ${timeoutMs} ms (${JSON.stringify(r.data.counts)})`)), timeoutMs);
      rollouts.on('state', (e) => {
        if (e.rolloutId !== r.id || !['completed', 'aborted', 'cancelled'].includes(e.state)) return;
        clearTimeout(t);
        resolve();
      });
    });
    const ms = performance.now() - t0;
    const m = monitor.stop();
    const c = r.data.counts;
    if (r.data.state !== 'completed' || c.total !== n || (!faulty && c.success !== n)) {
      throw new Error(`rollout: ${r.data.state} ${r.data.reason ?? ''} ${JSON.stringify(c)} of ${n} devices`);
    }
    return { ms, ...m };
  } finally {
    await rollouts.close();
  }
}
