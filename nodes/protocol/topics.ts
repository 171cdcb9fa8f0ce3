/**
 * Topics of the Watson IoT device-management protocol (docs/protocol.md §1.2, §2).
 *
 * Two forms exist for every topic: the bare device form (`iotdevice-1/mgmt/manage`) and the
 * device-scoped gateway form (`iotdevice-1/type/{typeId}/id/{deviceId}/mgmt/manage`). On a shared
 * broker the scoped form is the wire format; the bare form is what IBM's device SDKs speak and what
 * the embedded broker maps for them.
 */

export const DEVICE_ROOT = 'iotdevice-1';
export const PLATFORM_ROOT = 'iotdm-1';
export type Root = typeof DEVICE_ROOT | typeof PLATFORM_ROOT;

export interface DeviceRef {
  typeId: string;
  deviceId: string;
}

/** IDs as IBM defined them: at most 36 of [a-zA-Z0-9-_.]. No MQTT wildcard or level can pass. */
export const ID_PATTERN = '^[A-Za-z0-9_.-]{1,36}$';
const ID_RE = new RegExp(ID_PATTERN);
export function isValidId(id: unknown): id is string {
  return typeof id === 'string' && ID_RE.test(id);
}

/** Device → platform topic paths (after the root and the optional type/id scope). */
export const DevicePath = {
  manage: 'mgmt/manage',
  unmanage: 'mgmt/unmanage',
  location: 'device/update/location',
  addErrorCode: 'add/diag/errorCodes',
  clearErrorCodes: 'clear/diag/errorCodes',
  addLog: 'add/diag/log',
  clearLog: 'clear/diag/log',
  notify: 'notify',
  response: 'response',
} as const;
export type DevicePathName = keyof typeof DevicePath;

/** Platform → device topic paths. */
export const PlatformPath = {
  response: 'response',
  update: 'device/update',
  observe: 'observe',
  cancel: 'cancel',
  reboot: 'mgmt/initiate/device/reboot',
  factoryReset: 'mgmt/initiate/device/factory_reset',
  firmwareDownload: 'mgmt/initiate/firmware/download',
  firmwareUpdate: 'mgmt/initiate/firmware/update',
} as const;
export type PlatformPathName = keyof typeof PlatformPath | 'custom';

const DEVICE_PATHS = new Map<string, DevicePathName>(Object.entries(DevicePath).map(([k, v]) => [v, k as DevicePathName]));
const PLATFORM_PATHS = new Map<string, PlatformPathName>(Object.entries(PlatformPath).map(([k, v]) => [v, k as PlatformPathName]));

export const CUSTOM_PREFIX = 'mgmt/custom/';

/** Path of a custom (DME) action: `mgmt/custom/{bundleId}/{actionId}`. */
export function customPath(bundleId: string, actionId: string): string {
  if (!isValidBundlePart(bundleId) || !isValidBundlePart(actionId)) {
    throw new Error(`invalid custom action "${bundleId}/${actionId}"`);
  }
  return `${CUSTOM_PREFIX}${bundleId}/${actionId}`;
}

const BUNDLE_RE = /^[A-Za-z0-9_.-]{1,255}$/;
export function isValidBundlePart(s: unknown): s is string {
  return typeof s === 'string' && BUNDLE_RE.test(s);
}

/** Build a topic. With a device the scoped form is built, without one the bare form. */
export function buildTopic(root: Root, path: string, device?: DeviceRef): string {
  if (!device) return `${root}/${path}`;
  if (!isValidId(device.typeId) || !isValidId(device.deviceId)) {
    throw new Error(`invalid device "${device.typeId}/${device.deviceId}"`);
  }
  return `${root}/type/${device.typeId}/id/${device.deviceId}/${path}`;
}

export const deviceTopic = (path: string, device?: DeviceRef): string => buildTopic(DEVICE_ROOT, path, device);
export const platformTopic = (path: string, device?: DeviceRef): string => buildTopic(PLATFORM_ROOT, path, device);

