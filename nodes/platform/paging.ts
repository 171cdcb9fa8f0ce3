/**
 * The project's two kinds of page over one list, both cut by one window():
 * - the management-requests API's (docs/protocol.md §5): `{ results, _bookmark? }`, where the
 *   bookmark is opaque to the caller and says where the next page starts;
 * - the editor's (the sidebar's registry pages and request rows): offset and limit, clamped, never
 *   refused, with the total.
 */

export interface Page<T> {
  results: T[];
  _bookmark?: string;
}

/** A query the API refuses (400): today a `_bookmark` this platform did not hand out. */
export class QueryError extends Error {
  readonly statusCode = 400;
  constructor(
    message: string,
    /** the query parameter at fault */
    readonly parameter: string,
  ) {
    super(message);
    this.name = 'QueryError';
  }
}

function encodeBookmark(offset: number): string {
  return Buffer.from(`o:${offset}`).toString('base64url');
}

function decodeBookmark(b: string | undefined): number {
  if (!b) return 0;
  const m = /^o:(\d+)$/.exec(Buffer.from(b, 'base64url').toString());
  if (!m) throw new QueryError('invalid _bookmark', '_bookmark');
  return parseInt(m[1], 10);
}

/** The items from `offset`, at most `limit` of them, and where the next page starts if any. */
function window<T>(all: readonly T[], offset: number, limit: number): { rows: T[]; next?: number } {
  const rows = all.slice(offset, offset + limit);
  return offset + limit < all.length ? { rows, next: offset + limit } : { rows };
}

/**
 * The page of `all` that starts at `bookmark`, of at most `limit` items, each made by `row` (only the
 * page's items are built); the bookmark of the next page when there is one.
 */
export function bookmarkPage<T, R>(all: readonly T[], bookmark: string | undefined, limit: number, row: (item: T) => R): Page<R> {
  const { rows, next } = window(all, decodeBookmark(bookmark), limit);
  const out: Page<R> = { results: rows.map(row) };
  if (next !== undefined) out._bookmark = encodeBookmark(next);
  return out;
}

/** The largest offset page a caller may ask for. */
export const MAX_PAGE = 500;

export interface OffsetPage<T> {
  total: number;
  offset: number;
  limit: number;
  rows: T[];
}

/**
 * The offset page of `all` for a user interface: limit clamped to 1..MAX_PAGE (default 50), offset
 * to 0 and above, and an offset past the end gives the last page (never refused, never empty when
 * there are rows).
 */
export function offsetPage<T>(all: readonly T[], offset = 0, limit = 50): OffsetPage<T> {
  const l = Math.min(Math.max(Math.floor(limit), 1), MAX_PAGE);
  let o = Math.max(Math.floor(offset), 0);
  if (o >= all.length) o = all.length === 0 ? 0 : Math.floor((all.length - 1) / l) * l;
  return { total: all.length, offset: o, limit: l, rows: window(all, o, l).rows };
}
