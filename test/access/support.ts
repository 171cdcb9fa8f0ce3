/**
 * The demo's flow (examples/simulated-fleet.json) as `npm start` runs it — its broker lets in
 * enrolled devices only, gateways auto-enrol the devices they manage, the gateway's token is a
 * Node-RED credential — loaded in the test helper so that a test can reach the platform node (its
 * enrolment and its broker's throttle). Plus one MQTT connection attempt as an intruder makes it.
 */
import fs from 'node:fs';
import path from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { loadFlow, getNode, type FlowNode, type NodeModule } from '../support/nodered';
import type { PlatformNode } from '../../nodes/shared/platform-node';
import { redRequire } from '../support/red';

const ROOT = path.join(__dirname, '..', '..', '..');
// the core nodes of the Node-RED under test (4.1, or 5.0 with IOTDM_NODE_RED: test/support/red.ts)
const core = (p: string): NodeModule => redRequire(`@node-red/nodes/core/${p}`);

export const NODES: NodeModule[] = [
  require('../../nodes/iotdm-platform'),
  require('../../nodes/mgmt-request'),
  require('../../nodes/iotdm-device'),
  require('../../nodes/device-responder'),
  require('../../nodes/firmware-state'),
  core('common/20-inject.js'),
  core('common/25-catch.js'),
  core('common/90-comment.js'),
  core('function/10-function.js'),
  core('function/89-delay.js'),
  core('function/15-change.js'),
  core('network/21-httpin.js'),
];

export interface Demo {
  platform: PlatformNode;
  url: string;
  gatewayToken: string;
  /** every device of the demo's gateway */
  devices: { typeId: string; deviceId: string }[];
}

/** Load the demo as `npm start` prepares it, enrol its gateway and wait until its 100 devices are managed. */
export async function loadDemo(port: number, gatewayToken: string): Promise<Demo> {
  const flow = JSON.parse(fs.readFileSync(path.join(ROOT, 'examples', 'simulated-fleet.json'), 'utf8')) as FlowNode[];
  const creds: Record<string, Record<string, string>> = {};
  let platformId = '';
  for (const n of flow) {
    if (n.type === 'iotdm-platform') {
      Object.assign(n, { port, access: 'enrolled', gatewayPolicy: 'auto' });
      platformId = n.id;
    }
    if (n.type === 'iotdm-device') {
      n.broker = `mqtt://127.0.0.1:${port}`;
      creds[n.id] = { password: gatewayToken };
    }
    if (n.type === 'debug') n.type = 'helper';
  }
  await loadFlow(NODES, flow, creds);
  const platform = getNode<PlatformNode>(platformId);
  await platform.ready;
  // as scripts/start-demo.js does over the API (POST /bulk/devices/add)
  const added = await platform.enrolment.add([{ typeId: 'gateway', deviceId: 'gw-1', classId: 'Gateway', authToken: gatewayToken }], 'http');
  if (!added[0].success) throw new Error(`enrolment failed: ${added[0].error}`);
  const devices = Array.from({ length: 100 }, (_, i) => ({ typeId: 'sim', deviceId: `sim-${String(i + 1).padStart(3, '0')}` }));
  const deadline = Date.now() + 15000;
  while (platform.platform.registry.get(devices[99])?.managed !== true) {
    if (Date.now() > deadline) throw new Error('the demo gateway did not manage its devices');
    await new Promise((r) => setTimeout(r, 100));
  }
  return { platform, url: `mqtt://127.0.0.1:${port}`, gatewayToken, devices };
}

export type Attempt = { client: MqttClient; error?: undefined } | { client?: undefined; error: Error };

/** One CONNECT: the connected client, or the reason it was refused. */
export function attempt(url: string, opts: IClientOptions): Promise<Attempt> {
  return new Promise((resolve) => {
    const client = mqtt.connect(url, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 30000, ...opts });
    const fail = (error: Error) => {
      client.end(true);
      resolve({ error });
    };
    client.once('connect', () => {
      client.off('error', fail);
      client.on('error', () => undefined);
      resolve({ client });
    });
    client.once('error', fail);
    client.once('close', () => fail(new Error('closed before CONNACK')));
  });
}

/** Wait until `pred` holds (polling), or throw after `ms`. */
export async function until(pred: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
