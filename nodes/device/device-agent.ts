/**
 * The device side of the DM protocol (protocol.md §1–§3, §3.11): one device identity, or a gateway
 * and the devices behind it, over one shared Connection. No Node-RED import.
 *
 * - On every connect it subscribes to `iotdm-1/type/T/id/D/#` for each device (one wildcard
 *   subscription filtered to the known devices when there are many), then sends a manage request
 *   for each device (bounded concurrency), again before `lifetime` runs out, and again when the set
 *   of `supports` changes (handlers register after the agent starts: debounced).
 * - Every inbound `iotdm-1` message is parsed, validated and routed to the handler registered for
 *   its action or field; the handler answers with `reply(rc, message?, d?)`. Without a handler:
 *   501 for an action, 404 for a field. Invalid messages: 400 when a reqId can be read, and a
 *   `messageError` event. Responses answer our own requests by reqId. Nothing thrown in message
 *   handling leaves the MQTT handler.
 */
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import type { Connection, ConnectionState } from '../transport/connection';
import {
  deviceKey,
  deviceSubscription,
  deviceTopic,
  DevicePath,
  isValidId,
  parseTopic,
  PLATFORM_ROOT,
  type DevicePathName,
  type DeviceRef,
} from '../protocol/topics';
import {
  normalizeResponse,
  observedFields,
  type DeviceInfo,
  type DmResponse,
  type FieldValue,
  type ObserveRequest,
  type UpdateRequest,
} from '../protocol/messages';
import { check, parsePayload, ValidationError, type SchemaName } from '../protocol/validate';
import { RC, RC_TEXT, isSuccessRc } from '../protocol/rc';

// ------------------------------------------------------------------------------------ handlers

/** Initiate actions by protocol name; custom (DME) actions as `custom:{bundleId}`. */
export type ActionName = 'reboot' | 'factoryReset' | 'firmwareDownload' | 'firmwareUpdate' | `custom:${string}`;
export const STANDARD_ACTIONS = ['reboot', 'factoryReset', 'firmwareDownload', 'firmwareUpdate'] as const;
export type FieldOp = 'update' | 'observe' | 'cancel';

/**
 * Answer a request: publishes `{"reqId":..,"rc":..,"message":..,"d":..}` (reqId first, rc second,
 * compact: protocol.md §7) on `iotdevice-1/type/T/id/D/response`. Resolves when the broker took it.
 * A request is answered once; a second call rejects. For a request without reqId (an update the
 * platform does not want answered, §3.3) it publishes nothing.
 */
export type ReplyFn = (rc: number, message?: string, d?: Record<string, unknown>) => Promise<void>;

interface RequestBase {
  device: DeviceRef;
  topic: string;
  reply: ReplyFn;
  /** true once reply() was called */
  answered(): boolean;
}
export interface ActionRequest extends RequestBase {
  action: ActionName;
  reqId: string;
  /** the validated message */
  body: { reqId: string; d?: Record<string, unknown> };
  bundleId?: string;
  actionId?: string;
}
export interface FieldRequest extends RequestBase {
  op: FieldOp;
  reqId?: string;
  /** the fields of this request the handler owns: `{field, value}` for update, `{field}` for observe/cancel */
  fields: FieldValue[];
}

/**
 * A handler plugs into the agent. It declares the actions and fields it takes and the `supports`
 * flags it brings to the manage request; the agent routes matching requests to it for every device
 * of the agent. A field `mgmt.firmware` also takes `mgmt.firmware.state` etc.
 */
export interface DmHandler {
  name?: string;
  actions?: readonly ActionName[];
  fields?: readonly string[];
  supports?: Readonly<Record<string, boolean>>;
  onAction?(req: ActionRequest): void | Promise<void>;
  onFields?(req: FieldRequest): void | Promise<void>;
}

// ------------------------------------------------------------------------------------ agent

