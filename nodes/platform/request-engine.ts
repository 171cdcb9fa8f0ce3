/**
 * The engine that runs management requests (docs/protocol.md §5, §8): launches an admitted request,
 * fans its plan out to every device through a bounded window of in-flight exchanges (so neither the
 * event loop nor the broker's queues overflow at 5,000 devices), routes each device's answers,
 * manages and notifies to its execution, and applies the per-exchange, per-phase and per-request
 * timeouts. It reads the plans (plans.ts) as data: what a step does is said by its properties.
 * Its settings and events are in request-options.ts, the queries over the requests it holds in
 * request-manager.ts.
 */
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import { deviceKey, platformTopic, PlatformPath, type DeviceRef } from '../protocol/topics';
import { RC_TEXT } from '../protocol/rc';
import type { DmResponse, FirmwareAttributes } from '../protocol/messages';
import { RequestStatus, stepsFor, cancelObservationBody, observedFirmware, type ExchangeStep, type Step, type StepContext, type WaitStep } from './plans';
import { MgmtRequest, newExecution, type DeviceExecution } from './management-request';
import { Deadlines } from './deadlines';
import { Clock } from './clock';
import { ReqIds } from './req-ids';
import { admit, InitiateError, type InitiateOptions } from './request-admission';
import { reusedReqIdAnswer, recordAnswer } from './answer-quirks';
import type { Registry } from './registry';
import { DEFAULTS, type Publish, type RequestManagerEvents, type RequestManagerOptions } from './request-options';

export class RequestEngine extends EventEmitter<RequestManagerEvents> {
  readonly options: Required<Omit<RequestManagerOptions, 'now'>>;
  /** the time: ms and ISO text without a Date each (clock.ts; options.now in tests) */
  protected readonly clock: Clock;
  protected readonly requests = new Map<string, MgmtRequest>();
  protected readonly pending = new Map<string, DeviceExecution>();
  /** each device's running executions (mostly one: an array costs less than a Set per device) */
  protected readonly active = new Map<string, DeviceExecution[]>();
  protected readonly firmwareBusy = new Map<string, DeviceExecution>();
  /** the per-device deadlines, paused while the broker is away (deadlines.ts) */
  protected readonly deadlines: Deadlines;
  protected queue: DeviceExecution[] = [];
  private qHead = 0;
  protected inFlight = 0;
  private pumpScheduled = false;
  /** releaseSlot is starting the next execution (see there) */
  private refilling = false;
  private closed = false;
  /** the reqIds of the exchanges this engine sends (req-ids.ts) */
  protected readonly reqIds = new ReqIds();

