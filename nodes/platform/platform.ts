/**
 * The platform side of the protocol, without Node-RED: every device-scoped `iotdevice-1` message
 * goes through handleMessage(), which validates it, answers the device's own requests on
 * `iotdm-1/type/T/id/D/response` (manage, unmanage, location, diag, notify with a reqId), keeps the
 * registry, and routes responses, manages and notifies to the running management requests.
 */
import { EventEmitter } from 'node:events';
import { parseTopic, platformTopic, PlatformPath, type DeviceRef } from '../protocol/topics';
import { check, parsePayload, storedWithin, ValidationError, isValid, type MessageTypes } from '../protocol/validate';
import { BOUNDS, excerpt, type Bounds } from '../protocol/bounds';
import { RC } from '../protocol/rc';
import { readReqId } from '../protocol/req-id';
import { normalizeResponse, notifyFields, type DeviceInfo, type DmResponse, type FirmwareAttributes, type NotifyRequest } from '../protocol/messages';
import { Registry } from './registry';
import { RequestManager, type Publish, type RequestManagerOptions } from './request-manager';

export interface InboundInfo {
  topic: string;
  payload: string;
  device?: DeviceRef;
}

export interface PlatformEvents {
  /** an inbound message was invalid; it was answered with 400 (or 404) when it carried a reqId */
  invalid: [err: ValidationError, info: InboundInfo];
  /** a response no running exchange waits for (late, duplicated, or for another platform) */
  unmatched: [resp: DmResponse, device: DeviceRef];
  /** a device request was handled: manage, unmanage, location, ... */
  deviceRequest: [name: string, device: DeviceRef, rc: number];
}

/**
 * The device's requests other than manage and notify, each named as its schema: what the registry
 * does with the validated message (all carry a reqId and get 200, or 404 for an unknown device).
 */
const DEVICE_REQUESTS: {
  [N in 'unmanage' | 'location' | 'addErrorCode' | 'clearErrorCodes' | 'addLog' | 'clearLog']: (reg: Registry, device: DeviceRef, msg: MessageTypes[N]) => void;
} = {
  unmanage: (reg, device) => reg.unmanage(device),
  location: (reg, device, msg) => reg.setLocation(device, msg.d),
  addErrorCode: (reg, device, msg) => reg.addErrorCode(device, msg.d.errorCode),
  clearErrorCodes: (reg, device) => reg.clearErrorCodes(device),
  addLog: (reg, device, msg) => reg.addLog(device, msg.d),
  clearLog: (reg, device) => reg.clearLog(device),
};
type DeviceRequestName = keyof typeof DEVICE_REQUESTS;

function isDeviceRequest(name: string): name is DeviceRequestName {
  return Object.hasOwn(DEVICE_REQUESTS, name);
}

export interface PlatformOptions extends RequestManagerOptions {
  /** bounds of inbound messages and stored records (bounds.ts); the operator may raise metadataBytes */
  bounds?: Partial<Bounds>;
}

/** The longest message text of an answer to a device (the text is ours, its quotes are excerpts). */
const ANSWER_MESSAGE_CHARS = 300;

export class Platform extends EventEmitter<PlatformEvents> {
  readonly registry: Registry;
  readonly requests: RequestManager;
  readonly bounds: Bounds;

  constructor(
    private readonly publish: Publish,
    options: PlatformOptions = {},
  ) {
    super();
    this.bounds = { ...BOUNDS, ...options.bounds };
    this.registry = new Registry(options.now, this.bounds.logBytes);
    this.requests = new RequestManager(this.registry, publish, options);
  }

  /**
   * Answer a device request: compact JSON with reqId first and rc second, which IBM's embedded C
   * client needs to parse it (docs/protocol.md §7.14).
   */
  private answer(device: DeviceRef, reqId: string, rc: number, message?: string): void {
    // written as JSON.stringify({reqId, rc, message}) would write it, the reqId (the device's text) escaped
    let body = `{"reqId":${JSON.stringify(reqId)},"rc":${rc}`;
    if (message) body += `,"message":${JSON.stringify(message.length > ANSWER_MESSAGE_CHARS ? `${message.slice(0, ANSWER_MESSAGE_CHARS)}…` : message)}`;
    this.publish(platformTopic(PlatformPath.response, device), `${body}}`).catch(() => undefined);
  }

  handleMessage(topic: string, payload: Buffer | string): void {
    // the text of the payload is decoded once, by parsePayload; the error paths decode their own copy
    const raw = () => (typeof payload === 'string' ? payload : payload.toString('utf8'));
    const parsed = parseTopic(topic);
    if (!parsed || parsed.root !== 'iotdevice-1' || !parsed.device) {
      this.emit('invalid', new ValidationError(`not a device-scoped iotdevice-1 topic: ${excerpt(topic, 80)}`), { topic, payload: raw() });
      return;
    }
    const device = parsed.device;
    let data: unknown;
    try {
      data = parsePayload(payload, this.bounds);
    } catch (err) {
      this.reject(device, topic, raw(), undefined, err as ValidationError);
      return;
    }
    if (!parsed.name) {
      this.reject(device, topic, raw(), data, new ValidationError(`unknown device-management topic "${excerpt(parsed.path, 80)}"`));
      return;
    }
    try {
      this.dispatch(parsed.name, device, data, payload.length);
    } catch (err) {
      if (err instanceof ValidationError) this.reject(device, topic, raw(), data, err, parsed.name === 'response');
      else this.reject(device, topic, raw(), data, new ValidationError(`internal error: ${(err as Error).message}`));
    }
  }

