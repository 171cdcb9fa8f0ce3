/**
 * Who may connect to the embedded broker and what each may do (docs/protocol.md §1.5, §3.11).
 * IBM's model:
 *
 * - `d:org:type:id`, user `use-token-auth`, password = its own token: its own topics only (the
 *   bare view mapped onto its scope by scoping.ts), under the device roots `iotdevice-1` and `iot-2`;
 * - `g:org:type:id` with its token: its own topics and those of the devices behind it (the
 *   directory decides, by the policy the operator chose: enrolled beforehand, or auto-enrol);
 * - `a:org:appId`, user = an API key, password = its token: reads device events and state; an
 *   operator may also send `iot-2` commands; no application publishes as a device (`iotdevice-1`)
 *   or as the platform (`iotdm-1`);
 * - the platform's own connection, with its internal credential: everything;
 * - every other client id, and any wrong token: refused (CONNACK 5), repeated failures slowed per
 *   client id and address (auth-throttle.ts).
 *
 * The directory (which tokens are whose) is given by the platform; nothing here stores a secret.
 */
import { DEVICE_ROOT, PLATFORM_ROOT, isValidId, parseIbmClientId, type DeviceRef } from '../protocol/topics';
import { EVENT_ROOT, deliveredTopicFor, publishTopicFor, subscriptionFor } from './scoping';
import { AuthThrottle, type ThrottleKey, type ThrottleOptions } from './auth-throttle';
import { sameSecret } from './same-secret';

/** IBM's user name for devices and gateways (docs/protocol.md §1.5); embedded-broker.ts exports it as TOKEN_AUTH_USER */
export const TOKEN_USER = 'use-token-auth';

export type AppRole = 'readonly' | 'operator';

export type Identity =
  | { kind: 'platform' }
  /** `scopedView`: the client subscribed in the scoped form (this package's own iotdm-device): it gets its scope unmapped */
  | { kind: 'device'; device: DeviceRef; scopedView?: boolean }
  | { kind: 'gateway'; device: DeviceRef }
  | { kind: 'app'; appId: string; role: AppRole };

export interface AccessDirectory {
  /** whether `token` is the token of the device or gateway (development mode may enrol it here) */
  authenticateDevice(kind: 'device' | 'gateway', device: DeviceRef, token: string): Promise<boolean>;
  /** the role of an application key whose token is `token`, else undefined */
  authenticateApp(key: string, token: string): Promise<AppRole | undefined>;
  /** whether the gateway may act for the device (the auto-enrol policy may enrol it here) */
  gatewayMayActFor(gateway: DeviceRef, device: DeviceRef): boolean;
  /** whether the device is behind the gateway now (never enrols: used for deliveries) */
  isBehind(gateway: DeviceRef, device: DeviceRef): boolean;
}

export interface AccessOptions {
  directory: AccessDirectory;
  /** the platform's own connection: its client id and internal secret */
  platform: { clientId: string; secret: string };
  throttle?: ThrottleOptions;
  /** a refused CONNECT (never with the password) */
  onRefused?: (info: { clientId: string; address: string; reason: RefusalReason }) => void;
}

export type RefusalReason = 'unknown-client' | 'bad-credentials' | 'throttled';

/** `a:org:appId` */
function parseAppClientId(clientId: string): string | undefined {
  const parts = clientId.split(':');
  return parts.length === 3 && parts[0] === 'a' && isValidId(parts[1]) && isValidId(parts[2]) ? parts[2] : undefined;
}

type Claim = { kind: 'platform' } | { kind: 'device' | 'gateway'; device: DeviceRef } | { kind: 'app'; appId: string } | undefined;

function claimOf(clientId: string, platformId: string): Claim {
  if (clientId === platformId) return { kind: 'platform' };
  const ibm = parseIbmClientId(clientId);
  if (ibm) return { kind: ibm.kind === 'd' ? 'device' : 'gateway', device: ibm.device };
  const appId = parseAppClientId(clientId);
  return appId ? { kind: 'app', appId } : undefined;
}

/** The scoped form `root/type/T/id/D/...` of a topic under a device root: its device, else undefined. */
function scopedDevice(levels: string[]): DeviceRef | undefined {
  if (levels.length < 6 || levels[1] !== 'type' || levels[3] !== 'id') return undefined;
  return isValidId(levels[2]) && isValidId(levels[4]) ? { typeId: levels[2], deviceId: levels[4] } : undefined;
}

const DEVICE_PUBLISH_ROOTS = [DEVICE_ROOT, EVENT_ROOT];

/**
 * Where a gateway's publish for a device outside its set goes: nowhere (no client may subscribe to a
 * `$` topic here, and `#` never matches one). The gateway keeps its connection and its other devices:
 * refusing the publish would close it (aedes), and the gateway would reconnect, manage the same
 * device again and be closed again. MQTT 3.1.1 has no way to tell a client a publish was refused.
 */
export const DROPPED_TOPIC = '$iotdm/dropped';
const READ_ROOTS = [DEVICE_ROOT, PLATFORM_ROOT, EVENT_ROOT];

export class AccessControl {
  readonly throttle: AuthThrottle;

