/**
 * One value a node keeps in its context (firmware-state's records): read
 * back once at start, and written shortly after it changes, many changes making one write. Reading
 * or writing never throws: a failure is handed to `warn` (the node's log), and a failed read
 * restores nothing.
 */
import type { Node } from 'node-red';

export interface ContextSlotOptions {
  key: string;
  /** the context store; undefined: the default one */
  store?: string;
  /** how long after a change the value is written */
  delayMs: number;
  /** the value to write; undefined writes nothing */
  value(): unknown;
  warn(what: 'save' | 'restore', err: Error): void;
}

export class ContextSlot {
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly node: Node,
    private readonly opts: ContextSlotOptions,
  ) {}

  /** Hand `done` what the context holds (undefined when nothing, or when it could not be read). */
  restore(done: (value: unknown) => void): void {
    const { key, store } = this.opts;
    try {
      this.node.context().get(key, store as string, (err: Error | null | undefined, value: unknown) => {
        if (err) this.opts.warn('restore', err);
        done(err ? undefined : value);
      });
    } catch (err) {
      this.opts.warn('restore', err as Error);
      done(undefined);
    }
  }

  /** The value changed: write it within delayMs. */
  changed(): void {
    this.timer ??= setTimeout(() => this.save(), this.opts.delayMs);
  }

  /** Write now, whether or not anything changed. */
  save(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const value = this.opts.value();
    if (value === undefined) return;
    try {
      this.node.context().set(this.opts.key, value, this.opts.store as string);
    } catch (err) {
      this.opts.warn('save', err as Error);
    }
  }
}
