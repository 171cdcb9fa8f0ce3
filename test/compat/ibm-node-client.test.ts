import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { loadFlow, unloadFlow, getNode, nextMessage, nodeRedHelper } from '../support/nodered';
import { makeSelfSignedCert } from '../support/tls';
import { redRequire } from '../support/red';

const tlsNode = redRequire('@node-red/nodes/core/network/05-tls.js');
const platformNode = require('../../nodes/iotdm-platform');
const mgmtRequestNode = require('../../nodes/mgmt-request');

/** IBM's client has no port option: it always dials 8883 over TLS (docs/protocol.md §10). */
const IBM_PORT = 8883;

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

interface IbmDevice {
  child: ChildProcess;
  events: { event: string; [k: string]: unknown }[];
  exited: Promise<number | null>;
}

describe("IBM's own Node device client (ibmiotf 0.2.41) against the embedded broker over TLS", function () {
  this.timeout(60000);
  let certFile = '';
  const children: ChildProcess[] = [];

  before(async () => {
    nodeRedHelper();
    if (!(await portFree(IBM_PORT))) throw new Error(`port ${IBM_PORT} is busy: IBM's client can only dial 8883, free it for this test`);
  });
  afterEach(async () => {
    for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
    await unloadFlow();
  });

  function startIbmDevice(env: Record<string, string>): IbmDevice {
    const child = spawn(process.execPath, [path.join(__dirname, 'ibm-managed-device.js')], {
      env: { ...process.env, NODE_EXTRA_CA_CERTS: certFile, IBM_ORG: 'acme', IBM_TYPE: 'ibmnode', IBM_ID: 'dev-1', IBM_TOKEN: 'secret-token', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    const events: IbmDevice['events'] = [];
    let buf = '';
    child.stdout!.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try {
          events.push(JSON.parse(line));
        } catch {
          /* not ours */
        }
      }
    });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    return { child, events, exited };
  }

  async function until(pred: () => boolean, what: string, timeoutMs = 15000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** A platform whose embedded broker listens where IBM's client dials: TLS on 8883, a token to log in. */
  async function loadIbmPlatform(platform: Record<string, unknown> = {}): Promise<void> {
    const { cert, key } = makeSelfSignedCert();
    certFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'iotdm-ca-')), 'ca.pem');
    fs.writeFileSync(certFile, cert);
    await loadFlow(
      [tlsNode, platformNode, mgmtRequestNode],
      [
        { id: 'tab', type: 'tab', label: 'ibm' },
        { id: 'tls', type: 'tls-config', cert: '', key: '', ca: '', verifyservercert: false },
        { id: 'p', type: 'iotdm-platform', broker: 'embedded', port: IBM_PORT, bind: '127.0.0.1', tls: 'tls', ...platform },
        { id: 'r', type: 'iotdm-mgmt-request', z: 'tab', platform: 'p', wires: [['dev'], ['sum'], ['ans']] },
        { id: 'dev', type: 'helper', z: 'tab' },
        { id: 'sum', type: 'helper', z: 'tab' },
        { id: 'ans', type: 'helper', z: 'tab' },
      ],
      { tls: { certdata: cert, keydata: key } },
    );
    await getNode('p').ready;
    // each device its own token (issue 12): enrolled as an operator would, before it connects
    const enrolled = await getNode('p').enrolment.add(
      [
        { typeId: 'ibmnode', deviceId: 'dev-1', authToken: 'secret-token' },
        { typeId: 'ibmnode', deviceId: 'dev-2', authToken: 'dev-2-own-token' },
      ],
      'flow',
    );
    assert.ok(enrolled.every((e: { success: boolean }) => e.success));
  }

  it('manages, is rebooted, restarts and manages again: the reboot completes', async () => {
    await loadIbmPlatform();
    const registry = getNode('p').platform.registry;
    const ref = { typeId: 'ibmnode', deviceId: 'dev-1' };

    let dev = startIbmDevice({});
    await until(() => dev.events.some((e) => e.event === 'dmResponse' && e.rc === 200), 'the IBM client to be managed');
    const rec = registry.get(ref);
    assert.deepEqual([rec.managed, rec.supports.deviceActions, rec.supports.firmwareActions, rec.lifetime], [true, true, true, 3600]);

    const summary = nextMessage('sum', 20000);
    const accepted = nextMessage('ans');
    getNode('r').receive({ payload: { action: 'device/reboot', devices: [ref] } });
    const reqId = (await accepted).payload.reqId;
    await until(() => dev.events.some((e) => e.event === 'dmAction' && e.action === 'reboot'), 'the reboot to reach the IBM client');
    assert.equal(await dev.exited, 0, 'the IBM client did not exit on its own (it crashes on an unknown response)');
    // answered 202, waiting for the device to come back
    assert.deepEqual(
      [getNode('p').platform.requests.deviceStatusOf(reqId, ref).rc, getNode('p').platform.requests.deviceStatusOf(reqId, ref).phase],
      [202, 'reboot'],
    );
    // the device comes back
    dev = startIbmDevice({});
    const s = await summary;
    assert.deepEqual([s.payload.counts.success, s.payload.counts.total], [1, 1]);
    assert.ok(
      dev.events.every((e) => e.event !== 'error'),
      JSON.stringify(dev.events),
    );
  });

  it("is refused with a wrong token, or another device's", async () => {
    await loadIbmPlatform();
    const dev = startIbmDevice({ IBM_TOKEN: 'wrong' });
    // another enrolled device's token is no better
    const other = startIbmDevice({ IBM_TOKEN: 'dev-2-own-token' });
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(
      dev.events.some((e) => e.event === 'connect'),
      false,
    );
    assert.equal(
      other.events.some((e) => e.event === 'connect'),
      false,
    );
    assert.equal(getNode('p').platform.registry.size, 0);
  });
  it('downloads then updates firmware: update 204, observe, initiate 202, one-field notifies merged, cancel', async () => {
    await loadIbmPlatform({ responseTimeout: 5 });
    const ref = { typeId: 'ibmnode', deviceId: 'dev-1' };
    const dev = startIbmDevice({});
    await until(() => dev.events.some((e) => e.event === 'dmResponse' && e.rc === 200), 'the IBM client to be managed');
    const parameters = [
      { name: 'uri', value: 'https://firmware.example/fw-2.0.bin' },
      { name: 'name', value: 'fw' },
      { name: 'version', value: '2.0' },
      { name: 'verifier', value: 'abc' },
    ];
    for (const action of ['firmware/download', 'firmware/update']) {
      const summary = nextMessage('sum', 20000);
      const result = nextMessage('dev', 20000);
      getNode('r').receive({ payload: { action, devices: [ref], parameters } });
      const s = await summary;
      const row = (await result).payload;
      assert.equal(s.payload.counts.success, 1, `${action}: ${JSON.stringify(row)}`);
    }
    assert.ok(dev.events.some((e) => e.event === 'firmwareDownload'));
    assert.ok(dev.events.some((e) => e.event === 'firmwareUpdate'));
    assert.equal(getNode('p').platform.registry.get(ref).deviceInfo.fwVersion, '2.0');
    assert.equal(dev.child.exitCode, null, 'the IBM client is still running');
  });
});
