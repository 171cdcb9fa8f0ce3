/**
 * The device side of the firmware actions (docs/protocol.md §3.6, §3.7, §3.9): a DmHandler that owns
 * `mgmt.firmware` for every device of a DeviceAgent (one device, or each device behind a gateway).
 * No Node-RED import: the `firmware-state` node wires it to its output, input and context.
 *
 * - `device/update` of `mgmt.firmware`: stores version / name / uri / verifier (state and
 *   updateStatus belong to the device and are ignored in the value); 204 when the requested
 *   firmware differs from the installed one (`deviceInfo.fwVersion`), 200 "already installed" when
 *   the requested version is the installed one (the values are stored all the same: the platform
 *   goes on, a re-install is the operator's choice); 409 while a download or install runs; 400 for
 *   a value of the wrong shape.
 * - `observe` (200 with `d.fields [{field, value}]`) / `cancel` (200) of `mgmt.firmware`: while
 *   observed, each change sends exactly ONE notify carrying every field the change wrote.
 * - initiate download / update: the seed's 400 rules (docs/protocol.md §11.4, §11.5) from the state table
 *   (firmware-state-machine.ts) and the uri check; then, with answer "auto", 202 first, the state
 *   change and its notify, and only once the 202 is published the `command` event (IBM's Java fix,
 *   docs/protocol.md §7.4). With answer "flow" the command goes out first and the flow's verdict
 *   (accepted → 202, failed → 500, unsupported → 501) answers the initiate; the state changes only
 *   on "accepted", after the 202, so no notify ever precedes the 202.
 * - progress from the flow (`input`): downloaded, downloadFailed 2/3/4/6, installed (state 0,
 *   updateStatus 0, deviceInfo.fwVersion = version for the agent's next manage), installFailed 2/5.
 *   An illegal transition throws and changes nothing.
 */
import { EventEmitter } from 'node:events';
import { deviceKey, parseDeviceKey, type DeviceRef } from '../protocol/topics';
import { RC, FirmwareState, UpdateStatus } from '../protocol/rc';
import { compile, isValid, ValidationError } from '../protocol/validate';
import { FIRMWARE_KEYS, FIRMWARE_PARAMETERS, type DeviceInfo, type FieldValue, type FirmwareAttributes } from '../protocol/messages';
import { transition, describePhase, type FirmwareEvent } from './firmware-state-machine';
import {
  firmwareInputSchema,
  firmwareSnapshotSchema,
  type FirmwareCommand,
  type FirmwareInput,
  type FirmwareRecord,
  type FirmwareSnapshot,
} from './firmware-messages';
import type { ActionRequest, DmHandler, FieldRequest, ActionName } from './handler-types';
import type { DownloadResult } from './firmware-downloader';
import { excerpt } from '../protocol/bounds';

export const FIRMWARE_FIELD = 'mgmt.firmware';
/** what the platform writes: the firmware's description (the firmware actions' parameters) */
const DESCRIPTIVE: readonly string[] = FIRMWARE_PARAMETERS;
/** the rest of mgmt.firmware is the device's own */
const DEVICE_OWNED: readonly string[] = FIRMWARE_KEYS.filter((k) => !DESCRIPTIVE.includes(k));

/** What the handler needs of the DeviceAgent (the agent itself fits). */
export interface FirmwareAgent {
  readonly identity: DeviceRef;
  isOurs(device: DeviceRef): boolean;
  notify(device: DeviceRef, fields: FieldValue[]): Promise<void>;
  setDeviceInfo(device: DeviceRef, patch: Partial<DeviceInfo>): void;
  status(device: DeviceRef): { deviceInfo: DeviceInfo } | undefined;
}

export interface FirmwareHandlerOptions {
  /** "auto" (default): 202 at once; "flow": the flow's verdict answers the initiate */
  answer?: 'auto' | 'flow';
  /** answer "flow": no verdict within this time answers 500 (default 60 s; 0 = no limit) */
  answerTimeoutMs?: number;
  /** the built-in downloader: download commands are run here instead of going to the flow */
  download?: (cmd: FirmwareCommand) => Promise<DownloadResult>;
  /** what the node kept in its context */
  restore?: unknown;
  now?: () => Date;
}

