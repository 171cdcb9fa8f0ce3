/**
 * Per-client topic scoping for the embedded broker (docs/protocol.md §1.2,
 * §10).
 *
 * IBM's broker gave every device a private view of the topic space: a device connected as
 * `d:{org}:{typeId}:{deviceId}` published to `iotdevice-1/mgmt/manage` and subscribed to
 * `iotdm-1/#`, and the broker knew from the connection which device it was. On a shared broker the
 * device-scoped form `{root}/type/{typeId}/id/{deviceId}/...` is the wire format, so the embedded
 * broker maps the bare view of a `d:` client onto its own scope, both ways:
 *
 *   publish    iotdevice-1/mgmt/manage   → iotdevice-1/type/T/id/D/mgmt/manage
 *   subscribe  iotdm-1/#                 → iotdm-1/type/T/id/D/#
 *   deliver    iotdm-1/type/T/id/D/response → iotdm-1/response
 *
 * The roots mapped are the two DM roots and IBM's event/command root `iot-2`. A `d:` client lives
 * entirely inside its own scope under those roots: it may name its own scope explicitly (so the
 * mapping is idempotent, which aedes needs when it restores a persistent session's subscriptions),
 * but it may not publish to, subscribe to, or receive another device's scope, and it may not
 * subscribe with a wildcard first level (`#`, `+/...`), which would reach past its scope.
 *
 * `g:` gateway clients and every other client already use the scoped form: nothing is mapped.
 *
 * Pure functions only; embedded-broker.ts wires them into aedes.
 */
import { DEVICE_ROOT, PLATFORM_ROOT, DevicePath, parseIbmClientId, type DeviceRef } from '../protocol/topics';

/** IBM's event / command root: `iot-2/evt/...` (device) ↔ `iot-2/type/T/id/D/evt/...` (application). */
export const EVENT_ROOT = 'iot-2';

/** Roots whose topics are scoped per device for a `d:` client. */
export const SCOPED_ROOTS: readonly string[] = [DEVICE_ROOT, PLATFORM_ROOT, EVENT_ROOT];

/** Largest payload IBM accepted (docs/protocol.md §1.3, D9). */
export const MAX_DM_PAYLOAD = 131072;

/**
 * Device paths that IBM's C client (IOTC) publishes with no root at all (docs/protocol.md §7.14:
 * `mgmt/unmanage`, `response`, `device/update/location`). Every device → platform path of the
 * protocol is accepted in that form; each is mapped under `iotdevice-1/` in the client's scope.
 */
const ROOTLESS_DEVICE_PATHS: ReadonlySet<string> = new Set(Object.values(DevicePath));

/**
 * The scope of a client id: the device of a `d:{org}:{typeId}:{deviceId}` client, else undefined
 * (gateways, applications and any other client speak scoped topics themselves).
 */
export function scopeOfClientId(clientId: string | undefined | null): DeviceRef | undefined {
  const ibm = parseIbmClientId(clientId ?? undefined);
  return ibm && ibm.kind === 'd' ? ibm.device : undefined;
}

/** True for a topic under one of the two DM roots (where RETAIN is ignored and payloads are capped). */
export function isDmTopic(topic: string): boolean {
  return topic.startsWith(`${DEVICE_ROOT}/`) || topic.startsWith(`${PLATFORM_ROOT}/`);
}

type Split =
  | { kind: 'other' } // not under a scoped root
  | { kind: 'bare'; root: string; rest: string[] } // root, then the device's own path levels
  | { kind: 'own'; root: string; rest: string[] } // already in this device's scope
  | { kind: 'foreign' }; // in another device's scope, a wildcard scope, or a malformed one

function split(topic: string, scope: DeviceRef): Split {
  const levels = topic.split('/');
  const root = levels[0];
  if (!SCOPED_ROOTS.includes(root)) return { kind: 'other' };
  if (levels[1] !== 'type') return { kind: 'bare', root, rest: levels.slice(1) };
  if (levels.length >= 5 && levels[2] === scope.typeId && levels[3] === 'id' && levels[4] === scope.deviceId) {
    return { kind: 'own', root, rest: levels.slice(5) };
  }
  return { kind: 'foreign' };
}

function scoped(root: string, scope: DeviceRef, rest: string[]): string {
  return [root, 'type', scope.typeId, 'id', scope.deviceId, ...rest].join('/');
}

/**
 * A topic or filter a `d:` client sends, in its own scope: a bare one is scoped, one already in its
 * scope or outside the scoped roots passes unchanged, another device's scope is refused (undefined).
 */
function intoScope(topic: string, scope: DeviceRef): string | undefined {
  const s = split(topic, scope);
  switch (s.kind) {
    case 'other':
    case 'own':
      return topic;
    case 'bare':
      return scoped(s.root, scope, s.rest);
    case 'foreign':
      return undefined;
  }
}

/**
 * The topic a `d:` client's PUBLISH goes out on, or undefined when it must be refused (a publish
 * into another device's scope). Topics outside the scoped roots pass unchanged.
 */
export function publishTopicFor(scope: DeviceRef, topic: string): string | undefined {
  if (ROOTLESS_DEVICE_PATHS.has(topic)) return scoped(DEVICE_ROOT, scope, topic.split('/'));
  return intoScope(topic, scope);
}

/**
 * The filter a `d:` client's SUBSCRIBE is made with, or undefined when it must be refused (another
 * device's scope, a `+` in the scope, or a wildcard first level that would reach every device).
 */
export function subscriptionFor(scope: DeviceRef, filter: string): string | undefined {
  const first = filter.split('/', 1)[0];
  if (first === '#' || first === '+') return undefined;
  return intoScope(filter, scope);
}

/**
 * The topic a message is delivered to a `d:` client on: its own scope stripped back to the bare
 * form; undefined when the message must not reach it (another device's scope). A topic that is
 * already bare is returned unchanged (the mapping is idempotent: a persistent session's queue is
 * mapped before aedes looks at it again).
 */
export function deliveredTopicFor(scope: DeviceRef, topic: string): string | undefined {
  const s = split(topic, scope);
  switch (s.kind) {
    case 'other':
    case 'bare':
      return topic;
    case 'own':
      return s.rest.length ? `${s.root}/${s.rest.join('/')}` : s.root;
    case 'foreign':
      return undefined;
  }
}

/**
 * A topic as a `d:` client of ours receives it, back in its own scope: the embedded broker strips
 * the scope (deliveredTopicFor), an external broker does not, and our subscribers filter on the
 * scoped form (docs/protocol.md §1.2). Topics outside the scoped roots or in another scope pass unchanged.
 */
export function rescopedTopicFor(scope: DeviceRef, topic: string): string {
  return intoScope(topic, scope) ?? topic;
}

/**
 * The filter a `d:` client's UNSUBSCRIBE removes: the same mapping as its SUBSCRIBE, so that
 * `iotdm-1/device/update` removes the `iotdm-1/type/T/id/D/device/update` it made. A filter that
 * could not have been subscribed is returned unchanged (it matches nothing the client holds).
 */
export function unsubscriptionFor(scope: DeviceRef, filter: string): string {
  return subscriptionFor(scope, filter) ?? filter;
}
