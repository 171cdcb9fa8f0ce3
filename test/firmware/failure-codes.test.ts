/**
 * The firmware failure codes, one list per step for both sides (nodes/protocol/rc.ts,
 * docs/protocol.md §3.9, §8.6, §8.7): every updateStatus our device may report as a failed download
 * or install is one the platform judges a failure of that step, and every status the platform
 * judges a failure of the step by the protocol's list is one our device may report. First over
 * every updateStatus the protocol defines, on the two sides' own rules; then end to end, a real
 * device agent reporting each code to a real platform over the embedded broker.
 */
import assert from 'node:assert/strict';
import { DOWNLOAD_FAILURES, INSTALL_FAILURES, UPDATE_STATUS_TEXT, UpdateStatus } from '../../nodes/protocol/rc';
import { transition } from '../../nodes/device/firmware-state-machine';
import { firmwareInputSchema, type FirmwareInput } from '../../nodes/device/firmware-messages';
import { compile } from '../../nodes/protocol/validate';
import { judgeDownload, judgeInstall, type StepContext } from '../../nodes/platform/plans';
import { Connection } from '../../nodes/transport/connection';
import { DeviceAgent } from '../../nodes/device/device-agent';
import { FirmwareHandler } from '../../nodes/device/firmware-handler';
import type { DeviceRef } from '../../nodes/protocol/topics';
import { startFirmwareBroker, startPlatform, completion, until, type Broker, type RunningPlatform } from './fixtures';

const ALL = Object.values(UpdateStatus);
const DOWNLOADING = { state: 1, updateStatus: 0 };
const INSTALLING = { state: 2, updateStatus: 1 };
const validInput = compile<FirmwareInput>(firmwareInputSchema);
const inputAccepted = (result: string, updateStatus: number) => {
  try {
    validInput({ result, updateStatus });
    return true;
  } catch {
    return false;
  }
};
const ctx = (firmware: StepContext['firmware']): StepContext => ({ parameters: {}, firmware, sawInProgress: false, sawDownloading: false });

