/**
 * Serving an HttpApi under a root path of an express application (RED.httpNode), through express's
 * public API only. Express (and Node-RED) cannot take a route out again, so each root gets one
 * dispatching layer the first time it is served, for the life of the application; the layer hands
 * each request to the api that serves the root now, or passes it on (`next`) when none does. A
 * redeploy swaps the api behind the layer; layers never pile up.
 */
import type { ApiHandler, HttpApi } from './http-api';

/** The part of an express application (4 or 5) that mounting needs. */
export interface MountTarget {
  use(path: string, handler: ApiHandler): unknown;
}

/** per application: the api serving each root (lower case), undefined once it is unmounted */
const served = new WeakMap<object, Map<string, HttpApi | undefined>>();

/** A root path: segments of unreserved characters, no trailing slash. */
function isValidApiRoot(root: unknown): root is string {
  return typeof root === 'string' && root.length <= 256 && /^(\/[A-Za-z0-9._~-]+)+$/.test(root) && !/\/\.\.?(\/|$)/.test(root);
}

export class MountError extends Error {
  constructor(
    message: string,
    readonly reason: 'invalid-root' | 'root-in-use',
  ) {
    super(message);
  }
}

/**
 * Serve `api` under `root` of `app`, and return the unmount: it closes the api (so a request
 * already handed to it passes on) and leaves the root to the next api mounted there. One api per
 * root and app (express matches mount paths without case).
 */
export function mountApi(app: MountTarget, root: string, api: HttpApi): () => void {
  if (!isValidApiRoot(root)) throw new MountError(`invalid API root "${root}"`, 'invalid-root');
  let roots = served.get(app);
  if (!roots) served.set(app, (roots = new Map()));
  const live = roots;
  const key = root.toLowerCase();
  if (live.get(key)) throw new MountError(`the API root "${root}" is already served`, 'root-in-use');
  if (!live.has(key)) {
    app.use(root, (req, res, next) => {
      const current = live.get(key);
      if (current) current.handle(req, res, next);
      else next?.();
    });
  }
  live.set(key, api);
  let done = false;
  return () => {
    if (done) return;
    done = true;
    api.close();
    if (live.get(key) === api) live.set(key, undefined);
  };
}
