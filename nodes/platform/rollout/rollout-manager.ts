/**
 * The rollouts of one platform: creates them from validated definitions, routes the request
 * engine's per-device results and the registry's manages to them, answers the queries and commands
 * of the node, the HTTP API and the sidebar (paged), re-runs the failures of a finished rollout,
 * keeps a bounded number of them, and saves them through a RolloutStore so they resume after a
 * restart where they were.
 */
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import { ValidationError } from '../../protocol/validate';
import { MAX_DEVICES } from '../../protocol/messages';
import { bookmarkPage, offsetPage, type OffsetPage } from '../paging';
import type { RequestManager } from '../request-manager';
import type { MgmtRequest, DeviceExecution } from '../management-request';
import type { DeviceRecord, Registry } from '../registry';
import { checkDefinition, MAX_LISTED_DEVICES, type RolloutDefinition } from './definition';
import { initialPace } from './pace';
import { Rollout, type DeviceResult } from './rollout';
import {
  DEVICES_PER_CHUNK,
  isRolloutData,
  zeroCounts,
  type Counts,
  type DeviceEntry,
  type DeviceState,
  type GateState,
  type RolloutData,
  type RolloutState,
  type RolloutStore,
  type WaveData,
  type WaveState,
} from './state';

export type RolloutCommand = 'pause' | 'resume' | 'approve' | 'cancel';
export const ROLLOUT_COMMANDS: readonly RolloutCommand[] = ['pause', 'resume', 'approve', 'cancel'];

export class RolloutError extends Error {
  constructor(
    message: string,
    readonly statusCode: 400 | 404 | 409,
  ) {
    super(message);
    this.name = 'RolloutError';
  }
}

export interface WaveSummary {
  index: number;
  size: number;
  state: WaveState;
  gate?: GateState;
  counts: Counts;
  startedDateTime?: string;
  completedDateTime?: string;
}
/** What the API and the nodes show of a rollout: its kept data (state.ts) without the per-device lists. */
export type RolloutDetails = Pick<
  RolloutData,
  | 'rolloutId'
  | 'state'
  | 'reason'
  | 'origin'
  | 'rerunOf'
  | 'createdDateTime'
  | 'updatedDateTime'
  | 'startedDateTime'
  | 'completedDateTime'
  | 'counts'
  | 'currentWave'
  | 'definition'
> & {
  name?: string;
  action: string;
  waves: WaveSummary[];
  /** devices that failed every attempt their retries allowed */
  setAside: number;
  /** false while outside its window */
  windowOpen?: boolean;
};
/** One device of a rollout as the API pages it: its kept entry without the bookkeeping. */
export type DeviceRow = Pick<DeviceEntry, 'typeId' | 'deviceId' | 'wave' | 'state' | 'attempts' | 'verifying' | 'rc' | 'reason' | 'setAside'>;
export interface RolloutPage<T> {
  results: T[];
  _bookmark?: string;
  total: number;
}
export interface WaveEvent extends WaveSummary {
  rolloutId: string;
}
export interface StateEvent {
  rolloutId: string;
  state: RolloutState;
  previous: RolloutState;
  reason?: string;
  counts: Counts;
}

export interface RolloutManagerEvents {
  device: [result: DeviceResult];
  wave: [wave: WaveEvent];
  state: [change: StateEvent];
  created: [rolloutId: string];
  removed: [rolloutId: string];
}

export interface RolloutManagerOptions {
  /** where rollouts are kept (none: in memory only) */
  store?: RolloutStore;
  now?: () => number;
  /** how often a window of days or hours is looked at again (default 30 s) */
  windowPollMs?: number;
  /** changes are saved this long after the first of them (default 1 s) */
  saveDelayMs?: number;
  /** rollouts kept; the oldest finished ones go first (default 100) */
  maxRollouts?: number;
}