describe('firmware failure codes: the device and the platform agree', function () {
  it('the protocol table has seven updateStatus values, and both lists are taken from it', () => {
    assert.deepEqual(ALL, [0, 1, 2, 3, 4, 5, 6]);
    assert.deepEqual([...DOWNLOAD_FAILURES], [2, 3, 4, 6]);
    assert.deepEqual([...INSTALL_FAILURES], [2, 5]);
  });

  for (const s of ALL) {
    const download = DOWNLOAD_FAILURES.includes(s);
    const install = INSTALL_FAILURES.includes(s);
    it(`updateStatus ${s} (${UPDATE_STATUS_TEXT[s]}): download failure ${download ? 'on both sides' : 'on neither'}, install failure ${install ? 'on both sides' : 'on neither'}`, () => {
      // the device: its state machine and its input schema
      assert.equal(transition(DOWNLOADING, 'downloadFailed', s).ok, download);
      assert.equal(inputAccepted('downloadFailed', s), download);
      assert.equal(transition(INSTALLING, 'installFailed', s).ok, install);
      assert.equal(inputAccepted('installFailed', s), install);
      // the platform: what a device back to idle with that status means
      const dl = judgeDownload(ctx({ state: 0, updateStatus: s }));
      assert.equal(dl?.outcome === 'failure', download, JSON.stringify(dl));
      const inst = judgeInstall(ctx({ state: 0, updateStatus: s }));
      const byTheList = inst?.outcome === 'failure' && inst.message === `update failed: ${UPDATE_STATUS_TEXT[s]} (updateStatus ${s})`;
      assert.equal(byTheList, install, JSON.stringify(inst));
      // a status that is no install outcome (3, 4, 6) never leaves an install waiting: failed, and named so
      if (s !== UpdateStatus.SUCCESS && s !== UpdateStatus.IN_PROGRESS && !install) {
        assert.deepEqual(inst, { outcome: 'failure', message: `update failed: updateStatus ${s} (${UPDATE_STATUS_TEXT[s]}) is not an install outcome` });
      }
    });
  }

  describe('end to end over the embedded broker: each code our device reports fails its device on the platform', function () {
    this.timeout(20000);
    let broker: Broker;
    let p: RunningPlatform;
    let conn: Connection;
    let agent: DeviceAgent;
    let handler: FirmwareHandler;
    const GW = { typeId: 'gw', deviceId: 'codes' };
    const dlDevice = (s: number): DeviceRef => ({ typeId: 'dl', deviceId: `fails-${s}` });
    const inDevice = (s: number): DeviceRef => ({ typeId: 'in', deviceId: `fails-${s}` });
    const code = (d: DeviceRef) => Number(d.deviceId.slice('fails-'.length));

    before(async () => {
      broker = await startFirmwareBroker('embedded');
      p = await startPlatform(broker.url, { responseTimeoutMs: 3000, downloadTimeoutMs: 5000, installTimeoutMs: 5000 });
      conn = new Connection({ url: broker.url, reconnectPeriod: 200 });
      const devices = [...DOWNLOAD_FAILURES.map(dlDevice), ...INSTALL_FAILURES.map(inDevice)];
      agent = new DeviceAgent(conn, { identity: GW, devices, settleMs: 10, lifetime: 0 });
      handler = new FirmwareHandler(agent);
      // the flow: a "dl" device fails its download with its code; an "in" device downloads, then fails its install with its code
      handler.on('command', (cmd) => {
        const dev = { typeId: cmd.typeId, deviceId: cmd.deviceId };
        const s = code(dev);
        const input =
          cmd.command === 'download'
            ? cmd.typeId === 'dl'
              ? { result: 'downloadFailed' as const, updateStatus: s }
              : { result: 'downloaded' as const }
            : { result: 'installFailed' as const, updateStatus: s };
        setImmediate(() => handler.input({ ...input, ...dev }));
      });
      agent.addHandler(handler);
      agent.start();
      await until(() => devices.every((d) => p.platform.registry.get(d)?.supports.firmwareActions === true), 10000, 'devices managed');
    });
    after(async () => {
      handler?.close();
      agent?.stop();
      await conn?.close(1000);
      await p?.close();
      await broker?.stop();
    });

    it('download: 2, 3, 4 and 6 each fail their device, with the status named', async () => {
      const devices = [...DOWNLOAD_FAILURES.map(dlDevice), ...INSTALL_FAILURES.map(inDevice)];
      const req = p.platform.requests.initiate({ action: 'firmware/download', parameters: [{ name: 'uri', value: 'http://127.0.0.1/fw.bin' }], devices });
      await completion(p.platform, req, 15000);
      for (const s of DOWNLOAD_FAILURES) {
        const row = p.platform.requests.deviceStatusOf(req.id, dlDevice(s))!;
        assert.equal(row.status, 2, `download failing with ${s}: ${JSON.stringify(row)}`);
        assert.equal(row.message, `download failed: ${UPDATE_STATUS_TEXT[s]} (updateStatus ${s})`);
      }
      for (const s of INSTALL_FAILURES) assert.equal(p.platform.requests.deviceStatusOf(req.id, inDevice(s))!.status, 0);
    });

    it('install: 2 and 5 each fail their device, with the status named', async () => {
      const devices = INSTALL_FAILURES.map(inDevice);
      const req = p.platform.requests.initiate({ action: 'firmware/update', devices });
      await completion(p.platform, req, 15000);
      for (const s of INSTALL_FAILURES) {
        const row = p.platform.requests.deviceStatusOf(req.id, inDevice(s))!;
        assert.equal(row.status, 2, `install failing with ${s}: ${JSON.stringify(row)}`);
        assert.equal(row.message, `update failed: ${UPDATE_STATUS_TEXT[s]} (updateStatus ${s})`);
        assert.equal(handler.firmware(inDevice(s)).updateStatus, s);
      }
    });
  });
});
