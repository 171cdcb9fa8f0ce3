/**
 * One running rollout: a plan above the request engine. It freezes its target when it starts, cuts
 * it into waves, and launches each wave as successive management requests of at most 5,000
 * devices through the RequestManager (docs/protocol.md §5), paced, capped, inside its window; it turns
 * the engine's per-device results into retries, verifications, set-aside devices, abort decisions
 * and gates. Every piece of its state is the plain data of state.ts, so it can stop and resume.
 */
import { deviceKey } from '../../protocol/topics';
import { planFor } from '../plans';
import type { MgmtRequest, DeviceExecution } from '../management-request';
import type { DeviceRecord } from '../registry';
import { resultOf, type RolloutContext } from './context';
import { versionOf, type Gate } from './definition';
import { freeze } from './freeze';
import { LaunchQueue, LAUNCH_PER_TURN, requestBody, requestsOf } from './launch-queue';
import { Waker } from './waker';
import { RolloutRequests } from './rollout-requests';
import { KeyedTimers } from './keyed-timers';
import { inWindow, startOf } from './window';
import { allowance, initialPace, launched, succeeded, waitMs } from './pace';
import { abortReason, backoffMs, gateDecision } from './rules';
import { FINAL_STATES, zeroCounts } from './state';
import type { Counts, DeviceEntry, DeviceState, FinalOutcome, RolloutData, RolloutState, WaveData } from './state';

export type { DeviceResult, RolloutContext } from './context';

const iso = (ms: number) => new Date(ms).toISOString();

export class Rollout {
  readonly index = new Map<string, number>();
  private readonly requests = new RolloutRequests();
  private readonly verifyTimers = new KeyedTimers();
  private readonly queue: LaunchQueue;
  private inFlight = 0;
  private readonly waker: Waker;
  /** cancelled executions go back to the queue (a window closed with onEnd "cancel") */
  private requeueCancelled = false;
  /** no wave before this one is still open (waves without a gate overlap the next) */
  private oldestOpen = 0;
  private readonly oneType: boolean;
  private readonly version?: string;

  constructor(
    readonly data: RolloutData,
    private readonly ctx: RolloutContext,
  ) {
    this.oneType = !!planFor(data.definition.action).oneType;
    this.version = versionOf(data.definition);
    this.queue = new LaunchQueue(data);
    this.waker = new Waker(() => this.tick(), ctx.now);
  }

  get id(): string {
    return this.data.rolloutId;
  }
  get final(): boolean {
    return FINAL_STATES.includes(this.data.state);
  }
  get inFlightCount(): number {
    return this.inFlight;
  }

  /** Start, or take up again after a restart: work interrupted in flight goes back to the queue. */
  start(): void {
    const d = this.data;
    const finishedMeanwhile: [MgmtRequest, DeviceExecution][] = [];
    this.queue.wave(d.waves[d.currentWave]);
    d.devices.forEach((e, i) => this.index.set(deviceKey(e), i)); // whole, before a followed request is mapped
    d.devices.forEach((e, i) => {
      if (e.state === 'inProgress' && !e.verifying) {
        // the engine took up its own requests after a restart: follow them rather than launch again
        const req = e.reqId ? this.ctx.engine.get(e.reqId) : undefined;
        const exec = req?.byKey.get(deviceKey(e));
        if (req && exec) {
          this.inFlight++;
          if (!this.requests.has(req.id)) {
            this.requests.follow(req, this.index);
            this.ctx.track(req, this);
          }
          if (exec.complete) finishedMeanwhile.push([req, exec]);
          return;
        }
        e.attempts = Math.max(0, e.attempts - 1);
        e.reqId = undefined;
        this.move(i, 'pending');
        if (e.attempts === 0) this.queue.again(i);
      }
      if (e.state === 'pending' && e.attempts > 0) this.queue.retry(i, e.retryAt ?? this.ctx.now());
      if (e.state === 'inProgress' && e.verifying) this.armVerify(i);
    });
    for (const [req, exec] of finishedMeanwhile) this.onDeviceComplete(req, exec);
    if (!this.final) this.waker.soon();
  }

  // ------------------------------------------------------------------ commands

  pause(): boolean {
    if (this.data.state !== 'running') return false;
    this.setState('paused', 'paused');
    return true;
  }
  resume(): boolean {
    if (this.data.state !== 'paused') return false;
    this.setState('running');
    this.waker.soon();
    return true;
  }
  approve(): boolean {
    const wave = this.data.waves[this.data.currentWave];
    if (this.data.state !== 'waitingApproval' || !wave) return false;
    wave.gate = 'approved';
    this.setState('running');
    this.waker.soon();
    return true;
  }
  cancel(reason = 'cancelled'): boolean {
    if (this.final) return false;
    this.stop('cancelled', reason);
    return true;
  }

