/**
 * Waves: how a frozen target of `total` devices is cut into successive waves. A single spec repeats
 * until every device has a wave; a list gives the first waves (the first one a canary) and its last
 * entry repeats for the rest. Percentages are of the whole target, rounded up, at least one device.
 */
import { MAX_WAVES, type Gate, type RolloutDefinition, type WaveSpec } from './definition';
import { ValidationError } from '../../protocol/validate';

function sizeOf(spec: WaveSpec, total: number): number {
  if (spec.size !== undefined) return spec.size;
  return Math.max(1, Math.ceil(((spec.percent ?? 100) * total) / 100));
}

export interface PlannedWave {
  size: number;
  gate?: Gate;
}

/** The waves of `total` devices; throws when they would be more than MAX_WAVES. */
export function planWaves(def: RolloutDefinition, total: number): PlannedWave[] {
  const specs = Array.isArray(def.waves) ? def.waves : [def.waves];
  const out: PlannedWave[] = [];
  let left = total;
  for (let i = 0; left > 0; i++) {
    if (out.length >= MAX_WAVES) throw new ValidationError(`the waves would be more than ${MAX_WAVES}: make them larger`);
    const spec = specs[Math.min(i, specs.length - 1)];
    const size = Math.min(left, sizeOf(spec, total));
    out.push({ size, gate: spec.gate ?? def.gate });
    left -= size;
  }
  return out;
}
