import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Journal } from '../../nodes/storage/journal';

describe('storage/journal', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iotdm-journal-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('reloads puts, deletes and drops in the order they were made; a value is taken when put', async () => {
    const file = path.join(dir, 'sub', 'j.jsonl');
    const j = new Journal({ file });
    assert.equal((await j.load()).size, 0);
    const rec = { n: 1 };
    j.put('devices', 'a', rec);
    rec.n = 2; // later changes to the object are not seen
    j.put('devices', 'b', { n: 3 });
    j.put('request:1', 'x', { s: 0 });
    j.put('devices', 'b', { n: 4 });
    j.delete('devices', 'a');
    j.drop('request:1');
    j.put('request:2', 'y', { s: 1 });
    await j.close();
    const j2 = new Journal({ file });
    const again = await j2.load();
    await j2.close();
    assert.deepEqual([...again.keys()].sort(), ['devices', 'request:2']);
    assert.deepEqual([...again.get('devices')!], [['b', { n: 4 }]]);
    assert.deepEqual(again.get('request:2')!.get('y'), { s: 1 });
  });

  it('skips a line cut short by a crash and keeps appending after it', async () => {
    const file = path.join(dir, 'j.jsonl');
    fs.writeFileSync(file, '{"c":"devices","k":"a","v":1}\n{"c":"devices","k":"b","v":');
    const j = new Journal({ file });
    const first = await j.load();
    assert.deepEqual([...first.get('devices')!.keys()], ['a']);
    j.put('devices', 'c', 3);
    await j.close();
    const j2 = new Journal({ file });
    const second = await j2.load();
    await j2.close();
    assert.deepEqual(
      [...second.get('devices')!.entries()],
      [
        ['a', 1],
        ['c', 3],
      ],
    );
  });

  it('compacts: the file shrinks to the live entries and reloads the same', async () => {
    const file = path.join(dir, 'j.jsonl');
    const j = new Journal({ file, compactMinLines: 100, compactFactor: 2, sync: false });
    await j.load();
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 10; i++) j.put('devices', `d${i}`, { round });
      await j.flush();
    }
    await j.close();
    const lines = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).length;
    assert.ok(lines < 200, `${lines} lines after compaction (200 written)`);
    const j2 = new Journal({ file });
    const again = await j2.load();
    await j2.close();
    assert.equal(again.get('devices')!.size, 10);
    assert.deepEqual(again.get('devices')!.get('d7'), { round: 19 });
  });

  it('compacts by size: a few large values rewritten often (the device chunks of a rollout) do not grow the file without bound', async () => {
    const file = path.join(dir, 'j.jsonl');
    // a line count far away: only the size can trigger it
    const j = new Journal({ file, compactMinLines: 1_000_000, compactMinBytes: 100_000, compactFactor: 2, sync: false });
    await j.load();
    j.put('devices', 'd1', { small: true });
    const big = 'x'.repeat(10_000);
    for (let round = 0; round < 100; round++) {
      j.put('rollout:r1', '0', { round, big });
      j.put('rollout:r1', '1', { round, big });
      await j.flush();
    }
    await j.close();
    const size = fs.statSync(file).size;
    assert.ok(size < 110_000, `${size} bytes after 2 MB written`);
    const j2 = new Journal({ file });
    const again = await j2.load();
    await j2.close();
    assert.deepEqual(again.get('devices')!.get('d1'), { small: true });
    assert.deepEqual(again.get('rollout:r1')!.get('1'), { round: 99, big });
  });
  it('closed while it loads (a node removed during its start), it keeps no file open', async () => {
    const file = path.join(dir, 'j.jsonl');
    fs.writeFileSync(file, JSON.stringify({ c: 'devices', k: 'a', v: 1 }) + '\n');
    const openOnFile = () =>
      fs.readdirSync('/proc/self/fd').filter((fd) => {
        try {
          return fs.readlinkSync(`/proc/self/fd/${fd}`) === file;
        } catch {
          return false; // the directory's own descriptor, gone by now
        }
      }).length;
    const j = new Journal({ file });
    const loading = j.load();
    await j.close();
    await loading;
    assert.equal(openOnFile(), 0, 'the journal file is still open');
    const open = new Journal({ file });
    await open.load();
    assert.equal(openOnFile(), 1, 'a loaded journal holds its file open (the check sees it)');
    await open.close();
    assert.equal(openOnFile(), 0);
  });
});
