/**
 * Say a recurring event once, then at most once a minute per key with the count of what was held
 * back: a device that reconnects every second with a client the broker refuses, or that floods the
 * platform with answers nobody waits for, gives one readable line a minute, not one a message.
 * The number of keys is bounded so that a stream of new keys cannot grow memory.
 */
export const WINDOW_MS = 60_000;
const MAX_KEYS = 1000;

interface Seen {
  /** when the last line for this key was said */
  saidAt: number;
  /** events held back since then */
  held: number;
}

export class OnceAMinute {
  private readonly seen = new Map<string, Seen>();

  constructor(
    private readonly say: (key: string, count: number) => void,
    private readonly now: () => number = Date.now,
    private readonly windowMs = WINDOW_MS,
  ) {}

  /** Count one event for key; say it now when the key is new or its minute is over. */
  note(key: string): void {
    const t = this.now();
    const s = this.seen.get(key);
    if (s && t - s.saidAt < this.windowMs) {
      s.held++;
      return;
    }
    const count = (s?.held ?? 0) + 1;
    if (!s && this.seen.size >= MAX_KEYS) this.forgetOld(t);
    this.seen.set(key, { saidAt: t, held: 0 });
    this.say(key, count);
  }

  /** Drop the keys whose minute is over (and, if all are recent, the oldest). */
  private forgetOld(t: number): void {
    for (const [k, s] of this.seen) if (t - s.saidAt >= this.windowMs) this.seen.delete(k);
    if (this.seen.size >= MAX_KEYS) this.seen.delete(this.seen.keys().next().value as string);
  }
}

/** A client id, device key or other sender-chosen text, fit for one log line: escaped and capped. */
export function excerpt(text: string, max = 64): string {
  const cut = text.length > max ? `${text.slice(0, max)}…` : text;
  // eslint-disable-next-line no-control-regex
  return cut.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
