/**
 * The throttles of nodes/shared/once-a-minute.ts that the hostile work added: at most N lines a
 * minute per node whatever the number of senders (the rest said in one line with counts), a text said
 * again only when it changed, and the folding of sender values out of a throttling reason.
 */
import assert from 'node:assert/strict';
import { LineBudget, OnChange, reasonOf } from '../../nodes/shared/once-a-minute';

describe('hostile: throttles of the log', () => {
  it('LineBudget: at most N lines a minute, the rest said once with their count and senders', () => {
    let now = 0;
    const held: [number, number][] = [];
    const budget = new LineBudget(
      3,
      (count, sources) => held.push([count, sources]),
      () => now,
    );
    const allowed = Array.from({ length: 500 }, (_, i) => budget.take(`sim:sim-${i % 7}`)).filter(Boolean).length;
    assert.equal(allowed, 3);
    assert.deepEqual(held, []);
    now = 60_000;
    assert.equal(budget.take('sim:sim-1'), true, 'a new minute');
    assert.deepEqual(held, [[497, 7]]);
    budget.close();
  });

  it('OnChange: a repeated text once, again after reset or when it changes', () => {
    const said: string[] = [];
    const c = new OnChange((t) => said.push(t));
    for (let i = 0; i < 100; i++) c.note('ECONNREFUSED');
    c.note('ENOTFOUND');
    c.reset();
    c.note('ENOTFOUND');
    assert.deepEqual(said, ['ECONNREFUSED', 'ENOTFOUND', 'ENOTFOUND']);
  });

  it('reasonOf: messages that differ only by the sender values count as one reason', () => {
    assert.equal(
      reasonOf(`payload is not JSON: Unexpected token 'x', "xxx"... is not valid JSON`),
      reasonOf(`payload is not JSON: Unexpected token 'y', "yy"... is not valid JSON`),
    );
    assert.equal(reasonOf('at position 7'), reasonOf('at position 12345'));
    assert.notEqual(reasonOf('/d/lifetime must be integer'), reasonOf('/d/supports/x must be boolean'));
  });
});
