/**
 * The platform's per-device step machines, as data (the Leshan habit): each REST action is a list
 * of steps; an `exchange` publishes one request and waits for the device's rc, a `wait` waits for
 * the device's own message (a manage after a reboot, a notify of mgmt.firmware). The engine in
 * request-engine.ts runs any plan and reads only the steps' properties, never their names; adding an
 * action means adding a plan here.
 *
 * Sources: the seed (docs/protocol.md §11) and docs/protocol.md §3.8 (device actions), §3.9 (firmware), §3.10 (custom), §8.6-8.7.
 */
import { PlatformPath, customPath } from '../protocol/topics';
import { DOWNLOAD_FAILURES, INSTALL_FAILURES, UPDATE_STATUS_TEXT, UpdateStatus, FirmwareState } from '../protocol/rc';
import { FIRMWARE_PARAMETERS, type DmResponse, type FirmwareAttributes } from '../protocol/messages';
import { isValid } from '../protocol/validate';

/** The `status` of a management request and of each of its device rows (docs/protocol.md §5). */
export const RequestStatus = { SUCCESS: 0, IN_PROGRESS: 1, FAILURE: 2, TIMED_OUT: 3 } as const;
export type RequestStatusCode = (typeof RequestStatus)[keyof typeof RequestStatus];
export type Outcome = 'success' | 'failure' | 'timedOut' | 'cancelled';

/** What a step's body and judge can see. */
export interface StepContext {
  parameters: Record<string, string>;
  /** the firmware view of this execution: merged from observe answers and notifies */
  firmware: Partial<FirmwareAttributes>;
  /** the registry's view of the device's firmware before the request */
  knownFirmware?: Partial<FirmwareAttributes>;
  /** an update notified `updateStatus` 1 (in progress) during this execution */
  sawInProgress: boolean;
  /** a download notified `state` 1 (downloading) during this execution */
  sawDownloading: boolean;
}

export type Judgement = { outcome: 'success' } | { outcome: 'failure'; rc?: number; message: string } | undefined;

export interface ExchangeStep {
  kind: 'exchange';
  /** protocol name, shown as the phase */
  name: 'update' | 'observe' | 'initiate' | 'cancel';
  path: string;
  body?(ctx: StepContext): Record<string, unknown>;
  /** rc values that let the device go on */
  accept: readonly number[];
  /** reason given when the device does not answer in time */
  timeoutReason: string;
  /** what a refusal's message is prefixed with (default: the step's name) */
  refusedAs?: string;
  /**
   * The firmware observation (docs/protocol.md §3.7): `open` = the device's acceptance establishes it
   * (failures from then on cancel it) and its answer carries the current mgmt.firmware, merged into
   * the registry when valid; `close` = this step cancels it (a failure here sends no other cancel).
   */
  observation?: 'open' | 'close';
  /**
   * This step starts the execution's firmware view, the one its wait judges (§10: not an older
   * view); notifies merge into it from the moment the step is sent, since IBM's Java client may
   * notify before its 202 (§7.4).
   */
  firmwareView?(ctx: StepContext): Partial<FirmwareAttributes>;
  /** skipped when the request names no firmware parameter, unless the platform always sends it */
  needsFirmwareParameters?: boolean;
  /** what the registry learns of the device's mgmt.firmware when the device accepts this step */
  accepted?(ctx: StepContext): Partial<FirmwareAttributes>;
}

export interface WaitStep {
  kind: 'wait';
  name: 'reboot' | 'factoryReset' | 'download' | 'install';
  event: 'manage' | 'notify';
  /** for notify: decide from the execution's merged firmware view */
  judge?(ctx: StepContext): Judgement;
  /** which phase timeout applies (the request's own deadline bounds every phase too) */
  timeout: 'restart' | 'download' | 'install';
  timeoutReason: string;
}

export type Step = ExchangeStep | WaitStep;

export interface Plan {
  action: string;
  steps: Step[];
  /** the capability a device must declare in manage: supports[...] */
  requires: string;
  /** a firmware action: one in flight per device unless override */
  firmware: boolean;
  /** every device of the request must be of one type (the seed: firmware/update, docs/protocol.md §11.5) */
  oneType?: boolean;
  /** on success */
  onSuccess?: 'setFwVersion';
}

const FIRMWARE_FIELD = [{ field: 'mgmt.firmware' }];

function hasFirmwareParameters(p: Record<string, string>): boolean {
  return FIRMWARE_PARAMETERS.some((k) => p[k] !== undefined);
}

/** The image a firmware request describes: its parameters, else what the device already has. */
function describedFirmware(ctx: StepContext): Pick<FirmwareAttributes, 'version' | 'name' | 'uri' | 'verifier'> {
  const known = ctx.knownFirmware ?? {};
  const p = ctx.parameters;
  return {
    version: p.version ?? known.version ?? '',
    name: p.name ?? known.name ?? '',
    uri: p.uri ?? known.uri ?? '',
    verifier: p.verifier ?? known.verifier ?? '',
  };
}