  constructor(
    protected readonly registry: Registry,
    protected readonly publish: Publish,
    options: RequestManagerOptions = {},
  ) {
    super();
    const { now, ...rest } = options;
    this.options = { ...DEFAULTS, ...Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined)) };
    this.clock = new Clock(now);
    this.deadlines = new Deadlines(this.clock.ms);
  }

  /** exchanges currently awaiting an answer (for status and tests) */
  get inFlightCount(): number {
    return this.inFlight;
  }

  // ------------------------------------------------------------------ launch

  /**
   * Validate and start a request. Throws InitiateError (400 invalid body; with `strict`, 404 unknown
   * device, 403 unable, 409 busy). Without `strict` those devices fail on their own, unpublished.
   */
  initiate(body: unknown, opts: InitiateOptions = {}): MgmtRequest {
    if (this.closed) throw new InitiateError('the platform is closed', 400);
    const { body: b, plan, parameterMap, refusals, keys } = admit(body, this.registry, this.firmwareBusy, opts);
    const nowIso = this.clock.iso();
    const timeoutMs = opts.timeoutMs ?? (b.timeout !== undefined ? b.timeout * 1000 : this.options.requestTimeoutMs);
    const steps = stepsFor(plan, parameterMap, this.options.alwaysSendFirmwareUpdate);
    const req = new MgmtRequest(randomUUID(), b.action, b.parameters ?? [], parameterMap, plan, steps, timeoutMs, opts.origin ?? 'api', nowIso);
    const refused: DeviceExecution[] = [];
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i];
      const exec = newExecution(b.devices[i], k, req, nowIso);
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
        if (previous) this.finish(previous, 'cancelled', RequestStatus.FAILURE, undefined, `overridden by request ${req.id}`);
        this.firmwareBusy.set(k, exec);
      }
      this.addActive(k, exec);
      this.queue.push(exec);
    }
    this.requests.set(req.id, req);
    req.deadline = setTimeout(() => this.expire(req), timeoutMs);
    this.emit('requestCreated', req);
    // refused devices finish on the next turn, so the caller can listen first
    setImmediate(() => {
      for (const exec of refused) if (!exec.complete) this.finish(exec, 'failure', RequestStatus.FAILURE, exec.rc, exec.message);
      if (req.counts.inProgress === 0 && !req.complete) this.completeRequest(req);
    });
    this.schedulePump();
    return req;
  }

  /** `exec` is one of its device's running executions */
  protected addActive(key: string, exec: DeviceExecution): void {
    const list = this.active.get(key);
    if (list) list.push(exec);
    else this.active.set(key, [exec]);
  }

  // ------------------------------------------------------------------ the window

  protected schedulePump(): void {
    if (this.pumpScheduled || this.closed) return;
    this.pumpScheduled = true;
    setImmediate(() => this.pump());
  }

  private pump(): void {
    this.pumpScheduled = false;
    this.launch(this.options.batchSize);
    if (this.qHead > 1024 && this.qHead * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.qHead);
      this.qHead = 0;
    }
    if (this.qHead < this.queue.length && this.inFlight < this.options.maxInFlight) this.schedulePump();
  }

  /** Start up to `n` queued executions while the window has room. */
  private launch(n: number): void {
    const { maxInFlight } = this.options;
    while (n > 0 && this.inFlight < maxInFlight && this.qHead < this.queue.length) {
      const exec = this.queue[this.qHead++];
      if (exec.complete) continue;
      exec.holdsSlot = true;
      this.inFlight++;
      this.run(exec);
      n--;
    }
  }

  /**
   * A device gives its slot up: the next queued one takes it at once, as the answer that freed it
   * is handled, rather than a turn later (in a full window each exchange waited for a pump, and its
   * publish for the turn after). One at a time: a device that gives its slot up again at once
   * (its first step is a wait) leaves the rest to the pump.
   */
  private releaseSlot(exec: DeviceExecution): void {
    if (!exec.holdsSlot) return;
    exec.holdsSlot = false;
    this.inFlight--;
    if (this.qHead >= this.queue.length) return;
    if (this.refilling) return this.schedulePump();
    this.refilling = true;
    try {
      this.launch(1);
    } finally {
      this.refilling = false;
    }
  }

  // ------------------------------------------------------------------ steps

  protected context(exec: DeviceExecution): StepContext {
    return {
      parameters: exec.request.parameterMap,
      firmware: exec.firmware,
      knownFirmware: this.registry.getByKey(exec.key)?.mgmt.firmware,
      sawInProgress: exec.sawInProgress,
      sawDownloading: exec.sawDownloading,
    };
  }

  protected currentStep(exec: DeviceExecution): Step | undefined {
    return exec.request.steps[exec.step];
  }

  private run(exec: DeviceExecution): void {
    const step = this.currentStep(exec);
    if (!step) return this.succeed(exec);
    if (step.kind === 'exchange') return this.send(exec, step);
    this.releaseSlot(exec);
    this.wait(exec, step);
  }

  protected send(exec: DeviceExecution, step: ExchangeStep): void {
    const reqId = this.reqIds.next();
    exec.reqId = reqId;
    this.pending.set(reqId, exec);
    if (step.firmwareView) {
      // the wait phase judges what the device reports from here on, not an older view (§10)
      exec.firmware = step.firmwareView(this.context(exec));
      exec.sawInProgress = false;
      exec.sawDownloading = false;
    }
    // a reqId of ours needs no escaping: a step without a body is written as JSON.stringify would
    const payload = step.body ? JSON.stringify({ reqId, ...step.body(this.context(exec)) }) : `{"reqId":"${reqId}"}`;
    exec.timer = this.deadlines.arm(this.options.responseTimeoutMs, this.stepTimeout, exec);
    // kept until answered: sent again with the same reqId when the broker may have lost it
    const sent = (exec.sent = { topic: platformTopic(step.path, exec), payload, acked: false as boolean });
    this.emit('executionChanged', exec);
    this.publish(sent.topic, payload).then(
      () => (sent.acked = true),
      (err: Error) => {
        if (exec.reqId === reqId && !exec.complete)
          this.finish(exec, 'failure', RequestStatus.FAILURE, undefined, `could not publish ${step.name}: ${err.message}`);
      },
    );
  }

  private waitTimeoutMs(kind: WaitStep['timeout']): number {
    const o = this.options;
    return kind === 'restart' ? o.restartTimeoutMs : kind === 'download' ? o.downloadTimeoutMs : o.installTimeoutMs;
  }

  protected wait(exec: DeviceExecution, step: WaitStep): void {
    const t = this.waitTimeoutMs(step.timeout);
    exec.waitSince ??= this.clock.ms();
    if (t > 0) exec.timer = this.deadlines.arm(t - (this.clock.ms() - exec.waitSince), this.stepTimeout, exec);
    this.emit('executionChanged', exec);
    // a notify that came before the 202 (IBM's Java client, docs/protocol.md §7.4) may already decide
    if (step.judge) this.judge(exec, step);
  }

  protected advance(exec: DeviceExecution): void {
    this.deadlines.clear(exec.timer);
    exec.timer = undefined;
    exec.step++;
    exec.waitSince = undefined;
    exec.sent = undefined;
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

  protected judge(exec: DeviceExecution, step: WaitStep): void {
    const j = step.judge!(this.context(exec));
    if (!j) return;
    if (j.outcome === 'success') this.advance(exec);
    else this.finish(exec, 'failure', RequestStatus.FAILURE, j.rc, j.message);
  }

  private succeed(exec: DeviceExecution): void {
    if (exec.request.plan.onSuccess === 'setFwVersion') {
      const version = exec.firmware.version || this.registry.getByKey(exec.key)?.mgmt.firmware?.version || exec.request.parameterMap.version;
      if (version) this.registry.setFwVersion(exec, version);
    }
    this.finish(exec, 'success', RequestStatus.SUCCESS, exec.rc, exec.message);
  }

  /** A deadline armed for exec's current step fell due (advance clears it before the step moves on). */
  protected readonly stepTimeout = (exec: DeviceExecution): void => this.timeout(exec, this.currentStep(exec)?.timeoutReason ?? 'timed out');

  protected timeout(exec: DeviceExecution, reason: string): void {
    if (exec.complete) return;
    this.finish(exec, 'timedOut', RequestStatus.TIMED_OUT, undefined, reason);
  }

  /** End one device's execution: the single place where executions complete. */
  protected finish(
    exec: DeviceExecution,
    outcome: DeviceExecution['outcome'],
    status: DeviceExecution['status'],
    rc: number | undefined,
    message: string | undefined,
  ): void {
    if (exec.complete) return;
    this.deadlines.clear(exec.timer);
    exec.timer = undefined;
    if (exec.reqId) this.pending.delete(exec.reqId);
    exec.reqId = undefined;
    this.releaseSlot(exec);
    const list = this.active.get(exec.key);
    if (list) {
      const i = list.indexOf(exec);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) this.active.delete(exec.key);
    }
    if (exec.request.plan.firmware && this.firmwareBusy.get(exec.key) === exec) this.firmwareBusy.delete(exec.key);
    // a failed or abandoned firmware step leaves no observation behind (docs/protocol.md §3.9)
    const step = this.currentStep(exec);
    if (exec.observing && outcome !== 'success' && !(step?.kind === 'exchange' && step.observation === 'close')) {
      this.publish(platformTopic(PlatformPath.cancel, exec), JSON.stringify({ reqId: this.reqIds.next(), ...cancelObservationBody() })).catch(() => undefined);
    }
    exec.complete = true;
    exec.outcome = outcome;
    exec.status = status;
    exec.rc = rc;
    exec.message = message;
    exec.updatedDateTime = this.clock.iso();
    const req = exec.request;
    req.finished(exec);
    this.emit('deviceComplete', req, exec);
    if (req.counts.inProgress === 0 && !req.complete) this.completeRequest(req);
  }

  private completeRequest(req: MgmtRequest): void {
    req.complete = true;
    req.completedDateTime = this.clock.iso();
    req.updatedDateTime = req.completedDateTime;
    if (req.deadline) clearTimeout(req.deadline);
    req.deadline = undefined;
    this.emit('requestComplete', req);
    // retention 0: kept until the count pushes it out
    if (this.options.retentionMs > 0) {
      req.retention = setTimeout(() => this.remove(req.id), Math.min(this.options.retentionMs, 2 ** 31 - 1));
      req.retention.unref?.();
    }
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
  protected expire(req: MgmtRequest): void {
    req.deadline = undefined;
    for (const exec of req.executions) {
      // the request's deadline is not paused: when it runs out during an outage, that is the reason
      const why = this.deadlines.offline ? 'broker unavailable' : `request timed out during ${req.phaseOf(exec)}`;
      if (!exec.complete) this.finish(exec, 'timedOut', RequestStatus.TIMED_OUT, undefined, why);
    }
  }

  /** Every device of `req` still running is cancelled with `message` (the request then completes). */
  protected cancelRunning(req: MgmtRequest, message: string): void {
    for (const exec of req.executions) if (!exec.complete) this.finish(exec, 'cancelled', RequestStatus.FAILURE, undefined, message);
  }

  /** Forget a request and its timers. */
  protected remove(id: string): void {
    const req = this.requests.get(id);
    if (!req) return;
    if (req.retention) clearTimeout(req.retention);
    if (req.deadline) clearTimeout(req.deadline);
    this.requests.delete(id);
    this.emit('requestRemoved', id);
  }

  // ------------------------------------------------------------------ what devices send

  /** A device's answer on iotdevice-1/.../response. Returns false when no exchange waits for it. */
  handleResponse(device: DeviceRef, resp: DmResponse): boolean {
    let exec = this.pending.get(resp.reqId);
    if (!exec) {
      // not a reqId we wait for: perhaps a known client's reused reqId (answer-quirks.ts)
      const match = reusedReqIdAnswer(this.active.get(deviceKey(device)), resp, (e) => this.exchangeName(e));
      if (!match) return false;
      exec = match.exec;
      if (!exec.quirk) exec.request.quirks++;
      exec.quirk = match.quirk;
    }
    if (exec.complete || exec.reqId === undefined) return false;
    // only the device the request went to can answer it
    if (exec.typeId !== device.typeId || exec.deviceId !== device.deviceId) return false;
    const step = this.currentStep(exec);
    if (!step || step.kind !== 'exchange') return false;
    this.pending.delete(exec.reqId);
    recordAnswer(exec, exec.reqId, resp.rc, step.name);
    exec.reqId = undefined;
    exec.rc = resp.rc;
    exec.message = resp.message;
    if (!step.accept.includes(resp.rc)) {
      const text = resp.message ? resp.message : (RC_TEXT[resp.rc] ?? 'refused');
      this.finish(exec, 'failure', RequestStatus.FAILURE, resp.rc, `${step.refusedAs ?? step.name}: ${text}`);
      return true;
    }
    if (step.accepted) this.registry.mergeFirmware(exec, step.accepted(this.context(exec)));
    if (step.observation === 'open') {
      exec.observing = true;
      for (const value of observedFirmware(resp)) this.registry.mergeFirmware(exec, value);
    }
    if (step.observation === 'close') exec.observing = false;
    this.advance(exec);
    return true;
  }

  /** The name of the exchange an execution waits on, as a person reads it ("firmware/update", "observe"). */
  private exchangeName(exec: DeviceExecution): string | undefined {
    const step = this.currentStep(exec);
    return step?.kind === 'exchange' ? (step.refusedAs ?? step.name) : undefined;
  }

  /** A manage request: completes reboots and factory resets waiting for it (docs/protocol.md §3.8). */
  handleManage(device: DeviceRef): void {
    this.advanceOnManage(this.active.get(deviceKey(device)));
  }

  /** The executions of the device that managed (`list`, its entry in `active`) waiting for that manage move on. */
  protected advanceOnManage(list: DeviceExecution[] | undefined): void {
    if (!list) return;
    for (const exec of [...list]) {
      const step = this.currentStep(exec);
      if (step?.kind === 'wait' && step.event === 'manage') this.advance(exec);
    }
  }

  /** A notified mgmt.firmware change (one field or several), merged into each active execution. */
  handleFirmwareNotify(device: DeviceRef, value: Partial<FirmwareAttributes>): void {
    const list = this.active.get(deviceKey(device));
    if (!list) return;
    for (const exec of [...list]) {
      if (!exec.request.plan.firmware) continue;
      const step = this.currentStep(exec);
      if (!step) continue;
      // notifies count once the step that starts the firmware view is sent, and in the waits for them
      const listening = step.kind === 'wait' ? step.event === 'notify' : step.firmwareView !== undefined;
      if (!listening) continue;
      Object.assign(exec.firmware, value);
      if (value.updateStatus === 1) exec.sawInProgress = true;
      if (value.state === 1) exec.sawDownloading = true;
      if (step.kind === 'wait' && step.judge) this.judge(exec, step);
    }
  }

  /** Stop every timer (the platform is closing); running requests are cancelled. */
  close(): void {
    for (const req of this.requests.values()) {
      this.cancelRunning(req, 'the platform was stopped');
      if (req.retention) clearTimeout(req.retention);
      if (req.deadline) clearTimeout(req.deadline);
    }
    this.deadlines.clearAll();
    this.closed = true;
  }
}
