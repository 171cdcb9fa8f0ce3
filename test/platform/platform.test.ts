import assert from 'node:assert/strict';
import { Platform } from '../../nodes/platform/platform';
import { InitiateError } from '../../nodes/platform/request-manager';
import type { MgmtRequest } from '../../nodes/platform/management-request';

interface Sent {
  topic: string;
  body: Record<string, unknown>;
}

function makePlatform(opts: ConstructorParameters<typeof Platform>[1] = {}) {
  const sent: Sent[] = [];
  const platform = new Platform(async (topic, payload) => {
    sent.push({ topic, body: JSON.parse(payload) });
  }, opts);
  const dev = (typeId: string, deviceId: string) => `iotdevice-1/type/${typeId}/id/${deviceId}`;
  const manage = (t: string, d: string, supports: Record<string, unknown> = { deviceActions: true, firmwareActions: true }, extra = {}) =>
    platform.handleMessage(`${dev(t, d)}/mgmt/manage`, JSON.stringify({ reqId: `m-${Math.random()}`, d: { supports, lifetime: 0, ...extra } }));
  const respond = (t: string, d: string, reqId: unknown, rc: unknown, message?: string) =>
    platform.handleMessage(`${dev(t, d)}/response`, JSON.stringify({ reqId, rc, message }));
  return { platform, sent, manage, respond, dev };
}

const tick = () => new Promise((r) => setImmediate(r));
async function settle(n = 5) {
  for (let i = 0; i < n; i++) await tick();
}
function done(req: MgmtRequest): Promise<MgmtRequest> {
  return new Promise((resolve) => {
    if (req.complete) return resolve(req);
    const h = (r: MgmtRequest) => {
      if (r === req) resolve(r);
    };
    platformRef.current!.requests.on('requestComplete', h);
  });
}
const platformRef: { current?: Platform } = {};

