/**
 * The platform's durable storage, as one small interface: named collections of JSON values by key.
 * The registry (collection `devices`), the management requests (`requests`, and one collection of
 * per-device states per request, `request:<id>`) and anything else the platform must keep across a
 * restart (rollouts, ...) go through it. Nothing in the protocol folders knows which implementation
 * runs: today a journal in the Node-RED user directory (nodes/storage/journal.ts); a shared store
 * (Redis, for a standby platform taking over) is a new implementation of this interface.
 *
 * The contract:
 * - put / delete / drop are synchronous for the caller and never throw: the value is serialised at
 *   once (later changes to the object are not seen), the write reaches durable storage later, in
 *   the order of the calls, within `durableWithinMs` (the stated loss window; a write failure is
 *   reported through `onError`, and the platform keeps running).
 * - load() returns what the last run left (a crash may lose the writes of its last
 *   `durableWithinMs`), once, before any write.
 * - flush() resolves when every write made before it is durable; close() flushes and releases.
 * - Values are plain JSON data (no Dates, no functions, no cycles).
 */
export type Collections = Map<string, Map<string, unknown>>;

export interface Store {
  /** writes are durable at most this long (ms) after the call that made them */
  readonly durableWithinMs: number;
  /** every collection and its entries as last written (read once, at start) */
  load(): Promise<Collections>;
  put(collection: string, key: string, value: unknown): void;
  delete(collection: string, key: string): void;
  /** forget a whole collection */
  drop(collection: string): void;
  flush(): Promise<void>;
  close(): Promise<void>;
  /** a write that failed (disk full, ...): the store goes on with later writes */
  onError?: (err: Error) => void;
}

/** The names the platform uses (other users pick their own, e.g. `rollouts`). */
export const COLLECTIONS = {
  devices: 'devices',
  requests: 'requests',
  executions: (requestId: string) => `request:${requestId}`,
} as const;

/** A store in memory only: nothing survives the process (tests; the platform with persistence off). */
export class MemoryStore implements Store {
  readonly durableWithinMs = 0;
  private readonly data: Collections = new Map();
  async load(): Promise<Collections> {
    return this.data;
  }
  put(collection: string, key: string, value: unknown): void {
    let c = this.data.get(collection);
    if (!c) this.data.set(collection, (c = new Map()));
    c.set(key, JSON.parse(JSON.stringify(value)));
  }
  delete(collection: string, key: string): void {
    this.data.get(collection)?.delete(key);
  }
  drop(collection: string): void {
    this.data.delete(collection);
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}
