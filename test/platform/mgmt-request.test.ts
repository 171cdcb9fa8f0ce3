import assert from 'node:assert/strict';
import { loadFlow, unloadFlow, getNode, nextMessage, collect, waitForCall, nodeRedHelper } from '../support/nodered';
import { freePort } from '../support/ports';
import { startMosquitto, type RunningMosquitto } from '../support/mosquitto';
import { Fleet, devices } from '../support/fleet';
import mqtt from 'mqtt';

const platformNode = require('../../nodes/iotdm-platform');
const mgmtRequestNode = require('../../nodes/mgmt-request');

async function connected(id: string, timeoutMs = 5000): Promise<void> {
  const p = getNode(id);
  await p.ready;
  const deadline = Date.now() + timeoutMs;
  while (!p.connection?.connected) {
    if (Date.now() > deadline) throw new Error('platform did not connect');
    await new Promise((r) => setTimeout(r, 20));
  }
}

function flow(platform: Record<string, unknown>, request: Record<string, unknown> = {}) {
  return [
    { id: 'tab', type: 'tab', label: 'test' },
    { id: 'p', type: 'iotdm-platform', access: 'development', requestTimeout: 30, responseTimeout: 5, ...platform },
    { id: 'r', type: 'iotdm-mgmt-request', z: 'tab', platform: 'p', wires: [['dev'], ['sum'], ['ans']], ...request },
    { id: 'dev', type: 'helper', z: 'tab' },
    { id: 'sum', type: 'helper', z: 'tab' },
    { id: 'ans', type: 'helper', z: 'tab' },
  ];
}

interface Setup {
  name: string;
  start(): Promise<{ platform: Record<string, unknown>; url: string }>;
  stop(): Promise<void>;
}

let mosquitto: RunningMosquitto | undefined;
const setups: Setup[] = [
  {
    name: 'embedded broker',
    async start() {
      const port = await freePort();
      return { platform: { broker: 'embedded', port, bind: '127.0.0.1' }, url: `mqtt://127.0.0.1:${port}` };
    },
    async stop() {},
  },
  {
    name: 'mosquitto',
    async start() {
      mosquitto = await startMosquitto();
      return { platform: { broker: 'external', url: mosquitto.url }, url: mosquitto.url };
    },
    async stop() {
      await mosquitto?.stop();
    },
  },
];

