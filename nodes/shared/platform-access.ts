/**
 * The access settings of an `iotdm-platform` node turned into the embedded broker's access control:
 * the directory over the platform's Enrolment (which token is whose, which devices a gateway may act
 * for), the development mode (trust on first use) and the platform's own internal credential.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Enrolment } from '../platform/enrolment';
import type { AccessDirectory, AccessOptions, AppRole } from '../transport/access-control';

/** `enrolled`: only enrolled devices and gateways; `development`: a device enrols itself on its first connect. */
export type AccessMode = 'enrolled' | 'development';
/** Which devices a gateway may act for: those enrolled behind it, or any nobody enrolled (enrolled behind it then). */
export type GatewayPolicy = 'enrolled' | 'auto';

export interface AccessSettings {
  mode: AccessMode;
  gatewayPolicy: GatewayPolicy;
  /** the platform's API key and token: an operator application key too */
  apiKey?: string;
  apiToken?: string;
}

export function accessModeOf(v: unknown): AccessMode {
  return v === 'development' ? 'development' : 'enrolled';
}
export function gatewayPolicyOf(v: unknown): GatewayPolicy {
  return v === 'auto' ? 'auto' : 'enrolled';
}

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

export function directoryOf(enrolment: Enrolment, settings: () => AccessSettings): AccessDirectory {
  const autoEnrol = () => settings().mode === 'development' || settings().gatewayPolicy === 'auto';
  return {
    async authenticateDevice(kind, device, token) {
      const classId = enrolment.classOf(device);
      if (classId === undefined) {
        return settings().mode === 'development' && enrolment.pin(device, kind === 'gateway' ? 'Gateway' : 'Device', token);
      }
      // a device cannot log in as a gateway (and so act for others), nor a gateway as a device
      if ((kind === 'gateway') !== (classId === 'Gateway')) return false;
      return enrolment.verify(device, token);
    },
    async authenticateApp(key, token): Promise<AppRole | undefined> {
      const { apiKey, apiToken } = settings();
      if (apiKey && apiToken) {
        const keyOk = timingSafeEqual(digest(key), digest(apiKey));
        const tokenOk = timingSafeEqual(digest(token), digest(apiToken));
        if (keyOk && tokenOk) return 'operator';
      }
      return enrolment.verifyApiKey(key, token);
    },
    gatewayMayActFor(gateway, device) {
      return enrolment.isBehind(gateway, device) || (autoEnrol() && enrolment.enrolBehind(gateway, device));
    },
    isBehind(gateway, device) {
      return enrolment.isBehind(gateway, device);
    },
  };
}

/** The platform's own connection to its embedded broker: a client id and a secret new at each start. */
export function platformCredential(nodeId: string): { clientId: string; username: string; secret: string } {
  return { clientId: `iotdm-platform-${nodeId}`, username: 'iotdm-platform', secret: randomBytes(32).toString('base64url') };
}

export function accessOptions(
  enrolment: Enrolment,
  settings: () => AccessSettings,
  platform: { clientId: string; secret: string },
  onRefused?: AccessOptions['onRefused'],
): AccessOptions {
  return { directory: directoryOf(enrolment, settings), platform, onRefused };
}
