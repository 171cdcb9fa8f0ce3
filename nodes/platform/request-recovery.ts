/**
 * What the request engine does after the platform lost the broker, or was itself restarted
 * (issue 11). The engine (request-engine.ts) runs requests; this layer brings them back on course.
 *
 * Broker outage: connectionLost() pauses the per-device deadlines (deadlines.ts) and notes the
 * exchanges the broker had already acknowledged: the broker may have lost them (or their answers)
 * with its queues. connectionRestored(), called once subscriptions are back and the client's own
 * held publishes are re-sent, resumes the deadlines and asks those exchanges again with the same
 * reqId (a device that answers twice is counted once: the first answer ends the exchange), and
 * observes mgmt.firmware again for every device waiting for firmware notifies (a notify lost with
 * the broker would leave it waiting to its timeout). A device waiting for a manage after a reboot
 * needs nothing: devices manage again on every connect.
 *
 * Restart: resume() rebuilds the requests from the store (request-records.ts). Finished requests
 * are listed again; in a running one, a device that had not started starts, a device awaiting an
 * answer is asked again with the same reqId (a firmware initiate is not: the device is observed,
 * and the initiate counts as accepted when mgmt.firmware shows it took effect), a device waiting
 * for a manage waits for what is left of its restart timeout, a device waiting for firmware
 * notifies is observed again. A request whose own timeout ran out while the platform was down
 * ends its running devices as "platform restarted".
 */
import { deviceKey, platformTopic, PlatformPath, type DeviceRef } from '../protocol/topics';
import type { DmResponse } from '../protocol/messages';
import { FirmwareState, UpdateStatus } from '../protocol/rc';
import { MgmtRequest, newExecution, type DeviceExecution } from './management-request';
import { observedFirmware, planFor, RequestStatus } from './plans';
import { RequestEngine } from './request-engine';
import type { ExecutionRecord, RequestRecord } from './request-records';
import { COLLECTIONS, type Collections } from './store';

export const PLATFORM_RESTARTED = 'platform restarted';

export class RequestRecovery extends RequestEngine {
  /** observe exchanges sent to resynchronise a device, by reqId */
  private readonly resyncs = new Map<string, DeviceExecution>();
  /**
   * exchanges that may not have reached their device (the broker had acknowledged them when it went
   * away, or the platform restarted), with the reqId they were sent with: asked again once connected
   * and again when their device manages (it is back on the broker and subscribed)
   */
  private readonly mayBeLost = new Map<DeviceExecution, string>();
  /**
   * until when (ms) an exchange sent may miss its device: devices come back after a broker restart
   * at their own pace, and one not yet subscribed again loses what is sent to it
   */
  private settlingUntil = 0;

  constructor(...args: ConstructorParameters<typeof RequestEngine>) {
    super(...args);
    this.on('deviceComplete', (_req, exec) => this.mayBeLost.delete(exec));
  }

  /** The connection to the broker is lost: deadlines pause (see the header). */
  connectionLost(): void {
    if (this.deadlines.offline) return;
    this.deadlines.pause();
    // all of them: the client re-sends those the broker had not acknowledged, but a device that
    // comes back after the platform does has missed that too (it is asked again when it manages)
    for (const [reqId, exec] of this.pending) this.mayBeLost.set(exec, reqId);
  }

  /** Connected again, subscriptions in place: deadlines resume, what may be lost is asked again. */
  connectionRestored(): void {
    if (!this.deadlines.offline) return;
    this.deadlines.resume();
    this.settlingUntil = this.clock.ms() + this.options.responseTimeoutMs;
    for (const [exec, reqId] of this.mayBeLost) {
      if (exec.complete || exec.reqId !== reqId) this.mayBeLost.delete(exec);
      else if (exec.sent?.acked) this.askAgain(exec);
    }
    for (const list of this.active.values()) {
      for (const exec of list) {
        const step = this.currentStep(exec);
        if (step?.kind === 'wait' && step.event === 'notify') this.resync(exec);
      }
    }
  }

  /**
   * A device managed: it is connected and subscribed. What may not have reached it is asked again
   * (a device that came back after the platform did missed it), a firmware wait observes again.
   */
  override handleManage(device: DeviceRef): void {
    const list = this.active.get(deviceKey(device));
    if (list) {
      // asking again and observing only publish: no execution leaves the list here
      for (const exec of list) {
        const reqId = this.mayBeLost.get(exec);
        if (reqId !== undefined && exec.reqId === reqId) this.askAgain(exec);
        else if (reqId !== undefined) this.mayBeLost.delete(exec);
        const step = this.currentStep(exec);
        if (step?.kind === 'wait' && step.event === 'notify') this.resync(exec);
      }
    }
    this.advanceOnManage(list);
  }

