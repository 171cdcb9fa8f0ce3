/** The enrolment alone: tokens as salted hashes only, kept through the platform's store and restored. */
import assert from 'node:assert/strict';
import { Enrolment, hashSecret, verifySecret } from '../../nodes/platform/enrolment';
import { persistEnrolment, restoreEnrolment, ENROLMENT_COLLECTION } from '../../nodes/platform/enrolment-store';
import { MemoryStore } from '../../nodes/platform/store';

describe('access: the enrolment and its store', () => {
  it('hashes with a salt of its own each time (scrypt), and verifies only the same secret', async () => {
    const [a, b] = [await hashSecret('same-token-1'), await hashSecret('same-token-1')];
    assert.match(a, /^scrypt\$4096\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    assert.notEqual(a, b);
    assert.equal(await verifySecret('same-token-1', b), true);
    assert.equal(await verifySecret('same-token-2', b), false);
    assert.equal(await verifySecret('same-token-1', 'scrypt$99999999$8$1$x$y'), false);
  });

  it('keeps devices, gateways, the devices behind them and API keys through the store, with no token in it', async () => {
    const store = new MemoryStore();
    const e = new Enrolment();
    persistEnrolment(e, store);
    const added = await e.add(
      [
        { typeId: 'gw', deviceId: 'g-1', classId: 'Gateway' },
        { typeId: 't', deviceId: 'd-1', authToken: 'given-token-1', gateway: { typeId: 'gw', deviceId: 'g-1' } },
      ],
      'http',
    );
    assert.ok(added.every((r) => r.success));
    assert.equal(e.enrolBehind({ typeId: 'gw', deviceId: 'g-1' }, { typeId: 't', deviceId: 'd-2' }), true);
    assert.equal(await e.pin({ typeId: 't', deviceId: 'tofu' }, 'Device', 'first-token'), true);
    const key = await e.addApiKey('readonly');
    const dump = JSON.stringify([...(await store.load()).get(ENROLMENT_COLLECTION)!.entries()]);
    for (const secret of [added[0].authToken!, 'given-token-1', 'first-token', key.token]) assert.ok(!dump.includes(secret));

    const again = new Enrolment();
    assert.equal(restoreEnrolment(again, await store.load()), 4);
    assert.equal(await again.verify({ typeId: 'gw', deviceId: 'g-1' }, added[0].authToken!), true);
    assert.equal(await again.verify({ typeId: 't', deviceId: 'd-1' }, 'given-token-1'), true);
    assert.equal(await again.verify({ typeId: 't', deviceId: 'tofu' }, 'first-token'), true);
    assert.equal(await again.verify({ typeId: 't', deviceId: 'd-2' }, ''), false, 'no token of its own');
    assert.equal(again.isBehind({ typeId: 'gw', deviceId: 'g-1' }, { typeId: 't', deviceId: 'd-2' }), true);
    assert.equal(await again.verifyApiKey(key.key, key.token), 'readonly');
    // a removed gateway leaves its devices enrolled, behind nobody; the store follows
    persistEnrolment(again, store);
    again.remove([{ typeId: 'gw', deviceId: 'g-1' }]);
    const third = new Enrolment();
    restoreEnrolment(third, await store.load());
    assert.deepEqual([third.get({ typeId: 'gw', deviceId: 'g-1' }), third.get({ typeId: 't', deviceId: 'd-1' })?.gateway], [undefined, undefined]);
  });

  it('refuses what it cannot store: bad ids, short tokens, unknown gateways, duplicates, more than 1,000 at once', async () => {
    const e = new Enrolment();
    const r = await e.add(
      [
        { typeId: 'a/b', deviceId: 'x' },
        { typeId: 't', deviceId: 'x', authToken: 'short' },
        { typeId: 't', deviceId: 'y', gateway: { typeId: 'gw', deviceId: 'nobody' } },
        { typeId: 't', deviceId: 'z' },
        { typeId: 't', deviceId: 'z' },
        'text',
      ],
      'flow',
    );
    assert.deepEqual(
      r.map((x) => x.error ?? 'ok'),
      ['invalid-id', 'invalid-token', 'unknown-gateway', 'ok', 'duplicate', 'invalid-entry'],
    );
    await assert.rejects(
      e.add(
        Array.from({ length: 1001 }, (_, i) => ({ typeId: 't', deviceId: `n-${i}` })),
        'http',
      ),
      TypeError,
    );
    // a device cannot be taken over by a gateway once it is someone's
    assert.equal(e.enrolBehind({ typeId: 't', deviceId: 'z' }, { typeId: 't', deviceId: 'x' }), false, 'z is no gateway');
  });
});