function pageOf<T, R>(all: readonly T[], opts: { _bookmark?: string; _limit?: number }, dflt: number, map: (t: T) => R): RolloutPage<R> {
  return { ...bookmarkPage(all, opts._bookmark, Math.min(Math.max(opts._limit ?? dflt, 1), MAX_DEVICES), map), total: all.length };
}

function summary(w: WaveData): WaveSummary {
  const s: WaveSummary = { index: w.index, size: w.size, state: w.state, counts: { ...w.counts } };
  if (w.gate) s.gate = w.gate;
  if (w.startedDateTime) s.startedDateTime = w.startedDateTime;
  if (w.completedDateTime) s.completedDateTime = w.completedDateTime;
  return s;
}

function row(e: DeviceEntry): DeviceRow {
  const r: DeviceRow = { typeId: e.typeId, deviceId: e.deviceId, wave: e.wave, state: e.state, attempts: e.attempts };
  if (e.verifying) r.verifying = true;
  if (e.rc !== undefined) r.rc = e.rc;
  if (e.reason !== undefined) r.reason = e.reason;
  if (e.setAside) r.setAside = true;
  return r;
}

export class RolloutManager extends EventEmitter<RolloutManagerEvents> {
  private readonly rollouts = new Map<string, Rollout>();
  private readonly byRequest = new Map<string, Rollout>();
  /** changed rollouts, and the chunks of their changed devices (state.ts DEVICES_PER_CHUNK) */
  private readonly dirty = new Map<string, Set<number>>();
  private saveTimer?: NodeJS.Timeout;
  private saving: Promise<void> = Promise.resolve();
  private readonly now: () => number;
  private closed = false;
  private readonly onDeviceComplete = (req: MgmtRequest, exec: DeviceExecution) => this.byRequest.get(req.id)?.onDeviceComplete(req, exec);
  private readonly onRequestComplete = (req: MgmtRequest) => {
    const r = this.byRequest.get(req.id);
    if (!r) return;
    this.byRequest.delete(req.id);
    r.onRequestComplete(req);
  };
  private readonly onManage = (rec: DeviceRecord) => {
    for (const r of this.rollouts.values()) if (!r.final && r.data.definition.verify) r.onManage(rec);
  };

  constructor(
    private readonly engine: RequestManager,
    private readonly registry: Registry,
    private readonly options: RolloutManagerOptions = {},
  ) {
    super();
    this.now = options.now ?? (() => Date.now());
    engine.on('deviceComplete', this.onDeviceComplete);
    engine.on('requestComplete', this.onRequestComplete);
    registry.on('manage', this.onManage);
  }

  /** Take up the stored rollouts; returns how many were restored. */
  async restore(): Promise<number> {
    if (!this.options.store) return 0;
    const all = await this.options.store.load();
    let n = 0;
    for (const data of all) {
      if (!isRolloutData(data) || this.rollouts.has(data.rolloutId)) continue;
      const r = this.make(data);
      r.start();
      n++;
    }
    return n;
  }

  private make(data: RolloutData): Rollout {
    const r = new Rollout(data, {
      engine: this.engine,
      registry: this.registry,
      now: this.now,
      windowPollMs: this.options.windowPollMs ?? 30_000,
      track: (req, rollout) => this.byRequest.set(req.id, rollout),
      changed: (rollout, device) => this.markDirty(rollout, device),
      device: (_rollout, result) => this.emit('device', result),
      wave: (rollout, w) => this.emit('wave', { rolloutId: rollout.id, ...summary(w) }),
      state: (rollout, previous) =>
        this.emit('state', { rolloutId: rollout.id, state: rollout.data.state, previous, reason: rollout.data.reason, counts: rollout.counts() }),
    });
    this.rollouts.set(data.rolloutId, r);
    return r;
  }

