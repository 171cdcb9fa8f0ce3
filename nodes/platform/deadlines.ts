/**
 * The engine's per-device deadlines (answer, restart, download, install), paused while the platform
 * is offline: a device must not time out only because the platform could not hear it. pause() at
 * the loss of the broker; resume() when connected again moves every deadline on by the length of
 * the outage. A deadline that falls due while paused waits for resume() (then fires after what was
 * left of it when the outage began). The request's own deadline is not one of these: it bounds the
 * whole request, outage or not (the engine names that case "broker unavailable").
 */
export interface Deadline {
  /** when it falls due (ms since the epoch) */
  due: number;
  readonly fire: () => void;
  timer?: NodeJS.Timeout;
}

/** setTimeout's own limit */
const MAX_DELAY = 2 ** 31 - 1;

export class Deadlines {
  private readonly armed = new Set<Deadline>();
  private offlineSince?: number;

  constructor(private readonly now: () => number = Date.now) {}

  get offline(): boolean {
    return this.offlineSince !== undefined;
  }

  /** Arm a deadline `ms` from now; the caller keeps it to clear it. */
  arm(ms: number, fire: () => void): Deadline {
    const d: Deadline = { due: this.now() + ms, fire };
    this.armed.add(d);
    if (!this.offline) this.start(d);
    return d;
  }

  /** ms left before `d` falls due (for a record that must outlive the process) */
  left(d: Deadline): number {
    return Math.max(0, d.due - (this.offlineSince ?? this.now()));
  }

  clear(d: Deadline | undefined): void {
    if (!d) return;
    if (d.timer) clearTimeout(d.timer);
    d.timer = undefined;
    this.armed.delete(d);
  }

  private start(d: Deadline): void {
    d.timer = setTimeout(
      () => {
        d.timer = undefined;
        if (this.offline) return; // resume() starts it again
        this.armed.delete(d);
        d.fire();
      },
      Math.min(Math.max(0, d.due - this.now()), MAX_DELAY),
    );
  }

  /** The platform lost the broker: deadlines stop running. */
  pause(): void {
    if (this.offline) return;
    this.offlineSince = this.now();
    for (const d of this.armed) {
      if (d.timer) clearTimeout(d.timer);
      d.timer = undefined;
    }
  }

  /** Connected again: every deadline moves on by the outage; returns its length (ms). */
  resume(): number {
    if (this.offlineSince === undefined) return 0;
    const outage = this.now() - this.offlineSince;
    this.offlineSince = undefined;
    for (const d of this.armed) {
      d.due += outage;
      this.start(d);
    }
    return outage;
  }

  clearAll(): void {
    for (const d of this.armed) if (d.timer) clearTimeout(d.timer);
    this.armed.clear();
  }
}
