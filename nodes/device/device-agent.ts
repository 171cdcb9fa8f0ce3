/**
 * The device side of the DM protocol (docs/protocol.md §1–§3, §3.11): one device identity, or a gateway
 * and the devices behind it, over one DevicePort (the wire). No Node-RED or transport import.
 *
 * The facade over its parts:
 * - manage-lifecycle.ts: manage on every connect, before `lifetime` runs out, when `supports` change;
 * - request-router.ts: every inbound `iotdm-1` message parsed, validated and routed to the handler
 *   of its action, to field-router.ts (update/observe/cancel), or to pending-requests.ts (responses
 *   to our own requests, matched by reqId);
 * - answers.ts: one reply per request, and the agent's own answers (400, 404, 500, 501);
 * - handler-table.ts and handler-types.ts: the handlers and what they are given.
 * On start it subscribes to `iotdm-1/type/T/id/D/#` for each device (one wildcard subscription
 * filtered to the known devices when there are many).
 */
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import { deviceKey, deviceSubscription, deviceTopic, DevicePath, isValidId, PLATFORM_ROOT, type DevicePathName, type DeviceRef } from '../protocol/topics';
import type { DeviceInfo, DmResponse, FieldValue } from '../protocol/messages';
import type { DmHandler } from './handler-types';
import type { AgentTimings, DeviceAgentEvents, DeviceAgentOptions, DeviceEntry, DeviceManageStatus, ManageState } from './agent-model';
import type { DevicePort } from './device-port';
import { HandlerTable } from './handler-table';
import { PendingRequests, responseOf } from './pending-requests';
import { Answers } from './answers';
import { FieldRouter } from './field-router';
import { RepeatedRequests } from './repeated-requests';
import { RequestRouter } from './request-router';
import { ManageLifecycle } from './manage-lifecycle';

export type { ActionName, ActionRequest, DmHandler, FieldOp, FieldRequest, ReplyFn } from './handler-types';
export { STANDARD_ACTIONS } from './handler-types';
export type * from './agent-model';
export type { DevicePort } from './device-port';

export class DeviceAgent extends EventEmitter<DeviceAgentEvents> {
  readonly identity: DeviceRef;
  readonly lifetime: number;
  private readonly entries = new Map<string, DeviceEntry>();
  private readonly opts: AgentTimings;
  private readonly handlers: HandlerTable;
  private readonly pending: PendingRequests;
  private readonly fields: FieldRouter;
  private readonly router: RequestRouter;
  private readonly lifecycle: ManageLifecycle;
  private readonly unsubs: (() => void)[] = [];
  /** per-device subscriptions (none while one wildcard subscription serves every device) */
  private readonly deviceSubs = new Map<string, () => void>();
  private wildcard = false;
  private readonly gateway: boolean;
  private readonly entryDefaults: Pick<DeviceEntry, 'deviceInfo' | 'metadata'>;

  constructor(
    readonly connection: DevicePort,
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
    this.gateway = options.gateway ?? (options.devices?.length ?? 0) > 0;
    this.entryDefaults = { deviceInfo: { ...(options.deviceInfo ?? {}) }, metadata: { ...(options.metadata ?? {}) } };
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
    this.handlers = new HandlerTable(() => this.lifecycle.supportsMayHaveChanged());
    this.pending = new PendingRequests(connection, this.opts.requestTimeoutMs);
    const answers = new Answers(connection, this);
    this.fields = new FieldRouter(this.handlers, answers, this, this.opts.handlerTimeoutMs);
    this.router = new RequestRouter({
      entries: this.entries,
      handlers: this.handlers,
      pending: this.pending,
      answers,
      fields: this.fields,
      events: this,
      repeated: new RepeatedRequests(),
    });
    const supports = () => this.handlers.supports();
    this.lifecycle = new ManageLifecycle({ port: connection, entries: this.entries, pending: this.pending, supports, events: this }, lifetime, this.opts);
  }

  // ---------------------------------------------------------------- life cycle

  /** Subscribe and start managing (now if connected, else on connect). */
  start(): void {
    if (this.lifecycle.running) return;
    const listener = this.router.onMessage;
    this.wildcard = this.entries.size > this.opts.wildcardAbove;
    if (this.wildcard) {
      this.unsubs.push(this.connection.subscribe(`${PLATFORM_ROOT}/type/+/id/+/#`, 1, listener));
    } else {
      for (const e of this.entries.values()) this.deviceSubs.set(e.key, this.connection.subscribe(deviceSubscription(e.device), 1, listener));
    }
    this.lifecycle.start();
  }

