import assert from 'node:assert/strict';
import { Connection } from '../../nodes/transport/connection';
import { DeviceAgent, type ActionRequest, type DeviceAgentOptions, type FieldRequest } from '../../nodes/device/device-agent';
import { parseDeviceList } from '../../nodes/device/device-ranges';
import { startBroker, Peer, sleep, type TestBroker } from './brokers';

const DEV = { typeId: 'thermo', deviceId: 'T-1' };
const MANAGE = 'iotdevice-1/type/thermo/id/T-1/mgmt/manage';
const RESPONSE = 'iotdevice-1/type/thermo/id/T-1/response';
async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(10);
  }
}
const isManage =
  (topic = MANAGE) =>
  (m: { topic: string }) =>
    m.topic === topic;

for (const kind of ['aedes', 'mosquitto'] as const) {
  describe(`device/DeviceAgent over ${kind}`, function () {
    this.timeout(20000);
    let broker: TestBroker;
    let platform: Peer;
    const cleanup: (() => Promise<void> | void)[] = [];

    before(async () => {
      broker = await startBroker(kind);
    });
    after(async () => {
      await broker.stop();
    });
    beforeEach(async () => {
      platform = await Peer.connect(broker.url);
    });
    afterEach(async () => {
      for (const c of cleanup.splice(0).reverse()) await c();
      await platform.close();
    });

    async function agentFor(opts: Partial<DeviceAgentOptions> = {}): Promise<{ agent: DeviceAgent; conn: Connection }> {
      const conn = new Connection({ url: broker.url, reconnectPeriod: 100 });
      const agent = new DeviceAgent(conn, { identity: DEV, settleMs: 20, ...opts });
      cleanup.push(() => conn.close(1000));
      cleanup.push(() => agent.stop());
      agent.start();
      // the first manage goes out after the subscription: from then on requests reach the agent
      await platform.waitFor(isManage(`iotdevice-1/type/${(opts.identity ?? DEV).typeId}/id/${(opts.identity ?? DEV).deviceId}/mgmt/manage`));
      return { agent, conn };
    }

    it('sends manage on connect with reqId, lifetime, supports, deviceInfo and metadata, and records the 200', async () => {
      platform.autoAnswerManage(200);
      const { agent } = await agentFor({ lifetime: 7200, deviceInfo: { serialNumber: 'SN1', fwVersion: '1.0' }, metadata: { room: 'a' } });
      const m = await platform.waitFor(isManage());
      assert.equal(typeof m.json.reqId, 'string');
      assert.deepEqual(m.json.d, {
        metadata: { room: 'a' },
        lifetime: 7200,
        supports: { deviceActions: false, firmwareActions: false },
        deviceInfo: { serialNumber: 'SN1', fwVersion: '1.0' },
      });
      await until(() => agent.status(DEV)?.state === 'managed');
      assert.equal(agent.status(DEV)?.rc, 200);
    });

    it('records a manage refused by the platform (rc 403) as failed with the rc', async () => {
      platform.autoAnswerManage(403);
      const { agent } = await agentFor();
      await until(() => agent.status(DEV)?.state === 'failed');
      assert.equal(agent.status(DEV)?.rc, 403);
    });

    it('re-sends manage when handlers change the supports (debounced into one manage)', async () => {
      platform.autoAnswerManage(200);
      const { agent } = await agentFor();
      await platform.waitFor(isManage());
      const before = platform.received.filter(isManage()).length;
      agent.addHandler({ name: 'a', actions: ['reboot', 'factoryReset'], supports: { deviceActions: true }, onAction: () => undefined });
      agent.addHandler({ name: 'b', actions: ['custom:example-dme'], onAction: () => undefined });
      const m = await platform.waitFor((x) => isManage()(x) && x.json.d.supports.deviceActions === true);
      assert.deepEqual(m.json.d.supports, { deviceActions: true, firmwareActions: false, 'example-dme': true });
      await sleep(150);
      assert.equal(platform.received.filter(isManage()).length, before + 1, 'one manage for two registrations');
    });

    it('re-sends manage after a reconnect', async () => {
      const { conn } = await agentFor();
      const first = await platform.waitFor(isManage());
      (conn.client.stream as unknown as { destroy(): void }).destroy();
      const second = await platform.waitFor((m) => isManage()(m) && m.json.reqId !== first.json.reqId, 5000, 'second manage');
      assert.notEqual(second.json.reqId, first.json.reqId);
    });

    it('re-sends manage before a short lifetime runs out; lifetime 0 never does', async () => {
      platform.autoAnswerManage(200);
      await agentFor({ lifetime: 1 });
      const got = await platform.waitCount(isManage(), 3, 4000);
      assert.equal(new Set(got.map((m) => m.json.reqId)).size, 3);
      assert.ok(got.every((m) => m.json.d.lifetime === 1));

      const other = { typeId: 'thermo', deviceId: 'T-zero' };
      const conn = new Connection({ url: broker.url });
      const agent = new DeviceAgent(conn, { identity: other, lifetime: 0, settleMs: 10 });
      cleanup.push(() => conn.close(1000));
      cleanup.push(() => agent.stop());
      agent.start();
      await sleep(1500);
      assert.equal(platform.received.filter(isManage('iotdevice-1/type/thermo/id/T-zero/mgmt/manage')).length, 1);
    });

    it('answers 501 to an action without handler, reqId first and rc second, compact', async () => {
      await agentFor();
      await platform.waitFor(isManage());
      await platform.publish('iotdm-1/type/thermo/id/T-1/mgmt/initiate/device/reboot', { reqId: 'r-501' });
      const r = await platform.response('r-501');
      assert.equal(r.topic, RESPONSE);
      assert.ok(r.text.startsWith('{"reqId":"r-501","rc":501'), r.text);
      await platform.publish('iotdm-1/type/thermo/id/T-1/mgmt/custom/bundle-x/act', { reqId: 'c-501', d: {} });
      assert.equal((await platform.response('c-501')).json.rc, 501);
      await platform.publish('iotdm-1/type/thermo/id/T-1/mgmt/initiate/device/explode', { reqId: 'x-501' });
      assert.equal((await platform.response('x-501')).json.rc, 501);
    });

    it('routes an action to its handler, whose reply reaches the platform once', async () => {
      const { agent } = await agentFor();
      const seen: ActionRequest[] = [];
      agent.addHandler({
        actions: ['factoryReset', 'custom:bundle-x'],
        onAction: (req) => {
          seen.push(req);
          void req.reply(req.action === 'factoryReset' ? 500 : 202, req.action === 'factoryReset' ? 'disk busy' : undefined);
          return req.reply(202).then(
            () => assert.fail('second reply must be refused'),
            (err: Error) => assert.match(err.message, /already answered/),
          );
        },
      });
      await platform.publish('iotdm-1/type/thermo/id/T-1/mgmt/initiate/device/factory_reset', { reqId: 'f1' });
      const r = await platform.response('f1');
      assert.equal(r.text, '{"reqId":"f1","rc":500,"message":"disk busy"}');
      await platform.publish('iotdm-1/type/thermo/id/T-1/mgmt/custom/bundle-x/do-it', { reqId: 'c1', d: { fields: [{ field: 'p', value: 1 }] } });
      assert.equal((await platform.response('c1')).text, '{"reqId":"c1","rc":202}');
      assert.deepEqual(
        seen.map((s) => [s.action, s.device, s.reqId, s.bundleId, s.actionId]),
        [
          ['factoryReset', DEV, 'f1', undefined, undefined],
          ['custom:bundle-x', DEV, 'c1', 'bundle-x', 'do-it'],
        ],
      );
      await sleep(100);
      assert.equal(platform.received.filter((m) => m.json?.reqId === 'f1').length, 1);
    });

    it('a request asked again with the same reqId is answered again and does not run twice', async () => {
      const { agent } = await agentFor();
      let runs = 0;
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      agent.addHandler({ actions: ['reboot'], supports: { deviceActions: true }, onAction: async (r) => (runs++, await held, r.reply(202)) });
      const reboot = 'iotdm-1/type/thermo/id/T-1/mgmt/initiate/device/reboot';
      await platform.publish(reboot, { reqId: 'again-1' });
      await platform.publish(reboot, { reqId: 'again-1' }); // while the first still runs: no second answer
      await sleep(100);
      assert.equal(platform.received.filter((m) => m.json?.reqId === 'again-1').length, 0);
      release();
      await platform.response('again-1');
      await platform.publish(reboot, { reqId: 'again-1' }); // after the answer: the same answer again
      await platform.waitCount((m) => m.topic === RESPONSE && m.json?.reqId === 'again-1', 2);
      await sleep(100);
      const answers = platform.received.filter((m) => m.topic === RESPONSE && m.json?.reqId === 'again-1').map((m) => m.text);
      assert.deepEqual(answers, ['{"reqId":"again-1","rc":202}', '{"reqId":"again-1","rc":202}']);
      assert.equal(runs, 1);
    });

    it('answers 500 when a handler throws', async () => {
      const { agent } = await agentFor();
      const errors: unknown[] = [];
      agent.on('handlerError', (e) => errors.push(e));
      agent.addHandler({
        actions: ['reboot'],
        onAction: () => {
          throw new Error('boom');
        },
      });
      await platform.publish('iotdm-1/type/thermo/id/T-1/mgmt/initiate/device/reboot', { reqId: 'b1' });
      assert.equal((await platform.response('b1')).text, '{"reqId":"b1","rc":500,"message":"boom"}');
      assert.equal(errors.length, 1);
    });

    it('update/observe/cancel: 404 for unknown fields, 204 for metadata/deviceInfo/location, handler fields routed', async () => {
      const { agent } = await agentFor();
      const fieldReqs: FieldRequest[] = [];
      agent.addHandler({
        fields: ['mgmt.firmware'],
        onFields: (req) => {
          fieldReqs.push(req);
          if (req.op === 'observe') return req.reply(200, undefined, { fields: [{ field: 'mgmt.firmware', value: { state: 0 } }] });
          return req.reply(req.op === 'update' ? 204 : 200);
        },
      });
      const upd = 'iotdm-1/type/thermo/id/T-1/device/update';
      await platform.publish(upd, {
        reqId: 'u1',
        d: {
          fields: [
            { field: 'nope', value: 1 },
            { field: 'metadata', value: { k: 2 } },
          ],
        },
      });
      const u1 = await platform.response('u1');
      assert.equal(u1.json.rc, 404);
      assert.deepEqual(u1.json.d, { fields: ['nope'] });
      assert.ok(u1.text.startsWith('{"reqId":"u1","rc":404,'));

      await platform.publish(upd, {
        reqId: 'u2',
        d: {
          fields: [
            { field: 'deviceInfo', value: { model: 'M2' } },
            { field: 'location', value: { latitude: 1, longitude: 2 } },
          ],
        },
      });
      assert.equal((await platform.response('u2')).text, '{"reqId":"u2","rc":204}');
      assert.deepEqual(agent.status(DEV)?.deviceInfo, { model: 'M2' });
      assert.deepEqual(agent.status(DEV)?.metadata, { k: 2 });
      assert.deepEqual(agent.status(DEV)?.location, { latitude: 1, longitude: 2 });

      await platform.publish(upd, { reqId: 'u3', d: { fields: [{ field: 'mgmt.firmware', value: { version: '2' } }] } });
      assert.equal((await platform.response('u3')).text, '{"reqId":"u3","rc":204}');
      assert.deepEqual(fieldReqs[0].fields, [{ field: 'mgmt.firmware', value: { version: '2' } }]);

      await platform.publish('iotdm-1/type/thermo/id/T-1/observe', { reqId: 'o1', d: { fields: [{ field: 'mgmt.firmware' }] } });
      assert.deepEqual((await platform.response('o1')).json.d, { fields: [{ field: 'mgmt.firmware', value: { state: 0 } }] });
      await platform.publish('iotdm-1/type/thermo/id/T-1/observe', { reqId: 'o2', d: { fields: ['location'] } });
      const o2 = await platform.response('o2');
      assert.equal(o2.json.rc, 404);
      assert.deepEqual(o2.json.d, { fields: [{ field: 'location' }] });
      // mixed: a handler field and an unknown one → one answer, 404, naming only the unknown
      await platform.publish('iotdm-1/type/thermo/id/T-1/cancel', { reqId: 'k1', d: { fields: [{ field: 'mgmt.firmware.state' }, { field: 'x.y' }] } });
      const k1 = await platform.response('k1');
      assert.equal(k1.json.rc, 404);
      assert.match(k1.json.message, /x\.y/);
      assert.equal(fieldReqs.at(-1)?.op, 'cancel');
    });

    it('a multi-handler field request: a malformed handler answer is a handlerError, and stop() drops a deadline still running', async () => {
      const { agent } = await agentFor({ handlerTimeoutMs: 200 });
      const errors: { error: Error; reqId?: string }[] = [];
      agent.on('handlerError', (e) => errors.push(e));
      let silent = false;
      agent.addHandler({ fields: ['alpha'], onFields: (req) => (silent ? undefined : req.reply(500, 'no', { fields: [null] })) });
      agent.addHandler({ fields: ['beta'], onFields: (req) => req.reply(204) });
      const upd = 'iotdm-1/type/thermo/id/T-1/device/update';
      await platform.publish(upd, {
        reqId: 'm1',
        d: {
          fields: [
            { field: 'alpha', value: 1 },
            { field: 'beta', value: 2 },
          ],
        },
      });
      await until(() => errors.length === 1);
      assert.equal(errors[0].reqId, 'm1');

      silent = true; // alpha never answers: the agent would answer 500 at its deadline
      await platform.publish(upd, {
        reqId: 'm2',
        d: {
          fields: [
            { field: 'alpha', value: 1 },
            { field: 'beta', value: 2 },
          ],
        },
      });
      await sleep(50);
      agent.stop();
      await sleep(400);
      assert.equal(platform.received.filter((m) => m.json?.reqId === 'm2').length, 0, 'no answer after stop()');
    });

    it('answers 400 with the reqId to bad JSON and to schema violations, and reports each', async () => {
      const { agent } = await agentFor();
      const errors: { topic: string; payload: string; reqId?: string; error: Error }[] = [];
      agent.on('messageError', (e) => errors.push(e));
      await platform.publish('iotdm-1/type/thermo/id/T-1/mgmt/initiate/device/reboot', '{"reqId":"j1", nope');
      const j1 = await platform.response('j1');
      assert.equal(j1.json.rc, 400);
      assert.match(j1.json.message, /not JSON/);
      await platform.publish('iotdm-1/type/thermo/id/T-1/observe', { reqId: 's1', d: {} });
      assert.equal((await platform.response('s1')).json.rc, 400);
      await platform.publish('iotdm-1/type/thermo/id/T-1/device/update', { reqId: 's2', d: { fields: 'metadata' } });
      assert.equal((await platform.response('s2')).json.rc, 400);
      await platform.publish('iotdm-1/type/thermo/id/T-1/mgmt/initiate/device/reboot', 'garbage');
      await sleep(100);
      assert.deepEqual(
        errors.map((e) => e.reqId),
        ['j1', 's1', 's2', undefined],
      );
      assert.ok(errors.every((e) => (e.error as Error & { rc?: number }).rc === 400));
      assert.equal(errors[3].payload, 'garbage');
      assert.equal(errors[3].topic, 'iotdm-1/type/thermo/id/T-1/mgmt/initiate/device/reboot');
      // no answer for the message without a readable reqId
      assert.equal(platform.received.filter((m) => m.topic === RESPONSE && m.json?.reqId === undefined).length, 0);
    });

    it('ignores responses with an unknown reqId and messages for devices that are not its own', async () => {
      const { agent } = await agentFor({ devices: [], wildcardAbove: 0 });
      const debug: string[] = [];
      agent.on('debug', (t) => debug.push(t));
      await platform.waitFor(isManage());
      await platform.publish('iotdm-1/type/thermo/id/T-1/response', { reqId: 'who', rc: 200 });
      await platform.publish('iotdm-1/type/thermo/id/T-1/response', 'not json');
      await platform.publish('iotdm-1/type/thermo/id/OTHER/mgmt/initiate/device/reboot', { reqId: 'other' });
      await platform.publish('iotdm-1/type/thermo/id/T-1/mgmt/initiate/device/reboot', { reqId: 'mine' });
      await platform.response('mine');
      assert.ok(
        debug.some((t) => t.includes('who')),
        debug.join(),
      );
      assert.equal(platform.received.filter((m) => m.json?.reqId === 'other').length, 0);
      assert.equal(platform.received.filter((m) => m.json?.reqId === 'who' && m.topic.startsWith('iotdevice-1')).length, 0);
    });

    it('a gateway with 100 devices behind it manages all 101 and routes each request to its device', async () => {
      platform.autoAnswerManage(200);
      const { devices } = parseDeviceList('sim:dev-{001..100}');
      const gw = { typeId: 'gw', deviceId: 'gw-1' };
      const conn = new Connection({ url: broker.url });
      const agent = new DeviceAgent(conn, { identity: gw, devices, settleMs: 10, concurrency: 20 });
      cleanup.push(() => conn.close(1000));
      cleanup.push(() => agent.stop());
      const seen: string[] = [];
      agent.addHandler({ actions: ['reboot'], supports: { deviceActions: true }, onAction: (r) => (seen.push(r.device.deviceId), r.reply(202)) });
      agent.start();
      const manages = await platform.waitCount((m) => m.topic.endsWith('/mgmt/manage'), 101, 10000);
      const topics = new Set(manages.map((m) => m.topic));
      assert.equal(topics.size, 101);
      assert.ok(topics.has('iotdevice-1/type/gw/id/gw-1/mgmt/manage'));
      assert.ok(topics.has('iotdevice-1/type/sim/id/dev-100/mgmt/manage'));
      assert.ok(manages.every((m) => m.json.d.supports.deviceActions === true));
      await until(() => agent.counts().managed === 101, 5000);
      assert.equal(agent.counts().managed, 101);
      await platform.publish('iotdm-1/type/sim/id/dev-050/mgmt/initiate/device/reboot', { reqId: 'g50' });
      await platform.publish('iotdm-1/type/sim/id/dev-007/mgmt/initiate/device/reboot', { reqId: 'g7' });
      await platform.publish('iotdm-1/type/sim/id/dev-999/mgmt/initiate/device/reboot', { reqId: 'g999' });
      assert.equal((await platform.response('g50')).topic, 'iotdevice-1/type/sim/id/dev-050/response');
      assert.equal((await platform.response('g7')).topic, 'iotdevice-1/type/sim/id/dev-007/response');
      await sleep(100);
      assert.deepEqual(seen, ['dev-050', 'dev-007']);
      assert.equal(platform.received.filter((m) => m.json?.reqId === 'g999').length, 0);
    });

    it('request() and manage() reject once when the publish fails, leaving no unhandled rejection behind', async () => {
      const { agent, conn } = await agentFor();
      const unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown) => unhandled.push(reason);
      process.on('unhandledRejection', onUnhandled);
      try {
        // mqtt.js refuses a publish from the moment end() is called, while it still reads as connected
        const closed = conn.close(1000);
        assert.ok(conn.connected);
        await assert.rejects(agent.manage(DEV), /disconnecting/);
        await assert.rejects(agent.request(DEV, 'location', { longitude: 1, latitude: 2 }), /disconnecting/);
        await closed;
        await sleep(50);
        assert.deepEqual(unhandled, []);
      } finally {
        process.off('unhandledRejection', onUnhandled);
      }
    });

    it('manage(device) sends one manage for that device and resolves with the response', async () => {
      platform.autoAnswerManage(200);
      const { agent } = await agentFor({ devices: [{ typeId: 'sim', deviceId: 's1' }] });
      await platform.waitCount((m) => m.topic.endsWith('/mgmt/manage'), 2);
      const r = await agent.manage({ typeId: 'sim', deviceId: 's1' });
      assert.equal(r.rc, 200);
      assert.equal(platform.received.filter(isManage('iotdevice-1/type/sim/id/s1/mgmt/manage')).length, 2);
      await assert.rejects(agent.manage({ typeId: 'sim', deviceId: 'nope' }), /not served/);
    });
  });
}

describe('device/parseDeviceList', () => {
  it('expands a range keeping zero padding, skips comments and duplicates', () => {
    const r = parseDeviceList('# fleet\nsim:dev-{001..003}\n\nsim:dev-002\npump:{8..10}x\n');
    assert.deepEqual(r.errors, []);
    assert.deepEqual(
      r.devices.map((d) => `${d.typeId}:${d.deviceId}`),
      ['sim:dev-001', 'sim:dev-002', 'sim:dev-003', 'pump:8x', 'pump:9x', 'pump:10x'],
    );
  });
  it('reports bad lines with their number', () => {
    const r = parseDeviceList('ok:one\nno-colon\nsim:a/b\nsim:{5..1}\nsim:+');
    assert.equal(r.devices.length, 1);
    assert.equal(r.errors.length, 4);
    assert.match(r.errors[0], /^line 2/);
    assert.match(r.errors[1], /line 3.*not a valid id/);
    assert.match(r.errors[2], /goes down/);
  });
});
