/**
 * The example flows as tests use them: read from examples/, their brokers moved to free ports (as
 * scripts/start-demo.js does for the demo), deployed into a running Node-RED through its admin API,
 * and the devices each example declares (its iotdm-device nodes, gateway lists expanded).
 */
import fs from 'node:fs';
import path from 'node:path';
import { freePort } from '../support/ports';
import { parseDeviceList } from '../../nodes/device/device-ranges';
import { deviceKey } from '../../nodes/protocol/topics';

export const EXAMPLES = path.join(__dirname, '..', '..', '..', 'examples');

export type FlowNode = Record<string, unknown> & { id: string; type: string; z?: string; wires?: string[][] };

export function readExample(file: string): FlowNode[] {
  return JSON.parse(fs.readFileSync(path.join(EXAMPLES, file), 'utf8')) as FlowNode[];
}

/**
 * Give every embedded broker of the flow a free port, and point the flow's devices (and external
 * platforms) that dialled the old port at the new one. Returns the old → new map.
 */
export async function movePorts(flow: FlowNode[]): Promise<Map<number, number>> {
  const moved = new Map<number, number>();
  for (const n of flow) {
    if (n.type !== 'iotdm-platform' || n.broker === 'external') continue;
    const old = Number(n.port || 1883);
    if (!moved.has(old)) {
      // freePort() answers a port free now: two calls before anything listens may give the same one
      let port = await freePort();
      while ([...moved.values()].includes(port)) port = await freePort();
      moved.set(old, port);
    }
    n.port = moved.get(old);
  }
  const redial = (url: unknown) => {
    if (typeof url !== 'string') return url;
    return url.replace(/^((?:mqtts?|wss?):\/\/[^/:]+):(\d+)/, (all, head: string, port: string) =>
      moved.has(Number(port)) ? `${head}:${moved.get(Number(port))}` : all,
    );
  };
  for (const n of flow) {
    if (n.type === 'iotdm-device') n.broker = redial(n.broker);
    if (n.type === 'iotdm-platform' && n.broker === 'external') n.url = redial(n.url);
  }
  return moved;
}

/** The devices an example's iotdm-device nodes serve, as deviceKey()s (typeId/deviceId). */
export function declaredDevices(flow: FlowNode[]): string[] {
  const out: string[] = [];
  for (const n of flow) {
    if (n.type !== 'iotdm-device') continue;
    out.push(deviceKey({ typeId: String(n.typeId), deviceId: String(n.deviceId) }));
    if (n.mode === 'gateway') {
      const list = parseDeviceList(String(n.devices ?? ''));
      if (list.errors.length) throw new Error(`${n.id}: ${list.errors.join('; ')}`);
      out.push(...list.devices.map(deviceKey));
    }
  }
  return out;
}

/** Replace the running flows (a full deploy), as the editor's Deploy button does. */
export async function deploy(url: string, flow: FlowNode[]): Promise<void> {
  const r = await fetch(`${url}/flows`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'node-red-deployment-type': 'full' },
    body: JSON.stringify(flow),
  });
  if (r.status !== 204 && r.status !== 200) throw new Error(`deploy: HTTP ${r.status} ${await r.text()}`);
}

/** Press an inject node's button, as the editor does. */
export async function press(url: string, injectId: string): Promise<void> {
  const r = await fetch(`${url}/inject/${injectId}`, { method: 'POST' });
  if (r.status !== 200) throw new Error(`inject ${injectId}: HTTP ${r.status} ${await r.text()}`);
}

/** The platform's device registry as it keeps it in its node context (written ~1 s after a change). */
export async function registryOf(
  url: string,
  platformId: string,
): Promise<{ typeId: string; deviceId: string; managed: boolean; deviceInfo: Record<string, string> }[]> {
  // the platform's registry as the sidebar reads it (it lives in the platform's store, not in context)
  const out: { typeId: string; deviceId: string; managed: boolean; deviceInfo: Record<string, string> }[] = [];
  for (let offset = 0; ;) {
    const r = await fetch(`${url}/iotdm/platforms/${platformId}/devices?offset=${offset}&limit=500`);
    if (r.status !== 200) return out;
    const page = (await r.json()) as { total: number; devices: { typeId: string; deviceId: string; state: string; fwVersion?: string }[] };
    for (const d of page.devices) {
      out.push({ typeId: d.typeId, deviceId: d.deviceId, managed: d.state === 'managed', deviceInfo: d.fwVersion ? { fwVersion: d.fwVersion } : {} });
    }
    offset += page.devices.length;
    if (!page.devices.length || offset >= page.total) return out;
  }
}

export async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 15000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
