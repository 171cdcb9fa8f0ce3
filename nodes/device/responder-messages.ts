/**
 * The messages of the device-side nodes, each a TypeScript type with its JSON Schema (validated with
 * validate.ts `compile`). No Node-RED import. Documented in each node's help.
 */
import { ID_PATTERN } from '../protocol/topics';

export type DeviceAction = 'device/reboot' | 'device/factoryReset';
/** msg.payload of the output */
export interface ActionMessage {
  action: DeviceAction;
  reqId: string;
  typeId: string;
  deviceId: string;
}
/** msg.payload of an answer from the flow (mode "flow") */
export interface AnswerMessage {
  reqId: string;
  rc: 202 | 500 | 501;
  message?: string;
  typeId?: string;
  deviceId?: string;
  action?: DeviceAction;
}
/** msg.payload of `msg.topic = "manage"`: the device that restarted (none: the config's own device) */
export type ManageMessage = { typeId: string; deviceId: string } | null | '' | number | undefined;

const ID = { type: 'string', pattern: ID_PATTERN };
export const answerMessageSchema: Record<string, unknown> = {
  type: 'object',
  properties: {
    reqId: { type: 'string', minLength: 1, maxLength: 256 },
    rc: { enum: [202, 500, 501] },
    message: { type: 'string', maxLength: 4096 },
    typeId: ID,
    deviceId: ID,
    action: { enum: ['device/reboot', 'device/factoryReset'] },
  },
  required: ['reqId', 'rc'],
  additionalProperties: false,
  dependentRequired: { typeId: ['deviceId'], deviceId: ['typeId'] },
};
export const manageMessageSchema: Record<string, unknown> = {
  anyOf: [
    { type: 'null' },
    { type: 'number' },
    { const: '' },
    // other properties are ignored: the action message itself can be wired back as "this device restarted"
    { type: 'object', properties: { typeId: ID, deviceId: ID }, required: ['typeId', 'deviceId'] },
  ],
};
