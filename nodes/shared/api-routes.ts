import type { IncomingMessage } from 'node:http';

/**
 * More routes under the same root (nodes/shared/rollout-api.ts): they share the authentication,
 * the body rules and the error shape of the management-requests routes.
 */
export interface RouteContext {
  req: IncomingMessage;
  q: URLSearchParams;
  /** the JSON body, within the API's limits (415 / 400 / 413 otherwise) */
  body(): Promise<unknown>;
  send(statusCode: number, body?: unknown): void;
  /** `_limit` and `_bookmark`, checked */
  paging(): { _limit?: number; _bookmark?: string };
  /** a query parameter given at most once */
  single(name: string): string | undefined;
}
export interface ExtraRoute {
  allow: string[];
  serve(x: RouteContext): Promise<void>;
}
/** The route of the decoded path segments under the root, or undefined when it is not this one's. */
export type ExtraRoutes = (segments: string[]) => ExtraRoute | undefined;

/** The first of `routes` that serves `url` (a path under the API root); `invalidPath` for a bad escape. */
export function matchRoute(routes: ExtraRoutes[] | undefined, url: string, invalidPath: () => Error): ExtraRoute | undefined {
  if (!routes?.length) return undefined;
  const parts = new URL(url, 'http://api.invalid').pathname.replace(/\/+$/, '').split('/').slice(1);
  if (parts.some((p) => p === '')) return undefined;
  let decoded: string[];
  try {
    decoded = parts.map((p) => decodeURIComponent(p));
  } catch {
    throw invalidPath();
  }
  for (const r of routes) {
    const found = r(decoded);
    if (found) return found;
  }
  return undefined;
}
