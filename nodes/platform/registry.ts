/**
 * The platform's registry of managed devices (docs/protocol.md §3.1-3.5, §4, §8.2): manage / unmanage,
 * lifetime and dormancy, deviceInfo and metadata replaced on manage, location, diag error codes and
 * log, the merged view of mgmt.firmware built from notifies. Plain data, serialisable with
 * toJSON()/restore() so the Node-RED wrapper can keep it in a persistent context store.
 */
import { EventEmitter } from 'node:events';
import { deviceKey, type DeviceRef } from '../protocol/topics';
import { Clock } from './clock';
import { checkBounds } from '../protocol/bounds';
import {
  normalizeSupports,
  type DeviceInfo,
  type FirmwareAttributes,
  type Location,
  type LogEntry,
  type ManageRequest,
  type Supports,
} from '../protocol/messages';

export interface DeviceRecord {
  typeId: string;
  deviceId: string;
  managed: boolean;
  dormant: boolean;
  /** seconds; 0 = never dormant */
  lifetime: number;
  dormantDateTime?: string;
  lastActivityDateTime: string;
  registeredDateTime: string;
  supports: Supports;
  deviceInfo: DeviceInfo;
  metadata: Record<string, unknown>;
  location?: Location;
  diag: { errorCodes: number[]; log: StoredLogEntry[] };
  mgmt: { firmware?: Partial<FirmwareAttributes> };
}
export interface StoredLogEntry {
  message: string;
  timestamp: string;
  logData?: string;
  severity: number;
}

/** Log entries kept per device; appending more drops the oldest (docs/protocol.md §3.5). */
export const MAX_LOG_ENTRIES = 100;
export const MAX_ERROR_CODES = 100;

/** About the length of a stored log entry as JSON (its texts and the keys around them). */
function logEntryChars(e: StoredLogEntry): number {
  return e.message.length + (e.logData?.length ?? 0) + e.timestamp.length + 64;
}

function hasKeys(o: object): boolean {
  for (const k in o) if (Object.hasOwn(o, k)) return true;
  return false;
}

/** Two flat records with the same keys and the same (===) value under each. */
function sameValues(a: object, b: object): boolean {
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  let n = 0;
  for (const k in y) {
    if (!Object.hasOwn(y, k)) continue;
    if (!Object.hasOwn(x, k) || x[k] !== y[k]) return false;
    n++;
  }
  for (const k in x) if (Object.hasOwn(x, k)) n--;
  return n === 0;
}

export interface RegistryEvents {
  /** a device was created, managed, unmanaged, changed or removed */
  change: [record: DeviceRecord | undefined, key: string];
  manage: [record: DeviceRecord];
  dormant: [record: DeviceRecord];
}

export class Registry extends EventEmitter<RegistryEvents> {
  private readonly devices = new Map<string, DeviceRecord>();
  private dormancyTimer?: NodeJS.Timeout;
  /** the dormantDateTime (ms) the armed timer is for */
  private dormancyAt = Infinity;

  /** the time; a burst of messages shares one timestamp string (clock.ts) */
  private readonly clock: Clock;

  constructor(
    now?: () => Date,
    /** characters of a device's diag log (bounds.ts logBytes): appending more drops the oldest */
    private readonly maxLogChars = 262144,
  ) {
    super();
    this.clock = new Clock(now);
  }

  get size(): number {
    return this.devices.size;
  }

  get(ref: DeviceRef): DeviceRecord | undefined {
    return this.devices.get(deviceKey(ref));
  }

  getByKey(key: string): DeviceRecord | undefined {
    return this.devices.get(key);
  }

  list(): IterableIterator<DeviceRecord> {
    return this.devices.values();
  }

  /** Devices sorted by type then id, filtered by type and an id substring (for UIs and APIs). */
  query(opts: { typeId?: string; search?: string } = {}): DeviceRecord[] {
    const out: DeviceRecord[] = [];
    const search = opts.search?.toLowerCase();
    for (const d of this.devices.values()) {
      if (opts.typeId && d.typeId !== opts.typeId) continue;
      if (search && !d.deviceId.toLowerCase().includes(search)) continue;
      out.push(d);
    }
    return out.sort((a, b) => (a.typeId === b.typeId ? (a.deviceId < b.deviceId ? -1 : 1) : a.typeId < b.typeId ? -1 : 1));
  }

  private touch(rec: DeviceRecord): void {
    rec.lastActivityDateTime = this.clock.iso();
  }

  private changed(rec: DeviceRecord | undefined, key: string): void {
    this.emit('change', rec, key);
  }

