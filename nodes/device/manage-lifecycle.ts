/**
 * The manage life cycle (docs/protocol.md §3.1): a manage request for every device on every connect
 * (bounded concurrency, after a short settle), again before `lifetime` runs out, and again when the
 * set of `supports` changes (handlers are added after the agent starts: debounced).
 */
import { randomUUID } from 'node:crypto';
import { deviceTopic, DevicePath } from '../protocol/topics';
import type { DmResponse } from '../protocol/messages';
import { RC } from '../protocol/rc';
import type { ConnectionState } from '../protocol/link';
import type { AgentEmit, AgentTimings, DeviceEntry } from './agent-model';
import type { DevicePort } from './device-port';
import { responseOf, type PendingRequests, type SentRequest } from './pending-requests';

export interface LifecycleParts {
  port: DevicePort;
  entries: ReadonlyMap<string, DeviceEntry>;
  pending: PendingRequests;
  /** the `supports` of the manage request */
  supports(): Record<string, boolean>;
  events: AgentEmit;
}

export class ManageLifecycle {
  private settleTimer?: NodeJS.Timeout;
  private lifetimeTimer?: NodeJS.Timeout;
  private run = 0;
  private started = false;
  private lastSupports = '';
  private readonly onState = (state: ConnectionState) => {
    if (state === 'connected') this.scheduleManageAll();
    else this.run++; // stop a manage round that is under way
  };

  constructor(
    private readonly parts: LifecycleParts,
    readonly lifetime: number,
    private readonly timings: Pick<AgentTimings, 'concurrency' | 'settleMs'>,
  ) {}

  get running(): boolean {
    return this.started;
  }

  /** Manage now if connected, and on every connect. */
  start(): void {
    this.started = true;
    this.parts.port.on('state', this.onState);
    if (this.parts.port.connected) this.scheduleManageAll();
  }

  stop(): void {
    this.started = false;
    this.run++;
    clearTimeout(this.settleTimer);
    clearTimeout(this.lifetimeTimer);
    this.parts.port.off('state', this.onState);
  }

  /** A handler came or went: manage again when that changed the `supports`. */
  supportsMayHaveChanged(): void {
    if (!this.started || !this.lastSupports) return; // the first manage round takes the current set
    if (JSON.stringify(this.parts.supports()) !== this.lastSupports) this.scheduleManageAll();
  }

  private scheduleManageAll(): void {
    clearTimeout(this.settleTimer);
    this.settleTimer = setTimeout(() => void this.manageAll(), this.timings.settleMs);
  }

  /** Send a manage for every device, `concurrency` publishes at a time; re-armed for the lifetime. */
  async manageAll(): Promise<void> {
    if (!this.started || !this.parts.port.connected) return;
    const run = ++this.run;
    clearTimeout(this.lifetimeTimer);
    if (this.lifetime > 0) {
      // 90 % of the lifetime, and at least 2 minutes early once the lifetime allows it (IBM's SDK: lifetime-120)
      const early = Math.min(this.lifetime * 0.9, this.lifetime > 1200 ? this.lifetime - 120 : Infinity);
      this.lifetimeTimer = setTimeout(() => void this.manageAll(), Math.max(500, early * 1000));
    }
    // one supports for the whole round: it only changes when handlers do (which schedules a new round)
    const supports = this.parts.supports();
    this.lastSupports = JSON.stringify(supports);
    const list = [...this.parts.entries.values()];
    let next = 0;
    const worker = async () => {
      while (next < list.length && run === this.run) {
        const e = list[next++];
        const { published, response } = this.sendManage(e, supports);
        response.catch(() => undefined); // outcome recorded on the entry and in events
        try {
          await published;
        } catch {
          return; // disconnected: the next connect starts a new round
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.timings.concurrency, list.length) }, worker));
  }

  /** Send a manage request for one device now; resolves with the platform's response. */
  async manage(e: DeviceEntry): Promise<DmResponse> {
    if (!this.started) throw new Error('agent is not started');
    if (!this.parts.port.connected) throw new Error('not connected (the device is managed again on connect)');
    return responseOf(this.sendManage(e));
  }

  private sendManage(e: DeviceEntry, supports = this.parts.supports()): SentRequest {
    const body = {
      reqId: randomUUID(),
      d: { metadata: { ...e.metadata }, lifetime: this.lifetime, supports, deviceInfo: { ...e.deviceInfo } },
    };
    e.state = 'managing';
    const { published, response } = this.parts.pending.send(e.key, deviceTopic(DevicePath.manage, e.device), 'manage', body);
    this.parts.events.emit('manage', { device: e.device, reqId: body.reqId, body });
    const outcome = response.then(
      (r) => {
        e.rc = r.rc;
        e.message = r.message;
        e.state = r.rc === RC.OK ? 'managed' : 'failed';
        this.parts.events.emit('managed', { device: e.device, reqId: body.reqId, rc: r.rc, message: r.message });
        return r;
      },
      (err: Error) => {
        if (e.state === 'managing') e.state = 'failed';
        e.message = err.message;
        this.parts.events.emit('manageError', { device: e.device, reqId: body.reqId, error: err });
        throw err;
      },
    );
    return { published, response: outcome };
  }
}
