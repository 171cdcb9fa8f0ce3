'use strict';
// mocha's spec reporter, closed by the plain line CI reads: "N passed, N failed".
// Above that line, one short line per test that failed ("failed: …") and per test that passed only
// on its retry ("retried: …", with what its first attempt said), so the end of a log, which is what
// a CI page shows, names them: a test that needed its retry is a race to fix, never a silent pass.
const Mocha = require('mocha');

const { EVENT_TEST_FAIL, EVENT_TEST_RETRY, EVENT_RUN_END } = Mocha.Runner.constants;

/** the first line of an error's message, bounded (a test's message may quote a whole payload) */
function said(err) {
  const text = String((err && err.message) || err || '').split('\n')[0];
  return text.length > 240 ? `${text.slice(0, 240)}…` : text;
}

class SpecWithTotals extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    // by full title: what the failure (its last attempt) or the first attempt said
    const failed = new Map();
    const retried = new Map();
    runner.on(EVENT_TEST_RETRY, (test, err) => retried.set(test.fullTitle(), said(err)));
    runner.on(EVENT_TEST_FAIL, (test, err) => failed.set(test.fullTitle(), said(err)));
    runner.once(EVENT_RUN_END, () => {
      const s = runner.stats;
      for (const [title, last] of failed) console.log(`failed: ${title}: ${last}`);
      for (const [title, first] of retried) if (!failed.has(title)) console.log(`retried: ${title} (its first attempt: ${first})`);
      const skipped = s.pending ? `, ${s.pending} skipped` : '';
      console.log(`${s.passes} passed, ${s.failures} failed${skipped}`);
    });
  }
}
module.exports = SpecWithTotals;
