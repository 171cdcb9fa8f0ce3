/**
 * A gateway's bridged devices come and go at run time (device-responder input `addDevice` /
 * `removeDevice`), and the platform authorises the gateway for them by the operator's policy:
 * auto-enrol behind the gateway, or enrolled beforehand only.
 */
import assert from 'node:assert/strict';
import { loadFlow, unloadFlow, getNode, waitForCall, nodeRedHelper, type FlowNode } from '../support/nodered';
import { freePort } from '../support/ports';
import { until } from './support';

const NODES = [require('../../nodes/iotdm-platform'), require('../../nodes/iotdm-device'), require('../../nodes/device-responder')];
const GW = { typeId: 'gateway', deviceId: 'ble-gw' };
const TOKEN = 'ble-gateway-token';

async function load(policy: 'auto' | 'enrolled'): Promise<void> {
  const port = await freePort();
  const flow: FlowNode[] = [
    { id: 'p', type: 'iotdm-platform', broker: 'embedded', port, bind: '127.0.0.1', access: 'enrolled', gatewayPolicy: policy },
    { id: 'd', type: 'iotdm-device', broker: `mqtt://127.0.0.1:${port}`, mode: 'gateway', typeId: GW.typeId, deviceId: GW.deviceId, devices: '', lifetime: 0 },
    { id: 'r', type: 'iotdm-device-responder', device: 'd', mode: 'auto', wires: [[]] },
  ];
  await loadFlow(NODES, flow, { d: { password: TOKEN } });
  await getNode('p').ready;
  await getNode('p').enrolment.add(
    [
      { ...GW, classId: 'Gateway', authToken: TOKEN },
      { typeId: 'ble', deviceId: 'known', gateway: GW },
    ],
    'flow',
  );
  await until(() => getNode('p').platform.registry.get(GW)?.managed === true, 15000, 'the gateway to be managed');
}

describe('access: devices added and removed behind a gateway at run time', function () {
  this.timeout(40000);
  before(() => nodeRedHelper());
  afterEach(() => unloadFlow());

  it('auto-enrol: addDevice manages a new BLE device behind the gateway; removeDevice unmanages it', async () => {
    await load('auto');
    const platform = getNode('p');
    const b1 = { typeId: 'ble', deviceId: 'b-1' };
    getNode('r').receive({ topic: 'addDevice', payload: [b1, { typeId: 'ble', deviceId: 'known' }] });
    await until(() => platform.platform.registry.get(b1)?.managed === true, 5000, 'b-1 to be managed');
    assert.deepEqual(platform.enrolment.get(b1)?.gateway, GW);
    assert.equal(platform.enrolment.get(b1)?.origin, 'gateway');
    getNode('r').receive({ topic: 'removeDevice', payload: b1 });
    await until(() => platform.platform.registry.get(b1)?.managed === false, 5000, 'b-1 to be unmanaged');
    assert.equal(getNode('d').agent.isOurs(b1), false);
    // a device another gateway (or nobody's gateway) was enrolled for stays out of reach
    await platform.enrolment.add([{ typeId: 'ble', deviceId: 'direct', authToken: 'direct-device-token' }], 'flow');
    assert.equal(platform.enrolment.isBehind(GW, { typeId: 'ble', deviceId: 'direct' }), false);
  });

  it('enrolled beforehand: a device enrolled behind the gateway is managed, another is not (the gateway stays connected)', async () => {
    await load('enrolled');
    const platform = getNode('p');
    getNode('r').receive({ topic: 'addDevice', payload: { typeId: 'ble', deviceId: 'known' } });
    await until(() => platform.platform.registry.get({ typeId: 'ble', deviceId: 'known' })?.managed === true, 5000, 'known to be managed');
    getNode('r').receive({ topic: 'addDevice', payload: { typeId: 'ble', deviceId: 'stranger' } });
    // its manage is dropped by the broker: no answer, the agent's request times out later; meanwhile nothing registers
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(platform.platform.registry.get({ typeId: 'ble', deviceId: 'stranger' }), undefined);
    assert.equal(platform.enrolment.get({ typeId: 'ble', deviceId: 'stranger' }), undefined);
    assert.equal(getNode('d').connection.state, 'connected');
    // a malformed list is an error on the node
    getNode('r').receive({ topic: 'addDevice', payload: [{ typeId: 'ble/x', deviceId: 'y' }] });
    await waitForCall('r', 'error', (args) => /addDevice|invalid-device-list/.test(String(args[0])));
  });
});