  private reject(device: DeviceRef, topic: string, raw: string, data: unknown, err: ValidationError, silent = false): void {
    const reqId = readReqId(data, raw);
    // responses are never answered; everything else gets its 400 when we can name the request
    if (reqId && !silent) this.answer(device, reqId, RC.BAD_REQUEST, err.message);
    this.emit('invalid', err, { topic, payload: raw, device });
  }

  /** `chars`: the payload's length (bytes or characters), at least that of its text */
  private dispatch(name: string, device: DeviceRef, data: unknown, chars: number): void {
    const reg = this.registry;
    switch (name) {
      case 'response': {
        const resp = normalizeResponse(check('response', data));
        reg.seen(device);
        if (!this.requests.handleResponse(device, resp)) this.emit('unmatched', resp, device);
        return;
      }
      case 'manage': {
        const m = check('manage', data);
        // nothing of a manage is kept unless all of it fits the record's bounds. A part written as JSON
        // is at most 5.25 times as long as the text it was parsed from (strings and keys never grow; a
        // number such as 1e20 is written out in 21 characters): a short manage needs no measuring
        if (chars * 6 > this.bounds.metadataBytes) storedWithin('d.metadata', m.d?.metadata, this.bounds.metadataBytes);
        if (chars * 6 > this.bounds.deviceInfoBytes) storedWithin('d.deviceInfo', m.d?.deviceInfo, this.bounds.deviceInfoBytes);
        reg.manage(device, m.d ?? {});
        this.answer(device, m.reqId, RC.OK);
        this.emit('deviceRequest', name, device, RC.OK);
        this.requests.handleManage(device);
        return;
      }
      case 'notify':
        return this.notify(device, check('notify', data));
    }
    if (!isDeviceRequest(name)) throw new ValidationError(`"${name}" is not a request a device sends`);
    this.deviceRequest(name, device, data);
  }

  /** One of DEVICE_REQUESTS: validated by its own schema, done on a registered device, answered. */
  private deviceRequest<N extends DeviceRequestName>(name: N, device: DeviceRef, data: unknown): void {
    const msg = check(name, data);
    if (!this.registry.get(device)) {
      this.answer(device, msg.reqId, RC.NOT_FOUND, 'device is not registered: send a manage request first');
      this.emit('deviceRequest', name, device, RC.NOT_FOUND);
      return;
    }
    DEVICE_REQUESTS[name](this.registry, device, msg);
    this.answer(device, msg.reqId, RC.OK);
    this.emit('deviceRequest', name, device, RC.OK);
  }

  /**
   * A notify, in either shape, with or without reqId (docs/protocol.md §3.7). Only a notify with a
   * reqId is answered: IBM's Python client dies on an answer it did not ask for (§10).
   */
  private notify(device: DeviceRef, n: NotifyRequest): void {
    const rec = this.registry.get(device);
    if (!rec) {
      if (n.reqId) this.answer(device, n.reqId, RC.NOT_FOUND, 'device is not registered');
      return;
    }
    let firmware: Partial<FirmwareAttributes> | undefined;
    let deviceInfo: DeviceInfo | undefined;
    let location: MessageTypes['location']['d'] | undefined;
    // every field is checked before any is kept: a notify is applied whole or not at all
    for (const f of notifyFields(n)) {
      if (f.field === 'mgmt.firmware') {
        if (!f.value || typeof f.value !== 'object' || !isValid('firmwareValue', f.value)) {
          throw new ValidationError('mgmt.firmware value is not a valid firmware object');
        }
        firmware = { ...firmware, ...f.value };
      } else if (f.field.startsWith('mgmt.firmware.')) {
        const key = f.field.slice('mgmt.firmware.'.length);
        const one = { [key]: f.value };
        if (!isValid('firmwareValue', one)) throw new ValidationError(`${f.field}: invalid value`);
        firmware = { ...firmware, ...one };
      } else if (f.field.startsWith('deviceInfo.') && typeof f.value === 'string') {
        deviceInfo = { ...(deviceInfo ?? rec.deviceInfo), [f.field.slice('deviceInfo.'.length)]: f.value };
      } else if (f.field === 'location' && f.value && typeof f.value === 'object') {
        location = check('location', { reqId: 'notify', d: f.value }).d;
      }
    }
    if (deviceInfo) storedWithin('deviceInfo', deviceInfo, this.bounds.deviceInfoBytes);
    if (firmware) storedWithin('mgmt.firmware', { ...rec.mgmt.firmware, ...firmware }, this.bounds.firmwareBytes);
    if (deviceInfo) this.registry.mergeDeviceInfo(device, deviceInfo);
    if (location) this.registry.setLocation(device, location);
    this.registry.seen(device);
    if (firmware) {
      this.registry.mergeFirmware(device, firmware);
      this.requests.handleFirmwareNotify(device, firmware);
    }
    if (n.reqId) this.answer(device, n.reqId, RC.OK);
  }

  close(): void {
    this.requests.close();
    this.registry.close();
  }
}