export interface DeviceAgentOptions {
  /** the device, or the gateway itself */
  identity: DeviceRef;
  /** devices behind a gateway (gateway mode) */
  devices?: DeviceRef[];
  /** seconds; 0 = never dormant. Default 3600. */
  lifetime?: number;
  deviceInfo?: DeviceInfo;
  metadata?: Record<string, unknown>;
  /** manage publishes in flight at once (default 50) */
  concurrency?: number;
  /** debounce before managing after connect or a change of supports (default 100 ms) */
  settleMs?: number;
  /** above this many devices one wildcard subscription is used (default 50) */
  wildcardAbove?: number;
  /** how long a request of ours waits for its response (default 60 s) */
  requestTimeoutMs?: number;
  /** how long a multi-handler update/observe/cancel waits for each handler (default 30 s) */
  handlerTimeoutMs?: number;
}

export type ManageState = 'unmanaged' | 'managing' | 'managed' | 'failed';
export interface DeviceStatus {
  device: DeviceRef;
  state: ManageState;
  /** rc of the last manage response */
  rc?: number;
  message?: string;
  deviceInfo: DeviceInfo;
  metadata: Record<string, unknown>;
  location?: Record<string, unknown>;
}
export interface MessageErrorEvent {
  error: Error;
  topic: string;
  payload: string;
  device?: DeviceRef;
  reqId?: string;
}
export interface AnsweredEvent {
  device: DeviceRef;
  reqId: string;
  rc: number;
  topic: string;
}

interface Pending {
  key: string;
  resolve(r: DmResponse): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}
interface DeviceEntry extends DeviceStatus {
  key: string;
}

const BUILTIN_UPDATE_FIELDS = new Set(['location', 'metadata', 'deviceInfo']);
const SCHEMA_OF: Record<string, SchemaName> = {
  update: 'update',
  observe: 'observe',
  cancel: 'observe',
  reboot: 'initiate',
  factoryReset: 'initiate',
  firmwareDownload: 'initiate',
  firmwareUpdate: 'initiate',
  custom: 'custom',
};

/** reqId of a payload that may not be JSON or may fail the schema: a string of 1..256 or undefined */
function readReqId(body: unknown, text: string): string | undefined {
  if (body && typeof body === 'object' && !Array.isArray(body)) {
    const r = (body as { reqId?: unknown }).reqId;
    return typeof r === 'string' && r.length > 0 && r.length <= 256 ? r : undefined;
  }
  const m = /"reqId"\s*:\s*"([^"\\]{1,256})"/.exec(text);
  return m ? m[1] : undefined;
}

function fieldOwns(owner: string, field: string): boolean {
  return field === owner || field.startsWith(owner + '.');
}

export class DeviceAgent extends EventEmitter {
  readonly identity: DeviceRef;
  readonly lifetime: number;
  private readonly entries = new Map<string, DeviceEntry>();
  private readonly handlers = new Set<DmHandler>();
  private readonly actionOwners = new Map<string, DmHandler>();
  private readonly fieldOwners = new Map<string, DmHandler>();
  private readonly pending = new Map<string, Pending>();
  private readonly unsubs: (() => void)[] = [];
  private readonly opts: Required<Pick<DeviceAgentOptions, 'concurrency' | 'settleMs' | 'wildcardAbove' | 'requestTimeoutMs' | 'handlerTimeoutMs'>>;
  private settleTimer?: NodeJS.Timeout;
  private lifetimeTimer?: NodeJS.Timeout;
  /** handler deadlines of multi-handler field requests under way */
  private readonly partTimers = new Set<NodeJS.Timeout>();
  private run = 0;
  private started = false;
  private lastSupports = '';
  private readonly onState = (state: ConnectionState) => {
    if (state === 'connected') this.scheduleManageAll();
    else this.run++; // stop a manage round that is under way
  };

