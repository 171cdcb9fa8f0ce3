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
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import mqtt, { type MqttClient } from 'mqtt';
import { PLATFORM_SUBSCRIPTION, type DeviceRef } from '../nodes/protocol/topics';
import { collectGarbage, ProcessMonitor, type RunFigures } from './measure';
import type { FloorOp, Scenario } from './scenarios';

export interface FloorResult extends RunFigures {
  ms: number;
  window: number;
}

function connect(url: string): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(url, {
      clientId: `iotdm-bench-floor-${process.pid}-${Math.random().toString(16).slice(2, 8)}`,
      protocolVersion: 4,
      clean: true,
      reconnectPeriod: 0,
      keepalive: 120,
    });
    client.once('connect', () => {
      (client.stream as unknown as { setNoDelay?: (b: boolean) => void }).setNoDelay?.(true);
      client.subscribe(PLATFORM_SUBSCRIPTION, { qos: 1 }, (err) => (err ? reject(err) : resolve(client)));
    });
    client.once('error', reject);
  });
}

export async function runFloor(
  url: string,
  devices: DeviceRef[],
  scenario: Scenario,
  window: number,
  timeoutMs: number,
  /** called as the last device finishes, before the client disconnects (--profile stops there) */
  onFinish?: () => Promise<void>,
): Promise<FloorResult> {
  const client = await connect(url);
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
          client.publish(topicBase[i] + op.send, JSON.stringify({ reqId: randomUUID(), ...op.body }), { qos: 1 });
        }
      };

      client.on('message', (topic, payload) => {
        // iotdevice-1/type/T/id/D/<path>
        const parts = topic.split('/');
        const i = index.get(parts[4]);
        if (i === undefined) return;
        const op = ops[pos[i]];
        if (!op || !('expect' in op) || parts.slice(5).join('/') !== op.expect) return;
        if (op.answer) {
          const reqId = /"reqId":"([^"]+)"/.exec(payload.toString())?.[1];
          client.publish(topicBase[i] + 'response', `{"reqId":"${reqId}","rc":200}`, { qos: 1 });
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
    await new Promise<void>((r) => client.end(false, {}, () => r()));
  }
}
