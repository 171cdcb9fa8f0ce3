/** One timer per device index (a rollout's verification deadlines): set, clear one, clear all. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class KeyedTimers {
  private readonly timers = new Map<number, NodeJS.Timeout>();

  set(i: number, ms: number, fire: () => void): void {
    this.clear(i);
    this.timers.set(
      i,
      setTimeout(
        () => {
          this.timers.delete(i);
          fire();
        },
        Math.max(0, Math.min(ms, MAX_TIMER_MS)),
      ),
    );
  }

  clear(i: number): void {
    const t = this.timers.get(i);
    if (t) clearTimeout(t);
    this.timers.delete(i);
  }

  clearAll(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
}