export interface FirmwareHandlerEvents {
  /** a download or install for the user's flow */
  command: [cmd: FirmwareCommand];
  /** a device's record changed (persist it) */
  change: [device: DeviceRef, record: FirmwareRecord];
  /** something the node should log: a publish that failed, a restored record that was dropped, ... */
  warning: [text: string];
  /** the built-in downloader finished (ok or not) */
  downloaded: [device: DeviceRef, result: DownloadResult];
}

interface PendingVerdict {
  req: ActionRequest;
  event: 'download' | 'update';
  timer?: NodeJS.Timeout;
}

const validateInput = compile<FirmwareInput>(firmwareInputSchema);
const validateSnapshot = compile<FirmwareSnapshot>(firmwareSnapshotSchema);

export function emptyFirmware(): FirmwareAttributes {
  return { version: '', name: '', uri: '', verifier: '', state: FirmwareState.IDLE, updateStatus: UpdateStatus.SUCCESS, updatedDateTime: '' };
}

/** mgmt.firmware.uri must be set and be an absolute URI (the seed's download rule, docs/protocol.md §11.4). */
export function isValidFirmwareUri(uri: string): boolean {
  if (!uri || uri.trim() !== uri) return false;
  try {
    const u = new URL(uri);
    return /^[a-z][a-z0-9+.-]*:$/i.test(u.protocol) && (u.host !== '' || u.pathname !== '');
  } catch {
    return false;
  }
}

export class FirmwareHandler extends EventEmitter<FirmwareHandlerEvents> implements DmHandler {
  readonly name = 'firmware-state';
  readonly actions: readonly ActionName[] = ['firmwareDownload', 'firmwareUpdate'];
  readonly fields = [FIRMWARE_FIELD] as const;
  readonly supports = { firmwareActions: true };
  private readonly records = new Map<string, FirmwareRecord>();
  /** by device key: a device has at most one initiate waiting for the flow's verdict */
  private readonly verdicts = new Map<string, PendingVerdict>();
  private readonly answer: 'auto' | 'flow';
  private readonly answerTimeoutMs: number;
  private readonly now: () => Date;
  private closed = false;

  constructor(
    private readonly agent: FirmwareAgent,
    private readonly opts: FirmwareHandlerOptions = {},
  ) {
    super();
    this.answer = opts.answer === 'flow' ? 'flow' : 'auto';
    this.answerTimeoutMs = opts.answerTimeoutMs ?? 60_000;
    this.now = opts.now ?? (() => new Date());
    if (opts.restore !== undefined && opts.restore !== null) this.restore(opts.restore);
  }

  // ---------------------------------------------------------------- records

  /** The record of a device (created idle on first use). */
  record(device: DeviceRef): FirmwareRecord {
    const key = deviceKey(device);
    let r = this.records.get(key);
    if (!r) this.records.set(key, (r = { firmware: emptyFirmware(), observed: false }));
    return r;
  }

  /** A copy of mgmt.firmware of a device. */
  firmware(device: DeviceRef): FirmwareAttributes {
    return { ...this.record(device).firmware };
  }

  snapshot(): FirmwareSnapshot {
    const devices: Record<string, FirmwareRecord> = {};
    for (const [k, r] of this.records) devices[k] = { ...r, firmware: { ...r.firmware } };
    return { version: 1, devices };
  }

  /** counts by phase, for the node's status */
  counts(): { idle: number; downloading: number; downloaded: number; installing: number } {
    const c = { idle: 0, downloading: 0, downloaded: 0, installing: 0 };
    for (const r of this.records.values()) {
      if (r.firmware.updateStatus === UpdateStatus.IN_PROGRESS) c.installing++;
      else if (r.firmware.state === FirmwareState.DOWNLOADING) c.downloading++;
      else if (r.firmware.state === FirmwareState.DOWNLOADED) c.downloaded++;
      else c.idle++;
    }
    return c;
  }

