/**
 * The handler contract of the device agent: what a handler (device-responder, firmware-state, a
 * test) declares, and the requests it is given. A handler answers with `reply(rc, message?, d?)`.
 */
import type { DeviceRef } from '../protocol/topics';
import type { FieldValue } from '../protocol/messages';

/** Initiate actions by protocol name; custom (DME) actions as `custom:{bundleId}`. */
export type ActionName = 'reboot' | 'factoryReset' | 'firmwareDownload' | 'firmwareUpdate' | `custom:${string}`;
export const STANDARD_ACTIONS = ['reboot', 'factoryReset', 'firmwareDownload', 'firmwareUpdate'] as const;
export type FieldOp = 'update' | 'observe' | 'cancel';

/**
 * Answer a request: publishes `{"reqId":..,"rc":..,"message":..,"d":..}` (reqId first, rc second,
 * compact: docs/protocol.md §7.14) on `iotdevice-1/type/T/id/D/response`. Resolves when the broker took it.
 * A request is answered once; a second call rejects. For a request without reqId (an update the
 * platform does not want answered, §3.3) it publishes nothing.
 */
export type ReplyFn = (rc: number, message?: string, d?: Record<string, unknown>) => Promise<void>;

interface RequestBase extends Answerer {
  device: DeviceRef;
  topic: string;
}
export interface ActionRequest extends RequestBase {
  action: ActionName;
  reqId: string;
  /** the validated message */
  body: { reqId: string; d?: Record<string, unknown> };
  bundleId?: string;
  actionId?: string;
}
export interface FieldRequest extends RequestBase {
  op: FieldOp;
  reqId?: string;
  /** the fields of this request the handler owns: `{field, value}` for update, `{field}` for observe/cancel */
  fields: FieldValue[];
}

/**
 * A handler plugs into the agent. It declares the actions and fields it takes and the `supports`
 * flags it brings to the manage request; the agent routes matching requests to it for every device
 * of the agent. A field `mgmt.firmware` also takes `mgmt.firmware.state` etc.
 */
export interface DmHandler {
  name?: string;
  actions?: readonly ActionName[];
  fields?: readonly string[];
  supports?: Readonly<Record<string, boolean>>;
  onAction?(req: ActionRequest): void | Promise<void>;
  onFields?(req: FieldRequest): void | Promise<void>;
}

/** A reply function and whether it was called (true once reply() was): handed with every request. */
export interface Answerer {
  reply: ReplyFn;
  answered(): boolean;
}
