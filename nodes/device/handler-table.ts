/**
 * The handlers plugged into an agent: which handler owns which action and which field, and the
 * `supports` flags they bring to the manage request.
 */
import { STANDARD_ACTIONS, type ActionName, type DmHandler } from './handler-types';

/** A handler of field `mgmt.firmware` also takes `mgmt.firmware.state` etc. */
function fieldOwns(owner: string, field: string): boolean {
  return field === owner || field.startsWith(owner + '.');
}

export class HandlerTable {
  private readonly handlers = new Set<DmHandler>();
  private readonly actionOwners = new Map<string, DmHandler>();
  private readonly fieldOwners = new Map<string, DmHandler>();

  /** @param changed called after a handler was added or removed */
  constructor(private readonly changed: () => void) {}

  /** Add a handler; throws when one of its actions or fields already has a handler. */
  add(handler: DmHandler): void {
    for (const a of handler.actions ?? []) {
      if (!(STANDARD_ACTIONS as readonly string[]).includes(a) && !/^custom:[A-Za-z0-9_.-]{1,255}$/.test(a)) {
        throw new Error(`unknown action "${a}"`);
      }
      if (this.actionOwners.has(a)) throw new Error(`action "${a}" already has a handler (${this.actionOwners.get(a)?.name ?? 'unnamed'})`);
    }
    for (const f of handler.fields ?? []) {
      if (this.fieldOwners.has(f)) throw new Error(`field "${f}" already has a handler (${this.fieldOwners.get(f)?.name ?? 'unnamed'})`);
    }
    this.handlers.add(handler);
    for (const a of handler.actions ?? []) this.actionOwners.set(a, handler);
    for (const f of handler.fields ?? []) this.fieldOwners.set(f, handler);
    this.changed();
  }

  remove(handler: DmHandler): void {
    if (!this.handlers.delete(handler)) return;
    for (const [k, h] of [...this.actionOwners]) if (h === handler) this.actionOwners.delete(k);
    for (const [k, h] of [...this.fieldOwners]) if (h === handler) this.fieldOwners.delete(k);
    this.changed();
  }

  /** The `supports` of the manage request: deviceActions/firmwareActions always present, plus handler flags and custom bundles. */
  supports(): Record<string, boolean> {
    const s: Record<string, boolean> = { deviceActions: false, firmwareActions: false };
    for (const h of this.handlers) {
      for (const [k, v] of Object.entries(h.supports ?? {})) if (v) s[k] = true;
      for (const a of h.actions ?? []) if (a.startsWith('custom:')) s[a.slice(7)] = true;
    }
    return s;
  }

  ownerOfAction(action: ActionName): DmHandler | undefined {
    return this.actionOwners.get(action);
  }

  /** The handler of a field: the one declaring the longest field that owns it and takes fields. */
  ownerOfField(field: string): DmHandler | undefined {
    let owner: DmHandler | undefined;
    let best = -1;
    for (const [f, h] of this.fieldOwners) {
      if (fieldOwns(f, field) && f.length > best && h.onFields) {
        owner = h;
        best = f.length;
      }
    }
    return owner;
  }
}
