/**
 * Management requests as the platform's Store keeps them (store.ts): each request's definition in
 * the collection `requests` (written when it is created and when it completes), and each device's
 * state in `request:<id>` (written when an exchange is sent, a wait begins, and when the device
 * finishes). A device with no record had not started. persistRequests() writes them through from
 * the engine's events; request-recovery.ts reads them back at start.
 */
import type { Parameter, FirmwareAttributes } from '../protocol/messages';
import type { DeviceExecution, MgmtRequest } from './management-request';
import type { Outcome, RequestStatusCode } from './plans';
import type { RequestEngine } from './request-engine';
import { COLLECTIONS, type Store } from './store';

export interface RequestRecord {
  id: string;
  action: string;
  parameters: Parameter[];
  /** the plan's step names this request runs (the firmware actions may skip device/update) */
  steps: string[];
  timeoutMs: number;
  origin: string;
  createdDateTime: string;
  updatedDateTime: string;
  complete: boolean;
  completedDateTime?: string;
  /** typeId, deviceId of each device, in the request's order */
  devices: [string, string][];
}

export interface ExecutionRecord {
  step: number;
  complete: boolean;
  outcome?: Outcome;
  status: RequestStatusCode;
  rc?: number;
  message?: string;
  updatedDateTime: string;
  /** the exchange awaiting an answer (the device may still answer it after a restart) */
  reqId?: string;
  waitSince?: number;
  firmware?: Partial<FirmwareAttributes>;
  observing?: boolean;
  sawInProgress?: boolean;
  sawDownloading?: boolean;
  quirk?: string;
}

export function requestRecord(req: MgmtRequest): RequestRecord {
  const r: RequestRecord = {
    id: req.id,
    action: req.action,
    parameters: req.parameters,
    steps: req.steps.map((s) => s.name),
    timeoutMs: req.timeoutMs,
    origin: req.origin,
    createdDateTime: req.createdDateTime,
    updatedDateTime: req.updatedDateTime,
    complete: req.complete,
    devices: req.executions.map((e) => [e.typeId, e.deviceId]),
  };
  if (req.completedDateTime) r.completedDateTime = req.completedDateTime;
  return r;
}

export function executionRecord(e: DeviceExecution): ExecutionRecord {
  const r: ExecutionRecord = { step: e.step, complete: e.complete, status: e.status, updatedDateTime: e.updatedDateTime };
  if (e.outcome) r.outcome = e.outcome;
  if (e.rc !== undefined) r.rc = e.rc;
  if (e.message !== undefined) r.message = e.message;
  if (e.quirk) r.quirk = e.quirk;
  if (e.complete) return r;
  if (e.reqId) r.reqId = e.reqId;
  if (e.waitSince !== undefined) r.waitSince = e.waitSince;
  if (e.request.plan.firmware) {
    r.firmware = e.firmware;
    r.observing = e.observing;
    r.sawInProgress = e.sawInProgress;
    r.sawDownloading = e.sawDownloading;
  }
  return r;
}

/** Write the engine's requests through to the store; returns the function that stops it. */
export function persistRequests(engine: RequestEngine, store: Store): () => void {
  const putRequest = (req: MgmtRequest) => store.put(COLLECTIONS.requests, req.id, requestRecord(req));
  const putExecution = (exec: DeviceExecution) => store.put(COLLECTIONS.executions(exec.request.id), exec.key, executionRecord(exec));
  const onDevice = (_req: MgmtRequest, exec: DeviceExecution) => putExecution(exec);
  const onRemoved = (id: string) => {
    store.delete(COLLECTIONS.requests, id);
    store.drop(COLLECTIONS.executions(id));
  };
  engine.on('requestCreated', putRequest);
  engine.on('executionChanged', putExecution);
  engine.on('deviceComplete', onDevice);
  engine.on('requestComplete', putRequest);
  engine.on('requestRemoved', onRemoved);
  return () => {
    engine.off('requestCreated', putRequest);
    engine.off('executionChanged', putExecution);
    engine.off('deviceComplete', onDevice);
    engine.off('requestComplete', putRequest);
    engine.off('requestRemoved', onRemoved);
  };
}
