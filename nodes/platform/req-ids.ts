/**
 * The reqIds the platform puts on its requests to devices (docs/protocol.md §1.1: unique, copied into
 * the device's response). Each one is shaped as a version 4 UUID, as IBM's platform sent them and as
 * IBM's embedded C client's reqId repair expects (§7.14): a random prefix drawn once per source,
 * followed by a counter in the last group. crypto.randomUUID() for every exchange cost a string of
 * thirty-odd pieces each (a 50,000-device rollout sends at least that many); this costs one.
 * Two sources (two platforms on one broker, a platform before and after a restart) share a prefix
 * with a chance of one in 2^92.
 */
import { randomUUID } from 'node:crypto';

/** the last group of a UUID: 12 hex digits */
const COUNTER_LIMIT = 16 ** 12;

export class ReqIds {
  private prefix = '';
  private n = COUNTER_LIMIT;

  next(): string {
    if (this.n >= COUNTER_LIMIT) {
      // "xxxxxxxx-xxxx-4xxx-yxxx-": a fresh random prefix, the counter from 0
      this.prefix = randomUUID().slice(0, 24);
      this.n = 0;
    }
    return this.prefix + (this.n++).toString(16).padStart(12, '0');
  }
}