  constructor(
    readonly connection: Connection,
    options: DeviceAgentOptions,
  ) {
    super();
    const { identity } = options;
    if (!identity || !isValidId(identity.typeId) || !isValidId(identity.deviceId)) {
      throw new Error(`invalid device identity "${identity?.typeId}:${identity?.deviceId}"`);
    }
    const lifetime = options.lifetime ?? 3600;
    if (!Number.isInteger(lifetime) || lifetime < 0) throw new Error(`invalid lifetime ${options.lifetime}`);
    this.identity = { typeId: identity.typeId, deviceId: identity.deviceId };
    this.lifetime = lifetime;
    this.opts = {
      concurrency: Math.max(1, options.concurrency ?? 50),
      settleMs: Math.max(0, options.settleMs ?? 100),
      wildcardAbove: options.wildcardAbove ?? 50,
      requestTimeoutMs: options.requestTimeoutMs ?? 60000,
      handlerTimeoutMs: options.handlerTimeoutMs ?? 30000,
    };
    for (const d of [this.identity, ...(options.devices ?? [])]) {
      if (!isValidId(d.typeId) || !isValidId(d.deviceId)) throw new Error(`invalid device "${d.typeId}:${d.deviceId}"`);
      const key = deviceKey(d);
      if (this.entries.has(key)) continue;
      this.entries.set(key, {
        key,
        device: { typeId: d.typeId, deviceId: d.deviceId },
        state: 'unmanaged',
        deviceInfo: { ...(options.deviceInfo ?? {}) },
        metadata: { ...(options.metadata ?? {}) },
      });
    }
  }

  // ---------------------------------------------------------------- life cycle

  /** Subscribe and start managing (now if connected, else on connect). */
  start(): void {
    if (this.started) return;
    this.started = true;
    const handler = (topic: string, payload: Buffer) => this.onMessage(topic, payload);
    if (this.entries.size > this.opts.wildcardAbove) {
      this.unsubs.push(this.connection.subscribe(`${PLATFORM_ROOT}/type/+/id/+/#`, 1, handler));
    } else {
      for (const e of this.entries.values()) this.unsubs.push(this.connection.subscribe(deviceSubscription(e.device), 1, handler));
    }
    this.connection.on('state', this.onState);
    if (this.connection.connected) this.scheduleManageAll();
  }

