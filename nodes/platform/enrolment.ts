/**
 * The platform's enrolment: which devices and gateways exist for the broker, each with its own
 * authentication token, kept only as a salted scrypt hash (docs/protocol.md §1.5: user `use-token-auth`,
 * password = the token). A token is shown once, in the answer of the call that enrolled it.
 *
 * Entries are IBM's bulk-add shape (`{typeId, deviceId, authToken?}`), with two additions: `classId`
 * "Gateway" for a gateway, and `gateway: {typeId, deviceId}` for a device enrolled behind a gateway
 * (the gateway may act for it, docs/protocol.md §3.11). A device enrolled behind a gateway by the
 * "auto-enrol" policy has no token of its own: it exists only through its gateway.
 *
 * Application keys (`a:org:appId` clients: user = API key, password = token) are kept here too,
 * hashed the same way, with a role: read-only or operator.
 *
 * Plain data, serialisable with toJSON()/restore() like the registry. No Node-RED import.
 */
import { EventEmitter } from 'node:events';
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { deviceKey, isValidId, type DeviceRef } from '../protocol/topics';

export type ClassId = 'Device' | 'Gateway';
export type EnrolmentOrigin = 'flow' | 'http' | 'sidebar' | 'first-use' | 'gateway';
export type AppRole = 'readonly' | 'operator';

export interface EnrolledDevice {
  typeId: string;
  deviceId: string;
  classId: ClassId;
  /** the gateway this device is enrolled behind */
  gateway?: DeviceRef;
  /** `scrypt$N$r$p$salt$hash` (base64url); absent for a device that exists only behind its gateway */
  hash?: string;
  enrolledDateTime: string;
  origin: EnrolmentOrigin;
}

/** What is shown of an enrolment: never the hash. */
export type EnrolmentView = Omit<EnrolledDevice, 'hash'> & { hasToken: boolean };

export interface ApiKeyRecord {
  key: string;
  role: AppRole;
  hash: string;
  createdDateTime: string;
}

/** Why an entry was refused: the key of a catalogue message under `enrolment.` */
export type EntryError =
  'invalid-entry' | 'invalid-id' | 'invalid-token' | 'invalid-class' | 'unknown-gateway' | 'already-enrolled' | 'not-enrolled' | 'duplicate' | 'full';

export interface EntryResult {
  typeId: string;
  deviceId: string;
  success: boolean;
  /** the token, generated or given: present once, in the answer to an add */
  authToken?: string;
  error?: EntryError;
}

/** IBM's bulk calls take at most 1,000 entries. */
export const MAX_BULK = 1000;
/** Devices and gateways enrolled at most (a bound on what an API client can make us store). */
export const MAX_ENROLLED = 100000;
export const MAX_API_KEYS = 100;
/** Tokens: IBM's rules (8 to 128 printable ASCII characters, no space at either end). */
const TOKEN_RE = /^[\x21-\x7e](?:[\x20-\x7e]{6,126})[\x21-\x7e]$/;
/** A token presented at connect (development mode pins it): printable ASCII, up to 128. */
const PRESENTED_RE = /^[\x20-\x7e]{0,128}$/;

/** scrypt cost: N=2^14 is node's default; 2^12 keeps a bulk add of 1,000 devices within seconds on 2 cores */
const SCRYPT = { N: 4096, r: 8, p: 1, keylen: 32 };

function scryptAsync(secret: string, salt: Buffer, params: { N: number; r: number; p: number; keylen: number }): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(secret, salt, params.keylen, { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r }, (err, key) =>
      err ? reject(err) : resolve(key),
    );
  });
}

