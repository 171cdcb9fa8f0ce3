/** The pure parts of a rollout: its definition's bounds, waves, windows, pace, abort, gates, backoff. */
import assert from 'node:assert/strict';
import { checkDefinition } from '../../nodes/platform/rollout/definition';
import { planWaves } from '../../nodes/platform/rollout/waves';
import { inWindow, localTime } from '../../nodes/platform/rollout/window';
import { allowance, initialPace, launched, waitMs } from '../../nodes/platform/rollout/pace';
import { abortReason, backoffMs, gateDecision } from '../../nodes/platform/rollout/rules';
import { zeroCounts } from '../../nodes/platform/rollout/state';

const base = { action: 'device/reboot', devices: [{ typeId: 't', deviceId: 'a' }], waves: { size: 1 } };

describe('platform/rollout rules', () => {
  it('validates and bounds a definition', () => {
    assert.deepEqual(checkDefinition(base), base);
    const bad: [unknown, RegExp][] = [
      [{ ...base, devices: undefined }, /either devices or select/],
      [{ ...base, select: { typeId: 't' } }, /either devices or select/],
      [{ ...base, devices: [base.devices[0], base.devices[0]] }, /listed twice/],
      [{ ...base, waves: { size: 0 } }, /size|must/],
      [{ ...base, waves: { size: 1, percent: 5 } }, /oneOf|must/],
      [{ ...base, rate: { ramp: { factor: 6, every: 10 } } }, /factor/],
      [{ ...base, retries: { failure: { count: 11 } } }, /count/],
      [{ ...base, abort: [{ type: 'rejected', percent: 5 }] }, /type/],
      [{ ...base, gate: { successPercent: 50, approval: true } }, /gate/],
      [{ ...base, window: { timeZone: 'Mars/Olympus' } }, /time zone/],
      [{ ...base, window: { hours: [{ from: '25:00', to: '02:00' }] } }, /hours/],
      [{ ...base, window: { start: 'tomorrow' } }, /ISO 8601/],
      [{ ...base, verify: {} }, /verify needs/],
      [{ ...base, unknown: 1 }, /does not take: "unknown"/],
      [{ ...base, action: 'device/explode' }, /action/],
    ];
    for (const [def, re] of bad) assert.throws(() => checkDefinition(def), re, JSON.stringify(def));
  });

  it('cuts a target into waves: by size, by percent, a canary then the rest', () => {
    const sizes = (waves: unknown, total: number) => planWaves({ ...base, waves } as never, total).map((w) => w.size);
    assert.deepEqual(sizes({ size: 300 }, 1000), [300, 300, 300, 100]);
    assert.deepEqual(sizes({ percent: 25 }, 1000), [250, 250, 250, 250]);
    assert.deepEqual(sizes([{ size: 10 }, { percent: 50 }], 1000), [10, 500, 490]);
    assert.deepEqual(sizes({ percent: 1 }, 10), [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
    assert.deepEqual(sizes({ size: 5 }, 0), []);
    assert.throws(() => sizes({ size: 1 }, 20_000), /more than 10000/);
  });

  it('windows: days and hours in a time zone, ranges over midnight, a start time', () => {
    const mon1030z = Date.parse('2026-01-05T10:30:00Z');
    assert.deepEqual(localTime(mon1030z, 'Asia/Tokyo'), { day: 1, minute: 19 * 60 + 30 });
    const w = { timeZone: 'America/New_York', days: ['mon' as const], hours: [{ from: '22:00', to: '02:00' }] };
    assert.equal(inWindow(w, Date.parse('2026-01-06T03:30:00Z')), true); // Monday 22:30 in New York
    assert.equal(inWindow(w, Date.parse('2026-01-06T06:30:00Z')), true); // Tuesday 01:30, the range began Monday
    assert.equal(inWindow(w, Date.parse('2026-01-06T07:30:00Z')), false); // Tuesday 02:30
    assert.equal(inWindow(w, Date.parse('2026-01-07T03:30:00Z')), false); // Tuesday 22:30
    assert.equal(inWindow({ start: '2026-01-05T11:00:00Z' }, mon1030z), false);
    assert.equal(inWindow({ start: '2026-01-05T10:00:00Z' }, mon1030z), true);
    assert.equal(inWindow(undefined, mon1030z), true);
  });

  it('paces launches and ramps the rate', () => {
    const rate = { perMinute: 60, ramp: { factor: 2, every: 3, maxPerMinute: 200 } };
    const p = initialPace(rate, 0);
    assert.equal(allowance(p, 0), 1);
    launched(p, rate, 1);
    assert.equal(waitMs(p, 0), 1000);
    assert.equal(allowance(p, 1000), 1);
    launched(p, rate, 2);
    assert.equal(p.rate, 120);
    launched(p, rate, 6);
    assert.equal(p.rate, 200);
    assert.equal(allowance(initialPace(undefined, 0), 0), Infinity);
  });

  it('aborts at a percentage after a minimum; gates; backs off', () => {
    const c = { ...zeroCounts(), success: 6, failure: 3, timedOut: 1 };
    assert.equal(abortReason([{ type: 'failure', percent: 30, minExecuted: 11 }], c), undefined);
    assert.match(abortReason([{ type: 'failure', percent: 30, minExecuted: 10 }], c)!, /3 of 10/);
    assert.equal(abortReason([{ type: 'timedOut', percent: 11 }], c), undefined);
    assert.match(abortReason([{ type: 'any', percent: 40 }], c)!, /4 of 10/);
    assert.deepEqual(gateDecision({ successPercent: 60 }, { ...c, total: 10 }), { go: true });
    assert.equal(gateDecision({ successPercent: 61 }, { ...c, total: 10 }).go, false);
    assert.equal(gateDecision({ approval: true }, c).go, false);
    assert.deepEqual(gateDecision(undefined, c), { go: true });
    assert.deepEqual(
      [1, 2, 3].map((n) => backoffMs({ count: 3, backoffMs: 100, factor: 3 }, n)),
      [100, 300, 900],
    );
  });
});