  /** Stop timers, drop subscriptions, fail our waiting requests. Does not close the connection. */
  stop(): void {
    this.started = false;
    this.run++;
    clearTimeout(this.settleTimer);
    clearTimeout(this.lifetimeTimer);
    for (const t of this.partTimers) clearTimeout(t);
    this.partTimers.clear();
    this.connection.off('state', this.onState);
    for (const u of this.unsubs.splice(0)) u();
    for (const [reqId, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(reqId);
      p.reject(new Error('agent stopped'));
    }
  }

  // ---------------------------------------------------------------- devices

  get devices(): DeviceRef[] {
    return [...this.entries.values()].map((e) => e.device);
  }
  isOurs(device: DeviceRef): boolean {
    return this.entries.has(deviceKey(device));
  }
  status(device: DeviceRef): DeviceStatus | undefined {
    const e = this.entries.get(deviceKey(device));
    if (!e) return undefined;
    const { key: _key, ...rest } = e;
    return { ...rest, deviceInfo: { ...e.deviceInfo }, metadata: { ...e.metadata } };
  }
  counts(): Record<ManageState, number> {
    const c: Record<ManageState, number> = { unmanaged: 0, managing: 0, managed: 0, failed: 0 };
    for (const e of this.entries.values()) c[e.state]++;
    return c;
  }
  /** Change a device's deviceInfo (e.g. fwVersion after a firmware update); sent with the next manage. */
  setDeviceInfo(device: DeviceRef, patch: Partial<DeviceInfo>): void {
    const e = this.entry(device);
    Object.assign(e.deviceInfo, patch);
  }

  private entry(device: DeviceRef): DeviceEntry {
    const e = this.entries.get(deviceKey(device));
    if (!e) throw new Error(`device ${device.typeId}:${device.deviceId} is not served by this agent`);
    return e;
  }

  // ---------------------------------------------------------------- handlers

  /** The `supports` of the manage request: deviceActions/firmwareActions always present, plus handler flags and custom bundles. */
  supports(): Record<string, boolean> {
    const s: Record<string, boolean> = { deviceActions: false, firmwareActions: false };
    for (const h of this.handlers) {
      for (const [k, v] of Object.entries(h.supports ?? {})) if (v) s[k] = true;
      for (const a of h.actions ?? []) if (a.startsWith('custom:')) s[a.slice(7)] = true;
    }
    return s;
  }

  /** Register a handler; throws when one of its actions or fields already has a handler. Returns unregister. */
  register(handler: DmHandler): () => void {
    for (const a of handler.actions ?? []) {
      if (!(STANDARD_ACTIONS as readonly string[]).includes(a) && !/^custom:[A-Za-z0-9_.-]{1,255}$/.test(a)) {
        throw new Error(`unknown action "${a}"`);
      }
      if (this.actionOwners.has(a)) throw new Error(`action "${a}" already has a handler (${this.actionOwners.get(a)?.name ?? 'unnamed'})`);
    }
    for (const f of handler.fields ?? []) {
      if (this.fieldOwners.has(f)) throw new Error(`field "${f}" already has a handler (${this.fieldOwners.get(f)?.name ?? 'unnamed'})`);
    }
    this.handlers.add(handler);
    for (const a of handler.actions ?? []) this.actionOwners.set(a, handler);
    for (const f of handler.fields ?? []) this.fieldOwners.set(f, handler);
    this.supportsMayHaveChanged();
    return () => this.unregister(handler);
  }

  unregister(handler: DmHandler): void {
    if (!this.handlers.delete(handler)) return;
    for (const [k, h] of [...this.actionOwners]) if (h === handler) this.actionOwners.delete(k);
    for (const [k, h] of [...this.fieldOwners]) if (h === handler) this.fieldOwners.delete(k);
    this.supportsMayHaveChanged();
  }

  private supportsMayHaveChanged(): void {
    if (!this.started || !this.lastSupports) return; // the first manage round takes the current set
    if (JSON.stringify(this.supports()) !== this.lastSupports) this.scheduleManageAll();
  }

  // ---------------------------------------------------------------- manage

  private scheduleManageAll(): void {
    clearTimeout(this.settleTimer);
    this.settleTimer = setTimeout(() => void this.manageAll(), this.opts.settleMs);
  }

  /** Send a manage for every device, `concurrency` publishes at a time; re-armed for the lifetime. */
  async manageAll(): Promise<void> {
    if (!this.started || !this.connection.connected) return;
    const run = ++this.run;
    clearTimeout(this.lifetimeTimer);
    if (this.lifetime > 0) {
      // 90 % of the lifetime, and at least 2 minutes early once the lifetime allows it (IBM's SDK: lifetime-120)
      const early = Math.min(this.lifetime * 0.9, this.lifetime > 1200 ? this.lifetime - 120 : Infinity);
      this.lifetimeTimer = setTimeout(() => void this.manageAll(), Math.max(500, early * 1000));
    }
    // one supports for the whole round: it only changes when handlers do (which schedules a new round)
    const supports = this.supports();
    this.lastSupports = JSON.stringify(supports);
    const list = [...this.entries.values()];
    let next = 0;
    const worker = async () => {
      while (next < list.length && run === this.run) {
        const e = list[next++];
        const { published, response } = this.sendManage(e, supports);
        response.catch(() => undefined); // outcome recorded on the entry and in events
        try {
          await published;
        } catch {
          return; // disconnected: the next connect starts a new round
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.opts.concurrency, list.length) }, worker));
  }