  /**
   * Change a known device: `apply` writes its record, which then counts as active (unless `active`
   * is false) and is announced as changed (what is saved). Undefined for an unknown device.
   */
  private update(ref: DeviceRef, apply: (rec: DeviceRecord) => void, active = true): DeviceRecord | undefined {
    const rec = this.get(ref);
    if (!rec) return undefined;
    apply(rec);
    if (active) this.touch(rec);
    this.changed(rec, deviceKey(ref));
    return rec;
  }

  /**
   * A Manage Device request (docs/protocol.md §3.1). Creates the device when it is new. deviceInfo and
   * metadata replace what is stored when they are sent, except an empty deviceInfo, which IBM's
   * Python client sends on every manage by mistake and must not erase what is known (§10).
   */
  manage(ref: DeviceRef, d: ManageRequest['d'] = {}): DeviceRecord {
    const key = deviceKey(ref);
    const nowIso = this.clock.iso();
    let rec = this.devices.get(key);
    if (!rec) {
      rec = {
        typeId: ref.typeId,
        deviceId: ref.deviceId,
        managed: true,
        dormant: false,
        lifetime: 0,
        lastActivityDateTime: nowIso,
        registeredDateTime: nowIso,
        supports: {},
        deviceInfo: {},
        metadata: {},
        diag: { errorCodes: [], log: [] },
        mgmt: {},
      };
      this.devices.set(key, rec);
    }
    rec.managed = true;
    rec.dormant = false;
    rec.lastActivityDateTime = nowIso;
    rec.lifetime = d.lifetime ?? 0;
    if (rec.lifetime > 0) {
      rec.dormantDateTime = new Date(this.clock.ms() + rec.lifetime * 1000).toISOString();
    } else {
      delete rec.dormantDateTime;
    }
    // a device manages again on every connect, mostly with what it said before: what is unchanged
    // keeps its stored object (a new copy each time outlived the collector's young generation)
    const supports = normalizeSupports(d.supports);
    if (!sameValues(rec.supports, supports)) rec.supports = supports;
    if (d.deviceInfo && hasKeys(d.deviceInfo) && !sameValues(rec.deviceInfo, d.deviceInfo)) rec.deviceInfo = { ...d.deviceInfo };
    if (d.metadata) rec.metadata = d.metadata;
    this.scheduleDormancy(rec);
    this.emit('manage', rec);
    this.changed(rec, key);
    return rec;
  }

  /** Unmanage (§3.2): no new DM requests go to the device; its mgmt.* attributes are dropped. */
  unmanage(ref: DeviceRef): DeviceRecord | undefined {
    return this.update(ref, (rec) => {
      rec.managed = false;
      this.clearMgmt(rec);
    });
  }

  private clearMgmt(rec: DeviceRecord): void {
    rec.supports = {};
    rec.mgmt = {};
    delete rec.dormantDateTime;
  }

  setLocation(ref: DeviceRef, loc: Location): DeviceRecord | undefined {
    return this.update(ref, (rec) => {
      // each update is a complete set: optional values omitted now are deleted (§3.3)
      const nowIso = this.clock.iso();
      rec.location = { ...loc, measuredDateTime: loc.measuredDateTime || nowIso, updatedDateTime: nowIso };
    });
  }

  addErrorCode(ref: DeviceRef, code: number): DeviceRecord | undefined {
    return this.update(ref, (rec) => {
      rec.diag.errorCodes.push(code);
      if (rec.diag.errorCodes.length > MAX_ERROR_CODES) rec.diag.errorCodes.splice(0, rec.diag.errorCodes.length - MAX_ERROR_CODES);
    });
  }

  clearErrorCodes(ref: DeviceRef): DeviceRecord | undefined {
    return this.update(ref, (rec) => {
      rec.diag.errorCodes = [];
    });
  }

  addLog(ref: DeviceRef, entry: LogEntry): DeviceRecord | undefined {
    return this.update(ref, (rec) => {
      const stored: StoredLogEntry = {
        message: entry.message,
        timestamp: entry.timestamp || this.clock.iso(),
        severity: entry.severity ?? 0,
      };
      if (entry.data) stored.logData = entry.data; // `data` on the wire, `logData` in the model (§3.5)
      rec.diag.log.push(stored);
      if (rec.diag.log.length > MAX_LOG_ENTRIES) rec.diag.log.splice(0, rec.diag.log.length - MAX_LOG_ENTRIES);
      let chars = 0;
      for (const e of rec.diag.log) chars += logEntryChars(e);
      while (chars > this.maxLogChars && rec.diag.log.length > 1) chars -= logEntryChars(rec.diag.log.shift()!);
    });
  }

  clearLog(ref: DeviceRef): DeviceRecord | undefined {
    return this.update(ref, (rec) => {
      rec.diag.log = [];
    });
  }

