/**
 * What the parts of the device agent share: its options, the record it keeps of each device, and
 * its events (typed, like the platform side's emitters).
 */
import type { EventEmitter } from 'node:events';
import type { DeviceRef } from '../protocol/topics';
import type { DeviceInfo } from '../protocol/messages';
import type { ActionName, FieldOp } from './handler-types';

export interface DeviceAgentOptions {
  /** the device, or the gateway itself */
  identity: DeviceRef;
  /** devices behind a gateway (gateway mode) */
  devices?: DeviceRef[];
  /** a gateway: devices may be added and removed behind it at run time (default: when `devices` is given) */
  gateway?: boolean;
  /** seconds; 0 = never dormant. Default 3600. */
  lifetime?: number;
  deviceInfo?: DeviceInfo;
  metadata?: Record<string, unknown>;
  /** manage publishes in flight at once (default 50) */
  concurrency?: number;
  /** debounce before managing after connect or a change of supports (default 100 ms) */
  settleMs?: number;
  /** above this many devices one wildcard subscription is used (default 50) */
  wildcardAbove?: number;
  /** how long a request of ours waits for its response (default 60 s) */
  requestTimeoutMs?: number;
  /** how long a multi-handler update/observe/cancel waits for each handler (default 30 s) */
  handlerTimeoutMs?: number;
}
export type AgentTimings = Required<Pick<DeviceAgentOptions, 'concurrency' | 'settleMs' | 'wildcardAbove' | 'requestTimeoutMs' | 'handlerTimeoutMs'>>;

export type ManageState = 'unmanaged' | 'managing' | 'managed' | 'failed';
/** what the agent knows of one of its devices: its manage state and the attributes it sends */
export interface DeviceManageStatus {
  device: DeviceRef;
  state: ManageState;
  /** rc of the last manage response */
  rc?: number;
  message?: string;
  deviceInfo: DeviceInfo;
  metadata: Record<string, unknown>;
  location?: Record<string, unknown>;
}
/** the agent's record of one of its devices */
export interface DeviceEntry extends DeviceManageStatus {
  key: string;
}

export interface MessageErrorEvent {
  error: Error;
  topic: string;
  payload: string;
  device?: DeviceRef;
  reqId?: string;
}
export interface AnsweredEvent {
  device: DeviceRef;
  reqId: string;
  rc: number;
  topic: string;
}
export interface HandlerErrorEvent {
  error: Error;
  device: DeviceRef;
  topic: string;
  reqId?: string;
  action?: ActionName;
  op?: FieldOp;
}
export interface UnhandledEvent {
  device: DeviceRef;
  topic: string;
  reqId?: string;
  action?: ActionName;
}

export interface DeviceAgentEvents {
  /** an inbound message was invalid (answered 400 when it had a reqId), or routing it failed */
  messageError: [e: MessageErrorEvent];
  /** a request no handler takes (answered 501 when it had a reqId) */
  unhandled: [e: UnhandledEvent];
  /** a handler threw, rejected, or gave a malformed answer (answered 500 when not yet answered) */
  handlerError: [e: HandlerErrorEvent];
  /** an answer to a platform request is being published */
  answered: [e: AnsweredEvent];
  /** a manage request was sent */
  manage: [e: { device: DeviceRef; reqId: string; body: { reqId: string; d: Record<string, unknown> } }];
  /** the platform answered a manage request */
  managed: [e: { device: DeviceRef; reqId: string; rc: number; message?: string }];
  /** a manage request got no answer, or could not be sent */
  manageError: [e: { device: DeviceRef; reqId: string; error: Error }];
  /** location, metadata or deviceInfo was changed by a device/update */
  attributes: [e: { device: DeviceRef; field: string; value: unknown }];
  debug: [text: string];
}

/** how the agent's parts raise its events: the agent itself */
export type AgentEmit = Pick<EventEmitter<DeviceAgentEvents>, 'emit'>;