  /**
   * Send a manage request for one device now, e.g. after it restarted: that completes the
   * platform's reboot or factory reset (protocol.md §3.8). Resolves with the platform's response.
   */
  async manage(device: DeviceRef = this.identity): Promise<DmResponse> {
    const e = this.entry(device);
    if (!this.started) throw new Error('agent is not started');
    if (!this.connection.connected) throw new Error('not connected (the device is managed again on connect)');
    return this.responseOf(this.sendManage(e));
  }

  private sendManage(e: DeviceEntry, supports = this.supports()): { published: Promise<void>; response: Promise<DmResponse> } {
    const body = {
      reqId: randomUUID(),
      d: { metadata: { ...e.metadata }, lifetime: this.lifetime, supports, deviceInfo: { ...e.deviceInfo } },
    };
    e.state = 'managing';
    const { published, response } = this.sendRequest(e, 'manage', body);
    this.emit('manage', { device: e.device, reqId: body.reqId, body });
    const outcome = response.then(
      (r) => {
        e.rc = r.rc;
        e.message = r.message;
        e.state = r.rc === RC.OK ? 'managed' : 'failed';
        this.emit('managed', { device: e.device, reqId: body.reqId, rc: r.rc, message: r.message });
        return r;
      },
      (err: Error) => {
        if (e.state === 'managing') e.state = 'failed';
        e.message = err.message;
        this.emit('manageError', { device: e.device, reqId: body.reqId, error: err });
        throw err;
      },
    );
    return { published, response: outcome };
  }

  // ---------------------------------------------------------------- device → platform

  /**
   * Send a request of ours (manage, unmanage, location, diag, notify with reqId) and wait for the
   * platform's response on `iotdm-1/type/T/id/D/response`.
   */
  async request(device: DeviceRef, path: DevicePathName, d?: Record<string, unknown>): Promise<DmResponse> {
    const e = this.entry(device);
    const body: { reqId: string; d?: Record<string, unknown> } = { reqId: randomUUID() };
    if (d !== undefined) body.d = d;
    return this.responseOf(this.sendRequest(e, path, body));
  }

  /**
   * The response, once the request is published. A failed publish rejects the response as well:
   * the caller hears of it once, through `published`, and the response's rejection is handled here.
   */
  private async responseOf(sent: { published: Promise<void>; response: Promise<DmResponse> }): Promise<DmResponse> {
    sent.response.catch(() => undefined);
    await sent.published;
    return sent.response;
  }

  /** Publish a message that wants no answer (a notify without reqId, §3.7). */
  async send(device: DeviceRef, path: DevicePathName, body: Record<string, unknown>): Promise<void> {
    const e = this.entry(device);
    return this.connection.publish(deviceTopic(DevicePath[path], e.device), JSON.stringify(body), 1);
  }

  /** Notify the platform of observed field changes (`fields[]` form, no reqId: protocol.md §3.7). */
  notify(device: DeviceRef, fields: FieldValue[]): Promise<void> {
    return this.send(device, 'notify', { d: { fields } });
  }

  private sendRequest(
    e: DeviceEntry,
    path: DevicePathName,
    body: { reqId: string },
  ): { published: Promise<void>; response: Promise<DmResponse> } {
    let timer!: NodeJS.Timeout;
    const response = new Promise<DmResponse>((resolve, reject) => {
      timer = setTimeout(() => {
        this.pending.delete(body.reqId);
        reject(new Error(`no response to ${path} ${body.reqId} within ${this.opts.requestTimeoutMs} ms`));
      }, this.opts.requestTimeoutMs);
      this.pending.set(body.reqId, { key: e.key, resolve, reject, timer });
    });
    const published = this.connection.publish(deviceTopic(DevicePath[path], e.device), JSON.stringify(body), 1).catch((err: Error) => {
      const p = this.pending.get(body.reqId);
      if (p) {
        clearTimeout(p.timer);
        this.pending.delete(body.reqId);
        p.reject(err);
      }
      throw err;
    });
    return { published, response };
  }

