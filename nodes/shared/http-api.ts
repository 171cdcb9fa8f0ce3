/**
 * The Watson IoT v0002 management-requests API (docs/protocol.md §5) as one connect/express handler over
 * a RequestManager: the routes, HTTP Basic authentication with the platform's API key and token, the
 * JSON body rules (415 / 400 / 413) and IBM's error shape `{message, exception: {id, properties}}`.
 *
 * The handler only uses node:http's request and response, so it runs under Node-RED's express 4
 * (RED.httpNode), express 5 or a bare http.Server alike; it is mounted with `mountApi`
 * (http-mount.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { InitiateError, QueryError, type RequestManager } from '../platform/request-manager';
import { sameSecret } from '../transport/same-secret';
import { HttpError } from './http-error';
import { MAX_DEVICES } from '../protocol/messages';
import { excerpt } from '../protocol/bounds';
import { UNREAD_BODY } from './body-shield';
import { enrolmentRouteOf, serveEnrolment, type EnrolmentDoor, type EnrolmentRoute } from './enrolment-routes';
import { matchRoute, type ExtraRoute, type ExtraRoutes, type RouteContext } from './api-routes';

export interface ApiCredentials {
  apiKey?: string;
  apiToken?: string;
}

/** The message catalogue: keys under `iotdm-platform.api.` in locales/<lang>/iotdm-platform.json. */
export type Translate = (key: ApiMessageKey, vars?: Record<string, string | number>) => string;

export type ApiMessageKey =
  | 'unauthorized'
  | 'no-credentials'
  | 'no-body'
  | 'unsupported-media-type'
  | 'invalid-json'
  | 'body-too-large'
  | 'invalid-query'
  | 'invalid-path'
  | 'method-not-allowed'
  | 'request-not-found'
  | 'status-not-found'
  | 'internal'
  | 'reason-twice'
  | 'reason-limit'
  | 'reason-bookmark'
  | 'reason-boolean';

export interface HttpApiOptions {
  /** read on every request, so a credentials change needs no remount */
  credentials: () => ApiCredentials;
  t: Translate;
  /** largest accepted body (default 1 MiB; a 5,000-device body is about 300 KB) */
  maxBodyBytes?: number;
  /** Basic realm of WWW-Authenticate (default "iotdm") */
  realm?: string;
  /** an unexpected failure answered with 500 */
  onError?: (err: Error) => void;
  /** serve the enrolment routes (IBM's bulk add / remove and device get) over this enrolment */
  enrolment?: EnrolmentDoor;
  /** more routes under the same root */
  routes?: ExtraRoutes[];
}

type Next = (err?: unknown) => void;
export type ApiHandler = (req: IncomingMessage, res: ServerResponse, next?: Next) => void;

export interface HttpApi {
  handle: ApiHandler;
  /** stop answering: every later call passes to `next` */
  close(): void;
}

const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

interface ErrorBody {
  message: string;
  exception: { id: string; properties: string[] };
}

/** The client went away before its body ended: nobody is left to answer. */
class ClientGone extends Error {}

type RouteName = 'requests' | 'request' | 'deviceStatus' | 'deviceStatusOf' | 'cancel' | EnrolmentRoute;

interface Route {
  name: RouteName;
  allow: string[];
  id?: string;
  typeId?: string;
  deviceId?: string;
}

