/**
 * A rollout starts: its target is frozen (the explicit list, or the registry's devices that match
 * its selection now) and cut into waves, each device of the plain data given its wave.
 */
import type { Registry } from '../registry';
import { resolveTarget } from './selection';
import { planWaves } from './waves';
import { zeroCounts, type Counts, type DeviceEntry, type RolloutData, type WaveData } from './state';

export interface Frozen {
  waves: WaveData[];
  devices: DeviceEntry[];
  counts: Counts;
}

/** Throws a ValidationError when the selection or the waves exceed their bounds. */
export function freeze(data: RolloutData, registry: Registry): Frozen {
  const targets = resolveTarget(data.definition, registry);
  const planned = planWaves(data.definition, targets.length);
  let start = 0;
  const waves = planned.map((p, index) => {
    const w: WaveData = { index, start, size: p.size, state: 'pending', counts: { ...zeroCounts(), total: p.size, pending: p.size } };
    start += p.size;
    return w;
  });
  const devices: DeviceEntry[] = new Array(targets.length);
  let wave = 0;
  for (let i = 0; i < targets.length; i++) {
    while (i >= waves[wave].start + waves[wave].size) wave++;
    devices[i] = { typeId: targets[i].typeId, deviceId: targets[i].deviceId, wave, state: 'pending', attempts: 0 };
  }
  return { waves, devices, counts: { ...zeroCounts(), total: targets.length, pending: targets.length } };
}