/** A salted hash of a secret, with its parameters (so they can be raised later). */
export async function hashSecret(secret: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(secret, salt, SCRYPT);
  return ['scrypt', SCRYPT.N, SCRYPT.r, SCRYPT.p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

/** Whether `secret` is the one hashed, in a time that does not depend on where they differ. */
export async function verifySecret(secret: string, hash: string): Promise<boolean> {
  const parts = hash.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [N, r, p] = parts.slice(1, 4).map(Number);
  if (![N, r, p].every((n) => Number.isInteger(n) && n > 0) || N > 1 << 20 || r > 32 || p > 16) return false;
  const expected = Buffer.from(parts[5], 'base64url');
  const key = await scryptAsync(secret, Buffer.from(parts[4], 'base64url'), { N, r, p, keylen: expected.length });
  return expected.length > 0 && timingSafeEqual(key, expected);
}

/** A new token: 144 random bits, 24 characters (IBM generated 18). */
export function generateToken(): string {
  return randomBytes(18).toString('base64url');
}

export function isValidToken(t: unknown): t is string {
  return typeof t === 'string' && TOKEN_RE.test(t);
}

export interface EnrolmentEvents {
  /** a device (key typeId/deviceId) or an API key was added, changed (value) or removed (undefined): persist it */
  change: [kind: 'device' | 'apiKey', key: string, value: EnrolledDevice | ApiKeyRecord | undefined];
  /** a device or gateway was removed: its connection must go */
  removed: [device: DeviceRef];
}

interface CheckedEntry {
  ref: DeviceRef;
  classId: ClassId;
  gateway?: DeviceRef;
  authToken?: string;
}

export class Enrolment extends EventEmitter<EnrolmentEvents> {
  private readonly devices = new Map<string, EnrolledDevice>();
  private readonly apiKeys = new Map<string, ApiKeyRecord>();

  constructor(private readonly now: () => Date = () => new Date()) {
    super();
  }

  get size(): number {
    return this.devices.size;
  }

  /** The enrolment of a device (without its hash), or undefined. */
  get(ref: DeviceRef): EnrolmentView | undefined {
    const e = this.devices.get(deviceKey(ref));
    return e ? view(e) : undefined;
  }

  /** Every enrolment, in key order, optionally only those behind one gateway. */
  list(filter: { typeId?: string; gateway?: DeviceRef } = {}): EnrolmentView[] {
    const gw = filter.gateway ? deviceKey(filter.gateway) : undefined;
    return [...this.devices.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, e]) => e)
      .filter((e) => (!filter.typeId || e.typeId === filter.typeId) && (!gw || (e.gateway && deviceKey(e.gateway) === gw)))
      .map(view);
  }

  /**
   * IBM's bulk add: each entry `{typeId, deviceId, authToken?, classId?, gateway?}`. Answers one
   * result per entry, with the token (generated when not given) for those enrolled. Throws a
   * TypeError when the body is not an array of 1..MAX_BULK entries.
   */
  async add(body: unknown, origin: EnrolmentOrigin): Promise<EntryResult[]> {
    if (!Array.isArray(body) || body.length === 0 || body.length > MAX_BULK) throw new TypeError(`expected an array of 1 to ${MAX_BULK} devices`);
    const seen = new Set<string>();
    const checked: (CheckedEntry | EntryResult)[] = body.map((raw) => this.check(raw, seen, body));
    const results: EntryResult[] = [];
    for (const c of checked) {
      if ('success' in c) {
        results.push(c);
        continue;
      }
      const key = deviceKey(c.ref);
      // checked again after each await: another call may have enrolled it meanwhile
      if (this.devices.has(key)) {
        results.push({ ...c.ref, success: false, error: 'already-enrolled' });
        continue;
      }
      if (this.devices.size >= MAX_ENROLLED) {
        results.push({ ...c.ref, success: false, error: 'full' });
        continue;
      }
      const authToken = c.authToken ?? generateToken();
      const hash = await hashSecret(authToken);
      if (this.devices.has(key)) {
        results.push({ ...c.ref, success: false, error: 'already-enrolled' });
        continue;
      }
      this.set(key, { ...c.ref, classId: c.classId, gateway: c.gateway, hash, enrolledDateTime: this.now().toISOString(), origin });
      results.push({ ...c.ref, success: true, authToken });
    }
    return results;
  }

  private check(raw: unknown, seen: Set<string>, batch: unknown[]): CheckedEntry | EntryResult {
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return { typeId: '', deviceId: '', success: false, error: 'invalid-entry' };
    const e = raw as Record<string, unknown>;
    const ref = { typeId: String(e.typeId ?? '').slice(0, 64), deviceId: String(e.deviceId ?? '').slice(0, 64) };
    if (!isValidId(e.typeId) || !isValidId(e.deviceId)) return { ...ref, success: false, error: 'invalid-id' };
    if (e.authToken !== undefined && !isValidToken(e.authToken)) return { ...ref, success: false, error: 'invalid-token' };
    if (e.classId !== undefined && e.classId !== 'Device' && e.classId !== 'Gateway') return { ...ref, success: false, error: 'invalid-class' };
    let gateway: DeviceRef | undefined;
    if (e.gateway !== undefined) {
      const g = e.gateway as Record<string, unknown> | null;
      if (!g || typeof g !== 'object' || !isValidId(g.typeId) || !isValidId(g.deviceId)) return { ...ref, success: false, error: 'unknown-gateway' };
      gateway = { typeId: g.typeId, deviceId: g.deviceId };
      const enrolled = this.devices.get(deviceKey(gateway));
      const inBatch = batch.some((b) => {
        const o = b as Record<string, unknown> | null;
        return !!o && o.typeId === gateway!.typeId && o.deviceId === gateway!.deviceId && o.classId === 'Gateway';
      });
      if (!(enrolled?.classId === 'Gateway' || inBatch)) return { ...ref, success: false, error: 'unknown-gateway' };
    }
    const key = deviceKey(ref);
    if (seen.has(key)) return { ...ref, success: false, error: 'duplicate' };
    seen.add(key);
    return {
      ref: { typeId: e.typeId, deviceId: e.deviceId },
      classId: (e.classId as ClassId) ?? 'Device',
      gateway,
      authToken: e.authToken as string | undefined,
    };
  }

  /** IBM's bulk remove: `[{typeId, deviceId}]`. Devices enrolled behind a removed gateway stay, without it. */
  remove(body: unknown): EntryResult[] {
    if (!Array.isArray(body) || body.length === 0 || body.length > MAX_BULK) throw new TypeError(`expected an array of 1 to ${MAX_BULK} devices`);
    const results = body.map((raw): EntryResult => {
      const e = (raw && typeof raw === 'object' ? raw : {}) as Record<string, unknown>;
      const ref = { typeId: String(e.typeId ?? '').slice(0, 64), deviceId: String(e.deviceId ?? '').slice(0, 64) };
      if (!isValidId(e.typeId) || !isValidId(e.deviceId)) return { ...ref, success: false, error: 'invalid-id' };
      const key = deviceKey(ref);
      if (!this.devices.delete(key)) return { ...ref, success: false, error: 'not-enrolled' };
      this.emit('change', 'device', key, undefined);
      for (const [k, d] of this.devices) {
        if (d.gateway && deviceKey(d.gateway) === key) {
          delete d.gateway;
          this.emit('change', 'device', k, d);
        }
      }
      this.emit('removed', ref);
      return { ...ref, success: true };
    });
    return results;
  }

  /** Whether `token` is the device's (false for a device that is not enrolled or has no token). */
  async verify(ref: DeviceRef, token: string): Promise<boolean> {
    const e = this.devices.get(deviceKey(ref));
    if (!e?.hash) return false;
    return verifySecret(token, e.hash);
  }

  /**
   * Development mode (trust on first use): enrol a device on its first connect with the token it
   * presented (an empty one too: then it must keep coming without one). False when it is enrolled
   * already or the token is not printable ASCII of at most 128 characters.
   */
  async pin(ref: DeviceRef, classId: ClassId, token: string): Promise<boolean> {
    const key = deviceKey(ref);
    if (this.devices.has(key) || !PRESENTED_RE.test(token) || this.devices.size >= MAX_ENROLLED) return false;
    const hash = await hashSecret(token);
    if (this.devices.has(key)) return false;
    this.set(key, { ...ref, classId, hash, enrolledDateTime: this.now().toISOString(), origin: 'first-use' });
    return true;
  }

  private set(key: string, e: EnrolledDevice): void {
    this.devices.set(key, e);
    this.emit('change', 'device', key, e);
  }

  /** The class of an enrolled device, or undefined. */
  classOf(ref: DeviceRef): ClassId | undefined {
    return this.devices.get(deviceKey(ref))?.classId;
  }

  /** Whether `device` is enrolled behind `gateway` (a gateway always acts for itself). */
  isBehind(gateway: DeviceRef, device: DeviceRef): boolean {
    const gk = deviceKey(gateway);
    if (gk === deviceKey(device)) return true;
    const e = this.devices.get(deviceKey(device));
    return !!e?.gateway && deviceKey(e.gateway) === gk;
  }

  /**
   * The "auto-enrol" gateway policy: enrol `device` behind `gateway` when nobody enrolled it yet.
   * True when the gateway may act for it afterwards.
   */
  enrolBehind(gateway: DeviceRef, device: DeviceRef): boolean {
    if (this.isBehind(gateway, device)) return true;
    const key = deviceKey(device);
    if (this.devices.has(key) || this.devices.size >= MAX_ENROLLED) return false;
    if (this.devices.get(deviceKey(gateway))?.classId !== 'Gateway') return false;
    this.set(key, { ...device, classId: 'Device', gateway: { ...gateway }, enrolledDateTime: this.now().toISOString(), origin: 'gateway' });
    return true;
  }

  /** A new application key with its token (shown once). */
  async addApiKey(role: AppRole): Promise<{ key: string; token: string; role: AppRole }> {
    if (role !== 'readonly' && role !== 'operator') throw new TypeError('role must be "readonly" or "operator"');
    if (this.apiKeys.size >= MAX_API_KEYS) throw new RangeError(`at most ${MAX_API_KEYS} API keys`);
    const key = `a-${randomBytes(6).toString('hex')}`;
    const token = generateToken();
    const rec: ApiKeyRecord = { key, role, hash: await hashSecret(token), createdDateTime: this.now().toISOString() };
    this.apiKeys.set(key, rec);
    this.emit('change', 'apiKey', key, rec);
    return { key, token, role };
  }

  removeApiKey(key: string): boolean {
    const ok = this.apiKeys.delete(key);
    if (ok) this.emit('change', 'apiKey', key, undefined);
    return ok;
  }

  /** The role of an application key whose token is `token`, else undefined. */
  async verifyApiKey(key: string, token: string): Promise<AppRole | undefined> {
    const rec = this.apiKeys.get(key);
    if (!rec) return undefined;
    return (await verifySecret(token, rec.hash)) ? rec.role : undefined;
  }

  listApiKeys(): { key: string; role: AppRole; createdDateTime: string }[] {
    return [...this.apiKeys.values()].map(({ key, role, createdDateTime }) => ({ key, role, createdDateTime }));
  }

  toJSON(): { version: 1; devices: EnrolledDevice[]; apiKeys: ApiKeyRecord[] } {
    return { version: 1, devices: [...this.devices.values()], apiKeys: [...this.apiKeys.values()] };
  }

  /** Load a snapshot written by toJSON(); invalid entries are skipped. Returns how many devices were loaded. */
  restore(snapshot: unknown): number {
    const s = snapshot as { version?: unknown; devices?: unknown; apiKeys?: unknown } | null;
    if (!s || s.version !== 1 || !Array.isArray(s.devices)) return 0;
    let n = 0;
    for (const raw of s.devices.slice(0, MAX_ENROLLED)) {
      const e = raw as Partial<EnrolledDevice> | null;
      if (!e || !isValidId(e.typeId) || !isValidId(e.deviceId) || (e.classId !== 'Device' && e.classId !== 'Gateway')) continue;
      if (e.hash !== undefined && (typeof e.hash !== 'string' || !e.hash.startsWith('scrypt$'))) continue;
      const gateway =
        e.gateway && isValidId(e.gateway.typeId) && isValidId(e.gateway.deviceId) ? { typeId: e.gateway.typeId, deviceId: e.gateway.deviceId } : undefined;
      this.devices.set(deviceKey({ typeId: e.typeId, deviceId: e.deviceId }), {
        typeId: e.typeId,
        deviceId: e.deviceId,
        classId: e.classId,
        gateway,
        hash: e.hash,
        enrolledDateTime: typeof e.enrolledDateTime === 'string' ? e.enrolledDateTime : this.now().toISOString(),
        origin: e.origin ?? 'flow',
      });
      n++;
    }
    if (Array.isArray(s.apiKeys)) {
      for (const raw of s.apiKeys.slice(0, MAX_API_KEYS)) {
        const k = raw as Partial<ApiKeyRecord> | null;
        if (!k || typeof k.key !== 'string' || typeof k.hash !== 'string' || (k.role !== 'readonly' && k.role !== 'operator')) continue;
        this.apiKeys.set(k.key, { key: k.key, role: k.role, hash: k.hash, createdDateTime: String(k.createdDateTime ?? '') });
      }
    }
    return n;
  }
}

function view(e: EnrolledDevice): EnrolmentView {
  const { hash, ...rest } = e;
  return { ...rest, gateway: e.gateway ? { ...e.gateway } : undefined, hasToken: !!hash };
}
