import assert from 'node:assert/strict';
import { TRANSITIONS, FIRMWARE_EVENTS, transition, type FirmwareEvent } from '../../nodes/device/firmware-state-machine';

// every phase a device can be in: state 0/1/2 × updateStatus 0..6
const PHASES = [0, 1, 2].flatMap((state) => [0, 1, 2, 3, 4, 5, 6].map((updateStatus) => ({ state, updateStatus })));

/** The seed's rules, written out as expectations (one row per rule of docs/protocol.md §3.9, §11.4, §11.5). */
const LEGAL: {
  event: FirmwareEvent;
  from: (p: { state: number; updateStatus: number }) => boolean;
  statuses?: number[];
  to: (s?: number) => Record<string, number>;
}[] = [
  { event: 'download', from: (p) => p.state === 0 && p.updateStatus !== 1, to: () => ({ state: 1 }) },
  { event: 'downloaded', from: (p) => p.state === 1 && p.updateStatus !== 1, to: () => ({ state: 2 }) },
  { event: 'downloadFailed', from: (p) => p.state === 1 && p.updateStatus !== 1, statuses: [2, 3, 4, 6], to: (s) => ({ state: 0, updateStatus: s! }) },
  { event: 'update', from: (p) => p.state === 2 && p.updateStatus !== 1, to: () => ({ updateStatus: 1 }) },
  { event: 'installed', from: (p) => p.state === 2 && p.updateStatus === 1, to: () => ({ state: 0, updateStatus: 0 }) },
  { event: 'installFailed', from: (p) => p.state === 2 && p.updateStatus === 1, statuses: [2, 5], to: (s) => ({ state: 0, updateStatus: s! }) },
];

describe('firmware/state machine (the table alone)', () => {
  it('has one row per event, and every event has a row', () => {
    assert.deepEqual(TRANSITIONS.map((t) => t.event).sort(), [...FIRMWARE_EVENTS].sort());
  });

  for (const rule of LEGAL) {
    it(`${rule.event}: legal exactly from the seed's phases, with the seed's fields and statuses`, () => {
      for (const phase of PHASES) {
        for (const status of [undefined, 0, 1, 2, 3, 4, 5, 6]) {
          const r = transition(phase, rule.event, status);
          const statusOk = rule.statuses ? status !== undefined && rule.statuses.includes(status) : true;
          const legal = rule.from(phase) && statusOk;
          assert.equal(r.ok, legal, `${rule.event} from ${JSON.stringify(phase)} with ${status}`);
          if (r.ok) assert.deepEqual(r.changes, rule.to(status));
          else assert.ok(r.reason.length > 0);
        }
      }
    });
  }

  // the seed's error lists, device side: the initiate refusals (docs/protocol.md §11.4, §11.5)
  const REFUSALS = [
    { rule: 'download while downloading → 400', phase: { state: 1, updateStatus: 0 }, event: 'download' as const, rc: 400, text: /not in idle state/ },
    { rule: 'download while downloaded → 400', phase: { state: 2, updateStatus: 0 }, event: 'download' as const, rc: 400, text: /not in idle state/ },
    { rule: 'update while idle → 400', phase: { state: 0, updateStatus: 0 }, event: 'update' as const, rc: 400, text: /not successfully downloaded/ },
    { rule: 'update while downloading → 400', phase: { state: 1, updateStatus: 0 }, event: 'update' as const, rc: 400, text: /not successfully downloaded/ },
    { rule: 'update while installing → 400', phase: { state: 2, updateStatus: 1 }, event: 'update' as const, rc: 400, text: /not successfully downloaded/ },
  ];
  for (const c of REFUSALS) {
    it(c.rule, () => {
      const r = transition(c.phase, c.event);
      assert.equal(r.ok, false);
      if (r.ok) return;
      assert.equal(r.transition?.refusal?.rc, c.rc);
      assert.match(r.transition!.refusal!.message, c.text);
    });
  }

  it('refuses an unknown event', () => {
    const r = transition({ state: 0, updateStatus: 0 }, 'reboot' as FirmwareEvent);
    assert.equal(r.ok, false);
  });
});
