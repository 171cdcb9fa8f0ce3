/**
 * Every inbound `iotdm-1` message of the agent's devices: parsed, validated and routed to the
 * handler of its action, to the field router, or (a response) to our request waiting for it.
 * Without a handler: 501 for an action. Invalid messages: 400 when a reqId can be read, and a
 * `messageError` event. Nothing thrown in message handling leaves the MQTT handler.
 */
import { deviceKey, parseTopic, PLATFORM_ROOT } from '../protocol/topics';
import { normalizeResponse, type DmResponse } from '../protocol/messages';
import { check, parsePayload, ValidationError } from '../protocol/validate';
import { RC } from '../protocol/rc';
import { readReqId } from '../protocol/req-id';
import type { ActionName, ActionRequest } from './handler-types';
import type { AgentEmit, DeviceEntry } from './agent-model';
import type { HandlerTable } from './handler-table';
import type { PendingRequests } from './pending-requests';
import type { Answers } from './answers';
import type { FieldMessage, FieldRouter } from './field-router';
import type { RepeatedRequests } from './repeated-requests';

/** What a request of the platform asks, validated by its schema: fields to route, or an action. */
type Inbound = FieldMessage | { op: 'action'; body: ActionRequest['body'] };

function validated(name: string, body: unknown): Inbound {
  switch (name) {
    case 'update':
      return { op: 'update', body: check('update', body) };
    case 'observe':
    case 'cancel':
      return { op: name, body: check('observe', body) };
    case 'custom':
      return { op: 'action', body: check('custom', body) };
    case 'reboot':
    case 'factoryReset':
    case 'firmwareDownload':
    case 'firmwareUpdate':
      return { op: 'action', body: check('initiate', body) };
    default:
      throw new ValidationError(`"${name}" is not a request the platform sends`);
  }
}

export interface RouterParts {
  /** the agent's devices by key */
  entries: ReadonlyMap<string, DeviceEntry>;
  handlers: HandlerTable;
  pending: PendingRequests;
  answers: Answers;
  fields: FieldRouter;
  events: AgentEmit;
  /** actions already asked, with their answers (repeated-requests.ts) */
  repeated: RepeatedRequests;
}

export class RequestRouter {
  constructor(private readonly parts: RouterParts) {}

  /** The port's message listener. */
  readonly onMessage = (topic: string, payload: Buffer): void => {
    try {
      this.route(topic, payload);
    } catch (err) {
      // a bug of ours must not reach the MQTT client
      this.parts.events.emit('messageError', { error: err as Error, topic, payload: payload.toString('utf8') });
    }
  };

  private route(topic: string, payload: Buffer): void {
    const t = parseTopic(topic);
    if (!t || t.root !== PLATFORM_ROOT || !t.device) return;
    const e = this.parts.entries.get(deviceKey(t.device));
    if (!e) return; // another device's message (wildcard subscription)
    const text = payload.toString('utf8');
    let body: unknown;
    try {
      body = parsePayload(text);
    } catch (err) {
      this.invalid(e, topic, text, err as Error, readReqId(undefined, text), t.name !== 'response');
      return;
    }
    if (t.name === 'response') {
      this.onResponse(e, topic, text, body);
      return;
    }
    const reqId = readReqId(body, text);
    if (!t.name) {
      // an iotdm-1 path the protocol does not define (or a malformed custom action)
      if (reqId) this.parts.answers.auto(e, reqId, RC.NOT_IMPLEMENTED, `${t.path} is not supported`, topic);
      this.parts.events.emit('unhandled', { device: e.device, topic, reqId });
      return;
    }
    let valid: Inbound;
    try {
      valid = validated(t.name, body);
    } catch (err) {
      this.invalid(e, topic, text, err as Error, reqId, true);
      return;
    }
    if (valid.op !== 'action') {
      this.parts.fields.route(e, topic, valid);
      return;
    }
    const action: ActionName = t.name === 'custom' ? `custom:${t.bundleId}` : (t.name as ActionName);
    this.onAction(e, action, topic, valid.body, t.bundleId, t.actionId);
  }

  private invalid(e: DeviceEntry, topic: string, text: string, error: Error, reqId: string | undefined, answer: boolean): void {
    if (answer && reqId) this.parts.answers.auto(e, reqId, RC.BAD_REQUEST, error.message, topic);
    const err = error instanceof ValidationError ? error : new ValidationError(error.message);
    this.parts.events.emit('messageError', { error: err, topic, payload: text, device: e.device, reqId });
  }

  private onResponse(e: DeviceEntry, topic: string, text: string, body: unknown): void {
    let r: DmResponse;
    try {
      r = normalizeResponse(check('response', body));
    } catch (err) {
      this.invalid(e, topic, text, err as Error, undefined, false); // never answer a response
      return;
    }
    if (!this.parts.pending.resolve(e.key, r)) this.parts.events.emit('debug', `response to unknown reqId ${r.reqId} for ${e.key} ignored`);
  }

  private onAction(e: DeviceEntry, action: ActionName, topic: string, body: ActionRequest['body'], bundleId?: string, actionId?: string): void {
    const h = this.parts.handlers.ownerOfAction(action);
    const { answers } = this.parts;
    if (!h?.onAction) {
      answers.auto(e, body.reqId, RC.NOT_IMPLEMENTED, `${action} is not supported`, topic);
      this.parts.events.emit('unhandled', { device: e.device, topic, reqId: body.reqId, action });
      return;
    }
    // the same request again (redelivered, or asked again): its answer again, the action not twice
    const before = this.parts.repeated.seenBefore(e.key, body.reqId);
    if (before !== undefined) {
      if (before) answers.auto(e, body.reqId, before.rc, before.message, topic, before.d as Record<string, unknown> | undefined);
      this.parts.events.emit('debug', `${action} ${body.reqId} for ${e.key} asked again: ${before ? `answered ${before.rc} again` : 'still running'}`);
      return;
    }
    const first = answers.to(e, body.reqId, topic);
    const r = {
      ...first,
      reply: (rc: number, message?: string, d?: Record<string, unknown>) => {
        if (!first.answered()) this.parts.repeated.answered(e.key, body.reqId, { rc, message, d });
        return first.reply(rc, message, d);
      },
    };
    const req: ActionRequest = { action, device: e.device, topic, reqId: body.reqId, body, bundleId, actionId, ...r };
    answers.invoke(() => h.onAction!(req), r, { device: e.device, topic, reqId: body.reqId, action });
  }
}
