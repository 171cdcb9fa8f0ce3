/**
 * One management request and its per-device executions, with the shapes the Watson IoT v0002
 * management-requests API answers (docs/protocol.md §5): request details with `complete`, per-device
 * rows with `status` 0 success / 1 in progress / 2 failure / 3 timed out.
 */
import type { DeviceRef } from '../protocol/topics';
import type { FirmwareAttributes, Parameter } from '../protocol/messages';
import type { Deadline } from './deadlines';
import { RequestStatus, type RequestStatusCode, type Outcome, type Plan, type Step } from './plans';

export interface DeviceExecution {
  readonly typeId: string;
  readonly deviceId: string;
  readonly key: string;
  readonly request: MgmtRequest;
  /** its position in request.executions (set by MgmtRequest.add) */
  index: number;
  status: RequestStatusCode;
  complete: boolean;
  outcome?: Outcome;
  rc?: number;
  message?: string;
  /** index of the current step in request.steps */
  step: number;
  /** the reqId of the exchange awaiting the device's answer */
  reqId?: string;
  /** holds a slot of the platform's in-flight window */
  holdsSlot: boolean;
  /** the deadline of the current exchange or wait (deadlines.ts) */
  timer?: Deadline;
  /** the exchange awaiting an answer, as published; acked once the broker took it */
  sent?: { topic: string; payload: string; acked: boolean };
  /** when the current wait step began (ms since the epoch): its timeout counts from here, across restarts */
  waitSince?: number;
  firmware: Partial<FirmwareAttributes>;
  sawInProgress: boolean;
  sawDownloading: boolean;
  /** the firmware observation is established (failures cancel it) */
  observing: boolean;
  updatedDateTime: string;
  /** the exchanges this device has answered, with their rc (a few per action: see answer-quirks.ts) */
  answered?: AnsweredExchange[];
  /** how the device departed from the protocol while still completing (docs/protocol.md §10.y) */
  quirk?: string;
}

export interface AnsweredExchange {
  reqId: string;
  rc: number;
  step: string;
}

export interface DeviceStatusRow {
  typeId: string;
  deviceId: string;
  status: RequestStatusCode;
  complete: boolean;
  outcome?: Outcome;
  rc?: number;
  message?: string;
  phase: string;
  updatedDateTime: string;
  /** the device completed despite a departure from the protocol, named here */
  quirk?: string;
}

export interface RequestCounts {
  total: number;
  inProgress: number;
  success: number;
  failure: number;
  timedOut: number;
  cancelled: number;
}

export interface RequestDetails {
  id: string;
  action: string;
  parameters: Parameter[];
  complete: boolean;
  /** 0 every device succeeded, 1 in progress, 2 some failed or were cancelled, 3 some timed out and none failed */
  status: RequestStatusCode;
  createdDateTime: string;
  updatedDateTime: string;
  completedDateTime?: string;
  timeout: number;
  origin: string;
  counts: RequestCounts;
  /** devices that completed despite a known client's departure from the protocol (their rows say which) */
  quirks?: number;
}

export class MgmtRequest {
  readonly executions: DeviceExecution[] = [];
  readonly byKey = new Map<string, DeviceExecution>();
  readonly counts: RequestCounts = { total: 0, inProgress: 0, success: 0, failure: 0, timedOut: 0, cancelled: 0 };
  complete = false;
  /** executions that carry a quirk */
  quirks = 0;
  completedDateTime?: string;
  updatedDateTime: string;
  deadline?: NodeJS.Timeout;
  retention?: NodeJS.Timeout;

  constructor(
    readonly id: string,
    readonly action: string,
    readonly parameters: Parameter[],
    readonly parameterMap: Record<string, string>,
    readonly plan: Plan,
    readonly steps: Step[],
    readonly timeoutMs: number,
    readonly origin: string,
    readonly createdDateTime: string,
  ) {
    this.updatedDateTime = createdDateTime;
  }

  add(exec: DeviceExecution): void {
    exec.index = this.executions.length;
    this.executions.push(exec);
    this.byKey.set(exec.key, exec);
    this.counts.total++;
    this.counts.inProgress++;
  }

  /** Count a device that has just finished. */
  finished(exec: DeviceExecution): void {
    this.counts.inProgress--;
    if (exec.outcome) this.counts[exec.outcome]++;
    this.updatedDateTime = exec.updatedDateTime;
  }

  get status(): RequestStatusCode {
    if (!this.complete) return RequestStatus.IN_PROGRESS;
    if (this.counts.failure + this.counts.cancelled > 0) return RequestStatus.FAILURE;
    if (this.counts.timedOut > 0) return RequestStatus.TIMED_OUT;
    return RequestStatus.SUCCESS;
  }

  phaseOf(exec: DeviceExecution): string {
    const step = this.steps[Math.min(exec.step, this.steps.length - 1)];
    return step ? step.name : 'initiate';
  }

  details(): RequestDetails {
    const d: RequestDetails = {
      id: this.id,
      action: this.action,
      parameters: this.parameters,
      complete: this.complete,
      status: this.status,
      createdDateTime: this.createdDateTime,
      updatedDateTime: this.updatedDateTime,
      timeout: Math.round(this.timeoutMs / 1000),
      origin: this.origin,
      counts: { ...this.counts },
    };
    if (this.completedDateTime) d.completedDateTime = this.completedDateTime;
    if (this.quirks) d.quirks = this.quirks;
    return d;
  }

  row(exec: DeviceExecution): DeviceStatusRow {
    const r: DeviceStatusRow = {
      typeId: exec.typeId,
      deviceId: exec.deviceId,
      status: exec.status,
      complete: exec.complete,
      phase: this.phaseOf(exec),
      updatedDateTime: exec.updatedDateTime,
    };
    if (exec.outcome) r.outcome = exec.outcome;
    if (exec.rc !== undefined) r.rc = exec.rc;
    if (exec.message !== undefined) r.message = exec.message;
    if (exec.quirk) r.quirk = exec.quirk;
    return r;
  }
}

/** A device's execution of `req`, not started. */
export function newExecution(d: DeviceRef, key: string, req: MgmtRequest, nowIso: string): DeviceExecution {
  return {
    typeId: d.typeId,
    deviceId: d.deviceId,
    key,
    request: req,
    index: -1,
    status: RequestStatus.IN_PROGRESS,
    complete: false,
    step: 0,
    holdsSlot: false,
    firmware: {},
    sawInProgress: false,
    sawDownloading: false,
    observing: false,
    updatedDateTime: nowIso,
  };
}