/**
 * Step 1 of both firmware actions: device/update with all seven mgmt.firmware keys (real clients
 * need all seven, docs/protocol.md §3.6, §10). `state` and `updateStatus` are the device's current ones
 * for an update: a device/update replaces the device's whole mgmt.firmware, and state 0 would reset
 * a downloaded device to idle (§10).
 */
function firmwareUpdateBody(forInstall: boolean) {
  return (ctx: StepContext): Record<string, unknown> => {
    const known = ctx.knownFirmware ?? {};
    const value: FirmwareAttributes = {
      ...describedFirmware(ctx),
      state: forInstall ? (known.state ?? FirmwareState.DOWNLOADED) : FirmwareState.IDLE,
      updateStatus: forInstall ? (known.updateStatus ?? UpdateStatus.SUCCESS) : UpdateStatus.SUCCESS,
      updatedDateTime: '',
    };
    return { d: { fields: [{ field: 'mgmt.firmware', value }] } };
  };
}

const observeStep: ExchangeStep = {
  kind: 'exchange',
  name: 'observe',
  path: PlatformPath.observe,
  body: () => ({ d: { fields: FIRMWARE_FIELD } }),
  accept: [200],
  timeoutReason: 'no answer to observe',
  observation: 'open',
};

/**
 * The mgmt.firmware values an answer to observe carries (docs/protocol.md §3.7). It is device input:
 * only valid firmware objects count, anything else in `d.fields` is ignored.
 */
export function observedFirmware(resp: DmResponse): Partial<FirmwareAttributes>[] {
  const fields = resp.d?.fields;
  if (!Array.isArray(fields)) return [];
  const out: Partial<FirmwareAttributes>[] = [];
  for (const f of fields) {
    if (!f || typeof f !== 'object' || !('field' in f) || f.field !== 'mgmt.firmware' || !('value' in f)) continue;
    if (f.value && typeof f.value === 'object' && isValid('firmwareValue', f.value)) out.push(f.value);
  }
  return out;
}

/** cancel of the observation; `data` duplicates `fields` for IBM's Java client (docs/protocol.md §3.7) */
export const cancelObservationBody = (): Record<string, unknown> => ({ d: { fields: FIRMWARE_FIELD, data: FIRMWARE_FIELD } });
const cancelStep: ExchangeStep = {
  kind: 'exchange',
  name: 'cancel',
  path: PlatformPath.cancel,
  body: cancelObservationBody,
  accept: [200],
  timeoutReason: 'no answer to cancel',
  observation: 'close',
};

/**
 * download: state 2 = downloaded; state 0 with an error updateStatus = failed (docs/protocol.md §3.9).
 * A device back to idle after downloading has stopped, even when its notify left out an updateStatus
 * that did not change (the registry's merged view still knows it).
 */
export function judgeDownload(ctx: StepContext): Judgement {
  const fw = ctx.firmware;
  if (fw.state === FirmwareState.DOWNLOADED) return { outcome: 'success' };
  if (fw.state !== FirmwareState.IDLE) return undefined;
  const status = fw.updateStatus ?? (ctx.sawDownloading ? ctx.knownFirmware?.updateStatus : undefined);
  if (status !== undefined && DOWNLOAD_FAILURES.includes(status)) {
    return { outcome: 'failure', message: `download failed: ${UPDATE_STATUS_TEXT[status]} (updateStatus ${status})` };
  }
  if (ctx.sawDownloading) return { outcome: 'failure', message: 'download stopped: the device went back to idle without an error status' };
  return undefined;
}

/**
 * install: updateStatus 0 with state 0 = success; or updateStatus back to 0 after 1 (devices that
 * notify one field at a time, or were already idle after a reboot, docs/protocol.md §7.3, §10).
 * updateStatus 2 or 5 (INSTALL_FAILURES) = failed. Any other error status is no install outcome
 * (3, 4 and 6 speak of a download): failed too, named as such, so that it never leaves the
 * request waiting for its install timeout (tolerance, docs/protocol.md §8.5).
 */
export function judgeInstall(ctx: StepContext): Judgement {
  const fw = ctx.firmware;
  const s = fw.updateStatus;
  if (s !== undefined && INSTALL_FAILURES.includes(s)) {
    return { outcome: 'failure', message: `update failed: ${UPDATE_STATUS_TEXT[s]} (updateStatus ${s})` };
  }
  if (s !== undefined && s !== UpdateStatus.SUCCESS && s !== UpdateStatus.IN_PROGRESS) {
    return { outcome: 'failure', message: `update failed: updateStatus ${s} (${UPDATE_STATUS_TEXT[s] ?? 'unknown'}) is not an install outcome` };
  }
  if (fw.updateStatus === UpdateStatus.SUCCESS && (fw.state === FirmwareState.IDLE || ctx.sawInProgress)) return { outcome: 'success' };
  return undefined;
}