  protected override send(exec: DeviceExecution, step: Parameters<RequestEngine['send']>[1]): void {
    super.send(exec, step);
    const reqId = exec.reqId;
    if (!reqId || !(this.deadlines.offline || this.clock.ms() < this.settlingUntil)) return;
    // sent while devices may still be coming back: asked again when the device manages, or once
    // more after half the answer timeout
    this.mayBeLost.set(exec, reqId);
    this.deadlines.clear(exec.timer);
    exec.timer = this.deadlines.arm(this.options.responseTimeoutMs / 2, () => {
      if (!exec.complete && exec.reqId === reqId) this.askAgain(exec, true);
    });
  }

  /**
   * The pending exchange again, same reqId; a firmware initiate is checked by an observe first.
   * Unanswered after half the answer timeout, it is asked once more (a device that reconnects
   * later and does not manage on connect missed the first), then times out after the other half.
   */
  private askAgain(exec: DeviceExecution, last = false): void {
    const step = this.currentStep(exec);
    if (step?.kind !== 'exchange' || !exec.sent) return;
    const reqId = exec.reqId;
    this.deadlines.clear(exec.timer);
    exec.timer = this.deadlines.arm(this.options.responseTimeoutMs / 2, () => {
      if (exec.complete || exec.reqId !== reqId) return;
      if (last) this.timeout(exec, step.timeoutReason);
      else this.askAgain(exec, true);
    });
    if (step.firmwareView) return this.resync(exec);
    const sent = exec.sent;
    sent.acked = false;
    this.publish(sent.topic, sent.payload).then(
      () => (sent.acked = true),
      () => undefined, // the answer deadline covers it
    );
  }

  /** Observe mgmt.firmware to learn where the device is (its answer is judged in handleResponse). */
  private resync(exec: DeviceExecution): void {
    const reqId = this.reqIds.next();
    this.resyncs.set(reqId, exec);
    const body = JSON.stringify({ reqId, d: { fields: [{ field: 'mgmt.firmware' }] } });
    this.publish(platformTopic(PlatformPath.observe, exec), body).catch(() => this.resyncs.delete(reqId));
  }

  override handleResponse(device: DeviceRef, resp: DmResponse): boolean {
    const exec = this.resyncs.get(resp.reqId);
    if (!exec) return super.handleResponse(device, resp);
    if (deviceKey(device) !== exec.key) return false;
    this.resyncs.delete(resp.reqId);
    if (exec.complete) return true;
    for (const value of resp.rc === 200 ? observedFirmware(resp) : []) {
      this.registry.mergeFirmware(exec, value);
      Object.assign(exec.firmware, value);
      if (value.state === FirmwareState.DOWNLOADING) exec.sawDownloading = true;
      if (value.updateStatus === UpdateStatus.IN_PROGRESS) exec.sawInProgress = true;
    }
    const step = this.currentStep(exec);
    if (step?.kind === 'wait' && step.judge) this.judge(exec, step);
    else if (step?.kind === 'exchange' && step.firmwareView && exec.reqId) {
      // the initiate reached the device when its firmware moved: take it as accepted (202)
      if (this.initiateTookEffect(exec)) super.handleResponse(device, { reqId: exec.reqId, rc: 202 });
      else if (exec.sent) {
        const sent = exec.sent;
        this.publish(sent.topic, sent.payload).then(
          () => (sent.acked = true),
          () => undefined,
        );
      }
    }
    return true;
  }

  private initiateTookEffect(exec: DeviceExecution): boolean {
    const fw = exec.firmware;
    if (exec.request.action === 'firmware/download') return fw.state === FirmwareState.DOWNLOADING || fw.state === FirmwareState.DOWNLOADED;
    const version = exec.request.parameterMap.version;
    return (
      fw.updateStatus === UpdateStatus.IN_PROGRESS ||
      (fw.updateStatus === UpdateStatus.SUCCESS && fw.state === FirmwareState.IDLE && !!version && fw.version === version)
    );
  }

  // ------------------------------------------------------------------ restart

