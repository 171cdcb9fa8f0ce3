/**
 * End to end: a platform (Platform core on a real Connection) and a gateway with 1,000 devices
 * behind it (a DeviceAgent and one FirmwareHandler, the core of firmware-state) whose "flow" reports
 * every download and install, over the embedded broker and over mosquitto. Download then update;
 * the gateway restarts between the two (state persisted and restored); a device that vanishes
 * mid-download ends timed out with the phase named.
 */
import assert from 'node:assert/strict';
import { Connection } from '../../nodes/transport/connection';
import { DeviceAgent } from '../../nodes/device/device-agent';
import { FirmwareHandler } from '../../nodes/device/firmware-handler';
import type { FirmwareSnapshot } from '../../nodes/device/firmware-messages';
import type { DeviceRef } from '../../nodes/protocol/topics';
import { startFirmwareBroker, startPlatform, completion, until, type Broker, type BrokerKind, type RunningPlatform } from './fixtures';

const N = 1000;
const GW = { typeId: 'gw', deviceId: 'gw-1' };
const DEVICES: DeviceRef[] = Array.from({ length: N }, (_, i) => ({ typeId: 'sensor', deviceId: `s-${String(i).padStart(4, '0')}` }));

interface Gateway {
  conn: Connection;
  agent: DeviceAgent;
  handler: FirmwareHandler;
  stop(): Promise<FirmwareSnapshot>;
}

/** A gateway whose flow reports "downloaded" and "installed" for every command. */
function startGateway(url: string, restore?: FirmwareSnapshot): Gateway {
  const conn = new Connection({ url, clientId: `gateway-${Math.random().toString(16).slice(2)}`, reconnectPeriod: 200 });
  const agent = new DeviceAgent(conn, { identity: GW, devices: DEVICES, settleMs: 10, concurrency: 200, lifetime: 0 });
  const handler = new FirmwareHandler(agent, { restore });
  handler.on('command', (cmd) => {
    setImmediate(() => handler.input({ result: cmd.command === 'download' ? 'downloaded' : 'installed', typeId: cmd.typeId, deviceId: cmd.deviceId }));
  });
  agent.addHandler(handler);
  agent.start();
  return {
    conn,
    agent,
    handler,
    async stop() {
      const snap = handler.snapshot();
      handler.close();
      agent.stop();
      await conn.close(1000);
      return snap;
    },
  };
}

for (const kind of ['embedded', 'mosquitto'] as BrokerKind[]) {
  describe(`firmware/end to end over ${kind}: 1,000 devices behind a gateway`, function () {
    this.timeout(60000);
    let broker: Broker;
    let p: RunningPlatform;

    before(async () => {
      broker = await startFirmwareBroker(kind);
    });
    after(async () => {
      await p?.close();
      await broker.stop();
    });

    it('download then update across the fleet, with a gateway restart in between; fwVersion changes in the registry', async () => {
      p = await startPlatform(broker.url, { responseTimeoutMs: 20000, downloadTimeoutMs: 30000, installTimeoutMs: 30000 });
      let gw = startGateway(broker.url);
      await until(() => DEVICES.every((d) => p.platform.registry.get(d)?.supports.firmwareActions === true), 20000, 'fleet managed');

      const t0 = Date.now();
      const dl = p.platform.requests.initiate({
        action: 'firmware/download',
        parameters: [
          { name: 'uri', value: 'http://127.0.0.1/fw-2.0.bin' },
          { name: 'version', value: '2.0' },
          { name: 'name', value: 'fw-2.0.bin' },
        ],
        devices: DEVICES,
      });
      await completion(p.platform, dl, 40000);
      const downloadMs = Date.now() - t0;
      assert.deepEqual(dl.counts, { total: N, inProgress: 0, success: N, failure: 0, timedOut: 0, cancelled: 0 });
      assert.ok(DEVICES.every((d) => gw.handler.firmware(d).state === 2));

      // the gateway restarts: its firmware state comes back from the snapshot (the node's context)
      const snap = JSON.parse(JSON.stringify(await gw.stop())) as FirmwareSnapshot;
      gw = startGateway(broker.url, snap);
      assert.ok(
        DEVICES.every((d) => gw.handler.firmware(d).state === 2),
        'still downloaded after the restart',
      );
      await until(() => gw.agent.counts().managed === N + 1, 20000, 'fleet managed again');

      const t1 = Date.now();
      const up = p.platform.requests.initiate({ action: 'firmware/update', devices: DEVICES });
      await completion(p.platform, up, 40000);
      const updateMs = Date.now() - t1;
      assert.deepEqual(up.counts, { total: N, inProgress: 0, success: N, failure: 0, timedOut: 0, cancelled: 0 });
      assert.ok(
        DEVICES.every((d) => p.platform.registry.get(d)!.deviceInfo.fwVersion === '2.0'),
        'fwVersion 2.0 in the registry',
      );
      assert.ok(DEVICES.every((d) => gw.handler.firmware(d).state === 0 && gw.handler.firmware(d).updateStatus === 0));
      // the agent reports the new version in its next manage
      assert.equal(gw.agent.status(DEVICES[0])!.deviceInfo.fwVersion, '2.0');
      console.log(`      ${kind}: ${N} devices, download ${downloadMs} ms, update ${updateMs} ms`);
      await gw.stop();
    });

    it('a device that vanishes mid-download ends "timed out" with the phase named', async () => {
      const p2 = await startPlatform(broker.url, { responseTimeoutMs: 2000, downloadTimeoutMs: 500 });
      const conn = new Connection({ url: broker.url, reconnectPeriod: 0 });
      const dev = { typeId: 'lonely', deviceId: 'L-1' };
      const agent = new DeviceAgent(conn, { identity: dev, settleMs: 10, lifetime: 0 });
      const handler = new FirmwareHandler(agent);
      agent.addHandler(handler);
      // the device vanishes as soon as its flow is told to download
      handler.on('command', () => void conn.close(500));
      agent.start();
      try {
        await until(() => p2.platform.registry.get(dev)?.supports.firmwareActions === true, 5000, 'managed');
        const req = p2.platform.requests.initiate({
          action: 'firmware/download',
          parameters: [{ name: 'uri', value: 'http://127.0.0.1/x.bin' }],
          devices: [dev],
        });
        await completion(p2.platform, req, 5000);
        const row = p2.platform.requests.deviceStatusOf(req.id, dev)!;
        assert.equal(row.status, 3);
        assert.equal(row.outcome, 'timedOut');
        assert.equal(row.phase, 'download');
        assert.equal(row.message, 'download did not finish');
      } finally {
        handler.close();
        agent.stop();
        await conn.close(200);
        await p2.close();
      }
    });
  });
}
