/**
 * The agent's own requests (manage, unmanage, location, diag, notify with reqId) waiting for the
 * platform's response on `iotdm-1/type/T/id/D/response`, matched by reqId and device.
 */
import type { DmResponse } from '../protocol/messages';
import type { DevicePort } from './device-port';

interface Waiter {
  /** the key of the device that sent it: a response is only taken from that device's topic */
  owner: string;
  resolve(r: DmResponse): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

export interface SentRequest {
  published: Promise<void>;
  response: Promise<DmResponse>;
}

export class PendingRequests {
  private readonly waiting = new Map<string, Waiter>();

  constructor(
    private readonly port: Pick<DevicePort, 'publish'>,
    private readonly timeoutMs: number,
  ) {}

  /** Publish a request and wait for its response; a failed publish rejects the response too. */
  send(owner: string, topic: string, what: string, body: { reqId: string }): SentRequest {
    let timer!: NodeJS.Timeout;
    const response = new Promise<DmResponse>((resolve, reject) => {
      timer = setTimeout(() => {
        this.waiting.delete(body.reqId);
        reject(new Error(`no response to ${what} ${body.reqId} within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.waiting.set(body.reqId, { owner, resolve, reject, timer });
    });
    const published = this.port.publish(topic, JSON.stringify(body), 1).catch((err: Error) => {
      this.settle(body.reqId, (w) => w.reject(err));
      throw err;
    });
    return { published, response };
  }

  /** Hand a response to the request of `owner` waiting for it; false when none does. */
  resolve(owner: string, r: DmResponse): boolean {
    const w = this.waiting.get(r.reqId);
    if (!w || w.owner !== owner) return false;
    this.settle(r.reqId, (x) => x.resolve(r));
    return true;
  }

  /** Fail every waiting request (the agent stops). */
  rejectAll(err: Error): void {
    for (const reqId of [...this.waiting.keys()]) this.settle(reqId, (w) => w.reject(err));
  }

  private settle(reqId: string, how: (w: Waiter) => void): void {
    const w = this.waiting.get(reqId);
    if (!w) return;
    clearTimeout(w.timer);
    this.waiting.delete(reqId);
    how(w);
  }
}

/**
 * The response, once the request is published. A failed publish rejects the response as well:
 * the caller hears of it once, through `published`, and the response's rejection is handled here.
 */
export async function responseOf(sent: SentRequest): Promise<DmResponse> {
  sent.response.catch(() => undefined);
  await sent.published;
  return sent.response;
}
