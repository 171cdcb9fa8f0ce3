/**
 * The registry kept in the platform's Store (store.ts): every change is written through as the
 * device's whole record (collection `devices`, key typeId:deviceId), a removal as a delete, and
 * the registry is restored from it at start. The store batches, so a manage storm of 5,000 devices
 * costs 5,000 serialisations and a few file writes; a change is durable within the store's
 * `durableWithinMs` of the 200 that answered it.
 */
import type { Registry } from './registry';
import { COLLECTIONS, type Collections, type Store } from './store';

/** Restore the registry from what the store loaded; returns how many devices it holds. */
export function restoreRegistry(registry: Registry, loaded: Collections): number {
  const devices = loaded.get(COLLECTIONS.devices);
  if (!devices) return 0;
  return registry.restore({ version: 1, devices: [...devices.values()] });
}

/** Write every registry change through to the store; returns the function that stops it. */
export function persistRegistry(registry: Registry, store: Store): () => void {
  const onChange = (record: unknown, key: string) => {
    if (record) store.put(COLLECTIONS.devices, key, record);
    else store.delete(COLLECTIONS.devices, key);
  };
  registry.on('change', onChange);
  return () => registry.off('change', onChange);
}
