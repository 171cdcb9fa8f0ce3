/**
 * The enrolment kept in the platform's Store (store.ts), as the registry is (registry-store.ts):
 * collection `enrolment`, one entry per device or gateway (key `device:typeId/deviceId`) and per
 * application key (`apiKey:<key>`), with hashes only; restored at start.
 */
import type { Enrolment, EnrolledDevice, ApiKeyRecord } from './enrolment';
import type { Collections, Store } from './store';

export const ENROLMENT_COLLECTION = 'enrolment';

/** Restore the enrolment from what the store loaded; returns how many devices it holds. */
export function restoreEnrolment(enrolment: Enrolment, loaded: Collections): number {
  const c = loaded.get(ENROLMENT_COLLECTION);
  if (!c) return 0;
  const devices: EnrolledDevice[] = [];
  const apiKeys: ApiKeyRecord[] = [];
  for (const [key, value] of c) {
    if (key.startsWith('device:')) devices.push(value as EnrolledDevice);
    else if (key.startsWith('apiKey:')) apiKeys.push(value as ApiKeyRecord);
  }
  return enrolment.restore({ version: 1, devices, apiKeys });
}

/** Write every enrolment change through to the store; returns the function that stops it. */
export function persistEnrolment(enrolment: Enrolment, store: Store): () => void {
  const onChange = (kind: 'device' | 'apiKey', key: string, value: unknown) => {
    if (value) store.put(ENROLMENT_COLLECTION, `${kind}:${key}`, value);
    else store.delete(ENROLMENT_COLLECTION, `${kind}:${key}`);
  };
  enrolment.on('change', onChange);
  return () => enrolment.off('change', onChange);
}