/** The route of a path relative to the API root, or undefined when it is not ours. */
function routeOf(pathname: string, t: Translate, enrolment: boolean): Route | undefined {
  const parts = pathname.replace(/\/+$/, '').split('/').slice(1);
  if (enrolment && parts[0] !== 'mgmt') return enrolmentRouteOf(parts);
  if (parts[0] !== 'mgmt' || parts[1] !== 'requests') return undefined;
  const rest = parts.slice(2);
  if (rest.some((p) => p === '')) return undefined;
  let decoded: string[];
  try {
    decoded = rest.map((p) => decodeURIComponent(p));
  } catch {
    throw new HttpError(400, 'invalid-path', t('invalid-path'));
  }
  const [id, sub, typeId, deviceId] = decoded;
  switch (rest.length) {
    case 0:
      return { name: 'requests', allow: ['GET', 'POST'] };
    case 1:
      return { name: 'request', allow: ['GET', 'DELETE'], id };
    case 2:
      if (sub === 'deviceStatus') return { name: 'deviceStatus', allow: ['GET'], id };
      if (sub === 'cancel') return { name: 'cancel', allow: ['POST'], id };
      return undefined;
    case 4:
      return sub === 'deviceStatus' ? { name: 'deviceStatusOf', allow: ['GET'], id, typeId, deviceId } : undefined;
    default:
      return undefined;
  }
}

function basicCredentials(header: string | undefined): { user: string; pass: string } | undefined {
  const m = /^Basic[ \t]+([A-Za-z0-9+/=._~-]+)[ \t]*$/i.exec(header ?? '');
  if (!m) return undefined;
  const text = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon < 0) return undefined;
  return { user: text.slice(0, colon), pass: text.slice(colon + 1) };
}

/** `?name=value` given at most once (a repeated parameter is refused, not guessed). */
function single(q: URLSearchParams, name: string, t: Translate): string | undefined {
  const all = q.getAll(name);
  if (all.length > 1) throw new HttpError(400, 'invalid-query', t('invalid-query', { name, reason: t('reason-twice') }));
  return all[0];
}

function paging(q: URLSearchParams, t: Translate): { _limit?: number; _bookmark?: string } {
  const out: { _limit?: number; _bookmark?: string } = {};
  const limit = single(q, '_limit', t);
  if (limit !== undefined) {
    const n = /^[0-9]{1,9}$/.test(limit) ? Number(limit) : NaN;
    // the largest page is the protocol's largest request (docs/protocol.md §5)
    if (!(n >= 1 && n <= MAX_DEVICES))
      throw new HttpError(400, 'invalid-query', t('invalid-query', { name: '_limit', reason: t('reason-limit', { max: MAX_DEVICES }) }));
    out._limit = n;
  }
  const bookmark = single(q, '_bookmark', t);
  if (bookmark !== undefined) {
    if (bookmark === '' || bookmark.length > 1024)
      throw new HttpError(400, 'invalid-query', t('invalid-query', { name: '_bookmark', reason: t('reason-bookmark') }));
    out._bookmark = bookmark;
  }
  return out;
}

function override(q: URLSearchParams, t: Translate): boolean {
  const v = single(q, 'override', t);
  if (v === undefined) return false;
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new HttpError(400, 'invalid-query', t('invalid-query', { name: 'override', reason: t('reason-boolean') }));
}

function hasBody(req: IncomingMessage): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const len = req.headers['content-length'];
  return len !== undefined && len !== '0';
}

/**
 * Read a JSON body within `limit` bytes. Beyond it the rest is discarded and 413 answered. The
 * rules hold whatever ran before: a body a prior parser already read (an httpNodeMiddleware body
 * parser; the admin app's is kept off by body-shield.ts) is held to the same media type and limit,
 * measured by its declared length and by its length as JSON.
 */
