/**
 * What the request engine (request-engine.ts) is told and tells: its settings with their defaults,
 * the function it publishes with, and the events it emits.
 */
import type { MgmtRequest, DeviceExecution } from './management-request';

export interface RequestManagerOptions {
  /** exchanges awaiting a device's answer, across every request of the platform */
  maxInFlight?: number;
  /** publishes per event-loop turn */
  batchSize?: number;
  responseTimeoutMs?: number;
  requestTimeoutMs?: number;
  /** a rebooted or reset device must manage again within this */
  restartTimeoutMs?: number;
  downloadTimeoutMs?: number;
  installTimeoutMs?: number;
  /** completed requests are kept this long, and at most maxRetained of them */
  retentionMs?: number;
  maxRetained?: number;
  /** send device/update before firmware actions even without parameters (IBM's clients need it) */
  alwaysSendFirmwareUpdate?: boolean;
  now?: () => Date;
}

export interface RequestManagerEvents {
  requestCreated: [req: MgmtRequest];
  /** a device's execution moved on without finishing (an exchange sent, a wait begun): for the store */
  executionChanged: [exec: DeviceExecution];
  deviceComplete: [req: MgmtRequest, exec: DeviceExecution];
  requestComplete: [req: MgmtRequest];
  requestRemoved: [id: string];
}

export const DEFAULTS = {
  maxInFlight: 500,
  batchSize: 250,
  responseTimeoutMs: 30_000,
  requestTimeoutMs: 3_600_000,
  restartTimeoutMs: 300_000,
  downloadTimeoutMs: 600_000,
  installTimeoutMs: 600_000,
  retentionMs: 3_600_000,
  maxRetained: 200,
  alwaysSendFirmwareUpdate: false,
};

export type Publish = (topic: string, payload: string) => Promise<void>;
