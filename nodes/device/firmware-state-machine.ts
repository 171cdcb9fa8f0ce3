/**
 * The device's `mgmt.firmware` state machine (docs/protocol.md §3.9 and §11, the seed), as ONE table of legal
 * transitions (the Leshan habit: data, not scattered ifs). No Node-RED import.
 *
 * A phase is `state` (0 idle, 1 downloading, 2 downloaded) with `updateStatus` (1 = an install is in
 * progress). Each row says from which phase an event is legal, which fields it writes, which
 * `updateStatus` values it may carry, and what an initiate answers when the event is not legal.
 *
 * Choices where the protocol is silent (documented in the node's help):
 * - a download leaves `updateStatus` as it was while it runs (IBM removed updateStatus from the
 *   download stage, docs/protocol.md §7.7) and when it succeeds;
 * - a failed install goes back to idle (state 0) with its error status, like IBM's Python client, so
 *   a new download is possible (state 2 with an unusable image would refuse every download);
 * - every field a transition writes is notified, even one that keeps its value (a second failure
 *   with the same status still tells the platform why).
 */
import { DOWNLOAD_FAILURES, FirmwareState, INSTALL_FAILURES, UpdateStatus } from '../protocol/rc';

export type FirmwareEvent = 'download' | 'downloaded' | 'downloadFailed' | 'update' | 'installed' | 'installFailed';
export const FIRMWARE_EVENTS: readonly FirmwareEvent[] = ['download', 'downloaded', 'downloadFailed', 'update', 'installed', 'installFailed'];

export interface FirmwarePhase {
  state: number;
  updateStatus: number;
}

export interface Transition {
  event: FirmwareEvent;
  /** legal from this state, and only while an install is (true) or is not (false) in progress */
  from: { state: number; installing: boolean };
  /** fields written; `updateStatus: 'given'` takes the event's own status */
  to: { state?: number; updateStatus?: number | 'given' };
  /** the updateStatus values a failure event may carry */
  statuses?: readonly number[];
  /** answer to an initiate (download / update) that is not legal now */
  refusal?: { rc: number; message: string };
}

/** The table. Nothing else decides what a device's firmware may do next. */
export const TRANSITIONS: readonly Transition[] = [
  {
    event: 'download',
    from: { state: FirmwareState.IDLE, installing: false },
    to: { state: FirmwareState.DOWNLOADING },
    refusal: { rc: 400, message: 'Cannot download as the device is not in idle state' },
  },
  { event: 'downloaded', from: { state: FirmwareState.DOWNLOADING, installing: false }, to: { state: FirmwareState.DOWNLOADED } },
  {
    event: 'downloadFailed',
    from: { state: FirmwareState.DOWNLOADING, installing: false },
    to: { state: FirmwareState.IDLE, updateStatus: 'given' },
    statuses: DOWNLOAD_FAILURES,
  },
  {
    event: 'update',
    from: { state: FirmwareState.DOWNLOADED, installing: false },
    to: { updateStatus: UpdateStatus.IN_PROGRESS },
    refusal: { rc: 400, message: 'Firmware is still not successfully downloaded.' },
  },
  {
    event: 'installed',
    from: { state: FirmwareState.DOWNLOADED, installing: true },
    to: { state: FirmwareState.IDLE, updateStatus: UpdateStatus.SUCCESS },
  },
  {
    event: 'installFailed',
    from: { state: FirmwareState.DOWNLOADED, installing: true },
    to: { state: FirmwareState.IDLE, updateStatus: 'given' },
    statuses: INSTALL_FAILURES,
  },
];

const BY_EVENT = new Map(TRANSITIONS.map((t) => [t.event, t]));

export type TransitionResult = { ok: true; transition: Transition; changes: Partial<FirmwarePhase> } | { ok: false; transition?: Transition; reason: string };

const STATE_TEXT: Record<number, string> = { 0: 'idle', 1: 'downloading', 2: 'downloaded' };
export function describePhase(p: FirmwarePhase): string {
  return `${STATE_TEXT[p.state] ?? `state ${p.state}`}${p.updateStatus === UpdateStatus.IN_PROGRESS ? ', installing' : ''}`;
}

/**
 * What `event` does from `phase`: the fields it writes, or why it is not legal. Pure: the caller
 * applies the changes (all at once, so one notify carries them).
 */
export function transition(phase: FirmwarePhase, event: FirmwareEvent, updateStatus?: number): TransitionResult {
  const t = BY_EVENT.get(event);
  if (!t) return { ok: false, reason: `unknown firmware event "${event}"` };
  const installing = phase.updateStatus === UpdateStatus.IN_PROGRESS;
  if (phase.state !== t.from.state || installing !== t.from.installing) {
    return { ok: false, transition: t, reason: `${event} is not legal while the firmware is ${describePhase(phase)}` };
  }
  const changes: Partial<FirmwarePhase> = {};
  if (t.to.state !== undefined) changes.state = t.to.state;
  if (t.to.updateStatus === 'given') {
    if (updateStatus === undefined || !t.statuses?.includes(updateStatus)) {
      return { ok: false, transition: t, reason: `${event} needs updateStatus ${t.statuses?.join(', ')} (got ${updateStatus})` };
    }
    changes.updateStatus = updateStatus;
  } else if (t.to.updateStatus !== undefined) {
    changes.updateStatus = t.to.updateStatus;
  }
  return { ok: true, transition: t, changes };
}
