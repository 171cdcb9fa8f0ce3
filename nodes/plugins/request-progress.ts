/**
 * Live progress of a RequestManager's requests for a user interface: every change of a request
 * (created, a device finished, complete, removed) becomes one progress message, at most one per
 * request per `intervalMs` (the first at once, the last change of a burst at the end of the
 * interval), so a 5,000-device request finishing in a second costs a handful of messages, not 5,000.
 * The final state of a request is always delivered.
 */
import type { RequestManager } from '../platform/request-manager';
import type { MgmtRequest, RequestDetails } from '../platform/management-request';

export type ProgressMessage = { request: RequestDetails } | { removed: string };

interface Slot {
  timer?: NodeJS.Timeout;
  /** a change happened since the last message */
  dirty: boolean;
  req: MgmtRequest;
}

export class RequestProgress {
  private readonly slots = new Map<string, Slot>();
  private readonly changed = (req: MgmtRequest): void => {
    let slot = this.slots.get(req.id);
    if (!slot) this.slots.set(req.id, (slot = { dirty: false, req }));
    if (slot.timer) {
      slot.dirty = true;
      return;
    }
    this.emit(slot);
  };
  private readonly removed = (id: string): void => {
    const slot = this.slots.get(id);
    if (slot?.timer) clearTimeout(slot.timer);
    this.slots.delete(id);
    this.send({ removed: id });
  };

  constructor(
    private readonly manager: RequestManager,
    private readonly send: (message: ProgressMessage) => void,
    private readonly intervalMs = 250,
  ) {
    manager.on('requestCreated', this.changed);
    manager.on('deviceComplete', this.changed);
    manager.on('requestComplete', this.changed);
    manager.on('requestRemoved', this.removed);
  }

  private emit(slot: Slot): void {
    slot.dirty = false;
    this.send({ request: slot.req.details() });
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      if (slot.dirty) this.emit(slot);
      else this.slots.delete(slot.req.id);
    }, this.intervalMs);
    slot.timer.unref?.();
  }

  /** Stop listening; a pending last message of each request is sent now. (A second call does nothing.) */
  close(): void {
    for (const slot of this.slots.values()) {
      if (slot.timer) clearTimeout(slot.timer);
      if (slot.dirty) this.send({ request: slot.req.details() });
    }
    this.slots.clear();
    this.manager.off('requestCreated', this.changed);
    this.manager.off('deviceComplete', this.changed);
    this.manager.off('requestComplete', this.changed);
    this.manager.off('requestRemoved', this.removed);
  }
}
