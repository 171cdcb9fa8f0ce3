/**
 * What a management request asks and what each of its devices can do, decided before anything is
 * published (docs/protocol.md §5, §8): the REST body is validated, its parameters and devices checked,
 * and every device that cannot run the plan gets its refusal (404 unknown, 403 unable, 409 busy).
 */
import { check, ValidationError } from '../protocol/validate';
import { deviceKey, type DeviceRef } from '../protocol/topics';
import { FIRMWARE_PARAMETERS, type MgmtRequestBody } from '../protocol/messages';
import { planFor, type Plan } from './plans';
import type { Registry } from './registry';

export interface InitiateOptions {
  /** overrides the body's `timeout` and the platform default */
  timeoutMs?: number;
  /** who launched it: a node id, "http", "editor" */
  origin?: string;
  /** refuse the whole request (404 / 403 / 409) when a device is unknown, unable or busy (the REST API) */
  strict?: boolean;
  /** cancel an in-flight firmware request of the same devices (REST `?override=true`) */
  override?: boolean;
}

/** Refusal of a whole request, with the HTTP status the REST API answers. */
export class InitiateError extends Error {
  constructor(
    message: string,
    readonly statusCode: 400 | 403 | 404 | 409,
    readonly devices: DeviceRef[] = [],
    /** for an invalid body: the validator's path of each error (JSON pointers), for tools */
    readonly paths: string[] = [],
  ) {
    super(message);
    this.name = 'InitiateError';
  }
}

export interface Refusal {
  rc: number;
  message: string;
}

export interface Admission {
  body: MgmtRequestBody;
  plan: Plan;
  parameterMap: Record<string, string>;
  /** by device key: the devices that fail on their own, unpublished */
  refusals: Map<string, Refusal>;
  /** the key of each device of the body, in its order (built once: three uses a device) */
  keys: string[];
}

/**
 * Validate `body` and judge each device against the registry. Throws InitiateError (400 invalid
 * body; with `strict`, 404 unknown device, 403 unable, 409 busy). `firmwareBusy` names the request
 * holding each device's firmware, unless `override` lets the new request take it.
 */
export function admit(body: unknown, registry: Registry, firmwareBusy: ReadonlyMap<string, { request: { id: string } }>, opts: InitiateOptions): Admission {
  let b: MgmtRequestBody;
  try {
    b = check('mgmtRequestBody', body);
  } catch (err) {
    const e = err as ValidationError;
    throw new InitiateError(`invalid request: ${e.message}`, 400, [], e.paths ?? []);
  }
  const plan = planFor(b.action);
  const parameterMap: Record<string, string> = {};
  for (const p of b.parameters ?? []) {
    if (p.name in parameterMap) throw new InitiateError(`invalid request: parameter "${p.name}" given twice`, 400);
    if (plan.firmware && !(FIRMWARE_PARAMETERS as readonly string[]).includes(p.name)) {
      throw new InitiateError(`invalid request: unknown parameter "${p.name}" for ${b.action} (uri, name, verifier, version)`, 400);
    }
    parameterMap[p.name] = p.value;
  }
  const keys = b.devices.map(deviceKey);
  const seen = new Set<string>();
  for (const k of keys) {
    if (seen.has(k)) throw new InitiateError(`invalid request: device ${k} is listed twice`, 400);
    seen.add(k);
  }
  if (plan.oneType && new Set(b.devices.map((d) => d.typeId)).size > 1) {
    throw new InitiateError(
      `invalid request: ${b.action} targets devices of one type; this request mixes ${[...new Set(b.devices.map((d) => d.typeId))].slice(0, 5).join(', ')}`,
      400,
    );
  }

  // what each device can do, before anything is published
  const refusals = new Map<string, Refusal>();
  const unknown: DeviceRef[] = [];
  const unable: DeviceRef[] = [];
  const busy: DeviceRef[] = [];
  for (let i = 0; i < keys.length; i++) {
    const d = b.devices[i];
    const k = keys[i];
    const rec = registry.getByKey(k);
    if (!rec) {
      unknown.push(d);
      refusals.set(k, { rc: 404, message: 'device is not registered (it never sent a manage request)' });
    } else if (!rec.managed) {
      unable.push(d);
      refusals.set(k, { rc: 403, message: rec.dormant ? 'device is dormant (not managed)' : 'device is not managed' });
    } else if (!rec.supports[plan.requires]) {
      unable.push(d);
      refusals.set(k, {
        rc: 403,
        message: `device does not support ${plan.requires === 'deviceActions' || plan.requires === 'firmwareActions' ? plan.requires : `the bundle ${plan.requires}`}`,
      });
    } else if (plan.firmware && firmwareBusy.has(k) && !opts.override) {
      busy.push(d);
      const other = firmwareBusy.get(k)!;
      refusals.set(k, { rc: 409, message: `a firmware request (${other.request.id}) is in progress for this device` });
    }
  }
  if (opts.strict) {
    if (unknown.length) throw new InitiateError(`${unknown.length} device(s) do not exist: ${unknown.slice(0, 5).map(deviceKey).join(', ')}`, 404, unknown);
    if (unable.length)
      throw new InitiateError(`${unable.length} device(s) do not support the requested action: ${unable.slice(0, 5).map(deviceKey).join(', ')}`, 403, unable);
    if (busy.length)
      throw new InitiateError(
        `${busy.length} device(s) have a firmware request in progress (use override): ${busy.slice(0, 5).map(deviceKey).join(', ')}`,
        409,
        busy,
      );
  }
  return { body: b, plan, parameterMap, refusals, keys };
}
