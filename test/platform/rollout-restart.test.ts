import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startNodeRed, type NodeRedProcess } from '../support/node-red-process';
import { freePort } from '../support/ports';
import { Fleet, devices } from '../support/fleet';
import { sleep } from '../firmware/fixtures';

/** The platform's journal in a Node-RED user directory (nodes/shared/platform-store.ts), one record a line. */
function journalOf(userDir: string): { c: string; k?: string; v?: any }[] {
  const file = path.join(userDir, 'iotdm', 'platform-p1.jsonl');
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .flatMap((l) => {
      try {
        return [JSON.parse(l)];
      } catch {
        return []; // a line being written
      }
    });
}
/** The rollout's header as last written to the journal. */
const keptHeader = (userDir: string, rolloutId: string) =>
  journalOf(userDir)
    .filter((l) => l.c === 'rollouts' && l.k === rolloutId && l.v)
    .pop()?.v;

/**
 * A rollout survives a Node-RED restart: a real Node-RED process (an iotdm-platform with its
 * embedded broker and store, and a rollout node behind http in) is stopped mid-rollout, or killed
 * (-9), and started again on the same user directory; the rollout goes on where it was and
 * completes. The journal keeps it as a header and chunks of devices (rollout-store.ts).
 */
describe('rollout node across a Node-RED restart', function () {
  this.timeout(90000);
  let nr: NodeRedProcess | undefined;
  let fleet: Fleet | undefined;
  afterEach(async () => {
    await fleet?.stop();
    await nr?.stop();
  });

  function flowsOn(mqttPort: number) {
    return [
      { id: 't1', type: 'tab', label: 'rollout' },
      { id: 'p1', type: 'iotdm-platform', access: 'development', broker: 'embedded', port: mqttPort, bind: '127.0.0.1' },
      { id: 'h1', type: 'http in', z: 't1', url: '/rollout', method: 'post', upload: false, wires: [['r1']] },
      { id: 'r1', type: 'iotdm-rollout', z: 't1', platform: 'p1', follow: 'all', deviceOutput: 'none', wires: [[], [], [], ['o1']] },
      { id: 'o1', type: 'http response', z: 't1', wires: [] },
    ];
  }
  const post = async (body: unknown) => {
    const r = await fetch(`${nr!.url}/rollout`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: r.status, body: (await r.json()) as Record<string, any> };
  };

  /** Node-RED with the rollout flow and 60 managed devices, and a rollout of them in waves of 20 at `perMinute` */
  async function startRollout(perMinute: number) {
    const mqttPort = await freePort();
    const flows = flowsOn(mqttPort);
    nr = await startNodeRed({ flows });
    fleet = new Fleet({ url: `mqtt://127.0.0.1:${mqttPort}`, devices: devices(60, 'kept', 'k'), remanageOnReconnect: true });
    await fleet.start();
    await fleet.manageAll();
    const created = await post({ action: 'device/reboot', select: { typeId: 'kept' }, waves: { size: 20 }, rate: { perMinute } });
    assert.equal(created.status, 202, JSON.stringify(created.body));
    return { flows, fleet, rolloutId: created.body.rolloutId as string };
  }

  it('resumes a paced rollout where it was after the restart', async () => {
    const { flows, fleet, rolloutId } = await startRollout(1200);
    const get = async () => (await post({ command: 'get', rolloutId })).body;
    let before = await get();
    while (before.counts.success < 25) {
      await sleep(100);
      before = await get();
    }
    assert.equal(before.state, 'running');
    await nr!.stop();
    const launchedBefore = fleet.actions.length;

    nr = await startNodeRed({ flows, userDir: nr!.userDir });
    // the node answers once its platform has restored what it kept
    const resumed = await get();
    assert.ok(resumed.counts.success >= 25, `successes kept: ${JSON.stringify(resumed.counts)}`);
    assert.ok(resumed.currentWave >= 1);
    let after = resumed;
    while (after.state === 'running') {
      await sleep(100);
      after = await get();
    }
    assert.equal(after.state, 'completed', JSON.stringify(after));
    assert.equal(
      after.counts.success,
      60,
      JSON.stringify(after.counts) + JSON.stringify((await post({ command: 'devices', rolloutId, state: 'failure' })).body),
    );
    assert.deepEqual(
      after.waves.map((w: { state: string }) => w.state),
      ['completed', 'completed', 'completed'],
    );
    // no device ran twice: the rollout follows the requests the engine took up after the restart (the
    // engine asks a device awaiting an answer again, with the same reqId)
    assert.equal(new Set(fleet.actions.map((a) => a.reqId)).size, 60, `${fleet.actions.length} launches, ${launchedBefore} before the stop`);
    assert.match(nr.output(), /1 rollout\(s\) resumed/);
    // kept as its header (no devices) and one chunk of 60 devices
    const header = keptHeader(nr.userDir, rolloutId);
    assert.equal(header.deviceChunks, 1);
    assert.equal(header.devices, undefined);
  });

  it('resumes a rollout from its header and chunks after Node-RED is killed (-9) mid-rollout', async () => {
    const { flows, fleet, rolloutId } = await startRollout(600);
    // killed once the journal holds 20 successes (the rollout goes on meanwhile: what it did after
    // its last save is lost, the bound the README states)
    let kept = keptHeader(nr!.userDir, rolloutId);
    while (!(kept?.counts.success >= 20)) {
      await sleep(50);
      kept = keptHeader(nr!.userDir, rolloutId);
    }
    await nr!.kill();
    kept = keptHeader(nr!.userDir, rolloutId);
    assert.equal(kept.state, 'running');
    assert.equal(kept.deviceChunks, 1);
    const chunk = journalOf(nr!.userDir)
      .filter((l) => l.c === `rollout:${rolloutId}` && l.k === '0')
      .pop()?.v as { deviceId: string; state: string }[];
    const succeeded = chunk.filter((e) => e.state === 'success').map((e) => e.deviceId);
    assert.ok(succeeded.length >= 20);
    const launchedBefore = fleet.actions.length;

    nr = await startNodeRed({ flows, userDir: nr!.userDir });
    const get = async () => (await post({ command: 'get', rolloutId })).body;
    let after = await get();
    assert.ok(after.counts.success >= succeeded.length, `successes kept: ${JSON.stringify(after.counts)}`);
    while (after.state === 'running') {
      await sleep(100);
      after = await get();
    }
    assert.equal(after.state, 'completed', JSON.stringify(after));
    assert.equal(after.counts.success, 60, JSON.stringify(after.counts));
    // a device that had succeeded on file is not rebooted again
    const again = fleet.actions.slice(launchedBefore).map((a) => a.device.deviceId);
    assert.deepEqual(
      again.filter((d) => succeeded.includes(d)),
      [],
    );
    assert.match(nr.output(), /1 rollout\(s\) resumed/);
  });
});