  /** Validate and start a rollout (it waits for its start time when it has one). */
  create(input: unknown, origin = 'api', rerunOf?: string): Rollout {
    if (this.closed) throw new RolloutError('the platform is closed', 409);
    let definition: RolloutDefinition;
    try {
      definition = checkDefinition(input);
    } catch (err) {
      if (err instanceof ValidationError) throw new RolloutError(`invalid rollout: ${err.message}`, 400);
      throw err;
    }
    this.makeRoom();
    const now = this.now();
    const nowIso = new Date(now).toISOString();
    const data: RolloutData = {
      version: 1,
      rolloutId: randomUUID(),
      definition,
      state: 'pending',
      origin,
      createdDateTime: nowIso,
      updatedDateTime: nowIso,
      counts: zeroCounts(),
      currentWave: 0,
      waves: [],
      devices: [],
      pace: initialPace(definition.rate, now),
    };
    if (rerunOf) data.rerunOf = rerunOf;
    const r = this.make(data);
    this.markDirty(r);
    this.emit('created', r.id);
    r.start();
    return r;
  }

  private makeRoom(): void {
    const max = this.options.maxRollouts ?? 100;
    if (this.rollouts.size < max) return;
    for (const [id, r] of this.rollouts) {
      if (r.final) {
        this.remove(id);
        if (this.rollouts.size < max) return;
      }
    }
    throw new RolloutError(`${max} rollouts are running: wait for one to finish or cancel one`, 409);
  }

  /** A new rollout of the devices that failed, timed out or were cancelled in a finished one. */
  rerun(id: string, origin = 'api'): Rollout {
    const r = this.need(id);
    if (!r.final) throw new RolloutError(`rollout ${id} is ${r.data.state}: only a finished rollout can be re-run`, 409);
    const devices = r.data.devices.filter((e) => e.state !== 'success').map((e) => ({ typeId: e.typeId, deviceId: e.deviceId }));
    if (devices.length === 0) throw new RolloutError(`rollout ${id} has no device to re-run`, 409);
    if (devices.length > MAX_LISTED_DEVICES) throw new RolloutError(`rollout ${id} has more than ${MAX_LISTED_DEVICES} devices to re-run`, 409);
    const { select: _select, window, ...rest } = r.data.definition;
    const def: RolloutDefinition = { ...rest, devices };
    if (window) {
      const { start: _start, ...w } = window;
      if (Object.keys(w).length) def.window = w;
    }
    return this.create(def, origin, id);
  }

  get(id: string): Rollout | undefined {
    return this.rollouts.get(id);
  }

  private need(id: string): Rollout {
    const r = this.rollouts.get(id);
    if (!r) throw new RolloutError(`rollout ${id} not found`, 404);
    return r;
  }

  details(id: string): RolloutDetails | undefined {
    const r = this.rollouts.get(id);
    if (!r) return undefined;
    const d = r.data;
    const out: RolloutDetails = {
      rolloutId: d.rolloutId,
      action: d.definition.action,
      state: d.state,
      origin: d.origin,
      createdDateTime: d.createdDateTime,
      updatedDateTime: d.updatedDateTime,
      counts: { ...d.counts },
      currentWave: d.currentWave,
      waves: d.waves.map(summary),
      setAside: d.devices.reduce((n, e) => n + (e.setAside ? 1 : 0), 0),
      // an explicit list can hold 100,000 devices: the device rows page it
      definition: { ...d.definition, devices: undefined },
    };
    for (const k of ['name', 'reason', 'rerunOf', 'startedDateTime', 'completedDateTime', 'windowOpen'] as const) {
      const v = k === 'name' ? d.definition.name : d[k];
      if (v !== undefined) (out as unknown as Record<string, unknown>)[k] = v;
    }
    return out;
  }

  /** Rollouts, newest first. */
  list(opts: { _bookmark?: string; _limit?: number } = {}): RolloutPage<RolloutDetails> {
    return pageOf([...this.rollouts.keys()].reverse(), opts, 25, (id) => this.details(id)!);
  }

