/**
 * When a rollout looks at itself again: once per event-loop turn after something changed (a device
 * finished, a command), and at the earliest moment it asked for (a retry, a paced launch, a window
 * or a time gate). One timer at a time; stop() ends both for good.
 */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class Waker {
  private timer?: NodeJS.Timeout;
  private timerAt = Infinity;
  private queued = false;
  private stopped = false;

  constructor(
    private readonly run: () => void,
    private readonly now: () => number,
  ) {}

  /** on the next turn */
  soon(): void {
    if (this.queued || this.stopped) return;
    this.queued = true;
    setImmediate(() => {
      this.queued = false;
      if (!this.stopped) this.run();
    });
  }

  /** in `ms` at the latest (an earlier wake already armed stays) */
  in(ms: number): void {
    if (this.stopped) return;
    const at = this.now() + ms;
    if (this.timer && this.timerAt <= at) return;
    this.clear();
    this.timerAt = at;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.timerAt = Infinity;
        this.run();
      },
      Math.max(0, Math.min(ms, MAX_TIMER_MS)),
    );
  }

  clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
  }

  stop(): void {
    this.clear();
    this.stopped = true;
  }
}
