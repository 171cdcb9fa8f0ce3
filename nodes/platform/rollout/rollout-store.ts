/**
 * Rollouts kept in the platform's durable store (nodes/platform/store.ts), collection `rollouts`,
 * one value per rollout: what the store loaded at start is what restore() takes up.
 */
import type { Collections, Store } from '../store';
import type { RolloutData, RolloutStore } from './state';

export const ROLLOUTS_COLLECTION = 'rollouts';

export function platformRolloutStore(store: Store, loaded: () => Collections | undefined): RolloutStore {
  return {
    async load() {
      return [...(loaded()?.get(ROLLOUTS_COLLECTION)?.values() ?? [])] as RolloutData[];
    },
    async save(data) {
      store.put(ROLLOUTS_COLLECTION, data.rolloutId, data);
    },
    async remove(rolloutId) {
      store.delete(ROLLOUTS_COLLECTION, rolloutId);
    },
  };
}
