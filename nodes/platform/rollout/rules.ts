/**
 * The decisions of a rollout, as pure functions of its counts: the abort rules (by failure type,
 * a percentage of the executed devices, after a minimum of them), the gate between waves, and the
 * backoff of a retry.
 */
import type { AbortRule, Gate, RetryPolicy } from './definition';
import type { Counts } from './state';

/** The executed devices: those with a final success, failure or timeout. */
export const executed = (c: Counts): number => c.success + c.failure + c.timedOut;

/** The reason to abort, when a rule's threshold is reached. */
export function abortReason(rules: AbortRule[] | undefined, c: Counts): string | undefined {
  const n = executed(c);
  if (!rules || n === 0) return undefined;
  for (const r of rules) {
    if (n < (r.minExecuted ?? 1)) continue;
    const bad = r.type === 'failure' ? c.failure : r.type === 'timedOut' ? c.timedOut : c.failure + c.timedOut;
    if (bad * 100 >= r.percent * n) return `abort rule ${r.type} ≥ ${r.percent}%: ${bad} of ${n} executed devices`;
  }
  return undefined;
}

export type GateDecision = { go: true } | { go: false; wait: 'approval' | 'time' | 'threshold'; reason: string };

/** Whether the next wave may start after a finished wave with counts `c`. */
export function gateDecision(gate: Gate | undefined, c: Counts): GateDecision {
  if (!gate) return { go: true };
  if (gate.approval) return { go: false, wait: 'approval', reason: 'waiting for approval' };
  if (gate.waitMs !== undefined) return gate.waitMs > 0 ? { go: false, wait: 'time', reason: `waiting ${gate.waitMs} ms` } : { go: true };
  const threshold = gate.successPercent ?? 0;
  const pct = c.total ? (c.success * 100) / c.total : 100;
  if (pct >= threshold) return { go: true };
  return { go: false, wait: 'threshold', reason: `gate: ${Math.floor(pct * 10) / 10}% of the wave succeeded, ${threshold}% needed` };
}

/** Milliseconds before retry number `retry` (1 for the first). */
export function backoffMs(policy: RetryPolicy, retry: number): number {
  return Math.min(86_400_000, Math.round((policy.backoffMs ?? 1000) * (policy.factor ?? 2) ** (retry - 1)));
}