  // ---------------------------------------------------------------- platform → device

  private onMessage(topic: string, payload: Buffer): void {
    try {
      this.route(topic, payload);
    } catch (err) {
      // a bug of ours must not reach the MQTT client
      this.emit('messageError', { error: err as Error, topic, payload: payload.toString('utf8') } satisfies MessageErrorEvent);
    }
  }

  private route(topic: string, payload: Buffer): void {
    const t = parseTopic(topic);
    if (!t || t.root !== PLATFORM_ROOT || !t.device) return;
    const e = this.entries.get(deviceKey(t.device));
    if (!e) return; // another device's message (wildcard subscription)
    const text = payload.toString('utf8');
    let body: unknown;
    try {
      body = parsePayload(text);
    } catch (err) {
      this.invalid(e, topic, text, err as Error, readReqId(undefined, text), t.name !== 'response');
      return;
    }
    if (t.name === 'response') {
      this.onResponse(e, topic, text, body);
      return;
    }
    const reqId = readReqId(body, text);
    if (!t.name) {
      // an iotdm-1 path the protocol does not define (or a malformed custom action)
      if (reqId) this.autoReply(e, reqId, RC.NOT_IMPLEMENTED, `${t.path} is not supported`, topic);
      this.emit('unhandled', { device: e.device, topic, reqId });
      return;
    }
    let valid: unknown;
    try {
      valid = check(SCHEMA_OF[t.name], body);
    } catch (err) {
      this.invalid(e, topic, text, err as Error, reqId, true);
      return;
    }
    if (t.name === 'update' || t.name === 'observe' || t.name === 'cancel') {
      this.onFields(e, t.name, topic, valid as UpdateRequest | ObserveRequest);
      return;
    }
    const action: ActionName = t.name === 'custom' ? `custom:${t.bundleId}` : (t.name as ActionName);
    this.onAction(e, action, topic, valid as ActionRequest['body'], t.bundleId, t.actionId);
  }

  private invalid(e: DeviceEntry, topic: string, text: string, error: Error, reqId: string | undefined, answer: boolean): void {
    if (answer && reqId) this.autoReply(e, reqId, RC.BAD_REQUEST, error.message, topic);
    const err = error instanceof ValidationError ? error : new ValidationError(error.message);
    this.emit('messageError', { error: err, topic, payload: text, device: e.device, reqId } satisfies MessageErrorEvent);
  }

  private onResponse(e: DeviceEntry, topic: string, text: string, body: unknown): void {
    let r: DmResponse;
    try {
      r = normalizeResponse(check('response', body));
    } catch (err) {
      this.invalid(e, topic, text, err as Error, undefined, false); // never answer a response
      return;
    }
    const p = this.pending.get(r.reqId);
    if (!p || p.key !== e.key) {
      this.emit('debug', `response to unknown reqId ${r.reqId} for ${e.key} ignored`);
      return;
    }
    clearTimeout(p.timer);
    this.pending.delete(r.reqId);
    p.resolve(r);
  }

  /** reply function for one request; `reqId` undefined → a no-op (nothing to answer) */
  private makeReply(e: DeviceEntry, reqId: string | undefined, topic: string): { reply: ReplyFn; answered(): boolean } {
    let done = false;
    const reply: ReplyFn = (rc, message, d) => {
      if (done) return Promise.reject(new Error(`request ${reqId} was already answered`));
      done = true;
      if (!reqId) return Promise.resolve();
      if (!Number.isInteger(rc) || rc < 100 || rc > 999) return Promise.reject(new Error(`invalid rc ${rc}`));
      // key order matters: reqId first, rc second (IBM's embedded C client, protocol.md §7)
      const out: Record<string, unknown> = { reqId, rc };
      if (message !== undefined && message !== '') out.message = String(message);
      if (d !== undefined) out.d = d;
      this.emit('answered', { device: e.device, reqId, rc, topic } satisfies AnsweredEvent);
      return this.connection.publish(deviceTopic(DevicePath.response, e.device), JSON.stringify(out), 1);
    };
    return { reply, answered: () => done };
  }

