import assert from 'node:assert/strict';
import { scopeOfClientId, publishTopicFor, subscriptionFor, unsubscriptionFor, deliveredTopicFor, isDmTopic } from '../../nodes/transport/scoping';

const dev = { typeId: 'TypeA', deviceId: 'dev-1' };
const S = 'type/TypeA/id/dev-1';

describe('transport/scoping', () => {
  describe('scopeOfClientId', () => {
    it('scopes a d:org:type:id client to its device', () => {
      assert.deepEqual(scopeOfClientId('d:myorg:TypeA:dev-1'), dev);
    });
    it('does not scope gateways, applications, other or malformed ids', () => {
      for (const id of ['g:myorg:TypeA:dev-1', 'a:myorg:app', 'A:myorg:app', 'platform-1', 'd:org:T', 'd:org:T:id:x', 'd:org:T+:x', '', undefined, null]) {
        assert.equal(scopeOfClientId(id), undefined, String(id));
      }
    });
  });

  describe('publishTopicFor', () => {
    it('maps every bare device → platform DM topic into the device scope', () => {
      assert.equal(publishTopicFor(dev, 'iotdevice-1/mgmt/manage'), `iotdevice-1/${S}/mgmt/manage`);
      assert.equal(publishTopicFor(dev, 'iotdevice-1/response'), `iotdevice-1/${S}/response`);
      assert.equal(publishTopicFor(dev, 'iotdevice-1/add/diag/errorCodes'), `iotdevice-1/${S}/add/diag/errorCodes`);
    });
    it('maps iot-2 events into the device scope', () => {
      assert.equal(publishTopicFor(dev, 'iot-2/evt/status/fmt/json'), `iot-2/${S}/evt/status/fmt/json`);
    });
    it("maps the root-less topics of IBM's C client under iotdevice-1", () => {
      assert.equal(publishTopicFor(dev, 'mgmt/unmanage'), `iotdevice-1/${S}/mgmt/unmanage`);
      assert.equal(publishTopicFor(dev, 'response'), `iotdevice-1/${S}/response`);
      assert.equal(publishTopicFor(dev, 'device/update/location'), `iotdevice-1/${S}/device/update/location`);
    });
    it('scopes a bare iotdm-1 publish too, so it can never reach another device', () => {
      assert.equal(publishTopicFor(dev, 'iotdm-1/response'), `iotdm-1/${S}/response`);
    });
    it("leaves the device's own scoped form unchanged (idempotent)", () => {
      assert.equal(publishTopicFor(dev, `iotdevice-1/${S}/mgmt/manage`), `iotdevice-1/${S}/mgmt/manage`);
    });
    it("refuses a publish into another device's scope or a malformed scope", () => {
      assert.equal(publishTopicFor(dev, 'iotdevice-1/type/TypeA/id/dev-2/response'), undefined);
      assert.equal(publishTopicFor(dev, 'iotdevice-1/type/TypeB/id/dev-1/response'), undefined);
      assert.equal(publishTopicFor(dev, 'iotdm-1/type/TypeA/id/dev-2/response'), undefined);
      assert.equal(publishTopicFor(dev, 'iotdevice-1/type/TypeA'), undefined);
    });
    it('leaves topics outside the scoped roots alone', () => {
      assert.equal(publishTopicFor(dev, 'some/other/topic'), 'some/other/topic');
      assert.equal(publishTopicFor(dev, 'iotdevice-10/mgmt/manage'), 'iotdevice-10/mgmt/manage');
      assert.equal(publishTopicFor(dev, 'mgmt/other'), 'mgmt/other');
    });
  });

  describe('subscriptionFor', () => {
    it("maps the 10 subscriptions of IBM's Python device client, wildcards included", () => {
      const py: Array<[string, string]> = [
        ['iotdm-1/response', `iotdm-1/${S}/response`],
        ['iotdm-1/observe', `iotdm-1/${S}/observe`],
        ['iotdm-1/mgmt/initiate/device/reboot', `iotdm-1/${S}/mgmt/initiate/device/reboot`],
        ['iotdm-1/mgmt/initiate/device/factory_reset', `iotdm-1/${S}/mgmt/initiate/device/factory_reset`],
        ['iotdm-1/device/update', `iotdm-1/${S}/device/update`],
        ['iotdm-1/mgmt/initiate/firmware/update', `iotdm-1/${S}/mgmt/initiate/firmware/update`],
        ['iotdm-1/mgmt/initiate/firmware/download', `iotdm-1/${S}/mgmt/initiate/firmware/download`],
        ['iotdm-1/cancel', `iotdm-1/${S}/cancel`],
        ['iot-2/cmd/+/fmt/+', `iot-2/${S}/cmd/+/fmt/+`],
        ['iotdm-1/mgmt/custom/#', `iotdm-1/${S}/mgmt/custom/#`],
      ];
      for (const [bare, scoped] of py) assert.equal(subscriptionFor(dev, bare), scoped, bare);
    });
    it('maps iotdm-1/# (Node, embedded C, C#) and a + inside the path', () => {
      assert.equal(subscriptionFor(dev, 'iotdm-1/#'), `iotdm-1/${S}/#`);
      assert.equal(subscriptionFor(dev, 'iotdm-1/+/update'), `iotdm-1/${S}/+/update`);
    });
    it("accepts the device's own scope unchanged (a restored session)", () => {
      assert.equal(subscriptionFor(dev, `iotdm-1/${S}/#`), `iotdm-1/${S}/#`);
    });
    it('refuses other scopes, wildcard scopes and wildcard first levels', () => {
      for (const f of [
        'iotdm-1/type/TypeA/id/dev-2/#',
        'iotdm-1/type/+/id/+/#',
        'iotdm-1/type/TypeA/id/+/response',
        'iotdevice-1/type/+/id/+/#',
        '#',
        '+/response',
        '+',
      ]) {
        assert.equal(subscriptionFor(dev, f), undefined, f);
      }
    });
    it('leaves filters outside the scoped roots alone', () => {
      assert.equal(subscriptionFor(dev, 'app/#'), 'app/#');
    });
    it('unsubscribe maps like subscribe, and passes what could not be subscribed', () => {
      assert.equal(unsubscriptionFor(dev, 'iotdm-1/device/update'), `iotdm-1/${S}/device/update`);
      assert.equal(unsubscriptionFor(dev, '#'), '#');
    });
  });

  describe('deliveredTopicFor', () => {
    it("strips the device's own scope back to the bare form", () => {
      assert.equal(deliveredTopicFor(dev, `iotdm-1/${S}/response`), 'iotdm-1/response');
      assert.equal(deliveredTopicFor(dev, `iotdm-1/${S}/mgmt/initiate/device/reboot`), 'iotdm-1/mgmt/initiate/device/reboot');
      assert.equal(deliveredTopicFor(dev, `iot-2/${S}/cmd/blink/fmt/json`), 'iot-2/cmd/blink/fmt/json');
      assert.equal(deliveredTopicFor(dev, `iotdm-1/${S}`), 'iotdm-1');
    });
    it("never delivers another device's scope", () => {
      assert.equal(deliveredTopicFor(dev, 'iotdm-1/type/TypeA/id/dev-2/response'), undefined);
      assert.equal(deliveredTopicFor(dev, 'iotdm-1/type/TypeA/id/dev-10/response'), undefined);
      assert.equal(deliveredTopicFor(dev, 'iot-2/type/TypeB/id/dev-1/cmd/x/fmt/json'), undefined);
    });
    it('is idempotent on bare and unrelated topics', () => {
      assert.equal(deliveredTopicFor(dev, 'iotdm-1/response'), 'iotdm-1/response');
      assert.equal(deliveredTopicFor(dev, 'other/thing'), 'other/thing');
    });
    it('round-trips: what a bare client publishes into its scope comes back bare', () => {
      for (const t of ['iotdm-1/response', 'iotdm-1/mgmt/custom/b/a', 'iot-2/cmd/x/fmt/json', 'iotdevice-1/notify']) {
        assert.equal(deliveredTopicFor(dev, publishTopicFor(dev, t)!), t);
      }
    });
  });

  it('isDmTopic: only the two DM roots', () => {
    assert.equal(isDmTopic('iotdevice-1/mgmt/manage'), true);
    assert.equal(isDmTopic('iotdm-1/type/T/id/D/response'), true);
    assert.equal(isDmTopic('iot-2/evt/x/fmt/json'), false);
    assert.equal(isDmTopic('iotdm-10/x'), false);
    assert.equal(isDmTopic('iotdm-1'), false);
  });
});
