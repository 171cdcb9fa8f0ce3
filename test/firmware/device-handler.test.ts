/**
 * The device side (FirmwareHandler on a real DeviceAgent) over real brokers, with the platform
 * simulated by a real mqtt.js client: one case per rule of the seed's device-side error lists
 * (docs/protocol.md §11.4, §11.5).
 */
import assert from 'node:assert/strict';
import { Connection } from '../../nodes/transport/connection';
import { DeviceAgent } from '../../nodes/device/device-agent';
import { FirmwareHandler, type FirmwareHandlerOptions } from '../../nodes/device/firmware-handler';
import type { FirmwareCommand } from '../../nodes/device/firmware-messages';
import { Peer, type Received } from '../device/brokers';
import { startFirmwareBroker, sleep, until, type Broker, type BrokerKind } from './fixtures';

const DEV = { typeId: 'fwdev', deviceId: 'D-1' };
const P = 'iotdm-1/type/fwdev/id/D-1';
const NOTIFY = 'iotdevice-1/type/fwdev/id/D-1/notify';
const FW = (o: Record<string, unknown> = {}) => ({
  version: '2.0',
  name: 'fw.bin',
  uri: 'http://fw.example/fw.bin',
  verifier: '',
  state: 0,
  updateStatus: 0,
  updatedDateTime: '',
  ...o,
});

