/**
 * Slows repeated authentication failures down, per client id and per address, while the broker
 * keeps serving everyone else.
 *
 * After n failed checks on a key, the next check on it waits d(n) = min(maxMs, baseMs * 2^(n-1))
 * from the last failure; a second attempt on a client id that already has one in flight (waiting or
 * being checked) is refused at once, without its token being checked, so parallel connections do not
 * multiply the guesses. An address is shared (NAT, a gateway host, loopback), so it gets
 * `addressAllowance` free failures before its delay starts, and then `addressParallel` attempts in
 * flight at once. A success
 * forgets the client id's failures (not the address's: one valid device must not clear the way for
 * guesses from the same address); failures are forgotten after `forgetMs` without any.
 */

export interface ThrottleOptions {
  /** delay after the first failure (default 200 ms) */
  baseMs?: number;
  /** the bound of the delay (default 20 s, below aedes' 30 s connect timeout) */
  maxMs?: number;
  /** failures are forgotten this long after the last one (default 10 min) */
  forgetMs?: number;
  /** keys remembered at most; the oldest are dropped (default 10,000) */
  maxKeys?: number;
  /** failures of an address before its delay starts (default 20) */
  addressAllowance?: number;
  /** attempts from one address that may wait at once (default 4) */
  addressParallel?: number;
}

/** A client id (one attempt in flight at most) or an address (shared by many clients). */
export interface ThrottleKey {
  key: string;
  kind: 'id' | 'address';
}

interface Entry {
  failures: number;
  last: number;
  /** attempts on this key waiting for their delay or being checked */
  inFlight: number;
}

/** Ends an admitted attempt: `true` when its token was right, `false` when it was wrong. */
export type Verdict = (ok: boolean) => void;

export interface ThrottleStats {
  /** attempts whose token was checked after their delay */
  checked: number;
  /** attempts refused at once, unchecked: another on the same client id was in flight, or too many from a slowed address */
  refusedUnchecked: number;
  /** the longest delay applied so far (ms) */
  maxDelayMs: number;
}

export class AuthThrottle {
  private readonly entries = new Map<string, Entry>();
  private readonly timers = new Map<NodeJS.Timeout, () => void>();
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly forgetMs: number;
  private readonly maxKeys: number;
  private readonly addressAllowance: number;
  private readonly addressParallel: number;
  readonly stats: ThrottleStats = { checked: 0, refusedUnchecked: 0, maxDelayMs: 0 };

  constructor(
    opts: ThrottleOptions = {},
    private readonly now: () => number = Date.now,
  ) {
    this.baseMs = opts.baseMs ?? 200;
    this.maxMs = opts.maxMs ?? 20000;
    this.forgetMs = opts.forgetMs ?? 600000;
    this.maxKeys = opts.maxKeys ?? 10000;
    this.addressAllowance = opts.addressAllowance ?? 20;
    this.addressParallel = opts.addressParallel ?? 4;
  }

  private entry(key: string): Entry | undefined {
    const e = this.entries.get(key);
    if (e && this.now() - e.last > this.forgetMs && e.inFlight === 0) {
      this.entries.delete(key);
      return undefined;
    }
    return e;
  }

  /** The delay the next attempt on `key` gets after its last failure (0 without failures). */
  delayFor(key: string, kind: ThrottleKey['kind'] = 'id'): number {
    const n = (this.entry(key)?.failures ?? 0) - (kind === 'address' ? this.addressAllowance : 0);
    return n <= 0 ? 0 : Math.min(this.maxMs, this.baseMs * 2 ** Math.min(n - 1, 30));
  }

  /** How many failures `key` has on record. */
  failuresOf(key: string): number {
    return this.entry(key)?.failures ?? 0;
  }

  /**
   * Admit an attempt on `keys`: resolves, after the delay its keys have earned, with the function
   * that records its verdict; or undefined at once when it must be refused unchecked (its client id
   * has an attempt in flight already, or its slowed address has `addressParallel`), or when the
   * throttle is closed meanwhile.
   */
  async admit(keys: ThrottleKey[]): Promise<Verdict | undefined> {
    const now = this.now();
    let wait = 0;
    for (const k of keys) {
      const e = this.entry(k.key);
      const limit = k.kind === 'id' ? 1 : this.delayFor(k.key, 'address') > 0 ? this.addressParallel : Infinity;
      if (e && e.inFlight >= limit) {
        this.stats.refusedUnchecked++;
        return undefined;
      }
      if (e) wait = Math.max(wait, e.last + this.delayFor(k.key, k.kind) - now);
    }
    const held = keys.map((k) => {
      let e = this.entries.get(k.key);
      if (!e) this.entries.set(k.key, (e = { failures: 0, last: now, inFlight: 0 }));
      e.inFlight++;
      return e;
    });
    const release = () => held.forEach((e) => e.inFlight--);
    if (wait > 0) {
      this.stats.maxDelayMs = Math.max(this.stats.maxDelayMs, wait);
      const ok = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          resolve(true);
        }, wait);
        timer.unref?.();
        this.timers.set(timer, () => resolve(false));
      });
      if (!ok) {
        release();
        return undefined;
      }
    }
    this.stats.checked++;
    let done = false;
    return (ok: boolean) => {
      if (done) return;
      done = true;
      release();
      if (ok) this.succeeded(keys);
      else this.failed(keys);
    };
  }

  /** Record a failed check on each key. */
  failed(keys: ThrottleKey[]): void {
    const now = this.now();
    for (const { key } of keys) {
      // the same object (an attempt in flight holds it), re-inserted last: the map's order is the order of last use
      const e = this.entry(key) ?? { failures: 0, last: now, inFlight: 0 };
      e.failures++;
      e.last = now;
      this.entries.delete(key);
      this.entries.set(key, e);
    }
    while (this.entries.size > this.maxKeys) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  /** A right token: its client id's failures are forgotten (not its address's), and idle entries without failures go. */
  private succeeded(keys: ThrottleKey[]): void {
    for (const k of keys) {
      const e = this.entries.get(k.key);
      if (!e) continue;
      if (k.kind === 'id') e.failures = 0;
      if (e.failures === 0 && e.inFlight === 0) this.entries.delete(k.key);
    }
  }

  /** Release every waiting attempt (refused) and forget everything. */
  close(): void {
    for (const [timer, cancel] of this.timers) {
      clearTimeout(timer);
      cancel();
    }
    this.timers.clear();
    this.entries.clear();
  }
}
