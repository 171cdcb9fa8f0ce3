/**
 * The target of a rollout: its explicit device list, or the devices of the registry that match its
 * selection (type, deviceInfo and metadata fields, a firmware version to leave out, support of the
 * action), frozen when the rollout starts: devices that manage later are not added.
 */
import type { DeviceRef } from '../../protocol/topics';
import type { DeviceRecord, Registry } from '../registry';
import { planFor } from '../plans';
import { ValidationError } from '../../protocol/validate';
import { MAX_SELECTED_DEVICES, type RolloutDefinition, type Selection } from './definition';

export function matches(rec: DeviceRecord, sel: Selection, requires: string): boolean {
  if (sel.typeId !== undefined) {
    if (typeof sel.typeId === 'string' ? rec.typeId !== sel.typeId : !sel.typeId.includes(rec.typeId)) return false;
  }
  if (sel.supportsAction !== false && (!rec.managed || !rec.supports[requires])) return false;
  if (sel.fwVersionNot !== undefined && rec.deviceInfo.fwVersion === sel.fwVersionNot) return false;
  for (const [k, v] of Object.entries(sel.deviceInfo ?? {})) if (rec.deviceInfo[k] !== v) return false;
  for (const [k, v] of Object.entries(sel.metadata ?? {})) if (rec.metadata[k] !== v) return false;
  return true;
}

/** The frozen target, in a stable order (type, then id) for a selection, as given for a list. */
export function resolveTarget(def: RolloutDefinition, registry: Registry): DeviceRef[] {
  if (def.devices) return def.devices.map((d) => ({ typeId: d.typeId, deviceId: d.deviceId }));
  const sel = def.select ?? {};
  const requires = planFor(def.action).requires;
  const out: DeviceRef[] = [];
  for (const rec of registry.list()) {
    if (!matches(rec, sel, requires)) continue;
    if (out.length >= MAX_SELECTED_DEVICES) throw new ValidationError(`the selection matches more than ${MAX_SELECTED_DEVICES} devices`);
    out.push({ typeId: rec.typeId, deviceId: rec.deviceId });
  }
  return out.sort((a, b) => (a.typeId === b.typeId ? (a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : 0) : a.typeId < b.typeId ? -1 : 1));
}
