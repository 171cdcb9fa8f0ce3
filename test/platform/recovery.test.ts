import assert from 'node:assert/strict';
import { Platform } from '../../nodes/platform/platform';
import type { MgmtRequest } from '../../nodes/platform/management-request';
import { MemoryStore } from '../../nodes/platform/store';
import { persistRequests } from '../../nodes/platform/request-records';
import { persistRegistry, restoreRegistry } from '../../nodes/platform/registry-store';
import { PLATFORM_RESTARTED } from '../../nodes/platform/request-recovery';

/**
 * The request engine after a broker outage and after a restart of the platform (issue 11), on the
 * platform core with a store kept in memory between two Platform instances (the second one is the
 * restarted platform; the first is dropped without writing anything more, as a kill -9 would).
 */
interface Sent {
  topic: string;
  body: { reqId: string; [k: string]: unknown };
}

function node(store: MemoryStore, opts: ConstructorParameters<typeof Platform>[1] = {}) {
  const sent: Sent[] = [];
  const platform = new Platform(async (topic, payload) => {
    sent.push({ topic, body: JSON.parse(payload) });
  }, opts);
  const stops = [persistRequests(platform.requests, store), persistRegistry(platform.registry, store)];
  const dev = (d: string) => `iotdevice-1/type/T/id/${d}`;
  return {
    platform,
    sent,
    manage: (d: string) =>
      platform.handleMessage(
        `${dev(d)}/mgmt/manage`,
        JSON.stringify({ reqId: `m-${Math.random()}`, d: { supports: { deviceActions: true, firmwareActions: true }, lifetime: 0 } }),
      ),
    respond: (d: string, reqId: string, rc: number, extra: Record<string, unknown> = {}) =>
      platform.handleMessage(`${dev(d)}/response`, JSON.stringify({ reqId, rc, ...extra })),
    notify: (d: string, value: Record<string, unknown>) =>
      platform.handleMessage(`${dev(d)}/notify`, JSON.stringify({ d: { fields: [{ field: 'mgmt.firmware', value }] } })),
    /** to `d` on `path`, the last one */
    last: (d: string, path: string) => [...sent].reverse().find((s) => s.topic === `iotdm-1/type/T/id/${d}/${path}`),
    /** a kill -9: nothing more reaches the store */
    crash() {
      stops.forEach((s) => s());
      platform.close();
    },
  };
}

async function restarted(store: MemoryStore, opts: ConstructorParameters<typeof Platform>[1] = {}) {
  const loaded = await store.load();
  const b = node(store, opts);
  restoreRegistry(b.platform.registry, loaded);
  const resumed = b.platform.requests.resume(loaded);
  return { ...b, resumed };
}

const settle = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};
const completeOf = (p: Platform, id: string) =>
  new Promise<MgmtRequest>((resolve) => {
    const r = p.requests.get(id);
    if (r?.complete) return resolve(r);
    p.requests.on('requestComplete', (req) => req.id === id && resolve(req));
  });