function readJson(req: IncomingMessage, limit: number, t: Translate): Promise<unknown> {
  const pre = req as IncomingMessage & { _body?: boolean; body?: unknown; [UNREAD_BODY]?: boolean };
  const parsedBefore = pre._body === true && !pre[UNREAD_BODY];
  if (!hasBody(req) && !parsedBefore) return Promise.reject(new HttpError(400, 'no-body', t('no-body')));
  const type = (req.headers['content-type'] ?? '').toLowerCase();
  const [media, ...params] = type.split(';').map((s) => s.trim());
  const charset = params.map((p) => /^charset=("?)([^"]*)\1$/.exec(p)?.[2]).find((c) => c !== undefined);
  const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
  if (
    !(media === 'application/json' || /^application\/[a-z0-9.+-]+\+json$/.test(media)) ||
    (charset !== undefined && charset !== 'utf-8') ||
    encoding !== 'identity'
  ) {
    if (!parsedBefore) req.resume();
    return Promise.reject(new HttpError(415, 'unsupported-media-type', t('unsupported-media-type')));
  }
  const tooLarge = () => new HttpError(413, 'body-too-large', t('body-too-large', { limit }));
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    if (!parsedBefore) req.resume();
    return Promise.reject(tooLarge());
  }
  if (parsedBefore) {
    let length: number;
    try {
      length = JSON.stringify(pre.body ?? null).length;
    } catch (err) {
      return Promise.reject(new HttpError(400, 'invalid-json', t('invalid-json', { error: excerpt((err as Error).message, 100) })));
    }
    if (length > limit) return Promise.reject(tooLarge());
    if (pre.body === undefined || (typeof pre.body === 'object' && pre.body !== null && Object.keys(pre.body).length === 0 && !hasBody(req))) {
      return Promise.reject(new HttpError(400, 'no-body', t('no-body')));
    }
    return Promise.resolve(pre.body);
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (err: Error | undefined, value?: unknown) => {
      if (settled) return;
      settled = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
      if (err) {
        req.resume(); // drain what is left, so the client reads our answer
        reject(err);
      } else resolve(value);
    };
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > limit) return settle(tooLarge());
      chunks.push(c);
    };
    const onEnd = () => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') return settle(new HttpError(400, 'no-body', t('no-body')));
      try {
        settle(undefined, JSON.parse(text));
      } catch (err) {
        // V8's text quotes the start of the body: escaped and capped
        settle(new HttpError(400, 'invalid-json', t('invalid-json', { error: excerpt((err as Error).message, 100) })));
      }
    };
    const onError = (err: Error) => settle(err);
    const onClose = () => settle(new ClientGone('the client closed the connection before the body ended'));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

function send(res: ServerResponse, statusCode: number, body?: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.writableEnded || res.destroyed) return;
  res.statusCode = statusCode;
  res.setHeader('Cache-Control', 'no-store');
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  if (body === undefined) {
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}

function errorBody(e: HttpError): ErrorBody {
  return { message: e.message, exception: { id: e.id, properties: e.properties } };
}

const INITIATE_IDS: Record<InitiateError['statusCode'], string> = {
  400: 'invalid-request',
  403: 'unable-devices',
  404: 'unknown-devices',
  409: 'busy-devices',
};

