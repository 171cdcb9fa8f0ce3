/**
 * Every examples/*.json imported into ONE real Node-RED (the package installed as a module), side
 * by side with each other and with the demo (simulated-fleet.json as `npm start` sets it up: the
 * v0002 API on /api/v0002 with the demo key and token), and deployed once, as the editor deploys.
 * The brokers get free ports through one map for the whole deploy, so two examples that share a
 * port in their files still share one here (and fail). Every node must start without an "[error]"
 * line, every device an example declares must be managed by that example's platform, each
 * example's inject buttons must do what it says (each request complete, every device succeeding),
 * the rollout example's buttons drive its rollout through each state its outputs report, and the
 * http-api example answers on its own API root with its own devices.
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
    {
      press: 'roll out 2.0.0',
      expect: [
        { action: 'firmware/download', total: 2 },
        { action: 'firmware/update', total: 2 },
      ],
    },
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
  // and its own API root, below: launches over HTTP with its own key and token
  'http-api.json': [{ press: 'reboot thermo t-1 from the flow', expect: [{ action: 'device/reboot', total: 1 }] }],
  // a rollout reports on its own outputs, not through a mgmt-request: its buttons are pressed in its own test below
  'rollout.json': [],
  // the page itself is driven in Chromium by test/operator/operator-page.test.ts; its test button here
  'operator-page.json': [{ press: 'reboot all (test)', expect: [{ action: 'device/reboot', total: 20 }] }],
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

/** Wire probes behind the outputs of every rollout node (1 device result, 2 wave, 3 state change, 4 answer): they log what comes out. */
function probeRollouts(flow: FlowNode[]): void {
  for (const n of flow.filter((x) => x.type === 'iotdm-rollout')) {
    for (const output of [1, 2, 3, 4]) {
      const id = `probe${output}${n.id}`.slice(0, 32);
      flow.push({
        id,
        type: 'function',
        z: n.z,
        name: 'test probe',
        func: `node.log('IOTDM-ROLLOUT ' + JSON.stringify({ node: ${JSON.stringify(n.id)}, output: ${output}, statusCode: msg.statusCode, payload: msg.payload }));\nreturn null;`,
        outputs: 1,
        wires: [[]],
      });
      n.wires![output - 1] = [...(n.wires![output - 1] ?? []), id];
    }
  }
}

interface RolloutOut {
  node: string;
  output: 1 | 2 | 3 | 4;
  statusCode?: number;
  payload: {
    rolloutId: string;
    state: string;
    previous?: string;
    index?: number;
    size?: number;
    gate?: string;
    deviceId?: string;
    attempt?: number;
    outcome?: string;
    final?: boolean;
    message?: string;
    counts: Record<'total' | 'pending' | 'inProgress' | 'success' | 'failure' | 'timedOut' | 'cancelled', number>;
  };
}

/** What the probes of a rollout node logged, in order. */
function rolloutOutputs(text: string, node: string): RolloutOut[] {
  return [...text.matchAll(/IOTDM-ROLLOUT (\{.*\})\s*$/gm)].map((m) => JSON.parse(m[1]) as RolloutOut).filter((o) => o.node === node);
}

/** The summaries logged by the probes of the given mgmt-request nodes. */
function summaries(text: string, requests: string[]): Summary[] {
  return [...text.matchAll(/IOTDM-PROBE (\{.*\})\s*$/gm)].map((m) => JSON.parse(m[1]) as Summary).filter((s) => requests.includes(s.request));
}

const errorLines = (text: string) => text.split('\n').filter((l) => /\[error\]/.test(l));

const DEMO = 'simulated-fleet.json';
const DEMO_API = { root: '/api/v0002', key: 'demo-key', token: 'demo-token' };
const EXAMPLE_API = { key: 'example-key', token: 'example-token' };
const basic = (key: string, token: string) => `Basic ${Buffer.from(`${key}:${token}`).toString('base64')}`;

