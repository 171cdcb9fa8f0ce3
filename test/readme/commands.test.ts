/**
 * The README's commands work as written against the demo: `scripts/start-demo.js` (what `npm start`
 * runs) on free ports in a temporary user directory, then the README's v0002 code block run by bash
 * as it stands, with only the demo's port 1880 replaced by the test's. Every curl must answer what
 * its comment says (202 launches, 200 queries, 204 for the delete), and the one-liner below the
 * block too.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../support/ports';
import { registryOf, until } from '../examples/flows';

const ROOT = path.join(__dirname, '..', '..', '..');
const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const DEMO_PLATFORM = 'c0nf000000000001';

/** the sh block of the API section: the one that starts with API= */
function apiBlock(): string {
  const blocks = [...README.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]);
  const block = blocks.find((b) => /^API=/.test(b));
  assert.ok(block, 'no ```sh block starting with API= in the README');
  return block;
}

describe('README: the v0002 commands work as written against the npm start demo', function () {
  this.timeout(90000);
  let demo: ChildProcess;
  let out = '';
  let port = 0;
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'iotdm-readme-'));

  before(async () => {
    port = await freePort();
    const mqttPort = await freePort();
    demo = spawn(process.execPath, [path.join(ROOT, 'scripts', 'start-demo.js')], {
      cwd: ROOT,
      env: { ...process.env, PORT: String(port), IOTDM_MQTT_PORT: String(mqttPort), IOTDM_DEMO_DIR: userDir, IOTDM_API_KEY: '', IOTDM_API_TOKEN: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    demo.stdout!.on('data', (d) => (out += d));
    demo.stderr!.on('data', (d) => (out += d));
    await until(
      'the demo fleet managed',
      async () => {
        if (demo.exitCode !== null) throw new Error(`the demo exited: ${out}`);
        return (await registryOf(`http://127.0.0.1:${port}`, DEMO_PLATFORM).catch(() => [])).filter((d) => d.managed).length === 101 || undefined;
      },
      60000,
    );
  });
  after(async () => {
    if (demo && demo.exitCode === null) {
      const exited = new Promise((r) => demo.once('exit', r));
      demo.kill('SIGINT');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 15000))]);
      if (demo.exitCode === null) demo.kill('SIGKILL');
    }
    fs.rmSync(userDir, { recursive: true, force: true });
  });

  it('each curl of the block answers as its comment says', () => {
    const script = apiBlock().replace(/127\.0\.0\.1:1880/g, `127.0.0.1:${port}`);
    // every curl also writes its status on stderr, one line each, in order
    const wrapper = `curl() { command curl -w '%{stderr}HTTP %{http_code}\\n' "$@"; }\nset -e\n`;
    const r = spawnSync('bash', ['-c', wrapper + script], { encoding: 'utf8', timeout: 60000 });
    assert.equal(r.status, 0, `bash: ${r.stderr}\n${r.stdout}`);
    const codes = [...r.stderr.matchAll(/^HTTP (\d{3})$/gm)].map((m) => Number(m[1]));
    // launch, launch (REQ), firmware download with override, list, list (BOOKMARK), next page,
    // one request, its device statuses, one device's status, cancel, delete
    assert.deepEqual(codes, [202, 202, 202, 200, 200, 200, 200, 200, 200, 200, 204], `${r.stderr}\n${r.stdout}`);
    assert.match(r.stdout, /"reqId":"/);
    assert.match(r.stdout, /"deviceId":"sim-002"/);
  });

  it('the one-liner below the block answers 200 with the requests', async () => {
    const m = /`curl -u ([^ ]+) (http:\/\/127\.0\.0\.1:1880\/api\/v0002\/mgmt\/requests)`/.exec(README);
    assert.ok(m, 'no one-liner in the README');
    const r = spawnSync('curl', ['-s', '-w', '\n%{http_code}', '-u', m[1], m[2].replace(':1880', `:${port}`)], { encoding: 'utf8' });
    assert.match(r.stdout, /"results":/);
    assert.match(r.stdout, /\n200$/);
  });
});
