/**
 * What a rollout reports and what it needs from the manager that runs it: the request engine, the
 * registry, the clock, and the places its results and changes go.
 */
import type { RequestManager } from '../request-manager';
import type { MgmtRequest } from '../management-request';
import type { Registry } from '../registry';
import type { DeviceEntry, FinalOutcome, RolloutState, WaveData } from './state';
import type { Rollout } from './rollout';

/** One attempt of one device ended (final: no more attempts). */
export interface DeviceResult {
  rolloutId: string;
  wave: number;
  typeId: string;
  deviceId: string;
  attempt: number;
  outcome: FinalOutcome;
  final: boolean;
  rc?: number;
  reason?: string;
  setAside?: boolean;
  retryInMs?: number;
}

export interface RolloutContext {
  engine: RequestManager;
  registry: Registry;
  now(): number;
  /** how often a window with days or hours is looked at again */
  windowPollMs: number;
  /** the rollout launched a management request (its results are routed back to it) */
  track(req: MgmtRequest, rollout: Rollout): void;
  /** something changed (`device`: the index in data.devices of a device whose entry changed), to be saved */
  changed(rollout: Rollout, device?: number): void;
  device(rollout: Rollout, result: DeviceResult): void;
  wave(rollout: Rollout, wave: WaveData): void;
  state(rollout: Rollout, previous: RolloutState): void;
}

export function resultOf(rolloutId: string, e: DeviceEntry, outcome: FinalOutcome, final: boolean, retryInMs?: number): DeviceResult {
  const r: DeviceResult = { rolloutId, wave: e.wave, typeId: e.typeId, deviceId: e.deviceId, attempt: e.attempts, outcome, final };
  if (e.rc !== undefined) r.rc = e.rc;
  if (e.reason !== undefined) r.reason = e.reason;
  if (e.setAside) r.setAside = true;
  if (retryInMs !== undefined) r.retryInMs = retryInMs;
  return r;
}