  private restore(data: unknown): void {
    try {
      const snap = validateSnapshot(data);
      for (const [key, rec] of Object.entries(snap.devices)) {
        const device = parseDeviceKey(key);
        if (!key.includes('/') || !this.agent.isOurs(device)) {
          this.emit('warning', `stored firmware state of ${key} dropped: not a device of this iotdm-device`);
          continue;
        }
        this.records.set(key, { ...rec, firmware: { ...rec.firmware } });
        if (rec.fwVersion) this.agent.setDeviceInfo(device, { fwVersion: rec.fwVersion });
      }
    } catch (err) {
      this.emit('warning', `stored firmware state ignored: ${(err as Error).message}`);
    }
  }

  /**
   * After a restart with the built-in downloader, a download that was running is lost: it ends as
   * "connection lost" (updateStatus 3), notified when observed. Call once the agent is started.
   */
  interruptedDownloads(): void {
    for (const [key, rec] of this.records) {
      if (rec.firmware.state !== FirmwareState.DOWNLOADING) continue;
      const t = transition(rec.firmware, 'downloadFailed', UpdateStatus.CONNECTION_LOST);
      if (t.ok) this.apply(parseDeviceKey(key), rec, t.changes);
    }
  }

  /** Write changes at once; one notify when observed (the seed's "Important", docs/protocol.md §11.5). */
  private apply(device: DeviceRef, rec: FirmwareRecord, changes: Partial<FirmwareAttributes>): void {
    const written: Partial<FirmwareAttributes> = { ...changes, updatedDateTime: this.now().toISOString() };
    Object.assign(rec.firmware, written);
    this.emit('change', device, rec);
    if (rec.observed && !this.closed) {
      this.agent
        .notify(device, [{ field: FIRMWARE_FIELD, value: written }])
        .catch((err: Error) => this.emit('warning', `notify of ${deviceKey(device)} not sent: ${err.message}`));
    }
  }

  // ---------------------------------------------------------------- platform → device: fields

  onFields(req: FieldRequest): Promise<void> {
    if (req.op === 'observe') return this.observe(req);
    if (req.op === 'cancel') {
      const rec = this.record(req.device);
      if (rec.observed) {
        rec.observed = false;
        this.emit('change', req.device, rec);
      }
      return req.reply(RC.OK);
    }
    return this.update(req);
  }

  private observe(req: FieldRequest): Promise<void> {
    const rec = this.record(req.device);
    const values: FieldValue[] = [];
    const missing: string[] = [];
    for (const { field } of req.fields) {
      if (field === FIRMWARE_FIELD) values.push({ field, value: { ...rec.firmware } });
      else {
        const sub = field.slice(FIRMWARE_FIELD.length + 1);
        if ((FIRMWARE_KEYS as string[]).includes(sub)) values.push({ field, value: rec.firmware[sub as keyof FirmwareAttributes] });
        else missing.push(field);
      }
    }
    if (missing.length)
      return req.reply(RC.NOT_FOUND, `not found: ${missing.map((f) => excerpt(f)).join(', ')}`, { fields: missing.map((field) => ({ field })) });
    if (!rec.observed) {
      rec.observed = true;
      this.emit('change', req.device, rec);
    }
    return req.reply(RC.OK, undefined, { fields: values });
  }

