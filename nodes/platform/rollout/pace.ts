/**
 * Pacing of a rollout's launches: a rate in devices a minute (a token bucket holding at most one
 * second's worth, so a pause does not turn into a burst), raised by an exponential ramp after every
 * N devices notified (launched) or succeeded, up to a maximum. No rate: unlimited. The state is
 * plain data so that a restarted rollout keeps its pace.
 */
import type { Rate } from './definition';

export interface PaceState {
  /** devices a minute now (0: unlimited) */
  rate: number;
  tokens: number;
  refilledAt: number;
  /** devices counted towards the next ramp step */
  sinceRamp: number;
}

export const RAMP_CEILING = 1_000_000;

export function initialPace(rate: Rate | undefined, now: number): PaceState {
  const perMinute = rate?.perMinute ?? 0;
  return { rate: perMinute, tokens: perMinute ? Math.min(1, perMinute) : 0, refilledAt: now, sinceRamp: 0 };
}

const capacity = (rate: number) => Math.max(1, rate / 60);

function refill(p: PaceState, now: number): void {
  if (!p.rate) return;
  const elapsed = Math.max(0, now - p.refilledAt);
  p.tokens = Math.min(capacity(p.rate), p.tokens + (elapsed * p.rate) / 60_000);
  p.refilledAt = now;
}

/** How many devices may be launched now (Infinity without a rate). */
export function allowance(p: PaceState, now: number): number {
  if (!p.rate) return Infinity;
  refill(p, now);
  return Math.floor(p.tokens);
}

/** Milliseconds until one more device may be launched (0 without a rate). */
export function waitMs(p: PaceState, now: number): number {
  if (!p.rate) return 0;
  refill(p, now);
  if (p.tokens >= 1) return 0;
  return Math.ceil(((1 - p.tokens) * 60_000) / p.rate);
}

function ramp(p: PaceState, rate: Rate | undefined, n: number): void {
  const r = rate?.ramp;
  if (!r || !p.rate) return;
  p.sinceRamp += n;
  const max = r.maxPerMinute ?? RAMP_CEILING;
  while (p.sinceRamp >= r.every && p.rate < max) {
    p.sinceRamp -= r.every;
    p.rate = Math.min(max, Math.ceil(p.rate * r.factor));
  }
}

/** `n` devices were launched. */
export function launched(p: PaceState, rate: Rate | undefined, n: number): void {
  if (p.rate) p.tokens -= n;
  if ((rate?.ramp?.on ?? 'notified') === 'notified') ramp(p, rate, n);
}

/** `n` devices succeeded. */
export function succeeded(p: PaceState, rate: Rate | undefined, n: number): void {
  if (rate?.ramp?.on === 'succeeded') ramp(p, rate, n);
}