  /** The devices of a rollout with their attempts, optionally of one state or set aside. */
  devices(id: string, opts: { _bookmark?: string; _limit?: number; state?: DeviceState; setAside?: boolean } = {}): RolloutPage<DeviceRow> {
    return pageOf(this.deviceEntries(id, opts), opts, 100, row);
  }

  /** The same rows as the editor pages them: by offset, with the total (paging.ts). */
  devicePage(id: string, opts: { offset?: number; limit?: number; state?: DeviceState; setAside?: boolean } = {}): OffsetPage<DeviceRow> {
    const page = offsetPage(this.deviceEntries(id, opts), opts.offset, opts.limit);
    return { ...page, rows: page.rows.map(row) };
  }

  private deviceEntries(id: string, opts: { state?: DeviceState; setAside?: boolean }): readonly DeviceEntry[] {
    const all = this.need(id).data.devices;
    return opts.state || opts.setAside ? all.filter((e) => (!opts.state || e.state === opts.state) && (!opts.setAside || e.setAside)) : all;
  }

  /** pause, resume, approve or cancel; 404 unknown rollout, 409 not in a state that allows it. */
  command(id: string, command: RolloutCommand): RolloutDetails {
    const r = this.need(id);
    const ok = command === 'pause' ? r.pause() : command === 'resume' ? r.resume() : command === 'approve' ? r.approve() : r.cancel();
    if (!ok) throw new RolloutError(`rollout ${id} is ${r.data.state}: it cannot ${command}`, 409);
    return this.details(id)!;
  }

  /** Forget a rollout (a running one is cancelled first). */
  delete(id: string): boolean {
    const r = this.rollouts.get(id);
    if (!r) return false;
    r.cancel();
    this.remove(id);
    return true;
  }

  private remove(id: string): void {
    const r = this.rollouts.get(id);
    r?.suspend();
    this.rollouts.delete(id);
    this.dirty.delete(id);
    if (this.options.store) {
      const store = this.options.store;
      const removed = store.remove(id).catch(() => undefined);
      this.saving = this.saving.then(() => removed);
    }
    this.emit('removed', id);
  }

  // ------------------------------------------------------------------ saving

  private markDirty(rollout: Rollout, device?: number): void {
    // without a store nothing is counted: this runs at every change of every device; a device's
    // chunk is its place in the list over DEVICES_PER_CHUNK
    if (!this.options.store || this.closed) return;
    let chunks = this.dirty.get(rollout.id);
    if (!chunks) this.dirty.set(rollout.id, (chunks = new Set()));
    if (device !== undefined) chunks.add(Math.floor(device / DEVICES_PER_CHUNK));
    if (!this.saveTimer) this.saveTimer = setTimeout(() => void this.flush(), this.options.saveDelayMs ?? 1000);
  }

  /** Save every changed rollout now. */
  flush(): Promise<void> {
    if (this.saveTimer) clearTimeout(this.saveTimer);
    this.saveTimer = undefined;
    const store = this.options.store;
    if (!store) return Promise.resolve();
    const dirty = [...this.dirty];
    this.dirty.clear();
    for (const [id, chunks] of dirty) {
      const r = this.rollouts.get(id);
      if (!r) continue;
      // a store serialises what it is given at once (the header and the chunks of changed devices):
      // later changes do not race its write
      const written = store
        .save(r.data, chunks)
        .catch(
          (err: Error) =>
            void this.emit('state', { rolloutId: id, state: r.data.state, previous: r.data.state, reason: `not saved: ${err.message}`, counts: r.counts() }),
        );
      this.saving = this.saving.then(() => written);
    }
    return this.saving;
  }

  /**
   * The platform is closing: rollouts stop where they are (nothing is cancelled, their in-flight
   * devices run again after a restart) and are saved. Call before the engine closes.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.engine.off('deviceComplete', this.onDeviceComplete);
    this.engine.off('requestComplete', this.onRequestComplete);
    this.registry.off('manage', this.onManage);
    for (const r of this.rollouts.values()) r.suspend();
    await this.flush();
    this.closed = true;
  }
}