  private update(req: FieldRequest): Promise<void> {
    const rec = this.record(req.device);
    const fw = rec.firmware;
    const next: Record<string, string> = {};
    const bad: string[] = [];
    const why: string[] = [];
    for (const { field, value } of req.fields) {
      if (field === FIRMWARE_FIELD) {
        if (!value || typeof value !== 'object' || Array.isArray(value) || !isValid('firmwareValue', value)) {
          bad.push(field);
          why.push(`${field}: not a valid firmware object`);
          continue;
        }
        // the value replaces the firmware's description; state and updateStatus stay the device's
        for (const k of FIRMWARE_PARAMETERS) next[k] = value[k] ?? '';
      } else {
        const sub = field.slice(FIRMWARE_FIELD.length + 1);
        if (DESCRIPTIVE.includes(sub) && typeof value === 'string' && value.length <= 4096) next[sub] = value;
        else {
          bad.push(field);
          why.push(DEVICE_OWNED.includes(sub) ? `${field} is written by the device only` : `${field}: not a writable firmware field`);
        }
      }
    }
    if (bad.length) return req.reply(RC.BAD_REQUEST, why.join('; '), { fields: bad });
    if (fw.state === FirmwareState.DOWNLOADING || fw.updateStatus === UpdateStatus.IN_PROGRESS) {
      return req.reply(RC.CONFLICT, `the firmware is ${describePhase(fw)}: try again when it is done`, { fields: req.fields.map((f) => f.field) });
    }
    const changes: Partial<FirmwareAttributes> = {};
    for (const [k, v] of Object.entries(next)) if (fw[k as keyof FirmwareAttributes] !== v) (changes as Record<string, string>)[k] = v;
    if (Object.keys(changes).length) this.apply(req.device, rec, changes);
    const installed = this.installedVersion(req.device);
    const requested = next.version ?? fw.version;
    if (requested && installed && requested === installed) return req.reply(RC.OK, `firmware ${installed} is already installed`);
    return req.reply(RC.CHANGED);
  }

  private installedVersion(device: DeviceRef): string | undefined {
    return this.record(device).fwVersion ?? this.agent.status(device)?.deviceInfo.fwVersion;
  }

  // ---------------------------------------------------------------- platform → device: initiate

  onAction(req: ActionRequest): Promise<void> {
    const event = req.action === 'firmwareDownload' ? 'download' : 'update';
    const key = deviceKey(req.device);
    const rec = this.record(req.device);
    const waiting = this.verdicts.get(key);
    if (waiting) return req.reply(RC.CONFLICT, `an initiate (${waiting.req.reqId}) is waiting for the flow's answer`);
    const t = transition(rec.firmware, event);
    if (!t.ok) return req.reply(t.transition?.refusal?.rc ?? RC.BAD_REQUEST, t.transition?.refusal?.message ?? t.reason);
    if (event === 'download' && !isValidFirmwareUri(rec.firmware.uri)) {
      return req.reply(RC.BAD_REQUEST, 'mgmt.firmware.uri is not set or is not a valid URI');
    }
    const cmd = this.command(req, event);
    const builtIn = event === 'download' && this.opts.download;
    if (this.answer === 'flow' && !builtIn) {
      const v: PendingVerdict = { req, event };
      if (this.answerTimeoutMs > 0) {
        v.timer = setTimeout(() => {
          this.verdicts.delete(key);
          this.emit('warning', `no answer from the flow to ${req.action} ${req.reqId} of ${key} within ${this.answerTimeoutMs} ms: answered 500`);
          req.reply(RC.INTERNAL_ERROR, `no answer from the flow within ${Math.round(this.answerTimeoutMs / 1000)} s`).catch(() => undefined);
        }, this.answerTimeoutMs);
      }
      this.verdicts.set(key, v);
      this.emit('command', cmd);
      return Promise.resolve();
    }
    return this.accept(req, event, t.changes, cmd);
  }

  /** 202, then the state change and its notify (same connection: in that order), then the command. */
  private accept(req: ActionRequest, event: 'download' | 'update', changes: Partial<FirmwareAttributes>, cmd?: FirmwareCommand): Promise<void> {
    const rec = this.record(req.device);
    const replied = req.reply(RC.ACCEPTED);
    this.apply(req.device, rec, changes);
    const go = () => {
      if (!cmd || this.closed) return;
      if (event === 'download' && this.opts.download) this.runDownload(req.device, cmd);
      else this.emit('command', cmd);
    };
    return replied.then(go, (err: Error) => {
      this.emit('warning', `202 to ${req.reqId} of ${deviceKey(req.device)} not sent: ${err.message}`);
      go();
    });
  }