for (const kind of ['embedded', 'mosquitto'] as BrokerKind[]) {
  describe(`firmware/device side (FirmwareHandler + DeviceAgent) over ${kind}`, function () {
    this.timeout(20000);
    let broker: Broker;
    let platform: Peer;
    let conn: Connection;
    let agent: DeviceAgent;
    let handler: FirmwareHandler;
    let commands: FirmwareCommand[];
    let seq = 0;

    before(async () => {
      broker = await startFirmwareBroker(kind);
    });
    after(() => broker.stop());

    async function start(opts: FirmwareHandlerOptions = {}, devices: { typeId: string; deviceId: string }[] = []) {
      platform = await Peer.connect(broker.url);
      platform.autoAnswerManage(200);
      conn = new Connection({ url: broker.url, reconnectPeriod: 100 });
      agent = new DeviceAgent(conn, { identity: DEV, devices, settleMs: 10, deviceInfo: { fwVersion: '1.0' } });
      handler = new FirmwareHandler(agent, opts);
      commands = [];
      handler.on('command', (c) => commands.push(c));
      agent.addHandler(handler);
      agent.start();
      await platform.waitFor((m) => m.topic.endsWith('/mgmt/manage') && m.json.d.supports.firmwareActions === true);
    }
    afterEach(async () => {
      handler.close();
      agent.stop();
      await conn.close(1000);
      await platform.close();
    });

    /** send a request, return the device's response */
    async function ask(path: string, body: Record<string, unknown> = {}): Promise<Received> {
      const reqId = `r${++seq}`;
      await platform.publish(`${P}/${path}`, { reqId, ...body });
      return platform.response(reqId);
    }
    const update = (value: unknown) => ask('device/update', { d: { fields: [{ field: 'mgmt.firmware', value }] } });
    const observe = () => ask('observe', { d: { fields: [{ field: 'mgmt.firmware' }] } });
    const notifies = () => platform.received.filter((m) => m.topic === NOTIFY);

    describe('rules', () => {
      beforeEach(() => start());

      it('device/update of a different firmware → 204; of the installed version → 200 "already installed"; the values are stored', async () => {
        assert.equal((await update(FW())).json.rc, 204);
        assert.equal(handler.firmware(DEV).uri, 'http://fw.example/fw.bin');
        const same = await update(FW({ version: '1.0' }));
        assert.equal(same.json.rc, 200);
        assert.match(same.json.message, /1\.0 is already installed/);
        assert.equal(handler.firmware(DEV).version, '1.0');
      });

      it('device/update ignores state/updateStatus in the value (a downloaded device stays downloaded)', async () => {
        await update(FW());
        await ask('mgmt/initiate/firmware/download');
        handler.input({ result: 'downloaded' });
        assert.equal((await update(FW({ state: 0, version: '2.1' }))).json.rc, 204);
        assert.equal(handler.firmware(DEV).state, 2);
        assert.equal(handler.firmware(DEV).version, '2.1');
      });

      const BAD_UPDATES: [string, unknown, RegExp][] = [
        ['a string value', 'x', /not a valid firmware object/],
        ['state of the wrong type', { state: 'idle' }, /not a valid firmware object/],
      ];
      for (const [what, value, text] of BAD_UPDATES) {
        it(`device/update with ${what} → 400 naming the field`, async () => {
          const r = await update(value);
          assert.equal(r.json.rc, 400);
          assert.match(r.json.message, text);
          assert.deepEqual(r.json.d, { fields: ['mgmt.firmware'] });
        });
      }
      it('device/update of mgmt.firmware.state → 400 (written by the device only); of mgmt.firmware.uri → 204', async () => {
        const r = await ask('device/update', { d: { fields: [{ field: 'mgmt.firmware.state', value: 2 }] } });
        assert.equal(r.json.rc, 400);
        assert.match(r.json.message, /written by the device only/);
        const u = await ask('device/update', { d: { fields: [{ field: 'mgmt.firmware.uri', value: 'https://x/y.bin' }] } });
        assert.equal(u.json.rc, 204);
        assert.equal(handler.firmware(DEV).uri, 'https://x/y.bin');
      });

      it('observe → 200 with d.fields [{field, value}]; cancel → 200', async () => {
        await update(FW());
        const o = await observe();
        assert.equal(o.json.rc, 200);
        assert.equal(o.json.d.fields[0].field, 'mgmt.firmware');
        assert.deepEqual({ ...o.json.d.fields[0].value, updatedDateTime: '' }, FW());
        assert.equal((await ask('cancel', { d: { fields: [{ field: 'mgmt.firmware' }] } })).json.rc, 200);
      });

      const INITIATE_400: { rule: string; prepare: () => Promise<void>; path: string; text: RegExp }[] = [
        {
          rule: 'download with uri missing → 400',
          prepare: async () => void (await update(FW({ uri: '' }))),
          path: 'download',
          text: /uri is not set or is not a valid URI/,
        },
        {
          rule: 'download with an invalid uri → 400',
          prepare: async () => void (await update(FW({ uri: 'not a uri' }))),
          path: 'download',
          text: /not a valid URI/,
        },
        { rule: 'download with no device/update ever (uri unset) → 400, not a crash', prepare: async () => undefined, path: 'download', text: /uri/ },
        {
          rule: 'download while state is not 0 → 400',
          prepare: async () => {
            await update(FW());
            assert.equal((await ask('mgmt/initiate/firmware/download')).json.rc, 202);
            await until(() => commands.length === 1);
          },
          path: 'download',
          text: /not in idle state/,
        },
        { rule: 'update while state is not 2 → 400', prepare: async () => void (await update(FW())), path: 'update', text: /not successfully downloaded/ },
      ];
      for (const c of INITIATE_400) {
        it(c.rule, async () => {
          await c.prepare();
          const before = { ...handler.firmware(DEV) };
          const n = commands.length;
          const r = await ask(`mgmt/initiate/firmware/${c.path}`);
          assert.equal(r.json.rc, 400);
          assert.match(r.json.message, c.text);
          await sleep(30);
          assert.deepEqual(handler.firmware(DEV), before, 'no change of state');
          assert.equal(commands.length, n, 'no command');
        });
      }

      it('download → 202 BEFORE the command, state 1 with exactly one notify; then downloaded / update / installed each one notify with all changed fields', async () => {
        await update(FW());
        await observe();
        // observe the order on the device's own connection: when the 202's publish is acknowledged, and when the command comes
        const order: string[] = [];
        const publish = conn.publish.bind(conn);
        conn.publish = (topic, payload, qos) => {
          const p = publish(topic, payload, qos);
          if (topic.endsWith('/response') && String(payload).includes('"rc":202')) void p.then(() => order.push('202 acknowledged'));
          return p;
        };
        handler.once('command', () => order.push('command'));
        const r = await ask('mgmt/initiate/firmware/download');
        assert.equal(r.json.rc, 202);
        await until(() => commands.length === 1);
        assert.deepEqual(order, ['202 acknowledged', 'command'], 'the 202 was published before the command was emitted');
        assert.deepEqual(commands[0], {
          command: 'download',
          reqId: r.json.reqId,
          typeId: 'fwdev',
          deviceId: 'D-1',
          uri: 'http://fw.example/fw.bin',
          name: 'fw.bin',
          verifier: '',
          version: '2.0',
        });
        await until(() => notifies().length === 1);
        const respIndex = platform.received.indexOf(r);
        assert.ok(platform.received.indexOf(notifies()[0]) > respIndex, 'the notify follows the 202');
        assert.deepEqual(Object.keys(notifies()[0].json.d.fields[0].value).sort(), ['state', 'updatedDateTime']);
        assert.equal(notifies()[0].json.d.fields[0].value.state, 1);
        assert.equal(notifies()[0].json.reqId, undefined);

        handler.input({ result: 'downloaded', file: '/tmp/fw.bin' });
        await until(() => notifies().length === 2);
        assert.equal(notifies()[1].json.d.fields[0].value.state, 2);
        const u = await ask('mgmt/initiate/firmware/update');
        assert.equal(u.json.rc, 202);
        await until(() => commands.length === 2 && notifies().length === 3);
        assert.equal(commands[1].command, 'install');
        assert.equal(commands[1].file, '/tmp/fw.bin');
        assert.deepEqual(notifies()[2].json.d.fields[0].value.updateStatus, 1);
        handler.input({ result: 'installed' });
        await until(() => notifies().length === 4);
        const v = notifies()[3].json.d.fields[0].value;
        assert.deepEqual([v.state, v.updateStatus], [0, 0]);
        await sleep(50);
        assert.equal(notifies().length, 4, 'exactly one notify per change');
        // fwVersion goes out with the next manage
        const m = agent.manage(DEV);
        const sent = await platform.waitFor((x) => x.topic.endsWith('/mgmt/manage') && x.json.d.deviceInfo.fwVersion === '2.0');
        assert.ok(sent);
        await m;
      });

      it('no notify while not observed, and none after cancel', async () => {
        await update(FW());
        await ask('mgmt/initiate/firmware/download');
        handler.input({ result: 'downloaded' });
        await observe();
        await ask('cancel', { d: { fields: [{ field: 'mgmt.firmware' }] } });
        await ask('mgmt/initiate/firmware/update');
        handler.input({ result: 'installed' });
        await sleep(100);
        assert.equal(notifies().length, 0);
        assert.equal(handler.firmware(DEV).updateStatus, 0);
      });

      for (const s of [2, 3, 4, 6]) {
        it(`download failed with updateStatus ${s} → state 0, one notify {state 0, updateStatus ${s}}`, async () => {
          await update(FW());
          await observe();
          await ask('mgmt/initiate/firmware/download');
          handler.input({ result: 'downloadFailed', updateStatus: s });
          await until(() => notifies().length === 2);
          const v = notifies()[1].json.d.fields[0].value;
          assert.deepEqual([v.state, v.updateStatus], [0, s]);
        });
      }
      for (const s of [2, 5]) {
        it(`install failed with updateStatus ${s} → state 0, one notify {state 0, updateStatus ${s}}`, async () => {
          await update(FW());
          await ask('mgmt/initiate/firmware/download');
          handler.input({ result: 'downloaded' });
          await observe();
          await ask('mgmt/initiate/firmware/update');
          handler.input({ result: 'installFailed', updateStatus: s });
          await until(() => notifies().length === 2);
          const v = notifies()[1].json.d.fields[0].value;
          assert.deepEqual([v.state, v.updateStatus], [0, s]);
        });
      }

      const ILLEGAL: [string, unknown][] = [
        ['downloaded while idle', { result: 'downloaded' }],
        ['installed while idle', { result: 'installed' }],
        ['downloadFailed with status 5 (an install status)', { result: 'downloadFailed', updateStatus: 5 }],
        ['installFailed with status 3', { result: 'installFailed', updateStatus: 3 }],
        ['an unknown result', { result: 'done' }],
        ['another device', { result: 'downloaded', typeId: 'x', deviceId: 'y' }],
        ['a verdict nobody waits for', { result: 'accepted', reqId: 'nope' }],
      ];
      for (const [what, msg] of ILLEGAL) {
        it(`refuses ${what}: throws, nothing changes, nothing is notified`, async () => {
          await update(FW());
          await observe();
          const before = handler.firmware(DEV);
          assert.throws(() => handler.input(msg));
          await sleep(30);
          assert.deepEqual(handler.firmware(DEV), before);
          assert.equal(notifies().length, 0);
        });
      }

      it('device/update while a download runs → 409, nothing changes', async () => {
        await update(FW());
        await ask('mgmt/initiate/firmware/download');
        const r = await update(FW({ version: '9' }));
        assert.equal(r.json.rc, 409);
        assert.equal(handler.firmware(DEV).version, '2.0');
      });
    });

    describe('answer "flow": the flow\'s verdict answers the initiate', () => {
      beforeEach(() => start({ answer: 'flow', answerTimeoutMs: 300 }));

      for (const [result, rc] of [
        ['failed', 500],
        ['unsupported', 501],
      ] as const) {
        it(`${result} → ${rc} with the flow's message, state unchanged`, async () => {
          await update(FW());
          const reqId = `v-${result}`;
          await platform.publish(`${P}/mgmt/initiate/firmware/download`, { reqId });
          await until(() => commands.length === 1);
          assert.equal(commands[0].reqId, reqId);
          handler.input({ ...commands[0], result, message: `flow says ${result}` });
          const r = await platform.response(reqId);
          assert.equal(r.json.rc, rc);
          assert.equal(r.json.message, `flow says ${result}`);
          assert.equal(handler.firmware(DEV).state, 0);
        });
      }
      it('accepted → 202 then state 1; no verdict in time → 500; a second initiate while waiting → 409', async () => {
        await update(FW());
        await observe();
        await platform.publish(`${P}/mgmt/initiate/firmware/download`, { reqId: 'acc' });
        await until(() => commands.length === 1);
        const busy = await ask('mgmt/initiate/firmware/download');
        assert.equal(busy.json.rc, 409);
        assert.equal(handler.firmware(DEV).state, 0, 'no change before the verdict');
        handler.input({ result: 'accepted', reqId: 'acc' });
        const r = await platform.response('acc');
        assert.equal(r.json.rc, 202);
        await until(() => notifies().length === 1);
        assert.ok(platform.received.indexOf(notifies()[0]) > platform.received.indexOf(r));
        handler.input({ result: 'downloaded' });
        await platform.publish(`${P}/mgmt/initiate/firmware/update`, { reqId: 'late' });
        const t = await platform.response('late', 3000);
        assert.equal(t.json.rc, 500);
        assert.match(t.json.message, /no answer from the flow/);
        assert.equal(handler.firmware(DEV).updateStatus, 0);
      });
    });

    describe('answer "flow" on a gateway', () => {
      const SIB = { typeId: 'fwdev', deviceId: 'D-2' };
      beforeEach(() => start({ answer: 'flow', answerTimeoutMs: 3000 }, [SIB]));

      it('the same reqId sent to two devices waits for, and takes, one verdict per device', async () => {
        for (const d of [DEV, SIB]) {
          await platform.publish(`iotdm-1/type/${d.typeId}/id/${d.deviceId}/device/update`, {
            reqId: `u-${d.deviceId}`,
            d: { fields: [{ field: 'mgmt.firmware', value: FW() }] },
          });
          await platform.response(`u-${d.deviceId}`);
        }
        for (const d of [DEV, SIB]) await platform.publish(`iotdm-1/type/${d.typeId}/id/${d.deviceId}/mgmt/initiate/firmware/download`, { reqId: 'same' });
        await until(() => commands.length === 2);
        handler.input({ result: 'accepted', reqId: 'same', typeId: SIB.typeId, deviceId: SIB.deviceId });
        handler.input({ result: 'accepted', reqId: 'same', typeId: DEV.typeId, deviceId: DEV.deviceId });
        const answers = await platform.waitCount((m) => m.topic.endsWith('/response') && m.json?.reqId === 'same', 2);
        assert.deepEqual(answers.map((a) => [a.topic, a.json.rc]).sort(), [
          ['iotdevice-1/type/fwdev/id/D-1/response', 202],
          ['iotdevice-1/type/fwdev/id/D-2/response', 202],
        ]);
        assert.deepEqual([handler.firmware(DEV).state, handler.firmware(SIB).state], [1, 1]);
      });
    });
  });
}