describe('examples: all of them in one Node-RED beside the demo, each does what it says', function () {
  this.timeout(60000);
  const files = fs
    .readdirSync(EXAMPLES)
    .filter((f) => f.endsWith('.json'))
    .sort();
  const byFile = new Map(files.map((f) => [f, readExample(f)] as const));
  let red: NodeRedProcess;
  let mark = 0;
  const since = () => red.output().slice(mark);

  before(async () => {
    red = await startNodeRed({ flows: [] });
    const all: FlowNode[] = [];
    for (const [file, flow] of byFile) {
      for (const n of flow) {
        if (n.type !== 'iotdm-platform') continue;
        // the demo as `npm start` runs it (scripts/start-demo.js); the http-api example with the
        // key and token a user types into its dialog (credentials are never in an example file)
        if (file === DEMO) Object.assign(n, { api: true, apiRoot: DEMO_API.root, credentials: { apiKey: DEMO_API.key, apiToken: DEMO_API.token } });
        else if (n.api) n.credentials = { apiKey: EXAMPLE_API.key, apiToken: EXAMPLE_API.token };
      }
      all.push(...flow);
    }
    await movePorts(all);
    probe(all);
    probeRollouts(all);
    mark = red.output().length;
    await deploy(red.url, all);
    await until('Started flows', () => /Started flows/.test(since()));
  });
  after(async () => {
    await red?.stop();
  });

  it('one example per capability, each with a scenario in this test', () => {
    assert.deepEqual(files, Object.keys(SCENARIOS).sort());
  });

  it('each example has its own broker port, API root, client ids and node ids (so they import side by side)', () => {
    const owner = new Map<string, string>();
    const claim = (what: string, file: string) => {
      const had = owner.get(what);
      assert.ok(!had || had === file, `${what} is used by ${had} and ${file}`);
      owner.set(what, file);
    };
    claim(`API root ${DEMO_API.root}`, DEMO);
    for (const file of files) {
      for (const n of readExample(file)) {
        claim(`node id ${n.id}`, file);
        if (n.type === 'iotdm-platform' && n.broker !== 'external') claim(`broker port ${Number(n.port || 1883)}`, file);
        if (n.type === 'iotdm-platform' && n.api) claim(`API root ${String(n.apiRoot)}`, file);
        if ((n.type === 'iotdm-device' || n.type === 'iotdm-platform') && n.clientId) claim(`client id ${String(n.clientId)}`, file);
      }
    }
  });

  it('all of them start together without an [error] line, and every device of each example is managed by its own platform', async () => {
    for (const [file, flow] of byFile) {
      const devices = declaredDevices(flow);
      const platforms = flow.filter((n) => n.type === 'iotdm-platform');
      assert.ok(platforms.length > 0, `${file}: a platform`);
      assert.ok(devices.length > 0, `${file}: devices of its own`);
      await until(`${file}: ${devices.length} managed devices`, async () => {
        const managed = new Set<string>();
        for (const p of platforms) for (const d of await registryOf(red.url, p.id)) if (d.managed) managed.add(deviceKey(d));
        return devices.every((d) => managed.has(d)) || undefined;
      });
    }
    assert.deepEqual(errorLines(since()), [], '[error] lines after deploy');
    // quiet start: the devices wait for their platform's embedded broker instead of warning
    assert.deepEqual(
      since()
        .split('\n')
        .filter((l) => /ECONNREFUSED/.test(l)),
      [],
      'ECONNREFUSED warnings on deploy',
    );
  });

  for (const file of files) {
    it(`${file}: its buttons complete`, async () => {
      const flow = byFile.get(file)!;
      const requests = flow.filter((n) => n.type === 'iotdm-mgmt-request').map((n) => n.id);
      const platforms = flow.filter((n) => n.type === 'iotdm-platform');
      for (const step of SCENARIOS[file]) {
        const inject = flow.find((n) => n.type === 'inject' && n.name === step.press);
        assert.ok(inject, `${file}: no inject "${step.press}"`);
        const before = summaries(since(), requests).length;
        await press(red.url, inject.id);
        const got = await until(
          `${file} "${step.press}": ${step.expect.length} request(s) complete`,
          () => {
            const s = summaries(since(), requests).slice(before);
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
    });
  }

  it('rollout.json: its buttons drive the rollout (roll out, approve, pause, resume, cancel, re-run the failures) and its outputs say so', async () => {
    const flow = byFile.get('rollout.json')!;
    const node = flow.find((n) => n.type === 'iotdm-rollout')!;
    const button = (name: string) => {
      const inject = flow.find((n) => n.type === 'inject' && n.name === name);
      assert.ok(inject, `rollout.json: no inject "${name}"`);
      return inject.id;
    };
    let seen = rolloutOutputs(since(), node.id).length;
    /** press a button; what the node sent after it, once `done` finds what it waits for */
    const pressThen = async <T>(name: string, what: string, done: (out: RolloutOut[]) => T | undefined, timeoutMs = 20000): Promise<T> => {
      const from = seen;
      await press(red.url, button(name));
      return until(
        `rollout.json "${name}": ${what}`,
        () => {
          const out = rolloutOutputs(since(), node.id).slice(from);
          const got = done(out);
          if (got !== undefined) seen = from + out.length;
          return got;
        },
        timeoutMs,
      );
    };
    const answer = (out: RolloutOut[]) => out.find((o) => o.output === 4);
    const stateOf = (out: RolloutOut[], id: string, state: string) =>
      out.find((o) => o.output === 3 && o.payload.rolloutId === id && o.payload.state === state);

    // roll out: 202 with its id; the canary of 4 succeeds, then the rollout waits for approval
    const created = await pressThen('roll out', 'the answer', answer);
    assert.equal(created.statusCode, 202, JSON.stringify(created.payload));
    const id = created.payload.rolloutId;
    await until('the canary of 4 succeeds and the rollout waits for approval', () => stateOf(rolloutOutputs(since(), node.id), id, 'waitingApproval'));
    const canary = rolloutOutputs(since(), node.id).filter((o) => o.output === 2 && o.payload.rolloutId === id && o.payload.index === 0);
    // the canary's results: started, completed with its 4 successes, then its gate waits for approval
    assert.deepEqual(
      canary.map((o) => [o.payload.state, o.payload.gate ?? '', o.payload.size, o.payload.counts.success]),
      [
        ['running', '', 4, 0],
        ['completed', '', 4, 4],
        ['completed', 'waitingApproval', 4, 4],
      ],
    );
    // and each of its 4 devices on output 1: its first attempt, a final success
    const canaryDevices = rolloutOutputs(since(), node.id).filter((o) => o.output === 1 && o.payload.rolloutId === id);
    assert.deepEqual(
      canaryDevices.map((o) => [o.payload.attempt, o.payload.outcome, o.payload.final]),
      Array(4).fill([1, 'success', true]),
    );
    assert.equal(new Set(canaryDevices.map((o) => o.payload.deviceId)).size, 4);

    // each command: its answer (200, the rollout's new state) and the state change on output 3
    for (const [name, state] of [
      ['approve', 'running'],
      ['pause', 'paused'],
      ['resume', 'running'],
      ['cancel', 'cancelled'],
    ] as const) {
      const [a, change] = await pressThen(name, `the answer and the state ${state}`, (out) => {
        const a = answer(out);
        const change = stateOf(out, id, state);
        return a && change ? ([a, change] as const) : undefined;
      });
      assert.deepEqual([a.statusCode, a.payload.rolloutId, a.payload.state], [200, id, state], `"${name}" answered ${JSON.stringify(a.payload)}`);
      assert.equal(change.payload.counts.total, 40);
    }
    const cancelled = stateOf(rolloutOutputs(since(), node.id), id, 'cancelled')!.payload.counts;
    assert.equal(cancelled.pending + cancelled.inProgress, 0, JSON.stringify(cancelled));
    const left = cancelled.total - cancelled.success;
    assert.ok(left > 0 && cancelled.success >= 4, JSON.stringify(cancelled));

    // re-run the failures: a new rollout of the devices that did not succeed, canary first again
    const rerun = await pressThen('re-run the failures', 'the answer', answer);
    assert.equal(rerun.statusCode, 202, JSON.stringify(rerun.payload));
    const id2 = rerun.payload.rolloutId;
    assert.notEqual(id2, id);
    const waiting2 = await until('the re-run waits for approval after its canary', () => stateOf(rolloutOutputs(since(), node.id), id2, 'waitingApproval'));
    assert.deepEqual([waiting2.payload.counts.total, waiting2.payload.counts.success], [left, 4]);
    // its buttons act on the node's last rollout, the re-run: cancel it
    const [a] = await pressThen('cancel', 'the re-run cancelled', (out) => {
      const a = answer(out);
      return a && stateOf(out, id2, 'cancelled') ? [a] : undefined;
    });
    assert.deepEqual([a.statusCode, a.payload.rolloutId, a.payload.state], [200, id2, 'cancelled']);
    assert.deepEqual(errorLines(since()), [], 'rollout.json: [error] lines');
  });

  it('http-api.json: its own API root launches on its own devices while the demo answers on /api/v0002', async () => {
    const platform = byFile.get('http-api.json')!.find((n) => n.type === 'iotdm-platform')!;
    const root = String(platform.apiRoot);
    assert.notEqual(root, DEMO_API.root);
    const auth = basic(EXAMPLE_API.key, EXAMPLE_API.token);
    const r = await fetch(`${red.url}${root}/mgmt/requests`, {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/json' },
      body: JSON.stringify({ action: 'device/reboot', devices: [{ typeId: 'thermo', deviceId: 't-2' }] }),
    });
    assert.equal(r.status, 202, await r.clone().text());
    const { reqId } = (await r.json()) as { reqId: string };
    const done = await until('the HTTP reboot completes', async () => {
      const g = await fetch(`${red.url}${root}/mgmt/requests/${reqId}`, { headers: { authorization: auth } });
      const d = g.status === 200 ? ((await g.json()) as { complete: boolean; counts: { success: number } }) : undefined;
      return d?.complete ? d : undefined;
    });
    assert.equal(done.counts.success, 1);
    // the demo's API, its own key: the example's request is not among its requests
    const demo = await fetch(`${red.url}${DEMO_API.root}/mgmt/requests/${reqId}`, { headers: { authorization: basic(DEMO_API.key, DEMO_API.token) } });
    assert.equal(demo.status, 404);
    assert.deepEqual(errorLines(since()), []);
  });
});
