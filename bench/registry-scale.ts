/**
 * `npm run bench:registry`: what one device costs the platform at 10,000 and 100,000 devices, in the
 * core (no broker: the MQTT cost per device is the main bench's). Per size: manage (create and
 * re-manage every device through Platform.handleMessage, as the broker delivers them), lookup
 * (Registry.getByKey, µs per look-up), a sidebar page (listDevices: filter, sort, type counts, one page of 50), and
 * the heap each device adds: its registry record, then its rollout state (a rollout over the whole
 * registry, frozen). Figures per device must stay flat from 10,000 to 100,000.
 */
import { performance } from 'node:perf_hooks';
import { Platform } from '../nodes/platform/platform';
import { RolloutManager } from '../nodes/platform/rollout/rollout-manager';
import { listDevices } from '../nodes/plugins/device-listing';
import { collectGarbage } from './measure';

const SIZES = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => n > 0);
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;
const heap = () => {
  collectGarbage();
  collectGarbage();
  return process.memoryUsage().heapUsed;
};

interface Row {
  devices: number;
  manageUsPerDevice: number;
  remanageUsPerDevice: number;
  lookupUs: number;
  pageMs: number;
  pageUsPerDevice: number;
  registryBytesPerDevice: number;
  rolloutBytesPerDevice: number;
}

async function measure(n: number): Promise<Row> {
  const platform = new Platform(() => Promise.resolve());
  const ids = Array.from({ length: n }, (_, i) => `d${String(i).padStart(6, '0')}`);
  const manage = (id: string, i: number) =>
    platform.handleMessage(
      `iotdevice-1/type/scale/id/${id}/mgmt/manage`,
      `{"reqId":"m${i}","d":{"lifetime":0,"supports":{"deviceActions":true,"firmwareActions":true},"deviceInfo":{"serialNumber":"${id}","model":"sim","fwVersion":"1.0.0"}}}`,
    );
  const h0 = heap();
  let t = performance.now();
  ids.forEach(manage);
  const manageMs = performance.now() - t;
  const h1 = heap();
  t = performance.now();
  ids.forEach(manage);
  const remanageMs = performance.now() - t;

  const keys = ids.map((id) => `scale/${id}`);
  t = performance.now();
  let found = 0;
  for (let k = 0; k < 5; k++) for (let i = 0; i < n; i++) if (platform.registry.getByKey(keys[(i * 7919) % n])) found++;
  const lookupMs = (performance.now() - t) / 5;
  if (found !== 5 * n) throw new Error('lookup missed');

  const pages = 5;
  t = performance.now();
  for (let p = 0; p < pages; p++) listDevices(platform.registry, { typeId: 'scale', offset: (p * 997) % n, limit: 50 });
  const pageMs = (performance.now() - t) / pages;

  const rollouts = new RolloutManager(platform.requests, platform.registry);
  await new Promise((res) => setTimeout(res, 100)); // what the managing left behind settles first
  const before = heap();
  // one device a minute: frozen at start (next turn), one device launched, then paused
  const r = rollouts.create({ action: 'device/reboot', select: { typeId: 'scale' }, waves: { size: 5000 }, rate: { perMinute: 1 } });
  await new Promise((res) => setImmediate(res));
  rollouts.command(r.id, 'pause');
  if (r.data.counts.total !== n) throw new Error(`rollout froze ${r.data.counts.total} devices`);
  await new Promise((res) => setTimeout(res, 100));
  const after = heap();
  if (r.data.devices.length !== n) throw new Error('the rollout state is gone');
  await rollouts.close();
  platform.close();
  return {
    devices: n,
    manageUsPerDevice: round((manageMs * 1000) / n),
    remanageUsPerDevice: round((remanageMs * 1000) / n),
    lookupUs: round((lookupMs * 1000) / n, 3),
    pageMs: round(pageMs),
    pageUsPerDevice: round((pageMs * 1000) / n, 3),
    registryBytesPerDevice: Math.round((h1 - h0) / n),
    rolloutBytesPerDevice: Math.round((after - before) / n),
  };
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  for (const n of SIZES.length ? SIZES : [10_000, 100_000]) rows.push(await measure(n));
  console.table(rows);
  console.log(JSON.stringify(rows));
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    console.error(err);
    process.exit(1);
  },
);
