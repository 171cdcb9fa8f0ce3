import assert from 'node:assert/strict';
import {
  buildTopic,
  parseTopic,
  customPath,
  deviceTopic,
  platformTopic,
  DevicePath,
  PlatformPath,
  isValidId,
  parseIbmClientId,
  deviceSubscription,
  PLATFORM_SUBSCRIPTION,
} from '../../nodes/protocol/topics';

const dev = { typeId: 'someType', deviceId: 'someId' };

describe('protocol/topics', () => {
  describe('every device → platform topic of docs/protocol.md §2, both forms', () => {
    for (const [name, path] of Object.entries(DevicePath)) {
      it(`${name}: ${path}`, () => {
        assert.equal(deviceTopic(path), `iotdevice-1/${path}`);
        assert.equal(deviceTopic(path, dev), `iotdevice-1/type/someType/id/someId/${path}`);
        assert.deepEqual(parseTopic(`iotdevice-1/${path}`), { root: 'iotdevice-1', device: undefined, path, name });
        assert.deepEqual(parseTopic(`iotdevice-1/type/someType/id/someId/${path}`), { root: 'iotdevice-1', device: dev, path, name });
      });
    }
  });
  describe('every platform → device topic of docs/protocol.md §2, both forms', () => {
    for (const [name, path] of Object.entries(PlatformPath)) {
      it(`${name}: ${path}`, () => {
        assert.equal(platformTopic(path), `iotdm-1/${path}`);
        assert.equal(platformTopic(path, dev), `iotdm-1/type/someType/id/someId/${path}`);
        assert.equal(parseTopic(`iotdm-1/${path}`)?.name, name);
        assert.deepEqual(parseTopic(`iotdm-1/type/someType/id/someId/${path}`)?.device, dev);
      });
    }
  });
  it('the seed names: factory reset is device/factory_reset on the wire', () => {
    assert.equal(PlatformPath.factoryReset, 'mgmt/initiate/device/factory_reset');
  });
  it('custom actions mgmt/custom/{bundleId}/{actionId}', () => {
    const t = platformTopic(customPath('example-dme', 'installPlugin'), dev);
    assert.equal(t, 'iotdm-1/type/someType/id/someId/mgmt/custom/example-dme/installPlugin');
    const p = parseTopic(t);
    assert.equal(p?.name, 'custom');
    assert.equal(p?.bundleId, 'example-dme');
    assert.equal(p?.actionId, 'installPlugin');
    assert.throws(() => customPath('a/b', 'c'));
    assert.equal(parseTopic('iotdm-1/mgmt/custom/a/b/c')?.name, undefined);
  });
  it('rejects ids that would inject wildcards or levels', () => {
    for (const bad of ['a+b', '#', 'a/b', '', 'x'.repeat(37), 'é', 'a b']) {
      assert.equal(isValidId(bad), false, bad);
      assert.throws(() => buildTopic('iotdm-1', 'response', { typeId: bad, deviceId: 'ok' }));
      assert.throws(() => buildTopic('iotdm-1', 'response', { typeId: 'ok', deviceId: bad }));
    }
    assert.equal(isValidId('x'.repeat(36)), true);
    assert.equal(isValidId('A-z_0.9'), true);
  });
  it('does not parse malformed scopes or foreign roots', () => {
    assert.equal(parseTopic('iot-2/evt/x/fmt/json'), undefined);
    assert.equal(parseTopic('iotdevice-1/type/T/xx/D/mgmt/manage'), undefined);
    assert.equal(parseTopic('iotdevice-1/type/T/id'), undefined);
    assert.equal(parseTopic('iotdevice-1/type/+/id/D/notify'), undefined);
    assert.equal(parseTopic('iotdevice-1/unknown/path')?.name, undefined);
  });
  it('subscriptions', () => {
    assert.equal(PLATFORM_SUBSCRIPTION, 'iotdevice-1/type/+/id/+/#');
    assert.equal(deviceSubscription(dev), 'iotdm-1/type/someType/id/someId/#');
  });
  it('IBM client ids', () => {
    assert.deepEqual(parseIbmClientId('d:org1:T:D'), { kind: 'd', orgId: 'org1', device: { typeId: 'T', deviceId: 'D' } });
    assert.equal(parseIbmClientId('g:org1:T:D')?.kind, 'g');
    assert.equal(parseIbmClientId('a:org1:app'), undefined);
    assert.equal(parseIbmClientId('d:org1:T+:D'), undefined);
    assert.equal(parseIbmClientId(undefined), undefined);
  });
});