  private command(req: ActionRequest, event: 'download' | 'update'): FirmwareCommand {
    const { firmware: fw, file } = this.record(req.device);
    const cmd: FirmwareCommand = {
      command: event === 'download' ? 'download' : 'install',
      reqId: req.reqId,
      typeId: req.device.typeId,
      deviceId: req.device.deviceId,
      uri: fw.uri,
      name: fw.name,
      verifier: fw.verifier,
      version: fw.version,
    };
    if (event === 'update' && file) cmd.file = file;
    return cmd;
  }

  private runDownload(device: DeviceRef, cmd: FirmwareCommand): void {
    this.opts.download!(cmd).then(
      (result) => {
        this.emit('downloaded', device, result);
        if (this.closed) return;
        try {
          if (result.ok) this.progress(device, 'downloaded', undefined, result.file);
          else this.progress(device, 'downloadFailed', result.updateStatus);
        } catch (err) {
          this.emit('warning', `download result of ${deviceKey(device)} not applied: ${(err as Error).message}`);
        }
      },
      (err: Error) => this.emit('warning', `downloader failed for ${deviceKey(device)}: ${err.message}`),
    );
  }

  // ---------------------------------------------------------------- the flow → device

  /**
   * A message from the flow (validated here). Throws a ValidationError for a bad message, an Error
   * for an illegal transition or an unknown reqId: nothing changes then.
   */
  input(payload: unknown): { device: DeviceRef; result: FirmwareInput['result'] } {
    const m = validateInput(payload);
    const device: DeviceRef = m.typeId ? { typeId: m.typeId, deviceId: m.deviceId! } : this.agent.identity;
    if (!this.agent.isOurs(device)) throw new ValidationError(`${deviceKey(device)} is not a device of this iotdm-device`);
    if (m.result === 'accepted' || m.result === 'failed' || m.result === 'unsupported') {
      this.verdict(device, m);
      return { device, result: m.result };
    }
    this.progress(device, m.result, m.updateStatus, m.file);
    return { device, result: m.result };
  }

  private verdict(device: DeviceRef, m: FirmwareInput): void {
    const key = deviceKey(device);
    const v = this.verdicts.get(key);
    if (!v || v.req.reqId !== m.reqId) throw new Error(`no initiate ${m.reqId} of ${key} is waiting for an answer`);
    this.verdicts.delete(key);
    clearTimeout(v.timer);
    const fail = (rc: number, text: string) =>
      v.req.reply(rc, m.message || text).catch((err: Error) => this.emit('warning', `${rc} to ${m.reqId} not sent: ${err.message}`));
    if (m.result === 'failed') return void fail(RC.INTERNAL_ERROR, `firmware ${v.event} failed`);
    if (m.result === 'unsupported') return void fail(RC.NOT_IMPLEMENTED, `firmware ${v.event} is not supported`);
    const t = transition(this.record(device).firmware, v.event);
    if (!t.ok) {
      // cannot happen while the verdict is pending (initiates wait, progress of this phase is illegal)
      void fail(t.transition?.refusal?.rc ?? RC.BAD_REQUEST, t.reason);
      throw new Error(t.reason);
    }
    void this.accept(v.req, v.event, t.changes);
  }

  private progress(device: DeviceRef, result: 'downloaded' | 'downloadFailed' | 'installed' | 'installFailed', updateStatus?: number, file?: string): void {
    const rec = this.record(device);
    const event: FirmwareEvent = result;
    const t = transition(rec.firmware, event, updateStatus);
    if (!t.ok) throw new Error(`${deviceKey(device)}: ${t.reason}`);
    if (result === 'downloaded' && file) rec.file = file;
    if (result === 'installed') {
      delete rec.file;
      if (rec.firmware.version) {
        rec.fwVersion = rec.firmware.version;
        this.agent.setDeviceInfo(device, { fwVersion: rec.fwVersion });
      }
    }
    this.apply(device, rec, t.changes);
  }

  /** Stop: pending verdicts are dropped (answered 500), nothing more is notified or emitted. */
  close(): void {
    this.closed = true;
    for (const v of this.verdicts.values()) {
      clearTimeout(v.timer);
      v.req.reply(RC.INTERNAL_ERROR, 'the device is shutting down').catch(() => undefined);
    }
    this.verdicts.clear();
  }
}
