/**
 * A rollout's state as plain serialisable data (what is stored, what survives a restart) and the
 * tiny storage port it is kept through. The counts of each wave and of the rollout move together
 * with each device's state, so no query walks the devices.
 */
import type { RolloutDefinition } from './definition';
import type { PaceState } from './pace';

export const ROLLOUT_STATES = ['pending', 'running', 'paused', 'waitingApproval', 'completed', 'aborted', 'cancelled'] as const;
export type RolloutState = (typeof ROLLOUT_STATES)[number];
export const FINAL_STATES: readonly RolloutState[] = ['completed', 'aborted', 'cancelled'];

/** A device of a rollout: waiting (pending), in a management request or verifying (inProgress), or final. */
export const DEVICE_STATES = ['pending', 'inProgress', 'success', 'failure', 'timedOut', 'cancelled'] as const;
export type DeviceState = (typeof DEVICE_STATES)[number];
export type FinalOutcome = 'success' | 'failure' | 'timedOut' | 'cancelled';

export interface Counts {
  total: number;
  pending: number;
  inProgress: number;
  success: number;
  failure: number;
  timedOut: number;
  cancelled: number;
}
export const zeroCounts = (): Counts => ({ total: 0, pending: 0, inProgress: 0, success: 0, failure: 0, timedOut: 0, cancelled: 0 });

export interface DeviceEntry {
  typeId: string;
  deviceId: string;
  /** index of its wave */
  wave: number;
  state: DeviceState;
  /** attempts launched so far */
  attempts: number;
  /** waiting for the next manage to report the version sent */
  verifying?: boolean;
  /** the management request of its attempt in flight (the engine resumes it after a restart) */
  reqId?: string;
  /** a retry waits until this time (ms) */
  retryAt?: number;
  rc?: number;
  reason?: string;
  /** failed every attempt its retries allowed */
  setAside?: boolean;
}

export type WaveState = 'pending' | 'running' | 'completed' | 'cancelled' | 'aborted';
export type GateState = 'passed' | 'failed' | 'waitingApproval' | 'approved' | 'waiting' | 'waited' | 'none';

export interface WaveData {
  index: number;
  /** devices[start, start + size) */
  start: number;
  size: number;
  state: WaveState;
  counts: Counts;
  gate?: GateState;
  /** a time gate ends at this time (ms) */
  gateUntil?: number;
  startedDateTime?: string;
  completedDateTime?: string;
}

export interface RolloutData {
  version: 1;
  rolloutId: string;
  definition: RolloutDefinition;
  state: RolloutState;
  /** why it paused, aborted, was cancelled, or waits */
  reason?: string;
  origin: string;
  rerunOf?: string;
  createdDateTime: string;
  updatedDateTime: string;
  startedDateTime?: string;
  completedDateTime?: string;
  counts: Counts;
  currentWave: number;
  waves: WaveData[];
  devices: DeviceEntry[];
  pace: PaceState;
  /** the window was open at the last launch check */
  windowOpen?: boolean;
}

/**
 * A rollout's devices are kept in chunks of this many (device i in chunk floor(i / DEVICES_PER_CHUNK)),
 * so that a save writes the chunks whose devices changed, not all of a 50,000-device list.
 */
export const DEVICES_PER_CHUNK = 500;

/**
 * Where rollouts are kept: in memory (MemoryRolloutStore), or the platform's durable store
 * (rollout-store.ts: a header per rollout and its devices in chunks).
 */
export interface RolloutStore {
  load(): Promise<RolloutData[]>;
  /**
   * Serialises `data` before it returns; the promise says when the write is durable. `chunks`: the
   * chunks (DEVICES_PER_CHUNK) holding every device changed since the last save of this rollout
   * (undefined: any may have); a store may write only those, the rest of `data` it writes whole.
   */
  save(data: RolloutData, chunks?: ReadonlySet<number>): Promise<void>;
  remove(rolloutId: string): Promise<void>;
}

export class MemoryRolloutStore implements RolloutStore {
  private readonly items = new Map<string, string>();
  async load(): Promise<RolloutData[]> {
    return [...this.items.values()].map((s) => JSON.parse(s) as RolloutData);
  }
  async save(data: RolloutData): Promise<void> {
    this.items.set(data.rolloutId, JSON.stringify(data));
  }
  async remove(rolloutId: string): Promise<void> {
    this.items.delete(rolloutId);
  }
}

/** A stored rollout is taken back only when its shape is what this version writes. */
export function isRolloutData(x: unknown): x is RolloutData {
  const d = x as RolloutData;
  return (
    !!d &&
    d.version === 1 &&
    typeof d.rolloutId === 'string' &&
    (ROLLOUT_STATES as readonly string[]).includes(d.state) &&
    Array.isArray(d.devices) &&
    Array.isArray(d.waves) &&
    !!d.definition &&
    !!d.counts &&
    !!d.pace
  );
}
