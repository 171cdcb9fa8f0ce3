/**
 * The engine that runs management requests (protocol.md §5, §8): validates the REST body, checks
 * each device against the registry, fans the plan out to every device through a bounded window of
 * in-flight exchanges (so neither the event loop nor the broker's queues overflow at 5,000 devices),
 * routes each device's answers, manages and notifies to its execution, applies the per-exchange,
 * per-phase and per-request timeouts, and answers list / details / deviceStatus / cancel / delete.
 */
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import { check, isValid, ValidationError } from '../protocol/validate';
import { deviceKey, platformTopic, type DeviceRef } from '../protocol/topics';
import { RC_TEXT } from '../protocol/rc';
import { FIRMWARE_PARAMETERS, MAX_DEVICES, type DmResponse, type FirmwareAttributes, type MgmtRequestBody } from '../protocol/messages';
import { DeviceStatus, planFor, stepsFor, cancelObservationBody, type ExchangeStep, type Step, type StepContext, type WaitStep } from './plans';
import { MgmtRequest, type DeviceExecution, type DeviceStatusRow, type RequestDetails } from './management-request';
import type { Registry } from './registry';
import { PlatformPath } from '../protocol/topics';

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

export interface InitiateOptions {
  /** overrides the body's `timeout` and the platform default */
  timeoutMs?: number;
  /** who launched it: a node id, "http", "editor" */
  origin?: string;
  /** refuse the whole request (404 / 403 / 409) when a device is unknown, unable or busy (the REST API) */
  strict?: boolean;
  /** cancel an in-flight firmware request of the same devices (REST `?override=true`) */
  override?: boolean;
}

/** Refusal of a whole request, with the HTTP status the REST API answers. */
export class InitiateError extends Error {
  constructor(
    message: string,
    readonly statusCode: 400 | 403 | 404 | 409,
    readonly devices: DeviceRef[] = [],
  ) {
    super(message);
    this.name = 'InitiateError';
  }
}

export interface Page<T> {
  results: T[];
  _bookmark?: string;
}

export interface RequestManagerEvents {
  requestCreated: [req: MgmtRequest];
  deviceComplete: [req: MgmtRequest, exec: DeviceExecution];
  requestComplete: [req: MgmtRequest];
  requestRemoved: [id: string];
}

