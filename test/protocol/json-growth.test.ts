/**
 * The platform skips measuring a short manage's deviceInfo and metadata (platform.ts dispatch): a part
 * of a parsed message, written again as JSON, is at most 5.25 times as long as the message's text.
 * These are the texts that grow the most, and random ones; and a manage over a bound is still refused.
 */
import assert from 'node:assert/strict';
import { Platform } from '../../nodes/platform/platform';
import { jsonLength } from '../../nodes/protocol/bounds';

describe('protocol/json growth: what the platform may skip measuring', () => {
  it('no parsed text is written back more than 5.25 times as long, numbers written out included', () => {
    const worst = ['1e20', '9e20', '-1e20', '1E20', '1e21', '1e308', '5e-324', '"\\/"', '"\\ud800"', '"\\u0001"', '"\u2028"', '[1e20,1e20]', '{"a":1e20}'];
    let seed = 7;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    const atoms = ['1e20', '0', '-0', '1.50', '1e-7', '0.0000001', 'true', 'null', '"x"', '"\\n"', '"\\u00e9"', '"é"', ' '];
    const random = Array.from({ length: 2000 }, () => `[${Array.from({ length: 1 + rand(20) }, () => atoms[rand(atoms.length)].trim() || '0').join(',')}]`);
    for (const text of [...worst, ...random]) {
      const written = jsonLength(JSON.parse(text));
      assert.ok(written <= 5.25 * text.length, `${text}: ${written} > 5.25 × ${text.length}`);
    }
    assert.equal(jsonLength(JSON.parse('1e20')), 21, 'the worst case is reached');
  });

  it('a manage whose metadata is over the bound is refused, short as the message is', () => {
    const sent: string[] = [];
    const platform = new Platform(async (_t, payload) => void sent.push(payload), { bounds: { metadataBytes: 64, deviceInfoBytes: 64 } });
    const invalid: string[] = [];
    platform.on('invalid', (err) => invalid.push(err.message));
    try {
      // 21 characters in the message, 89 written out as JSON
      const numbers = '[1e20,1e20,1e20,1e20]';
      platform.handleMessage('iotdevice-1/type/t/id/d1/mgmt/manage', `{"reqId":"a","d":{"metadata":{"n":${numbers}}}}`);
      platform.handleMessage('iotdevice-1/type/t/id/d2/mgmt/manage', `{"reqId":"b","d":{"deviceInfo":{"model":"${'m'.repeat(60)}"}}}`);
      platform.handleMessage('iotdevice-1/type/t/id/d3/mgmt/manage', `{"reqId":"c","d":{"metadata":{"n":1},"deviceInfo":{"model":"m"}}}`);
      assert.deepEqual(
        sent.map((p) => JSON.parse(p).rc),
        [400, 400, 200],
      );
      assert.match(invalid[0], /d\.metadata is \d+ bytes as JSON, more than 64/);
      assert.match(invalid[1], /d\.deviceInfo is \d+ bytes as JSON, more than 64/);
      assert.equal(platform.registry.size, 1);
    } finally {
      platform.close();
    }
  });
});
