/**
 * Serving a test Node-RED's RED.httpNode over real HTTP. node-red-node-test-helper gives each
 * loaded flow a fresh express app as RED.httpNode and does not route its own startServer() to it,
 * so the tests capture RED.httpNode with a tiny node module and serve it from a node:http server,
 * the way node-red/red.js does (`app.use(httpNodeRoot, RED.httpNode)`).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { nodeRedHelper, unloadFlow } from '../support/nodered';

type App = (req: http.IncomingMessage, res: http.ServerResponse) => void;

let httpNode: App | undefined;

/** A node module to load with the flow: it keeps the RED.httpNode of the runtime. */
export const captureHttpNode = (RED: { httpNode: App }): void => {
  httpNode = RED.httpNode;
};

export interface NodeRedHttp {
  url: string;
  close(): Promise<void>;
}

export async function startHttp(): Promise<NodeRedHttp> {
  const server = http.createServer((req, res) => {
    if (!httpNode) {
      res.statusCode = 503;
      res.end();
      return;
    }
    httpNode(req, res);
  });
  server.keepAliveTimeout = 500;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * The hooks of a suite whose flows are reached over HTTP: the test helper and the server start
 * before it; after it the flow is unloaded and the server closed. Returns the server's base URL.
 */
export function serveHttpNode(): { readonly url: string } {
  let web: NodeRedHttp | undefined;
  before(async () => {
    nodeRedHelper();
    web = await startHttp();
  });
  after(async () => {
    await unloadFlow();
    await web?.close();
  });
  return {
    get url() {
      return web!.url;
    },
  };
}

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  json: any;
}

export async function call(
  base: string,
  method: string,
  path: string,
  opts: { auth?: string | null; body?: unknown; raw?: string | Buffer; type?: string } = {},
): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (opts.auth) headers.authorization = opts.auth;
  let body: string | Buffer | undefined;
  if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers['content-type'] = 'application/json';
  }
  if (opts.raw !== undefined) body = opts.raw;
  if (opts.type !== undefined) headers['content-type'] = opts.type;
  const r = await fetch(base + path, { method, headers, body: body as BodyInit | undefined });
  const text = await r.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: r.status, headers: r.headers, text, json };
}

export const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

/** Poll until `fn` returns a value (not undefined / false). */
export async function until<T>(fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 5000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v as T;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
