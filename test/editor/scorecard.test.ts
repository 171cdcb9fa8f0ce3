/**
 * The Node-RED flow library's scorecard (`node-red-dev validate`, node-red-dev 0.1.6 from
 * devDependencies) on the package root: it must pass with no warning and no error. It runs
 * offline-safe with scripts/scorecard-offline.cjs preloaded: nothing beyond the npm registry.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.join(__dirname, '..', '..', '..');
const PRELOAD = path.join(ROOT, 'scripts', 'scorecard-offline.cjs');
const VALIDATE = path.join(path.dirname(require.resolve('node-red-dev/package.json')), 'bin', 'run');

describe('editor: the flow library scorecard', function () {
  this.timeout(180000);

  it('node-red-dev validate passes with no warning and no error', async () => {
    assert.ok(fs.existsSync(VALIDATE), `${VALIDATE} is missing`);
    const { code, out } = await new Promise<{ code: number; out: string }>((resolve) => {
      execFile(
        process.execPath,
        ['--require', PRELOAD, VALIDATE, 'validate'],
        { cwd: ROOT, maxBuffer: 10 * 1024 * 1024, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' } },
        (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` }),
      );
    });
    // the scorecard really ran all three parts
    for (const part of ['---Validating Package---', '---Validating Nodes---', '---Validating Dependencies---', 'Complete']) {
      assert.ok(out.includes(part), `no "${part}" in:\n${out}`);
    }
    const bad = out.split('\n').filter((l) => /Warning|Error|Unable to (parse|read)|NOT Compatible/i.test(l));
    assert.deepEqual(bad, [], `scorecard:\n${out}`);
    assert.equal(code, 0, out);
    // each check that passes prints a ✅: the package, the nodes (examples for all), the dependencies
    for (const ok of ['licensed', 'Scoped Name', 'Node-RED Keyword Found', 'Examples found for all nodes', 'No incompatible packages']) {
      assert.ok(out.includes(ok), `no "${ok}" in:\n${out}`);
    }
  });
});
