/**
 * The benchmark's scenarios: each standard action as the REST body the platform runs ("ours") and
 * as the raw message pattern of one device that the floor replays with plain mqtt.js.
 *
 * The firmware scenarios pass parameters, so the platform sends the step-1 `device/update` and both
 * sides exchange the 10 messages a device of docs/protocol.md §10: update→204, observe→200,
 * initiate→202, two notifies, cancel→200.
 */
import type { MgmtRequestBody, Parameter } from '../nodes/protocol/messages';
import { PlatformPath, DevicePath, type DeviceRef } from '../nodes/protocol/topics';

export const ACTION_SCENARIOS = ['device/reboot', 'device/factoryReset', 'firmware/download', 'firmware/update'] as const;
export type ActionScenario = (typeof ACTION_SCENARIOS)[number];
/** every scenario; `rollout` (reboots through a rollout in waves of 5,000) runs only when named */
export const SCENARIO_NAMES = [...ACTION_SCENARIOS, 'rollout'] as const;
export type ScenarioName = (typeof SCENARIO_NAMES)[number];
/** devices a rollout wave launches at once (one management request each) */
export const ROLLOUT_WAVE = 5000;

/**
 * One step of a device's raw exchange: publish to the device, or wait for what it sends (and, for a
 * device's own request such as manage, echo its reqId back with rc 200 as the protocol's answer).
 */
export type FloorOp = { send: string; body: Record<string, unknown> } | { expect: string; answer?: true };

export interface Scenario {
  action: ActionScenario;
  /** run through a RolloutManager in waves of ROLLOUT_WAVE, no pacing, instead of one request */
  rollout?: true;
  parameters: Parameter[];
  /** the raw pattern of one device, replayed by the floor */
  floor: FloorOp[];
  /** MQTT messages per device in that pattern, both directions */
  messagesPerDevice: number;
  /** ratio wall/floor the issue asks for */
  targetRatio: number;
}

const FW_VERSION = '2.0.0';
const FW_PARAMETERS: Parameter[] = [
  { name: 'uri', value: `http://127.0.0.1:1880/firmware/bench-${FW_VERSION}.bin` },
  { name: 'name', value: `bench-${FW_VERSION}.bin` },
  { name: 'version', value: FW_VERSION },
  { name: 'verifier', value: 'a3f1c2d4e5b6a7980112233445566778899aabbccddeeff00112233445566778' },
];
const param = (n: string) => FW_PARAMETERS.find((p) => p.name === n)!.value;

/** the seven mgmt.firmware keys the platform sends in step 1 (same size as ours) */
function firmwareValue(state: number, updateStatus: number): Record<string, unknown> {
  return {
    version: param('version'),
    name: param('name'),
    uri: param('uri'),
    verifier: param('verifier'),
    state,
    updateStatus,
    updatedDateTime: '',
  };
}

const FIELD = [{ field: 'mgmt.firmware' }];
const RESPONSE: FloorOp = { expect: DevicePath.response };

function firmwareFloor(initiatePath: string, state: number): FloorOp[] {
  return [
    { send: PlatformPath.update, body: { d: { fields: [{ field: 'mgmt.firmware', value: firmwareValue(state, 0) }] } } },
    RESPONSE,
    { send: PlatformPath.observe, body: { d: { fields: FIELD } } },
    RESPONSE,
    { send: initiatePath, body: {} },
    RESPONSE,
    { expect: DevicePath.notify },
    { expect: DevicePath.notify },
    { send: PlatformPath.cancel, body: { d: { fields: FIELD, data: FIELD } } },
    RESPONSE,
  ];
}

export const SCENARIOS: Record<ScenarioName, Scenario> = {
  'device/reboot': {
    action: 'device/reboot',
    parameters: [],
    floor: [{ send: PlatformPath.reboot, body: {} }, RESPONSE, { expect: DevicePath.manage, answer: true }],
    messagesPerDevice: 4,
    targetRatio: 1.5,
  },
  'device/factoryReset': {
    action: 'device/factoryReset',
    parameters: [],
    floor: [{ send: PlatformPath.factoryReset, body: {} }, RESPONSE, { expect: DevicePath.manage, answer: true }],
    messagesPerDevice: 4,
    targetRatio: 1.5,
  },
  'firmware/download': {
    action: 'firmware/download',
    parameters: FW_PARAMETERS,
    floor: firmwareFloor(PlatformPath.firmwareDownload, 0),
    messagesPerDevice: 10,
    targetRatio: 2.0,
  },
  'firmware/update': {
    action: 'firmware/update',
    parameters: FW_PARAMETERS,
    floor: firmwareFloor(PlatformPath.firmwareUpdate, 2),
    messagesPerDevice: 10,
    targetRatio: 2.0,
  },
  // the raw exchange of a reboot for every device, against a rollout of the same reboots in waves
  rollout: {
    action: 'device/reboot',
    rollout: true,
    parameters: [],
    floor: [{ send: PlatformPath.reboot, body: {} }, RESPONSE, { expect: DevicePath.manage, answer: true }],
    messagesPerDevice: 4,
    targetRatio: 1.5,
  },
};

/** The REST body of a scenario for these devices. */
export function requestBody(s: Scenario, devices: DeviceRef[]): MgmtRequestBody {
  const body: MgmtRequestBody = { action: s.action, devices: devices.map((d) => ({ typeId: d.typeId, deviceId: d.deviceId })) };
  if (s.parameters.length) body.parameters = s.parameters;
  return body;
}

/** The simulated fleet: one device type (firmware/update targets one type), ids d00000.. */
export const BENCH_TYPE = 'benchSim';
export function fleet(n: number): DeviceRef[] {
  return Array.from({ length: n }, (_, i) => ({ typeId: BENCH_TYPE, deviceId: `d${String(i).padStart(5, '0')}` }));
}
