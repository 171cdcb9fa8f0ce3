/**
 * Answers that carry the wrong reqId but can only mean one thing.
 *
 * IBM's embedded C client answers `mgmt/initiate/firmware/update` with the reqId of the observe it
 * answered just before (docs/protocol.md §10.y). Matching by reqId alone drops that answer and the
 * update times out although the device installs the image. Such an answer is taken for the pending
 * exchange only when nothing else can explain it:
 * - the reqId is the one of this device's answered observe, in a request still running (only an
 *   observe's answers are remembered: an answer with the reqId of another exchange is a second answer
 *   to it — a device that got a request twice after a broker outage may refuse the copy, 400 to an
 *   initiate it already took — and must not be read as the answer to what is pending by then);
 * - exactly one exchange is pending for the device, and it belongs to that same execution;
 * - the rc differs from the one that earlier exchange got: a QoS 1 redelivery of the earlier answer
 *   repeats its rc, and is a duplicate, not an answer.
 * Anything else stays a stray. No Node-RED import.
 */
import type { DmResponse } from '../protocol/messages';
import type { DeviceExecution } from './management-request';

export interface QuirkMatch {
  exec: DeviceExecution;
  /** what the device did, for its result */
  quirk: string;
}

/** The execution an answer with a reused reqId belongs to, or undefined when it is a stray or a duplicate. */
export function reusedReqIdAnswer(
  active: Iterable<DeviceExecution> | undefined,
  resp: DmResponse,
  pendingStep: (exec: DeviceExecution) => string | undefined,
): QuirkMatch | undefined {
  if (!active) return undefined;
  let pending: DeviceExecution | undefined;
  let pendingCount = 0;
  for (const exec of active) {
    if (exec.complete || exec.reqId === undefined) continue;
    pendingCount++;
    pending = exec;
  }
  if (pendingCount !== 1 || !pending) return undefined;
  const earlier = pending.answered?.find((a) => a.reqId === resp.reqId);
  if (!earlier || earlier.rc === resp.rc) return undefined;
  const step = pendingStep(pending) ?? 'the pending exchange';
  return { exec: pending, quirk: `answered ${step} with the reqId of its earlier ${earlier.step}` };
}

/**
 * Remember an answered observe, the exchange whose reqId a known client reuses (bounded: an action
 * observes once, and once more to resynchronise). Nothing for the other exchanges: see above.
 */
export function recordAnswer(exec: DeviceExecution, reqId: string, rc: number, step: string): void {
  if (step !== 'observe') return;
  const list = (exec.answered ??= []);
  if (list.length >= 8) list.shift();
  list.push({ reqId, rc, step });
}
