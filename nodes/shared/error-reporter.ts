/**
 * Errors that belong to no single message flow (an invalid MQTT message reaching a config node) must
 * still reach a Catch node. Catch nodes only see errors of nodes on their own tab, and a config node
 * usually lives on none: so such an error is reported through one user node per tab, or
 * by the config node itself when no node uses it.
 */
import type { Node, NodeMessage } from 'node-red';

export class ErrorReporter {
  private readonly users = new Set<Node>();

  constructor(private readonly owner: Node) {}

  add(node: Node): void {
    this.users.add(node);
  }

  delete(node: Node): void {
    this.users.delete(node);
  }

  get size(): number {
    return this.users.size;
  }

  /** Call fn on every user node. */
  forEach(fn: (n: Node) => void): void {
    for (const n of this.users) fn(n);
  }

  report(err: Error, msg: NodeMessage): void {
    const tabs = new Set<string>();
    let reported = false;
    for (const n of this.users) {
      const z = (n as unknown as { z?: string }).z ?? '';
      if (tabs.has(z)) continue;
      tabs.add(z);
      n.error(err, msg);
      reported = true;
    }
    if (!reported) this.owner.error(err, msg);
  }
}
