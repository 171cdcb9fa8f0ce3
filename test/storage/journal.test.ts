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
});
