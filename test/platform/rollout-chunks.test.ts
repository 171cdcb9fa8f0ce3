import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Platform } from '../../nodes/platform/platform';
import { persistRequests } from '../../nodes/platform/request-records';
import { persistRegistry, restoreRegistry } from '../../nodes/platform/registry-store';
import type { Collections } from '../../nodes/platform/store';
import { Journal } from '../../nodes/storage/journal';
import { RolloutManager } from '../../nodes/platform/rollout/rollout-manager';
import { platformRolloutStore, rolloutDevicesCollection, ROLLOUTS_COLLECTION } from '../../nodes/platform/rollout/rollout-store';
import { DEVICES_PER_CHUNK, type RolloutData } from '../../nodes/platform/rollout/state';
import { until } from '../firmware/fixtures';

/**
 * A rollout in the platform's journal (a real file): its header under `rollouts`, its devices in
 * chunks of DEVICES_PER_CHUNK under `rollout:<id>`. A save writes the chunks whose devices changed
 * and no other; a platform started again on the journal as a crash left it takes the rollout up
 * from its header and chunks where it was. The platform core runs on a real Journal; the devices
 * answer through Platform.handleMessage, as the broker delivers their messages.
 */
const N = 1200; // three chunks: 0-499, 500-999, 1000-1199
const dev = (i: number) => `d${String(i).padStart(4, '0')}`;

interface Line {
  c: string;
  k?: string;
  v?: unknown;
  d?: 1;
  x?: 1;
}
const linesOf = (file: string, from = 0): Line[] =>
  fs
    .readFileSync(file, 'utf8')
    .slice(from)
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Line);

/** One platform on a journal file: registry, requests and rollouts persisted; the devices `answers` picks answer their reboots. */
async function platformOn(file: string, answers: (i: number) => boolean) {
  const journal = new Journal({ file });
  const loaded: Collections = await journal.load();
  const reboots: { device: string; reqId: string }[] = [];
  const platform: Platform = new Platform(async (topic, payload) => {
    const m = /^iotdm-1\/type\/T\/id\/d(\d+)\/mgmt\/initiate\/device\/reboot$/.exec(topic);
    if (!m) return;
    const { reqId } = JSON.parse(payload) as { reqId: string };
    const device = `d${m[1]}`;
    reboots.push({ device, reqId });
    if (answers(Number(m[1]))) setImmediate(() => answer(device, reqId));
  });
  /** the device accepts the reboot, and manages once it is back */
  const answer = (device: string, reqId: string) => {
    platform.handleMessage(`iotdevice-1/type/T/id/${device}/response`, JSON.stringify({ reqId, rc: 202 }));
    manage(device);
  };
  const manage = (d: string) =>
    platform.handleMessage(
      `iotdevice-1/type/T/id/${d}/mgmt/manage`,
      JSON.stringify({ reqId: `m-${Math.random()}`, d: { supports: { deviceActions: true }, lifetime: 0 } }),
    );
  restoreRegistry(platform.registry, loaded);
  const stops = [persistRequests(platform.requests, journal), persistRegistry(platform.registry, journal)];
  platform.requests.resume(loaded);
  const rollouts = new RolloutManager(platform.requests, platform.registry, { store: platformRolloutStore(journal, () => loaded), saveDelayMs: 10 });
  return {
    journal,
    platform,
    rollouts,
    reboots,
    manage,
    answer,
    /** every change so far on file */
    async saved() {
      await rollouts.flush();
      await journal.flush();
    },
    async close() {
      await rollouts.close();
      stops.forEach((s) => s());
      platform.close();
      await journal.close();
    },
  };
}
type Running = Awaited<ReturnType<typeof platformOn>>;
const headerOf = (lines: Line[], id: string) => lines.filter((l) => l.c === ROLLOUTS_COLLECTION && l.k === id && l.v).pop()?.v as Record<string, unknown>;
const chunkKeys = (lines: Line[], id: string) => lines.filter((l) => l.c === rolloutDevicesCollection(id) && l.v).map((l) => l.k!);