/** The step that asks for the action itself; its refusals are named by the action. */
function initiate(path: string, accept: number[], what: string, firmwareView?: ExchangeStep['firmwareView']): ExchangeStep {
  const step: ExchangeStep = { kind: 'exchange', name: 'initiate', path, accept, timeoutReason: `no answer to ${what}`, refusedAs: what };
  if (firmwareView) step.firmwareView = firmwareView;
  return step;
}

/** A download is judged from idle; an update from the state the device is known in (downloaded if unknown). */
const downloadView = (): Partial<FirmwareAttributes> => ({ state: FirmwareState.IDLE });
const updateView = (ctx: StepContext): Partial<FirmwareAttributes> => ({
  state: ctx.knownFirmware?.state ?? FirmwareState.DOWNLOADED,
  version: ctx.knownFirmware?.version,
});

/** Both firmware actions: device/update, observe, the initiate, the wait for notifies, cancel (§3.9). */
function firmwarePlan(action: 'firmware/download' | 'firmware/update', initiatePath: string, waitForDevice: WaitStep): Plan {
  return {
    action,
    requires: 'firmwareActions',
    firmware: true,
    steps: [
      {
        kind: 'exchange',
        name: 'update',
        path: PlatformPath.update,
        body: firmwareUpdateBody(action === 'firmware/update'),
        accept: [204, 200],
        // the device took the new description: the version it installs (and later reports) is this one
        accepted: describedFirmware,
        timeoutReason: 'no answer to device/update',
        needsFirmwareParameters: true,
      },
      observeStep,
      initiate(initiatePath, [202], action, action === 'firmware/download' ? downloadView : updateView),
      waitForDevice,
      cancelStep,
    ],
  };
}

export const PLANS: Record<string, Plan> = {
  'device/reboot': {
    action: 'device/reboot',
    requires: 'deviceActions',
    firmware: false,
    steps: [
      initiate(PlatformPath.reboot, [202], 'device/reboot'),
      { kind: 'wait', name: 'reboot', event: 'manage', timeout: 'restart', timeoutReason: 'no manage request after the reboot' },
    ],
  },
  'device/factoryReset': {
    action: 'device/factoryReset',
    requires: 'deviceActions',
    firmware: false,
    steps: [
      initiate(PlatformPath.factoryReset, [202], 'device/factoryReset'),
      {
        kind: 'wait',
        name: 'factoryReset',
        event: 'manage',
        timeout: 'restart',
        timeoutReason: 'no manage request after the factory reset',
      },
    ],
  },
  'firmware/download': firmwarePlan('firmware/download', PlatformPath.firmwareDownload, {
    kind: 'wait',
    name: 'download',
    event: 'notify',
    judge: judgeDownload,
    timeout: 'download',
    timeoutReason: 'download did not finish',
  }),
  'firmware/update': {
    ...firmwarePlan('firmware/update', PlatformPath.firmwareUpdate, {
      kind: 'wait',
      name: 'install',
      event: 'notify',
      judge: judgeInstall,
      timeout: 'install',
      timeoutReason: 'update did not finish',
    }),
    oneType: true,
    onSuccess: 'setFwVersion',
  },
};

/** A custom (DME) action `bundleId/actionId`: one exchange, done at rc 200 (docs/protocol.md §3.10). */
export function customPlan(action: string): Plan {
  const [bundleId, actionId] = action.split('/');
  return {
    action,
    requires: bundleId,
    firmware: false,
    steps: [
      {
        kind: 'exchange',
        name: 'initiate',
        path: customPath(bundleId, actionId),
        body: (ctx) => ({ d: { fields: Object.entries(ctx.parameters).map(([field, value]) => ({ field, value })) } }),
        accept: [200],
        timeoutReason: `no answer to ${action}`,
        refusedAs: action,
      },
    ],
  };
}

export function planFor(action: string): Plan {
  return PLANS[action] ?? customPlan(action);
}

/**
 * The steps this request runs: the firmware actions skip device/update when no parameter is given
 * (the seed, docs/protocol.md §11.4), unless the platform is set to always send it (IBM's real clients need it, §10).
 */
export function stepsFor(plan: Plan, parameters: Record<string, string>, alwaysSendFirmwareUpdate: boolean): Step[] {
  if (!plan.firmware) return plan.steps;
  if (hasFirmwareParameters(parameters) || alwaysSendFirmwareUpdate) return plan.steps;
  return plan.steps.filter((s) => !(s.kind === 'exchange' && s.needsFirmwareParameters));
}
