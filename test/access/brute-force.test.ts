/**
 * Brute force on the demo's broker (issue 12): 1,000 wrong tokens in a row for one client id, 20
 * connections at a time, while the platform reboots the demo's 100 devices. The attempts are slowed
 * (the broker's own counted delay, not wall time) and the fleet is served meanwhile. The figures are
 * printed for the README.
 */
import assert from 'node:assert/strict';
import { unloadFlow, nodeRedHelper } from '../support/nodered';
import { freePort } from '../support/ports';
import { attempt, loadDemo, until, type Demo } from './support';

const ID = 'd:demo:thermo:d-1';
const TOKEN = 'thermo-d-1-own-token';
const ATTEMPTS = 1000;
const PARALLEL = 20;

describe('access: brute force on the demo broker', function () {
  this.timeout(120000);
  let demo: Demo;

  before(async () => {
    nodeRedHelper();
    demo = await loadDemo(await freePort(), 'gw-1-token-for-the-brute-force');
    const r = await demo.platform.enrolment.add([{ typeId: 'thermo', deviceId: 'd-1', authToken: TOKEN }], 'flow');
    assert.ok(r[0].success);
  });
  after(async () => {
    await unloadFlow();
  });

  it('1,000 wrong tokens for one client id are slowed, and a reboot of the fleet completes meanwhile', async () => {
    const throttle = demo.platform.broker!.access!.throttle;
    const started = Date.now();
    let next = 0;
    let refused = 0;
    let gaveUp = 0;
    let admitted = 0;
    const worker = async () => {
      while (next < ATTEMPTS) {
        const n = next++;
        // an attacker gives up on an attempt held longer than 2 s (the broker holds it for its delay)
        const a = await attempt(demo.url, { clientId: ID, username: 'use-token-auth', password: `guess-${n}-${Math.random()}`, connectTimeout: 2000 });
        if (a.client) {
          admitted++;
          a.client.end(true);
        } else if (/refused/i.test(a.error.message)) refused++;
        else gaveUp++;
      }
    };
    const attack = Promise.all(Array.from({ length: PARALLEL }, worker));
    // the fleet meanwhile: every device of the demo reboots and manages again
    const req = demo.platform.platform.requests.initiate({ action: 'device/reboot', devices: demo.devices });
    let rebootMs = 0;
    const rebooted = until(() => req.complete, 60000, 'the reboot to complete').then(() => (rebootMs = Date.now() - started));
    await attack;
    const attackMs = Date.now() - started;
    await rebooted;
    const stats = { ...throttle.stats };
    const delayMs = throttle.delayFor(`id:${ID}`);
    const failures = throttle.failuresOf(`id:${ID}`);
    console.log(
      `      brute force: ${ATTEMPTS} wrong tokens (${PARALLEL} at a time) in ${attackMs} ms: ${refused} refused, ${gaveUp} given up while held, ${admitted} let in; ` +
        `tokens checked ${stats.checked}, refused unchecked ${stats.refusedUnchecked}, failures on record ${failures}, ` +
        `longest wait ${stats.maxDelayMs} ms, delay reached ${delayMs} ms; the reboot of ${demo.devices.length} devices completed ` +
        `${req.counts.success}/${req.counts.total} in ${rebootMs} ms`,
    );
    assert.equal(admitted, 0, 'no wrong token let in');
    assert.equal(refused + gaveUp, ATTEMPTS);
    // slowed: only a few of the 1,000 tokens were ever checked, and the next check waits for a grown delay
    assert.ok(failures < ATTEMPTS / 10, `failures checked ${failures}`);
    assert.ok(stats.refusedUnchecked > ATTEMPTS / 2, `refused unchecked ${stats.refusedUnchecked}`);
    assert.ok(delayMs >= 2 * 200, `delay reached ${delayMs}`);
    assert.deepEqual([req.counts.success, req.counts.total], [100, 100]);
  });
});
