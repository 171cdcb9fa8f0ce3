/**
 * The platform side of firmware/download and firmware/update (plans.ts + request-manager.ts),
 * table-driven: one case per rule of the seed's error lists (docs/protocol.md §11.4, §11.5), each against a real device (a raw
 * mqtt.js client answering per script) over the embedded broker.
 */
import assert from 'node:assert/strict';
import { InitiateError } from '../../nodes/platform/request-manager';
import { startFirmwareBroker, startPlatform, completion, RawDevice, until, sleep, type Broker, type RunningPlatform, type Script } from './fixtures';

const TIMEOUTS = { responseTimeoutMs: 300, downloadTimeoutMs: 400, installTimeoutMs: 400 };
const PARAMS = [
  { name: 'uri', value: 'http://fw.example/fw-2.0.bin' },
  { name: 'version', value: '2.0' },
];

interface Case {
  rule: string;
  action: 'firmware/download' | 'firmware/update';
  script: Script;
  /** device status row expected */
  status: 0 | 2 | 3;
  rc?: number;
  message?: RegExp;
  phase?: string;
  /** the steps the device saw, in order */
  saw?: string[];
}

const DL = ['device/update', 'observe', 'mgmt/initiate/firmware/download', 'cancel'];
const UP = ['device/update', 'observe', 'mgmt/initiate/firmware/update', 'cancel'];
const CASES: Case[] = [
  // download: success and each rc / notified error
  {
    rule: 'download: 204, 200, 202, notify state 1 then 2, cancel 200 → success',
    action: 'firmware/download',
    script: { notifies: [{ state: 1 }, { state: 2 }] },
    status: 0,
    saw: DL,
  },
  {
    rule: 'download: a device/update answered 200 (already installed) goes on',
    action: 'firmware/download',
    script: { update: 200, notifies: [{ state: 1 }, { state: 2 }] },
    status: 0,
    saw: DL,
  },
  {
    rule: 'download: notifies before the 202 (IBM Java before its fix) still succeed',
    action: 'firmware/download',
    script: { notifyBeforeAnswer: true, notifies: [{ state: 1 }, { state: 2 }] },
    status: 0,
  },
  {
    rule: 'download: 400 state not idle',
    action: 'firmware/download',
    script: { initiate: 400, initiateMessage: 'Cannot download as the device is not in idle state' },
    status: 2,
    rc: 400,
    message: /not in idle state/,
    saw: DL,
  },
  {
    rule: 'download: 400 uri missing or invalid',
    action: 'firmware/download',
    script: { initiate: 400, initiateMessage: 'mgmt.firmware.uri is not set or is not a valid URI' },
    status: 2,
    rc: 400,
    message: /uri/,
  },
  {
    rule: 'download: 500 the attempt failed',
    action: 'firmware/download',
    script: { initiate: 500, initiateMessage: 'disk busy' },
    status: 2,
    rc: 500,
    message: /disk busy/,
  },
  { rule: 'download: 501 not supported', action: 'firmware/download', script: { initiate: 501 }, status: 2, rc: 501, message: /not implemented/ },
  {
    rule: 'download: updateStatus 2 out of memory',
    action: 'firmware/download',
    script: { notifies: [{ state: 1 }, { state: 0, updateStatus: 2 }] },
    status: 2,
    message: /out of memory \(updateStatus 2\)/,
    saw: DL,
  },
  {
    rule: 'download: updateStatus 3 connection lost',
    action: 'firmware/download',
    script: { notifies: [{ state: 1 }, { state: 0, updateStatus: 3 }] },
    status: 2,
    message: /connection lost \(updateStatus 3\)/,
  },
  {
    rule: 'download: updateStatus 4 verification failed',
    action: 'firmware/download',
    script: { notifies: [{ state: 1 }, { state: 0, updateStatus: 4 }] },
    status: 2,
    message: /verification failed \(updateStatus 4\)/,
  },
  {
    rule: 'download: updateStatus 6 invalid URI',
    action: 'firmware/download',
    script: { notifies: [{ state: 1 }, { state: 0, updateStatus: 6 }] },
    status: 2,
    message: /invalid URI \(updateStatus 6\)/,
  },
  {
    rule: 'download: one field per notify (IBM Node client) is judged on the merged view',
    action: 'firmware/download',
    script: { notifies: [{ state: 1 }, { updateStatus: 3 }, { state: 0 }] },
    status: 2,
    message: /updateStatus 3/,
  },
  {
    rule: 'download: device/update refused (400) fails at update',
    action: 'firmware/download',
    script: { update: 400 },
    status: 2,
    rc: 400,
    phase: 'update',
    saw: ['device/update'],
  },
  {
    rule: 'download: observe refused (404) fails at observe',
    action: 'firmware/download',
    script: { observe: 404 },
    status: 2,
    rc: 404,
    phase: 'observe',
    saw: ['device/update', 'observe'],
  },
  // download timeouts, each with its phase's reason
  {
    rule: 'download timeout: no answer to device/update',
    action: 'firmware/download',
    script: { update: null },
    status: 3,
    message: /^no answer to device\/update$/,
    phase: 'update',
  },
  {
    rule: 'download timeout: no answer to observe',
    action: 'firmware/download',
    script: { observe: null },
    status: 3,
    message: /^no answer to observe$/,
    phase: 'observe',
  },
  {
    rule: 'download timeout: no answer to the initiate',
    action: 'firmware/download',
    script: { initiate: null },
    status: 3,
    message: /^no answer to firmware\/download$/,
    phase: 'initiate',
  },
  {
    rule: 'download timeout: state 2 never notified',
    action: 'firmware/download',
    script: { notifies: [{ state: 1 }] },
    status: 3,
    message: /^download did not finish$/,
    phase: 'download',
  },
  {
    rule: 'download timeout: no answer to cancel',
    action: 'firmware/download',
    script: { cancel: null, notifies: [{ state: 1 }, { state: 2 }] },
    status: 3,
    message: /^no answer to cancel$/,
    phase: 'cancel',
  },
  // update
  {
    rule: 'update: 204, 200, 202, notify updateStatus 1 then state 0 + updateStatus 0, cancel → success',
    action: 'firmware/update',
    script: { notifies: [{ updateStatus: 1 }, { state: 0, updateStatus: 0 }] },
    status: 0,
    saw: UP,
  },
  {
    rule: 'update: 400 not downloaded',
    action: 'firmware/update',
    script: { initiate: 400, initiateMessage: 'Firmware is still not successfully downloaded.' },
    status: 2,
    rc: 400,
    message: /not successfully downloaded/,
    saw: UP,
  },
  { rule: 'update: 500 the attempt failed', action: 'firmware/update', script: { initiate: 500 }, status: 2, rc: 500, message: /internal error/ },
  {
    rule: 'update: 501 not supported',
    action: 'firmware/update',
    script: { initiate: 501, initiateMessage: 'no updates here' },
    status: 2,
    rc: 501,
    message: /no updates here/,
  },
  {
    rule: 'update: updateStatus 2 out of memory',
    action: 'firmware/update',
    script: { notifies: [{ updateStatus: 1 }, { state: 0, updateStatus: 2 }] },
    status: 2,
    message: /out of memory \(updateStatus 2\)/,
  },
  {
    rule: 'update: updateStatus 5 unsupported image',
    action: 'firmware/update',
    script: { notifies: [{ updateStatus: 1 }, { state: 0, updateStatus: 5 }] },
    status: 2,
    message: /unsupported image \(updateStatus 5\)/,
  },
  {
    rule: 'update timeout: no answer to observe',
    action: 'firmware/update',
    script: { observe: null },
    status: 3,
    message: /^no answer to observe$/,
    phase: 'observe',
  },
  {
    rule: 'update timeout: no answer to the initiate',
    action: 'firmware/update',
    script: { initiate: null },
    status: 3,
    message: /^no answer to firmware\/update$/,
    phase: 'initiate',
  },
  {
    rule: 'update timeout: never finished installing',
    action: 'firmware/update',
    script: { notifies: [{ updateStatus: 1 }] },
    status: 3,
    message: /^update did not finish$/,
    phase: 'install',
  },
];