  /** Stop timers without changing the state (the platform is closing; the data is kept as is). */
  suspend(): void {
    this.waker.stop();
    this.verifyTimers.clearAll();
    this.requests.clear();
  }

  // ------------------------------------------------------------------ what the engine and devices say

  /** One device of one of this rollout's requests finished. */
  onDeviceComplete(req: MgmtRequest, exec: DeviceExecution): void {
    const i = this.requests.entryOf(req, exec);
    if (i === undefined) return;
    const e = this.data.devices[i];
    if (e.state !== 'inProgress' || e.verifying || e.reqId !== req.id) return;
    this.inFlight--;
    e.reqId = undefined;
    e.rc = exec.rc;
    e.reason = exec.message;
    if (exec.outcome === 'success') {
      if (this.data.definition.verify) this.armVerify(i);
      else this.finalize(i, 'success');
    } else if (exec.outcome === 'cancelled') {
      if (this.requeueCancelled && !this.final) {
        e.attempts--;
        this.move(i, 'pending');
        if (e.attempts === 0) this.queue.again(i);
        else this.queue.retry(i, this.ctx.now());
      } else this.finalize(i, 'cancelled');
    } else this.failed(i, exec.outcome === 'timedOut' ? 'timedOut' : 'failure');
    this.waker.soon();
  }

  onRequestComplete(req: MgmtRequest): void {
    this.requests.delete(req.id);
  }

  /** A manage: a device verifying its firmware reports its version (deviceInfo.fwVersion). */
  onManage(rec: DeviceRecord): void {
    const i = this.index.get(deviceKey(rec));
    if (i === undefined) return;
    const e = this.data.devices[i];
    if (e.state !== 'inProgress' || !e.verifying) return;
    this.verifyTimers.clear(i);
    e.verifying = undefined;
    const reported = rec.deviceInfo.fwVersion;
    if (reported === this.version) {
      e.reason = undefined;
      this.finalize(i, 'success');
    } else this.failed(i, 'failure', `verification: the device reports fwVersion ${reported ?? '(none)'}, not ${this.version}`);
    this.waker.soon();
  }

  // ------------------------------------------------------------------ device bookkeeping

  private move(i: number, to: DeviceState): void {
    const e = this.data.devices[i];
    const w = this.data.waves[e.wave]?.counts;
    this.data.counts[e.state]--;
    this.data.counts[to]++;
    if (w) {
      w[e.state]--;
      w[to]++;
    }
    e.state = to;
    this.ctx.changed(this, i);
  }

  private armVerify(i: number): void {
    this.data.devices[i].verifying = true;
    this.ctx.changed(this, i);
    const ms = this.data.definition.verify?.timeoutMs ?? 600_000;
    this.verifyTimers.set(i, ms, () => {
      const e = this.data.devices[i];
      if (e.state !== 'inProgress' || !e.verifying) return;
      e.verifying = undefined;
      this.failed(i, 'timedOut', `verification: no manage reporting fwVersion ${this.version} within ${ms} ms`);
      this.waker.soon();
    });
  }

  /** An attempt failed or timed out: retry after the backoff, or end the device (set aside). */
  private failed(i: number, outcome: 'failure' | 'timedOut', reason?: string): void {
    const e = this.data.devices[i];
    if (reason !== undefined) e.reason = reason;
    const policy = this.data.definition.retries?.[outcome];
    if (policy && e.attempts <= policy.count && !this.final) {
      const delay = backoffMs(policy, e.attempts);
      this.move(i, 'pending');
      this.queue.retry(i, this.ctx.now() + delay);
      this.report(e, outcome, false, delay);
      return;
    }
    if (policy && policy.count > 0) e.setAside = true;
    this.finalize(i, outcome);
  }

  private finalize(i: number, outcome: FinalOutcome): void {
    const e = this.data.devices[i];
    this.move(i, outcome);
    e.retryAt = undefined;
    // an earlier wave that overlapped the current one ends with its last device
    const w = this.data.waves[e.wave];
    if (w && w.state === 'running' && e.wave < this.data.currentWave && !this.final && w.counts.pending === 0 && w.counts.inProgress === 0) {
      w.state = 'completed';
      w.completedDateTime = iso(this.ctx.now());
      this.ctx.wave(this, w);
    }
    if (outcome === 'success') succeeded(this.data.pace, this.data.definition.rate, 1);
    if (e.attempts > 0) this.report(e, outcome, true);
    if (!this.final && outcome !== 'cancelled') {
      const reason = abortReason(this.data.definition.abort, this.data.counts);
      if (reason) this.stop('aborted', reason);
    }
  }

