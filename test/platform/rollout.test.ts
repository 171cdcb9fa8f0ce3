/**
 * Rollouts on real brokers: a Platform core on a real Connection, a RolloutManager above its
 * request engine, and a simulated fleet (one mqtt.js client speaking for many devices) whose chosen
 * devices fail, time out or keep their old version (bench/faults.ts).
 */
import assert from 'node:assert/strict';
import { RolloutManager, RolloutError } from '../../nodes/platform/rollout/rollout-manager';
import { MemoryRolloutStore } from '../../nodes/platform/rollout/state';
import type { DeviceResult } from '../../nodes/platform/rollout/rollout';
import type { RolloutState } from '../../nodes/platform/rollout/state';
import type { RequestManagerOptions } from '../../nodes/platform/request-manager';
import { Fleet, devices } from '../support/fleet';
import type { Faults } from '../../bench/faults';
import { startFirmwareBroker, startPlatform, until, sleep, type Broker, type BrokerKind, type RunningPlatform } from '../firmware/fixtures';

interface Setup {
  p: RunningPlatform;
  fleet: Fleet;
  rollouts: RolloutManager;
  results: DeviceResult[];
  states: RolloutState[];
  /** the number of devices of each management request the rollouts launched */
  requestSizes: number[];
}

function finished(rollouts: RolloutManager, id: string, ms = 20000): Promise<RolloutState> {
  return until(() => !!rollouts.get(id)?.final, ms, `rollout ${id} finished (${JSON.stringify(rollouts.details(id)?.counts)})`).then(
    () => rollouts.get(id)!.data.state,
  );
}

