/**
 * A rollout's management requests still running, each with the rollout's device index of each of
 * its executions, in their order (exec.index): a device that finishes is found by its position in
 * its request, not by a search through a map of the whole rollout (50,000 entries and more).
 */
import type { DeviceExecution, MgmtRequest } from '../management-request';

export class RolloutRequests {
  private readonly byId = new Map<string, { req: MgmtRequest; entries: readonly number[] }>();

  get size(): number {
    return this.byId.size;
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  /** `entries[k]`: the device index of the request's k-th execution (-1: not one of the rollout's) */
  add(req: MgmtRequest, entries: readonly number[]): void {
    this.byId.set(req.id, { req, entries });
  }

  /** A request the engine took up again after a restart: its executions found by device key in `index`. */
  follow(req: MgmtRequest, index: ReadonlyMap<string, number>): void {
    this.add(
      req,
      req.executions.map((x) => index.get(x.key) ?? -1),
    );
  }

  /** The device index of `exec`, undefined when its request is not one of these. */
  entryOf(req: MgmtRequest, exec: DeviceExecution): number | undefined {
    const i = this.byId.get(req.id)?.entries[exec.index];
    return i === undefined || i < 0 ? undefined : i;
  }

  delete(id: string): void {
    this.byId.delete(id);
  }

  clear(): void {
    this.byId.clear();
  }

  /** the requests, copied (cancelling one ends it, and removes it from here) */
  list(): MgmtRequest[] {
    return [...this.byId.values()].map((r) => r.req);
  }
}