  private report(e: DeviceEntry, outcome: FinalOutcome, final: boolean, retryInMs?: number): void {
    this.ctx.device(this, resultOf(this.id, e, outcome, final, retryInMs));
  }

  // ------------------------------------------------------------------ states

  private setState(state: RolloutState, reason?: string, notify = true): void {
    const previous = this.data.state;
    this.data.state = state;
    this.data.reason = reason;
    this.data.updatedDateTime = iso(this.ctx.now());
    if (FINAL_STATES.includes(state)) this.data.completedDateTime = this.data.updatedDateTime;
    this.ctx.changed(this);
    if (notify && previous !== state) this.ctx.state(this, previous);
  }

  /** Abort or cancel: what is in flight is cancelled, what waits will not run. The state is set first (nothing launches), its change told last (final counts). */
  private stop(state: 'aborted' | 'cancelled', reason: string): void {
    const previous = this.data.state;
    this.setState(state, reason, false);
    this.requeueCancelled = false;
    this.waker.clear();
    for (const req of this.requests.list()) this.ctx.engine.cancel(req.id);
    this.queue.clear();
    const d = this.data;
    d.devices.forEach((e, i) => {
      if (e.state === 'pending' || (e.state === 'inProgress' && e.verifying)) {
        this.verifyTimers.clear(i);
        e.verifying = undefined;
        e.reason = reason;
        this.finalize(i, 'cancelled');
      }
    });
    for (const w of d.waves.filter((w) => w.state === 'pending' || w.state === 'running')) {
      w.state = state;
      w.completedDateTime = d.completedDateTime;
      this.ctx.wave(this, w);
    }
    if (previous !== state) this.ctx.state(this, previous);
  }

  // ------------------------------------------------------------------ the scheduler

  private tick(): void {
    const d = this.data;
    const now = this.ctx.now();
    if (d.state === 'pending') {
      const start = startOf(d.definition.window);
      if (start !== undefined && now < start) return this.waker.in(start - now);
      this.begin(now);
    }
    if (d.state !== 'running') return;
    while (this.waveDone() || this.overlaps()) if (!this.nextWave(now)) return;
    const wave = d.waves[d.currentWave];
    if (wave.state === 'pending') {
      wave.state = 'running';
      wave.startedDateTime = iso(now);
      this.ctx.wave(this, wave);
    }
    const window = d.definition.window;
    if (!inWindow(window, now)) {
      if (d.windowOpen !== false) {
        d.windowOpen = false;
        if (window?.onEnd === 'cancel' && this.requests.size) {
          this.requeueCancelled = true;
          for (const req of this.requests.list()) this.ctx.engine.cancel(req.id);
          this.requeueCancelled = false;
        }
        this.ctx.changed(this);
      }
      return this.waker.in(this.ctx.windowPollMs);
    }
    if (d.windowOpen === false) {
      d.windowOpen = true;
      this.ctx.changed(this);
    }
    this.launch(now, wave);
    // all of a gate-less wave is out: the next one starts now
    if (this.overlaps()) this.waker.soon();
    if (window?.days || window?.hours) this.waker.in(this.ctx.windowPollMs);
  }

  /** Freeze the target and plan the waves. */
  private begin(now: number): void {
    const d = this.data;
    try {
      Object.assign(d, freeze(d, this.ctx.registry));
    } catch (err) {
      d.counts = zeroCounts();
      return this.setState('cancelled', (err as Error).message);
    }
    d.devices.forEach((e, i) => this.index.set(deviceKey(e), i));
    d.currentWave = 0;
    d.startedDateTime = iso(now);
    d.pace = initialPace(d.definition.rate, now);
    this.queue.wave(d.waves[0]);
    this.setState('running');
  }

  private gateOf(w: WaveData): Gate | undefined {
    const specs = Array.isArray(this.data.definition.waves) ? this.data.definition.waves : [this.data.definition.waves];
    return specs[Math.min(w.index, specs.length - 1)].gate ?? this.data.definition.gate;
  }

