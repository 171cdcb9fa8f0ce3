/**
 * Quiet start (nodes/shared/quiet-start.ts): an iotdm-device on the embedded broker of a platform
 * in the same flows dials before that broker listens; the refusals while it starts are not said,
 * the device manages. When the broker never comes up (here: its TLS node is missing), the refusal
 * is said once, however often mqtt.js tries again.
 */
import assert from 'node:assert/strict';
import { loadFlow, unloadFlow, waitForCall, callsOf, nodeRedHelper, type FlowNode } from '../support/nodered';
import { freePort } from '../support/ports';

const deviceNode = require('../../nodes/iotdm-device');
const platformNode = require('../../nodes/iotdm-platform');

/** the device first, as an export often lists it: it starts (and dials) before the platform */
function flow(port: number, platform: Record<string, unknown> = {}): FlowNode[] {
  return [
    { id: 'dev', type: 'iotdm-device', broker: `mqtt://127.0.0.1:${port}`, mode: 'device', typeId: 'thermo', deviceId: 'q-1', lifetime: 3600, metadata: '{}' },
    {
      id: 'plat',
      type: 'iotdm-platform',
      broker: 'embedded',
      port,
      bind: '127.0.0.1',
      access: 'development',
      gatewayPolicy: 'auto',
      persist: false,
      ...platform,
    },
  ];
}
// the test runtime has no catalogues: RED._ answers the key
const CONNECTION_ERROR = 'iotdm-device.errors.connection';
const refusals = () => callsOf('dev', 'warn').filter((a) => a[0] === CONNECTION_ERROR);

describe('device/quiet start on the embedded broker of the same flows', function () {
  this.timeout(20000);
  before(() => nodeRedHelper());
  afterEach(async () => {
    await unloadFlow();
  });

  it('waits for the broker: the device connects and no connection error is said', async () => {
    await loadFlow([deviceNode, platformNode], flow(await freePort()));
    await waitForCall('dev', 'log', (a) => a[0] === 'iotdm-device.log.connected', 15000);
    assert.deepEqual(refusals(), []);
  });

  it('a broker that never listens is reported once, not on every retry', async () => {
    await loadFlow([deviceNode, platformNode], flow(await freePort(), { tls: 'no-such-tls-node' }));
    await waitForCall('dev', 'warn', (a) => a[0] === CONNECTION_ERROR, 15000);
    // mqtt.js keeps trying every 2 s: two more refusals, still one warning
    await new Promise((r) => setTimeout(r, 4500));
    assert.equal(refusals().length, 1);
  });
});
