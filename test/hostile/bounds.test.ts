/**
 * The bounds of bounds.ts on their own: the checker walks without recursion and names the bound
 * broken with a short escaped excerpt, a 10,000-deep payload is refused without a RangeError, and
 * schema errors quote the sender's keys as excerpts only.
 */
import assert from 'node:assert/strict';
import { BOUNDS, BoundsError, checkBounds, excerpt } from '../../nodes/protocol/bounds';
import { check, parsePayload, ValidationError } from '../../nodes/protocol/validate';

/** whether a text holds a control character (a payload's, unescaped) */
function hasControl(text: string): boolean {
  return [...text].some((c) => c.charCodeAt(0) < 0x20);
}

describe('hostile: bounds', () => {
  it('a 128 KiB payload nesting 10,000 deep is a ValidationError, never a RangeError', () => {
    const deep = `{"reqId":"x","d":{"metadata":{"a":${'['.repeat(10000)}${']'.repeat(10000)}}}}`;
    assert.throws(
      () => parsePayload(Buffer.from(deep)),
      (e: Error) => e instanceof ValidationError && /nested deeper than 16/.test(e.message),
    );
    const objects = `${'{"a":'.repeat(20000)}1${'}'.repeat(20000)}`;
    assert.ok(objects.length > 100000);
    assert.throws(() => parsePayload(objects), ValidationError);
  });

  it('names each bound broken, quoting at most an escaped excerpt of the key', () => {
    const key = `\u0001\n${'k'.repeat(60000)}`;
    let err: BoundsError | undefined;
    try {
      checkBounds({ d: { supports: { [key]: true } } });
    } catch (e) {
      err = e as BoundsError;
    }
    assert.ok(err instanceof BoundsError);
    assert.equal(err.bound, 'keyLength');
    assert.ok(err.message.length < 200, err.message);
    assert.ok(!hasControl(err.message), 'no control character in the text');
    assert.ok(err.message.includes('\\u0001\\u000a'));
    assert.throws(() => checkBounds({ a: Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`k${i}`, i])) }), /more than 128 keys/);
    assert.throws(() => checkBounds({ s: 'x'.repeat(BOUNDS.stringLength + 1) }), /string longer/);
    assert.throws(() => checkBounds(Array.from({ length: 5001 }, () => 1)), /more than 5000 items/);
    assert.throws(() => checkBounds(Array.from({ length: 4000 }, () => [1, 2, 3, 4, 5])), /values in one message/);
    assert.doesNotThrow(() => checkBounds({ reqId: 'r', d: { metadata: { a: [[[{ b: 'c' }]]] }, lifetime: 0 } }));
  });

  it('a payload larger than the bound is refused unparsed', () => {
    assert.throws(() => parsePayload(Buffer.alloc(BOUNDS.payloadBytes + 1, 0x20)), /payload of 262145 bytes/);
  });

  it('schema errors and JSON errors quote excerpts of what the sender chose', () => {
    const key = '"'.repeat(60000);
    assert.throws(
      () => check('manage', { reqId: 'r', d: { supports: { [key]: 'yes' } } }),
      (e: Error) => e.message.length < 400,
    );
    assert.throws(
      () => parsePayload(`\u0007${'x'.repeat(5000)}`),
      (e: Error) => e.message.length < 200 && !e.message.includes('\u0007'),
    );
    assert.equal(excerpt('a\u0000b\nc'), 'a\\u0000b\\u000ac');
    assert.equal(excerpt('y'.repeat(100), 10), `${'y'.repeat(10)}…`);
  });

  it('the REST body: parameters of more than 64 KiB together are refused', () => {
    const body = {
      action: 'bundle/act',
      devices: [{ typeId: 't', deviceId: 'd' }],
      parameters: Array.from({ length: 64 }, (_, i) => ({ name: `p${i}`, value: 'v'.repeat(4096) })),
    };
    assert.throws(() => check('mgmtRequestBody', body), /parameters: values of more than 65536/);
    body.parameters = body.parameters.slice(0, 15);
    assert.doesNotThrow(() => check('mgmtRequestBody', body));
  });

  it('refuses exactly what a recursive reading of each bound refuses, over 3,000 generated values', () => {
    // small bounds, so that generated values break each of them often
    const small = { depth: 3, keysPerObject: 3, itemsPerArray: 3, keyLength: 4, stringLength: 5, valuesPerMessage: 14 };
    const breaks = (v: unknown, depth = 0, count = { values: 0 }): boolean => {
      if (++count.values > small.valuesPerMessage) return true;
      if (typeof v === 'string') return v.length > small.stringLength;
      if (v === null || typeof v !== 'object') return false;
      if (depth >= small.depth) return true;
      const entries = Array.isArray(v) ? v.map((x, i) => [String(i), x] as const) : Object.entries(v);
      if (Array.isArray(v) ? v.length > small.itemsPerArray : entries.length > small.keysPerObject) return true;
      return entries.some(([k, x]) => (!Array.isArray(v) && k.length > small.keyLength) || breaks(x, depth + 1, count));
    };
    let seed = 7;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    const gen = (depth: number): unknown => {
      const r = rand(depth > 4 ? 4 : 7);
      if (r === 0) return rand(100);
      if (r === 1) return null;
      if (r === 2 || r === 3) return 'x'.repeat(rand(8));
      if (r === 4) return Array.from({ length: rand(5) }, () => gen(depth + 1));
      return Object.fromEntries(Array.from({ length: rand(5) }, (_, i) => ['k'.repeat(rand(6)) + i, gen(depth + 1)]));
    };
    let refused = 0;
    for (let n = 0; n < 3000; n++) {
      const v = gen(0);
      const want = breaks(v);
      let got = false;
      try {
        checkBounds(v, small);
      } catch (err) {
        assert.ok(err instanceof BoundsError);
        got = true;
      }
      assert.equal(got, want, JSON.stringify(v));
      if (got) refused++;
    }
    assert.ok(refused > 500 && refused < 2500, `${refused} of 3000 refused`);
  });
});
