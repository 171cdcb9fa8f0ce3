/**
 * The floor: the raw round trip of a scenario's message pattern with plain mqtt.js and no protocol
 * logic. One client subscribed to every device-scoped `iotdevice-1` topic publishes each device's
 * requests (same topics, same JSON bodies with a fresh reqId) and moves that device on when the
 * expected kind of message comes back; it never parses a payload or checks an rc, and only answers a
 * device's own request (the manage that ends a reboot) by echoing its reqId with rc 200, as the
 * protocol's message pattern has it. QoS 1 both ways, TCP_NODELAY, like the platform's Connection.
 *
 * `window` bounds the devices awaiting an answer to a publish, with the platform's rule (a device
 * keeps its slot across consecutive exchanges and gives it up while it waits for the device's own
 * message); Infinity publishes to every device at once.
 *
 * `via: 'connection'` (bench --layers) runs the same exchange over our own Connection instead of a
 * plain mqtt.js client: what our transport and the window's refill pattern cost, apart from the
 * platform's code.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import mqtt from 'mqtt';
import { Connection } from '../nodes/transport/connection';
import { PLATFORM_SUBSCRIPTION, type DeviceRef } from '../nodes/protocol/topics';
import { collectGarbage, ProcessMonitor, type RunFigures } from './measure';
import type { FloorOp, Scenario } from './scenarios';
import { subscribedConnection } from './connection-ready';

export interface FloorResult extends RunFigures {
  ms: number;
  window: number;
}

/** Where the floor's exchange goes through: a plain mqtt.js client, or our Connection. */
export type FloorVia = 'mqtt' | 'connection';

interface FloorLink {
  publish(topic: string, payload: string): void;
  onMessage(handler: (topic: string, payload: Buffer) => void): void;
  close(): Promise<void>;
}

const floorClientId = () => `iotdm-bench-floor-${process.pid}-${Math.random().toString(16).slice(2, 8)}`;

function connectMqtt(url: string): Promise<FloorLink> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(url, { clientId: floorClientId(), protocolVersion: 4, clean: true, reconnectPeriod: 0, keepalive: 120 });
    client.once('connect', () => {
      (client.stream as unknown as { setNoDelay?: (b: boolean) => void }).setNoDelay?.(true);
      client.subscribe(PLATFORM_SUBSCRIPTION, { qos: 1 }, (err) => {
        if (err) return reject(err);
        resolve({
          publish: (topic, payload) => client.publish(topic, payload, { qos: 1 }),
          onMessage: (handler) => client.on('message', handler),
          close: () => new Promise<void>((r) => client.end(false, {}, () => r())),
        });
      });
    });
    client.once('error', reject);
  });
}

/** Our Connection, as the platform uses it: publishes as promises, one write a turn, its inbound turn limit. */
async function connectConnection(url: string): Promise<FloorLink> {
  const conn = new Connection({ url, clientId: floorClientId(), protocolVersion: 4, reconnectPeriod: 0, keepalive: 120 });
  let handler: (topic: string, payload: Buffer) => void = () => undefined;
  conn.subscribe(PLATFORM_SUBSCRIPTION, 1, (topic, payload) => handler(topic, payload));
  await subscribedConnection(conn, 15_000);
  return {
    publish: (topic, payload) => void conn.publish(topic, payload, 1).catch(() => undefined),
    onMessage: (h) => (handler = h),
    close: () => conn.close(3000),
  };
}

export async function runFloor(
  url: string,
  devices: DeviceRef[],
  scenario: Scenario,
  window: number,
  timeoutMs: number,
  /** called as the last device finishes, before the client disconnects (--profile stops there) */
  onFinish?: () => Promise<void>,
  via: FloorVia = 'mqtt',
): Promise<FloorResult> {
  const link = await (via === 'connection' ? connectConnection(url) : connectMqtt(url));
  const ops: FloorOp[] = scenario.floor;
  const n = devices.length;
  const index = new Map<string, number>(devices.map((d, i) => [d.deviceId, i]));
  const topicBase = devices.map((d) => `iotdm-1/type/${d.typeId}/id/${d.deviceId}/`);
  const pos = new Int32Array(n);
  const holds = new Uint8Array(n);
  const queue: number[] = [];
  let qHead = 0;
  let inFlight = 0;
  let done = 0;

  try {
    collectGarbage();
    return await new Promise<FloorResult>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`floor ${scenario.action}: ${done}/${n} devices done after ${timeoutMs} ms`)), timeoutMs);
      let t0 = 0;
      // CPU, event loop, GC and RSS as for ours (the profiler, when there is one, is driven by the caller)
      const monitor = new ProcessMonitor();

      const release = (i: number) => {
        if (!holds[i]) return;
        holds[i] = 0;
        inFlight--;
      };
      const pump = () => {
        while (inFlight < window && qHead < queue.length) {
          const i = queue[qHead++];
          holds[i] = 1;
          inFlight++;
          step(i);
        }
      };
      /** run device i's next ops until it waits for something */
      const step = (i: number) => {
        for (;;) {
          const op = ops[pos[i]];
          if (!op) {
            release(i);
            if (++done === n) {
              clearTimeout(timer);
              const ms = performance.now() - t0;
              const result = { ms, window, ...monitor.stop() };
              if (onFinish) onFinish().then(() => resolve(result), reject);
              else resolve(result);
            }
            return;
          }
          if ('expect' in op) {
            // waiting: for an answer the slot stays held, for the device's own message it is given up
            if (op.expect !== 'response') release(i);
            return;
          }
          if (!holds[i]) {
            if (inFlight >= window) {
              queue.push(i);
              return;
            }
            holds[i] = 1;
            inFlight++;
          }
          pos[i]++;
          link.publish(topicBase[i] + op.send, JSON.stringify({ reqId: randomUUID(), ...op.body }));
        }
      };

      link.onMessage((topic, payload) => {
        // iotdevice-1/type/T/id/D/<path>
        const parts = topic.split('/');
        const i = index.get(parts[4]);
        if (i === undefined) return;
        const op = ops[pos[i]];
        if (!op || !('expect' in op) || parts.slice(5).join('/') !== op.expect) return;
        if (op.answer) {
          const reqId = /"reqId":"([^"]+)"/.exec(payload.toString())?.[1];
          link.publish(topicBase[i] + 'response', `{"reqId":"${reqId}","rc":200}`);
        }
        pos[i]++;
        step(i);
        pump();
      });

      monitor.start();
      t0 = performance.now();
      for (let i = 0; i < n; i++) queue.push(i);
      pump();
    });
  } finally {
    await link.close();
  }
}
