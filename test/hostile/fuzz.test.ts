/**
 * Issue 10: a seeded fuzz run as part of `npm test` (bench/fuzz-run.ts, the same run as
 * `npm run fuzz`, at 500 messages per inbound topic of both sides instead of 10,000): a real
 * Node-RED process with the nodes, a real broker, the context flushed every 2 s (Node-RED's
 * default is 30 s), then Node-RED alive, both connections kept, a 10-device reboot completes.
 */
import assert from 'node:assert/strict';
import { runFuzz } from '../../bench/fuzz-run';

describe('hostile: seeded fuzz of every inbound topic, both sides', function () {
  this.timeout(180000);

  it('500 messages per topic: no crash, no lost connection, the reboot after it completes', async () => {
    const lines: string[] = [];
    const r = await runFuzz({ perTopic: 500, seed: 10, flushSeconds: 2, log: (l) => lines.push(l) });
    const failed = r.checks.filter((c) => !c.ok);
    assert.equal(r.sent, 500 * r.topics);
    assert.deepEqual(failed, [], lines.join('\n'));
    assert.ok(r.rc.platform['400'] > 0 && r.rc.device['400'] > 0, 'the hostile classes were answered 400 on both sides');
    assert.ok(r.errorLines < 500, `${r.errorLines} error lines for ${r.sent} messages`);
  });
});