export interface ParsedTopic {
  root: Root;
  /** present for the scoped form */
  device?: DeviceRef;
  /** the rest of the topic after root and scope, e.g. `mgmt/manage` */
  path: string;
  /** the protocol name of the path, when it is one the protocol defines for that direction */
  name?: DevicePathName | PlatformPathName;
  /** for `mgmt/custom/{bundleId}/{actionId}` */
  bundleId?: string;
  actionId?: string;
}

/**
 * Parse a DM topic in either form. Returns undefined for a topic outside the DM roots or with a
 * malformed scope. `name` is undefined for a path the protocol does not define.
 */
export function parseTopic(topic: string): ParsedTopic | undefined {
  // read in place, no piece cut out that is not kept: every inbound message comes through here
  const slash = topic.indexOf('/');
  let root: Root;
  if (slash === DEVICE_ROOT.length && topic.startsWith(DEVICE_ROOT)) root = DEVICE_ROOT;
  else if (slash === PLATFORM_ROOT.length && topic.startsWith(PLATFORM_ROOT)) root = PLATFORM_ROOT;
  else return undefined;
  let pathStart = slash + 1;
  let device: DeviceRef | undefined;
  if (topic.startsWith('type/', pathStart)) {
    // type / T / id / D / path...
    const typeStart = pathStart + 5;
    const typeEnd = topic.indexOf('/', typeStart);
    if (typeEnd < 0 || !topic.startsWith('id/', typeEnd + 1)) return undefined;
    const idEnd = topic.indexOf('/', typeEnd + 4);
    if (idEnd < 0) return undefined;
    const typeId = topic.slice(typeStart, typeEnd);
    const deviceId = topic.slice(typeEnd + 4, idEnd);
    if (!isValidId(typeId) || !isValidId(deviceId)) return undefined;
    device = { typeId, deviceId };
    pathStart = idEnd + 1;
  }
  const rest = topic.slice(pathStart);
  const parsed: ParsedTopic = { root, device, path: rest };
  if (root === DEVICE_ROOT) {
    parsed.name = DEVICE_PATHS.get(rest);
  } else {
    parsed.name = PLATFORM_PATHS.get(rest);
    if (!parsed.name && rest.startsWith(CUSTOM_PREFIX)) {
      const parts = rest.slice(CUSTOM_PREFIX.length).split('/');
      if (parts.length === 2 && isValidBundlePart(parts[0]) && isValidBundlePart(parts[1])) {
        parsed.name = 'custom';
        parsed.bundleId = parts[0];
        parsed.actionId = parts[1];
      }
    }
  }
  return parsed;
}

/** What the platform subscribes to: every device-scoped message from devices and gateways. */
export const PLATFORM_SUBSCRIPTION = `${DEVICE_ROOT}/type/+/id/+/#`;

/** What a device (or a gateway, for each device behind it) subscribes to. */
export function deviceSubscription(device: DeviceRef): string {
  return platformTopic('#', device);
}

/** Key of a device in maps: `typeId/deviceId` (neither part may contain '/'). */
export function deviceKey(d: DeviceRef): string {
  return `${d.typeId}/${d.deviceId}`;
}
export function parseDeviceKey(key: string): DeviceRef {
  const i = key.indexOf('/');
  return { typeId: key.slice(0, i), deviceId: key.slice(i + 1) };
}

/** MQTT client ids of IBM's device libraries (docs/protocol.md §1.5): `d:org:type:id` and `g:org:type:id`. */
export interface IbmClientId {
  kind: 'd' | 'g';
  orgId: string;
  device: DeviceRef;
}
export function parseIbmClientId(clientId: string | undefined): IbmClientId | undefined {
  if (!clientId) return undefined;
  const parts = clientId.split(':');
  if (parts.length !== 4 || (parts[0] !== 'd' && parts[0] !== 'g')) return undefined;
  const [kind, orgId, typeId, deviceId] = parts;
  if (!isValidId(orgId) || !isValidId(typeId) || !isValidId(deviceId)) return undefined;
  return { kind: kind as 'd' | 'g', orgId, device: { typeId, deviceId } };
}
