/**
 * Every door of the demo's embedded broker, tried as an intruder would (issue 12), on the demo flow
 * as `npm start` runs it: 100 devices behind the enrolled gateway gw-1, enrolled devices only.
 */
import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import { unloadFlow, nodeRedHelper } from '../support/nodered';
import { freePort } from '../support/ports';
import { attempt, loadDemo, until, type Demo } from './support';
import type { MgmtRequest } from '../../nodes/platform/management-request';

const GW_TOKEN = 'gw-1-token-for-the-test';
const D1_TOKEN = 'thermo-d-1-own-token';

describe('access: the doors of the demo broker', function () {
  this.timeout(60000);
  let demo: Demo;
  const open: MqttClient[] = [];
  const keep = (c: MqttClient) => (open.push(c), c);

  before(async () => {
    nodeRedHelper();
    demo = await loadDemo(await freePort(), GW_TOKEN);
    const r = await demo.platform.enrolment.add(
      [
        { typeId: 'thermo', deviceId: 'd-1', authToken: D1_TOKEN },
        { typeId: 'gateway', deviceId: 'gw-2', classId: 'Gateway', authToken: 'gw-2-token-for-the-test' },
      ],
      'flow',
    );
    assert.ok(r.every((e) => e.success));
  });
  after(async () => {
    for (const c of open) c.end(true);
    await unloadFlow();
  });

  /** reboot some of the demo's devices through the platform and wait for the request to complete */
  async function reboot(devices: { typeId: string; deviceId: string }[]): Promise<MgmtRequest> {
    const req = demo.platform.platform.requests.initiate({ action: 'device/reboot', devices });
    await until(() => req.complete, 30000, 'the reboot to complete');
    return req;
  }

  it('an anonymous client cannot connect (so cannot subscribe #), nor any client id that is not d:, g: or a:', async () => {
    for (const opts of [
      { clientId: 'intruder' },
      { clientId: '' },
      { clientId: 'intruder', username: 'use-token-auth', password: GW_TOKEN },
      { clientId: 'x:demo:sim:sim-002' },
    ]) {
      const a = await attempt(demo.url, opts);
      assert.ok(a.error, `${JSON.stringify(opts.clientId)} connected`);
      assert.match(a.error.message, /Not authorized|Bad username or password/i);
    }
    // an application without a valid key
    const app = await attempt(demo.url, { clientId: 'a:demo:snoop', username: 'no-such-key', password: 'no-such-token' });
    assert.ok(app.error);
    // an enrolled device that asks for '#' is granted nothing and sees no other device's request
    const d1 = await attempt(demo.url, { clientId: 'd:demo:thermo:d-1', username: 'use-token-auth', password: D1_TOKEN });
    assert.ok(d1.client, d1.error?.message);
    keep(d1.client);
    const seen: string[] = [];
    d1.client.on('message', (t) => seen.push(t));
    for (const filter of ['#', '+/#', 'iotdm-1/type/sim/id/+/#', 'iotdevice-1/type/sim/id/sim-002/#']) {
      await assert.rejects(d1.client.subscribeAsync(filter, { qos: 1 }), /Subscribe error/, filter);
    }
    await d1.client.subscribeAsync('iotdm-1/#', { qos: 1 });
    const req = await reboot([{ typeId: 'sim', deviceId: 'sim-002' }]);
    assert.equal(req.counts.success, 1);
    assert.deepEqual(seen, []);
  });

  it("a device without its token, or with another's, is refused; with its own it is let in", async () => {
    const id = 'd:demo:thermo:d-1';
    const tries = [
      {},
      { username: 'use-token-auth', password: '' },
      { username: 'use-token-auth', password: GW_TOKEN },
      { username: 'use-token-auth', password: 'thermo-d-1-own-tokeN' },
      { username: 'someone', password: D1_TOKEN },
    ];
    for (const t of tries) {
      const a = await attempt(demo.url, { clientId: id, ...t });
      assert.ok(a.error, `connected with ${JSON.stringify(t)}`);
    }
    // the issue's own case: a device behind the gateway, with a password of its choosing
    assert.ok((await attempt(demo.url, { clientId: 'd:demo:sim:sim-005', username: 'use-token-auth', password: 'guess' })).error);
    // a device cannot log in as a gateway with its own token (it would act for others)
    assert.ok((await attempt(demo.url, { clientId: 'g:demo:thermo:d-1', username: 'use-token-auth', password: D1_TOKEN })).error);
    // the failures above were slowed: the next good login waits for its delay, then gets in
    const ok = await attempt(demo.url, { clientId: id, username: 'use-token-auth', password: D1_TOKEN });
    assert.ok(ok.client, ok.error?.message);
    ok.client.end(true);
  });

  it('an unenrolled device cannot connect, so cannot register', async () => {
    for (const password of ['anything', GW_TOKEN, D1_TOKEN]) {
      assert.ok((await attempt(demo.url, { clientId: 'd:demo:tB:X', username: 'use-token-auth', password })).error);
    }
    assert.ok((await attempt(demo.url, { clientId: 'g:demo:tB:gw-X', username: 'use-token-auth', password: GW_TOKEN })).error);
    assert.equal(demo.platform.platform.registry.get({ typeId: 'tB', deviceId: 'X' }), undefined);
    assert.equal(demo.platform.enrolment.get({ typeId: 'tB', deviceId: 'X' }), undefined);
  });

  it('a gateway cannot act for a device outside its set: no manage for it, none of its requests', async () => {
    const gw2 = await attempt(demo.url, { clientId: 'g:demo:gateway:gw-2', username: 'use-token-auth', password: 'gw-2-token-for-the-test' });
    assert.ok(gw2.client, gw2.error?.message);
    keep(gw2.client);
    const seen: string[] = [];
    gw2.client.on('message', (t) => seen.push(t));
    await gw2.client.subscribeAsync('iotdm-1/type/+/id/+/#', { qos: 1 });
    // sim-003 is behind gw-1: gw-2 does not receive its reboot, which gw-1 answers
    const req = await reboot([{ typeId: 'sim', deviceId: 'sim-003' }]);
    assert.equal(req.counts.success, 1);
    assert.equal(seen.length, 0, seen.join());
    // nor can it ask for another gateway's scope by name: what it receives is filtered per message
    // gw-2's manage for sim-003 is dropped by the broker (gw-2 keeps its connection for its own devices);
    // its own manage, sent after it, is answered: the dropped one would have been handled before
    await gw2.client.publishAsync('iotdevice-1/type/sim/id/sim-003/mgmt/manage', JSON.stringify({ d: { deviceInfo: { model: 'evil' } }, reqId: 'x' }), {
      qos: 1,
    });
    await gw2.client.publishAsync('iotdevice-1/type/gateway/id/gw-2/mgmt/manage', JSON.stringify({ d: {}, reqId: 'own' }), { qos: 1 });
    await until(() => seen.includes('iotdm-1/type/gateway/id/gw-2/response'), 5000, "gw-2's own answer");
    assert.deepEqual(seen, ['iotdm-1/type/gateway/id/gw-2/response']);
    assert.equal(demo.platform.platform.registry.get({ typeId: 'sim', deviceId: 'sim-003' })?.deviceInfo.model, 'simulated');
    assert.equal(demo.platform.enrolment.isBehind({ typeId: 'gateway', deviceId: 'gw-2' }, { typeId: 'sim', deviceId: 'sim-003' }), false);
  });

  it("the platform's own connection is inside the process: logged in as the platform, on no socket", () => {
    const clients = Object.values(
      (demo.platform.broker!.aedes as unknown as { clients: Record<string, { id: string; conn: { remoteAddress?: string } }> }).clients,
    );
    const inside = clients.filter((c) => c.conn.remoteAddress === 'in-process').map((c) => c.id);
    assert.deepEqual(inside, [demo.platform.connection!.client.options.clientId]);
    assert.equal(demo.platform.connection!.state, 'connected');
    // every other client (the demo's gateway) dialled the port
    assert.ok(clients.length > 1 && clients.every((c) => c.id === inside[0] || c.conn.remoteAddress === '127.0.0.1'));
  });

  it('an application reads device events and state but cannot publish as a device (nor as the platform)', async () => {
    const key = await demo.platform.enrolment.addApiKey('operator');
    const app = await attempt(demo.url, { clientId: 'a:demo:console', username: key.key, password: key.token });
    assert.ok(app.client, app.error?.message);
    keep(app.client);
    const seen: string[] = [];
    app.client.on('message', (t) => seen.push(t));
    await app.client.subscribeAsync('iotdevice-1/type/sim/id/sim-004/#', { qos: 1 });
    await reboot([{ typeId: 'sim', deviceId: 'sim-004' }]);
    await until(() => seen.includes('iotdevice-1/type/sim/id/sim-004/mgmt/manage'), 5000, "the app to see sim-004's manage");
    for (const topic of ['iotdevice-1/type/sim/id/sim-004/mgmt/manage', 'iotdm-1/type/sim/id/sim-004/mgmt/initiate/device/reboot', 'iotdevice-1/mgmt/manage']) {
      const again = await attempt(demo.url, { clientId: `a:demo:console-${topic.length}`, username: key.key, password: key.token });
      assert.ok(again.client, again.error?.message);
      keep(again.client);
      const closed = new Promise<void>((r) => again.client.once('close', () => r()));
      again.client.publish(topic, JSON.stringify({ d: { deviceInfo: { model: 'evil' } }, reqId: 'x' }), { qos: 1 });
      await closed;
    }
    assert.equal(demo.platform.platform.registry.get({ typeId: 'sim', deviceId: 'sim-004' })?.deviceInfo.model, 'simulated');
    // a read-only key cannot even send a command
    const ro = await demo.platform.enrolment.addApiKey('readonly');
    const reader = await attempt(demo.url, { clientId: 'a:demo:reader', username: ro.key, password: ro.token });
    assert.ok(reader.client);
    keep(reader.client);
    const closed = new Promise<void>((r) => reader.client.once('close', () => r()));
    reader.client.publish('iot-2/type/sim/id/sim-004/cmd/blink/fmt/json', '{}', { qos: 1 });
    await closed;
  });
});
