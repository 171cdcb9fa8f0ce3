/**
 * A platform's management requests as the v0002 API sees them (docs/protocol.md §5): the engine
 * (request-engine.ts) that runs them, plus the queries over them: list, details, deviceStatus (all
 * rows, or one device's), cancel and delete, the lists in bookmark pages (paging.ts).
 */
import { deviceKey, type DeviceRef } from '../protocol/topics';
import { MAX_DEVICES } from '../protocol/messages';
import type { MgmtRequest, DeviceStatusRow, RequestDetails } from './management-request';
import { bookmarkPage, type Page } from './paging';
import { RequestRecovery } from './request-recovery';

export { type Publish, type RequestManagerOptions, type RequestManagerEvents } from './request-options';
export { InitiateError, type InitiateOptions } from './request-admission';
export { QueryError, type Page } from './paging';

export interface PageQuery {
  _bookmark?: string;
  _limit?: number;
}

/** `_limit` within 1..MAX_DEVICES, `dflt` when absent */
function limitOf(q: PageQuery, dflt: number): number {
  return Math.min(Math.max(q._limit ?? dflt, 1), MAX_DEVICES);
}

export class RequestManager extends RequestRecovery {
  get(id: string): MgmtRequest | undefined {
    return this.requests.get(id);
  }

  /** Every request held, oldest first (the editor's list, which shows them all). */
  all(): MgmtRequest[] {
    return [...this.requests.values()];
  }

  /** The requests, oldest first, 25 a page unless `_limit` says. Throws QueryError for a bad `_bookmark`. */
  list(opts: PageQuery = {}): Page<RequestDetails> {
    return bookmarkPage([...this.requests.values()], opts._bookmark, limitOf(opts, 25), (r) => r.details());
  }

  details(id: string): RequestDetails | undefined {
    return this.requests.get(id)?.details();
  }

  /** A request's device rows, 100 a page unless `_limit` says. Throws QueryError for a bad `_bookmark`. */
  deviceStatus(id: string, opts: PageQuery = {}): Page<DeviceStatusRow> | undefined {
    const req = this.requests.get(id);
    if (!req) return undefined;
    return bookmarkPage(req.executions, opts._bookmark, limitOf(opts, 100), (e) => req.row(e));
  }

  deviceStatusOf(id: string, device: DeviceRef): DeviceStatusRow | undefined {
    const req = this.requests.get(id);
    const exec = req?.byKey.get(deviceKey(device));
    return req && exec ? req.row(exec) : undefined;
  }

  /** Cancel: every device still running is marked cancelled and the request completes (§5). */
  cancel(id: string): RequestDetails | undefined {
    const req = this.requests.get(id);
    if (!req) return undefined;
    this.cancelRunning(req, 'cancelled');
    return req.details();
  }

  /** Delete (clear) a request's status; a running one is cancelled first. */
  delete(id: string): boolean {
    const req = this.requests.get(id);
    if (!req) return false;
    this.cancel(id);
    this.remove(id);
    return true;
  }
}
