import assert from 'node:assert/strict';
import { Registry } from '../../nodes/platform/registry';
import { RequestManager } from '../../nodes/platform/request-manager';
import { RequestProgress, type ProgressMessage } from '../../nodes/plugins/request-progress';

const EVENTS = ['requestCreated', 'deviceComplete', 'requestComplete', 'requestRemoved'] as const;
const tick = () => new Promise((r) => setImmediate(r));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('sidebar: live progress of a RequestManager', () => {
  // devices the registry does not know fail on their own (404) without a publish: a burst of
  // 20 device completions and the request's completion in one turn, with no broker involved
  const unknown = (n: number) => Array.from({ length: n }, (_, i) => ({ typeId: 'ghost', deviceId: `g-${i}` }));
  let registry: Registry;
  let manager: RequestManager;
  beforeEach(() => {
    registry = new Registry();
    manager = new RequestManager(registry, () => Promise.reject(new Error('nothing is published in these tests')));
  });
  afterEach(() => {
    manager.close();
    registry.close();
  });

  it('one message at once, then the burst of 20 completions as one last message with the final state; a removal is said at once', async () => {
    const sent: ProgressMessage[] = [];
    const progress = new RequestProgress(manager, (m) => sent.push(m), 100);
    const req = manager.initiate({ action: 'device/reboot', devices: unknown(20) });
    assert.equal(sent.length, 1);
    assert.equal('request' in sent[0] && sent[0].request.counts.inProgress, 20);
    await tick();
    assert.equal(req.complete, true);
    assert.equal(sent.length, 1, 'the burst waits for the interval');
    await sleep(150);
    assert.equal(sent.length, 2);
    const last = sent[1] as { request: { complete: boolean; counts: { failure: number } } };
    assert.equal(last.request.complete, true);
    assert.equal(last.request.counts.failure, 20);
    manager.delete(req.id);
    assert.deepEqual(sent[2], { removed: req.id });
    progress.close();
  });

  it('close() sends the pending last state now, removes its listeners, and a second close does nothing', async () => {
    const before = EVENTS.map((e) => manager.listenerCount(e));
    const sent: ProgressMessage[] = [];
    const progress = new RequestProgress(manager, (m) => sent.push(m), 10_000);
    assert.deepEqual(
      EVENTS.map((e) => manager.listenerCount(e)),
      before.map((n) => n + 1),
    );
    manager.initiate({ action: 'device/reboot', devices: unknown(3) });
    await tick();
    assert.equal(sent.length, 1);
    progress.close();
    assert.equal(sent.length, 2);
    assert.equal((sent[1] as { request: { complete: boolean } }).request.complete, true);
    assert.deepEqual(
      EVENTS.map((e) => manager.listenerCount(e)),
      before,
    );
    progress.close();
    manager.initiate({ action: 'device/reboot', devices: unknown(1) });
    await tick();
    assert.equal(sent.length, 2, 'nothing after close');
  });
});
