import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { Registry } from '../../nodes/platform/registry';
import { RequestManager } from '../../nodes/platform/request-manager';
import { createHttpApi } from '../../nodes/shared/http-api';
import { mountApi, MountError } from '../../nodes/shared/http-mount';
import { call, basic } from './support';

/**
 * mountApi on a real express 4 application (the one Node-RED gives as RED.httpNode), through its
 * public use() only: a root served, unmounted and served again by another api answers with the
 * live one, an unmounted root passes requests on, and redeploys add no layer to the application.
 */
describe('http API: mounting on an express application', () => {
  let server: http.Server;
  let url: string;
  let app: express.Express;
  const registry = new Registry();
  const requests = new RequestManager(registry, async () => undefined);
  const apiFor = (apiKey: string, apiToken: string) => createHttpApi(requests, { credentials: () => ({ apiKey, apiToken }), t: (key) => key });

  beforeEach(async () => {
    app = express();
    server = http.createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterEach(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  after(() => {
    requests.close();
    registry.close();
  });

  it('serves the live api of a root; an unmounted root passes on; remounting adds no layer', async () => {
    const list = (auth: string) => call(url, 'GET', '/dm/mgmt/requests', { auth });
    const unmountA = mountApi(app, '/dm', apiFor('ka', 'ta'));
    assert.equal((await list(basic('ka', 'ta'))).status, 200);
    assert.throws(
      () => mountApi(app, '/DM', apiFor('kb', 'tb')),
      (e: MountError) => e.reason === 'root-in-use',
    );
    unmountA();
    // nobody serves /dm: express's own final handler answers, not the api
    const gone = await list(basic('ka', 'ta'));
    assert.equal(gone.status, 404);
    assert.equal(gone.json, undefined);
    // express keeps what use() added: count its layers after the first mount of the root
    const layers = () =>
      ((app as unknown as { _router?: { stack: unknown[] } })._router ?? (app as unknown as { router: { stack: unknown[] } }).router).stack.length;
    const before = layers();
    for (let i = 0; i < 20; i++) mountApi(app, '/dm', apiFor(`k${i}`, `t${i}`))();
    const unmountB = mountApi(app, '/Dm', apiFor('kb', 'tb'));
    assert.equal(layers(), before);
    assert.equal((await list(basic('ka', 'ta'))).status, 401);
    assert.equal((await list(basic('kb', 'tb'))).status, 200);
    unmountB();
    unmountB(); // twice is once
    assert.equal((await list(basic('kb', 'tb'))).status, 404);
  });

  it('refuses a root that is not a path of plain segments', () => {
    for (const root of ['', 'dm', '/dm/', '/a/../b', '/a b', '/x?y']) {
      assert.throws(
        () => mountApi(app, root, apiFor('k', 't')),
        (e: MountError) => e.reason === 'invalid-root',
        root,
      );
    }
  });
});
