/**
 * The messages of the `firmware-state` node, each a TypeScript type with its JSON Schema (compiled
 * with validate.ts `compile`), and the persisted per-device record. No Node-RED import.
 */
import { ID_PATTERN } from '../protocol/topics';
import { DOWNLOAD_FAILURES, INSTALL_FAILURES } from '../protocol/rc';
import type { FirmwareAttributes } from '../protocol/messages';

/** msg.payload of the output: what the user's flow must do for one device. */
export interface FirmwareCommand {
  command: 'download' | 'install';
  /** the reqId of the platform's initiate */
  reqId: string;
  typeId: string;
  deviceId: string;
  uri: string;
  name: string;
  verifier: string;
  version: string;
  /** install after the built-in downloader: the downloaded image */
  file?: string;
}

/** What the flow reports back (msg.payload of the input). */
export type FirmwareResult =
  | 'downloaded'
  | 'downloadFailed'
  | 'installed'
  | 'installFailed'
  /** verdicts on an initiate, when the node waits for the flow's answer (answer "flow") */
  | 'accepted'
  | 'failed'
  | 'unsupported';
export interface FirmwareInput {
  result: FirmwareResult;
  /** the device; absent: the iotdm-device's own device */
  typeId?: string;
  deviceId?: string;
  /** downloadFailed: 2 out of memory / space, 3 connection lost, 4 verification failed, 6 invalid URI; installFailed: 2 or 5 */
  updateStatus?: number;
  message?: string;
  /** the initiate's reqId: required with accepted / failed / unsupported */
  reqId?: string;
  /** downloaded: where the image is (passed on in the install command) */
  file?: string;
  // the fields of the command may come back with it (the flow passes the command on)
  command?: 'download' | 'install';
  uri?: string;
  name?: string;
  verifier?: string;
  version?: string;
}

const ID = { type: 'string', pattern: ID_PATTERN };
const TEXT = { type: 'string', maxLength: 4096 };
export const firmwareInputSchema: Record<string, unknown> = {
  type: 'object',
  properties: {
    result: { enum: ['downloaded', 'downloadFailed', 'installed', 'installFailed', 'accepted', 'failed', 'unsupported'] },
    typeId: ID,
    deviceId: ID,
    updateStatus: { type: 'integer' },
    message: TEXT,
    reqId: { type: 'string', minLength: 1, maxLength: 256 },
    file: TEXT,
    command: { enum: ['download', 'install'] },
    uri: TEXT,
    name: TEXT,
    verifier: TEXT,
    version: TEXT,
  },
  required: ['result'],
  additionalProperties: false,
  dependentRequired: { typeId: ['deviceId'], deviceId: ['typeId'] },
  allOf: [
    {
      if: { properties: { result: { const: 'downloadFailed' } } },
      then: { properties: { updateStatus: { enum: [...DOWNLOAD_FAILURES] } }, required: ['updateStatus'] },
    },
    {
      if: { properties: { result: { const: 'installFailed' } } },
      then: { properties: { updateStatus: { enum: [...INSTALL_FAILURES] } }, required: ['updateStatus'] },
    },
    {
      if: { properties: { result: { enum: ['downloaded', 'installed', 'accepted', 'failed', 'unsupported'] } } },
      then: { not: { required: ['updateStatus'] } },
    },
    {
      if: { properties: { result: { enum: ['accepted', 'failed', 'unsupported'] } } },
      then: { required: ['reqId'] },
    },
  ],
};

/** What the node keeps per device in its context (it survives a restart). */
export interface FirmwareRecord {
  firmware: FirmwareAttributes;
  /** the platform observes mgmt.firmware: every change is notified */
  observed: boolean;
  /** deviceInfo.fwVersion after the last successful install */
  fwVersion?: string;
  /** the image the built-in downloader fetched */
  file?: string;
}
export interface FirmwareSnapshot {
  version: 1;
  devices: Record<string, FirmwareRecord>;
}
const firmwareAttributesSchema = {
  type: 'object',
  properties: {
    version: { type: 'string' },
    name: { type: 'string' },
    uri: { type: 'string' },
    verifier: { type: 'string' },
    state: { enum: [0, 1, 2] },
    updateStatus: { enum: [0, 1, 2, 3, 4, 5, 6] },
    updatedDateTime: { type: 'string' },
  },
  required: ['version', 'name', 'uri', 'verifier', 'state', 'updateStatus', 'updatedDateTime'],
};
/** A stored snapshot is checked before use: a corrupt store must not break the node. */
export const firmwareSnapshotSchema: Record<string, unknown> = {
  type: 'object',
  properties: {
    version: { const: 1 },
    devices: {
      type: 'object',
      additionalProperties: {
        type: 'object',
        properties: { firmware: firmwareAttributesSchema, observed: { type: 'boolean' }, fwVersion: { type: 'string' }, file: { type: 'string' } },
        required: ['firmware', 'observed'],
      },
    },
  },
  required: ['version', 'devices'],
};
