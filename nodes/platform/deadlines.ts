/**
 * The engine's per-device deadlines (answer, restart, download, install), paused while the platform
 * is offline: a device must not time out only because the platform could not hear it. pause() at
 * the loss of the broker; resume() when connected again moves every deadline on by the length of
 * the outage. A deadline that falls due while paused waits for resume() (then fires after what was
 * left of it when the outage began). The request's own deadline is not one of these: it bounds the
 * whole request, outage or not (the engine names that case "broker unavailable").
 *
 * One timer for all of them: the deadlines wait in a min-heap by due time, a cleared one stays
 * there marked until it comes up (or the heap is rebuilt when most of it is cleared). A fan-out of
 * 50,000 devices arms and clears two deadlines a device: a Node.js timer each cost a Timeout object,
 * a timer-list insert and a clearTimeout.
 */
export interface Deadline {
  /** when it falls due (ms since the epoch) */
  due: number;
  /** called with `arg` when it falls due (one function for many deadlines: no closure a deadline) */
  readonly fire: (arg: never) => void;
  readonly arg: unknown;
  /** cleared or fired: it will not fire (again) */
  done?: boolean;
}

/** setTimeout's own limit */
const MAX_DELAY = 2 ** 31 - 1;

export class Deadlines {
  /** min-heap by `due` of the armed deadlines, and of cleared ones not yet removed */
  private heap: Deadline[] = [];
  /** deadlines in the heap that are still armed */
  private live = 0;
  private timer?: NodeJS.Timeout;
  /** what the timer is set for */
  private timerDue = Infinity;
  private offlineSince?: number;

  constructor(private readonly now: () => number = Date.now) {}

  get offline(): boolean {
    return this.offlineSince !== undefined;
  }

  /** deadlines armed (for tests and status) */
  get armed(): number {
    return this.live;
  }

  /** Arm a deadline `ms` from now, to call `fire(arg)`; the caller keeps it to clear it. */
  arm(ms: number, fire: () => void): Deadline;
  arm<T>(ms: number, fire: (arg: T) => void, arg: T): Deadline;
  arm(ms: number, fire: (arg: never) => void, arg?: unknown): Deadline {
    const d: Deadline = { due: this.now() + ms, fire, arg };
    this.push(d);
    this.live++;
    if (!this.offline && d.due < this.timerDue) this.schedule();
    return d;
  }

  /** ms left before `d` falls due (for a record that must outlive the process) */
  left(d: Deadline): number {
    return Math.max(0, d.due - (this.offlineSince ?? this.now()));
  }

  clear(d: Deadline | undefined): void {
    if (!d || d.done) return;
    d.done = true;
    this.live--;
    // most of the heap cleared: keep the armed ones only (a cleared deadline may be minutes away)
    if (this.heap.length > 1024 && this.live * 2 < this.heap.length) this.rebuild();
  }

  /** The platform lost the broker: deadlines stop running. */
  pause(): void {
    if (this.offline) return;
    this.offlineSince = this.now();
    this.unschedule();
  }

  /** Connected again: every deadline moves on by the outage; returns its length (ms). */
  resume(): number {
    if (this.offlineSince === undefined) return 0;
    const outage = this.now() - this.offlineSince;
    this.offlineSince = undefined;
    // the same shift for all keeps the heap's order
    for (const d of this.heap) d.due += outage;
    this.schedule();
    return outage;
  }

  clearAll(): void {
    for (const d of this.heap) d.done = true;
    this.heap = [];
    this.live = 0;
    this.unschedule();
  }

  /** Fire what is due, then wait for the next one. */
  private run(): void {
    this.timer = undefined;
    this.timerDue = Infinity;
    if (this.offline) return; // resume() schedules again
    const now = this.now();
    for (let top = this.heap[0]; top && top.due <= now; top = this.heap[0]) {
      this.pop();
      if (top.done) continue;
      top.done = true;
      this.live--;
      (top.fire as (arg: unknown) => void)(top.arg); // may arm or clear others: the loop reads the heap again
      if (this.offline) return;
    }
    this.schedule();
  }

  /** Set the timer for the earliest armed deadline (cleared ones at the top are dropped first). */
  private schedule(): void {
    while (this.heap.length && this.heap[0].done) this.pop();
    const top = this.heap[0];
    if (!top) return this.unschedule();
    if (this.timer && this.timerDue <= top.due) return;
    this.unschedule();
    this.timerDue = top.due;
    this.timer = setTimeout(() => this.run(), Math.min(Math.max(0, top.due - this.now()), MAX_DELAY));
  }

  private unschedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerDue = Infinity;
  }

  private rebuild(): void {
    this.heap = this.heap.filter((d) => !d.done);
    for (let i = (this.heap.length >> 1) - 1; i >= 0; i--) this.down(i);
  }

  private push(d: Deadline): void {
    const h = this.heap;
    let i = h.length;
    h.push(d);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (h[parent].due <= d.due) break;
      h[i] = h[parent];
      i = parent;
    }
    h[i] = d;
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop()!;
    if (h.length === 0) return;
    h[0] = last;
    this.down(0);
  }

  private down(i: number): void {
    const h = this.heap;
    const d = h[i];
    for (;;) {
      let child = 2 * i + 1;
      if (child >= h.length) break;
      if (child + 1 < h.length && h[child + 1].due < h[child].due) child++;
      if (h[child].due >= d.due) break;
      h[i] = h[child];
      i = child;
    }
    h[i] = d;
  }
}