describe('mgmt-request and iotdm-platform nodes', function () {
  this.timeout(60000);
  before(() => nodeRedHelper());

  for (const setup of setups) {
    describe(`over the ${setup.name}`, () => {
      let fleet: Fleet | undefined;
      afterEach(async () => {
        await fleet?.stop();
        fleet = undefined;
        await unloadFlow();
        await setup.stop();
      });

      it('reboots 1,000 simulated devices end to end, one result each and one summary', async () => {
        const { platform, url } = await setup.start();
        await loadFlow([platformNode, mgmtRequestNode], flow(platform));
        await connected('p');
        const fleetDevices = devices(1000);
        fleet = new Fleet({ url, devices: fleetDevices });
        await fleet.start();
        await fleet.manageAll();
        assert.equal(getNode('p').platform.registry.size, 1000);
        const results = collect('dev');
        const summary = nextMessage('sum', 30000);
        const answer = nextMessage('ans');
        getNode('r').receive({ payload: { action: 'device/reboot', devices: fleetDevices } });
        const a = await answer;
        assert.equal(a.statusCode, 202);
        const s = await summary;
        assert.equal(s.payload.reqId, a.payload.reqId);
        assert.equal(s.payload.complete, true);
        assert.deepEqual(s.payload.counts, { total: 1000, inProgress: 0, success: 1000, failure: 0, timedOut: 0, cancelled: 0 });
        assert.equal(results.length, 1000);
        assert.ok(results.every((m) => m.payload.status === 0 && m.payload.outcome === 'success' && m.payload.action === 'device/reboot'));
        assert.equal(new Set(results.map((m) => m.payload.deviceId)).size, 1000);
        assert.equal(fleet.actions.length, 1000);
        // the status ends green and solid (its text is a catalogue key under the test helper)
        await waitForCall('r', 'status', (args) => args[0]?.fill === 'green' && args[0]?.shape === 'dot');
      });
    });
  }

  describe('over the embedded broker', () => {
    let fleet: Fleet | undefined;
    let url = '';
    const answers: Record<string, { rc: number | string; message?: string; remanageAfterMs?: number; silent?: boolean }> = {
      'ok-0000': { rc: 202, remanageAfterMs: 5 },
      'fail-0000': { rc: 500, message: 'flash is worn out' },
      'nosupp-0000': { rc: '501', message: 'reboot is not supported here' },
      'mute-0000': { rc: 0, silent: true },
      'noreturn-0000': { rc: 202 },
    };
    beforeEach(async () => {
      const port = await freePort();
      url = `mqtt://127.0.0.1:${port}`;
      await loadFlow([platformNode, mgmtRequestNode], flow({ broker: 'embedded', port, responseTimeout: 1, restartTimeout: 1 }, { strict: false }));
      await connected('p');
    });
    afterEach(async () => {
      await fleet?.stop();
      fleet = undefined;
      await unloadFlow();
    });

    async function startFleet(list = ['ok', 'fail', 'nosupp', 'mute', 'noreturn'].map((p) => ({ typeId: 'sim', deviceId: `${p}-0000` }))) {
      fleet = new Fleet({ url, devices: list, onAction: (d) => answers[d.deviceId] ?? { rc: 202, remanageAfterMs: 5 } });
      await fleet.start();
      await fleet.manageAll();
      return list;
    }

    it('reports every rc path of the seed per device: 202+manage, 500, 501, silence, no manage after 202, unknown', async () => {
      const list = await startFleet();
      const results = collect('dev');
      const summary = nextMessage('sum', 10000);
      getNode('r').receive({ payload: { action: 'device/factoryReset', devices: [...list, { typeId: 'sim', deviceId: 'ghost' }] }, timeout: 2 });
      const s = await summary;
      const by = Object.fromEntries(results.map((m) => [m.payload.deviceId, m.payload]));
      assert.equal(by['ok-0000'].outcome, 'success');
      assert.deepEqual([by['fail-0000'].status, by['fail-0000'].rc], [2, 500]);
      assert.match(by['fail-0000'].message, /flash is worn out/);
      assert.deepEqual([by['nosupp-0000'].status, by['nosupp-0000'].rc], [2, 501]);
      assert.match(by['nosupp-0000'].message, /not supported here/);
      assert.deepEqual([by['mute-0000'].status, by['mute-0000'].message], [3, 'no answer to device/factoryReset']);
      assert.deepEqual([by['noreturn-0000'].status, by['noreturn-0000'].message], [3, 'no manage request after the factory reset']);
      assert.deepEqual([by.ghost.status, by.ghost.rc], [2, 404]);
      assert.equal(fleet!.actions.filter((a) => a.device.deviceId === 'ghost').length, 0, 'no publish for an unknown device');
      assert.equal(fleet!.actions[0].action, 'factory_reset');
      assert.deepEqual(s.payload.counts, { total: 6, inProgress: 0, success: 1, failure: 3, timedOut: 2, cancelled: 0 });
      assert.equal(s.payload.status, 2);
    });

    it('answers list, get, deviceStatus, cancel and delete queries in the REST shapes', async () => {
      const list = await startFleet();
      const launched = nextMessage('ans');
      getNode('r').receive({ payload: { action: 'device/reboot', devices: [list[0], list[4]] } });
      const { payload } = await launched;
      const reqId = payload.reqId;
      const ask = async (topic: string, p: Record<string, unknown>) => {
        const m = nextMessage('ans');
        getNode('r').receive({ topic, payload: p });
        return m;
      };
      const listed = await ask('list', {});
      assert.equal(listed.statusCode, 200);
      assert.deepEqual(
        listed.payload.results.map((r: { id: string }) => r.id),
        [reqId],
      );
      const got = await ask('get', { reqId });
      assert.equal(got.payload.id, reqId);
      assert.equal(typeof got.payload.complete, 'boolean');
      await new Promise((r) => setTimeout(r, 200));
      const rows = await ask('deviceStatus', { reqId, _limit: 1 });
      assert.equal(rows.payload.results.length, 1);
      assert.ok(rows.payload._bookmark);
      const next = await ask('deviceStatus', { reqId, _limit: 1, _bookmark: rows.payload._bookmark });
      assert.equal(next.payload.results[0].deviceId, 'noreturn-0000');
      assert.equal(next.payload._bookmark, undefined);
      const one = await ask('deviceStatus', { reqId, typeId: 'sim', deviceId: 'ok-0000' });
      assert.deepEqual([one.payload.status, one.payload.complete], [0, true]);
      const cancelled = await ask('cancel', { reqId });
      assert.equal(cancelled.payload.complete, true);
      const row = await ask('deviceStatus', { reqId, typeId: 'sim', deviceId: 'noreturn-0000' });
      assert.equal(row.payload.outcome, 'cancelled');
      assert.equal((await ask('delete', { reqId })).statusCode, 204);
      assert.equal((await ask('get', { reqId })).statusCode, 404);
    });

    it('refuses bad input with node.error(err, msg) and a 400 answer, and loses nothing else', async () => {
      await startFleet();
      for (const payload of [
        'reboot everything',
        { action: 'device/reboot', devices: [{ typeId: 'sim', deviceId: 'a/#' }] },
        { action: 'device/reboot', devices: Array.from({ length: 5001 }, (_, i) => ({ typeId: 't', deviceId: `d${i}` })) },
        { action: 'device/dance', devices: [{ typeId: 'sim', deviceId: 'ok-0000' }] },
      ]) {
        const ans = nextMessage('ans');
        getNode('r').receive({ payload, marker: 'bad' });
        const a = await ans;
        assert.equal(a.statusCode, 400, JSON.stringify(payload).slice(0, 60));
      }
      const q = nextMessage('ans');
      getNode('r').receive({ topic: 'get', payload: { reqId: 42 } });
      assert.equal((await q).statusCode, 400);
      const errs = await waitForCall('r', 'error', (args) => args[1]?.marker === 'bad');
      assert.ok(errs[0]);
      // the node still works
      const ok = nextMessage('ans');
      getNode('r').receive({ payload: { action: 'device/reboot', devices: [{ typeId: 'sim', deviceId: 'ok-0000' }] } });
      assert.equal((await ok).statusCode, 202);
    });

    it('answers an invalid manage with 400 and reports it through the flow that uses the platform', async () => {
      const c = await mqtt.connectAsync(url, { protocolVersion: 4, clientId: 'g:test:gateway:raw' });
      const got = new Promise<any>((resolve) => c.on('message', (_t, p) => resolve(JSON.parse(p.toString()))));
      await c.subscribeAsync('iotdm-1/type/sim/id/bad/response', { qos: 1 });
      await c.publishAsync('iotdevice-1/type/sim/id/bad/mgmt/manage', JSON.stringify({ reqId: 'x1', d: { lifetime: -5 } }), { qos: 1 });
      const resp = await got;
      assert.deepEqual([resp.reqId, resp.rc], ['x1', 400]);
      const args = await waitForCall('r', 'error', (a) => a[1]?.topic === 'iotdevice-1/type/sim/id/bad/mgmt/manage');
      assert.match(String(args[0]?.message ?? args[0]), /lifetime/);
      await c.endAsync();
    });

    it('keeps credentials out of the flow configuration', async () => {
      const p = getNode('p');
      assert.equal((p as { credentials?: unknown }).credentials !== undefined, true);
      const cfg = flow({ broker: 'embedded' });
      assert.ok(!JSON.stringify(cfg).includes('password'));
    });
  });
});
