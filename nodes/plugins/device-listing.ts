/**
 * Pages of the platform's registry for user interfaces (the editor's device-management sidebar):
 * one compact row per device, filtered by type and by an id substring, sorted by type then id, with
 * the count of devices per type. A page costs two passes over the registry (the query, the type counts) and one sort: a
 * few milliseconds at 5,000 devices; only the page's rows are built and sent.
 */
import type { DeviceRecord, Registry } from '../platform/registry';
import type { Supports } from '../protocol/messages';
import type { DeviceRef } from '../protocol/topics';
import { offsetPage } from '../platform/paging';

export type DeviceState = 'managed' | 'dormant' | 'unmanaged';

export interface DeviceRow {
  typeId: string;
  deviceId: string;
  state: DeviceState;
  supports: Supports;
  /** deviceInfo.fwVersion */
  fwVersion?: string;
  /** mgmt.firmware.state: 0 idle, 1 downloading, 2 downloaded */
  fwState?: number;
  /** mgmt.firmware.updateStatus: 0 success, 1 in progress, 2..6 failures */
  fwUpdateStatus?: number;
  lastActivityDateTime: string;
}

export interface DeviceFilter {
  typeId?: string;
  search?: string;
}

export interface DevicePage {
  /** devices matching the filter */
  total: number;
  offset: number;
  limit: number;
  /** every type of the registry with its device count (unfiltered), sorted by type */
  types: { typeId: string; count: number }[];
  devices: DeviceRow[];
}

function stateOf(d: DeviceRecord): DeviceState {
  return d.managed ? 'managed' : d.dormant ? 'dormant' : 'unmanaged';
}

function rowOf(d: DeviceRecord): DeviceRow {
  const row: DeviceRow = {
    typeId: d.typeId,
    deviceId: d.deviceId,
    state: stateOf(d),
    supports: { ...d.supports },
    lastActivityDateTime: d.lastActivityDateTime,
  };
  const fwVersion = d.deviceInfo?.fwVersion;
  if (typeof fwVersion === 'string' && fwVersion !== '') row.fwVersion = fwVersion;
  const fw = d.mgmt?.firmware;
  if (fw && typeof fw.state === 'number') row.fwState = fw.state;
  if (fw && typeof fw.updateStatus === 'number') row.fwUpdateStatus = fw.updateStatus;
  return row;
}

function typeCounts(registry: Registry): { typeId: string; count: number }[] {
  const counts = new Map<string, number>();
  for (const d of registry.list()) counts.set(d.typeId, (counts.get(d.typeId) ?? 0) + 1);
  return [...counts].map(([typeId, count]) => ({ typeId, count })).sort((a, b) => (a.typeId < b.typeId ? -1 : a.typeId > b.typeId ? 1 : 0));
}

/** One page of the devices matching `filter` (offset and limit are clamped, never refused). */
export function listDevices(registry: Registry, filter: DeviceFilter & { offset?: number; limit?: number } = {}): DevicePage {
  const { total, offset, limit, rows } = offsetPage(registry.query(filter), filter.offset, filter.limit);
  return { total, offset, limit, types: typeCounts(registry), devices: rows.map(rowOf) };
}

/** Every device matching `filter`, as the refs of a request body ("all of a type", "all"). */
export function deviceRefs(registry: Registry, filter: DeviceFilter = {}, opts: { managedOnly?: boolean } = {}): DeviceRef[] {
  const out: DeviceRef[] = [];
  for (const d of registry.query(filter)) {
    if (opts.managedOnly && !d.managed) continue;
    out.push({ typeId: d.typeId, deviceId: d.deviceId });
  }
  return out;
}