  /** Rebuild the requests the store kept; returns how many were running and resume. */
  resume(loaded: Collections | undefined): number {
    const defs = [...((loaded?.get(COLLECTIONS.requests)?.values() ?? []) as Iterable<RequestRecord>)];
    defs.sort((a, b) => (a.createdDateTime < b.createdDateTime ? -1 : 1));
    let running = 0;
    this.settlingUntil = this.clock.ms() + this.options.responseTimeoutMs;
    for (const rec of defs) {
      if (!rec || typeof rec.id !== 'string' || this.requests.has(rec.id) || !Array.isArray(rec.devices)) continue;
      const req = this.rebuild(rec, loaded!.get(COLLECTIONS.executions(rec.id)) as Map<string, ExecutionRecord> | undefined);
      if (req.complete) continue;
      running++;
      this.emit('requestCreated', req);
      const left = Date.parse(rec.createdDateTime) + rec.timeoutMs - this.clock.ms();
      if (left <= 0) {
        for (const exec of req.executions) if (!exec.complete) this.finish(exec, 'failure', RequestStatus.FAILURE, undefined, PLATFORM_RESTARTED);
        continue;
      }
      req.deadline = setTimeout(() => this.expire(req), left);
      for (const exec of req.executions) if (!exec.complete) this.restart(exec);
    }
    this.schedulePump();
    return running;
  }

  private rebuild(rec: RequestRecord, records: Map<string, ExecutionRecord> | undefined): MgmtRequest {
    const plan = planFor(rec.action);
    const parameterMap: Record<string, string> = {};
    for (const p of rec.parameters ?? []) parameterMap[p.name] = p.value;
    const steps = plan.steps.filter((s) => rec.steps.includes(s.name));
    const req = new MgmtRequest(rec.id, rec.action, rec.parameters ?? [], parameterMap, plan, steps, rec.timeoutMs, rec.origin, rec.createdDateTime);
    for (const [typeId, deviceId] of rec.devices) {
      const key = deviceKey({ typeId, deviceId });
      const exec = newExecution({ typeId, deviceId }, key, req, rec.createdDateTime);
      req.add(exec);
      const r = records?.get(key);
      if (!r) continue;
      Object.assign(exec, { step: r.step, status: r.status, rc: r.rc, message: r.message, updatedDateTime: r.updatedDateTime });
      if (r.quirk) {
        exec.quirk = r.quirk;
        req.quirks++;
      }
      if (r.complete) {
        exec.complete = true;
        exec.outcome = r.outcome;
        req.finished(exec);
        continue;
      }
      exec.reqId = r.reqId;
      exec.waitSince = r.waitSince;
      exec.firmware = r.firmware ?? {};
      exec.observing = !!r.observing;
      exec.sawInProgress = !!r.sawInProgress;
      exec.sawDownloading = !!r.sawDownloading;
    }
    req.updatedDateTime = rec.updatedDateTime;
    this.requests.set(req.id, req);
    if (rec.complete || req.counts.inProgress === 0) this.keepFinished(req, rec.completedDateTime);
    return req;
  }

  /** A finished request is listed again until its retention runs out. */
  private keepFinished(req: MgmtRequest, completedDateTime: string | undefined): void {
    req.complete = true;
    req.completedDateTime = completedDateTime ?? this.clock.iso();
    if (this.options.retentionMs <= 0) return;
    const left = Date.parse(req.completedDateTime) + this.options.retentionMs - this.clock.ms();
    if (left <= 0) return this.remove(req.id);
    req.retention = setTimeout(() => this.remove(req.id), Math.min(left, 2 ** 31 - 1));
    req.retention.unref?.();
  }

  /** One running device of a resumed request, back on course (see the header). */
  private restart(exec: DeviceExecution): void {
    this.addActive(exec.key, exec);
    if (exec.request.plan.firmware) this.firmwareBusy.set(exec.key, exec);
    const step = this.currentStep(exec);
    if (step?.kind === 'wait') {
      this.wait(exec, step);
      if (step.event === 'notify' && !exec.complete) this.resync(exec);
      return;
    }
    if (!step || !exec.reqId) {
      this.queue.push(exec);
      return;
    }
    exec.holdsSlot = true;
    this.inFlight++;
    this.pending.set(exec.reqId, exec);
    const payload = JSON.stringify({ reqId: exec.reqId, ...(step.body ? step.body(this.context(exec)) : {}) });
    exec.sent = { topic: platformTopic(step.path, exec), payload, acked: false };
    this.mayBeLost.set(exec, exec.reqId);
    if (this.deadlines.offline) {
      exec.timer = this.deadlines.arm(this.options.responseTimeoutMs, this.stepTimeout, exec);
      return; // asked again once connected
    }
    this.askAgain(exec);
    exec.timer ??= this.deadlines.arm(this.options.responseTimeoutMs, this.stepTimeout, exec);
  }
}