describe('firmware/platform plans, table-driven over the embedded broker', function () {
  this.timeout(20000);
  let broker: Broker;
  let p: RunningPlatform;
  const devices: RawDevice[] = [];
  let n = 0;

  before(async () => {
    broker = await startFirmwareBroker('embedded');
    p = await startPlatform(broker.url, TIMEOUTS);
  });
  after(async () => {
    for (const d of devices) await d.close();
    await p.close();
    await broker.stop();
  });

  async function device(script: Script, typeId = 'fwT', supports?: Record<string, unknown>): Promise<RawDevice> {
    const d = await RawDevice.connect(broker.url, typeId, `d${++n}`, script, supports);
    devices.push(d);
    return d;
  }

  for (const c of CASES) {
    it(c.rule, async () => {
      const d = await device(c.script);
      const req = p.platform.requests.initiate({ action: c.action, parameters: PARAMS, devices: [{ typeId: d.typeId, deviceId: d.deviceId }] });
      await completion(p.platform, req);
      const row = p.platform.requests.deviceStatusOf(req.id, d)!;
      assert.equal(row.status, c.status, JSON.stringify(row));
      if (c.rc !== undefined) assert.equal(row.rc, c.rc);
      if (c.message) assert.match(row.message ?? '', c.message);
      if (c.phase) assert.equal(row.phase, c.phase);
      if (c.saw) {
        // a failure after the observation leaves no observation behind: a cancel follows
        await until(() => d.names().length >= c.saw!.length, 2000, 'steps');
        assert.deepEqual(d.names(), c.saw);
      }
      if (c.status !== 0 && d.names().includes('observe') && c.script.observe !== 404 && c.script.observe !== null) {
        await until(() => d.names().includes('cancel'), 2000, 'cancel of the observation');
      }
      // the device/update carries all seven keys
      const upd = d.received.find((r) => r.name === 'device/update');
      if (upd)
        assert.deepEqual(Object.keys(upd.body.d.fields[0].value).sort(), ['name', 'state', 'updateStatus', 'updatedDateTime', 'uri', 'verifier', 'version']);
    });
  }

  it('update success sets deviceInfo.fwVersion in the registry to the version, not an older one the registry saw', async () => {
    const d = await device({ notifies: [{ updateStatus: 1 }, { state: 0, updateStatus: 0 }] });
    // the registry saw version 1.0 earlier; this device answers observe without d (IBM's Python client)
    await d.notify({ version: '1.0', state: 2 });
    await until(() => p.platform.registry.get(d)?.mgmt.firmware?.version === '1.0');
    const req = p.platform.requests.initiate({ action: 'firmware/update', parameters: [{ name: 'version', value: '3.1' }], devices: [d.ref] });
    await completion(p.platform, req);
    assert.equal(p.platform.registry.get(d)!.deviceInfo.fwVersion, '3.1');
  });

  it('update: the device/update keeps the downloaded state the device reported (no reset to idle)', async () => {
    const d = await device({ notifies: [{ updateStatus: 1 }, { state: 0, updateStatus: 0 }] });
    await d.notify({ state: 2, updateStatus: 0 });
    await until(() => p.platform.registry.get(d)?.mgmt.firmware?.state === 2);
    const req = p.platform.requests.initiate({ action: 'firmware/update', parameters: [{ name: 'version', value: '3.2' }], devices: [d.ref] });
    await completion(p.platform, req);
    const upd = d.received.find((r) => r.name === 'device/update')!;
    assert.equal(upd.body.d.fields[0].value.state, 2);
  });

  it('without parameters the device/update step is skipped', async () => {
    const d = await device({ notifies: [{ state: 1 }, { state: 2 }] });
    const req = p.platform.requests.initiate({ action: 'firmware/download', devices: [d.ref] });
    await completion(p.platform, req);
    assert.deepEqual(d.names(), ['observe', 'mgmt/initiate/firmware/download', 'cancel']);
  });

  it('a device without supports.firmwareActions fails (403) without a publish', async () => {
    const d = await device({}, 'fwT', { deviceActions: true, firmwareActions: false });
    const before = p.published.length;
    const req = p.platform.requests.initiate({ action: 'firmware/download', parameters: PARAMS, devices: [d.ref] });
    await completion(p.platform, req);
    const row = p.platform.requests.deviceStatusOf(req.id, d)!;
    assert.equal(row.status, 2);
    assert.equal(row.rc, 403);
    assert.match(row.message!, /firmwareActions/);
    await sleep(50);
    assert.equal(p.published.slice(before).filter((t) => t.includes(`/id/${d.deviceId}/`)).length, 0);
    assert.deepEqual(d.names(), []);
    // strict (the REST API) refuses the whole request
    assert.throws(
      () => p.platform.requests.initiate({ action: 'firmware/download', devices: [d.ref] }, { strict: true }),
      (e: InitiateError) => e.statusCode === 403,
    );
  });

  it('firmware/update mixing types is refused as a whole, with a clear error and no publish', async () => {
    const a = await device({}, 'typeA');
    const b = await device({}, 'typeB');
    const before = p.published.length;
    assert.throws(
      () => p.platform.requests.initiate({ action: 'firmware/update', devices: [a, b].map(({ typeId, deviceId }) => ({ typeId, deviceId })) }),
      (e: InitiateError) =>
        e instanceof InitiateError && e.statusCode === 400 && /one type/.test(e.message) && /typeA/.test(e.message) && /typeB/.test(e.message),
    );
    await sleep(50);
    assert.equal(p.published.length, before);
    // firmware/download may mix types
    const req = p.platform.requests.initiate({ action: 'firmware/download', devices: [a, b].map(({ typeId, deviceId }) => ({ typeId, deviceId })) });
    p.platform.requests.cancel(req.id);
  });

  it('a second firmware request for a busy device is refused (409) for that device; with override the first is cancelled', async () => {
    const d = await device({ notifies: [{ state: 1 }] }); // stays downloading
    const ref = { typeId: d.typeId, deviceId: d.deviceId };
    const first = p.platform.requests.initiate({ action: 'firmware/download', parameters: PARAMS, devices: [ref] });
    await until(() => p.platform.requests.deviceStatusOf(first.id, ref)!.phase === 'download');
    const before = d.received.length;
    const second = p.platform.requests.initiate({ action: 'firmware/update', devices: [ref] });
    await completion(p.platform, second);
    const row2 = p.platform.requests.deviceStatusOf(second.id, ref)!;
    assert.equal(row2.status, 2);
    assert.equal(row2.rc, 409);
    assert.match(row2.message!, new RegExp(first.id));
    assert.equal(d.received.length, before, 'nothing published for the refused request');
    assert.equal(first.complete, false);
    assert.throws(
      () => p.platform.requests.initiate({ action: 'firmware/update', devices: [ref] }, { strict: true }),
      (e: InitiateError) => e.statusCode === 409,
    );
    // override: the first ends cancelled, the new one runs
    d.script = { notifies: [{ updateStatus: 1 }, { state: 0, updateStatus: 0 }] };
    const third = p.platform.requests.initiate({ action: 'firmware/update', devices: [ref] }, { override: true });
    await completion(p.platform, first);
    assert.equal(p.platform.requests.deviceStatusOf(first.id, ref)!.outcome, 'cancelled');
    assert.match(p.platform.requests.deviceStatusOf(first.id, ref)!.message!, new RegExp(third.id));
    await completion(p.platform, third);
    assert.equal(p.platform.requests.deviceStatusOf(third.id, ref)!.status, 0);
  });

  it('late or duplicated messages change nothing', async () => {
    const d = await device({ notifies: [{ state: 1 }, { state: 2 }] });
    const ref = { typeId: d.typeId, deviceId: d.deviceId };
    const req = p.platform.requests.initiate({ action: 'firmware/download', parameters: PARAMS, devices: [ref] });
    await completion(p.platform, req);
    const row = JSON.stringify(p.platform.requests.deviceStatusOf(req.id, ref));
    const unmatched: unknown[] = [];
    p.platform.on('unmatched', (r) => unmatched.push(r));
    // the device repeats its answers and notifies (EMBC repeats every message), and a late failure
    for (const r of d.received) {
      await d.client.publishAsync(`iotdevice-1/type/${d.typeId}/id/${d.deviceId}/response`, JSON.stringify({ reqId: r.body.reqId, rc: 500 }), { qos: 1 });
    }
    await d.notify({ state: 0, updateStatus: 3 });
    await d.notify({ state: 2 });
    await until(() => unmatched.length === d.received.length, 2000, 'unmatched responses');
    assert.equal(JSON.stringify(p.platform.requests.deviceStatusOf(req.id, ref)), row);
    assert.equal(req.counts.success, 1);

    // a 202 that arrives after the initiate timed out: still timed out
    const late = await device({ initiate: null });
    const lref = { typeId: late.typeId, deviceId: late.deviceId };
    const req2 = p.platform.requests.initiate({ action: 'firmware/download', parameters: PARAMS, devices: [lref] });
    await completion(p.platform, req2);
    const init = late.received.find((r) => r.name === 'mgmt/initiate/firmware/download')!;
    await late.client.publishAsync(`iotdevice-1/type/${late.typeId}/id/${late.deviceId}/response`, JSON.stringify({ reqId: init.body.reqId, rc: 202 }), {
      qos: 1,
    });
    await late.notify({ state: 1 });
    await late.notify({ state: 2 });
    await sleep(100);
    const r2 = p.platform.requests.deviceStatusOf(req2.id, lref)!;
    assert.equal(r2.status, 3);
    assert.equal(r2.message, 'no answer to firmware/download');
  });

  it('an observe answer with an invalid firmware value is not merged into the registry', async () => {
    const d = await device({
      observeD: { fields: [{ field: 'mgmt.firmware', value: { state: 'evil', version: 7 } }] },
      notifies: [{ state: 1 }, { state: 2 }],
    });
    const req = p.platform.requests.initiate({ action: 'firmware/download', parameters: PARAMS, devices: [d.ref] });
    await completion(p.platform, req);
    const fw = p.platform.registry.get(d)!.mgmt.firmware!;
    assert.notEqual(fw.state as unknown, 'evil');
    assert.equal(fw.version, '2.0', 'the accepted device/update set the view');
  });
});