for (const kind of ['embedded', 'mosquitto'] as BrokerKind[]) {
  describe(`platform/rollout over ${kind}`, function () {
    this.timeout(60000);
    let broker: Broker;
    let s: Setup | undefined;

    before(async () => {
      broker = await startFirmwareBroker(kind);
    });
    after(async () => {
      await broker.stop();
    });
    afterEach(async () => {
      await s?.rollouts.close();
      await s?.fleet.stop();
      await s?.p.close();
      s = undefined;
    });

    async function setup(
      n: number,
      opts: {
        faults?: Faults;
        platform?: RequestManagerOptions;
        firmware?: boolean;
        now?: () => number;
        onAction?: ConstructorParameters<typeof Fleet>[0]['onAction'];
      } = {},
    ): Promise<Setup> {
      const p = await startPlatform(broker.url, opts.platform ?? {});
      const fleet = new Fleet({
        url: broker.url,
        devices: devices(n, 'ro', 'ro'),
        faults: opts.faults,
        supports: { deviceActions: true, firmwareActions: !!opts.firmware },
        onAction: opts.onAction,
      });
      await fleet.start();
      await fleet.manageAll(20000);
      const rollouts = new RolloutManager(p.platform.requests, p.platform.registry, { now: opts.now, windowPollMs: 20 });
      const results: DeviceResult[] = [];
      const states: RolloutState[] = [];
      const requestSizes: number[] = [];
      rollouts.on('device', (r) => results.push(r));
      rollouts.on('state', (e) => states.push(e.state));
      p.platform.requests.on('requestCreated', (req) => {
        if (req.origin.startsWith('rollout:')) requestSizes.push(req.executions.length);
      });
      s = { p, fleet, rollouts, results, states, requestSizes };
      return s;
    }

    it('runs 1,000 devices in 4 waves, each gate passed on its success percentage', async () => {
      const { rollouts, requestSizes, fleet } = await setup(1000, { faults: { fail: { percent: 3 } } });
      const r = rollouts.create({ action: 'device/reboot', select: { typeId: 'ro' }, waves: { percent: 25 }, gate: { successPercent: 90 } });
      assert.equal(await finished(rollouts, r.id), 'completed');
      const d = rollouts.details(r.id)!;
      assert.equal(d.waves.length, 4);
      assert.deepEqual(
        d.waves.map((w) => [w.size, w.state]),
        [
          [250, 'completed'],
          [250, 'completed'],
          [250, 'completed'],
          [250, 'completed'],
        ],
      );
      assert.deepEqual(
        d.waves.map((w) => w.gate),
        ['passed', 'passed', 'passed', undefined],
      );
      assert.equal(d.counts.total, 1000);
      assert.equal(d.counts.success + d.counts.failure, 1000);
      assert.ok(d.counts.failure > 0 && d.counts.failure < 100, `failures ${d.counts.failure}`);
      // each wave waited for the previous one: four requests of one wave each, none over 5,000
      assert.deepEqual(requestSizes, [250, 250, 250, 250]);
      assert.equal(fleet.actions.length, 1000);
    });

    if (kind === 'mosquitto') return;

    it('pauses at a gate below its threshold, and an approval gate waits for approve', async () => {
      const { rollouts } = await setup(20, { faults: { fail: { devices: ['ro-0000', 'ro-0001'] } } });
      const r = rollouts.create({
        action: 'device/reboot',
        select: { typeId: 'ro' },
        waves: [{ size: 4, gate: { successPercent: 75 } }, { size: 6, gate: { approval: true } }, { size: 10 }],
      });
      await until(() => r.data.state === 'paused', 10000, 'paused at the canary gate').catch((e) => {
        throw new Error(e.message + JSON.stringify(rollouts.details(r.id)));
      });
      assert.match(r.data.reason!, /50% of the wave succeeded, 75% needed/);
      assert.equal(r.data.waves[1].state, 'pending');
      assert.throws(
        () => rollouts.command(r.id, 'approve'),
        (e: RolloutError) => e.statusCode === 409,
      );
      rollouts.command(r.id, 'resume');
      await until(() => r.data.state === 'waitingApproval', 10000, 'waiting for approval');
      assert.equal(r.data.waves[1].counts.success, 6);
      assert.equal(r.data.waves[2].counts.pending, 10);
      rollouts.command(r.id, 'approve');
      assert.equal(await finished(rollouts, r.id), 'completed');
      assert.equal(r.data.counts.success, 18);
    });

    it('aborts at its failure threshold and cancels the devices in flight', async () => {
      const { rollouts, results, fleet } = await setup(200, {
        faults: { fail: { percent: 50 } },
        // successful devices come back slowly: they are still in flight when failures pile up
        onAction: () => ({ rc: 202, remanageAfterMs: 400 }),
      });
      let atAbort: { failure: number; executed: number } | undefined;
      rollouts.on('state', (e) => {
        if (e.state === 'aborted') atAbort = { failure: e.counts.failure, executed: e.counts.success + e.counts.failure + e.counts.timedOut };
      });
      const r = rollouts.create({
        action: 'device/reboot',
        select: { typeId: 'ro' },
        waves: { size: 200 },
        rate: { maxInFlight: 40 },
        abort: [{ type: 'failure', percent: 30, minExecuted: 10 }],
      });
      assert.equal(await finished(rollouts, r.id), 'aborted');
      assert.match(r.data.reason!, /abort rule failure ≥ 30%/);
      assert.ok(atAbort && atAbort.executed >= 10 && atAbort.failure * 100 >= 30 * atAbort.executed, JSON.stringify(atAbort));
      // the rule did not fire before its minimum of executed devices
      assert.equal(atAbort!.executed, 10);
      const cancelledInFlight = results.filter((x) => x.outcome === 'cancelled' && x.attempt === 1);
      assert.ok(cancelledInFlight.length > 0, 'devices in flight were cancelled');
      assert.ok(fleet.actions.length < 200, `${fleet.actions.length} devices launched`);
      assert.equal(r.data.counts.pending + r.data.counts.inProgress, 0);
      assert.equal(r.data.counts.cancelled, 200 - atAbort!.executed);
      assert.equal(r.inFlightCount, 0);
    });

    it('retries timeouts with a growing backoff until they succeed; a device that keeps timing out is set aside', async () => {
      const { rollouts, results } = await setup(10, {
        faults: { timeout: { devices: ['ro-0001', 'ro-0002', 'ro-0003'], attempts: 2 } },
        platform: { responseTimeoutMs: 150 },
      });
      const r = rollouts.create({
        action: 'device/reboot',
        devices: devices(10, 'ro', 'ro'),
        waves: { size: 10 },
        retries: { timedOut: { count: 3, backoffMs: 50, factor: 2 } },
      });
      assert.equal(await finished(rollouts, r.id), 'completed');
      assert.equal(r.data.counts.success, 10);
      const of = (id: string) => results.filter((x) => x.deviceId === id).map((x) => [x.attempt, x.outcome, x.final, x.retryInMs]);
      assert.deepEqual(of('ro-0001'), [
        [1, 'timedOut', false, 50],
        [2, 'timedOut', false, 100],
        [3, 'success', true, undefined],
      ]);
      assert.deepEqual(of('ro-0005'), [[1, 'success', true, undefined]]);
      const rows = rollouts.devices(r.id, { _limit: 3 });
      assert.equal(rows.total, 10);
      assert.deepEqual(
        rows.results.map((x) => x.attempts),
        [1, 3, 3],
      );
      assert.ok(rows._bookmark);

      // every attempt times out: three retries, then set aside and reported
      const r2 = rollouts.create({
        action: 'device/reboot',
        devices: [{ typeId: 'ro', deviceId: 'ro-0002' }],
        waves: { size: 1 },
        retries: { timedOut: { count: 1, backoffMs: 10 } },
      });
      s!.fleet.faults.faults.timeout!.attempts = undefined;
      assert.equal(await finished(rollouts, r2.id), 'completed');
      const last = results.filter((x) => x.rolloutId === r2.id);
      assert.deepEqual(
        last.map((x) => [x.attempt, x.outcome, x.final, x.setAside]),
        [
          [1, 'timedOut', false, undefined],
          [2, 'timedOut', true, true],
        ],
      );
      assert.equal(rollouts.details(r2.id)!.setAside, 1);
      assert.deepEqual(
        rollouts.devices(r2.id, { setAside: true }).results.map((x) => x.deviceId),
        ['ro-0002'],
      );
    });

    it('stops launching when its window closes mid-rollout, and goes on when it opens again', async () => {
      // the rollout's clock runs with real time from a chosen moment
      let offset = Date.parse('2026-01-05T10:30:00Z') - Date.now(); // a Monday, 11:30 in Paris
      const at = (iso: string) => (offset = Date.parse(iso) - Date.now());
      const { rollouts, fleet } = await setup(60, { now: () => Date.now() + offset });
      const r = rollouts.create({
        action: 'device/reboot',
        select: { typeId: 'ro' },
        waves: { size: 60 },
        rate: { perMinute: 1200 },
        window: { timeZone: 'Europe/Paris', days: ['mon', 'tue'], hours: [{ from: '11:00', to: '12:00' }] },
      });
      await until(() => fleet.actions.length >= 10, 10000, '10 devices launched');
      at('2026-01-05T11:05:00Z'); // 12:05 in Paris: the window has closed
      await until(() => r.data.windowOpen === false, 5000, 'the window seen closed');
      await until(() => r.inFlightCount === 0, 5000, 'in-flight devices finished');
      const launched = fleet.actions.length;
      assert.ok(launched < 60);
      await sleep(300); // fifteen window looks
      assert.equal(fleet.actions.length, launched, 'nothing launched outside the window');
      assert.equal(r.data.state, 'running');
      assert.equal(r.data.counts.pending, 60 - launched);
      at('2026-01-06T10:10:00Z'); // Tuesday 11:10 in Paris
      assert.equal(await finished(rollouts, r.id), 'completed');
      assert.equal(r.data.counts.success, 60);
    });

    it('a window that ends with onEnd cancel cancels what is in flight, and runs it again in the next window', async () => {
      let offset = Date.parse('2026-01-05T10:30:00Z') - Date.now();
      const at = (iso: string) => (offset = Date.parse(iso) - Date.now());
      // devices come back slowly: many are in flight when the window closes
      const { rollouts, fleet } = await setup(30, { now: () => Date.now() + offset, onAction: () => ({ rc: 202, remanageAfterMs: 400 }) });
      const r = rollouts.create({
        action: 'device/reboot',
        select: { typeId: 'ro' },
        waves: { size: 30 },
        rate: { maxInFlight: 10 },
        window: { hours: [{ from: '10:00', to: '11:00' }], onEnd: 'cancel' },
      });
      await until(() => r.inFlightCount === 10, 5000, '10 in flight');
      at('2026-01-05T11:30:00Z');
      await until(() => r.data.windowOpen === false && r.inFlightCount === 0, 5000, 'in-flight devices cancelled');
      assert.equal(r.data.state, 'running');
      assert.equal(r.data.counts.cancelled, 0, 'cancelled by the window, not ended');
      assert.equal(r.data.counts.pending, 30 - r.data.counts.success);
      at('2026-01-06T10:05:00Z');
      assert.equal(await finished(rollouts, r.id), 'completed');
      assert.equal(r.data.counts.success, 30);
      assert.ok(fleet.actions.length > 30, `${fleet.actions.length} initiates: the cancelled devices ran again`);
      // a cancel by the window is not an attempt
      assert.ok(r.data.devices.every((e) => e.attempts === 1));
    });

    it('verified success: a device that manages with its old version fails, and its failures re-run as a new rollout', async () => {
      const { rollouts, p, fleet } = await setup(8, { firmware: true, faults: { oldVersion: { devices: ['ro-0003'] } } });
      const engineOutcomes: string[] = [];
      p.platform.requests.on('deviceComplete', (_req, exec) => engineOutcomes.push(`${exec.deviceId}:${exec.outcome}`));
      const r = rollouts.create({
        action: 'firmware/update',
        parameters: [
          { name: 'version', value: '2.0.0' },
          { name: 'uri', value: 'http://fw.invalid/2.0.0.bin' },
        ],
        select: { typeId: 'ro', fwVersionNot: '2.0.0' },
        waves: { size: 8 },
        verify: { timeoutMs: 5000 },
      });
      assert.equal(await finished(rollouts, r.id), 'completed');
      // the engine took every update as done; the verification did not
      assert.equal(engineOutcomes.filter((o) => o.endsWith(':success')).length, 8);
      assert.equal(r.data.counts.success, 7);
      const bad = rollouts.devices(r.id, { state: 'failure' }).results;
      assert.deepEqual(
        bad.map((x) => x.deviceId),
        ['ro-0003'],
      );
      assert.match(bad[0].reason!, /reports fwVersion 1\.0\.0, not 2\.0\.0/);

      fleet.faults.faults.oldVersion = undefined;
      const again = rollouts.rerun(r.id);
      assert.equal(again.data.rerunOf, r.id);
      assert.equal(await finished(rollouts, again.id), 'completed');
      assert.deepEqual(
        again.data.devices.map((x) => [x.deviceId, x.state]),
        [['ro-0003', 'success']],
      );
      // a selection by version leaves out the devices already updated
      const none = rollouts.create({
        action: 'firmware/update',
        parameters: [{ name: 'version', value: '2.0.0' }],
        select: { typeId: 'ro', fwVersionNot: '2.0.0' },
        waves: { size: 8 },
      });
      assert.equal(await finished(rollouts, none.id), 'completed');
      assert.equal(none.data.counts.total, 0);
    });

    it('waves without a gate overlap: the next starts once the previous one is all launched', async () => {
      const { rollouts } = await setup(40, { onAction: () => ({ rc: 202, remanageAfterMs: 100 }) });
      const waves: { index: number; state: string; at: number }[] = [];
      rollouts.on('wave', (w) => waves.push({ index: w.index, state: w.state, at: Date.now() }));
      const r = rollouts.create({ action: 'device/reboot', select: { typeId: 'ro' }, waves: [{ size: 10, gate: { successPercent: 100 } }, { size: 10 }] });
      assert.equal(await finished(rollouts, r.id), 'completed');
      assert.deepEqual(
        r.data.waves.map((w) => [w.state, w.counts.success]),
        [
          ['completed', 10],
          ['completed', 10],
          ['completed', 10],
          ['completed', 10],
        ],
      );
      const started = (i: number) => waves.findIndex((w) => w.index === i && w.state === 'running');
      const completed = (i: number) => waves.findIndex((w) => w.index === i && w.state === 'completed');
      // the gated canary ends before wave 1 starts; waves 1 to 3 have no gate and overlap
      assert.ok(completed(0) < started(1));
      assert.ok(started(2) < completed(1), JSON.stringify(waves));
      assert.ok(started(3) < completed(2), JSON.stringify(waves));
    });

    it('is saved through its store and, taken up by a new manager, goes on where it was', async () => {
      const { rollouts, p, fleet } = await setup(40);
      const store = new MemoryRolloutStore();
      const first = new RolloutManager(p.platform.requests, p.platform.registry, { store, saveDelayMs: 10 });
      const r = first.create({ action: 'device/reboot', select: { typeId: 'ro' }, waves: { size: 10 }, rate: { perMinute: 1200 } });
      await until(() => r.data.counts.success >= 10 && r.data.counts.inProgress > 0, 10000, 'second wave under way');
      await first.close();
      const saved = (await store.load())[0];
      assert.equal(saved.state, 'running');
      assert.ok(saved.counts.success >= 10 && saved.counts.success < 40);
      // the platform's engine cancels nothing: devices in flight at the close run again
      const second = new RolloutManager(p.platform.requests, p.platform.registry, { store, saveDelayMs: 10 });
      assert.equal(await second.restore(), 1);
      const again = second.get(r.id)!;
      assert.equal(await finished(second, r.id), 'completed');
      assert.equal(again.data.counts.success, 40);
      assert.ok(again.data.devices.slice(0, 10).every((e) => e.attempts === 1));
      assert.ok(fleet.actions.length >= 40);
      await second.close();
      void rollouts;
    });
  });
}
