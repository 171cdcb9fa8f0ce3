/**
 * device/update, device/observe and device/cancel: the fields of one request fanned out to the
 * handlers that own them (location, metadata and deviceInfo of an update are the agent's own), and
 * one answer for all: the owner's answer when one handler owns every field, else a combined one.
 */
import { observedFields, type DeviceInfo, type FieldValue, type ObserveRequest, type UpdateRequest } from '../protocol/messages';
import { RC, RC_TEXT, isSuccessRc } from '../protocol/rc';
import { BOUNDS, excerpt, jsonLength } from '../protocol/bounds';
import type { DmHandler, FieldOp } from './handler-types';
import type { AgentEmit, DeviceEntry } from './agent-model';
import type { HandlerTable } from './handler-table';
import { answerOnce, type Answers } from './answers';

/** A validated device/update, observe or cancel, with the operation it asks. */
export type FieldMessage = { op: 'update'; body: UpdateRequest } | { op: Exclude<FieldOp, 'update'>; body: ObserveRequest };

const BUILTIN_UPDATE_FIELDS = new Set(['location', 'metadata', 'deviceInfo']);
/** what each of the agent's own fields may hold, as JSON (bounds.ts): they go out in every manage */
const BUILTIN_BYTES: Record<string, number> = { location: 1024, metadata: BOUNDS.metadataBytes, deviceInfo: BOUNDS.deviceInfoBytes };

interface PartAnswer {
  rc: number;
  message?: string;
  d?: Record<string, unknown>;
  fields: FieldValue[];
}

export class FieldRouter {
  /** handler deadlines of multi-handler field requests under way */
  private readonly partTimers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly handlers: HandlerTable,
    private readonly answers: Answers,
    private readonly events: AgentEmit,
    private readonly handlerTimeoutMs: number,
  ) {}

  /** Stop waiting for handlers (the agent stops). */
  stop(): void {
    for (const t of this.partTimers) clearTimeout(t);
    this.partTimers.clear();
  }

  route(e: DeviceEntry, topic: string, msg: FieldMessage): void {
    const { op } = msg;
    const reqId = msg.body.reqId;
    const items: FieldValue[] = msg.op === 'update' ? msg.body.d.fields : observedFields(msg.body).map((field) => ({ field }));
    const groups = new Map<DmHandler, FieldValue[]>();
    const builtin: FieldValue[] = [];
    const unknown: string[] = [];
    for (const it of items) {
      const owner = this.handlers.ownerOfField(it.field);
      if (owner) {
        const g = groups.get(owner) ?? [];
        g.push(it);
        groups.set(owner, g);
      } else if (op === 'update' && BUILTIN_UPDATE_FIELDS.has(it.field)) builtin.push(it);
      else unknown.push(it.field);
    }
    const success = op === 'update' ? RC.CHANGED : RC.OK;
    const failedBuiltin = this.applyBuiltin(e, builtin);

    // one handler owns every field: its answer is the answer
    if (groups.size === 1 && builtin.length === 0 && unknown.length === 0) {
      const [[h, fields]] = [...groups];
      const r = this.answers.to(e, reqId, topic);
      this.answers.invoke(() => h.onFields!({ op, device: e.device, topic, reqId, fields, ...r }), r, { device: e.device, topic, reqId, op });
      return;
    }

    // otherwise each handler answers its part and the agent answers once for all
    const parts = [...groups].map(([h, fields]) => {
      let settle!: (v: PartAnswer) => void;
      const p = new Promise<PartAnswer>((res) => (settle = res));
      const timer = setTimeout(() => {
        this.partTimers.delete(timer);
        if (!r.answered()) void r.reply(RC.INTERNAL_ERROR, 'no answer from the handler');
      }, this.handlerTimeoutMs);
      this.partTimers.add(timer);
      const r = answerOnce(reqId, (rc, message, d) => {
        clearTimeout(timer);
        this.partTimers.delete(timer);
        settle({ rc, message, d, fields });
        return Promise.resolve();
      });
      this.answers.invoke(() => h.onFields!({ op, device: e.device, topic, reqId, fields, ...r }), r, { device: e.device, topic, reqId, op });
      return p;
    });
    void Promise.all(parts)
      .then((results) => {
        const failed: string[] = [...unknown, ...failedBuiltin.map((f) => f.field)];
        const messages: string[] = [];
        // the names are the sender's: the text quotes excerpts (d.fields lists them, bounded by the schema)
        if (unknown.length) messages.push(`not found: ${unknown.map((f) => excerpt(f)).join(', ')}`);
        if (failedBuiltin.length) messages.push(...failedBuiltin.map((f) => `${f.field}: ${f.message}`));
        let rc: number = unknown.length ? RC.NOT_FOUND : failedBuiltin.length ? RC.INTERNAL_ERROR : success;
        const values: unknown[] = [];
        for (const res of results) {
          const list = Array.isArray(res.d?.fields) ? (res.d!.fields as unknown[]) : [];
          if (isSuccessRc(res.rc)) {
            values.push(...list);
            continue;
          }
          if (rc === success) rc = res.rc;
          if (res.message) messages.push(res.message);
          const names = list.length ? list.map((x) => (typeof x === 'string' ? x : (x as FieldValue).field)) : res.fields.map((f) => f.field);
          failed.push(...names);
        }
        let d: Record<string, unknown> | undefined;
        if (rc !== success) {
          if (op === 'update') d = { fields: failed };
          else if (op === 'observe') d = { fields: failed.map((field) => ({ field })) };
        } else if (op === 'observe' && values.length) d = { fields: values };
        const message = rc === success ? undefined : messages.join('; ') || RC_TEXT[rc];
        if (reqId) this.answers.auto(e, reqId, rc, message, topic, d);
      })
      .catch((err: Error) => this.events.emit('handlerError', { error: err, device: e.device, topic, reqId, op })); // e.g. a handler's malformed d.fields
  }

  /** location / metadata / deviceInfo of a device/update, applied to the device's own settings. */
  private applyBuiltin(e: DeviceEntry, fields: FieldValue[]): { field: string; message: string }[] {
    const failed: { field: string; message: string }[] = [];
    for (const f of fields) {
      const v = f.value;
      if (!v || typeof v !== 'object' || Array.isArray(v)) {
        failed.push({ field: f.field, message: 'value must be an object' });
        continue;
      }
      const bytes = jsonLength(v);
      if (bytes > BUILTIN_BYTES[f.field]) {
        failed.push({ field: f.field, message: `value of ${bytes} bytes as JSON, more than ${BUILTIN_BYTES[f.field]}` });
        continue;
      }
      if (f.field === 'location') e.location = { ...(v as Record<string, unknown>) };
      else if (f.field === 'metadata') e.metadata = { ...(v as Record<string, unknown>) };
      else e.deviceInfo = { ...(v as DeviceInfo) };
      this.events.emit('attributes', { device: e.device, field: f.field, value: v });
    }
    return failed;
  }
}
