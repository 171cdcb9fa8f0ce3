/**
 * The rollouts under the API root and the rollout node's outputs, on a test Node-RED with a
 * platform (embedded broker) and 30 simulated devices that reboot.
 */
import assert from 'node:assert/strict';
import { loadFlow, getNode, collect, type FlowNode } from '../support/nodered';
import { freePort } from '../support/ports';
import { Fleet } from './fleet';
import { captureHttpNode, serveHttpNode, call, basic, until } from './support';

const platformNode = require('../../nodes/iotdm-platform');
const rolloutNode = require('../../nodes/rollout');

const AUTH = basic('key', 'token');
const ROOT = '/api/ro';
const R = `${ROOT}/mgmt/rollouts`;
const kit = (n: number) => Array.from({ length: n }, (_, i) => ({ typeId: 'kit', deviceId: `k-${String(i).padStart(3, '0')}` }));

describe('http API and node: rollouts', function () {
  this.timeout(30000);
  const web = serveHttpNode();
  let fleet: Fleet;

  before(async () => {
    const port = await freePort();
    const flow: FlowNode[] = [
      { id: 'p1', type: 'iotdm-platform', access: 'development', broker: 'embedded', port, bind: '127.0.0.1', api: true, apiRoot: ROOT, persist: false },
      { id: 'ro', type: 'iotdm-rollout', platform: 'p1', follow: 'all', deviceOutput: 'final', wires: [['dev'], ['wave'], ['state'], ['ans']] },
      { id: 'dev', type: 'helper' },
      { id: 'wave', type: 'helper' },
      { id: 'state', type: 'helper' },
      { id: 'ans', type: 'helper' },
    ];
    await loadFlow([platformNode, rolloutNode, captureHttpNode], flow, { p1: { apiKey: 'key', apiToken: 'token' } });
    await getNode('p1').ready;
    fleet = await Fleet.connect(`mqtt://127.0.0.1:${port}`, kit(30));
  });
  after(async () => {
    await fleet?.close();
  });

  it('creates, reads, approves and pages a rollout; the node reports devices, waves and states', async () => {
    const devs = collect('dev');
    const waves = collect('wave');
    const states = collect('state');
    const created = await call(web.url, 'POST', R, {
      auth: AUTH,
      body: { action: 'device/reboot', select: { typeId: 'kit' }, waves: [{ size: 10, gate: { approval: true } }, { percent: 50 }] },
    });
    assert.equal(created.status, 202, created.text);
    const id = created.json.rolloutId as string;
    const waiting = await until(
      async () => {
        const r = await call(web.url, 'GET', `${R}/${id}`, { auth: AUTH });
        return r.json.state === 'waitingApproval' && r.json;
      },
      10000,
      'waiting for approval',
    );
    assert.equal(waiting.rolloutId, id);
    assert.equal(waiting.action, 'device/reboot');
    assert.deepEqual(Object.keys(waiting.counts).sort(), ['cancelled', 'failure', 'inProgress', 'pending', 'success', 'timedOut', 'total']);
    assert.deepEqual(
      waiting.waves.map((w: { index: number; state: string; counts: { success: number } }) => [w.index, w.state, w.counts.success]),
      [
        [0, 'completed', 10],
        [1, 'pending', 0],
        [2, 'pending', 0],
      ],
    );
    // pause is refused while it waits for approval; approve goes on
    assert.equal((await call(web.url, 'POST', `${R}/${id}/pause`, { auth: AUTH })).status, 409);
    const approved = await call(web.url, 'POST', `${R}/${id}/approve`, { auth: AUTH });
    assert.equal(approved.status, 200, approved.text);
    await until(async () => (await call(web.url, 'GET', `${R}/${id}`, { auth: AUTH })).json.state === 'completed', 10000, 'completed');

    const page1 = await call(web.url, 'GET', `${R}/${id}/devices?_limit=20`, { auth: AUTH });
    assert.equal(page1.status, 200);
    assert.equal(page1.json.results.length, 20);
    assert.equal(page1.json.total, 30);
    assert.deepEqual(page1.json.results[0], { typeId: 'kit', deviceId: 'k-000', wave: 0, state: 'success', attempts: 1, rc: 202 });
    const page2 = await call(web.url, 'GET', `${R}/${id}/devices?_limit=20&_bookmark=${page1.json._bookmark}`, { auth: AUTH });
    assert.equal(page2.json.results.length, 10);
    assert.equal(page2.json._bookmark, undefined);
    const list = await call(web.url, 'GET', R, { auth: AUTH });
    assert.equal(list.json.results[0].rolloutId, id);

    await until(() => states.some((m) => m.payload.state === 'completed'), 5000, 'completed state message');
    assert.deepEqual(
      states.map((m) => m.payload.state),
      ['running', 'waitingApproval', 'running', 'completed'],
    );
    assert.equal(devs.length, 30);
    assert.deepEqual(Object.keys(devs[0].payload).sort(), ['attempt', 'deviceId', 'final', 'outcome', 'rc', 'rolloutId', 'typeId', 'wave']);
    assert.ok(waves.some((m) => m.payload.index === 0 && m.payload.gate === 'waitingApproval'));
    assert.ok(waves.some((m) => m.payload.index === 2 && m.payload.state === 'completed'));
  });

  it('refuses what it must: 401, 400 with the reason, 404, 405, 409', async () => {
    assert.equal((await call(web.url, 'GET', R, { auth: basic('key', 'wrong') })).status, 401);
    const bad = await call(web.url, 'POST', R, {
      auth: AUTH,
      body: { action: 'device/reboot', select: {}, waves: { size: 1 }, rate: { ramp: { factor: 9, every: 1 } } },
    });
    assert.equal(bad.status, 400);
    assert.match(bad.json.message, /factor/);
    assert.equal(bad.json.exception.id, 'invalid-rollout');
    assert.equal((await call(web.url, 'GET', `${R}/nope`, { auth: AUTH })).status, 404);
    assert.equal((await call(web.url, 'POST', `${R}/nope/approve`, { auth: AUTH })).status, 404);
    assert.equal((await call(web.url, 'PUT', R, { auth: AUTH, body: {} })).status, 405);
    assert.equal((await call(web.url, 'GET', `${R}/x/devices?state=lost`, { auth: AUTH })).status, 400);
    const done = (await call(web.url, 'GET', R, { auth: AUTH })).json.results[0].rolloutId;
    assert.equal((await call(web.url, 'POST', `${R}/${done}/rerun`, { auth: AUTH })).status, 409); // nothing failed
    assert.equal((await call(web.url, 'DELETE', `${R}/${done}`, { auth: AUTH })).status, 204);
  });

  it('the node takes a definition and commands, and answers on its fourth output', async () => {
    const answers = collect('ans');
    const ro = getNode('ro');
    ro.receive({ payload: { action: 'device/reboot', devices: kit(4), waves: { size: 2 }, gate: { approval: true } } });
    const created = await until(() => answers.find((m) => m.topic === 'create'), 5000, 'created');
    assert.equal(created.statusCode, 202);
    await until(() => getNode('p1').rollouts.get(created.payload.rolloutId).data.state === 'waitingApproval', 10000, 'waiting');
    ro.receive({ topic: 'approve', payload: {} }); // the node's last rollout
    await until(() => answers.find((m) => m.topic === 'approve'), 5000, 'approved');
    ro.receive({ payload: { command: 'get', rolloutId: created.payload.rolloutId } });
    const got = await until(() => answers.find((m) => m.topic === 'get'), 5000, 'get');
    assert.equal(got.statusCode, 200);
    ro.receive({ payload: { action: 'device/reboot', waves: { size: 2 } } });
    const refused = await until(() => answers.find((m) => m.statusCode === 400), 5000, 'refused');
    assert.match(refused.payload.message, /either devices or select/);
  });
});
