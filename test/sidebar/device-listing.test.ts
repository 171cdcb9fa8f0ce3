import assert from 'node:assert/strict';
import { Registry } from '../../nodes/platform/registry';
import { listDevices, deviceRefs } from '../../nodes/plugins/device-listing';
import { offsetPage, MAX_PAGE } from '../../nodes/platform/paging';

describe('sidebar: device listing of the registry', () => {
  function registry(n: number): Registry {
    const r = new Registry();
    for (let i = 0; i < n; i++) {
      r.manage(
        { typeId: i % 2 ? 'odd' : 'even', deviceId: `d-${String(i).padStart(4, '0')}` },
        { supports: { deviceActions: true }, deviceInfo: { fwVersion: '1.0' } },
      );
    }
    return r;
  }

  it('serves a page of 5,000 devices in a few milliseconds, with type counts, filter, search and the last page past the end', () => {
    const r = registry(5000);
    r.unmanage({ typeId: 'odd', deviceId: 'd-0001' });
    r.mergeFirmware({ typeId: 'even', deviceId: 'd-0000' }, { state: 2, updateStatus: 0 });
    const t0 = process.hrtime.bigint();
    const page = listDevices(r, { offset: 0, limit: 50 });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    assert.ok(ms < 100, `${ms} ms`);
    assert.equal(page.total, 5000);
    assert.equal(page.devices.length, 50);
    assert.deepEqual(page.types, [
      { typeId: 'even', count: 2500 },
      { typeId: 'odd', count: 2500 },
    ]);
    assert.deepEqual(page.devices[0], {
      typeId: 'even',
      deviceId: 'd-0000',
      state: 'managed',
      supports: { deviceActions: true },
      fwVersion: '1.0',
      fwState: 2,
      fwUpdateStatus: 0,
      lastActivityDateTime: page.devices[0].lastActivityDateTime,
    });
    const odd = listDevices(r, { typeId: 'odd', limit: 2 });
    assert.equal(odd.total, 2500);
    assert.equal(odd.devices[0].state, 'unmanaged');
    assert.deepEqual(listDevices(r, { search: 'D-004', limit: 500 }).total, 10);
    const last = listDevices(r, { typeId: 'odd', offset: 99999, limit: 100 });
    assert.equal(last.offset, 2400);
    assert.equal(last.devices.length, 100);
    assert.equal(listDevices(new Registry(), { offset: 10 }).offset, 0);
    // "all of a type": managed devices only
    assert.equal(deviceRefs(r, { typeId: 'odd' }, { managedOnly: true }).length, 2499);
    assert.equal(deviceRefs(r, {}).length, 5000);
    r.close();
  });

  it('pages any rows the same way (the request rows use it too): clamped limit, the last page past the end, an empty list at 0', () => {
    const rows = Array.from({ length: 10 }, (_, i) => i);
    assert.deepEqual(offsetPage(rows, 8, 4), { total: 10, offset: 8, limit: 4, rows: [8, 9] });
    assert.deepEqual(offsetPage(rows, 10, 4), { total: 10, offset: 8, limit: 4, rows: [8, 9] });
    assert.deepEqual(offsetPage(rows, 1000, 5), { total: 10, offset: 5, limit: 5, rows: [5, 6, 7, 8, 9] });
    assert.deepEqual(offsetPage(rows), { total: 10, offset: 0, limit: 50, rows });
    assert.equal(offsetPage(rows, -3, 0).offset, 0);
    assert.equal(offsetPage(rows, 0, 0).limit, 1);
    assert.equal(offsetPage(rows, 0, MAX_PAGE + 1).limit, MAX_PAGE);
    assert.deepEqual(offsetPage([], 30, 10), { total: 0, offset: 0, limit: 10, rows: [] });
  });
});
