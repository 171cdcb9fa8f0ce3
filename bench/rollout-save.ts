/**
 * `npm run bench:rollout-save [-- devices changed]`: what one save of a running rollout costs, on
 * the platform's journal (nodes/storage/journal.ts, fdatasync on, in a temporary directory).
 * A rollout of 50,000 devices half done (25,000 succeeded, 5,000 in flight, the rest pending) has
 * 1,000 devices changed since its last save, as:
 * - `batch`: 1,000 consecutive devices (one launch turn of the rollout);
 * - `inFlight`: 1,000 random devices among the 5,000 in flight (results arriving in any order);
 * - `scattered`: 1,000 random devices among all 50,000 (retries spread over the list: the worst case);
 * - `paced`: 20 devices, 10 launched and 10 finished just before them (a rollout paced at a few a second).
 * Rows: `whole` is the rollout as one value (the store before the chunks), the others the header
 * plus the chunks of changed devices (rollout-store.ts). Per row: the time the save holds the event
 * loop (serialising; median of 15), the bytes it adds to the journal, and the chunks written.
 * The last line: loading the rollout back (reassembly and recount) from the chunks and as one value.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Journal } from '../nodes/storage/journal';
import { initialPace } from '../nodes/platform/rollout/pace';
import { platformRolloutStore, ROLLOUTS_COLLECTION } from '../nodes/platform/rollout/rollout-store';
import { DEVICES_PER_CHUNK, zeroCounts, type DeviceEntry, type RolloutData, type WaveData } from '../nodes/platform/rollout/state';

const [N = 50_000, CHANGED = 1_000] = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => n > 0);
const RUNS = 15;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

function rollout(n: number): RolloutData {
  const waveSize = 5000;
  const waves: WaveData[] = [];
  for (let start = 0, index = 0; start < n; start += waveSize, index++) {
    const size = Math.min(waveSize, n - start);
    waves.push({ index, start, size, state: 'pending', counts: { ...zeroCounts(), total: size, pending: size } });
  }
  const devices: DeviceEntry[] = Array.from({ length: n }, (_, i) => ({
    typeId: 'scale',
    deviceId: `d${String(i).padStart(6, '0')}`,
    wave: Math.floor(i / waveSize),
    state: 'pending',
    attempts: 0,
  }));
  for (let i = 0; i < Math.min(n, n / 2 + 5000); i++) {
    const e = devices[i];
    e.attempts = 1;
    if (i < n / 2) {
      e.state = 'success';
      e.rc = 202;
    } else {
      e.state = 'inProgress';
      e.reqId = `4f1c2a3e-9b7d-4c11-8e2f-${String(Math.floor(i / 1000)).padStart(12, '0')}`;
    }
  }
  const now = new Date().toISOString();
  const data: RolloutData = {
    version: 1,
    rolloutId: '7d4a1c52-3f0e-4b8a-9c61-2e5d7f9a0b13',
    definition: { action: 'device/reboot', select: { typeId: 'scale' }, waves: { size: waveSize } },
    state: 'running',
    origin: 'api',
    createdDateTime: now,
    updatedDateTime: now,
    startedDateTime: now,
    counts: zeroCounts(),
    currentWave: Math.floor(n / 2 / waveSize) + 1,
    waves,
    devices,
    pace: initialPace(undefined, Date.now()),
  };
  for (const w of waves) w.counts = zeroCounts();
  for (const e of devices) {
    for (const c of [data.counts, waves[e.wave].counts]) {
      c.total++;
      c[e.state]++;
    }
  }
  return data;
}

/** `count` distinct indices in [from, to) */
function pick(count: number, from: number, to: number): number[] {
  const out = new Set<number>();
  while (out.size < Math.min(count, to - from)) out.add(from + Math.floor(Math.random() * (to - from)));
  return [...out];
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rollout-save-'));
  const file = path.join(dir, 'journal.jsonl');
  const journal = new Journal({ file, compactMinLines: Number.MAX_SAFE_INTEGER });
  await journal.load();
  const store = platformRolloutStore(journal, () => undefined);
  const data = rollout(N);
  const size = () => fs.statSync(file).size;
  const rows: Record<string, unknown>[] = [];

  async function measure(name: string, save: () => void, changed?: () => number[]): Promise<void> {
    const ms: number[] = [];
    const bytes: number[] = [];
    let chunks = 0;
    let idxCount = 0;
    for (let run = 0; run < RUNS; run++) {
      const idx = changed?.() ?? [];
      idxCount = idx.length;
      for (const i of idx) data.devices[i].reason = `run ${run}`;
      chunks = new Set(idx.map((i) => Math.floor(i / DEVICES_PER_CHUNK))).size;
      await journal.flush();
      const before = size();
      const t = performance.now();
      save();
      ms.push(performance.now() - t);
      await journal.flush();
      bytes.push(size() - before);
    }
    const row = { save: name, devices: N, changed: changed ? idxCount : N, chunksWritten: changed ? chunks : '—', ms: round(median(ms)) };
    rows.push({ ...row, kbWritten: round(median(bytes) / 1024, 1) });
  }

  let idx: number[] = [];
  const chunksOf = () => new Set(idx.map((i) => Math.floor(i / DEVICES_PER_CHUNK)));
  await measure('whole (one value)', () => journal.put(ROLLOUTS_COLLECTION, data.rolloutId, data));
  await measure('chunks, new list', () => void store.save(data));
  const half = Math.floor(N / 2);
  const scenarios: [string, () => number[]][] = [
    ['chunks, batch', () => Array.from({ length: Math.min(CHANGED, N - half) }, (_, k) => half + k)],
    ['chunks, inFlight', () => pick(CHANGED, half, Math.min(N, half + 5000))],
    ['chunks, scattered', () => pick(CHANGED, 0, N)],
    // a paced rollout: 10 devices launched, 10 of the 100 before them finished
    ['chunks, paced (20)', () => [...Array.from({ length: 10 }, (_, k) => half + 5000 + k), ...pick(10, half + 4900, half + 5000)]],
  ];
  for (const [name, gen] of scenarios) {
    await measure(
      name,
      () => void store.save(data, chunksOf()),
      () => (idx = gen()),
    );
  }
  console.table(rows);

  // loading back: the chunked form (reassembly, recount) and the one value
  await journal.close();
  const reread = new Journal({ file });
  const loaded = await reread.load();
  let t = performance.now();
  const fromChunks = await platformRolloutStore(reread, () => loaded).load();
  const chunkedLoadMs = performance.now() - t;
  if (fromChunks[0]?.devices.length !== N || fromChunks[0].counts.success !== data.counts.success) throw new Error('the rollout did not load back whole');
  const one = new Map([[ROLLOUTS_COLLECTION, new Map([[data.rolloutId, JSON.parse(JSON.stringify(data)) as unknown]])]]);
  t = performance.now();
  await platformRolloutStore(reread, () => one).load();
  const wholeLoadMs = performance.now() - t;
  await reread.close();
  console.log(`load: ${round(chunkedLoadMs)} ms from ${Math.ceil(N / DEVICES_PER_CHUNK)} chunks (reassembly, recount), ${round(wholeLoadMs)} ms as one value`);
  console.log(JSON.stringify({ rows, chunkedLoadMs: round(chunkedLoadMs), wholeLoadMs: round(wholeLoadMs) }));
  fs.rmSync(dir, { recursive: true, force: true });
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    console.error(err);
    process.exit(1);
  },
);