describe('platform/rollout kept in chunks in the journal', function () {
  this.timeout(60000);
  let dir: string;
  const open: Running[] = [];
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rollout-chunks-'));
  });
  afterEach(async () => {
    for (const p of open.splice(0)) await p.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** a platform with the N devices managed, a rollout over them, and once `answered` succeeded and `inFlight` in flight, its state on file */
  async function started(file: string, opts: { maxInFlight: number; answered: number }) {
    const a = await platformOn(file, (i) => i < opts.answered);
    open.push(a);
    for (let i = 0; i < N; i++) a.manage(dev(i));
    const r = a.rollouts.create({ action: 'device/reboot', select: { typeId: 'T' }, waves: { size: N }, rate: { maxInFlight: opts.maxInFlight } });
    await until(
      () => r.data.counts.success === opts.answered && r.inFlightCount === opts.maxInFlight,
      20000,
      `${opts.answered} succeeded, ${opts.maxInFlight} in flight`,
    );
    await a.saved();
    return { a, r };
  }

  it('writes the header and the chunks whose devices changed, and no other', async () => {
    assert.equal(DEVICES_PER_CHUNK, 500);
    const file = path.join(dir, 'platform.jsonl');
    // 100 devices answer, 20 at a time: all in chunk 0
    const { a, r } = await started(file, { maxInFlight: 20, answered: 100 });
    const lines = linesOf(file);
    const keys = chunkKeys(lines, r.id);
    // the target frozen: the three chunks once; then chunk 0 alone
    assert.deepEqual(keys.slice(0, 3), ['0', '1', '2']);
    assert.deepEqual([...new Set(keys.slice(3))], keys.length > 3 ? ['0'] : []);
    const header = headerOf(lines, r.id);
    assert.equal(header.deviceChunks, 3);
    assert.equal(header.devices, undefined, 'the header holds no devices');
    assert.deepEqual((header.counts as { success: number }).success, 100);

    // the 20 in flight (100-119) succeed, 120-139 launch: chunk 0 and the header
    let from = fs.statSync(file).size;
    for (const x of a.reboots.filter((x) => Number(x.device.slice(1)) >= 100)) a.answer(x.device, x.reqId);
    await until(() => r.data.counts.success === 120 && r.inFlightCount === 20, 5000, '120 succeeded');
    await a.saved();
    assert.deepEqual([...new Set(chunkKeys(linesOf(file, from), r.id))], ['0']);
    assert.equal((headerOf(linesOf(file, from), r.id).counts as { success: number }).success, 120);

    // a pause changes no device: the header alone
    from = fs.statSync(file).size;
    a.rollouts.command(r.id, 'pause');
    await a.saved();
    assert.deepEqual(chunkKeys(linesOf(file, from), r.id), []);
    assert.equal(headerOf(linesOf(file, from), r.id).state, 'paused');

    // a cancel ends the devices of every chunk: all three are written
    from = fs.statSync(file).size;
    a.rollouts.command(r.id, 'cancel');
    await a.saved();
    assert.deepEqual([...new Set(chunkKeys(linesOf(file, from), r.id))].sort(), ['0', '1', '2']);
    // removed: the header deleted, the chunks dropped
    from = fs.statSync(file).size;
    assert.ok(a.rollouts.delete(r.id));
    await a.saved();
    const removal = linesOf(file, from);
    assert.ok(removal.some((l) => l.c === ROLLOUTS_COLLECTION && l.k === r.id && l.d));
    assert.ok(removal.some((l) => l.c === rolloutDevicesCollection(r.id) && l.x));
  });

  it('after a crash mid-rollout, a platform started on the journal takes the rollout up from its chunks where it was', async () => {
    const file = path.join(dir, 'platform.jsonl');
    // 700 succeeded (chunks 0 and 1), 700-799 in flight, unanswered
    const { r } = await started(file, { maxInFlight: 100, answered: 700 });
    // a kill -9 now: the journal as it is on file; the first platform writes nothing more there
    const crashed = path.join(dir, 'crashed.jsonl');
    fs.copyFileSync(file, crashed);
    const before = JSON.parse(JSON.stringify(r.data)) as RolloutData;
    assert.equal(headerOf(linesOf(crashed), r.id).deviceChunks, 3);

    const b = await platformOn(crashed, () => true);
    open.push(b);
    assert.equal(await b.rollouts.restore(), 1);
    const again = b.rollouts.get(r.id)!;
    assert.deepEqual(again.data.counts, before.counts, 'the counts it had');
    assert.deepEqual(again.data.waves, before.waves);
    assert.deepEqual(again.data.devices, before.devices);
    await until(() => again.final, 20000, `the rollout completes (${JSON.stringify(again.data.counts)})`);
    assert.equal(again.data.state, 'completed');
    assert.equal(again.data.counts.success, N);
    assert.ok(again.data.devices.every((e) => e.state === 'success' && e.attempts === 1));
    // nothing that had succeeded runs again; a device in flight at the crash is asked again, not launched again
    const rebooted = new Set(b.reboots.map((x) => x.device));
    assert.ok(before.devices.slice(0, 700).every((e) => !rebooted.has(e.deviceId)));
    assert.equal(b.reboots.length, N - 700);
    // its saves after the restart write chunks: the last header says three, completed
    await b.saved();
    const last = headerOf(linesOf(crashed), r.id);
    assert.deepEqual([last.deviceChunks, last.state], [3, 'completed']);
  });

  it('loads a rollout kept as one value (before the chunks) and writes it as chunks at its next save', async () => {
    const file = path.join(dir, 'platform.jsonl');
    const { a, r } = await started(file, { maxInFlight: 10, answered: 0 });
    a.rollouts.command(r.id, 'pause');
    await a.saved();
    // the journal of a platform of before the chunks: the registry, the requests, the rollout as one value
    const legacy = path.join(dir, 'legacy.jsonl');
    const old = linesOf(file).filter((l) => !l.c.startsWith('rollout'));
    old.push({ c: ROLLOUTS_COLLECTION, k: r.id, v: JSON.parse(JSON.stringify(r.data)) });
    fs.writeFileSync(legacy, old.map((l) => JSON.stringify(l)).join('\n') + '\n');

    const b = await platformOn(legacy, () => false);
    open.push(b);
    assert.equal(await b.rollouts.restore(), 1);
    const again = b.rollouts.get(r.id)!;
    assert.equal(again.data.state, 'paused');
    assert.deepEqual(again.data.devices, JSON.parse(JSON.stringify(r.data.devices)));
    b.rollouts.command(r.id, 'resume');
    await b.saved();
    const lines = linesOf(legacy);
    const header = headerOf(lines, r.id);
    assert.equal(header.deviceChunks, 3);
    assert.equal(header.devices, undefined);
    assert.deepEqual(chunkKeys(lines, r.id), ['0', '1', '2']);
  });
});