/** The management-requests API over `requests`. */
export function createHttpApi(requests: RequestManager, options: HttpApiOptions): HttpApi {
  const { t } = options;
  const maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const challenge = { 'WWW-Authenticate': `Basic realm="${options.realm ?? 'iotdm'}"` };
  let open = true;

  function authenticate(req: IncomingMessage): void {
    const { apiKey, apiToken } = options.credentials();
    if (!apiKey || !apiToken) throw new HttpError(401, 'no-credentials', t('no-credentials'), [], challenge);
    const given = basicCredentials(req.headers.authorization);
    // both comparisons always run: the answer time says nothing about which half was wrong
    const keyOk = sameSecret(given?.user ?? '', apiKey);
    const tokenOk = sameSecret(given?.pass ?? '', apiToken);
    if (!given || !keyOk || !tokenOk) throw new HttpError(401, 'unauthorized', t('unauthorized'), [], challenge);
  }

  const notFound = (key: 'request-not-found' | 'status-not-found', id: string) => new HttpError(404, 'not-found', t(key, { id }), [id]);

  async function serve(route: Route, req: IncomingMessage, res: ServerResponse, q: URLSearchParams): Promise<void> {
    switch (route.name) {
      case 'requests':
        if (req.method === 'POST') {
          const ov = override(q, t);
          const body = await readJson(req, maxBody, t);
          const created = requests.initiate(body, { strict: true, override: ov, origin: 'http' });
          return send(res, 202, { reqId: created.id });
        }
        return send(res, 200, requests.list(paging(q, t)));
      case 'request':
        if (req.method === 'DELETE') {
          if (!requests.delete(route.id!)) throw notFound('request-not-found', route.id!);
          return send(res, 204);
        }
        return found(res, requests.details(route.id!), () => notFound('request-not-found', route.id!));
      case 'deviceStatus':
        return found(res, requests.deviceStatus(route.id!, paging(q, t)), () => notFound('status-not-found', route.id!));
      case 'deviceStatusOf':
        return found(res, requests.deviceStatusOf(route.id!, { typeId: route.typeId!, deviceId: route.deviceId! }), () =>
          notFound('status-not-found', route.id!),
        );
      case 'cancel':
        return found(res, requests.cancel(route.id!), () => notFound('request-not-found', route.id!));
      default: {
        const body = req.method === 'POST' ? await readJson(req, maxBody, t) : undefined;
        const a = await serveEnrolment(route as Route & { name: EnrolmentRoute }, options.enrolment!, body);
        return send(res, a.statusCode, a.payload);
      }
    }
  }

  function found(res: ServerResponse, value: unknown, missing: () => HttpError): void {
    if (value === undefined) throw missing();
    send(res, 200, value);
  }

  function fail(res: ServerResponse, err: unknown): void {
    let e: HttpError;
    if (err instanceof HttpError) e = err;
    else if (err instanceof InitiateError) {
      // the devices at fault, or for an invalid body the validator's paths (e.g. "/devices/0/deviceId")
      const props = err.paths.length ? err.paths : err.devices.slice(0, 100).map((d) => `${d.typeId}:${d.deviceId}`);
      e = new HttpError(err.statusCode, INITIATE_IDS[err.statusCode], err.message, props);
    } else if (err instanceof QueryError) {
      e = new HttpError(400, 'invalid-query', t('invalid-query', { name: err.parameter, reason: t('reason-bookmark') }));
    } else {
      if (res.destroyed || err instanceof ClientGone) return; // nobody to answer
      const error = err instanceof Error ? err : new Error(String(err));
      options.onError?.(error);
      e = new HttpError(500, 'internal', t('internal', { error: error.message }));
    }
    send(res, e.statusCode, errorBody(e), e.headers);
  }

  const handle: ApiHandler = (req, res, next) => {
    if (!open) return next ? next() : send(res, 404);
    let route: Route | undefined;
    let q: URLSearchParams;
    try {
      const url = new URL(req.url ?? '/', 'http://api.invalid');
      q = url.searchParams;
      route = routeOf(url.pathname, t, !!options.enrolment);
    } catch (err) {
      return fail(res, err);
    }
    let extra: ExtraRoute | undefined;
    if (!route) {
      try {
        extra = matchRoute(options.routes, req.url ?? '/', () => new HttpError(400, 'invalid-path', t('invalid-path')));
      } catch (err) {
        return fail(res, err);
      }
      if (!extra) return next ? next() : send(res, 404);
    }
    try {
      authenticate(req);
      const allow = route?.allow ?? extra!.allow;
      if (!allow.includes(req.method ?? '')) {
        throw new HttpError(405, 'method-not-allowed', t('method-not-allowed', { method: req.method ?? '' }), [], { Allow: allow.join(', ') });
      }
    } catch (err) {
      return fail(res, err);
    }
    if (extra) {
      const x: RouteContext = {
        req,
        q,
        body: () => readJson(req, maxBody, t),
        send: (code, body) => send(res, code, body),
        paging: () => paging(q, t),
        single: (name) => single(q, name, t),
      };
      extra.serve(x).catch((err) => fail(res, err));
      return;
    }
    serve(route!, req, res, q).catch((err) => fail(res, err));
  };

  return {
    handle,
    close() {
      open = false;
    },
  };
}
