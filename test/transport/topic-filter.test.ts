import assert from 'node:assert/strict';
import { filterMatcher } from '../../nodes/transport/topic-filter';

/** MQTT 3.1.1 §4.7 read literally, level by level on split strings: the oracle of the walking matcher */
function byLevels(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

describe('transport/topic-filter', () => {
  it('matches the protocol subscriptions as MQTT says', () => {
    const m = filterMatcher('iotdevice-1/type/+/id/+/#');
    assert.equal(m('iotdevice-1/type/T/id/D/mgmt/manage'), true);
    assert.equal(m('iotdevice-1/type/T/id/D'), true, '# matches the parent level too');
    assert.equal(m('iotdevice-1/type/T/id'), false);
    assert.equal(m('iotdevice-1/type/T/ID/D/response'), false);
    assert.equal(m('iotdevice-10/type/T/id/D/response'), false);
    assert.equal(m('iotdm-1/type/T/id/D/response'), false);
    assert.equal(filterMatcher('a/+')('a/'), true, 'an empty level is a level');
    assert.equal(filterMatcher('a/+')('a'), false);
    assert.equal(filterMatcher('a/+')('a/b/c'), false);
    assert.equal(filterMatcher('a/b')('a/b'), true);
    assert.equal(filterMatcher('a/b')('a/bc'), false);
    assert.equal(filterMatcher('#')('anything/at/all'), true);
    assert.equal(filterMatcher('+/+')('/x'), true);
  });

  it('agrees with a level-by-level reading on every pair of a generated set', () => {
    const levels = ['a', 'b', 'ab', '', '+', '#'];
    const filters: string[] = [];
    const topics: string[] = [];
    const grow = (prefix: string[], depth: number) => {
      if (prefix.length) {
        filters.push(prefix.join('/'));
        if (!prefix.some((l) => l === '+' || l === '#')) topics.push(prefix.join('/'));
      }
      if (depth === 0 || prefix.includes('#')) return;
      for (const l of levels) grow([...prefix, l], depth - 1);
    };
    grow([], 4);
    assert.ok(filters.length > 900 && topics.length > 300, `${filters.length} filters, ${topics.length} topics`);
    let matched = 0;
    for (const f of filters) {
      const m = filterMatcher(f);
      for (const t of topics) {
        const want = byLevels(f, t);
        assert.equal(m(t), want, `${f} ~ ${t}`);
        if (want) matched++;
      }
    }
    assert.ok(matched > 1000, `${matched} matching pairs`);
  });
});
