/**
 * The platform's clock: the time in ms without a Date, and its ISO text formatted once per
 * millisecond, for the timestamps written on every message of a burst (a rollout writes several per
 * device: the registry's lastActivityDateTime, an execution's updatedDateTime). Tests give their own
 * `now`; without one it is Date.now.
 */
export class Clock {
  readonly ms: () => number;
  private isoMs = NaN;
  private isoText = '';

  constructor(now?: () => Date) {
    this.ms = now ? () => now().getTime() : Date.now;
  }

  /** now as an ISO 8601 text (the same string for every call within one millisecond) */
  iso(): string {
    const ms = this.ms();
    if (ms !== this.isoMs) {
      this.isoMs = ms;
      this.isoText = new Date(ms).toISOString();
    }
    return this.isoText;
  }
}