const DEFAULTS = {
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

function encodeBookmark(offset: number): string {
  return Buffer.from(`o:${offset}`).toString('base64url');
}
function decodeBookmark(b: string | undefined): number {
  if (!b) return 0;
  const m = /^o:(\d+)$/.exec(Buffer.from(b, 'base64url').toString());
  if (!m) throw new InitiateError('invalid _bookmark', 400);
  return parseInt(m[1], 10);
}
function page<T>(all: T[], bookmark: string | undefined, limit: number): Page<T> {
  const offset = decodeBookmark(bookmark);
  const results = all.slice(offset, offset + limit);
  const out: Page<T> = { results };
  if (offset + limit < all.length) out._bookmark = encodeBookmark(offset + limit);
  return out;
}

export class RequestManager extends EventEmitter<RequestManagerEvents> {
  readonly options: Required<Omit<RequestManagerOptions, 'now'>>;
  private readonly now: () => Date;
  private readonly requests = new Map<string, MgmtRequest>();
  private readonly pending = new Map<string, DeviceExecution>();
  private readonly active = new Map<string, Set<DeviceExecution>>();
  private readonly firmwareBusy = new Map<string, DeviceExecution>();
  private queue: DeviceExecution[] = [];
  private qHead = 0;
  private inFlight = 0;
  private pumpScheduled = false;
  private closed = false;

  constructor(
    private readonly registry: Registry,
    private readonly publish: Publish,
    options: RequestManagerOptions = {},
  ) {
    super();
    const { now, ...rest } = options;
    this.options = { ...DEFAULTS, ...Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined)) };
    this.now = now ?? (() => new Date());
  }

  /** exchanges currently awaiting an answer (for status and tests) */
  get inFlightCount(): number {
    return this.inFlight;
  }

  // ------------------------------------------------------------------ initiate

  /**
   * Validate and start a request. Throws InitiateError (400 invalid body; with `strict`, 404 unknown
   * device, 403 unable, 409 busy). Without `strict` those devices fail on their own, unpublished.
   */
  initiate(body: unknown, opts: InitiateOptions = {}): MgmtRequest {
    if (this.closed) throw new InitiateError('the platform is closed', 400);
    let b: MgmtRequestBody;
    try {
      b = check<MgmtRequestBody>('mgmtRequestBody', body);
    } catch (err) {
      throw new InitiateError(`invalid request: ${(err as ValidationError).message}`, 400);
    }
    const plan = planFor(b.action);
    const parameterMap: Record<string, string> = {};
    for (const p of b.parameters ?? []) {
      if (p.name in parameterMap) throw new InitiateError(`invalid request: parameter "${p.name}" given twice`, 400);
      if (plan.firmware && !(FIRMWARE_PARAMETERS as readonly string[]).includes(p.name)) {
        throw new InitiateError(`invalid request: unknown parameter "${p.name}" for ${b.action} (uri, name, verifier, version)`, 400);
      }
      parameterMap[p.name] = p.value;
    }
    const seen = new Set<string>();
    for (const d of b.devices) {
      const k = deviceKey(d);
      if (seen.has(k)) throw new InitiateError(`invalid request: device ${k} is listed twice`, 400);
      seen.add(k);
    }
    if (plan.oneType && new Set(b.devices.map((d) => d.typeId)).size > 1) {
      throw new InitiateError(`invalid request: ${b.action} targets devices of one type; this request mixes ${[...new Set(b.devices.map((d) => d.typeId))].slice(0, 5).join(', ')}`, 400);
    }

    // what each device can do, before anything is published
    const refusals = new Map<string, { rc: number; message: string }>();
    const unknown: DeviceRef[] = [];
    const unable: DeviceRef[] = [];
    const busy: DeviceRef[] = [];
    for (const d of b.devices) {
      const k = deviceKey(d);
      const rec = this.registry.getByKey(k);
      if (!rec) {
        unknown.push(d);
        refusals.set(k, { rc: 404, message: 'device is not registered (it never sent a manage request)' });
      } else if (!rec.managed) {
        unable.push(d);
        refusals.set(k, { rc: 403, message: rec.dormant ? 'device is dormant (not managed)' : 'device is not managed' });
      } else if (!rec.supports[plan.requires]) {
        unable.push(d);
        refusals.set(k, { rc: 403, message: `device does not support ${plan.requires === 'deviceActions' || plan.requires === 'firmwareActions' ? plan.requires : `the bundle ${plan.requires}`}` });
      } else if (plan.firmware && this.firmwareBusy.has(k) && !opts.override) {
        busy.push(d);
        const other = this.firmwareBusy.get(k)!;
        refusals.set(k, { rc: 409, message: `a firmware request (${other.request.id}) is in progress for this device` });
      }
    }
    if (opts.strict) {
      if (unknown.length) throw new InitiateError(`${unknown.length} device(s) do not exist: ${unknown.slice(0, 5).map(deviceKey).join(', ')}`, 404, unknown);
      if (unable.length) throw new InitiateError(`${unable.length} device(s) do not support the requested action: ${unable.slice(0, 5).map(deviceKey).join(', ')}`, 403, unable);
      if (busy.length) throw new InitiateError(`${busy.length} device(s) have a firmware request in progress (use override): ${busy.slice(0, 5).map(deviceKey).join(', ')}`, 409, busy);
    }

    const nowIso = this.now().toISOString();
    const timeoutMs = opts.timeoutMs ?? (b.timeout !== undefined ? b.timeout * 1000 : this.options.requestTimeoutMs);
    const steps = stepsFor(plan, parameterMap, this.options.alwaysSendFirmwareUpdate);
    const req = new MgmtRequest(randomUUID(), b.action, b.parameters ?? [], parameterMap, plan, steps, timeoutMs, opts.origin ?? 'api', nowIso);
    const refused: DeviceExecution[] = [];
    for (const d of b.devices) {
      const k = deviceKey(d);
      const exec: DeviceExecution = {
        typeId: d.typeId,
        deviceId: d.deviceId,
        key: k,
        request: req,
        status: DeviceStatus.IN_PROGRESS,
        complete: false,
        step: 0,
        holdsSlot: false,
        firmware: {},
        sawInProgress: false,
        sawDownloading: false,
        observing: false,
        updatedDateTime: nowIso,
      };
      req.add(exec);
      const refusal = refusals.get(k);
      if (refusal) {
        exec.rc = refusal.rc;
        exec.message = refusal.message;
        refused.push(exec);
        continue;
      }
      if (plan.firmware) {
        const previous = this.firmwareBusy.get(k);
        if (previous) this.finish(previous, 'cancelled', DeviceStatus.FAILURE, undefined, `overridden by request ${req.id}`);
        this.firmwareBusy.set(k, exec);
      }
      let set = this.active.get(k);
      if (!set) this.active.set(k, (set = new Set()));
      set.add(exec);
      this.queue.push(exec);
    }
    this.requests.set(req.id, req);
    req.deadline = setTimeout(() => this.expire(req), timeoutMs);
    this.emit('requestCreated', req);
    // refused devices finish on the next turn, so the caller can listen first
    setImmediate(() => {
      for (const exec of refused) if (!exec.complete) this.finish(exec, 'failure', DeviceStatus.FAILURE, exec.rc, exec.message);
      if (req.counts.inProgress === 0 && !req.complete) this.completeRequest(req);
    });
    this.schedulePump();
    return req;
  }

  // ------------------------------------------------------------------ the window

  private schedulePump(): void {
    if (this.pumpScheduled || this.closed) return;
    this.pumpScheduled = true;
    setImmediate(() => this.pump());
  }

  private pump(): void {
    this.pumpScheduled = false;
    let n = 0;
    const { maxInFlight, batchSize } = this.options;
    while (this.inFlight < maxInFlight && this.qHead < this.queue.length && n < batchSize) {
      const exec = this.queue[this.qHead++];
      if (exec.complete) continue;
      exec.holdsSlot = true;
      this.inFlight++;
      this.run(exec);
      n++;
    }
    if (this.qHead > 1024 && this.qHead * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.qHead);
      this.qHead = 0;
    }
    if (this.qHead < this.queue.length && this.inFlight < maxInFlight) this.schedulePump();
  }

  private releaseSlot(exec: DeviceExecution): void {
    if (!exec.holdsSlot) return;
    exec.holdsSlot = false;
    this.inFlight--;
    if (this.qHead < this.queue.length) this.schedulePump();
  }

  // ------------------------------------------------------------------ steps

  private context(exec: DeviceExecution): StepContext {
    return {
      parameters: exec.request.parameterMap,
      firmware: exec.firmware,
      knownFirmware: this.registry.getByKey(exec.key)?.mgmt.firmware,
      sawInProgress: exec.sawInProgress,
      sawDownloading: exec.sawDownloading,
    };
  }

  private currentStep(exec: DeviceExecution): Step | undefined {
    return exec.request.steps[exec.step];
  }

  private run(exec: DeviceExecution): void {
    const step = this.currentStep(exec);
    if (!step) return this.succeed(exec);
    if (step.kind === 'exchange') return this.send(exec, step);
    this.releaseSlot(exec);
    this.wait(exec, step);
  }

  private send(exec: DeviceExecution, step: ExchangeStep): void {
    const reqId = randomUUID();
    exec.reqId = reqId;
    this.pending.set(reqId, exec);
    if (step.name === 'initiate' && exec.request.plan.firmware) {
      // the wait phase judges what the device reports from here on, not an older view (§10)
      const known = this.registry.getByKey(exec.key)?.mgmt.firmware;
      exec.firmware = exec.request.action === 'firmware/download' ? { state: 0 } : { state: known?.state ?? 2, version: known?.version };
      exec.sawInProgress = false;
      exec.sawDownloading = false;
    }
    const payload = JSON.stringify({ reqId, ...(step.body ? step.body(this.context(exec)) : {}) });
    exec.timer = setTimeout(() => this.timeout(exec, step.timeoutReason), this.options.responseTimeoutMs);
    this.publish(platformTopic(step.path, exec), payload).catch((err: Error) => {
      if (exec.reqId === reqId && !exec.complete) this.finish(exec, 'failure', DeviceStatus.FAILURE, undefined, `could not publish ${step.name}: ${err.message}`);
    });
  }

  private wait(exec: DeviceExecution, step: WaitStep): void {
    const t = { restart: this.options.restartTimeoutMs, download: this.options.downloadTimeoutMs, install: this.options.installTimeoutMs }[step.timeout];
    if (t > 0) exec.timer = setTimeout(() => this.timeout(exec, step.timeoutReason), t);
    // a notify that came before the 202 (IBM's Java client, protocol.md §7.4) may already decide
    if (step.judge) this.judge(exec, step);
  }

  private advance(exec: DeviceExecution): void {
    if (exec.timer) clearTimeout(exec.timer);
    exec.timer = undefined;
    exec.step++;
    if (exec.step >= exec.request.steps.length) return this.succeed(exec);
    const next = this.currentStep(exec)!;
    // a device already in the window keeps its slot for its next exchange
    if (next.kind === 'exchange' && !exec.holdsSlot) {
      if (this.inFlight >= this.options.maxInFlight) {
        this.queue.push(exec);
        return;
      }
      exec.holdsSlot = true;
      this.inFlight++;
    }
    this.run(exec);
  }

  private judge(exec: DeviceExecution, step: WaitStep): void {
    const j = step.judge!(this.context(exec));
    if (!j) return;
    if (j.outcome === 'success') this.advance(exec);
    else this.finish(exec, 'failure', DeviceStatus.FAILURE, j.rc, j.message);
  }

  private succeed(exec: DeviceExecution): void {
    if (exec.request.plan.onSuccess === 'setFwVersion') {
      const version = exec.firmware.version || this.registry.getByKey(exec.key)?.mgmt.firmware?.version || exec.request.parameterMap.version;
      if (version) this.registry.setFwVersion(exec, version);
    }
    this.finish(exec, 'success', DeviceStatus.SUCCESS, exec.rc, exec.message);
  }

  private timeout(exec: DeviceExecution, reason: string): void {
    if (exec.complete) return;
    this.finish(exec, 'timedOut', DeviceStatus.TIMED_OUT, undefined, reason);
  }

  /** End one device's execution: the single place where executions complete. */
  private finish(exec: DeviceExecution, outcome: DeviceExecution['outcome'], status: DeviceExecution['status'], rc: number | undefined, message: string | undefined): void {
    if (exec.complete) return;
    if (exec.timer) clearTimeout(exec.timer);
    exec.timer = undefined;
    if (exec.reqId) this.pending.delete(exec.reqId);
    exec.reqId = undefined;
    this.releaseSlot(exec);
    const set = this.active.get(exec.key);
    if (set) {
      set.delete(exec);
      if (set.size === 0) this.active.delete(exec.key);
    }
    if (this.firmwareBusy.get(exec.key) === exec) this.firmwareBusy.delete(exec.key);
    // a failed or abandoned firmware step leaves no observation behind (protocol.md §3.9)
    if (exec.observing && outcome !== 'success' && this.currentStep(exec)?.name !== 'cancel') {
      this.publish(platformTopic(PlatformPath.cancel, exec), JSON.stringify({ reqId: randomUUID(), ...cancelObservationBody() })).catch(() => undefined);
    }
    exec.complete = true;
    exec.outcome = outcome;
    exec.status = status;
    exec.rc = rc;
    exec.message = message;
    exec.updatedDateTime = this.now().toISOString();
    const req = exec.request;
    req.finished(exec);
    this.emit('deviceComplete', req, exec);
    if (req.counts.inProgress === 0 && !req.complete) this.completeRequest(req);
  }

  private completeRequest(req: MgmtRequest): void {
    req.complete = true;
    req.completedDateTime = this.now().toISOString();
    req.updatedDateTime = req.completedDateTime;
    if (req.deadline) clearTimeout(req.deadline);
    req.deadline = undefined;
    this.emit('requestComplete', req);
    req.retention = setTimeout(() => this.remove(req.id), this.options.retentionMs);
    req.retention.unref?.();
    this.trimRetained();
  }

  private trimRetained(): void {
    let completed = 0;
    for (const r of this.requests.values()) if (r.complete) completed++;
    for (const r of this.requests.values()) {
      if (completed <= this.options.maxRetained) break;
      if (r.complete) {
        this.remove(r.id);
        completed--;
      }
    }
  }

  /** The request's own deadline: every device still running times out, named by its phase. */
  private expire(req: MgmtRequest): void {
    req.deadline = undefined;
    for (const exec of req.executions) {
      if (!exec.complete) this.finish(exec, 'timedOut', DeviceStatus.TIMED_OUT, undefined, `request timed out during ${req.phaseOf(exec)}`);
    }
  }

  // ------------------------------------------------------------------ what devices send

  /** A device's answer on iotdevice-1/.../response. Returns false when no exchange waits for it. */
  handleResponse(device: DeviceRef, resp: DmResponse): boolean {
    const exec = this.pending.get(resp.reqId);
    if (!exec || exec.complete) return false;
    // only the device the request went to can answer it
    if (exec.typeId !== device.typeId || exec.deviceId !== device.deviceId) return false;
    const step = this.currentStep(exec);
    if (!step || step.kind !== 'exchange') return false;
    this.pending.delete(resp.reqId);
    exec.reqId = undefined;
    exec.rc = resp.rc;
    exec.message = resp.message;
    if (!step.accept.includes(resp.rc)) {
      const text = resp.message ? resp.message : RC_TEXT[resp.rc] ?? 'refused';
      this.finish(exec, 'failure', DeviceStatus.FAILURE, resp.rc, `${step.name === 'initiate' ? exec.request.action : step.name}: ${text}`);
      return true;
    }
    if (step.accepted) this.registry.mergeFirmware(exec, step.accepted(this.context(exec)));
    if (step.name === 'observe') {
      exec.observing = true;
      const fields = resp.d?.fields;
      if (Array.isArray(fields)) {
        for (const f of fields as { field?: string; value?: unknown }[]) {
          // an observe answer is device input: merged only when it is a valid firmware object
          if (f && f.field === 'mgmt.firmware' && f.value && typeof f.value === 'object' && isValid('firmwareValue', f.value)) {
            this.registry.mergeFirmware(exec, f.value as Partial<FirmwareAttributes>);
          }
        }
      }
    }
    if (step.name === 'cancel') exec.observing = false;
    this.advance(exec);
    return true;
  }

  /** A manage request: completes reboots and factory resets waiting for it (the seed). */
  handleManage(device: DeviceRef): void {
    const set = this.active.get(deviceKey(device));
    if (!set) return;
    for (const exec of [...set]) {
      const step = this.currentStep(exec);
      if (step?.kind === 'wait' && step.event === 'manage') this.advance(exec);
    }
  }

  /** A notified mgmt.firmware change (one field or several), merged into each active execution. */
  handleFirmwareNotify(device: DeviceRef, value: Partial<FirmwareAttributes>): void {
    const set = this.active.get(deviceKey(device));
    if (!set) return;
    for (const exec of [...set]) {
      if (!exec.request.plan.firmware) continue;
      const step = this.currentStep(exec);
      if (!step) continue;
      const awaitingInitiate = step.kind === 'exchange' && step.name === 'initiate';
      if (!awaitingInitiate && step.kind !== 'wait') continue;
      Object.assign(exec.firmware, value);
      if (value.updateStatus === 1) exec.sawInProgress = true;
      if (value.state === 1) exec.sawDownloading = true;
      if (step.kind === 'wait' && step.judge) this.judge(exec, step);
    }
  }

  // ------------------------------------------------------------------ queries (protocol.md §5)

  get(id: string): MgmtRequest | undefined {
    return this.requests.get(id);
  }

  list(opts: { _bookmark?: string; _limit?: number } = {}): Page<RequestDetails> {
    const p = page([...this.requests.values()], opts._bookmark, Math.min(Math.max(opts._limit ?? 25, 1), MAX_DEVICES));
    return { ...p, results: p.results.map((r) => r.details()) };
  }

  details(id: string): RequestDetails | undefined {
    return this.requests.get(id)?.details();
  }

  deviceStatus(id: string, opts: { _bookmark?: string; _limit?: number } = {}): Page<DeviceStatusRow> | undefined {
    const req = this.requests.get(id);
    if (!req) return undefined;
    const limit = Math.min(Math.max(opts._limit ?? 100, 1), MAX_DEVICES);
    const offset = decodeBookmark(opts._bookmark);
    const results = req.executions.slice(offset, offset + limit).map((e) => req.row(e));
    const out: Page<DeviceStatusRow> = { results };
    if (offset + limit < req.executions.length) out._bookmark = encodeBookmark(offset + limit);
    return out;
  }

  deviceStatusOf(id: string, device: DeviceRef): DeviceStatusRow | undefined {
    const req = this.requests.get(id);
    const exec = req?.byKey.get(deviceKey(device));
    return req && exec ? req.row(exec) : undefined;
  }

  /** Cancel: every device still running is marked cancelled and the request completes (§5). */
  cancel(id: string): RequestDetails | undefined {
    const req = this.requests.get(id);
    if (!req) return undefined;
    for (const exec of req.executions) if (!exec.complete) this.finish(exec, 'cancelled', DeviceStatus.FAILURE, undefined, 'cancelled');
    return req.details();
  }

  /** Delete (clear) a request's status; a running one is cancelled first. */
  delete(id: string): boolean {
    const req = this.requests.get(id);
    if (!req) return false;
    this.cancel(id);
    this.remove(id);
    return true;
  }

  private remove(id: string): void {
    const req = this.requests.get(id);
    if (!req) return;
    if (req.retention) clearTimeout(req.retention);
    if (req.deadline) clearTimeout(req.deadline);
    this.requests.delete(id);
    this.emit('requestRemoved', id);
  }

  /** Stop every timer (the platform is closing); running requests are cancelled. */
  close(): void {
    for (const req of this.requests.values()) {
      for (const exec of req.executions) if (!exec.complete) this.finish(exec, 'cancelled', DeviceStatus.FAILURE, undefined, 'the platform was stopped');
      if (req.retention) clearTimeout(req.retention);
      if (req.deadline) clearTimeout(req.deadline);
    }
    this.closed = true;
  }
}