describe('platform/platform', () => {
  afterEach(() => platformRef.current?.close());

  it('answers manage with 200, reqId first and rc second, and registers the device', () => {
    const { platform, sent } = makePlatform();
    platformRef.current = platform;
    platform.handleMessage(
      'iotdevice-1/type/T/id/D/mgmt/manage',
      '{"reqId":"r1","d":{"lifetime":3600,"supports":{"deviceActions":1,"firmwareActions":0},"deviceInfo":{"fwVersion":"1.0"}}}',
    );
    assert.equal(sent.length, 1);
    assert.equal(sent[0].topic, 'iotdm-1/type/T/id/D/response');
    assert.deepEqual(Object.keys(sent[0].body), ['reqId', 'rc']);
    assert.deepEqual(sent[0].body, { reqId: 'r1', rc: 200 });
    const rec = platform.registry.get({ typeId: 'T', deviceId: 'D' })!;
    assert.equal(rec.managed, true);
    assert.deepEqual(rec.supports, { deviceActions: true, firmwareActions: false });
    assert.equal(rec.deviceInfo.fwVersion, '1.0');
    assert.ok(rec.dormantDateTime);
    // Python's empty deviceInfo does not erase what is known
    platform.handleMessage('iotdevice-1/type/T/id/D/mgmt/manage', '{"reqId":"r2","d":{"deviceInfo":{}}}');
    assert.equal(platform.registry.get({ typeId: 'T', deviceId: 'D' })!.deviceInfo.fwVersion, '1.0');
  });

  it('runs a reboot: 202, then the next manage completes it', async () => {
    const { platform, sent, manage, respond } = makePlatform();
    platformRef.current = platform;
    manage('T', 'a');
    manage('T', 'b');
    sent.length = 0;
    const req = platform.requests.initiate({
      action: 'device/reboot',
      devices: [
        { typeId: 'T', deviceId: 'a' },
        { typeId: 'T', deviceId: 'b' },
      ],
    });
    await settle();
    const reboots = sent.filter((s) => s.topic.endsWith('/mgmt/initiate/device/reboot'));
    assert.equal(reboots.length, 2);
    respond('T', 'a', reboots[0].body.reqId, 202);
    respond('T', 'b', reboots[1].body.reqId, '202'); // rc as a string (embedded C, C#)
    assert.equal(req.counts.inProgress, 2);
    assert.equal(platform.requests.deviceStatusOf(req.id, { typeId: 'T', deviceId: 'a' })!.phase, 'reboot');
    const finished = done(req);
    manage('T', 'a');
    manage('T', 'b');
    await finished;
    assert.equal(req.counts.success, 2);
    assert.equal(req.details().status, 0);
    assert.equal(req.details().complete, true);
  });

  for (const [rc, msg] of [
    [500, 'disk on fire'],
    [501, 'not supported'],
  ] as const) {
    it(`a device that answers ${rc} fails with its message`, async () => {
      const { platform, sent, manage, respond } = makePlatform();
      platformRef.current = platform;
      manage('T', 'a');
      sent.length = 0;
      const req = platform.requests.initiate({ action: 'device/factoryReset', devices: [{ typeId: 'T', deviceId: 'a' }] });
      await settle();
      assert.equal(sent[0].topic, 'iotdm-1/type/T/id/a/mgmt/initiate/device/factory_reset');
      const finished = done(req);
      respond('T', 'a', sent[0].body.reqId, rc, msg);
      await finished;
      const row = platform.requests.deviceStatusOf(req.id, { typeId: 'T', deviceId: 'a' })!;
      assert.equal(row.status, 2);
      assert.equal(row.rc, rc);
      assert.match(row.message!, new RegExp(msg));
    });
  }

  it('fails unknown, unmanaged and unable devices without a publish; strict mode refuses the request', async () => {
    const { platform, sent, manage } = makePlatform();
    platformRef.current = platform;
    manage('T', 'able');
    manage('T', 'unable', { deviceActions: false });
    manage('T', 'gone');
    platform.handleMessage('iotdevice-1/type/T/id/gone/mgmt/unmanage', '{"reqId":"u"}');
    sent.length = 0;
    const devices = ['able', 'unable', 'gone', 'unknown'].map((deviceId) => ({ typeId: 'T', deviceId }));
    const req = platform.requests.initiate({ action: 'device/reboot', devices });
    await settle();
    assert.equal(sent.length, 1);
    assert.equal(sent[0].topic, 'iotdm-1/type/T/id/able/mgmt/initiate/device/reboot');
    const rows = platform.requests.deviceStatus(req.id)!.results;
    assert.deepEqual(
      rows.map((r) => [r.deviceId, r.status, r.rc]),
      [
        ['able', 1, undefined],
        ['unable', 2, 403],
        ['gone', 2, 403],
        ['unknown', 2, 404],
      ],
    );
    assert.throws(
      () => platform.requests.initiate({ action: 'device/reboot', devices }, { strict: true }),
      (e: InitiateError) => e.statusCode === 404,
    );
    assert.throws(
      () => platform.requests.initiate({ action: 'device/reboot', devices: devices.slice(0, 2) }, { strict: true }),
      (e: InitiateError) => e.statusCode === 403,
    );
  });

  it('times out a device that never answers, naming the phase', async () => {
    const { platform, manage, sent, respond } = makePlatform({ responseTimeoutMs: 50, restartTimeoutMs: 150 });
    platformRef.current = platform;
    manage('T', 'silent');
    manage('T', 'noreboot');
    sent.length = 0;
    const req = platform.requests.initiate({
      action: 'device/reboot',
      devices: [
        { typeId: 'T', deviceId: 'silent' },
        { typeId: 'T', deviceId: 'noreboot' },
      ],
      timeout: 5,
    });
    await settle();
    respond('T', 'noreboot', sent[1].body.reqId, 202);
    await done(req);
    const rows = platform.requests.deviceStatus(req.id)!.results;
    assert.equal(rows[0].status, 3);
    assert.equal(rows[0].message, 'no answer to device/reboot');
    assert.equal(rows[1].status, 3);
    assert.equal(rows[1].message, 'no manage request after the reboot');
  });

  it('the request deadline ends what the phase timeouts have not, naming the phase', async () => {
    const { platform, manage, sent, respond } = makePlatform();
    platformRef.current = platform;
    manage('T', 'slow');
    sent.length = 0;
    const req = platform.requests.initiate({ action: 'device/reboot', devices: [{ typeId: 'T', deviceId: 'slow' }], timeout: 0.1 });
    await settle();
    respond('T', 'slow', sent[0].body.reqId, 202);
    await done(req);
    assert.equal(platform.requests.deviceStatus(req.id)!.results[0].message, 'request timed out during reboot');
  });

  it('a download that goes back to idle fails with the known updateStatus even when the notify leaves it out', async () => {
    const { platform, manage, sent, respond } = makePlatform();
    platformRef.current = platform;
    manage('T', 'fw');
    const notify = (value: unknown) =>
      platform.handleMessage('iotdevice-1/type/T/id/fw/notify', JSON.stringify({ d: { fields: [{ field: 'mgmt.firmware', value }] } }));
    notify({ state: 0, updateStatus: 3 }); // an earlier failed download
    sent.length = 0;
    const req = platform.requests.initiate({ action: 'firmware/download', devices: [{ typeId: 'T', deviceId: 'fw' }] });
    await settle();
    respond('T', 'fw', sent[0].body.reqId, 200); // observe
    await settle();
    respond('T', 'fw', sent[1].body.reqId, 202); // initiate download
    notify({ state: 1 });
    const finished = done(req);
    notify({ state: 0 }); // failed again with the same updateStatus, which it does not repeat
    await finished;
    const row = platform.requests.deviceStatus(req.id)!.results[0];
    assert.deepEqual([row.status, row.message], [2, 'download failed: connection lost (updateStatus 3)']);
  });

  it('ignores late, duplicated and foreign answers', async () => {
    const { platform, manage, sent, respond } = makePlatform();
    platformRef.current = platform;
    manage('T', 'a');
    manage('T', 'b');
    sent.length = 0;
    const req = platform.requests.initiate({ action: 'device/reboot', devices: [{ typeId: 'T', deviceId: 'a' }] });
    await settle();
    const reqId = sent[0].body.reqId;
    let unmatched = 0;
    platform.on('unmatched', () => unmatched++);
    respond('T', 'b', reqId, 500); // another device cannot answer for a
    assert.equal(req.counts.inProgress, 1);
    respond('T', 'a', reqId, 202);
    respond('T', 'a', reqId, 500); // duplicate
    assert.equal(unmatched, 2);
    assert.equal(platform.requests.deviceStatusOf(req.id, { typeId: 'T', deviceId: 'a' })!.status, 1);
  });

  it('answers invalid device requests with 400 and reports them', () => {
    const { platform, sent } = makePlatform();
    platformRef.current = platform;
    const invalid: string[] = [];
    platform.on('invalid', (e) => invalid.push(e.message));
    platform.handleMessage('iotdevice-1/type/T/id/D/mgmt/manage', '{"reqId":"x","d":{"lifetime":"long"}}');
    platform.handleMessage('iotdevice-1/type/T/id/D/mgmt/manage', '{"reqId":"y", nope');
    platform.handleMessage('iotdevice-1/type/T/id/D/response', '{"reqId":"z","rc":"abc"}');
    assert.deepEqual(
      sent.map((s) => [s.body.reqId, s.body.rc]),
      [
        ['x', 400],
        ['y', 400],
      ],
    );
    assert.equal(invalid.length, 3);
  });

  it('refuses invalid bodies with 400: >5,000 devices, wildcard ids, unknown actions, duplicates', () => {
    const { platform } = makePlatform();
    platformRef.current = platform;
    const many = Array.from({ length: 5001 }, (_, i) => ({ typeId: 'T', deviceId: `d${i}` }));
    for (const body of [
      { action: 'device/reboot', devices: many },
      { action: 'device/reboot', devices: [{ typeId: 'T', deviceId: '#' }] },
      { action: 'device/reboot', devices: [{ typeId: 'T/+', deviceId: 'x' }] },
      { action: 'device/explode', devices: [{ typeId: 'T', deviceId: 'x' }] },
      { action: 'device/reboot', devices: [] },
      {
        action: 'device/reboot',
        devices: [
          { typeId: 'T', deviceId: 'x' },
          { typeId: 'T', deviceId: 'x' },
        ],
      },
      {
        action: 'firmware/update',
        devices: [
          { typeId: 'A', deviceId: 'x' },
          { typeId: 'B', deviceId: 'x' },
        ],
      },
      { action: 'device/reboot', devices: [{ typeId: 'T', deviceId: 'x' }], extra: 1 },
    ]) {
      assert.throws(
        () => platform.requests.initiate(body),
        (e: InitiateError) => e.statusCode === 400,
        JSON.stringify(body).slice(0, 80),
      );
    }
  });
  it('answers location, diag and unmanage with 200, and 404 for a device that never managed', () => {
    const { platform, sent, manage } = makePlatform();
    platformRef.current = platform;
    const send = (path: string, body: unknown) => platform.handleMessage(`iotdevice-1/type/T/id/D/${path}`, JSON.stringify(body));
    send('device/update/location', { reqId: 'l0', d: { latitude: 1, longitude: 2 } });
    manage('T', 'D');
    sent.length = 0;
    send('device/update/location', { reqId: 'l1', d: { latitude: 48.85, longitude: 2.35, elevation: 35 } });
    send('add/diag/errorCodes', { reqId: 'e1', d: { errorCode: 12 } });
    send('add/diag/log', { reqId: 'g1', d: { message: 'hot', severity: 2, data: 'AA==' } });
    send('clear/diag/log', { reqId: 'g2' });
    send('clear/diag/errorCodes', { reqId: 'e2' });
    send('device/update/location', { reqId: 'l2', d: { latitude: 95, longitude: 0 } });
    send('mgmt/unmanage', { reqId: 'u1' });
    assert.deepEqual(
      sent.map((s) => [s.body.reqId, s.body.rc]),
      [
        ['l1', 200],
        ['e1', 200],
        ['g1', 200],
        ['g2', 200],
        ['e2', 200],
        ['l2', 400],
        ['u1', 200],
      ],
    );
    const rec = platform.registry.get({ typeId: 'T', deviceId: 'D' })!;
    assert.equal(rec.location?.elevation, 35);
    assert.equal(rec.managed, false);
  });

  it('404 for the first location of an unknown device', () => {
    const { platform, sent } = makePlatform();
    platformRef.current = platform;
    platform.handleMessage('iotdevice-1/type/T/id/X/device/update/location', '{"reqId":"l0","d":{"latitude":1,"longitude":2}}');
    assert.deepEqual([sent[0].body.reqId, sent[0].body.rc], ['l0', 404]);
  });

  it('accepts both notify shapes; answers only a notify that carries a reqId', () => {
    const { platform, sent, manage } = makePlatform();
    platformRef.current = platform;
    manage('T', 'D');
    sent.length = 0;
    platform.handleMessage('iotdevice-1/type/T/id/D/notify', '{"d":{"fields":[{"field":"mgmt.firmware","value":{"state":1}}]}}');
    platform.handleMessage('iotdevice-1/type/T/id/D/notify', '{"reqId":"n1","d":{"field":"mgmt.firmware.updateStatus","value":4}}');
    assert.deepEqual(
      sent.map((s) => [s.body.reqId, s.body.rc]),
      [['n1', 200]],
    );
    const fw = platform.registry.get({ typeId: 'T', deviceId: 'D' })!.mgmt.firmware!;
    assert.deepEqual([fw.state, fw.updateStatus], [1, 4]);
    platform.handleMessage('iotdevice-1/type/T/id/D/notify', '{"reqId":"n2","d":{"fields":[{"field":"mgmt.firmware","value":{"state":7}}]}}');
    assert.deepEqual([sent[1].body.reqId, sent[1].body.rc], ['n2', 400]);
  });

  it("repairs the unquoted reqId of IBM's embedded C client", async () => {
    const { platform, sent, manage } = makePlatform();
    platformRef.current = platform;
    manage('T', 'a');
    sent.length = 0;
    const req = platform.requests.initiate({ action: 'device/reboot', devices: [{ typeId: 'T', deviceId: 'a' }] });
    await settle();
    platform.handleMessage('iotdevice-1/type/T/id/a/response', `{"rc":202,"reqId":${sent[0].body.reqId}}`);
    assert.equal(platform.requests.deviceStatusOf(req.id, { typeId: 'T', deviceId: 'a' })!.phase, 'reboot');
  });
});
