/**
 * What a rollout launches next within its current wave: devices due for a retry first (kept in
 * order of their retry time), then the wave's devices never tried, in order (a cursor over the
 * wave's slice of the device list, so a wave of 5,000 is not copied).
 */
import { MAX_DEVICES } from '../../protocol/messages';
import type { DeviceEntry, WaveData } from './state';
import type { RolloutDefinition } from './definition';

/**
 * Devices launched in one event-loop turn at most: a request of 5,000 devices is admitted in one
 * synchronous pass of the engine (its body checked, each device looked up), which at 5,000 held the
 * event loop for tens of milliseconds; waves of any size go out as requests of at most this many.
 */
export const LAUNCH_PER_TURN = 1000;

/** The management requests of a batch: at most 5,000 devices each, of one type when the action wants it. */
export function requestsOf(batch: number[], devices: DeviceEntry[], oneType: boolean): number[][] {
  const groups = new Map<string, number[]>();
  for (const i of batch) {
    const k = oneType ? devices[i].typeId : '';
    let g = groups.get(k);
    if (!g) groups.set(k, (g = []));
    g.push(i);
  }
  const out: number[][] = [];
  for (const g of groups.values()) for (let i = 0; i < g.length; i += MAX_DEVICES) out.push(g.slice(i, i + MAX_DEVICES));
  return out;
}

/** The body of the management request for the devices of `chunk` (indexes into `devices`). */
export function requestBody(definition: RolloutDefinition, devices: DeviceEntry[], chunk: number[]): Record<string, unknown> {
  const body: Record<string, unknown> = {
    action: definition.action,
    devices: chunk.map((i) => ({ typeId: devices[i].typeId, deviceId: devices[i].deviceId })),
  };
  if (definition.parameters) body.parameters = definition.parameters;
  if (definition.timeout !== undefined) body.timeout = definition.timeout;
  return body;
}

export class LaunchQueue {
  private retries: number[] = [];
  private cursor = 0;

  constructor(private readonly data: { devices: DeviceEntry[] }) {}

  private get devices(): DeviceEntry[] {
    return this.data.devices;
  }

  /** Start on a wave: its never-tried devices from its first one. */
  wave(w: WaveData | undefined): void {
    this.cursor = w?.start ?? 0;
  }

  /** A device (index `i`) interrupted before its first attempt ended is taken again. */
  again(i: number): void {
    this.cursor = Math.min(this.cursor, i);
  }

  /** A device (index `i`) is retried at `at` (ms). */
  retry(i: number, at: number): void {
    this.devices[i].retryAt = at;
    const q = this.retries;
    let lo = 0;
    let hi = q.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.devices[q[mid]].retryAt ?? 0) <= at) lo = mid + 1;
      else hi = mid;
    }
    q.splice(lo, 0, i);
  }

  clear(): void {
    this.retries = [];
  }

  /** Up to `budget` pending devices due at `now`, by index. */
  take(budget: number, now: number, w: WaveData): number[] {
    const out: number[] = [];
    let head = 0;
    while (budget > out.length && head < this.retries.length) {
      const i = this.retries[head];
      const e = this.devices[i];
      if (e.state === 'pending' && (e.retryAt ?? 0) > now) break;
      head++;
      if (e.state === 'pending') out.push(i);
    }
    if (head) this.retries.splice(0, head);
    const end = w.start + w.size;
    while (budget > out.length && this.cursor < end) {
      const i = this.cursor++;
      const e = this.devices[i];
      if (e.state === 'pending' && e.attempts === 0) out.push(i);
    }
    return out;
  }

  /** Never-tried devices of the wave are left. */
  untried(w: WaveData): boolean {
    return this.cursor < w.start + w.size;
  }

  /** Milliseconds until the next retry is due (Infinity: none waits). */
  nextRetryIn(now: number): number {
    return this.retries.length ? (this.devices[this.retries[0]].retryAt ?? now) - now : Infinity;
  }
}