  /**
   * Merge a notified mgmt.firmware change into the stored view. Real clients notify one field at a
   * time (docs/protocol.md §10): the merged view is what firmware steps judge.
   */
  mergeFirmware(ref: DeviceRef, value: Partial<FirmwareAttributes>): Partial<FirmwareAttributes> | undefined {
    return this.update(ref, (rec) => {
      rec.mgmt.firmware = { ...rec.mgmt.firmware, ...value, updatedDateTime: this.clock.iso() };
    })?.mgmt.firmware;
  }

  /** deviceInfo attributes a device notified (docs/protocol.md §3.7, §4), merged into what is known. */
  mergeDeviceInfo(ref: DeviceRef, values: DeviceInfo): DeviceRecord | undefined {
    return this.update(ref, (rec) => {
      rec.deviceInfo = { ...rec.deviceInfo, ...values };
    });
  }

  /** Set deviceInfo.fwVersion (a firmware update succeeded, docs/protocol.md §3.9); not device activity. */
  setFwVersion(ref: DeviceRef, version: string): void {
    this.update(
      ref,
      (rec) => {
        rec.deviceInfo = { ...rec.deviceInfo, fwVersion: version };
      },
      false,
    );
  }

  /** Any message from the device counts as activity. */
  seen(ref: DeviceRef): void {
    const rec = this.get(ref);
    if (rec) rec.lastActivityDateTime = this.clock.iso();
  }

  remove(ref: DeviceRef): boolean {
    const key = deviceKey(ref);
    const had = this.devices.delete(key);
    if (had) this.changed(undefined, key);
    return had;
  }

  /**
   * Mark every managed device whose dormantDateTime has passed as dormant and unmanaged (§3.1, D4).
   * Returns how many became dormant.
   */
  sweepDormant(): number {
    const now = this.clock.ms();
    let n = 0;
    for (const [key, rec] of this.devices) {
      if (rec.managed && rec.dormantDateTime && Date.parse(rec.dormantDateTime) <= now) {
        rec.managed = false;
        rec.dormant = true;
        this.clearMgmt(rec);
        n++;
        this.emit('dormant', rec);
        this.changed(rec, key);
      }
    }
    return n;
  }

  /**
   * Keep one timer armed for the earliest dormantDateTime. After a manage only that device's
   * deadline can be new, so it alone is compared with the armed one (earlier: re-armed); the whole
   * registry is scanned only after a sweep or a restore. (A scan on every manage made a fleet of
   * 5,000 managing devices cost 25 M iterations.)
   */
  private scheduleDormancy(managed?: DeviceRecord): void {
    let earliest = Infinity;
    if (managed) {
      if (!managed.dormantDateTime) return;
      earliest = Date.parse(managed.dormantDateTime);
      if (this.dormancyTimer && earliest >= this.dormancyAt) return;
    } else {
      if (this.dormancyTimer) return;
      for (const rec of this.devices.values()) {
        if (rec.managed && rec.dormantDateTime) earliest = Math.min(earliest, Date.parse(rec.dormantDateTime));
      }
      if (earliest === Infinity) return;
    }
    if (this.dormancyTimer) clearTimeout(this.dormancyTimer);
    const delay = Math.max(0, Math.min(earliest - this.clock.ms(), 2 ** 31 - 1));
    this.dormancyAt = earliest;
    this.dormancyTimer = setTimeout(() => {
      this.dormancyTimer = undefined;
      this.sweepDormant();
      this.scheduleDormancy();
    }, delay + 10);
    this.dormancyTimer.unref?.();
  }

  toJSON(): { version: 1; devices: DeviceRecord[] } {
    return { version: 1, devices: [...this.devices.values()] };
  }

  /** Load a snapshot written by toJSON(); invalid entries are skipped. */
  restore(snapshot: unknown): number {
    const s = snapshot as { version?: number; devices?: unknown[] } | undefined;
    if (!s || s.version !== 1 || !Array.isArray(s.devices)) return 0;
    let n = 0;
    for (const d of s.devices as DeviceRecord[]) {
      if (!d || typeof d.typeId !== 'string' || typeof d.deviceId !== 'string') continue;
      // a record from before the bounds may nest deeper than the context's JSON.stringify can go
      try {
        checkBounds(d, { itemsPerArray: Infinity, valuesPerMessage: Infinity });
      } catch {
        continue;
      }
      this.devices.set(deviceKey(d), {
        ...d,
        supports: d.supports ?? {},
        deviceInfo: d.deviceInfo ?? {},
        metadata: d.metadata ?? {},
        diag: { errorCodes: d.diag?.errorCodes ?? [], log: d.diag?.log ?? [] },
        mgmt: d.mgmt ?? {},
      });
      n++;
    }
    this.sweepDormant();
    this.scheduleDormancy();
    return n;
  }

  close(): void {
    if (this.dormancyTimer) clearTimeout(this.dormancyTimer);
    this.dormancyTimer = undefined;
  }
}