  constructor(private readonly opts: AccessOptions) {
    this.throttle = new AuthThrottle(opts.throttle);
  }

  /**
   * The identity of a CONNECT, or undefined when it is refused. Slowed by the throttle; never
   * throws. `address` is the peer's address.
   */
  async authenticate(clientId: string, username: string | undefined, password: Buffer | undefined, address: string): Promise<Identity | undefined> {
    const claim = claimOf(clientId, this.opts.platform.clientId);
    const keys: ThrottleKey[] = [
      { key: `id:${clientId}`, kind: 'id' },
      { key: `addr:${address}`, kind: 'address' },
    ];
    const refuse = (reason: RefusalReason) => {
      this.opts.onRefused?.({ clientId, address, reason });
      return undefined;
    };
    if (!claim) {
      // not a client id anyone can have: refused at once, but it counts against the address
      this.throttle.failed([keys[1]]);
      return refuse('unknown-client');
    }
    const verdict = await this.throttle.admit(keys);
    if (!verdict) return refuse('throttled');
    let identity: Identity | undefined;
    try {
      identity = await this.check(claim, username, password);
    } catch {
      identity = undefined;
    }
    verdict(!!identity);
    if (!identity) return refuse('bad-credentials');
    return identity;
  }

  private async check(claim: NonNullable<Claim>, username: string | undefined, password: Buffer | undefined): Promise<Identity | undefined> {
    const token = password === undefined ? '' : password.toString('utf8');
    switch (claim.kind) {
      case 'platform':
        return sameSecret(password, this.opts.platform.secret) ? { kind: 'platform' } : undefined;
      case 'device':
      case 'gateway':
        // IBM's devices log in as use-token-auth; a device without a token sends no user name at all
        if (username !== TOKEN_USER && !(username === undefined && password === undefined)) return undefined;
        return (await this.opts.directory.authenticateDevice(claim.kind, claim.device, token)) ? { kind: claim.kind, device: claim.device } : undefined;
      case 'app': {
        if (!username || password === undefined) return undefined;
        const role = await this.opts.directory.authenticateApp(username, token);
        return role ? { kind: 'app', appId: claim.appId, role } : undefined;
      }
    }
  }

  /** The topic a PUBLISH goes out on (DROPPED_TOPIC: accepted and dropped), or undefined when it is refused (the client is disconnected). */
  publishTopic(id: Identity, topic: string): string | undefined {
    const levels = topic.split('/');
    switch (id.kind) {
      case 'platform':
        return topic;
      case 'device': {
        const mapped = publishTopicFor(id.device, topic);
        return mapped !== undefined && DEVICE_PUBLISH_ROOTS.includes(mapped.split('/', 1)[0]) ? mapped : undefined;
      }
      case 'gateway': {
        if (!DEVICE_PUBLISH_ROOTS.includes(levels[0])) return undefined;
        const d = scopedDevice(levels);
        if (!d) return undefined;
        return this.opts.directory.gatewayMayActFor(id.device, d) ? topic : DROPPED_TOPIC;
      }
      case 'app': {
        // an operator sends commands to devices; nobody else publishes
        const d = scopedDevice(levels);
        return id.role === 'operator' && levels[0] === EVENT_ROOT && d && levels[5] === 'cmd' ? topic : undefined;
      }
    }
  }

  /** The filter a SUBSCRIBE is made with, or undefined when it is refused. */
  subscription(id: Identity, filter: string): string | undefined {
    const first = filter.split('/', 1)[0];
    switch (id.kind) {
      case 'platform':
        return filter;
      case 'device': {
        const mapped = subscriptionFor(id.device, filter);
        if (mapped === undefined || !READ_ROOTS.includes(mapped.split('/', 1)[0])) return undefined;
        if (mapped === filter && filter.split('/', 2)[1] === 'type') id.scopedView = true;
        return mapped;
      }
      case 'gateway':
        // wildcards below the root are allowed (IBM's Node gateway subscribes iotdm-1/#): what it
        // receives is filtered per message by forwardTopic, to its own devices
        return first === PLATFORM_ROOT || first === EVENT_ROOT ? filter : undefined;
      case 'app':
        return READ_ROOTS.includes(first) || first === '#' || first === '+' ? filter : undefined;
    }
  }

  /** The topic a message reaches the client on, or undefined when it must not reach it. */
  forwardTopic(id: Identity, topic: string): string | undefined {
    const levels = topic.split('/');
    switch (id.kind) {
      case 'platform':
        return topic;
      case 'device': {
        if (!READ_ROOTS.includes(levels[0])) return undefined;
        const bare = deliveredTopicFor(id.device, topic);
        return bare !== undefined && id.scopedView ? topic : bare;
      }
      case 'gateway': {
        if (levels[0] !== PLATFORM_ROOT && levels[0] !== EVENT_ROOT) return undefined;
        const d = scopedDevice(levels);
        return d && this.opts.directory.isBehind(id.device, d) ? topic : undefined;
      }
      case 'app':
        return READ_ROOTS.includes(levels[0]) ? topic : undefined;
    }
  }

  close(): void {
    this.throttle.close();
  }
}
