/**
 * Issue 10, finding 4 (failed on 5fe85d6): under Node-RED's default roots the editor's admin app
 * parsed the API's bodies first (5 MB): a 2 MB body got 202 instead of 413, malformed JSON got
 * express's HTML error page with a stack trace and paths, before authentication; a 10 MB body an
 * HTML 413. A real Node-RED process with the default roots, the API on, a device managed.
 */
import assert from 'node:assert/strict';
import { connectWhenUp } from '../../bench/fuzz-run';
import { startNodeRed, type NodeRedProcess } from '../support/node-red-process';
import { freePort } from '../support/ports';

describe('hostile: finding 4, the HTTP API reads its own bodies under the default roots', function () {
  this.timeout(60000);
  let nr: NodeRedProcess;
  let api: string;
  const auth = `Basic ${Buffer.from('k:t').toString('base64')}`;

  before(async () => {
    const mqttPort = await freePort();
    nr = await startNodeRed({
      flows: [
        {
          id: 'p1',
          type: 'iotdm-platform',
          access: 'development',
          broker: 'embedded',
          port: mqttPort,
          bind: '127.0.0.1',
          api: true,
          apiRoot: '/api/v0002',
          persist: false,
        },
      ],
      credentials: { p1: { apiKey: 'k', apiToken: 't' } },
    });
    api = `${nr.url}/api/v0002/mgmt/requests`;
    const dev = await connectWhenUp(`mqtt://127.0.0.1:${mqttPort}`, { protocolVersion: 4, clientId: 'g:test:gateway:hostile' });
    await dev.subscribeAsync('iotdm-1/type/h/id/d1/response', { qos: 1 });
    const managed = new Promise((r) => dev.once('message', r));
    await dev.publishAsync('iotdevice-1/type/h/id/d1/mgmt/manage', '{"reqId":"m","d":{"supports":{"deviceActions":true}}}', { qos: 1 });
    await managed;
    await dev.endAsync();
  });
  after(() => nr?.stop());

  async function post(body: string | Uint8Array, headers: Record<string, string> = {}) {
    const r = await fetch(api, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/json', ...headers }, body: body as string });
    const text = await r.text();
    return { status: r.status, type: r.headers.get('content-type') ?? '', text };
  }
  function ibmShaped(r: { type: string; text: string }): void {
    assert.match(r.type, /^application\/json/);
    const body = JSON.parse(r.text);
    assert.equal(typeof body.message, 'string');
    assert.equal(typeof body.exception?.id, 'string');
    assert.ok(!/<html|<pre|\bat .*\(|node_modules|\/work\//i.test(r.text), `no HTML, stack or path: ${r.text.slice(0, 200)}`);
  }

  it('a valid body still launches (202)', async () => {
    const r = await post(JSON.stringify({ action: 'device/reboot', devices: [{ typeId: 'h', deviceId: 'd1' }] }));
    assert.equal(r.status, 202, r.text);
  });

  it('a 2 MB body is 413 in IBM shape', async () => {
    const body = JSON.stringify({ action: 'device/reboot', devices: [{ typeId: 'h', deviceId: 'd1' }], pad: 'x'.repeat(2 * 1024 * 1024) });
    const r = await post(body);
    assert.equal(r.status, 413, r.text.slice(0, 200));
    ibmShaped(r);
  });

  it('a 10 MB body is a JSON 413', async () => {
    const r = await post(new Uint8Array(10 * 1024 * 1024).fill(0x20));
    assert.equal(r.status, 413);
    ibmShaped(r);
  });

  it('malformed JSON is a JSON 400, never an HTML page with a stack', async () => {
    const r = await post('{"action": "device/reboot", "devices": [');
    assert.equal(r.status, 400);
    ibmShaped(r);
  });

  it('credentials come before the body: bad credentials with malformed JSON are a JSON 401', async () => {
    const r = await fetch(api, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from('k:wrong').toString('base64')}`, 'content-type': 'application/json' },
      body: '{"broken',
    });
    const text = await r.text();
    assert.equal(r.status, 401);
    ibmShaped({ type: r.headers.get('content-type') ?? '', text });
  });

  it('the 415 rule holds: a form body is refused', async () => {
    const r = await post('action=device%2Freboot', { 'content-type': 'application/x-www-form-urlencoded' });
    assert.equal(r.status, 415);
    ibmShaped(r);
  });
});
