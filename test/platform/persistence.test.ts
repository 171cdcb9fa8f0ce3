import assert from 'node:assert/strict';
import { startNodeRed, type NodeRedProcess } from '../support/node-red-process';
import { freePort } from '../support/ports';
import { Fleet, devices } from '../support/fleet';

/**
 * The registry survives a Node-RED restart: it is written through to the platform's journal in the
 * user directory; a real Node-RED process is stopped (SIGINT) and started again on that directory.
 */
describe('iotdm-platform registry across a Node-RED restart', function () {
  this.timeout(60000);
  let nr: NodeRedProcess | undefined;
  let fleet: Fleet | undefined;
  afterEach(async () => {
    await fleet?.stop();
    await nr?.stop();
  });

  it('knows the managed devices after the restart (the journal in the user directory)', async () => {
    const mqttPort = await freePort();
    const flows = [
      { id: 't1', type: 'tab', label: 'check' },
      { id: 'p1', type: 'iotdm-platform', access: 'development', broker: 'embedded', port: mqttPort, bind: '127.0.0.1' },
      { id: 'h1', type: 'http in', z: 't1', url: '/check', method: 'post', upload: false, wires: [['r1']] },
      {
        id: 'r1',
        type: 'iotdm-mgmt-request',
        z: 't1',
        platform: 'p1',
        action: 'device/reboot',
        devices: '',
        devicesType: 'msg',
        strict: true,
        timeout: 1,
        follow: 'own',
        deviceOutput: 'none',
        wires: [[], [], ['o1']],
      },
      { id: 'o1', type: 'http response', z: 't1', wires: [] },
    ];
    const check = async (deviceList: unknown) => {
      const r = await fetch(`${nr!.url}/check`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ devices: deviceList }),
      });
      return { status: r.status, body: await r.text() };
    };
    // the http-in body {devices} is msg.payload: the request body, with the node's action
    const fleetDevices = devices(5, 'kept');
    nr = await startNodeRed({ flows });
    fleet = new Fleet({ url: `mqtt://127.0.0.1:${mqttPort}`, devices: fleetDevices });
    await fleet.start();
    await fleet.manageAll();
    await fleet.stop();
    fleet = undefined;
    const post = check;
    // before the restart: known devices launch (202), an unknown one is refused (404)
    assert.equal((await post(fleetDevices)).status, 202);
    assert.equal((await post([{ typeId: 'kept', deviceId: 'never-seen' }])).status, 404);
    const userDir = nr.userDir;
    await nr.stop();
    nr = await startNodeRed({ flows, userDir });
    const after = await post(fleetDevices);
    assert.equal(after.status, 202, after.body);
    assert.equal((await post([{ typeId: 'kept', deviceId: 'never-seen' }])).status, 404);
  });
});