  private autoReply(e: DeviceEntry, reqId: string, rc: number, message: string | undefined, topic: string, d?: Record<string, unknown>): void {
    this.makeReply(e, reqId, topic)
      .reply(rc, message, d)
      .catch((err: Error) => this.emit('debug', `answer ${rc} to ${reqId} not sent: ${err.message}`));
  }

  /** Call a handler; a throw or a rejection answers 500 unless it already answered. */
  private invoke(call: () => void | Promise<void>, r: { reply: ReplyFn; answered(): boolean }, ctx: Record<string, unknown>): void {
    const fail = (err: unknown) => {
      const error = err instanceof Error ? err : new Error(String(err));
      this.emit('handlerError', { error, ...ctx });
      if (!r.answered()) r.reply(RC.INTERNAL_ERROR, error.message).catch(() => undefined);
    };
    try {
      const p = call();
      if (p && typeof (p as Promise<void>).then === 'function') (p as Promise<void>).then(undefined, fail);
    } catch (err) {
      fail(err);
    }
  }

  private onAction(e: DeviceEntry, action: ActionName, topic: string, body: ActionRequest['body'], bundleId?: string, actionId?: string): void {
    const h = this.actionOwners.get(action);
    if (!h?.onAction) {
      this.autoReply(e, body.reqId, RC.NOT_IMPLEMENTED, `${action} is not supported`, topic);
      this.emit('unhandled', { device: e.device, topic, reqId: body.reqId, action });
      return;
    }
    const r = this.makeReply(e, body.reqId, topic);
    const req: ActionRequest = { action, device: e.device, topic, reqId: body.reqId, body, bundleId, actionId, ...r };
    this.invoke(() => h.onAction!(req), r, { device: e.device, topic, reqId: body.reqId, action });
  }