describe('platform/recovery: restarts and broker outages', () => {
  const open: Platform[] = [];
  afterEach(() => open.splice(0).forEach((p) => p.close()));

  it('a reboot resumes after a restart: finished devices stay, waits wait, unanswered exchanges are asked again with their reqId', async () => {
    const store = new MemoryStore();
    const a = node(store);
    open.push(a.platform);
    ['d1', 'd2', 'd3', 'd4'].forEach((d) => a.manage(d));
    const req = a.platform.requests.initiate(
      { action: 'device/reboot', devices: ['d1', 'd2', 'd3', 'd4'].map((deviceId) => ({ typeId: 'T', deviceId })) },
      { origin: 'n1' },
    );
    await settle();
    const rebootOf = (d: string) => a.last(d, 'mgmt/initiate/device/reboot')!.body.reqId;
    a.respond('d1', rebootOf('d1'), 202);
    a.manage('d1'); // d1 is done
    a.respond('d2', rebootOf('d2'), 202); // d2 waits for its manage
    const d3ReqId = rebootOf('d3'); // d3 has not answered; d4 will refuse
    a.respond('d4', rebootOf('d4'), 500);
    a.crash();

    const b = await restarted(store);
    open.push(b.platform);
    assert.equal(b.resumed, 1);
    const again = b.platform.requests.get(req.id)!;
    assert.ok(again, 'the request is listed after the restart');
    assert.equal(again.origin, 'n1');
    assert.deepEqual({ ...again.counts }, { total: 4, inProgress: 2, success: 1, failure: 1, timedOut: 0, cancelled: 0 });
    await settle();
    assert.equal(b.last('d3', 'mgmt/initiate/device/reboot')?.body.reqId, d3ReqId, 'd3 is asked again with the same reqId');
    assert.equal(b.last('d2', 'mgmt/initiate/device/reboot'), undefined, 'd2 (waiting for its manage) is not asked again');
    const results: string[] = [];
    b.platform.requests.on('deviceComplete', (_r, e) => results.push(`${e.deviceId} ${e.outcome}`));
    b.manage('d2');
    b.respond('d3', d3ReqId, 202);
    b.respond('d3', d3ReqId, 202); // a redelivered copy: counted once
    b.manage('d3');
    const done = await completeOf(b.platform, req.id);
    assert.deepEqual(results, ['d2 success', 'd3 success']);
    assert.deepEqual({ ...done.counts }, { total: 4, inProgress: 0, success: 3, failure: 1, timedOut: 0, cancelled: 0 });
  });

  it('a firmware download resumes by observing mgmt.firmware again: a device already downloaded succeeds, an initiate that took effect counts as accepted', async () => {
    const store = new MemoryStore();
    const a = node(store);
    open.push(a.platform);
    a.manage('f1');
    a.manage('f2');
    const req = a.platform.requests.initiate({
      action: 'firmware/download',
      devices: [
        { typeId: 'T', deviceId: 'f1' },
        { typeId: 'T', deviceId: 'f2' },
      ],
    });
    await settle();
    for (const d of ['f1', 'f2'])
      a.respond(d, a.last(d, 'observe')!.body.reqId, 200, { d: { fields: [{ field: 'mgmt.firmware', value: { state: 0, updateStatus: 0 } }] } });
    await settle();
    a.respond('f1', a.last('f1', 'mgmt/initiate/firmware/download')!.body.reqId, 202); // f1 downloads; f2's 202 is lost
    a.notify('f1', { state: 1 });
    a.crash();

    const b = await restarted(store);
    open.push(b.platform);
    await settle();
    const o1 = b.last('f1', 'observe');
    const o2 = b.last('f2', 'observe');
    assert.ok(o1 && o2, 'both devices are observed again');
    assert.equal(b.last('f2', 'mgmt/initiate/firmware/download'), undefined, 'the initiate is not sent again before the observe answers');
    b.respond('f1', o1.body.reqId, 200, { d: { fields: [{ field: 'mgmt.firmware', value: { state: 2, updateStatus: 0 } }] } });
    b.respond('f2', o2.body.reqId, 200, { d: { fields: [{ field: 'mgmt.firmware', value: { state: 1, updateStatus: 0 } }] } });
    await settle();
    b.notify('f2', { state: 2 });
    await settle();
    for (const d of ['f1', 'f2']) b.respond(d, b.last(d, 'cancel')!.body.reqId, 200);
    const done = await completeOf(b.platform, req.id);
    assert.equal(done.counts.success, 2, JSON.stringify(done.executions.map((e) => done.row(e))));
  });

  it('a request whose timeout ran out while the platform was down ends its running devices as "platform restarted"', async () => {
    const store = new MemoryStore();
    let now = Date.parse('2026-01-01T00:00:00Z');
    const clock = () => new Date(now);
    const a = node(store, { now: clock });
    open.push(a.platform);
    a.manage('x1');
    const req = a.platform.requests.initiate({ action: 'device/reboot', timeout: 60, devices: [{ typeId: 'T', deviceId: 'x1' }] });
    await settle();
    a.crash();
    now += 120_000;
    const b = await restarted(store, { now: clock });
    open.push(b.platform);
    const done = await completeOf(b.platform, req.id);
    assert.equal(done.executions[0].message, PLATFORM_RESTARTED);
    assert.equal(done.counts.failure, 1);
  });

  it('finished requests are listed again after a restart, within their retention', async () => {
    const store = new MemoryStore();
    const a = node(store, { maxRetained: 5 });
    open.push(a.platform);
    a.manage('r1');
    const req = a.platform.requests.initiate({ action: 'device/reboot', devices: [{ typeId: 'T', deviceId: 'r9' }] }); // unknown: fails at once
    await completeOf(a.platform, req.id);
    a.crash();
    const b = await restarted(store);
    open.push(b.platform);
    assert.equal(b.resumed, 0);
    const again = b.platform.requests.details(req.id)!;
    assert.equal(again.complete, true);
    assert.equal(again.counts.failure, 1);
    assert.equal(b.platform.registry.size, 1, 'the registry came back too');
  });

  it('a broker outage pauses answer deadlines, asks acknowledged exchanges again once connected, and names "broker unavailable" when it outlasts the request', async () => {
    const store = new MemoryStore();
    const a = node(store, { responseTimeoutMs: 60 });
    open.push(a.platform);
    a.manage('o1');
    a.manage('o2');
    const req = a.platform.requests.initiate({ action: 'device/reboot', devices: [{ typeId: 'T', deviceId: 'o1' }] });
    await settle();
    const first = a.last('o1', 'mgmt/initiate/device/reboot')!;
    a.platform.requests.connectionLost();
    await new Promise((r) => setTimeout(r, 150)); // more than the answer timeout
    assert.equal(req.counts.inProgress, 1, 'no timeout while offline');
    const before = a.sent.length;
    a.platform.requests.connectionRestored();
    const resent = a.sent.slice(before).find((s) => s.topic.endsWith('o1/mgmt/initiate/device/reboot'));
    assert.equal(resent?.body.reqId, first.body.reqId, 'asked again with the same reqId');
    a.respond('o1', first.body.reqId, 202);
    a.manage('o1');
    assert.equal((await completeOf(a.platform, req.id)).counts.success, 1);

    const short = a.platform.requests.initiate({ action: 'device/reboot', timeout: 0.1, devices: [{ typeId: 'T', deviceId: 'o2' }] });
    await settle();
    a.platform.requests.connectionLost();
    const ended = await completeOf(a.platform, short.id);
    assert.equal(ended.executions[0].message, 'broker unavailable');
    assert.equal(ended.counts.timedOut, 1);
    a.platform.requests.connectionRestored();
  });
});
