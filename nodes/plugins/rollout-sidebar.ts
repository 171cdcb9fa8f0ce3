/**
 * The rollouts in the editor's device-management sidebar, runtime part: their list with a bar per
 * wave, on RED.httpAdmin, the approve / pause / resume / cancel / re-run buttons, and their live progress on
 * the editor's comms channel (`iotdm/rollouts/<platformId>`, at most four messages a second per
 * rollout, each the rollout's summary).
 *
 *   GET  /iotdm/platforms/:id/rollouts                   iotdm.read   (newest first, 50)
 *   POST /iotdm/platforms/:id/rollouts/:rolloutId/:command  iotdm.write (approve, pause, resume, cancel; rerun: 202, the new rollout)
 */
import type { RolloutDetails, RolloutManager } from '../platform/rollout/rollout-manager';
import { ROLLOUT_COMMANDS, type RolloutCommand } from '../platform/rollout/rollout-manager';

/** waves sent for one rollout (the first ones; the rest is counted) */
export const SIDEBAR_WAVES = 100;

export interface RolloutSummary extends Omit<RolloutDetails, 'definition' | 'waves'> {
  waves: RolloutDetails['waves'];
  /** waves not sent */
  moreWaves: number;
}

export function summaryOf(d: RolloutDetails): RolloutSummary {
  const { definition: _definition, waves, ...rest } = d;
  return { ...rest, waves: waves.slice(0, SIDEBAR_WAVES), moreWaves: Math.max(0, waves.length - SIDEBAR_WAVES) };
}

export function isRolloutCommand(c: string): c is RolloutCommand {
  return (ROLLOUT_COMMANDS as readonly string[]).includes(c);
}

/** Publish each rollout's summary when it changes, throttled per rollout; returns the detach. */
export function publishRollouts(rollouts: RolloutManager, publish: (summary: RolloutSummary | { removed: string }) => void): () => void {
  const timers = new Map<string, NodeJS.Timeout>();
  const changed = (id: string) => {
    if (timers.has(id)) return;
    timers.set(
      id,
      setTimeout(() => {
        timers.delete(id);
        const d = rollouts.details(id);
        if (d) publish(summaryOf(d));
      }, 250),
    );
  };
  const onDevice = (r: { rolloutId: string }) => changed(r.rolloutId);
  const onRemoved = (id: string) => publish({ removed: id });
  rollouts.on('device', onDevice);
  rollouts.on('wave', onDevice);
  rollouts.on('state', onDevice);
  rollouts.on('created', changed);
  rollouts.on('removed', onRemoved);
  return () => {
    rollouts.off('device', onDevice);
    rollouts.off('wave', onDevice);
    rollouts.off('state', onDevice);
    rollouts.off('created', changed);
    rollouts.off('removed', onRemoved);
    for (const t of timers.values()) clearTimeout(t);
    timers.clear();
  };
}
