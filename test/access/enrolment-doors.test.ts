/**
 * Enrolment by its doors: IBM's bulk API on the platform's HTTP API (`POST {root}/bulk/devices/add`,
 * `.../remove`, `GET {root}/device/types/{typeId}/devices/{deviceId}`) and the flow (mgmt-request,
 * msg.topic `enrol` / `unenrol` / `enrolment`). A token is answered once and works on the broker; no
 * token reaches a log line or the node's context, only its salted hash the store.
 */
import assert from 'node:assert/strict';
import { loadFlow, getNode, nextMessage, callsOf, type FlowNode } from '../support/nodered';
import { freePort } from '../support/ports';
import { captureHttpNode, serveHttpNode, call, basic } from '../http/support';
import { attempt } from './support';

const NODES = [require('../../nodes/iotdm-platform'), require('../../nodes/mgmt-request'), captureHttpNode];
const AUTH = basic('enrol-key', 'enrol-token-123');
const ROOT = '/api/v0002';

describe('access: enrolment over HTTP (IBM bulk API) and by the flow', function () {
  this.timeout(30000);
  const web = serveHttpNode();
  let port: number;

  before(async () => {
    port = await freePort();
    const flow: FlowNode[] = [
      { id: 'p1', type: 'iotdm-platform', broker: 'embedded', port, bind: '127.0.0.1', api: true, apiRoot: ROOT },
      { id: 'mr', type: 'iotdm-mgmt-request', platform: 'p1', wires: [[], [], ['ans']] },
      { id: 'ans', type: 'helper' },
    ];
    await loadFlow(NODES, flow, { p1: { apiKey: 'enrol-key', apiToken: 'enrol-token-123' } });
    await getNode('p1').ready;
  });

  it('bulk add answers 201 with each token once; the token logs in; get shows no secret; remove revokes and disconnects', async () => {
    const add = await call(web.url, 'POST', `${ROOT}/bulk/devices/add`, {
      auth: AUTH,
      body: [
        { typeId: 'thermo', deviceId: 'h-1' },
        { typeId: 'thermo', deviceId: 'h-2', authToken: 'my-own-token-2' },
        { typeId: 'gw', deviceId: 'g-1', classId: 'Gateway' },
      ],
    });
    assert.equal(add.status, 201, add.text);
    assert.deepEqual(
      add.json.map((r: { deviceId: string; success: boolean }) => [r.deviceId, r.success]),
      [
        ['h-1', true],
        ['h-2', true],
        ['g-1', true],
      ],
    );
    const token1 = add.json[0].authToken as string;
    assert.match(token1, /^[A-Za-z0-9_-]{24}$/);
    assert.equal(add.json[1].authToken, 'my-own-token-2');

    const got = await call(web.url, 'GET', `${ROOT}/device/types/thermo/devices/h-1`, { auth: AUTH });
    assert.equal(got.status, 200);
    assert.deepEqual([got.json.typeId, got.json.deviceId, got.json.classId, got.json.hasToken, got.json.origin], ['thermo', 'h-1', 'Device', true, 'http']);
    assert.ok(!/authToken|hash|scrypt/.test(got.text), got.text);
    assert.equal((await call(web.url, 'GET', `${ROOT}/device/types/thermo/devices/nobody`, { auth: AUTH })).status, 404);
    assert.equal((await call(web.url, 'GET', `${ROOT}/device/types/thermo/devices/h-1`, {})).status, 401);

    // the same device again: 202, the entry refused, no token
    const again = await call(web.url, 'POST', `${ROOT}/bulk/devices/add`, { auth: AUTH, body: [{ typeId: 'thermo', deviceId: 'h-1' }] });
    assert.equal(again.status, 202);
    assert.deepEqual([again.json[0].success, again.json[0].error, again.json[0].authToken], [false, 'already-enrolled', undefined]);
    for (const body of [{}, [], 'x', [{ typeId: 'bad/type', deviceId: 'x' }]]) {
      const r = await call(web.url, 'POST', `${ROOT}/bulk/devices/add`, { auth: AUTH, body });
      assert.ok(r.status === 400 || (r.status === 202 && r.json[0].error === 'invalid-id'), `${JSON.stringify(body)}: ${r.status}`);
    }

    // the answered token is the device's: it logs in, and is disconnected when the device is removed
    const dev = await attempt(`mqtt://127.0.0.1:${port}`, { clientId: 'd:acme:thermo:h-1', username: 'use-token-auth', password: token1 });
    assert.ok(dev.client, dev.error?.message);
    const closed = new Promise<void>((r) => dev.client.once('close', () => r()));
    const rm = await call(web.url, 'POST', `${ROOT}/bulk/devices/remove`, {
      auth: AUTH,
      body: [
        { typeId: 'thermo', deviceId: 'h-1' },
        { typeId: 'thermo', deviceId: 'never' },
      ],
    });
    assert.equal(rm.status, 202);
    assert.deepEqual(
      rm.json.map((r: { success: boolean }) => r.success),
      [true, false],
    );
    await closed;
    dev.client.end(true);
    assert.ok((await attempt(`mqtt://127.0.0.1:${port}`, { clientId: 'd:acme:thermo:h-1', username: 'use-token-auth', password: token1 })).error);

    // no token in any log line of the platform, none in its context
    const lines = JSON.stringify(['log', 'warn', 'error'].flatMap((m) => callsOf('p1', m as 'log')));
    assert.ok(!lines.includes(token1) && !lines.includes('my-own-token-2'));
    assert.ok(!JSON.stringify(getNode('p1').context().keys()).includes('token'));
  });

  it('by the flow: mgmt-request enrol answers the token on output 3, enrolment reads it back, unenrol removes it', async () => {
    const answer = nextMessage('ans');
    getNode('mr').receive({ topic: 'enrol', payload: { typeId: 'valve', deviceId: 'v-1' } });
    const a = await answer;
    assert.deepEqual([a.topic, a.statusCode, a.payload[0].success], ['enrol', 201, true]);
    assert.equal(typeof a.payload[0].authToken, 'string');
    const read = nextMessage('ans');
    getNode('mr').receive({ topic: 'enrolment', payload: { typeId: 'valve', deviceId: 'v-1' } });
    const r = await read;
    assert.deepEqual([r.statusCode, r.payload.origin, r.payload.authToken], [200, 'flow', undefined]);
    const list = nextMessage('ans');
    getNode('mr').receive({ topic: 'enrolment', payload: {} });
    assert.ok((await list).payload.results.some((e: { deviceId: string }) => e.deviceId === 'v-1'));
    const gone = nextMessage('ans');
    getNode('mr').receive({ topic: 'unenrol', payload: [{ typeId: 'valve', deviceId: 'v-1' }] });
    assert.equal((await gone).statusCode, 200);
    assert.equal(getNode('p1').enrolment.get({ typeId: 'valve', deviceId: 'v-1' }), undefined);
    const bad = nextMessage('ans');
    getNode('mr').receive({ topic: 'enrol', payload: 'nope' });
    assert.equal((await bad).statusCode, 400);
  });
});