  /** Stop timers, drop subscriptions, fail our waiting requests. Does not close the connection. */
  stop(): void {
    this.lifecycle.stop();
    this.fields.stop();
    for (const u of this.unsubs.splice(0)) u();
    for (const u of this.deviceSubs.values()) u();
    this.deviceSubs.clear();
    this.pending.rejectAll(new Error('agent stopped'));
  }

  /** Send a manage for every device now (see ManageLifecycle.manageAll). */
  manageAll(): Promise<void> {
    return this.lifecycle.manageAll();
  }

  /**
   * Send a manage request for one device now, e.g. after it restarted: that completes the
   * platform's reboot or factory reset (docs/protocol.md §3.8). Resolves with the platform's response.
   */
  async manage(device: DeviceRef = this.identity): Promise<DmResponse> {
    return this.lifecycle.manage(this.entry(device));
  }

  // ---------------------------------------------------------------- devices

  /**
   * A device bridged in behind the gateway at run time (BLE, Modbus, serial): served from now on,
   * subscribed and managed (the platform authorises the gateway for it by its own policy). Resolves
   * with the manage's response, or undefined when the agent is not started yet (it manages on start).
   */
  async addDevice(device: DeviceRef): Promise<DmResponse | undefined> {
    if (!this.gateway) throw new Error('only a gateway has devices behind it');
    if (!isValidId(device?.typeId) || !isValidId(device?.deviceId)) throw new Error(`invalid device "${device?.typeId}:${device?.deviceId}"`);
    const key = deviceKey(device);
    let e = this.entries.get(key);
    if (!e) {
      e = {
        key,
        device: { typeId: device.typeId, deviceId: device.deviceId },
        state: 'unmanaged',
        deviceInfo: { ...this.entryDefaults.deviceInfo },
        metadata: { ...this.entryDefaults.metadata },
      };
      this.entries.set(key, e);
    }
    if (!this.lifecycle.running) return undefined;
    if (!this.wildcard && !this.deviceSubs.has(key))
      this.deviceSubs.set(key, this.connection.subscribe(deviceSubscription(e.device), 1, this.router.onMessage));
    return this.lifecycle.manage(e);
  }

  /** A device gone from behind the gateway: unmanaged (docs/protocol.md §3.2), unsubscribed, no longer served. */
  async removeDevice(device: DeviceRef): Promise<void> {
    if (!this.gateway) throw new Error('only a gateway has devices behind it');
    const key = deviceKey(device);
    if (key === deviceKey(this.identity)) throw new Error('a gateway cannot remove itself');
    const e = this.entry(device);
    try {
      if (this.lifecycle.running && e.state !== 'unmanaged') await this.request(device, 'unmanage');
    } finally {
      this.deviceSubs.get(key)?.();
      this.deviceSubs.delete(key);
      this.entries.delete(key);
    }
  }

  get devices(): DeviceRef[] {
    return [...this.entries.values()].map((e) => e.device);
  }
  isOurs(device: DeviceRef): boolean {
    return this.entries.has(deviceKey(device));
  }
  status(device: DeviceRef): DeviceManageStatus | undefined {
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

  /** The `supports` of the manage request (see HandlerTable.supports). */
  supports(): Record<string, boolean> {
    return this.handlers.supports();
  }

  /** Plug a handler in; throws when one of its actions or fields already has a handler. Returns its removal. */
  addHandler(handler: DmHandler): () => void {
    this.handlers.add(handler);
    return () => this.removeHandler(handler);
  }

  removeHandler(handler: DmHandler): void {
    this.handlers.remove(handler);
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
    return responseOf(this.pending.send(e.key, deviceTopic(DevicePath[path], e.device), path, body));
  }

  /** Publish a message that wants no answer (a notify without reqId, §3.7). */
  async send(device: DeviceRef, path: DevicePathName, body: Record<string, unknown>): Promise<void> {
    const e = this.entry(device);
    return this.connection.publish(deviceTopic(DevicePath[path], e.device), JSON.stringify(body), 1);
  }

  /** Notify the platform of observed field changes (`fields[]` form, no reqId: docs/protocol.md §3.7). */
  notify(device: DeviceRef, fields: FieldValue[]): Promise<void> {
    return this.send(device, 'notify', { d: { fields } });
  }
}
