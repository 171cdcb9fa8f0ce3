/**
 * Say a recurring event once, then at most once a minute per key with the count of what was held
 * back: a device that reconnects every second with a client the broker refuses, or that floods the
 * platform with answers nobody waits for, gives one readable line a minute, not one a message.
 * The number of keys is bounded so that a stream of new keys cannot grow memory.
 */
import { excerpt as protocolExcerpt } from '../protocol/bounds';

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
  return protocolExcerpt(text, max);
}

/**
 * Say a text when it differs from the last one said (mqtt.js repeats the same connection error on
 * every reconnect attempt); reset() once the trouble is over, so the next one is said again.
 */
export class OnChange {
  private last = '';
  constructor(private readonly say: (text: string) => void) {}
  note(text: string): void {
    if (text === this.last) return;
    this.last = text;
    this.say(text);
  }
  reset(): void {
    this.last = '';
  }
}

/**
 * The throttling key of an error text: quoted parts and numbers folded, so that messages that differ
 * only by the sender's values ("at position 7", "token 'x'") count as one reason.
 */
export function reasonOf(text: string): string {
  return text.slice(0, 200).replace(/"[^"]*"|'[^']*'|\d+/g, '#');
}

/**
 * At most `lines` lines a minute for one node, whatever the number of keys: a fleet of senders each
 * with its own reason would otherwise still give a line each. What is held back is said in one line
 * with its count and the number of senders, when the minute is over.
 */
export class LineBudget {
  private windowStart = -Infinity;
  private used = 0;
  private held = 0;
  private readonly sources = new Set<string>();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly lines: number,
    private readonly sayHeld: (count: number, sources: number) => void,
    private readonly now: () => number = Date.now,
    private readonly windowMs = WINDOW_MS,
  ) {}

  /** May a line about `source` be said now? If not, it is counted for the minute's summary. */
  take(source: string): boolean {
    const t = this.now();
    if (t - this.windowStart >= this.windowMs) this.flush(t);
    if (this.used < this.lines) {
      this.used++;
      return true;
    }
    this.held++;
    if (this.sources.size < MAX_KEYS) this.sources.add(source);
    if (!this.timer) {
      this.timer = setTimeout(() => this.flush(this.now()), Math.max(0, this.windowStart + this.windowMs - t));
      this.timer.unref?.();
    }
    return false;
  }

  private flush(t: number): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.held > 0) this.sayHeld(this.held, this.sources.size);
    this.windowStart = t;
    this.used = 0;
    this.held = 0;
    this.sources.clear();
  }

  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
