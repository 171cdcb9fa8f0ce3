/** The failure throttle alone, on a clock of its own: delays grow and are bounded; parallel guesses are not checked. */
import assert from 'node:assert/strict';
import { AuthThrottle, type ThrottleKey } from '../../nodes/transport/auth-throttle';

const ID: ThrottleKey = { key: 'id:d:o:t:x', kind: 'id' };
const ADDR: ThrottleKey = { key: 'addr:10.0.0.1', kind: 'address' };

describe('access: the failure throttle', () => {
  it('doubles the delay of a client id from 200 ms at each failure, up to 20 s', () => {
    const t = new AuthThrottle();
    const delays: number[] = [];
    for (let i = 0; i < 10; i++) {
      t.failed([ID]);
      delays.push(t.delayFor(ID.key));
    }
    assert.deepEqual(delays, [200, 400, 800, 1600, 3200, 6400, 12800, 20000, 20000, 20000]);
  });

  it('lets one attempt of a client id in flight: the others are refused unchecked', async () => {
    const t = new AuthThrottle();
    const first = await t.admit([ID, ADDR]);
    assert.ok(first);
    // 19 more at once, while the first is being checked
    const others = await Promise.all(Array.from({ length: 19 }, () => t.admit([ID, ADDR])));
    assert.ok(others.every((v) => v === undefined));
    assert.deepEqual([t.stats.checked, t.stats.refusedUnchecked], [1, 19]);
    first(false);
    assert.equal(t.failuresOf(ID.key), 1);
    // a right token (after the 200 ms wait) forgets the client id's failures, not the address's
    const next = await t.admit([ID, ADDR]);
    assert.ok(next);
    next(true);
    assert.deepEqual([t.failuresOf(ID.key), t.failuresOf(ADDR.key)], [0, 1]);
  });

  it('gives an address 20 free failures before its delay starts (many clients share one)', () => {
    const t = new AuthThrottle({}, () => 1000);
    for (let i = 0; i < 20; i++) t.failed([ADDR]);
    assert.equal(t.delayFor(ADDR.key, 'address'), 0);
    t.failed([ADDR]);
    assert.equal(t.delayFor(ADDR.key, 'address'), 200);
  });

  it('forgets failures after 10 minutes without any, and closing refuses the attempts held', async () => {
    let now = 0;
    const t = new AuthThrottle({}, () => now);
    t.failed([ID]);
    now = 600001;
    assert.equal(t.failuresOf(ID.key), 0);
    t.failed([ID]);
    const held = t.admit([ID]);
    t.close();
    assert.equal(await held, undefined);
  });
});
