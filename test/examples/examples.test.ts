/**
 * Every examples/*.json in a real Node-RED (the package installed as a module): deployed as the
 * editor deploys it, with its brokers moved to free ports; every node must start without an
 * "[error]" line, every device it declares must be managed by its platform, and its inject buttons
 * must do what the example says (each request reaches complete with every device succeeding).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startNodeRed, type NodeRedProcess } from '../support/node-red-process';
import { deviceKey } from '../../nodes/protocol/topics';
import { EXAMPLES, readExample, movePorts, declaredDevices, deploy, press, registryOf, until, type FlowNode } from './flows';

interface Summary {
  request: string;
  payload: { action: string; complete: boolean; counts: { total: number; success: number } };
}

/** The buttons of each example, pressed in order, and the requests each one must complete. */
const SCENARIOS: Record<string, { press: string; expect: { action: string; total: number }[] }[]> = {
  'reboot.json': [{ press: 'reboot', expect: [{ action: 'device/reboot', total: 1 }] }],
  'factory-reset.json': [{ press: 'factory reset t-2', expect: [{ action: 'device/factoryReset', total: 1 }] }],
  'firmware-download-then-update.json': [
    { press: 'roll out 2.0.0', expect: [{ action: 'firmware/download', total: 2 }, { action: 'firmware/update', total: 2 }] },
  ],
  'device.json': [
    { press: 'reboot', expect: [{ action: 'device/reboot', total: 1 }] },
    { press: 'factory reset', expect: [{ action: 'device/factoryReset', total: 1 }] },
    { press: 'firmware download 2.0.0', expect: [{ action: 'firmware/download', total: 1 }] },
    { press: 'firmware update', expect: [{ action: 'firmware/update', total: 1 }] },
  ],
  'gateway.json': [
    { press: 'reboot the 10 thermos', expect: [{ action: 'device/reboot', total: 10 }] },
    { press: 'factory reset valve v-2', expect: [{ action: 'device/factoryReset', total: 1 }] },
    { press: 'reboot the gateway itself', expect: [{ action: 'device/reboot', total: 1 }] },
  ],
  'simulated-fleet.json': [{ press: 'reboot all', expect: [{ action: 'device/reboot', total: 100 }] }],
  // launches over HTTP need the API credentials: test/http/example.test.ts runs them
  'http-api.json': [],
  // a rollout reports on its own outputs, not through a mgmt-request: test/platform/rollout*.test.ts run rollouts
  'rollout.json': [],
};

/** Wire a probe behind output 2 (request complete) of every mgmt-request: it logs the summary. */
function probe(flow: FlowNode[]): void {
  for (const n of flow.filter((x) => x.type === 'iotdm-mgmt-request')) {
    const id = `probe${n.id}`.slice(0, 32);
    flow.push({
      id,
      type: 'function',
      z: n.z,
      name: 'test probe',
      func: `node.log('IOTDM-PROBE ' + JSON.stringify({ request: ${JSON.stringify(n.id)}, payload: msg.payload }));\nreturn null;`,
      outputs: 1,
      wires: [[]],
    });
    n.wires![1] = [...(n.wires![1] ?? []), id];
  }
}

function summaries(text: string): Summary[] {
  return [...text.matchAll(/IOTDM-PROBE (\{.*\})\s*$/gm)].map((m) => JSON.parse(m[1]) as Summary);
}

const errorLines = (text: string) => text.split('\n').filter((l) => /\[error\]/.test(l));

describe('examples: every example flow starts in Node-RED and does what it says', function () {
  this.timeout(60000);
  const files = fs.readdirSync(EXAMPLES).filter((f) => f.endsWith('.json')).sort();
  let red: NodeRedProcess;

  before(async () => {
    red = await startNodeRed({ flows: [] });
  });
  after(async () => {
    await red?.stop();
  });

  it('one example per capability, each with a scenario in this test', () => {
    assert.deepEqual(files, Object.keys(SCENARIOS).sort());
  });

  for (const file of files) {
    it(`${file}: every node starts without error, its devices are managed, its buttons complete`, async () => {
      const flow = readExample(file);
      const original = JSON.stringify(flow);
      await movePorts(flow);
      probe(flow);
      const mark = red.output().length;
      const since = () => red.output().slice(mark);
      await deploy(red.url, flow);
      await until('Started flows', () => /Started flows/.test(since()));

      // every device of the example is managed by the example's platform
      const devices = declaredDevices(flow);
      const platforms = flow.filter((n) => n.type === 'iotdm-platform');
      assert.ok(platforms.length > 0, 'a platform');
      if (devices.length) {
        await until(`${devices.length} managed devices`, async () => {
          const managed = new Set<string>();
          for (const p of platforms) for (const d of await registryOf(red.url, p.id)) if (d.managed) managed.add(deviceKey(d));
          return devices.every((d) => managed.has(d)) || undefined;
        });
      }
      assert.deepEqual(errorLines(since()), [], `${file}: [error] lines after deploy`);

      for (const step of SCENARIOS[file]) {
        const inject = flow.find((n) => n.type === 'inject' && n.name === step.press);
        assert.ok(inject, `${file}: no inject "${step.press}"`);
        const before = summaries(since()).length;
        await press(red.url, inject.id);
        const got = await until(
          `${file} "${step.press}": ${step.expect.length} request(s) complete`,
          () => {
            const s = summaries(since()).slice(before);
            return s.length >= step.expect.length ? s : undefined;
          },
          20000,
        );
        assert.deepEqual(
          got.map((s) => ({ action: s.payload.action, total: s.payload.counts.total, success: s.payload.counts.success, complete: s.payload.complete })),
          step.expect.map((e) => ({ action: e.action, total: e.total, success: e.total, complete: true })),
          `${file} "${step.press}"`,
        );
      }
      if (file === 'firmware-download-then-update.json' || file === 'device.json') {
        // the update ends with the devices' new firmware version in the platform's registry
        await until('fwVersion 2.0.0 in the registry', async () => {
          const reg = await registryOf(red.url, platforms[0].id);
          return reg.length > 0 && reg.filter((d) => d.typeId === 'thermo').every((d) => d.deviceInfo.fwVersion === '2.0.0') ? true : undefined;
        });
      }
      assert.deepEqual(errorLines(since()), [], `${file}: [error] lines`);
      assert.equal(readExample(file).length, JSON.parse(original).length, 'the example file itself is untouched');
    });
  }
});
