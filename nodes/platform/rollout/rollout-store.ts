/**
 * Rollouts kept in the platform's durable store (nodes/platform/store.ts): the collection `rollouts`
 * holds each rollout's header (its data without the devices, and `deviceChunks`, how many chunks
 * hold them), and the collection `rollout:<id>` its devices, DEVICES_PER_CHUNK a key (`0`, `1`, ...).
 * A save writes the header and the chunks whose devices changed (a 50,000-device rollout with 1,000
 * devices changed writes a few hundred KB, not its 10 MB); a new device list (the rollout froze
 * its target) is written whole. The chunks go before the header, all in one synchronous call (one
 * batch of the journal).
 *
 * Load reassembles each rollout from its header and chunks and counts its devices again (the
 * counts of the rollout and of each wave follow its devices' states, whatever the last save held).
 * A rollout kept as one value with its devices (before the chunks) loads as it is; its next save
 * writes it as chunks. A header whose chunks are not all there is not taken up; chunks without a
 * header (a removal cut short) are dropped.
 */
import type { Collections, Store } from '../store';
import { DEVICES_PER_CHUNK, zeroCounts, type DeviceEntry, type RolloutData, type RolloutStore } from './state';

export const ROLLOUTS_COLLECTION = 'rollouts';
/** the collection of one rollout's device chunks */
export const rolloutDevicesCollection = (rolloutId: string) => `rollout:${rolloutId}`;

/** What is kept under `rollouts`: the rollout without its devices. */
export type RolloutHeader = Omit<RolloutData, 'devices'> & { deviceChunks: number };

/** The counts of the rollout and its waves, from its devices' states. */
function recount(data: RolloutData): void {
  data.counts = zeroCounts();
  for (const w of data.waves) w.counts = zeroCounts();
  const count = (c: RolloutData['counts'] | undefined, state: DeviceEntry['state']) => {
    if (!c) return;
    c.total++;
    c[state]++;
  };
  for (const e of data.devices) {
    count(data.counts, e.state);
    count(data.waves[e.wave]?.counts, e.state);
  }
}

/** A rollout from its header and chunks; undefined when a chunk is missing. */
function assemble(header: RolloutHeader, chunks: Map<string, unknown> | undefined): RolloutData | undefined {
  const devices: DeviceEntry[] = [];
  for (let c = 0; c < header.deviceChunks; c++) {
    const chunk = chunks?.get(String(c));
    if (!Array.isArray(chunk)) return undefined;
    for (const e of chunk as DeviceEntry[]) devices.push(e);
  }
  const { deviceChunks: _n, ...rest } = header;
  const data = { ...rest, devices } as RolloutData;
  if (data.counts && Array.isArray(data.waves)) recount(data);
  return data;
}

export function platformRolloutStore(store: Store, loaded: () => Collections | undefined): RolloutStore {
  /** the device list each rollout has whole on file, and its chunk count */
  const onFile = new Map<string, { devices: DeviceEntry[]; chunks: number }>();
  const putChunk = (data: RolloutData, c: number) =>
    store.put(rolloutDevicesCollection(data.rolloutId), String(c), data.devices.slice(c * DEVICES_PER_CHUNK, (c + 1) * DEVICES_PER_CHUNK));
  return {
    async load() {
      const all = loaded();
      const out: RolloutData[] = [];
      for (const [id, value] of all?.get(ROLLOUTS_COLLECTION) ?? []) {
        const header = value as RolloutHeader & { devices?: unknown };
        if (!header || typeof header !== 'object') continue;
        // kept as one value (before the chunks): as it is
        if (Array.isArray(header.devices)) {
          out.push(header as unknown as RolloutData);
          continue;
        }
        if (!Number.isSafeInteger(header.deviceChunks) || header.deviceChunks < 0) continue;
        const data = assemble(header, all?.get(rolloutDevicesCollection(id)));
        if (!data) continue;
        onFile.set(id, { devices: data.devices, chunks: header.deviceChunks });
        out.push(data);
      }
      const prefix = rolloutDevicesCollection('');
      for (const name of all?.keys() ?? []) {
        if (name.startsWith(prefix) && !all?.get(ROLLOUTS_COLLECTION)?.has(name.slice(prefix.length))) store.drop(name);
      }
      return out;
    },
    async save(data, chunks) {
      const id = data.rolloutId;
      const n = Math.ceil(data.devices.length / DEVICES_PER_CHUNK);
      const kept = onFile.get(id);
      if (!chunks || kept?.devices !== data.devices || kept.chunks !== n) {
        store.drop(rolloutDevicesCollection(id));
        for (let c = 0; c < n; c++) putChunk(data, c);
        onFile.set(id, { devices: data.devices, chunks: n });
      } else for (const c of chunks) if (c < n) putChunk(data, c);
      const { devices: _devices, ...rest } = data;
      const header: RolloutHeader = { ...rest, deviceChunks: n };
      store.put(ROLLOUTS_COLLECTION, id, header);
    },
    async remove(rolloutId) {
      onFile.delete(rolloutId);
      store.delete(ROLLOUTS_COLLECTION, rolloutId);
      store.drop(rolloutDevicesCollection(rolloutId));
    },
  };
}
