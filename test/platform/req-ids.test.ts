/** The platform's own reqIds (docs/protocol.md §1.1, §7.14): unique, UUID-shaped, and repairable when IBM's C client echoes them unquoted. */
import assert from 'node:assert/strict';
import { ReqIds } from '../../nodes/platform/req-ids';
import { Platform } from '../../nodes/platform/platform';
import { parsePayload } from '../../nodes/protocol/validate';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('platform/req-ids', () => {
  it('gives 100,000 distinct version 4 UUIDs from one source, and none that another source gives', () => {
    const a = new ReqIds();
    const b = new ReqIds();
    const seen = new Set<string>();
    for (let i = 0; i < 100_000; i++) {
      const id = a.next();
      assert.match(id, UUID_V4);
      seen.add(id);
    }
    assert.equal(seen.size, 100_000);
    for (let i = 0; i < 1000; i++) assert.ok(!seen.has(b.next()), 'a second source (another platform, or this one restarted) repeats none');
  });

  it('puts a distinct one on every request the engine sends, which survives the unquoted echo of the C client', async () => {
    const sent: { topic: string; reqId: string }[] = [];
    const platform = new Platform(async (topic, payload) => {
      if (topic.includes('/mgmt/initiate/')) sent.push({ topic, reqId: JSON.parse(payload).reqId });
    });
    try {
      for (let i = 0; i < 50; i++) {
        platform.handleMessage(`iotdevice-1/type/t/id/d${i}/mgmt/manage`, JSON.stringify({ reqId: `m${i}`, d: { supports: { deviceActions: true } } }));
      }
      const req = platform.requests.initiate({ action: 'device/reboot', devices: Array.from({ length: 50 }, (_, i) => ({ typeId: 't', deviceId: `d${i}` })) });
      for (let i = 0; i < 20 && sent.length < 50; i++) await new Promise((r) => setImmediate(r));
      assert.equal(sent.length, 50);
      assert.equal(new Set(sent.map((s) => s.reqId)).size, 50);
      for (const s of sent) {
        assert.match(s.reqId, UUID_V4);
        const device = s.topic.split('/')[4];
        // IBM's embedded C client answers firmware and device actions with the reqId unquoted (§7.14)
        const repaired = parsePayload(`{"rc":202,"reqId":${s.reqId}}`) as { reqId: string };
        assert.equal(repaired.reqId, s.reqId);
        platform.handleMessage(`iotdevice-1/type/t/id/${device}/response`, JSON.stringify({ reqId: s.reqId, rc: 202 }));
      }
      assert.equal(req.counts.inProgress, 50, 'every answer matched its exchange: all 50 now wait for their manage');
      assert.ok(req.executions.every((e) => e.rc === 202));
    } finally {
      platform.close();
    }
  });
});
