import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Platform } from '../../nodes/platform/platform';
import { Registry } from '../../nodes/platform/registry';
import { persistRegistry, restoreRegistry } from '../../nodes/platform/registry-store';
import { Journal } from '../../nodes/storage/journal';

/**
 * A notify that changes only deviceInfo (docs/protocol.md §3.7, §4) is kept: the registry emits the
 * change, so it is written through to the journal and is there after a restart. (The platform wrote
 * rec.deviceInfo itself, beside the registry: no change event, nothing saved.)
 */
describe('platform: a notify of deviceInfo alone is saved', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iotdm-devinfo-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('reaches the journal and is restored from it, with a reqId or without', async () => {
    const file = path.join(dir, 'journal.jsonl');
    const journal = new Journal({ file });
    await journal.load();
    const platform = new Platform(async () => undefined);
    const stop = persistRegistry(platform.registry, journal);
    const dev = 'iotdevice-1/type/T/id/D';
    platform.handleMessage(
      `${dev}/mgmt/manage`,
      JSON.stringify({ reqId: 'm1', d: { supports: { deviceActions: true }, deviceInfo: { fwVersion: '1.0', model: 'M' } } }),
    );
    const changes: string[] = [];
    platform.registry.on('change', (_rec, key) => changes.push(key));
    platform.handleMessage(`${dev}/notify`, JSON.stringify({ d: { fields: [{ field: 'deviceInfo.fwVersion', value: '2.0' }] } }));
    platform.handleMessage(`${dev}/notify`, JSON.stringify({ reqId: 'n2', d: { field: 'deviceInfo.serialNumber', value: 'S-7' } }));
    assert.deepEqual(changes, ['T/D', 'T/D']);
    assert.deepEqual(platform.registry.get({ typeId: 'T', deviceId: 'D' })!.deviceInfo, { fwVersion: '2.0', model: 'M', serialNumber: 'S-7' });
    stop();
    platform.close();
    await journal.close();

    const restored = new Registry();
    assert.equal(restoreRegistry(restored, await new Journal({ file }).load()), 1);
    assert.deepEqual(restored.get({ typeId: 'T', deviceId: 'D' })!.deviceInfo, { fwVersion: '2.0', model: 'M', serialNumber: 'S-7' });
    restored.close();
  });
});
