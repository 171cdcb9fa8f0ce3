/** The engine's deadlines on one timer: each armed one fires once, not before its time, in order; cleared ones never; an outage shifts them all. */
import assert from 'node:assert/strict';
import { Deadlines, type Deadline } from '../../nodes/platform/deadlines';
import { waitFor } from '../support/wait';

describe('platform/deadlines', () => {
  it('fires every armed deadline once, in due order and not early, and none of the cleared ones', async () => {
    const dl = new Deadlines();
    const fired: { i: number; due: number; at: number }[] = [];
    const armed: Deadline[] = [];
    let seed = 11;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    // one function shared by the odd ones, each called with its own argument (as the engine arms them)
    const record = (i: number) => fired.push({ i, due: armed[i].due, at: Date.now() });
    for (let i = 0; i < 3000; i++) {
      const d = i % 2 ? dl.arm(rand(60), record, i) : dl.arm(rand(60), () => fired.push({ i, due: d.due, at: Date.now() }));
      armed.push(d);
    }
    const cleared = new Set<number>();
    for (let i = 0; i < 3000; i += 1 + rand(2)) {
      dl.clear(armed[i]);
      dl.clear(armed[i]); // twice is once
      cleared.add(i);
    }
    // a deadline armed from a firing one fires too
    let chained = false;
    dl.arm(5, () => dl.arm(5, () => (chained = true)));
    assert.equal(dl.armed, 3000 - cleared.size + 1);
    await waitFor(() => fired.length === 3000 - cleared.size && chained, 'the armed deadlines to fire', 5000);
    await new Promise((r) => setTimeout(r, 80));
    assert.equal(fired.length, 3000 - cleared.size, 'nothing fired twice');
    assert.ok(fired.every((f) => !cleared.has(f.i)));
    assert.equal(new Set(fired.map((f) => f.i)).size, fired.length, 'each with its own argument');
    assert.ok(fired.every((f) => f.at >= f.due));
    for (let k = 1; k < fired.length; k++) assert.ok(fired[k].due >= fired[k - 1].due, 'in due order');
    assert.equal(dl.armed, 0);
  });

  it('holds every deadline while paused and shifts it by the outage on resume', async () => {
    const dl = new Deadlines();
    const fired: number[] = [];
    const t0 = Date.now();
    dl.arm(30, () => fired.push(Date.now() - t0));
    dl.arm(60, () => fired.push(Date.now() - t0));
    const pausedAt = Date.now();
    dl.pause();
    assert.equal(dl.offline, true);
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(fired, [], 'nothing fires while the broker is away');
    const outage = dl.resume();
    // the outage is what the clock says between pause and resume (a 100 ms timer may end a
    // millisecond early by Date.now: libuv measures it from the loop's cached time)
    assert.ok(outage <= Date.now() - pausedAt && outage >= 95, `outage ${outage} ms`);
    await waitFor(() => fired.length === 2, 'both deadlines after the outage', 2000);
    assert.ok(fired[0] >= 30 + outage && fired[1] >= 60 + outage, JSON.stringify({ fired, outage }));
  });

  it('clearAll drops them all, and a cleared heap does not keep growing', async () => {
    const dl = new Deadlines();
    let fired = 0;
    for (let i = 0; i < 5000; i++) dl.clear(dl.arm(300_000, () => fired++));
    assert.ok((dl as unknown as { heap: Deadline[] }).heap.length <= 2048, 'rebuilt when most of it is cleared');
    dl.arm(1, () => fired++);
    dl.clearAll();
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(fired, 0);
    assert.equal(dl.armed, 0);
  });
});
