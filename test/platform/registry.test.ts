import assert from 'node:assert/strict';
import { Registry, MAX_LOG_ENTRIES } from '../../nodes/platform/registry';

const T = { typeId: 'T', deviceId: 'D' };

describe('platform/registry', () => {
  let clock = Date.parse('2026-01-01T00:00:00Z');
  const now = () => new Date(clock);
  let reg: Registry;
  beforeEach(() => {
    clock = Date.parse('2026-01-01T00:00:00Z');
    reg = new Registry(now);
  });
  afterEach(() => reg.close());

  it('a device whose lifetime runs out without a new manage becomes dormant and unmanaged, its mgmt.* dropped', () => {
    reg.manage(T, { lifetime: 3600, supports: { deviceActions: true, firmwareActions: 1 } });
    reg.mergeFirmware(T, { state: 2 });
    assert.equal(reg.get(T)!.dormantDateTime, '2026-01-01T01:00:00.000Z');
    clock += 3599_000;
    assert.equal(reg.sweepDormant(), 0);
    clock += 2_000;
    assert.equal(reg.sweepDormant(), 1);
    const rec = reg.get(T)!;
    assert.deepEqual([rec.managed, rec.dormant, rec.supports, rec.mgmt, rec.dormantDateTime], [false, true, {}, {}, undefined]);
    // managing again brings it back
    reg.manage(T, { lifetime: 0, supports: { deviceActions: true } });
    assert.deepEqual([reg.get(T)!.managed, reg.get(T)!.dormant, reg.get(T)!.dormantDateTime], [true, false, undefined]);
  });

  it('lifetime 0 or absent never goes dormant', () => {
    reg.manage(T, {});
    clock += 10 * 365 * 86400_000;
    assert.equal(reg.sweepDormant(), 0);
    assert.equal(reg.get(T)!.managed, true);
  });

  it('a new manage pushes dormancy back', () => {
    reg.manage(T, { lifetime: 3600 });
    clock += 3000_000;
    reg.manage(T, { lifetime: 3600 });
    clock += 3000_000;
    assert.equal(reg.sweepDormant(), 0);
  });

  it('deviceInfo and metadata are replaced when sent, kept when not (or when deviceInfo is {})', () => {
    reg.manage(T, { deviceInfo: { model: 'a', fwVersion: '1' }, metadata: { x: 1 } });
    reg.manage(T, { deviceInfo: { model: 'b' } });
    assert.deepEqual(reg.get(T)!.deviceInfo, { model: 'b' });
    assert.deepEqual(reg.get(T)!.metadata, { x: 1 });
    reg.manage(T, { deviceInfo: {} });
    assert.deepEqual(reg.get(T)!.deviceInfo, { model: 'b' });
    reg.manage(T, { metadata: {} });
    assert.deepEqual(reg.get(T)!.metadata, {});
  });

  it('a manage that repeats deviceInfo and supports keeps what is stored; one key more, less or changed replaces it', () => {
    reg.manage(T, { deviceInfo: { model: 'a', fwVersion: '1' }, supports: { deviceActions: true } });
    const first = reg.get(T)!;
    const [info, supports] = [first.deviceInfo, first.supports];
    reg.manage(T, { deviceInfo: { fwVersion: '1', model: 'a' }, supports: { deviceActions: 1 } });
    assert.equal(reg.get(T)!.deviceInfo, info, 'the same values in another order: the stored object stays');
    assert.equal(reg.get(T)!.supports, supports, 'deviceActions 1 is deviceActions true');
    for (const next of [{ model: 'a' }, { model: 'a', fwVersion: '1', serialNumber: 's' }, { model: 'a', fwVersion: '2' }]) {
      reg.manage(T, { deviceInfo: next, supports: { deviceActions: true } });
      assert.deepEqual(reg.get(T)!.deviceInfo, next);
    }
    reg.manage(T, { deviceInfo: { model: 'a', fwVersion: '2' }, supports: { deviceActions: true, firmwareActions: true } });
    assert.deepEqual(reg.get(T)!.supports, { deviceActions: true, firmwareActions: true });
    reg.manage(T, { deviceInfo: { model: 'a', fwVersion: '2' } });
    assert.deepEqual(reg.get(T)!.supports, {}, 'a manage without supports supports nothing');
  });

  it('location is a complete set each time: an omitted optional value is deleted', () => {
    reg.manage(T, {});
    reg.setLocation(T, { latitude: 1, longitude: 2, elevation: 3, accuracy: 4 });
    reg.setLocation(T, { latitude: 5, longitude: 6 });
    const loc = reg.get(T)!.location!;
    assert.deepEqual([loc.latitude, loc.longitude, loc.elevation, loc.accuracy], [5, 6, undefined, undefined]);
    assert.equal(loc.updatedDateTime, now().toISOString());
    assert.equal(loc.measuredDateTime, now().toISOString());
  });

  it('diag: error codes append and clear; the log keeps the newest entries, `data` stored as logData', () => {
    reg.manage(T, {});
    reg.addErrorCode(T, 5);
    reg.addErrorCode(T, 7);
    assert.deepEqual(reg.get(T)!.diag.errorCodes, [5, 7]);
    reg.clearErrorCodes(T);
    assert.deepEqual(reg.get(T)!.diag.errorCodes, []);
    for (let i = 0; i < MAX_LOG_ENTRIES + 5; i++) reg.addLog(T, { message: `m${i}`, data: 'ZGF0YQ==', severity: 1 });
    const log = reg.get(T)!.diag.log;
    assert.equal(log.length, MAX_LOG_ENTRIES);
    assert.equal(log[0].message, 'm5');
    assert.equal(log[0].logData, 'ZGF0YQ==');
    reg.clearLog(T);
    assert.equal(reg.get(T)!.diag.log.length, 0);
  });

  it('operations on an unknown device change nothing and say so', () => {
    assert.equal(reg.setLocation(T, { latitude: 1, longitude: 1 }), undefined);
    assert.equal(reg.addErrorCode(T, 1), undefined);
    assert.equal(reg.unmanage(T), undefined);
    assert.equal(reg.size, 0);
  });

  it('merges one-field firmware notifies into one view', () => {
    reg.manage(T, {});
    reg.mergeFirmware(T, { updateStatus: 1 });
    reg.mergeFirmware(T, { state: 2 });
    assert.deepEqual([reg.get(T)!.mgmt.firmware!.state, reg.get(T)!.mgmt.firmware!.updateStatus], [2, 1]);
  });

  it('round-trips through toJSON/restore, and a restored device past its lifetime is dormant', () => {
    reg.manage(T, { lifetime: 3600, deviceInfo: { fwVersion: '2' } });
    reg.manage({ typeId: 'T', deviceId: 'E' }, {});
    const snap = JSON.parse(JSON.stringify(reg.toJSON()));
    const later = new Registry(() => new Date(clock + 7200_000));
    assert.equal(later.restore(snap), 2);
    assert.equal(later.get(T)!.deviceInfo.fwVersion, '2');
    assert.equal(later.get(T)!.dormant, true);
    assert.equal(later.get({ typeId: 'T', deviceId: 'E' })!.managed, true);
    assert.equal(later.restore({ version: 9 }), 0);
    assert.equal(later.restore('garbage'), 0);
    later.close();
  });

  it('queries by type and id substring, sorted', () => {
    for (const id of ['b2', 'a1', 'c3']) reg.manage({ typeId: 'X', deviceId: id }, {});
    reg.manage({ typeId: 'Y', deviceId: 'a9' }, {});
    assert.deepEqual(
      reg.query({ typeId: 'X' }).map((d) => d.deviceId),
      ['a1', 'b2', 'c3'],
    );
    assert.deepEqual(
      reg.query({ search: 'A' }).map((d) => `${d.typeId}/${d.deviceId}`),
      ['X/a1', 'Y/a9'],
    );
  });
});