  private onFields(e: DeviceEntry, op: FieldOp, topic: string, body: UpdateRequest | ObserveRequest): void {
    const reqId = body.reqId;
    const items: FieldValue[] =
      op === 'update' ? (body as UpdateRequest).d.fields : observedFields(body as ObserveRequest).map((field) => ({ field }));
    const groups = new Map<DmHandler, FieldValue[]>();
    const builtin: FieldValue[] = [];
    const unknown: string[] = [];
    for (const it of items) {
      let owner: DmHandler | undefined;
      let best = -1;
      for (const [f, h] of this.fieldOwners) {
        if (fieldOwns(f, it.field) && f.length > best && h.onFields) {
          owner = h;
          best = f.length;
        }
      }
      if (owner) {
        const g = groups.get(owner) ?? [];
        g.push(it);
        groups.set(owner, g);
      } else if (op === 'update' && BUILTIN_UPDATE_FIELDS.has(it.field)) builtin.push(it);
      else unknown.push(it.field);
    }
    const success = op === 'update' ? RC.CHANGED : RC.OK;
    const failedBuiltin = this.applyBuiltin(e, builtin);

    // one handler owns every field: its answer is the answer
    if (groups.size === 1 && builtin.length === 0 && unknown.length === 0) {
      const [[h, fields]] = [...groups];
      const r = this.makeReply(e, reqId, topic);
      this.invoke(() => h.onFields!({ op, device: e.device, topic, reqId, fields, ...r }), r, { device: e.device, topic, reqId, op });
      return;
    }

    // otherwise each handler answers its part and the agent answers once for all
    const parts = [...groups].map(([h, fields]) => {
      let settle!: (v: { rc: number; message?: string; d?: Record<string, unknown>; fields: FieldValue[] }) => void;
      const p = new Promise<{ rc: number; message?: string; d?: Record<string, unknown>; fields: FieldValue[] }>((res) => (settle = res));
      let done = false;
      const timer = setTimeout(() => {
        this.partTimers.delete(timer);
        if (!done) {
          done = true;
          settle({ rc: RC.INTERNAL_ERROR, message: 'no answer from the handler', fields });
        }
      }, this.opts.handlerTimeoutMs);
      this.partTimers.add(timer);
      const reply: ReplyFn = (rc, message, d) => {
        if (done) return Promise.reject(new Error(`request ${reqId} was already answered`));
        done = true;
        clearTimeout(timer);
        this.partTimers.delete(timer);
        settle({ rc, message, d, fields });
        return Promise.resolve();
      };
      const r = { reply, answered: () => done };
      this.invoke(() => h.onFields!({ op, device: e.device, topic, reqId, fields, ...r }), r, { device: e.device, topic, reqId, op });
      return p;
    });
    void Promise.all(parts).then((results) => {
      const failed: string[] = [...unknown, ...failedBuiltin.map((f) => f.field)];
      const messages: string[] = [];
      if (unknown.length) messages.push(`not found: ${unknown.join(', ')}`);
      if (failedBuiltin.length) messages.push(...failedBuiltin.map((f) => `${f.field}: ${f.message}`));
      let rc: number = unknown.length ? RC.NOT_FOUND : failedBuiltin.length ? RC.INTERNAL_ERROR : success;
      const values: unknown[] = [];
      for (const res of results) {
        const list = Array.isArray(res.d?.fields) ? (res.d!.fields as unknown[]) : [];
        if (isSuccessRc(res.rc)) {
          values.push(...list);
          continue;
        }
        if (rc === success) rc = res.rc;
        if (res.message) messages.push(res.message);
        const names = list.length ? list.map((x) => (typeof x === 'string' ? x : (x as FieldValue).field)) : res.fields.map((f) => f.field);
        failed.push(...names);
      }
      let d: Record<string, unknown> | undefined;
      if (rc !== success) {
        if (op === 'update') d = { fields: failed };
        else if (op === 'observe') d = { fields: failed.map((field) => ({ field })) };
      } else if (op === 'observe' && values.length) d = { fields: values };
      const message = rc === success ? undefined : messages.join('; ') || RC_TEXT[rc];
      if (reqId) this.autoReply(e, reqId, rc, message, topic, d);
    }).catch((err: Error) => this.emit('handlerError', { error: err, device: e.device, topic, reqId, op })); // e.g. a handler's malformed d.fields
  }

  /** location / metadata / deviceInfo of a device/update, applied to the device's own settings. */
  private applyBuiltin(e: DeviceEntry, fields: FieldValue[]): { field: string; message: string }[] {
    const failed: { field: string; message: string }[] = [];
    for (const f of fields) {
      const v = f.value;
      if (!v || typeof v !== 'object' || Array.isArray(v)) {
        failed.push({ field: f.field, message: 'value must be an object' });
        continue;
      }
      if (f.field === 'location') e.location = { ...(v as Record<string, unknown>) };
      else if (f.field === 'metadata') e.metadata = { ...(v as Record<string, unknown>) };
      else e.deviceInfo = { ...(v as DeviceInfo) };
      this.emit('attributes', { device: e.device, field: f.field, value: v });
    }
    return failed;
  }
}

// ------------------------------------------------------------------------------------ host

/** A user of the agent's connection: told every change of connection state (and once on add). */
export interface AgentUser {
  onConnectionState?(state: ConnectionState, detail?: string): void;
}

/**
 * What the `iotdm-device` config node offers to its handler nodes (kept here, free of Node-RED, so
 * a handler node needs only this type): the agent (absent when the configuration is invalid, with
 * `configError` saying why) and the connection state fan-out.
 */
export interface DeviceAgentHost {
  agent?: DeviceAgent;
  configError?: string;
  addUser(user: AgentUser): void;
  removeUser(user: AgentUser): void;
}
