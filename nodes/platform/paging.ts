/**
 * Pages of the management-requests API (docs/protocol.md §5): `{ results, _bookmark? }`, where the
 * bookmark is opaque to the caller and says where the next page starts.
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

/**
 * The page of `all` that starts at `bookmark`, of at most `limit` items, each made by `row` (only the
 * page's items are built); the bookmark of the next page when there is one.
 */
export function bookmarkPage<T, R>(all: readonly T[], bookmark: string | undefined, limit: number, row: (item: T) => R): Page<R> {
  const offset = decodeBookmark(bookmark);
  const out: Page<R> = { results: all.slice(offset, offset + limit).map(row) };
  if (offset + limit < all.length) out._bookmark = encodeBookmark(offset + limit);
  return out;
}