  /** The current wave has ended; a gate judges only once every earlier wave has ended too. */
  private waveDone(): boolean {
    const d = this.data;
    const w = d.waves[d.currentWave];
    if (!w) return true;
    if (w.counts.pending || w.counts.inProgress) return false;
    if (!this.gateOf(w)) return true;
    for (; this.oldestOpen < d.currentWave; this.oldestOpen++) if (d.waves[this.oldestOpen].state !== 'completed') return false;
    return true;
  }

  /** A wave without a gate whose devices were all tried: the next one starts while it ends. */
  private overlaps(): boolean {
    const d = this.data;
    const w = d.waves[d.currentWave];
    return !!w && w.state === 'running' && d.currentWave < d.waves.length - 1 && !this.gateOf(w) && !this.queue.untried(w);
  }

  /** The current wave is done: pass its gate to the next, or wait; false while it waits. */
  private nextWave(now: number): boolean {
    const d = this.data;
    const w = d.waves[d.currentWave];
    if (w && w.state !== 'completed' && w.counts.pending === 0 && w.counts.inProgress === 0) {
      w.state = 'completed';
      w.completedDateTime = iso(now);
      this.ctx.wave(this, w);
    }
    if (!w || d.currentWave >= d.waves.length - 1) {
      // earlier waves that overlapped may still be ending
      if (d.counts.pending + d.counts.inProgress > 0) return false;
      this.setState('completed');
      return false;
    }
    const gate = this.gateOf(w);
    if (w.gate === undefined) {
      const g = gateDecision(gate, w.counts);
      if (!g.go) {
        w.gate = g.wait === 'approval' ? 'waitingApproval' : g.wait === 'time' ? 'waiting' : 'failed';
        if (g.wait === 'time') w.gateUntil = now + (gate?.waitMs ?? 0);
        this.ctx.wave(this, w);
        if (g.wait === 'approval') this.setState('waitingApproval', g.reason);
        else if (g.wait === 'threshold') this.setState('paused', g.reason);
        else this.waker.in(w.gateUntil! - now);
        return false;
      }
      w.gate = gate ? 'passed' : 'none';
      if (gate) this.ctx.wave(this, w);
    } else if (w.gate === 'waiting') {
      if (now < (w.gateUntil ?? 0)) {
        this.waker.in(w.gateUntil! - now);
        return false;
      }
      w.gate = 'waited';
      this.ctx.wave(this, w);
    }
    d.currentWave++;
    this.queue.wave(d.waves[d.currentWave]);
    this.ctx.changed(this);
    return true;
  }

  /** Launch what the pace, the cap and the queue allow, in requests of at most 5,000 devices. */
  private launch(now: number, wave: WaveData): void {
    const d = this.data;
    const cap = d.definition.rate?.maxInFlight;
    const batch = this.queue.take(Math.min(allowance(d.pace, now), cap !== undefined ? cap - this.inFlight : Infinity, LAUNCH_PER_TURN), now, wave);
    if (batch.length) this.send(batch, now);
    if (batch.length === LAUNCH_PER_TURN) this.waker.soon(); // the rest on the next turns
    const untried = this.queue.untried(wave);
    // a capped rollout goes on when a device finishes; a paced one when its next token is there
    const paced = untried && !(cap !== undefined && this.inFlight >= cap) ? waitMs(d.pace, now) : Infinity;
    const next = Math.min(this.queue.nextRetryIn(now), paced);
    if (next !== Infinity) this.waker.in(Math.max(next, 1));
  }

  private send(batch: number[], now: number): void {
    const d = this.data;
    launched(d.pace, d.definition.rate, batch.length);
    for (const chunk of requestsOf(batch, d.devices, this.oneType)) {
      for (const i of chunk) {
        const e = d.devices[i];
        e.attempts++;
        e.retryAt = undefined;
        e.rc = undefined;
        e.reason = undefined;
        this.move(i, 'inProgress');
        this.inFlight++;
      }
      try {
        const req = this.ctx.engine.initiate(requestBody(d.definition, d.devices, chunk), { origin: `rollout:${this.id}` });
        for (const i of chunk) d.devices[i].reqId = req.id;
        // the engine made one execution per device, in the order of the body
        this.requests.add(req, chunk);
        this.ctx.track(req, this);
      } catch (err) {
        for (const i of chunk) {
          this.inFlight--;
          d.devices[i].reqId = undefined;
          this.failed(i, 'failure', (err as Error).message);
        }
      }
    }
    d.updatedDateTime = iso(now);
  }

  counts(): Counts {
    return { ...this.data.counts };
  }
}
