/**
 * The devices behind a gateway, written as text: one `typeId:deviceId` a line. A line may carry one
 * numeric range `{first..last}` in either id, so a simulated fleet of 100 is one line:
 * `sim:dev-{001..100}` gives dev-001 … dev-100 (the width of `first` is kept when it has a leading
 * zero). Blank lines and lines starting with `#` are ignored. No Node-RED import.
 */
import { isValidId, deviceKey, type DeviceRef } from '../protocol/topics';

export const MAX_LISTED_DEVICES = 10000;

export interface DeviceListResult {
  devices: DeviceRef[];
  /** one readable text per bad line, with its line number */
  errors: string[];
}

const RANGE_RE = /\{(\d{1,9})\.\.(\d{1,9})\}/;

function expand(part: string): string[] | string {
  const m = RANGE_RE.exec(part);
  if (!m) return [part];
  if (RANGE_RE.test(part.slice(m.index + m[0].length))) return 'only one range per id';
  const [first, last] = [m[1], m[2]];
  const a = parseInt(first, 10);
  const b = parseInt(last, 10);
  if (b < a) return `range {${first}..${last}} goes down`;
  if (b - a + 1 > MAX_LISTED_DEVICES) return `range {${first}..${last}} is longer than ${MAX_LISTED_DEVICES}`;
  const width = first.length > 1 && first.startsWith('0') ? first.length : 0;
  const head = part.slice(0, m.index);
  const tail = part.slice(m.index + m[0].length);
  const out: string[] = [];
  for (let i = a; i <= b; i++) out.push(head + String(i).padStart(width, '0') + tail);
  return out;
}

export function parseDeviceList(text: string | undefined): DeviceListResult {
  const devices: DeviceRef[] = [];
  const errors: string[] = [];
  const seen = new Set<string>();
  const lines = (text ?? '').split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const where = `line ${i + 1} "${line.length > 60 ? line.slice(0, 60) + '…' : line}"`;
    const parts = line.split(':');
    if (parts.length !== 2) {
      errors.push(`${where}: expected typeId:deviceId`);
      return;
    }
    const types = expand(parts[0].trim());
    const ids = expand(parts[1].trim());
    if (typeof types === 'string' || typeof ids === 'string') {
      errors.push(`${where}: ${typeof types === 'string' ? types : ids}`);
      return;
    }
    if (types.length * ids.length > MAX_LISTED_DEVICES) {
      errors.push(`${where}: more than ${MAX_LISTED_DEVICES} devices`);
      return;
    }
    for (const typeId of types) {
      for (const deviceId of ids) {
        if (!isValidId(typeId) || !isValidId(deviceId)) {
          errors.push(`${where}: "${typeId}:${deviceId}" is not a valid id (at most 36 of A-Z a-z 0-9 _ . -)`);
          return;
        }
        const ref = { typeId, deviceId };
        const key = deviceKey(ref);
        if (seen.has(key)) continue;
        seen.add(key);
        devices.push(ref);
      }
    }
    if (devices.length > MAX_LISTED_DEVICES) errors.push(`${where}: more than ${MAX_LISTED_DEVICES} devices in all`);
  });
  return { devices, errors };
}
