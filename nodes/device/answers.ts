/**
 * Answers to the platform's requests: one reply per request (a second one rejects), the answers the
 * agent gives by itself (400, 404, 501, the combined answer of several handlers), and a handler's
 * throw or rejection answered 500.
 */
import { deviceTopic, DevicePath } from '../protocol/topics';
import { RC } from '../protocol/rc';
import type { Answerer, ReplyFn } from './handler-types';
import type { AgentEmit, DeviceEntry, HandlerErrorEvent } from './agent-model';
import type { DevicePort } from './device-port';

/** A reply that goes through `send` once; every later call rejects. */
export function answerOnce(reqId: string | undefined, send: ReplyFn): Answerer {
  let done = false;
  const reply: ReplyFn = (rc, message, d) => {
    if (done) return Promise.reject(new Error(`request ${reqId} was already answered`));
    done = true;
    return send(rc, message, d);
  };
  return { reply, answered: () => done };
}

export class Answers {
  constructor(
    private readonly port: Pick<DevicePort, 'publish'>,
    private readonly events: AgentEmit,
  ) {}

  /** The reply of one request, published on the device's response topic; `reqId` undefined → a no-op (nothing to answer). */
  to(e: DeviceEntry, reqId: string | undefined, topic: string): Answerer {
    return answerOnce(reqId, (rc, message, d) => {
      if (!reqId) return Promise.resolve();
      if (!Number.isInteger(rc) || rc < 100 || rc > 999) return Promise.reject(new Error(`invalid rc ${rc}`));
      // key order matters: reqId first, rc second (IBM's embedded C client, docs/protocol.md §7.14)
      const out: Record<string, unknown> = { reqId, rc };
      if (message !== undefined && message !== '') out.message = String(message);
      if (d !== undefined) out.d = d;
      this.events.emit('answered', { device: e.device, reqId, rc, topic });
      return this.port.publish(deviceTopic(DevicePath.response, e.device), JSON.stringify(out), 1);
    });
  }

  /** An answer of the agent's own; a failure to send it is only worth a debug line. */
  auto(e: DeviceEntry, reqId: string, rc: number, message: string | undefined, topic: string, d?: Record<string, unknown>): void {
    this.to(e, reqId, topic)
      .reply(rc, message, d)
      .catch((err: Error) => this.events.emit('debug', `answer ${rc} to ${reqId} not sent: ${err.message}`));
  }

  /** Call a handler; a throw or a rejection answers 500 unless it already answered. */
  invoke(call: () => void | Promise<void>, r: Answerer, ctx: Omit<HandlerErrorEvent, 'error'>): void {
    const fail = (err: unknown) => {
      const error = err instanceof Error ? err : new Error(String(err));
      this.events.emit('handlerError', { error, ...ctx });
      if (!r.answered()) r.reply(RC.INTERNAL_ERROR, error.message).catch(() => undefined);
    };
    try {
      const p = call();
      if (p && typeof (p as Promise<void>).then === 'function') (p as Promise<void>).then(undefined, fail);
    } catch (err) {
      fail(err);
    }
  }
}
