/**
 * The management-requests API reads its own bodies (1 MB, JSON in UTF-8, errors in IBM's shape),
 * whatever Node-RED put in front of it. Under Node-RED's default roots (httpAdminRoot and
 * httpNodeRoot both "/"), every request first crosses the editor's admin app, whose body-parser
 * (`apiMaxLength`, 5 MB) reads JSON bodies of every path: a 2 MB body reached the API parsed
 * (202 where the README says 413), and malformed JSON got express's HTML error page with a stack
 * trace, before authentication (issue 10, finding 4).
 *
 * The shield is one layer at the head of the server's top express app (the one both RED.httpAdmin's
 * and RED.httpNode's apps are mounted on, found through express' `parent`) that marks the API's
 * requests as read (`req._body = true`, which body-parser honours by passing them on untouched) and
 * tags them, so the API knows their stream is still unread. Nothing else changes for other paths.
 */
import type { IncomingMessage } from 'node:http';

/** set on a request whose body a prior parser was told to leave alone */
export const UNREAD_BODY = Symbol.for('iotdm.unreadBody');

type Layer = { name?: string; handle: unknown };
export interface ShieldTarget {
  use(handler: (req: IncomingMessage, res: unknown, next: () => void) => void): unknown;
  _router?: { stack: Layer[] };
  router?: { stack: Layer[] };
  /** the app this one is mounted on (express sets it on use()) */
  parent?: ShieldTarget;
}

/** The top app above a mounted express app, or undefined when it is mounted on none (tests). */
export function topApp(app: ShieldTarget | undefined): ShieldTarget | undefined {
  if (!app?.parent) return undefined;
  let a = app;
  while (a.parent) a = a.parent;
  return a;
}

/** Whether `pathname` is `prefix` or below it (segment boundary; express matches paths without case). */
function under(pathname: string, prefix: string): boolean {
  const p = pathname.toLowerCase();
  return p === prefix || p.startsWith(`${prefix}/`);
}

/**
 * Put the shield for the API served at `fullPath` (httpNodeRoot + API root, from the server's root)
 * at the head of `app` (the top app, see topApp). Returns the function that takes it out.
 */
export function shieldBodies(app: ShieldTarget, fullPath: string): () => void {
  const prefix = fullPath.replace(/\/+$/, '').toLowerCase();
  const shield = function iotdmBodyShield(req: IncomingMessage, _res: unknown, next: () => void): void {
    const r = req as IncomingMessage & { originalUrl?: string; _body?: boolean; [UNREAD_BODY]?: boolean };
    const url = r.originalUrl ?? r.url ?? '';
    const q = url.indexOf('?');
    if (!r._body && under(q >= 0 ? url.slice(0, q) : url, prefix)) {
      r._body = true;
      r[UNREAD_BODY] = true;
    }
    next();
  };
  app.use(shield);
  const stack = (app._router ?? app.router)?.stack;
  if (stack) {
    // from the end (where use() put it) to just after express' own query/init layers
    const i = stack.findIndex((l) => l.handle === shield);
    const [layer] = stack.splice(i, 1);
    let at = 0;
    while (at < stack.length && (stack[at].name === 'query' || stack[at].name === 'expressInit')) at++;
    stack.splice(at, 0, layer);
  }
  return () => {
    const s = (app._router ?? app.router)?.stack;
    const i = s?.findIndex((l) => l.handle === shield) ?? -1;
    if (s && i >= 0) s.splice(i, 1);
  };
}
